//! Hostile FHIR input: arbitrary bytes as a resource body (validated against the R4
//! schema, placed in the Patient compartment, indexed), as a search query on every type
//! (parsed, matched against the input's own search values), as a reference and as a
//! date. Never panics; a validated resource is of an R4 type.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medledger_fhir::{Validator, compartment, date, index, reference, resource_types, search};

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new().expect("the vendored schema compiles"))
}

fuzz_target!(|data: &[u8]| {
    let mut indexed = index::Indexed::default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(t) = validator().validate(&v) {
            assert!(t == "Parameters" || resource_types().contains(&t));
        }
        let _ = compartment::compartment(&v);
        indexed = index::extract(&v);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let pairs: Vec<(String, String)> = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for t in ["Patient", "Observation", "Claim", "Encounter", "Location", "RiskAssessment"] {
        if let Ok(q) = search::SearchQuery::parse(t, &pairs) {
            let _ = q.self_query();
            let _ = q.matches(&indexed);
            let _ = q.compare(&indexed, &index::Indexed::default());
        }
    }
    let _ = reference::classify(text);
    if let Ok(r) = date::parse_fhir_date(text) {
        assert!(r.start < r.end);
    }
});
