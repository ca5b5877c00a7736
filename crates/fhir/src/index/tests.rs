use serde_json::json;

use super::*;

#[test]
fn extracts_each_kind_by_its_data_type() {
    let o = json!({
        "resourceType": "Observation", "id": "o", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1", "display": "One"}], "text": "Uno"},
        "subject": {"reference": "Patient/p/_history/2"},
        "effectivePeriod": {"start": "2024-01-01", "end": "2024-01-02"},
        "valueQuantity": {"value": 1.5, "code": "mg"}
    });
    let x = extract(&o);
    assert_eq!(
        x.get("code"),
        [
            IndexValue::Token {
                system: Some("http://loinc.org".into()),
                code: Some("1".into()),
                text: Some("One".into())
            },
            IndexValue::Token {
                system: None,
                code: None,
                text: Some("Uno".into())
            }
        ]
    );
    assert_eq!(
        x.get("subject"),
        [IndexValue::Reference {
            target: Some("Patient/p".into()),
            identifier: None
        }]
    );
    assert_eq!(x.get("patient").len(), 1);
    let IndexValue::Date(r) = &x.get("date")[0] else {
        panic!()
    };
    assert!(r.end - r.start == 2 * 86_400_000);
    assert!(matches!(x.get("value-quantity")[0], IndexValue::Quantity { value, .. } if value == 1.5));
    assert_eq!(
        x.get("_id"),
        [IndexValue::Token {
            system: None,
            code: Some("o".into()),
            text: None
        }]
    );
}

#[test]
fn a_reference_to_another_type_than_the_target_is_not_indexed_there() {
    let o = json!({"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": "Group/g"}});
    let x = extract(&o);
    assert!(
        x.get("patient").is_empty(),
        "patient is subject.where(resolve() is Patient)"
    );
    assert_eq!(x.get("subject").len(), 1);
}

#[test]
fn contained_urn_and_conditional_references_are_not_indexed() {
    for r in [
        "#c1",
        "urn:uuid:4b2a1c3e-0000-4000-8000-000000000001",
        "Patient?identifier=a|b",
    ] {
        let o = json!({"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
                       "subject": {"reference": r}});
        assert!(extract(&o).get("subject").is_empty(), "{r}");
    }
}

#[test]
fn values_are_bounded() {
    let many: Vec<_> = (0..1000).map(|i| json!({"value": format!("v{i}")})).collect();
    let p = json!({"resourceType": "Patient", "id": "p", "identifier": many,
                   "name": [{"family": "x".repeat(5000)}]});
    let x = extract(&p);
    assert_eq!(x.get("identifier").len(), MAX_VALUES_PER_PARAM);
    let IndexValue::String(s) = &x.get("family")[0] else {
        panic!()
    };
    assert_eq!(s.len(), MAX_STRING);
}

#[test]
fn every_type_extracts_from_junk_without_panicking() {
    for t in crate::defs::defs().iter() {
        let junk = json!({"resourceType": t.name, "id": 5, "code": [1, {"coding": "x"}], "subject": "Patient/p",
                          "identifier": {"value": []}, "name": [null, {"given": [1]}], "period": {"start": 7}});
        let _ = extract(&junk);
    }
    assert_eq!(extract(&json!({"resourceType": "Nothing"})), Indexed::default());
    assert_eq!(extract(&json!(null)), Indexed::default());
}

#[test]
fn folding_ignores_case_and_accents() {
    assert_eq!(fold("Zoë MÜLLER-Æsir"), "zoe muller-aesir");
    assert_eq!(fold("straße"), "strasse");
}

#[test]
fn an_index_round_trips_through_json() {
    let x = extract(&json!({"resourceType": "Patient", "id": "p", "birthDate": "1980",
                            "name": [{"family": "A"}], "identifier": [{"system": "s", "value": "v"}]}));
    let back: Indexed = serde_json::from_slice(&serde_json::to_vec(&x).unwrap()).unwrap();
    assert_eq!(back, x);
}
