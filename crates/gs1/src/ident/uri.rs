//! Percent-encoding as the Digital Link and EPC URI rules want it.

use super::error::IdentError;

/// RFC 3986 §2.3 unreserved characters: the only ones a Digital Link value keeps as they
/// are. The DL standard requires escaping the CSET 82 characters that are reserved in a
/// URI; the GS1 Syntax Engine escapes every non-unreserved one, and so does this.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters of CSET 82 that an EPC URI component must escape (TDS §5, Table A-1 "must be
/// escaped": `"`, `%`, `&`, `/`, `<`, `>`, `?`); the rest of CSET 82 is legal as it is.
fn epc_must_escape(b: u8) -> bool {
    matches!(b, b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?')
}

fn push_escaped(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// A Digital Link path segment or query value.
pub(crate) fn escape_dl(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// An EPC URI component (serial, lot, GLN extension).
pub(crate) fn escape_epc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if epc_must_escape(b) {
            push_escaped(&mut out, b);
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Decodes `%HH` (either case). `plus_is_space` for query strings (the
/// `application/x-www-form-urlencoded` rule the DL standard follows). Positions in errors
/// count from the start of `text`, except for decoded bytes that are not UTF-8, where the
/// position is within the decoded value (a character set check would refuse them anyway).
pub(crate) fn unescape(text: &str, plus_is_space: bool) -> Result<String, IdentError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(IdentError::BadPercentEncoding { position: i }),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| IdentError::BadPercentEncoding {
        position: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_engine_escape_cases() {
        // GS1 Syntax Engine dl.c test_dl_URIescape (path form).
        assert_eq!(
            escape_dl("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"),
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        );
        assert_eq!(
            escape_dl("!\"#%&'()*+,/:;<=>?"),
            "%21%22%23%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F"
        );
        assert_eq!(escape_dl("A B"), "A%20B");
    }

    #[test]
    fn syntax_engine_unescape_cases() {
        // GS1 Syntax Engine dl.c test_dl_URIunescape; where it passes a malformed escape
        // through literally, this refuses it.
        assert_eq!(unescape("+", false).as_deref(), Ok("+"));
        assert_eq!(unescape("+", true).as_deref(), Ok(" "));
        assert_eq!(unescape("A%20%20B", false).as_deref(), Ok("A  B"));
        assert_eq!(unescape("A%4fB", false).as_deref(), Ok("AOB"));
        assert_eq!(unescape("A%4FB", false).as_deref(), Ok("AOB"));
        assert_eq!(
            unescape("ABC%2", false),
            Err(IdentError::BadPercentEncoding { position: 3 })
        );
        assert_eq!(
            unescape("A%g4B", false),
            Err(IdentError::BadPercentEncoding { position: 1 })
        );
        assert!(unescape("A%ffB", false).is_err());
    }

    #[test]
    fn epc_escapes_only_the_seven() {
        assert_eq!(escape_epc("A\"%&/<>?B"), "A%22%25%26%2F%3C%3E%3FB");
        assert_eq!(escape_epc("!'()*+,-.:;=_"), "!'()*+,-.:;=_");
    }
}
