use proptest::prelude::*;
use serde_json::json;

use super::*;

const UUID: &str = "urn:uuid:0e0e0e0e-0000-4000-8000-000000000001";
const UUID2: &str = "urn:uuid:0e0e0e0e-0000-4000-8000-000000000002";

#[test]
fn classifies_each_kind() {
    let local = |t, id, version| RefKind::Local {
        resource_type: t,
        id,
        version,
    };
    let table = [
        ("Patient/abc-1", local("Patient", "abc-1", None)),
        ("Patient/a.b", local("Patient", "a.b", None)),
        ("Observation/x/_history/2", local("Observation", "x", Some("2"))),
        ("Specimen/s1", local("Specimen", "s1", None)),
        (UUID, RefKind::Urn(UUID)),
        (
            "urn:uuid:0E0E0E0E-0000-4000-8000-00000000000A",
            RefKind::Urn("urn:uuid:0E0E0E0E-0000-4000-8000-00000000000A"),
        ),
        ("urn:oid:2.16.840.1.113883", RefKind::Urn("urn:oid:2.16.840.1.113883")),
        (
            "Organization?identifier=https://github.com/synthetichealth/synthea|42",
            RefKind::Conditional {
                resource_type: "Organization",
                query: "identifier=https://github.com/synthetichealth/synthea|42",
            },
        ),
        ("#c1", RefKind::Contained("c1")),
        ("#", RefKind::Contained("")),
        (
            "https://x.org/fhir/Patient/1",
            RefKind::Absolute("https://x.org/fhir/Patient/1"),
        ),
        (
            "http://x.org/fhir/Patient/1",
            RefKind::Absolute("http://x.org/fhir/Patient/1"),
        ),
    ];
    for (r, expected) in table {
        assert_eq!(classify(r), Ok(expected), "{r}");
    }
    let id64 = format!("Patient/{}", "a".repeat(64));
    assert!(classify(&id64).is_ok());
}

#[test]
fn refuses_what_is_not_a_reference() {
    use ReferenceError::*;
    let table = [
        ("", Length),
        ("patient/1", BadType),
        ("Pat1ent/1", BadType),
        ("/1", BadType),
        ("?x", BadType),
        ("pat?x", BadType),
        ("Patient?", EmptyQuery),
        ("Patient/", BadId),
        ("Patient/a b", BadId),
        ("Patient/a_b", BadId),
        ("Patient/\u{e9}", BadId),
        ("Patient/1/_history/", BadId),
        ("Patient/1/_history/v 1", BadId),
        ("#a b", BadId),
        ("Patient", Malformed),
        ("Patient/1/2", Malformed),
        ("Patient/1/_history", Malformed),
        ("Patient/1/_history/2/3", Malformed),
        ("urn:uuid:1234", BadUrn),
        ("urn:uuid:0e0e0e0e_0000-4000-8000-000000000001", BadUrn),
        ("urn:uuid:0e0e0e0e-0000-4000-8000-00000000000g", BadUrn),
        ("urn:oid:3.1", BadUrn),
        ("urn:oid:1", BadUrn),
        ("urn:oid:1.02", BadUrn),
        ("urn:oid:1..2", BadUrn),
        ("urn:isbn:123", BadUrn),
        ("http://", BadUrl),
        ("https://x.org/a b", BadUrl),
        ("https://x.org/\n", BadUrl),
    ];
    for (r, expected) in table {
        assert_eq!(classify(r), Err(expected), "{r:?}");
    }
    assert_eq!(classify(&format!("Patient/{}", "a".repeat(65))), Err(BadId));
    assert_eq!(classify(&format!("{}/1", "A".repeat(65))), Err(BadType));
    assert_eq!(classify(&"A".repeat(MAX_REFERENCE_LEN + 1)), Err(Length));
    let secret = classify("Patient/Jane Doe 1970").unwrap_err().to_string();
    assert!(!secret.contains("Jane"), "{secret}");
}

#[test]
fn visits_every_reference_with_its_pointer() {
    let v = json!({
        "resourceType": "Encounter",
        "subject": {"reference": "Patient/p"},
        "participant": [{"individual": {"reference": "Practitioner/2"}}, {"individual": {"display": "x"}}],
        "contained": [{"resourceType": "Location", "managingOrganization": {"reference": "#org"}}],
        "a/b": {"c~d": {"reference": UUID}},
        "extension": [{"url": "x", "valueReference": {"reference": "Organization/o"}}],
        "notReference": {"reference": 7},
        "reference": "top-level",
    });
    let mut seen = Vec::new();
    visit_references(&v, |p, r| seen.push((p.to_string(), r.to_string())));
    let mut expected = [
        ("/subject/reference", "Patient/p"),
        ("/participant/0/individual/reference", "Practitioner/2"),
        ("/contained/0/managingOrganization/reference", "#org"),
        ("/a~1b/c~0d/reference", UUID),
        ("/extension/0/valueReference/reference", "Organization/o"),
        ("/reference", "top-level"),
    ];
    seen.sort();
    expected.sort();
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(p, r)| (p.to_string(), r.to_string()))
            .collect::<Vec<_>>()
    );
    for (p, r) in &seen {
        assert_eq!(v.pointer(p).and_then(Value::as_str), Some(r.as_str()), "{p}");
    }
}

#[test]
fn visits_in_document_order() {
    let v = json!({"list": [{"reference": "A/1"}, {"x": [{"reference": "A/2"}]}, {"reference": "A/3"}]});
    let mut seen = Vec::new();
    visit_references(&v, |_, r| seen.push(r.to_string()));
    assert_eq!(seen, ["A/1", "A/2", "A/3"]);
}

#[test]
fn rewrites_only_what_the_callback_replaces() {
    let mut v = json!({
        "subject": {"reference": UUID},
        "performer": [{"reference": "Practitioner/2"}, {"reference": UUID}],
        "contained": [{"resourceType": "Provenance", "target": [{"reference": UUID}]}],
        "note": [{"text": UUID}],
        "reference": {"reference": UUID},
    });
    let mut asked = Vec::new();
    let n = rewrite_references(&mut v, |r| {
        asked.push(r.to_string());
        (r == UUID).then(|| "Patient/p".to_string())
    });
    assert_eq!(n, 4);
    assert_eq!(asked.len(), 5);
    assert_eq!(v["subject"]["reference"], "Patient/p");
    assert_eq!(v["performer"][0]["reference"], "Practitioner/2");
    assert_eq!(v["performer"][1]["reference"], "Patient/p");
    assert_eq!(v["contained"][0]["target"][0]["reference"], "Patient/p");
    assert_eq!(v["reference"]["reference"], "Patient/p");
    // Not a reference member: left for rewrite_uris.
    assert_eq!(v["note"][0]["text"], UUID);
    assert_eq!(rewrite_references(&mut v, |_| None), 0);
}

#[test]
fn rewrites_urn_uuids_in_uris_and_narrative() {
    let mut v = json!({
        "text": {"status": "generated", "div": format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"{UUID}\">p</a> <img src='{UUID2}'/> {UUID} <a href=\"{UUID}x\">no</a></div>"
        )},
        "url": UUID,
        "source": {"uri": UUID2},
        "subject": {"reference": UUID},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"}],
        "other": format!("{UUID} "),
        "unknown": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000009",
    });
    let map = BTreeMap::from([
        (UUID.to_string(), "Patient/p".to_string()),
        (UUID2.to_string(), "Practitioner/q".to_string()),
        ("urn:oid:1.2.3".to_string(), "Organization/o".to_string()),
    ]);
    assert_eq!(rewrite_uris(&mut v, &map), 5);
    assert_eq!(v["url"], "Patient/p");
    assert_eq!(v["source"]["uri"], "Practitioner/q");
    assert_eq!(v["subject"]["reference"], "Patient/p");
    // urn:oid values name identifier systems as often as entries: left alone.
    assert_eq!(v["identifier"][0]["value"], "urn:oid:1.2.3");
    assert_eq!(v["other"], format!("{UUID} "));
    assert_eq!(v["unknown"], "urn:uuid:0e0e0e0e-0000-4000-8000-000000000009");
    assert_eq!(
        v["text"]["div"],
        format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"Patient/p\">p</a> <img src='Practitioner/q'/> {UUID} <a href=\"{UUID}x\">no</a></div>"
        )
    );
    assert_eq!(rewrite_uris(&mut v, &map), 0);
}

#[test]
fn narrative_edge_cases_do_not_panic() {
    let map = BTreeMap::from([(UUID.to_string(), "Patient/p".to_string())]);
    for div in [
        "urn:uuid:".to_string(),
        format!("\"{UUID}"),
        format!("'{UUID}\""),
        format!("\u{e9}\"{UUID}\"\u{e9}"),
        format!("\"{UUID}\"\"{UUID}\""),
        "\"urn:uuid:\"".to_string(),
    ] {
        let mut v = json!({"text": {"div": div.clone()}});
        let n = rewrite_uris(&mut v, &map);
        let out = v["text"]["div"].as_str().unwrap().to_string();
        assert_eq!(n, out.matches("Patient/p").count(), "{div}");
        assert_eq!(out.replace("Patient/p", UUID), div);
    }
}

#[test]
fn deep_nesting_does_not_exhaust_the_stack() {
    let mut v = json!({"reference": UUID});
    for _ in 0..50_000 {
        // Not json!, which would serialise `v` again, recursively, at every level.
        let mut o = serde_json::Map::new();
        o.insert("x".into(), v);
        v = Value::Array(vec![Value::Object(o)]);
    }
    let mut seen = Vec::new();
    visit_references(&v, |p, r| seen.push((p.len(), r.to_string())));
    assert_eq!(seen, [("/0/x".len() * 50_000 + "/reference".len(), UUID.to_string())]);
    let map = BTreeMap::from([(UUID.to_string(), "Patient/p".to_string())]);
    assert_eq!(rewrite_uris(&mut v, &map), 1);
    assert_eq!(rewrite_references(&mut v, |_| Some("Patient/q".into())), 1);
    // Dropping a deep Value recurses in serde_json; take it apart level by level.
    loop {
        v = match v {
            Value::Array(mut a) => match a.pop() {
                Some(Value::Object(mut o)) => o.remove("x").unwrap_or(Value::Null),
                _ => break,
            },
            Value::Object(o) => {
                assert_eq!(o.get("reference").and_then(Value::as_str), Some("Patient/q"));
                break;
            }
            _ => break,
        };
    }
}

#[test]
fn identifiers_from_a_list_or_a_single_identifier() {
    assert_eq!(
        identifiers(&json!({"identifier": [
            {"system": "s", "value": "v"}, {"value": "w"}, {"system": "s"}, {"value": ""},
            {"system": 3, "value": "x"}, {"value": 4}, "junk"
        ]})),
        vec![(Some("s".into()), "v".into()), (None, "w".into()), (None, "x".into())]
    );
    assert_eq!(
        identifiers(&json!({"identifier": {"system": "s", "value": "v"}})),
        vec![(Some("s".into()), "v".into())]
    );
    assert!(identifiers(&json!({"identifier": "v"})).is_empty());
    assert!(identifiers(&json!({"id": "x"})).is_empty());
    assert!(identifiers(&json!([1, 2])).is_empty());
    // Only the top level counts.
    assert!(identifiers(&json!({"contained": [{"identifier": [{"value": "v"}]}]})).is_empty());
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        if let Ok(RefKind::Local { resource_type, id, version }) = classify(&s) {
            prop_assert!(valid_type(resource_type) && valid_id(id));
            prop_assert!(version.is_none_or(valid_id));
        }
    }

    #[test]
    fn reference_like_text_never_panics(s in "[A-Za-z0-9#?:/._\\-|=~]{0,60}") {
        let _ = classify(&s);
        let mut v = json!({"a": {"reference": s.clone()}, "text": {"div": format!("\"{s}\"")}, "u": s.clone()});
        let map = BTreeMap::from([(s.clone(), "X/1".to_string())]);
        let _ = rewrite_uris(&mut v, &map);
    }

    #[test]
    fn valid_local_references_round_trip(t in "[A-Z][a-zA-Z]{0,20}", id in "[A-Za-z0-9.\\-]{1,64}", v in prop::option::of("[0-9]{1,5}")) {
        let r = match &v {
            Some(v) => format!("{t}/{id}/_history/{v}"),
            None => format!("{t}/{id}"),
        };
        prop_assert_eq!(
            classify(&r),
            Ok(RefKind::Local { resource_type: &t, id: &id, version: v.as_deref() })
        );
    }
}
