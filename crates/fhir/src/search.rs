//! FHIR search for the supported types (R4 `search.html`): parsing a query, matching it
//! against a decrypted resource, and writing it back as a canonical query string for
//! a searchset Bundle's `self` and paging links.
//!
//! Parameters, per type (see [`SearchQuery::supported_params`]):
//!
//! | parameter | type | meaning |
//! |---|---|---|
//! | `_id` | token | the logical id; a comma list is an OR |
//! | `_lastUpdated` | date | `meta.lastUpdated`; repeats are ANDed |
//! | `identifier` | token | top-level `identifier` (and DocumentReference `masterIdentifier`) |
//! | `patient` | reference | the Patient compartment owner, as [`patient_of`] finds it: `Patient/{id}` or `{id}` |
//! | `subject` | reference | the same, on the types with a `subject` element |
//! | `code` | token | the type's code CodeableConcept; a comma list is an OR |
//! | `date` | date | the type's clinical date; repeats are ANDed |
//!
//! The `date` elements: Observation and DiagnosticReport `effective[x]`, Encounter
//! `period`, Immunization `occurrence[x]`, Procedure `performed[x]`,
//! AllergyIntolerance and Condition `recordedDate`, DocumentReference `date`, Consent
//! `dateTime`, AuditEvent and Provenance `recorded`. Of a choice type only the
//! dateTime, instant and Period forms are indexed (`effectiveTiming`,
//! `occurrenceString`, `performedAge` and the like never match). A Period is
//! `[start, end)` with a missing end open; a resource without the element never
//! matches a `date` parameter.
//!
//! Also: `_count` (0 to 1000; 0 asks for the total only), `_offset` (medledger's
//! paging cursor), and `_format` / `_pretty`, which are ignored. Anything else,
//! including modifiers (`code:text`), chains, a comma list of dates, or a parameter
//! that does not apply to the type, is refused: silently ignoring a filter would
//! return more than was asked for. Token values follow R4's escaping (`\,` `\|` `\$`
//! `\\`).
//!
//! Errors name the parameter, never its value.

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use serde_json::Value;
use thiserror::Error;

use crate::date::{DateParam, DateRange, parse_fhir_date};
use crate::reference::{identifiers, patient_of, valid_id};

/// Most parameters in one query.
pub const MAX_PARAMS: usize = 64;
/// Longest parameter value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most comma-separated alternatives in one value.
pub const MAX_ALTERNATIVES: usize = 100;
/// Largest `_count`.
pub const MAX_COUNT: usize = 1000;
/// Largest `_offset`: far beyond any real result set, and safe to add a page to.
pub const MAX_OFFSET: usize = 1_000_000_000;

/// How much of an unsupported parameter's name an error quotes.
const SHOWN: usize = 40;

/// Result parameters every type accepts, besides its search parameters.
const RESULT_PARAMS: [&str; 2] = ["_count", "_offset"];
/// Parameters accepted and ignored.
const IGNORED: [&str; 2] = ["_format", "_pretty"];

/// Why a search query was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("the resource type is not served here")]
    UnknownType,
    #[error("at most {MAX_PARAMS} search parameters are accepted")]
    TooMany,
    #[error(
        "search parameter {param:?} is not supported for {resource_type}; supported: {supported} (and _count, _offset)"
    )]
    Unsupported {
        param: String,
        resource_type: &'static str,
        supported: String,
    },
    #[error("search parameter {param}: {reason}")]
    Invalid { param: &'static str, reason: &'static str },
}

/// A token value: `system|code`, `|code` (no system), `system|` (any code in the
/// system) or `code` (any system).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// `None`: any system; `Some(None)`: no system.
    pub system: Option<Option<String>>,
    /// `None`: any code.
    pub code: Option<String>,
}

impl Token {
    /// One token, escapes undone.
    fn parse(raw: &str) -> Result<Token, &'static str> {
        const BAD_ESCAPE: &str = "a backslash may only escape \\ , | or $";
        let parts = split_unescaped(raw, b'|');
        let unescaped = |s: &str| unescape(s).ok_or(BAD_ESCAPE);
        let token = match parts.as_slice() {
            [code] => Token {
                system: None,
                code: Some(unescaped(code)?),
            },
            [system, code] => Token {
                system: Some((!system.is_empty()).then(|| unescaped(system)).transpose()?),
                code: (!code.is_empty()).then(|| unescaped(code)).transpose()?,
            },
            _ => return Err("expects [system|]code with at most one unescaped |"),
        };
        match &token {
            Token { code: Some(c), .. } if c.is_empty() => Err("a code is empty"),
            Token {
                system: Some(None),
                code: None,
            } => Err("a token needs a system or a code"),
            _ => Ok(token),
        }
    }

    /// Whether a coding or identifier with this system and code (or value) matches.
    pub fn matches(&self, system: Option<&str>, code: Option<&str>) -> bool {
        let system_ok = match &self.system {
            None => true,
            Some(None) => system.is_none(),
            Some(Some(s)) => system == Some(s.as_str()),
        };
        let code_ok = match &self.code {
            None => true,
            Some(c) => code == Some(c.as_str()),
        };
        system_ok && code_ok
    }

    /// The value as a query would spell it, escaped.
    fn render(&self) -> String {
        let code = self.code.as_deref().map(escape).unwrap_or_default();
        match &self.system {
            None => code,
            Some(system) => format!("{}|{code}", system.as_deref().map(escape).unwrap_or_default()),
        }
    }
}

/// Splits on `sep` where it is not escaped by a backslash; escapes are kept.
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b) if *b == sep => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

/// Undoes R4's search escapes; `None` for any other use of a backslash.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '|' | '$')) => out.push(e),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '|' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where a type keeps its `date`.
#[derive(Clone, Copy)]
enum DateElement {
    /// A date, dateTime or instant.
    Instant(&'static str),
    /// A Period.
    Period(&'static str),
}

/// The search parameters of one type and the elements they read.
struct TypeSpec {
    resource_type: &'static str,
    params: &'static [&'static str],
    /// The CodeableConcept `code` searches.
    code: Option<&'static str>,
    dates: &'static [DateElement],
}

use DateElement::{Instant, Period};

const BASE: &[&str] = &["_id", "_lastUpdated", "identifier"];
const CLINICAL: &[&str] = &[
    "_id",
    "_lastUpdated",
    "identifier",
    "patient",
    "subject",
    "code",
    "date",
];

const SPECS: [TypeSpec; 15] = [
    TypeSpec {
        resource_type: "Patient",
        params: BASE,
        code: None,
        dates: &[],
    },
    TypeSpec {
        resource_type: "Practitioner",
        params: BASE,
        code: None,
        dates: &[],
    },
    TypeSpec {
        resource_type: "Organization",
        params: BASE,
        code: None,
        dates: &[],
    },
    TypeSpec {
        resource_type: "Encounter",
        params: &["_id", "_lastUpdated", "identifier", "patient", "subject", "date"],
        code: None,
        dates: &[Period("period")],
    },
    TypeSpec {
        resource_type: "Observation",
        params: CLINICAL,
        code: Some("code"),
        dates: &[
            Instant("effectiveDateTime"),
            Instant("effectiveInstant"),
            Period("effectivePeriod"),
        ],
    },
    TypeSpec {
        resource_type: "Condition",
        params: CLINICAL,
        code: Some("code"),
        dates: &[Instant("recordedDate")],
    },
    TypeSpec {
        resource_type: "AllergyIntolerance",
        params: &["_id", "_lastUpdated", "identifier", "patient", "code", "date"],
        code: Some("code"),
        dates: &[Instant("recordedDate")],
    },
    TypeSpec {
        resource_type: "MedicationRequest",
        params: &["_id", "_lastUpdated", "identifier", "patient", "subject", "code"],
        code: Some("medicationCodeableConcept"),
        dates: &[],
    },
    TypeSpec {
        resource_type: "Immunization",
        params: &["_id", "_lastUpdated", "identifier", "patient", "code", "date"],
        code: Some("vaccineCode"),
        dates: &[Instant("occurrenceDateTime")],
    },
    TypeSpec {
        resource_type: "DiagnosticReport",
        params: CLINICAL,
        code: Some("code"),
        dates: &[Instant("effectiveDateTime"), Period("effectivePeriod")],
    },
    TypeSpec {
        resource_type: "Procedure",
        params: CLINICAL,
        code: Some("code"),
        dates: &[Instant("performedDateTime"), Period("performedPeriod")],
    },
    TypeSpec {
        resource_type: "DocumentReference",
        params: &["_id", "_lastUpdated", "identifier", "patient", "subject", "date"],
        code: None,
        dates: &[Instant("date")],
    },
    TypeSpec {
        resource_type: "Consent",
        params: &["_id", "_lastUpdated", "identifier", "patient", "date"],
        code: None,
        dates: &[Instant("dateTime")],
    },
    TypeSpec {
        resource_type: "AuditEvent",
        params: &["_id", "_lastUpdated", "patient", "date"],
        code: None,
        dates: &[Instant("recorded")],
    },
    TypeSpec {
        resource_type: "Provenance",
        params: &["_id", "_lastUpdated", "patient", "date"],
        code: None,
        dates: &[Instant("recorded")],
    },
];

fn spec(resource_type: &str) -> Option<&'static TypeSpec> {
    SPECS.iter().find(|s| s.resource_type == resource_type)
}

/// A parsed search: every filter is ANDed; alternatives within one are ORed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub resource_type: String,
    /// `_id`: any of these.
    pub id: Option<Vec<String>>,
    /// `patient` or `subject`: the Patient's logical id.
    pub patient: Option<String>,
    /// `_lastUpdated`: all of these.
    pub last_updated: Vec<DateParam>,
    /// `date`: all of these.
    pub date: Vec<DateParam>,
    /// `code`: any of these.
    pub code: Option<Vec<Token>>,
    /// `identifier`: any of these.
    pub identifier: Option<Vec<Token>>,
    /// `_count`: the page size asked for; `Some(0)` asks for the total only.
    pub count: Option<usize>,
    /// `_offset`: how many matches to skip.
    pub offset: usize,
}

fn invalid(param: &'static str, reason: &'static str) -> SearchError {
    SearchError::Invalid { param, reason }
}

/// A whole number with at most `max`, digits only.
fn number(param: &'static str, value: &str, max: usize, reason: &'static str) -> Result<usize, SearchError> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(param, reason));
    }
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or(invalid(param, reason))
}

/// A comma list of alternatives, each parsed by `one`.
fn alternatives<T>(
    param: &'static str,
    value: &str,
    one: impl Fn(&str) -> Result<T, &'static str>,
) -> Result<Vec<T>, SearchError> {
    let raw = split_unescaped(value, b',');
    if raw.len() > MAX_ALTERNATIVES {
        return Err(invalid(param, "too many comma-separated alternatives (at most 100)"));
    }
    raw.into_iter()
        .map(|r| {
            if r.is_empty() {
                Err(invalid(param, "an alternative in the comma list is empty"))
            } else {
                one(r).map_err(|reason| invalid(param, reason))
            }
        })
        .collect()
}

/// Fails if a parameter that may appear once already has.
fn once<T>(slot: &Option<T>, param: &'static str) -> Result<(), SearchError> {
    match slot {
        Some(_) => Err(invalid(
            param,
            "may appear only once; separate alternatives with commas",
        )),
        None => Ok(()),
    }
}

impl SearchQuery {
    /// The search parameters `resource_type` supports, for errors and the
    /// CapabilityStatement (the result parameters `_count` and `_offset` are not
    /// listed); empty for a type not served here.
    pub fn supported_params(resource_type: &str) -> &'static [&'static str] {
        spec(resource_type).map_or(&[], |s| s.params)
    }

    /// Parses decoded query pairs for a search on `resource_type`.
    pub fn parse(resource_type: &str, params: &[(String, String)]) -> Result<SearchQuery, SearchError> {
        let spec = spec(resource_type).ok_or(SearchError::UnknownType)?;
        if params.len() > MAX_PARAMS {
            return Err(SearchError::TooMany);
        }
        let mut q = SearchQuery {
            resource_type: spec.resource_type.to_string(),
            id: None,
            patient: None,
            last_updated: Vec::new(),
            date: Vec::new(),
            code: None,
            identifier: None,
            count: None,
            offset: 0,
        };
        let mut offset_seen = false;
        for (name, value) in params {
            if IGNORED.contains(&name.as_str()) {
                continue;
            }
            let Some(param) = spec
                .params
                .iter()
                .chain(RESULT_PARAMS.iter())
                .find(|p| **p == name.as_str())
                .copied()
            else {
                return Err(SearchError::Unsupported {
                    param: name.chars().take(SHOWN).collect(),
                    resource_type: spec.resource_type,
                    supported: spec.params.join(", "),
                });
            };
            if value.is_empty() {
                return Err(invalid(param, "has no value"));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(invalid(param, "the value is longer than 1024 bytes"));
            }
            match param {
                "_id" => {
                    once(&q.id, param)?;
                    let ids = alternatives(param, value, |id| {
                        valid_id(id)
                            .then(|| id.to_string())
                            .ok_or("an id is 1 to 64 of A-Z a-z 0-9 - .")
                    })?;
                    q.id = Some(ids);
                }
                "patient" | "subject" => {
                    let id = value.strip_prefix("Patient/").unwrap_or(value);
                    if !valid_id(id) {
                        return Err(invalid(param, "expects Patient/{id} or {id}"));
                    }
                    if q.patient.as_deref().is_some_and(|p| p != id) {
                        return Err(invalid(param, "patient and subject name different patients"));
                    }
                    q.patient = Some(id.to_string());
                }
                "_lastUpdated" | "date" => {
                    let p = DateParam::parse(value).map_err(|_| {
                        invalid(
                            param,
                            "expects one [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|+hh:mm]]]] value",
                        )
                    })?;
                    let list = if param == "date" {
                        &mut q.date
                    } else {
                        &mut q.last_updated
                    };
                    list.push(p);
                }
                "code" => {
                    once(&q.code, param)?;
                    q.code = Some(alternatives(param, value, Token::parse)?);
                }
                "identifier" => {
                    once(&q.identifier, param)?;
                    q.identifier = Some(alternatives(param, value, Token::parse)?);
                }
                "_count" => {
                    once(&q.count, param)?;
                    q.count = Some(number(
                        param,
                        value,
                        MAX_COUNT,
                        "expects a whole number from 0 to 1000",
                    )?);
                }
                "_offset" => {
                    if offset_seen {
                        return Err(invalid(param, "may appear only once"));
                    }
                    offset_seen = true;
                    q.offset = number(param, value, MAX_OFFSET, "expects a whole number up to 1000000000")?;
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether `resource` (decrypted) matches every filter; paging is the caller's.
    pub fn matches(&self, resource: &Value) -> bool {
        let Some(spec) = spec(&self.resource_type) else {
            return false;
        };
        if resource.get("resourceType").and_then(Value::as_str) != Some(spec.resource_type) {
            return false;
        }
        if let Some(ids) = &self.id {
            let id = resource.get("id").and_then(Value::as_str);
            if !id.is_some_and(|id| ids.iter().any(|i| i == id)) {
                return false;
            }
        }
        if let Some(p) = &self.patient
            && patient_of(resource).as_deref() != Some(p.as_str())
        {
            return false;
        }
        if !self.last_updated.is_empty() {
            let updated = resource
                .pointer("/meta/lastUpdated")
                .and_then(Value::as_str)
                .and_then(|s| parse_fhir_date(s).ok());
            if !updated.is_some_and(|t| self.last_updated.iter().all(|p| p.matches(t))) {
                return false;
            }
        }
        if !self.date.is_empty() {
            let when = date_of(spec, resource);
            if !when.is_some_and(|t| self.date.iter().all(|p| p.matches(t))) {
                return false;
            }
        }
        if let Some(tokens) = &self.code {
            let codings = spec
                .code
                .and_then(|element| resource.get(element))
                .and_then(|cc| cc.get("coding"))
                .and_then(Value::as_array);
            let hit = codings.is_some_and(|codings| {
                codings.iter().any(|c| {
                    let system = c.get("system").and_then(Value::as_str);
                    let code = c.get("code").and_then(Value::as_str);
                    tokens.iter().any(|t| t.matches(system, code))
                })
            });
            if !hit {
                return false;
            }
        }
        if let Some(tokens) = &self.identifier {
            let mut ids = identifiers(resource);
            if spec.resource_type == "DocumentReference"
                && let Some(master) = resource.get("masterIdentifier")
            {
                ids.extend(identifiers(&serde_json::json!({ "identifier": master })));
            }
            let hit = ids
                .iter()
                .any(|(system, value)| tokens.iter().any(|t| t.matches(system.as_deref(), Some(value))));
            if !hit {
                return false;
            }
        }
        true
    }

    /// The query as a canonical, percent-encoded query string (no leading `?`), for a
    /// searchset Bundle's `self` link. Parameters come in a fixed order, `subject` is
    /// written as `patient`, dates in UTC at their precision, tokens escaped.
    pub fn self_query(&self) -> String {
        self.self_query_with_offset(self.offset)
    }

    /// [`self_query`](Self::self_query) with another `_offset` (0 leaves it out), for
    /// `next` and `previous` links.
    pub fn self_query_with_offset(&self, offset: usize) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(ids) = &self.id {
            pairs.push(("_id", ids.join(",")));
        }
        if let Some(p) = &self.patient {
            pairs.push(("patient", p.clone()));
        }
        pairs.extend(self.last_updated.iter().map(|p| ("_lastUpdated", p.to_string())));
        pairs.extend(self.date.iter().map(|p| ("date", p.to_string())));
        let tokens = |t: &[Token]| t.iter().map(Token::render).collect::<Vec<_>>().join(",");
        if let Some(t) = &self.code {
            pairs.push(("code", tokens(t)));
        }
        if let Some(t) = &self.identifier {
            pairs.push(("identifier", tokens(t)));
        }
        if let Some(c) = self.count {
            pairs.push(("_count", c.to_string()));
        }
        if offset > 0 {
            pairs.push(("_offset", offset.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters and `:` `/` `,`, which a
/// query may carry as they are (`,` separates alternatives; an escaped one is `\,`,
/// whose backslash is encoded).
fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b',') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The range a resource's `date` element covers: the first of the type's elements
/// present. An unparseable value, or a Period with no bounds or ending before it
/// starts, is no value.
fn date_of(spec: &TypeSpec, resource: &Value) -> Option<DateRange> {
    let parse = |v: &Value| v.as_str().and_then(|s| parse_fhir_date(s).ok());
    for element in spec.dates {
        match *element {
            Instant(name) => {
                if let Some(v) = resource.get(name) {
                    return parse(v);
                }
            }
            Period(name) => {
                let Some(period) = resource.get(name) else { continue };
                let bound = |k: &str| period.get(k).map(parse);
                let (start, end) = match (bound("start"), bound("end")) {
                    (Some(None), _) | (_, Some(None)) | (None, None) => return None,
                    (start, end) => (
                        start.flatten().map_or(i64::MIN, |r| r.start),
                        end.flatten().map_or(i64::MAX, |r| r.end),
                    ),
                };
                return (start < end).then_some(DateRange { start, end });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
