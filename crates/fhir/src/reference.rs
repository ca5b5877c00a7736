//! References inside resources and Bundles (R4 `references.html`, `bundle.html`
//! "Resolving references in Bundles", `http.html` "Transaction processing rules"):
//! classifying them, visiting and rewriting them. Which Patient's compartment a
//! resource belongs to is [`crate::compartment`]'s.
//!
//! Walks over a resource are iterative, so no nesting depth can exhaust the stack.
//! Errors say what is wrong with a reference, never what it was.

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

/// Longest reference accepted, in bytes.
pub const MAX_REFERENCE_LEN: usize = 4096;

/// What a `Reference.reference` string points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind<'a> {
    /// `Type/id` or `Type/id/_history/vid`, relative to this server.
    Local {
        resource_type: &'a str,
        id: &'a str,
        version: Option<&'a str>,
    },
    /// `urn:uuid:…` or `urn:oid:…`, the whole string: a Bundle entry's `fullUrl`.
    Urn(&'a str),
    /// `Type?query` (`Patient?identifier=sys|val`), resolved once, in a transaction.
    Conditional { resource_type: &'a str, query: &'a str },
    /// `#id`, a contained resource; `#` alone (an empty id) is the container itself.
    Contained(&'a str),
    /// `http://…` or `https://…`, another server (or this one, spelled absolutely).
    Absolute(&'a str),
}

/// Why a string is not a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReferenceError {
    #[error("a reference is 1 to {MAX_REFERENCE_LEN} characters")]
    Length,
    #[error("a resource type in a reference is 1 to 64 ASCII letters, starting upper case")]
    BadType,
    #[error("an id in a reference is 1 to 64 of A-Z a-z 0-9 - .")]
    BadId,
    #[error("a urn reference is urn:uuid: with a UUID (8-4-4-4-12 hex digits) or urn:oid: with an OID")]
    BadUrn,
    #[error("a conditional reference needs a query after `?`")]
    EmptyQuery,
    #[error("an absolute reference needs something after the scheme and no spaces or control characters")]
    BadUrl,
    #[error("not a reference: expected Type/id[/_history/vid], Type?query, #id, urn:uuid:…, urn:oid:… or http(s)://…")]
    Malformed,
}

/// A FHIR resource type name as references spell it: ASCII letters, upper case first.
/// Whether the type exists is the caller's question.
pub fn valid_type(t: &str) -> bool {
    t.len() <= 64
        && t.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && t.bytes().all(|b| b.is_ascii_alphabetic())
}

/// A FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `8-4-4-4-12` hex digits, either case.
fn valid_uuid(u: &str) -> bool {
    let b = u.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// FHIR's `oid` pattern without the prefix: `[0-2](\.(0|[1-9][0-9]*))+`.
fn valid_oid(o: &str) -> bool {
    let mut arcs = o.split('.');
    let first_ok = arcs.next().is_some_and(|a| matches!(a, "0" | "1" | "2"));
    let mut rest = 0usize;
    let rest_ok = arcs.all(|a| {
        rest += 1;
        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0'))
    });
    first_ok && rest_ok && rest > 0
}

/// Classifies a `Reference.reference` string.
pub fn classify(r: &str) -> Result<RefKind<'_>, ReferenceError> {
    if r.is_empty() || r.len() > MAX_REFERENCE_LEN {
        return Err(ReferenceError::Length);
    }
    if let Some(uuid) = r.strip_prefix("urn:uuid:") {
        return valid_uuid(uuid)
            .then_some(RefKind::Urn(r))
            .ok_or(ReferenceError::BadUrn);
    }
    if let Some(oid) = r.strip_prefix("urn:oid:") {
        return valid_oid(oid).then_some(RefKind::Urn(r)).ok_or(ReferenceError::BadUrn);
    }
    if r.starts_with("urn:") {
        return Err(ReferenceError::BadUrn);
    }
    if let Some(id) = r.strip_prefix('#') {
        return (id.is_empty() || valid_id(id))
            .then_some(RefKind::Contained(id))
            .ok_or(ReferenceError::BadId);
    }
    if let Some(rest) = r.strip_prefix("https://").or_else(|| r.strip_prefix("http://")) {
        let clean = !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control());
        return clean.then_some(RefKind::Absolute(r)).ok_or(ReferenceError::BadUrl);
    }
    if let Some((t, query)) = r.split_once('?') {
        if !valid_type(t) {
            return Err(ReferenceError::BadType);
        }
        if query.is_empty() {
            return Err(ReferenceError::EmptyQuery);
        }
        return Ok(RefKind::Conditional {
            resource_type: t,
            query,
        });
    }
    let mut parts = r.split('/');
    let (t, id) = (parts.next().unwrap_or_default(), parts.next());
    let (history, version, extra) = (parts.next(), parts.next(), parts.next());
    let Some(id) = id else {
        return Err(ReferenceError::Malformed);
    };
    let version = match (history, version, extra) {
        (None, _, _) => None,
        (Some("_history"), Some(v), None) if valid_id(v) => Some(v),
        (Some("_history"), Some(_), None) => return Err(ReferenceError::BadId),
        _ => return Err(ReferenceError::Malformed),
    };
    if !valid_type(t) {
        return Err(ReferenceError::BadType);
    }
    if !valid_id(id) {
        return Err(ReferenceError::BadId);
    }
    Ok(RefKind::Local {
        resource_type: t,
        id,
        version,
    })
}

/// Appends a member name to a JSON pointer, escaped per RFC 6901.
fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    for ch in segment.chars() {
        match ch {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// A step of the walk in [`visit_references`].
enum Step<'v> {
    /// Visit `value`, reached from its parent by `segment`.
    Visit { value: &'v Value, segment: Segment<'v> },
    /// Leave a container: cut the pointer back to this length.
    Leave(usize),
}

enum Segment<'v> {
    Root,
    Key(&'v str),
    Index(usize),
}

/// Calls `f(json_pointer, reference)` for every object member named `reference` whose
/// value is a string, anywhere in `v` (contained resources included), in document
/// order.
pub fn visit_references(v: &Value, mut f: impl FnMut(&str, &str)) {
    let mut pointer = String::new();
    let mut steps = vec![Step::Visit {
        value: v,
        segment: Segment::Root,
    }];
    while let Some(step) = steps.pop() {
        let (value, segment) = match step {
            Step::Leave(len) => {
                pointer.truncate(len);
                continue;
            }
            Step::Visit { value, segment } => (value, segment),
        };
        let len = pointer.len();
        match &segment {
            Segment::Root => {}
            Segment::Key(k) => push_segment(&mut pointer, k),
            Segment::Index(i) => pointer.push_str(&format!("/{i}")),
        }
        match value {
            Value::String(s) if matches!(segment, Segment::Key("reference")) => {
                f(&pointer, s);
                pointer.truncate(len);
            }
            Value::Object(o) => {
                steps.push(Step::Leave(len));
                let children: Vec<Step<'_>> = o
                    .iter()
                    .map(|(k, c)| Step::Visit {
                        value: c,
                        segment: Segment::Key(k),
                    })
                    .collect();
                steps.extend(children.into_iter().rev());
            }
            Value::Array(a) => {
                steps.push(Step::Leave(len));
                let children = a.iter().enumerate().map(|(i, c)| Step::Visit {
                    value: c,
                    segment: Segment::Index(i),
                });
                steps.extend(children.rev());
            }
            _ => pointer.truncate(len),
        }
    }
}

/// Whether the reference at `pointer` belongs to the resource itself, not to a resource
/// a stored Bundle carries in its entries (those resolve among the Bundle's own entries,
/// as the Bundle's author wrote them, and are not this server's to check).
pub fn own_reference(resource: &Value, pointer: &str) -> bool {
    resource.get("resourceType").and_then(Value::as_str) != Some("Bundle") || !pointer.starts_with("/entry/")
}

/// Replaces every `reference` string (as [`visit_references`] finds them) for which
/// `f` returns a new value; returns how many were replaced.
pub fn rewrite_references(v: &mut Value, mut f: impl FnMut(&str) -> Option<String>) -> usize {
    let mut replaced = 0;
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(v) = stack.pop() {
        let mut children: Vec<&mut Value> = Vec::new();
        match v {
            Value::Object(o) => {
                for (k, child) in o.iter_mut() {
                    match child {
                        Value::String(s) if k == "reference" => {
                            if let Some(new) = f(s) {
                                *s = new;
                                replaced += 1;
                            }
                        }
                        _ => children.push(child),
                    }
                }
            }
            Value::Array(a) => children.extend(a.iter_mut()),
            _ => {}
        }
        stack.extend(children.into_iter().rev());
    }
    replaced
}

/// Replaces `urn:uuid:` fullUrls wherever else FHIR requires it: every string value
/// exactly equal to a `urn:uuid:` key of `map` (`uri` and `url` elements, and
/// `reference`s), and quoted attribute values (`href="urn:uuid:…"`) in narrative
/// `div`s. Returns how many were replaced.
///
/// Keys that are not `urn:uuid:` are left alone here: a `urn:oid:` or `http` string
/// equal to a fullUrl is just as likely an identifier or code system, which must not
/// change. `reference`s to those are rewritten by [`rewrite_references`].
pub fn rewrite_uris(v: &mut Value, map: &BTreeMap<String, String>) -> usize {
    let lookup = |s: &str| s.starts_with("urn:uuid:").then(|| map.get(s)).flatten();
    let mut replaced = 0;
    let mut stack: Vec<(&mut Value, bool)> = vec![(v, false)];
    while let Some((v, is_div)) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(new) = lookup(s) {
                    *s = new.clone();
                    replaced += 1;
                } else if is_div && let Some((text, n)) = rewrite_narrative(s, &lookup) {
                    *s = text;
                    replaced += n;
                }
            }
            Value::Object(o) => stack.extend(o.iter_mut().map(|(k, c)| (c, k == "div"))),
            Value::Array(a) => stack.extend(a.iter_mut().map(|c| (c, false))),
            _ => {}
        }
    }
    replaced
}

/// `div` with every quoted `urn:uuid:…` attribute value that `lookup` knows replaced;
/// `None` if nothing was.
fn rewrite_narrative<'m>(div: &str, lookup: &impl Fn(&str) -> Option<&'m String>) -> Option<(String, usize)> {
    const URN: &str = "urn:uuid:";
    let mut out = String::new();
    let mut n = 0;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = div.get(from..).and_then(|rest| rest.find(URN)) {
        let at = from + found;
        from = at + URN.len();
        // The quote before the urn, and its match after it.
        let Some(quote) = div.get(..at).and_then(|before| before.chars().next_back()) else {
            continue;
        };
        if quote != '"' && quote != '\'' {
            continue;
        }
        let Some(len) = div.get(at..).and_then(|rest| rest.find(quote)) else {
            break;
        };
        let Some(new) = div.get(at..at + len).and_then(lookup) else {
            continue;
        };
        out.push_str(div.get(copied..at).unwrap_or_default());
        out.push_str(new);
        copied = at + len;
        from = copied;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    out.push_str(div.get(copied..).unwrap_or_default());
    Some((out, n))
}

/// A resource's top-level business identifiers (`identifier`, a list or a single
/// Identifier) as `(system, value)`; entries without a non-empty string `value` are
/// skipped.
pub fn identifiers(resource: &Value) -> Vec<(Option<String>, String)> {
    let one = |i: &Value| -> Option<(Option<String>, String)> {
        let value = i.get("value")?.as_str().filter(|v| !v.is_empty())?.to_string();
        Some((i.get("system").and_then(Value::as_str).map(str::to_string), value))
    };
    match resource.get("identifier") {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(o @ Value::Object(_)) => one(o).into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
