//! GS1's EPCIS 2.0 JSON Schema, applied to JSON-LD capture bodies before they are read
//! (`medledger_gs1::epcis::JSON_SCHEMA`, provenance in `crates/gs1/schema/README.md`).
//!
//! Compiled once, on first use. A document the schema refuses is a `400` naming the
//! schema's first few complaints with their JSON pointers. XML bodies are not checked
//! against GS1's XSD (none is vendored); the `gs1` reader's own checks apply to both.

use std::sync::OnceLock;

use serde_json::Value;

use super::EpcisError;

/// Complaints shown in one error.
const SHOWN: usize = 5;

fn validator() -> Result<&'static jsonschema::Validator, EpcisError> {
    static COMPILED: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(medledger_gs1::epcis::JSON_SCHEMA).map_err(|e| e.to_string())?;
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                // GS1's patterns use look-ahead, which `regex` lacks.
                .with_pattern_options(jsonschema::PatternOptions::fancy_regex())
                .build(&schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            tracing::error!("GS1's EPCIS JSON schema does not compile: {e}");
            EpcisError::unavailable(format!("the EPCIS JSON schema is not available: {e}"))
        })
}

/// Where a complaint is: `event N, field /x/y` for a place inside an event (numbered from
/// 0 in document order, as the reader's errors are), else the JSON pointer.
fn place(pointer: &str) -> String {
    for list in [
        "/epcisBody/eventList/",
        "/epcisBody/queryResults/resultsBody/eventList/",
    ] {
        if let Some(rest) = pointer.strip_prefix(list) {
            let (n, field) = rest.split_once('/').unwrap_or((rest, ""));
            return format!("event {n}, field /{field}");
        }
    }
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

/// Checks a JSON-LD body against GS1's schema.
pub fn check(bytes: &[u8]) -> Result<(), EpcisError> {
    let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
        // Not JSON: the reader says where.
        return Ok(());
    };
    let problems: Vec<String> = validator()?
        .iter_errors(&doc)
        .take(SHOWN)
        .map(|e| format!("{}: {e}", place(&e.instance_path().to_string())))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(EpcisError::validation(format!(
        "the document does not follow GS1's EPCIS 2.0 JSON schema: {}",
        problems.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema takes the DSCSA documents and GS1's JSON-LD examples of the reference
    /// vectors, and refuses what EPCIS 2.0 does not allow.
    #[test]
    fn gs1s_schema_takes_the_examples_and_refuses_bad_documents() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["../ledger/tests/data", "../gs1/tests/data/epcis/examples"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_none_or(|e| e != "jsonld") || path.ends_with("refusals.jsonld") {
                    continue;
                }
                let bytes = std::fs::read(&path).expect("document");
                if let Err(e) = check(&bytes) {
                    panic!("{}: {}", path.display(), e.detail);
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "{checked}");
        let dscsa =
            std::fs::read_to_string(root.join("../ledger/tests/data/dscsa-1-manufacturer.jsonld")).expect("doc");
        let mut doc: Value = serde_json::from_str(&dscsa).expect("json");
        doc["epcisBody"]["eventList"][0]["action"] = Value::String("MOVE".into());
        let e = check(&serde_json::to_vec(&doc).expect("json")).expect_err("action MOVE");
        assert!(e.detail.contains("event 0, field /action"), "{}", e.detail);
        let mut doc: Value = serde_json::from_str(&dscsa).expect("json");
        if let Some(o) = doc["epcisBody"]["eventList"][1].as_object_mut() {
            o.remove("eventTime");
        }
        assert!(check(&serde_json::to_vec(&doc).expect("json")).is_err(), "no eventTime");
    }
}
