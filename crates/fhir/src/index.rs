//! What a resource is found by: the values of each of its type's search parameters
//! (HL7's R4 definitions, [`crate::defs`]), extracted once when the resource is written,
//! so that a search is answered from these values and never by decrypting a record that
//! does not match ([`crate::search`]).
//!
//! An [`Indexed`] holds patient data (names, identifiers, codes, dates): whoever stores
//! it keeps it as confidential as the record itself (the custodian encrypts it at rest).

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::date::{DateRange, parse_fhir_date};
use crate::defs::{ParamDef, ParamKind, defs, values_at};
use crate::reference::{RefKind, classify};

/// Most values kept for one parameter of one resource; the rest are not indexed.
pub const MAX_VALUES_PER_PARAM: usize = 256;
/// Longest string kept; longer ones are cut (on a character boundary).
pub const MAX_STRING: usize = 512;

/// One value a parameter has in a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IndexValue {
    /// A code, identifier or other token: `system|code`, with the text `:text` searches
    /// (a CodeableConcept's `text`, a Coding's `display`, an Identifier's type text).
    Token {
        system: Option<String>,
        code: Option<String>,
        text: Option<String>,
    },
    /// A reference: `Type/id` for one on this network (history dropped), or the
    /// absolute URL or canonical as written; with the Reference's `identifier`.
    Reference {
        target: Option<String>,
        identifier: Option<(Option<String>, String)>,
    },
    Date(DateRange),
    /// A string as written; matched case- and accent-insensitively.
    String(String),
    Quantity {
        value: f64,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    },
    Number(f64),
    Uri(String),
}

/// The search values of one resource, by parameter code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Indexed {
    pub values: BTreeMap<String, Vec<IndexValue>>,
}

impl Indexed {
    pub fn get(&self, param: &str) -> &[IndexValue] {
        self.values.get(param).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Extracts every search parameter's values from `resource` (of a known R4 type; empty
/// otherwise).
pub fn extract(resource: &Value) -> Indexed {
    let mut out = Indexed::default();
    let Some(def) = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|t| defs().get(t))
    else {
        return out;
    };
    for param in def.params.values() {
        let values = param_values(resource, param);
        if !values.is_empty() {
            out.values.insert(param.code.to_string(), values);
        }
    }
    out
}

/// One parameter's values in `resource`.
pub fn param_values(resource: &Value, param: &ParamDef) -> Vec<IndexValue> {
    let mut out = Vec::new();
    for path in &param.paths {
        if path.data_type == "deceased" {
            out.push(IndexValue::Token {
                system: None,
                code: Some(deceased(resource).to_string()),
                text: None,
            });
            continue;
        }
        for v in values_at(resource, &path.steps) {
            if out.len() >= MAX_VALUES_PER_PARAM {
                return out;
            }
            if param.kind == ParamKind::Reference {
                out.extend(reference(v, &path.data_type, path.target.as_deref(), &param.targets));
            } else {
                convert(param.kind, &path.data_type, v, &mut out);
            }
        }
    }
    out.truncate(MAX_VALUES_PER_PARAM);
    out
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(cut)
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_STRING {
        return s.to_string();
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

fn primitive(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(cut(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings<'v>(v: &'v Value, key: &str) -> Vec<&'v str> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|n| n.is_finite())
}

fn token(system: Option<String>, code: Option<String>, text: Option<String>) -> Option<IndexValue> {
    (system.is_some() || code.is_some() || text.is_some()).then_some(IndexValue::Token { system, code, text })
}

/// A Reference, canonical or uri as a reference value; `None` for a contained,
/// conditional or urn reference, or one to another type than `target` or than the
/// parameter's `targets` (a query could not name it).
fn reference(v: &Value, data_type: &str, target: Option<&str>, targets: &[String]) -> Option<IndexValue> {
    let (raw, identifier) = match data_type {
        "Reference" => (
            v.get("reference").and_then(Value::as_str),
            v.get("identifier").and_then(|i| {
                let value = text(i, "value")?;
                Some((text(i, "system"), value))
            }),
        ),
        "canonical" | "uri" | "url" => (v.as_str(), None),
        _ => return None,
    };
    let normalised = match raw.map(classify) {
        Some(Ok(RefKind::Local { resource_type, id, .. })) => {
            if target.is_some_and(|t| t != resource_type)
                || (!targets.is_empty() && !targets.iter().any(|t| t == resource_type))
            {
                return None;
            }
            Some(format!("{resource_type}/{id}"))
        }
        Some(Ok(RefKind::Absolute(url))) => Some(cut(url)),
        Some(_) => None,
        None => None,
    };
    if normalised.is_none() && (identifier.is_none() || target.is_some()) {
        return None;
    }
    Some(IndexValue::Reference {
        target: normalised,
        identifier,
    })
}

fn dates(v: &Value, data_type: &str, out: &mut Vec<IndexValue>) {
    match data_type {
        "date" | "dateTime" | "instant" => {
            if let Some(r) = v.as_str().and_then(|s| parse_fhir_date(s).ok()) {
                out.push(IndexValue::Date(r));
            }
        }
        "Period" => {
            let bound = |k: &str| v.get(k).and_then(Value::as_str).and_then(|s| parse_fhir_date(s).ok());
            let (start, end) = (bound("start"), bound("end"));
            if start.is_some() || end.is_some() {
                out.push(IndexValue::Date(DateRange {
                    start: start.map_or(i64::MIN, |r| r.start),
                    end: end.map_or(i64::MAX, |r| r.end),
                }));
            }
        }
        "Timing" => {
            for e in strings(v, "event") {
                if let Ok(r) = parse_fhir_date(e) {
                    out.push(IndexValue::Date(r));
                }
            }
        }
        _ => {}
    }
}

fn convert(kind: ParamKind, data_type: &str, v: &Value, out: &mut Vec<IndexValue>) {
    match kind {
        ParamKind::Token => match data_type {
            "CodeableConcept" => {
                for c in v.get("coding").and_then(Value::as_array).into_iter().flatten() {
                    out.extend(token(text(c, "system"), text(c, "code"), text(c, "display")));
                }
                out.extend(token(None, None, text(v, "text")));
            }
            "Coding" => out.extend(token(text(v, "system"), text(v, "code"), text(v, "display"))),
            "Identifier" => out.extend(token(
                text(v, "system"),
                text(v, "value"),
                v.get("type").and_then(|t| text(t, "text")),
            )),
            "ContactPoint" => out.extend(token(text(v, "system"), text(v, "value"), None)),
            _ => out.extend(token(None, primitive(v), None)),
        },
        ParamKind::Reference => {}
        ParamKind::Date => dates(v, data_type, out),
        ParamKind::String => match data_type {
            "HumanName" => {
                for k in ["family", "given", "prefix", "suffix", "text"] {
                    out.extend(strings(v, k).into_iter().map(|s| IndexValue::String(cut(s))));
                }
            }
            "Address" => {
                for k in ["line", "city", "district", "state", "postalCode", "country", "text"] {
                    out.extend(strings(v, k).into_iter().map(|s| IndexValue::String(cut(s))));
                }
            }
            _ => out.extend(v.as_str().filter(|s| !s.is_empty()).map(|s| IndexValue::String(cut(s)))),
        },
        ParamKind::Quantity => match data_type {
            "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity" | "MoneyQuantity" => {
                if let Some(value) = number(v.get("value")) {
                    out.push(IndexValue::Quantity {
                        value,
                        system: text(v, "system"),
                        code: text(v, "code"),
                        unit: text(v, "unit"),
                    });
                }
            }
            "Money" => {
                if let Some(value) = number(v.get("value")) {
                    out.push(IndexValue::Quantity {
                        value,
                        system: Some("urn:iso:std:iso:4217".into()),
                        code: text(v, "currency"),
                        unit: None,
                    });
                }
            }
            _ => {}
        },
        ParamKind::Number => out.extend(number(Some(v)).map(IndexValue::Number)),
        ParamKind::Uri => out.extend(v.as_str().filter(|s| !s.is_empty()).map(|s| IndexValue::Uri(cut(s)))),
    }
}

/// Patient.deceased as the token R4 defines: `true` when `deceasedBoolean` is true or a
/// `deceasedDateTime` is given, `false` otherwise.
fn deceased(resource: &Value) -> bool {
    resource
        .get("deceasedBoolean")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || resource.get("deceasedDateTime").is_some_and(Value::is_string)
}

/// A string folded for search: lower case, common Latin accents removed.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' | 'ľ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ť' | 'ţ' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'æ' => "ae",
            'œ' => "oe",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(base);
    }
    out
}

#[cfg(test)]
mod tests;
