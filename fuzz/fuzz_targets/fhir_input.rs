//! Hostile FHIR input: arbitrary bytes as a resource body (validated against the R4
//! schema), as a Bundle to prune for `medledger load --skip-unsupported`, as a search
//! query, as a reference and as a date. Never panics; a validated resource is an object
//! of a supported type; a pruned Bundle holds only supported types.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medledger_fhir::{SUPPORTED_TYPES, Validator, date, prune, reference, search};

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new().expect("the vendored schema compiles"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(t) = validator().validate(&v) {
            assert!(SUPPORTED_TYPES.contains(&t));
            let _ = reference::patient_of(&v);
        }
        let mut bundle = v;
        if let Ok(p) = prune::prune_unsupported(&mut bundle) {
            let entries = bundle["entry"].as_array().map_or(0, Vec::len);
            assert_eq!(p.kept, entries);
            for e in bundle["entry"].as_array().into_iter().flatten() {
                let t = e["resource"]["resourceType"].as_str().unwrap_or_default();
                assert!(SUPPORTED_TYPES.contains(&t));
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let pairs: Vec<(String, String)> = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for t in SUPPORTED_TYPES {
        if let Ok(q) = search::SearchQuery::parse(t, &pairs) {
            let _ = q.self_query();
        }
    }
    let _ = reference::classify(text);
    if let Ok(r) = date::parse_fhir_date(text) {
        assert!(r.start < r.end);
    }
});
