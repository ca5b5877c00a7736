//! `POST /fhir` Bundles from outside: arbitrary bytes as JSON through `parse_bundle` (the
//! pure first step of a transaction or batch), and arbitrary UTF-8 through
//! `parse_identifier_query` (`ifNoneExist` and conditional references). Never panics;
//! an accepted Bundle has no more entries than the limit, and every accepted entry names
//! a supported type, a `PUT` a valid FHIR id that its resource repeats, a `POST` none,
//! and its `ifNoneExist` a non-empty value (and a non-empty system, if any).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::fhir::bundle::{Method, parse_bundle, parse_identifier_query};
use medledger_fhir::SUPPORTED_TYPES;
use medledger_fhir::reference::valid_id;

/// The limit the server uses; the fuzzer rarely builds that many entries, so a small one
/// is tried as well.
const LIMITS: [usize; 2] = [5000, 2];

fn check_identifier(parsed: &(Option<String>, String)) {
    let (system, value) = parsed;
    assert!(!value.is_empty(), "an empty identifier value");
    assert!(system.as_ref().is_none_or(|s| !s.is_empty()), "an empty system");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for limit in LIMITS {
            let Ok(bundle) = parse_bundle(&value, limit) else {
                continue;
            };
            assert!(bundle.entries.len() <= limit);
            let declared = value["entry"].as_array().map_or(0, Vec::len);
            assert_eq!(bundle.entries.len(), declared, "one result per entry");
            assert_eq!(bundle.is_transaction, value["type"] == "transaction");
            for entry in bundle.entries.iter().flatten() {
                assert!(SUPPORTED_TYPES.contains(&entry.resource_type));
                assert_eq!(entry.resource["resourceType"], entry.resource_type);
                match entry.method {
                    Method::Put => {
                        let id = entry.id.as_deref().expect("a PUT names an id");
                        assert!(valid_id(id), "PUT with id {id:?}");
                        assert_eq!(entry.resource["id"], id);
                    }
                    Method::Post => assert!(entry.id.is_none()),
                }
                for t in &entry.lookups {
                    assert!(SUPPORTED_TYPES.contains(t));
                }
                if let Some(q) = &entry.if_none_exist {
                    check_identifier(q);
                }
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(parsed) = parse_identifier_query(text)
    {
        check_identifier(&parsed);
    }
});
