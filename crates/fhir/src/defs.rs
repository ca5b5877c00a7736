//! HL7's R4 definitions medledger works from: the 145 resource types, the Patient
//! compartment (`CompartmentDefinition-patient`), every search parameter
//! (`SearchParameter-*`) with its FHIRPath expression compiled to JSON paths, and the
//! summary elements. `schema/r4-tables.json` is derived from the npm package
//! `hl7.fhir.r4.examples@4.0.1` (CC0) by `schema/tables.py`; nothing here is kept by
//! hand.
//!
//! The tables are parsed once, on first use (a few milliseconds), and live for the
//! process, so everything they hold is handed out as `&'static`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const TABLES: &str = include_str!("../schema/r4-tables.json");

/// A search parameter's type (R4 `search.html`). `composite` and `special` parameters
/// are not served (the tables list only these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Token,
    Reference,
    Date,
    String,
    Quantity,
    Uri,
    Number,
}

impl ParamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Token => "token",
            ParamKind::Reference => "reference",
            ParamKind::Date => "date",
            ParamKind::String => "string",
            ParamKind::Quantity => "quantity",
            ParamKind::Uri => "uri",
            ParamKind::Number => "number",
        }
    }
}

/// One step of a compiled path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Into a member (each item, if it is an array).
    Key(String),
    /// Into a member's first item.
    First(String),
    /// Into the items of a member whose `field` is the string `value`.
    Where { key: String, field: String, value: String },
}

/// Where a parameter's values are, in one resource type.
#[derive(Clone, Debug)]
pub struct ParamPath {
    pub steps: Vec<Step>,
    /// The FHIR data type at the end (`CodeableConcept`, `Reference`, `dateTime` …).
    pub data_type: String,
    /// `.where(resolve() is T)`: only references to this type count.
    pub target: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ParamDef {
    pub code: &'static str,
    pub kind: ParamKind,
    pub paths: Vec<ParamPath>,
    /// For a reference parameter, the types it may point at.
    pub targets: Vec<String>,
}

#[derive(Debug)]
pub struct TypeDef {
    pub name: &'static str,
    /// The reference parameters that put a resource of this type in a Patient's
    /// compartment; empty for a type outside the compartment.
    pub compartment: Vec<&'static str>,
    /// Search parameters by code.
    pub params: BTreeMap<&'static str, ParamDef>,
    /// Top-level elements `_summary=true` keeps (`name*` for a choice element).
    pub summary: Vec<String>,
}

impl TypeDef {
    pub fn param(&self, code: &str) -> Option<&ParamDef> {
        self.params.get(code)
    }

    /// Whether a resource of this type can be in a Patient's compartment.
    pub fn in_compartment(&self) -> bool {
        !self.compartment.is_empty() || self.name == "Patient"
    }
}

pub struct Defs {
    types: BTreeMap<&'static str, TypeDef>,
    names: Vec<&'static str>,
}

impl Defs {
    /// A resource type by name, as `&'static str`; `None` if R4 has no such type.
    pub fn resource_type(&self, name: &str) -> Option<&'static str> {
        self.types.get_key_value(name).map(|(k, _)| *k)
    }

    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Every R4 resource type, sorted.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    pub fn iter(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.values()
    }
}

#[derive(Deserialize)]
struct RawTables {
    types: BTreeMap<String, RawType>,
}

#[derive(Deserialize)]
struct RawType {
    #[serde(default)]
    compartment: Vec<String>,
    params: BTreeMap<String, RawParam>,
    #[serde(default)]
    summary: Vec<String>,
}

#[derive(Deserialize)]
struct RawParam {
    #[serde(rename = "type")]
    kind: ParamKind,
    paths: Vec<RawPath>,
    #[serde(default)]
    targets: Vec<String>,
}

#[derive(Deserialize)]
struct RawPath {
    path: Vec<String>,
    #[serde(rename = "type")]
    data_type: String,
    target: Option<String>,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `member`, `member[0]` or `member[field=value]`.
fn step(raw: &str) -> Step {
    match raw.split_once('[') {
        Some((key, rest)) => {
            let inner = rest.strip_suffix(']').unwrap_or(rest);
            match inner.split_once('=') {
                Some((field, value)) => Step::Where {
                    key: key.to_string(),
                    field: field.to_string(),
                    value: value.to_string(),
                },
                None => Step::First(key.to_string()),
            }
        }
        None => Step::Key(raw.to_string()),
    }
}

fn build() -> Defs {
    // The tables are compiled in and checked by this crate's tests: a parse failure is a
    // build defect, and an empty table then refuses every type rather than panic.
    let raw: RawTables = match serde_json::from_str(TABLES) {
        Ok(r) => r,
        Err(_) => RawTables { types: BTreeMap::new() },
    };
    let mut types = BTreeMap::new();
    for (name, t) in raw.types {
        let name = leak(name);
        let params = t
            .params
            .into_iter()
            .map(|(code, p)| {
                let code = leak(code);
                let def = ParamDef {
                    code,
                    kind: p.kind,
                    paths: p
                        .paths
                        .into_iter()
                        .map(|rp| ParamPath {
                            steps: rp.path.iter().map(|s| step(s)).collect(),
                            data_type: rp.data_type,
                            target: rp.target,
                        })
                        .collect(),
                    targets: p.targets,
                };
                (code, def)
            })
            .collect::<BTreeMap<_, _>>();
        let compartment = t
            .compartment
            .iter()
            .filter_map(|c| params.get_key_value(c.as_str()).map(|(k, _)| *k))
            .collect();
        types.insert(
            name,
            TypeDef {
                name,
                compartment,
                params,
                summary: t.summary,
            },
        );
    }
    let names = types.keys().copied().collect();
    Defs { types, names }
}

/// The R4 tables, parsed on first use.
pub fn defs() -> &'static Defs {
    static DEFS: OnceLock<Defs> = OnceLock::new();
    DEFS.get_or_init(build)
}

/// A resource type by name, as `&'static str`; `None` if R4 has no such type.
pub fn resource_type(name: &str) -> Option<&'static str> {
    defs().resource_type(name)
}

/// Every R4 resource type, sorted.
pub fn resource_types() -> &'static [&'static str] {
    defs().names()
}

/// Walks `steps` from `v`: every value reached, in document order. Arrays are stepped
/// through (each item), as FHIRPath does.
pub fn values_at<'v>(v: &'v serde_json::Value, steps: &[Step]) -> Vec<&'v serde_json::Value> {
    use serde_json::Value;
    let mut current = vec![v];
    for s in steps {
        let mut next = Vec::new();
        for c in current {
            let key = match s {
                Step::Key(k) | Step::First(k) | Step::Where { key: k, .. } => k,
            };
            let Some(child) = c.get(key.as_str()) else {
                continue;
            };
            let items: Vec<&Value> = match child {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            match s {
                Step::Key(_) => next.extend(items),
                Step::First(_) => next.extend(items.into_iter().take(1)),
                Step::Where { field, value, .. } => next.extend(
                    items
                        .into_iter()
                        .filter(|i| i.get(field.as_str()).and_then(Value::as_str) == Some(value.as_str())),
                ),
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_r4_resource_type_is_there() {
        let d = defs();
        assert_eq!(d.names().len(), 145);
        for t in [
            "Patient",
            "Claim",
            "ExplanationOfBenefit",
            "Location",
            "ImagingStudy",
            "VisionPrescription",
        ] {
            assert!(d.get(t).is_some(), "{t}");
        }
        assert!(d.get("ResourceList").is_none());
        assert!(d.get("patient").is_none());
    }

    #[test]
    fn the_compartment_is_hl7s() {
        let d = defs();
        let obs = d.get("Observation").unwrap();
        assert_eq!(obs.compartment, ["subject", "performer"]);
        assert!(obs.in_compartment());
        let loc = d.get("Location").unwrap();
        assert!(loc.compartment.is_empty() && !loc.in_compartment());
        assert!(d.get("Patient").unwrap().in_compartment());
        assert_eq!(d.iter().filter(|t| !t.compartment.is_empty()).count(), 66);
    }

    #[test]
    fn parameters_come_with_their_paths() {
        let obs = defs().get("Observation").unwrap();
        let code = obs.param("code").unwrap();
        assert_eq!(code.kind, ParamKind::Token);
        assert_eq!(code.paths[0].steps, [Step::Key("code".into())]);
        let subject = obs.param("patient").unwrap();
        assert_eq!(subject.paths[0].target.as_deref(), Some("Patient"));
        let email = defs().get("Patient").unwrap().param("email").unwrap();
        assert_eq!(
            email.paths[0].steps,
            [Step::Where {
                key: "telecom".into(),
                field: "system".into(),
                value: "email".into()
            }]
        );
        // Every type has the common parameters.
        for t in defs().iter() {
            for p in ["_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"] {
                assert!(t.param(p).is_some(), "{}.{p}", t.name);
            }
        }
    }

    #[test]
    fn paths_reach_values() {
        let v = serde_json::json!({"telecom": [
            {"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}
        ], "name": [{"given": ["A", "B"]}, {"given": ["C"]}]});
        let email = values_at(
            &v,
            &[Step::Where {
                key: "telecom".into(),
                field: "system".into(),
                value: "email".into(),
            }],
        );
        assert_eq!(email.len(), 1);
        assert_eq!(email[0]["value"], "a@b");
        let given = values_at(&v, &[Step::Key("name".into()), Step::Key("given".into())]);
        assert_eq!(given.len(), 3);
        let first = values_at(&v, &[Step::First("name".into()), Step::Key("given".into())]);
        assert_eq!(first.len(), 2);
    }
}
