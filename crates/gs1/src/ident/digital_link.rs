//! GS1 Digital Link URIs, uncompressed form (GS1 Digital Link Standard: URI Syntax 1.2).
//!
//! `https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225&linkType=gs1:pip`
//!
//! The rules below are the standard's as the GS1 Syntax Engine (`dl.c`) applies them.
//!
//! - **Scheme and domain**: `http` or `https`, all lower or all upper case; any
//!   domain (names, IPv4, `[IPv6]`, a port), no user info. Anything in the path before the
//!   primary key is a prefix of the resolver's choosing and is kept as part of the stem.
//! - **Path**: the primary key `/AI/value` is the rightmost one whose following
//!   `/AI/value` pairs are all its qualifiers, in the order the Syntax Dictionary's
//!   `dlpkey=` gives (for (01): (22), (10), (21), or else (235)). The path must not end with
//!   `/`. Values are percent-decoded; `+` is a plus sign. A GTIN-8, -12 or -13 under (01) is
//!   accepted and padded to 14 digits (the standard's earlier examples use them); output
//!   always has 14.
//! - **Query**: a parameter whose name is all digits is an AI data attribute and must
//!   be in the table, be allowed as an attribute (`?` flag), not be a qualifier that belongs
//!   in the path, and not repeat an AI already present. `+` decodes to a space there (and
//!   is then refused, as space is not in CSET 82). Other parameters (`linkType`, `context`,
//!   …) are kept verbatim, still percent-encoded, and written back in their place after the
//!   AIs. The fragment is dropped.
//! - **Output**: every value byte outside RFC 3986's unreserved set is
//!   percent-encoded with upper-case hex, as the GS1 Syntax Engine does. The primary key is
//!   the first key AI of the element string; its qualifiers come from the alternative list
//!   with the most of them present (the first on a tie), and everything else becomes a query
//!   attribute in element order.

use std::fmt;

use super::ai::Ai;
use super::check_input_len;
use super::element::{Element, ElementString};
use super::error::IdentError;
use super::keys::Gtin;
use super::uri::{escape_dl, unescape};

/// A parsed or built GS1 Digital Link URI.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DigitalLink {
    stem: String,
    /// The first `path_len` elements are the primary key and its qualifiers; the rest are
    /// query attributes.
    path_len: usize,
    elements: ElementString,
    other_params: Vec<String>,
}

impl fmt::Debug for DigitalLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigitalLink({self})")
    }
}

impl DigitalLink {
    /// The canonical resolver, used when no domain is given.
    pub const DEFAULT_STEM: &'static str = "https://id.gs1.org";

    /// Parses an uncompressed GS1 Digital Link URI.
    pub fn parse(uri: &str) -> Result<Self, IdentError> {
        check_input_len(uri)?;
        if uri.is_empty() {
            return Err(IdentError::Empty);
        }
        if let Some(position) = uri.bytes().position(|b| !is_uri_char(b)) {
            return Err(IdentError::BadUriCharacter {
                position,
                found: uri
                    .get(position..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('\u{fffd}'),
            });
        }
        let authority_start = scheme_len(uri).ok_or(IdentError::BadScheme)?;
        let authority_end = uri[authority_start..]
            .find(['/', '?', '#'])
            .map_or(uri.len(), |i| authority_start + i);
        check_authority(uri, authority_start, authority_end)?;
        let end = uri.find('#').unwrap_or(uri.len());
        let query_start = uri[..end].find('?');
        let path_end = query_start.unwrap_or(end);
        let path = &uri[authority_end..path_end];
        if path.len() <= 1 {
            return Err(IdentError::NoPrimaryKey);
        }
        if path.ends_with('/') {
            return Err(IdentError::TrailingSlash);
        }

        // Segments after the leading '/', with their byte offsets in `uri`.
        let mut segments = Vec::new();
        let mut offset = authority_end + 1;
        for segment in path[1..].split('/') {
            segments.push((offset, segment));
            offset += segment.len() + 1;
        }
        let root = find_primary_key(&segments)?;
        let stem = uri[..segments[root].0 - 1].to_string();

        let mut elements = Vec::new();
        for pair in segments[root..].chunks(2) {
            let [(ai_at, code), (value_at, raw)] = pair else {
                return Err(IdentError::NoPrimaryKey);
            };
            let ai = Ai::find(code).ok_or_else(|| IdentError::UnknownAi {
                ai: (*code).to_string(),
                position: *ai_at,
            })?;
            elements.push(decode_element(ai, raw, *value_at, false)?);
        }
        check_path_sequence(&elements, &segments[root..])?;
        let path_len = elements.len();

        let mut other_params = Vec::new();
        if let Some(q) = query_start {
            let mut at = q + 1;
            for param in uri[q + 1..end].split('&') {
                let here = at;
                at += param.len() + 1;
                if param.is_empty() {
                    continue;
                }
                let (name, raw) = param.split_once('=').unwrap_or((param, ""));
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                    other_params.push(param.to_string());
                    continue;
                }
                let ai = Ai::find(name).ok_or_else(|| IdentError::UnknownAi {
                    ai: name.to_string(),
                    position: here,
                })?;
                let element = decode_element(ai, raw, here + name.len() + 1, true)?;
                check_attribute(&elements[..path_len], &element)?;
                if elements.iter().any(|e| e.ai() == ai) {
                    return Err(IdentError::DuplicateAi { ai: name.to_string() });
                }
                elements.push(element);
            }
        }
        Ok(Self {
            stem,
            path_len,
            elements: ElementString::new(elements)?,
            other_params,
        })
    }

    /// The Digital Link URI for `elements` under `stem` (scheme, domain and optional path
    /// prefix, e.g. [`DigitalLink::DEFAULT_STEM`]). One URI is one carrier, so the pairing
    /// rules are enforced even if `elements` was read with [`PairingRules::Skip`].
    ///
    /// [`PairingRules::Skip`]: super::PairingRules::Skip
    pub fn from_elements(elements: &ElementString, stem: &str) -> Result<Self, IdentError> {
        let stem = check_stem(stem)?;
        let all = elements.elements();
        let key = all
            .iter()
            .find(|e| e.ai().is_dl_primary_key())
            .ok_or(IdentError::NoPrimaryKey)?;
        let present = |code: &str| all.iter().find(|e| e.ai().code() == code);
        let alternative = key
            .ai()
            .dl_qualifiers()
            .iter()
            .enumerate()
            .max_by_key(|(i, alt)| {
                let count = alt.iter().filter(|q| present(q).is_some()).count();
                (count, std::cmp::Reverse(*i))
            })
            .map_or(&[][..], |(_, alt)| *alt);
        let mut ordered: Vec<Element> = vec![key.clone()];
        ordered.extend(alternative.iter().filter_map(|q| present(q).cloned()));
        let path_len = ordered.len();
        for e in all {
            if ordered.contains(e) {
                continue;
            }
            if !e.ai().is_dl_attribute() {
                return Err(IdentError::NotDataAttribute {
                    ai: e.ai().code().to_string(),
                });
            }
            ordered.push(e.clone());
        }
        Ok(Self {
            stem,
            path_len,
            elements: ElementString::new(ordered)?,
            other_params: Vec::new(),
        })
    }

    /// Adds a non-AI query parameter such as `linkType=gs1:pip`. The name must not be all
    /// digits (those are AIs) and is kept to RFC 3986 unreserved characters; the value is
    /// percent-encoded.
    pub fn with_param(mut self, name: &str, value: &str) -> Result<Self, IdentError> {
        check_input_len(value)?;
        let name_ok = !name.is_empty()
            && !name.bytes().all(|b| b.is_ascii_digit())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !name_ok {
            return Err(IdentError::BadParamName {
                name: name.chars().take(64).collect(),
            });
        }
        // `:` is common in link types (`gs1:pip`) and legal in a query (RFC 3986 §3.4).
        let value = escape_dl(value).replace("%3A", ":");
        self.other_params.push(format!("{name}={value}"));
        Ok(self)
    }

    /// Scheme, domain and any path prefix before the primary key, without a trailing `/`.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// All AIs: primary key, qualifiers, then query attributes.
    pub fn elements(&self) -> &ElementString {
        &self.elements
    }

    pub fn primary_key(&self) -> &Element {
        &self.elements.elements()[0]
    }

    pub fn qualifiers(&self) -> &[Element] {
        &self.elements.elements()[1..self.path_len]
    }

    pub fn attributes(&self) -> &[Element] {
        &self.elements.elements()[self.path_len..]
    }

    /// Non-AI query parameters, verbatim (`name=value` or `name`, still percent-encoded).
    pub fn other_params(&self) -> &[String] {
        &self.other_params
    }

    /// The raw (still percent-encoded) value of the first non-AI parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.other_params.iter().find_map(|p| match p.split_once('=') {
            Some((n, v)) if n == name => Some(v),
            None if p == name => Some(""),
            _ => None,
        })
    }
}

impl fmt::Display for DigitalLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stem)?;
        let (path, query) = self.elements.elements().split_at(self.path_len);
        for e in path {
            write!(f, "/{}/{}", e.ai(), escape_dl(e.value()))?;
        }
        let query = query
            .iter()
            .map(|e| format!("{}={}", e.ai(), escape_dl(e.value())))
            .chain(self.other_params.iter().cloned())
            .collect::<Vec<_>>();
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for DigitalLink {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, IdentError> {
        Self::parse(s)
    }
}

impl ElementString {
    /// This element string as a Digital Link URI under `stem`
    /// ([`DigitalLink::from_elements`]).
    pub fn to_digital_link(&self, stem: &str) -> Result<String, IdentError> {
        DigitalLink::from_elements(self, stem).map(|dl| dl.to_string())
    }
}

/// RFC 3986 §2: unreserved, reserved and `%`.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

fn scheme_len(uri: &str) -> Option<usize> {
    ["https://", "http://", "HTTPS://", "HTTP://"]
        .iter()
        .find(|s| uri.starts_with(**s))
        .map(|s| s.len())
}

/// Host and optional port: name, IPv4 or `[IPv6]` characters. User info (`@`) and IPv6 zone
/// identifiers (`%25`) have no place in a resolver address.
fn check_authority(uri: &str, start: usize, end: usize) -> Result<(), IdentError> {
    if start == end {
        return Err(IdentError::BadDomain {
            position: start,
            found: uri.get(start..).and_then(|rest| rest.chars().next()).unwrap_or('/'),
        });
    }
    match uri[start..end]
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']')))
    {
        Some(i) => Err(IdentError::BadDomain {
            position: start + i,
            found: char::from(uri.as_bytes()[start + i]),
        }),
        None => Ok(()),
    }
}

fn check_stem(stem: &str) -> Result<String, IdentError> {
    check_input_len(stem)?;
    let bad = |reason| IdentError::BadStem {
        stem: stem.chars().take(64).collect(),
        reason,
    };
    let stem = stem.strip_suffix('/').unwrap_or(stem);
    let authority_start = scheme_len(stem).ok_or(bad("must start with http:// or https://"))?;
    if stem.bytes().any(|b| !is_uri_char(b) || matches!(b, b'?' | b'#')) {
        return Err(bad("has a character not allowed in a URI path"));
    }
    let authority_end = stem[authority_start..]
        .find('/')
        .map_or(stem.len(), |i| authority_start + i);
    check_authority(stem, authority_start, authority_end).map_err(|_| bad("has a bad domain"))?;
    Ok(stem.to_string())
}

/// Index in `segments` of the primary key: walking `/AI/value` pairs back from the end,
/// the first AI that is a primary key. A segment that is not digits ends the walk (it is
/// part of the stem); digits that are no AI in the table are an error.
fn find_primary_key(segments: &[(usize, &str)]) -> Result<usize, IdentError> {
    let mut j = segments.len();
    while j >= 2 {
        let (at, code) = segments[j - 2];
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        let ai = Ai::find(code).ok_or_else(|| IdentError::UnknownAi {
            ai: code.to_string(),
            position: at,
        })?;
        if ai.is_dl_primary_key() {
            return Ok(j - 2);
        }
        j -= 2;
    }
    Err(IdentError::NoPrimaryKey)
}

fn decode_element(ai: Ai, raw: &str, at: usize, in_query: bool) -> Result<Element, IdentError> {
    if raw.is_empty() {
        return Err(IdentError::EmptyValue {
            ai: ai.code().to_string(),
            position: at,
        });
    }
    let value = unescape(raw, in_query).map_err(|e| e.offset_by(at))?;
    if ai == Ai::GTIN && matches!(value.len(), 8 | 12 | 13) {
        return Gtin::parse(&value).and_then(|g| Element::new(ai, g.as_str()));
    }
    // Positions inside a decoded value no longer match the URI once escapes are involved;
    // they are reported from the start of the raw value.
    Element::new(ai, value).map_err(|e| e.map_position(|p| at + p.min(raw.len())))
}

/// Whether `ais` (after the key) is an in-order selection from one of `key`'s qualifier
/// lists.
fn is_qualifier_sequence(key: Ai, ais: &[&str]) -> bool {
    key.dl_qualifiers().iter().any(|alt| {
        let mut rest = alt.iter();
        ais.iter().all(|ai| rest.any(|q| q == ai))
    })
}

fn check_path_sequence(path: &[Element], segments: &[(usize, &str)]) -> Result<(), IdentError> {
    let key = path[0].ai();
    let codes: Vec<&str> = path.iter().map(|e| e.ai().code()).collect();
    for n in 2..=codes.len() {
        if !is_qualifier_sequence(key, &codes[1..n]) {
            return Err(IdentError::BadKeyQualifierSequence {
                key: key.code().to_string(),
                ai: codes[n - 1].to_string(),
                position: segments.get(2 * (n - 1)).map_or(0, |s| s.0),
            });
        }
    }
    Ok(())
}

/// A query AI must be an allowed attribute and must not be a qualifier that could have
/// stood in the path (the Syntax Engine tries it at each position of the path).
fn check_attribute(path: &[Element], attribute: &Element) -> Result<(), IdentError> {
    let ai = attribute.ai();
    if !ai.is_dl_attribute() {
        return Err(IdentError::NotDataAttribute {
            ai: ai.code().to_string(),
        });
    }
    let key = path[0].ai();
    let qualifiers: Vec<&str> = path[1..].iter().map(|e| e.ai().code()).collect();
    for at in 0..=qualifiers.len() {
        let mut trial = qualifiers.clone();
        trial.insert(at, ai.code());
        if is_qualifier_sequence(key, &trial) {
            return Err(IdentError::BelongsInPath {
                ai: ai.code().to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifier_sequences() {
        // GS1 Syntax Engine dl.c test_dl_testValidateDLpathAIseq, for keys in this table.
        let gtin = Ai::GTIN;
        for seq in [
            &[][..],
            &["21"],
            &["10"],
            &["10", "21"],
            &["22"],
            &["22", "21"],
            &["22", "10"],
            &["22", "10", "21"],
            &["235"],
        ] {
            assert!(is_qualifier_sequence(gtin, seq), "{seq:?}");
        }
        for seq in [&["10", "22"][..], &["21", "10"], &["22", "235"], &["10", "10"]] {
            assert!(!is_qualifier_sequence(gtin, seq), "{seq:?}");
        }
    }
}
