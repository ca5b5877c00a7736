//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The rules (RFC 8785 §3.2):
//! - no whitespace between tokens (§3.2.1);
//! - literals `null`, `true`, `false` as they are (§3.2.2.1);
//! - strings as ECMAScript's `JSON.stringify` writes them (§3.2.2.2): `"` and `\` escaped,
//!   `\b \t \n \f \r` by their two-character escapes, every other control character below
//!   U+0020 as `\u00xx` with lowercase hex, everything else as its UTF-8 bytes;
//! - numbers as IEEE 754 doubles written by ECMAScript's `Number.prototype.toString`
//!   (§3.2.2.3), here through the `ryu-js` crate;
//! - object members sorted by their names compared as arrays of UTF-16 code units, not
//!   UTF-8 bytes, not locale (§3.2.3); array order is kept.
//!
//! JCS requires I-JSON (RFC 7493) input, where every number is a double. `serde_json`
//! keeps integers as `u64`/`i64`; ECMAScript would silently round one that no double
//! holds exactly (e.g. 2^53 + 1), which would sign a different number than the one shown,
//! so such an integer is refused ([`JcsError::IntegerOutOfRange`]). An integer is accepted
//! at any size when ECMAScript writes its double as the same digits (e.g.
//! `10740699298590093000`, ECMAScript's text for the double 10740699298590093312), so the
//! canonical form shows what was signed and JCS output always canonicalises again.
//! `serde_json` never holds NaN or infinities.

use serde_json::{Map, Number, Value};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JcsError {
    #[error("integer {0} would change when read as an IEEE 754 double (I-JSON)")]
    IntegerOutOfRange(String),
    #[error("number {0} is not finite")]
    NotFinite(String),
    #[error("document nests deeper than {0} levels")]
    TooDeep(usize),
}

/// Deeper documents are refused rather than risking the stack (serde_json's parser stops
/// at 128 levels, but a `Value` can be built deeper in code).
pub const MAX_DEPTH: usize = 128;

const MAX_SAFE: u64 = 1 << 53;

/// The canonical form of `value` as a string.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// The canonical form of `value` as UTF-8 bytes (what gets hashed).
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, JcsError> {
    canonicalize(value).map(String::into_bytes)
}

fn write_value(value: &Value, out: &mut String, depth: usize) -> Result<(), JcsError> {
    if depth > MAX_DEPTH {
        return Err(JcsError::TooDeep(MAX_DEPTH));
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out, depth)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut String, depth: usize) -> Result<(), JcsError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (name, item)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(name, out);
        out.push(':');
        write_value(item, out, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

/// Writes a number as ECMAScript does.
fn write_number(n: &Number, out: &mut String) -> Result<(), JcsError> {
    let f = if let Some(u) = n.as_u64() {
        let f = u as f64;
        if u > MAX_SAFE && !writes_back_as(f, &u.to_string()) {
            return Err(JcsError::IntegerOutOfRange(u.to_string()));
        }
        f
    } else if let Some(i) = n.as_i64() {
        let f = i as f64;
        if i.unsigned_abs() > MAX_SAFE && !writes_back_as(f, &i.to_string()) {
            return Err(JcsError::IntegerOutOfRange(i.to_string()));
        }
        f
    } else {
        match n.as_f64() {
            Some(f) if f.is_finite() => f,
            _ => return Err(JcsError::NotFinite(n.to_string())),
        }
    };
    write_f64(f, out)
}

/// Whether ECMAScript writes the double `f` as exactly `text`: then reading the integer as
/// a double, as JCS does, loses nothing that the text shows.
fn writes_back_as(f: f64, text: &str) -> bool {
    let mut out = String::new();
    write_f64(f, &mut out).is_ok() && out == text
}

/// ECMAScript `Number.prototype.toString` of a finite double; `-0` is written `0`.
pub fn write_f64(f: f64, out: &mut String) -> Result<(), JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NotFinite(f.to_string()));
    }
    if f == 0.0 {
        out.push('0');
        return Ok(());
    }
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format_finite(f));
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_like_ecmascript() {
        let v = json!("\u{0}\u{1f}\u{7f}\u{2028}é\"\\/");
        assert_eq!(canonicalize(&v).unwrap(), "\"\\u0000\\u001f\u{7f}\u{2028}é\\\"\\\\/\"");
    }

    #[test]
    fn refuses_integers_no_double_holds() {
        assert!(canonicalize(&json!(9_007_199_254_740_992u64)).is_ok());
        assert!(canonicalize(&json!(9_007_199_254_740_993u64)).is_err());
        assert!(canonicalize(&json!(-9_007_199_254_740_993i64)).is_err());
        assert!(canonicalize(&json!(u64::MAX)).is_err());
        assert!(canonicalize(&json!(i64::MIN + 1)).is_err());
        // Large, and ECMAScript writes its double with the same digits.
        assert_eq!(
            canonicalize(&json!(10_740_699_298_590_093_000u64)).unwrap(),
            "10740699298590093000"
        );
        // A double exactly, but ECMAScript writes other digits: the text would change.
        assert!(canonicalize(&json!(10_740_699_298_590_093_312u64)).is_err());
        assert!(canonicalize(&json!(i64::MIN)).is_err());
        assert_eq!(canonicalize(&json!(-0.0)).unwrap(), "0");
    }

    #[test]
    fn refuses_deep_documents() {
        let mut v = json!(1);
        for _ in 0..=MAX_DEPTH + 1 {
            v = json!([v]);
        }
        assert_eq!(canonicalize(&v), Err(JcsError::TooDeep(MAX_DEPTH)));
    }
}
