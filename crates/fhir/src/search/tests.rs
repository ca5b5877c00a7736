use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::SUPPORTED_TYPES;

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn q(t: &str, params: &[(&str, &str)]) -> Result<SearchQuery, SearchError> {
    SearchQuery::parse(t, &pairs(params))
}

fn hit(t: &str, params: &[(&str, &str)], r: &Value) -> bool {
    q(t, params).unwrap_or_else(|e| panic!("{params:?}: {e}")).matches(r)
}

/// Decodes a query string as a server would (percent-decoding; `+` is not used).
fn decode(query: &str) -> Vec<(String, String)> {
    let unpercent = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    if query.is_empty() {
        return Vec::new();
    }
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (unpercent(k), unpercent(v))
        })
        .collect()
}

fn obs() -> Value {
    json!({
        "resourceType": "Observation", "id": "o1",
        "meta": {"lastUpdated": "2024-05-01T10:00:00.000Z"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}, {"code": "local-hr"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-05T10:00:00Z",
        "identifier": [{"system": "urn:x", "value": "42"}, {"value": "a,b|c"}]
    })
}

#[test]
fn every_served_type_has_its_parameters() {
    let expected: [(&str, &[&str]); 15] = [
        ("Patient", &["_id", "_lastUpdated", "identifier"]),
        ("Practitioner", &["_id", "_lastUpdated", "identifier"]),
        ("Organization", &["_id", "_lastUpdated", "identifier"]),
        (
            "Encounter",
            &["_id", "_lastUpdated", "identifier", "patient", "subject", "date"],
        ),
        (
            "Observation",
            &[
                "_id",
                "_lastUpdated",
                "identifier",
                "patient",
                "subject",
                "code",
                "date",
            ],
        ),
        (
            "Condition",
            &[
                "_id",
                "_lastUpdated",
                "identifier",
                "patient",
                "subject",
                "code",
                "date",
            ],
        ),
        (
            "AllergyIntolerance",
            &["_id", "_lastUpdated", "identifier", "patient", "code", "date"],
        ),
        (
            "MedicationRequest",
            &["_id", "_lastUpdated", "identifier", "patient", "subject", "code"],
        ),
        (
            "Immunization",
            &["_id", "_lastUpdated", "identifier", "patient", "code", "date"],
        ),
        (
            "DiagnosticReport",
            &[
                "_id",
                "_lastUpdated",
                "identifier",
                "patient",
                "subject",
                "code",
                "date",
            ],
        ),
        (
            "Procedure",
            &[
                "_id",
                "_lastUpdated",
                "identifier",
                "patient",
                "subject",
                "code",
                "date",
            ],
        ),
        (
            "DocumentReference",
            &["_id", "_lastUpdated", "identifier", "patient", "subject", "date"],
        ),
        ("Consent", &["_id", "_lastUpdated", "identifier", "patient", "date"]),
        ("AuditEvent", &["_id", "_lastUpdated", "patient", "date"]),
        ("Provenance", &["_id", "_lastUpdated", "patient", "date"]),
    ];
    assert_eq!(expected.map(|(t, _)| t), SUPPORTED_TYPES);
    for (t, params) in expected {
        assert_eq!(SearchQuery::supported_params(t), params, "{t}");
        for p in params {
            let value = match *p {
                "_lastUpdated" | "date" => "2024",
                _ => "x1",
            };
            assert!(q(t, &[(p, value)]).is_ok(), "{t}?{p}");
        }
    }
    assert!(SearchQuery::supported_params("Specimen").is_empty());
    assert_eq!(q("Specimen", &[]), Err(SearchError::UnknownType));
    assert_eq!(q("observation", &[]), Err(SearchError::UnknownType));
}

/// One resource of each type that has a Patient compartment, owned by `Patient/p1`.
fn owned(t: &str) -> Value {
    let r = json!({"reference": "Patient/p1"});
    let mut v = match t {
        "AllergyIntolerance" | "Immunization" | "Consent" => json!({"patient": r}),
        "Provenance" => json!({"target": [{"reference": "Encounter/e"}, r]}),
        "AuditEvent" => json!({"entity": [{"what": r}]}),
        _ => json!({"subject": r}),
    };
    v["resourceType"] = json!(t);
    v
}

#[test]
fn patient_and_subject_find_the_compartment_owner() {
    for t in SUPPORTED_TYPES {
        let params = SearchQuery::supported_params(t);
        if !params.contains(&"patient") {
            continue;
        }
        let r = owned(t);
        assert!(hit(t, &[("patient", "Patient/p1")], &r), "{t}");
        assert!(hit(t, &[("patient", "p1")], &r), "{t}");
        assert!(!hit(t, &[("patient", "p2")], &r), "{t}");
        if params.contains(&"subject") {
            assert!(hit(t, &[("subject", "Patient/p1")], &r), "{t}");
            assert!(hit(t, &[("subject", "p1"), ("patient", "Patient/p1")], &r), "{t}");
        }
    }
    let unresolved = json!({"resourceType": "Observation", "subject": {"reference": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000001"}});
    assert!(!hit("Observation", &[("patient", "p1")], &unresolved));
}

#[test]
fn ids_and_resource_types() {
    let o = obs();
    assert!(hit("Observation", &[("_id", "x,o1")], &o));
    assert!(hit("Observation", &[("_id", "o1")], &o));
    assert!(!hit("Observation", &[("_id", "o2,o3")], &o));
    assert!(!hit(
        "Observation",
        &[("_id", "o1")],
        &json!({"resourceType": "Observation"})
    ));
    // A resource of another type never matches.
    assert!(!hit("Condition", &[], &o));
    assert!(hit("Observation", &[], &o));
    assert!(!hit("Observation", &[], &json!(["Observation"])));
}

#[test]
fn codes_match_any_coding_of_the_type_s_element() {
    let o = obs();
    let table = [
        ("http://loinc.org|8867-4", true),
        ("8867-4", true),
        ("local-hr", true),
        ("|local-hr", true),
        ("|8867-4", false),
        ("http://loinc.org|", true),
        ("http://snomed.info/sct|", false),
        ("http://loinc.org|local-hr", false),
        ("http://loinc.org|8867", false),
        ("x,y,8867-4", true),
        ("x,y", false),
    ];
    for (value, expected) in table {
        assert_eq!(hit("Observation", &[("code", value)], &o), expected, "code={value}");
    }
    let elements = [
        ("Condition", "code"),
        ("AllergyIntolerance", "code"),
        ("MedicationRequest", "medicationCodeableConcept"),
        ("Immunization", "vaccineCode"),
        ("DiagnosticReport", "code"),
        ("Procedure", "code"),
    ];
    for (t, element) in elements {
        let mut r = json!({"resourceType": t});
        r[element] = json!({"coding": [{"system": "s", "code": "c"}]});
        assert!(hit(t, &[("code", "s|c")], &r), "{t}");
        assert!(!hit(t, &[("code", "s|d")], &r), "{t}");
        let mut elsewhere = json!({"resourceType": t, "category": {"coding": [{"system": "s", "code": "c"}]}});
        if element != "code" {
            elsewhere["code"] = json!({"coding": [{"system": "s", "code": "c"}]});
        }
        assert!(!hit(t, &[("code", "s|c")], &elsewhere), "{t}");
    }
    assert!(!hit(
        "Observation",
        &[("code", "c")],
        &json!({"resourceType": "Observation", "code": {"text": "c"}})
    ));
    assert!(!hit(
        "Observation",
        &[("code", "c")],
        &json!({"resourceType": "Observation", "code": {"coding": "c"}})
    ));
}

#[test]
fn identifiers_match_as_tokens() {
    let o = obs();
    let table = [
        ("urn:x|42", true),
        ("42", true),
        ("urn:y|42", false),
        ("urn:x|", true),
        ("|42", false),
        (r"|a\,b\|c", true),
        (r"a\,b\|c", true),
        ("a", false),
        ("nope,urn:x|42", true),
    ];
    for (value, expected) in table {
        assert_eq!(
            hit("Observation", &[("identifier", value)], &o),
            expected,
            "identifier={value}"
        );
    }
    let single = json!({"resourceType": "Patient", "identifier": {"system": "s", "value": "v"}});
    assert!(hit("Patient", &[("identifier", "s|v")], &single));
    let doc = json!({"resourceType": "DocumentReference", "masterIdentifier": {"system": "m", "value": "1"}});
    assert!(hit("DocumentReference", &[("identifier", "m|1")], &doc));
    assert!(!hit(
        "Encounter",
        &[("identifier", "m|1")],
        &json!({"resourceType": "Encounter", "masterIdentifier": {"system": "m", "value": "1"}})
    ));
}

#[test]
fn last_updated_is_anded() {
    let o = obs();
    assert!(hit(
        "Observation",
        &[("_lastUpdated", "ge2024-05-01"), ("_lastUpdated", "lt2024-05-02")],
        &o
    ));
    assert!(!hit(
        "Observation",
        &[
            ("_lastUpdated", "ge2024-05-01"),
            ("_lastUpdated", "lt2024-05-01T10:00:00Z")
        ],
        &o
    ));
    assert!(hit("Observation", &[("_lastUpdated", "2024-05")], &o));
    assert!(!hit("Observation", &[("_lastUpdated", "gt2024-05")], &o));
    let never = json!({"resourceType": "Observation"});
    assert!(!hit("Observation", &[("_lastUpdated", "ne2020")], &never));
    let bad = json!({"resourceType": "Observation", "meta": {"lastUpdated": "yesterday"}});
    assert!(!hit("Observation", &[("_lastUpdated", "ne2020")], &bad));
}

#[test]
fn each_type_s_date_element() {
    let elements: [(&str, &str, Value); 15] = [
        ("Observation", "effectiveDateTime", json!("2024-03-05T10:00:00Z")),
        ("Observation", "effectiveInstant", json!("2024-03-05T10:00:00.000Z")),
        (
            "Observation",
            "effectivePeriod",
            json!({"start": "2024-03-05T10:00:00Z", "end": "2024-03-05T11:00:00Z"}),
        ),
        (
            "Encounter",
            "period",
            json!({"start": "2024-03-05T10:00:00Z", "end": "2024-03-05T11:00:00Z"}),
        ),
        ("Immunization", "occurrenceDateTime", json!("2024-03-05")),
        (
            "DiagnosticReport",
            "effectiveDateTime",
            json!("2024-03-05T10:00:00+01:00"),
        ),
        ("DiagnosticReport", "effectivePeriod", json!({"start": "2024-03-05"})),
        ("Procedure", "performedDateTime", json!("2024-03-05T23:00:00-00:30")),
        (
            "Procedure",
            "performedPeriod",
            json!({"start": "2024-03-05T01:00:00Z", "end": "2024-03-05T02:00:00Z"}),
        ),
        ("AllergyIntolerance", "recordedDate", json!("2024-03-05")),
        ("Condition", "recordedDate", json!("2024-03-05T08:00:00Z")),
        ("DocumentReference", "date", json!("2024-03-05T10:00:00.123Z")),
        ("Consent", "dateTime", json!("2024-03-05T10:00:00Z")),
        ("AuditEvent", "recorded", json!("2024-03-05T10:00:00.5Z")),
        ("Provenance", "recorded", json!("2024-03-05T10:00:00Z")),
    ];
    for (t, element, value) in elements {
        let mut r = json!({"resourceType": t});
        r[element] = value;
        let open = element.ends_with("Period") && r[element].get("end").is_none();
        assert!(hit(t, &[("date", "ge2024-03-05")], &r), "{t}.{element}");
        assert!(hit(t, &[("date", "lt2024-03-06")], &r), "{t}.{element}");
        assert!(!hit(t, &[("date", "lt2024-03-05")], &r), "{t}.{element}");
        assert_eq!(hit(t, &[("date", "2024-03-05")], &r), !open, "{t}.{element}");
        assert_eq!(hit(t, &[("date", "gt2024-03-05")], &r), open, "{t}.{element}");
        assert!(!hit(t, &[("date", "2024-03-04")], &r), "{t}.{element}");
        // Without the element, no date parameter matches, not even `ne`.
        assert!(!hit(t, &[("date", "ne1900")], &json!({"resourceType": t})), "{t}");
    }
    // Forms of a choice type that are not indexed.
    let timing = json!({"resourceType": "Observation", "effectiveTiming": {"event": ["2024-03-05"]}});
    assert!(!hit("Observation", &[("date", "2024")], &timing));
    let text = json!({"resourceType": "Immunization", "occurrenceString": "spring 2024"});
    assert!(!hit("Immunization", &[("date", "2024")], &text));
}

#[test]
fn periods_are_half_open_ranges_with_open_ends() {
    let enc = |period: Value| json!({"resourceType": "Encounter", "period": period});
    let open_end = enc(json!({"start": "2024-01-01"}));
    assert!(hit("Encounter", &[("date", "ge2025-01-01")], &open_end));
    assert!(hit("Encounter", &[("date", "sa2023")], &open_end));
    assert!(!hit("Encounter", &[("date", "lt2024")], &open_end));
    let open_start = enc(json!({"end": "2024-01-01"}));
    assert!(hit("Encounter", &[("date", "lt1900")], &open_start));
    assert!(hit("Encounter", &[("date", "eb2024-01-02")], &open_start));
    assert!(!hit("Encounter", &[("date", "eb2024-01-01")], &open_start));
    let day = enc(json!({"start": "2024-01-01", "end": "2024-01-01"}));
    assert!(hit("Encounter", &[("date", "2024-01-01")], &day));
    // Not a value: no bounds, an end before the start, an unparseable bound.
    for bad in [
        json!({}),
        json!({"start": "2024-02-01", "end": "2024-01-01"}),
        json!({"start": "soon"}),
        json!({"start": "2024", "end": 2025}),
        json!("2024"),
    ] {
        assert!(!hit("Encounter", &[("date", "ne1900")], &enc(bad.clone())), "{bad}");
    }
    let two = [("date", "ge2024-03-01"), ("date", "lt2024-04-01")];
    assert!(hit(
        "Encounter",
        &two,
        &enc(json!({"start": "2024-03-05", "end": "2024-03-06"}))
    ));
    assert!(!hit(
        "Encounter",
        &two,
        &enc(json!({"start": "2024-05-01", "end": "2024-05-02"}))
    ));
    assert!(!hit(
        "Encounter",
        &two,
        &enc(json!({"start": "2024-01-01", "end": "2024-02-01"}))
    ));
}

#[test]
fn result_parameters() {
    let p = q(
        "Observation",
        &[
            ("_count", "10"),
            ("_offset", "20"),
            ("_format", "json"),
            ("_pretty", "true"),
        ],
    )
    .unwrap();
    assert_eq!((p.count, p.offset), (Some(10), 20));
    assert_eq!(q("Observation", &[("_count", "0")]).unwrap().count, Some(0));
    assert_eq!(q("Observation", &[("_count", "1000")]).unwrap().count, Some(1000));
    assert_eq!(q("Observation", &[]).unwrap().count, None);
    // _format and _pretty are ignored whatever they say.
    assert!(q("Patient", &[("_format", ""), ("_pretty", &"x".repeat(5000))]).is_ok());
    // Paging does not filter.
    assert!(p.matches(&obs()));
}

fn invalid_param(r: Result<SearchQuery, SearchError>) -> &'static str {
    match r {
        Err(SearchError::Invalid { param, .. }) => param,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn bad_values_are_refused_naming_the_parameter() {
    let long = "x".repeat(MAX_VALUE_LEN + 1);
    let many = vec!["a"; MAX_ALTERNATIVES + 1].join(",");
    let table: [(&str, &str); 30] = [
        ("_count", "1001"),
        ("_count", "-1"),
        ("_count", "+5"),
        ("_count", " 5"),
        ("_count", "5.0"),
        ("_count", "99999999999999999999"),
        ("_offset", "1000000001"),
        ("_offset", "-3"),
        ("_id", "a b"),
        ("_id", "a,,b"),
        ("_id", "a,"),
        ("_id", &many),
        ("patient", "Group/g"),
        ("patient", "Patient/"),
        ("patient", "Patient/a/b"),
        ("subject", "p1,p2"),
        ("date", "yesterday"),
        ("date", "2024,2025"),
        ("date", "xx2024"),
        ("_lastUpdated", "2024-02-30"),
        ("code", "a|b|c"),
        ("code", "|"),
        ("code", r"a\b"),
        ("code", "a\\"),
        ("code", &many),
        ("identifier", ","),
        ("identifier", "s||"),
        ("code", ""),
        ("identifier", &long),
        ("date", ""),
    ];
    for (param, value) in table {
        assert_eq!(
            invalid_param(q("Observation", &[(param, value)])),
            param,
            "{param}={value:.40}"
        );
    }
}

#[test]
fn repeats_are_refused_where_they_would_be_lost() {
    for (a, b) in [
        (("code", "a"), ("code", "b")),
        (("identifier", "a"), ("identifier", "b")),
        (("_id", "a"), ("_id", "b")),
        (("_count", "1"), ("_count", "2")),
        (("_offset", "1"), ("_offset", "2")),
        (("patient", "p1"), ("subject", "p2")),
        (("patient", "p1"), ("patient", "Patient/p2")),
    ] {
        assert_eq!(invalid_param(q("Observation", &[a, b])), b.0, "{a:?} {b:?}");
    }
    assert!(q("Observation", &[("patient", "p1"), ("subject", "Patient/p1")]).is_ok());
    assert!(q("Observation", &[("date", "ge2024"), ("date", "le2025")]).is_ok());
}

#[test]
fn unknown_and_inapplicable_parameters_are_unsupported() {
    let table = [
        ("Observation", "name"),
        ("Observation", "code:text"),
        ("Observation", "date:missing"),
        ("Observation", "subject.name"),
        ("Observation", "_sort"),
        ("Observation", "_include"),
        ("Observation", "_summary"),
        ("Observation", "Code"),
        ("Observation", ""),
        ("Patient", "patient"),
        ("Patient", "code"),
        ("Patient", "date"),
        ("Immunization", "subject"),
        ("Consent", "subject"),
        ("Encounter", "code"),
        ("DocumentReference", "code"),
        ("MedicationRequest", "date"),
        ("AuditEvent", "identifier"),
        ("Provenance", "identifier"),
        ("Organization", "patient"),
    ];
    for (t, param) in table {
        match q(t, &[(param, "x")]) {
            Err(SearchError::Unsupported {
                param: p,
                resource_type,
                supported,
            }) => {
                assert_eq!(p, param);
                assert_eq!(resource_type, t);
                assert_eq!(supported, SearchQuery::supported_params(t).join(", "));
            }
            other => panic!("{t}?{param}: {other:?}"),
        }
    }
    let msg = q("Patient", &[("code", "x")]).unwrap_err().to_string();
    assert!(
        msg.contains("\"code\"") && msg.contains("Patient") && msg.contains("_id, _lastUpdated, identifier"),
        "{msg}"
    );
    let long = "n".repeat(500);
    match q("Patient", &[(&long, "x")]) {
        Err(SearchError::Unsupported { param, .. }) => assert_eq!(param.len(), SHOWN),
        other => panic!("{other:?}"),
    }
    let too_many: Vec<(String, String)> = (0..=MAX_PARAMS).map(|_| ("date".into(), "2024".into())).collect();
    assert_eq!(SearchQuery::parse("Observation", &too_many), Err(SearchError::TooMany));
}

#[test]
fn errors_never_echo_values() {
    let secret = "Jane-Doe-1970";
    for (param, value) in [
        ("patient", format!("Group/{secret}")),
        ("_id", format!("{secret} x")),
        ("date", format!("ge{secret}")),
        ("code", format!("{secret}|a|b")),
        ("identifier", format!("{secret}\\x")),
        ("_count", secret.to_string()),
    ] {
        let msg = q("Observation", &[(param, &value)]).unwrap_err().to_string();
        assert!(!msg.contains("Jane"), "{param}: {msg}");
    }
}

#[test]
fn self_query_is_canonical() {
    let s = q(
        "Observation",
        &[
            ("_count", "10"),
            ("code", r"http://loinc.org|8867-4,|a\,b"),
            ("date", "ge2024-01-01T10:00:00+01:00"),
            ("subject", "Patient/p1"),
            ("_lastUpdated", "lt2025"),
            ("_id", "o1,o2"),
            ("identifier", "urn:x|42 43&x=y"),
            ("_format", "json"),
            ("_offset", "20"),
        ],
    )
    .unwrap();
    assert_eq!(
        s.self_query(),
        "_id=o1,o2&patient=p1&_lastUpdated=lt2025&date=ge2024-01-01T09:00:00Z\
         &code=http://loinc.org%7C8867-4,%7Ca%5C,b&identifier=urn:x%7C42%2043%26x%3Dy&_count=10&_offset=20"
    );
    assert_eq!(
        s.self_query_with_offset(30),
        s.self_query().replace("_offset=20", "_offset=30")
    );
    assert!(!s.self_query_with_offset(0).contains("_offset"));
    assert_eq!(q("Patient", &[]).unwrap().self_query(), "");
}

#[test]
fn self_query_round_trips() {
    let queries: [(&str, &[(&str, &str)]); 5] = [
        (
            "Observation",
            &[
                ("patient", "p1"),
                ("code", "http://loinc.org|8867-4"),
                ("date", "ge2024-01-01"),
                ("_count", "10"),
                ("_offset", "5"),
            ],
        ),
        (
            "Observation",
            &[
                ("identifier", r"s\|x|v\$1\\,|w"),
                ("date", "ap2024-03-05T10:00:00.5-03:00"),
                ("date", "ne2024"),
            ],
        ),
        (
            "Patient",
            &[
                ("_id", "a,b.c,D-1"),
                ("_lastUpdated", "sa2024-02-29T23:59:60Z"),
                ("identifier", "sys|"),
            ],
        ),
        ("Encounter", &[("subject", "Patient/x"), ("_count", "0")]),
        ("Immunization", &[("code", "\u{e9}t\u{e9}|caf\u{e9} &=+%")]),
    ];
    for (t, params) in queries {
        let s = q(t, params).unwrap();
        let again = SearchQuery::parse(t, &decode(&s.self_query())).unwrap();
        assert_eq!(again, s, "{t} {params:?}");
        assert_eq!(again.self_query(), s.self_query());
    }
}

proptest! {
    #[test]
    fn arbitrary_pairs_never_panic_and_round_trip(
        raw in prop::collection::vec(
            (
                prop::sample::select(vec!["_id", "patient", "subject", "code", "identifier", "date",
                    "_lastUpdated", "_count", "_offset", "_format", "x"]),
                "[a-z0-9|,\\\\$:/.\\- %&=]{0,24}|(ge|le|ne|ap)?20[0-9]{2}(-0[1-9](-[12][0-9])?)?",
            ),
            0..6,
        ),
        t in prop::sample::select(SUPPORTED_TYPES.to_vec()),
    ) {
        let params: Vec<(String, String)> = raw.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        if let Ok(s) = SearchQuery::parse(t, &params) {
            let again = SearchQuery::parse(t, &decode(&s.self_query()));
            prop_assert_eq!(again.as_ref(), Ok(&s));
            let _ = s.matches(&obs());
            let _ = s.matches(&owned(t));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(name in "\\PC{0,12}", value in "\\PC{0,40}") {
        for t in SUPPORTED_TYPES {
            let _ = SearchQuery::parse(t, &[(name.clone(), value.clone())]);
        }
    }
}
