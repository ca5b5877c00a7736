use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::index::extract;

fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn parse(t: &str, query: &str) -> Result<SearchQuery, SearchError> {
    SearchQuery::parse(t, &pairs(query))
}

/// Whether `resource` matches `query` on its own type.
fn m(resource: &Value, query: &str) -> bool {
    let t = resource["resourceType"].as_str().unwrap();
    let q = parse(t, query).unwrap_or_else(|e| panic!("{query}: {e}"));
    q.matches(&extract(resource))
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "o1",
        "meta": {"lastUpdated": "2024-03-01T10:00:00Z", "tag": [{"system": "urn:t", "code": "x"}]},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}], "text": "Pulse"},
        "subject": {"reference": "Patient/p1"},
        "performer": [{"reference": "Practitioner/dr1"}],
        "effectiveDateTime": "2024-02-28T09:30:00Z",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                       "valueQuantity": {"value": 120.5, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]
    })
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:mrn", "value": "MRN-1", "type": {"text": "Medical record number"}}],
        "name": [{"family": "Müller", "given": ["Zoë", "Anna"]}],
        "telecom": [{"system": "email", "value": "z@example.org"}, {"system": "phone", "value": "555"}],
        "gender": "female",
        "birthDate": "1980-05-17",
        "address": [{"city": "Zürich", "postalCode": "8001"}],
        "deceasedDateTime": "2024-01-01",
        "managingOrganization": {"reference": "Organization/org1"},
        "generalPractitioner": [{"identifier": {"system": "urn:npi", "value": "123"}}]
    })
}

#[test]
fn token_parameters() {
    let o = observation();
    let table = [
        ("code=8867-4", true),
        ("code=http://loinc.org|8867-4", true),
        ("code=http://loinc.org|", true),
        ("code=|8867-4", false),
        ("code=http://snomed.info/sct|8867-4", false),
        ("code=1,8867-4", true),
        ("code=1&code=8867-4", false),
        ("code:not=1", true),
        ("code:not=8867-4", false),
        ("code:text=puls", true),
        ("code:text=heart", true),
        ("code:text=blood", false),
        ("status=final", true),
        ("status=preliminary", false),
        ("_id=o1", true),
        ("_id=o2,o1", true),
        ("_id=o2", false),
        ("_tag=urn:t|x", true),
        ("_tag=urn:t|y", false),
        ("component-code=8480-6", true),
        ("combo-code=8480-6", true),
        ("code:missing=false", true),
        ("code:missing=true", false),
        ("data-absent-reason:missing=true", true),
    ];
    for (q, expected) in table {
        assert_eq!(m(&o, q), expected, "{q}");
    }
    let p = patient();
    for (q, expected) in [
        ("identifier=urn:mrn|MRN-1", true),
        ("identifier=MRN-1", true),
        ("identifier=urn:other|MRN-1", false),
        ("identifier:text=medical", true),
        ("email=z@example.org", true),
        ("email=555", false),
        ("phone=555", true),
        ("gender=female", true),
        ("deceased=true", true),
        ("deceased=false", false),
    ] {
        assert_eq!(m(&p, q), expected, "{q}");
    }
    let alive = json!({"resourceType": "Patient", "id": "p2", "deceasedBoolean": false});
    assert!(m(&alive, "deceased=false"));
    assert!(!m(&alive, "deceased=true"));
}

#[test]
fn reference_parameters() {
    let o = observation();
    for (q, expected) in [
        ("subject=Patient/p1", true),
        ("subject=p1", true),
        ("subject:Patient=p1", true),
        ("patient=p1", true),
        ("patient=Patient/p1", true),
        ("patient=p2", false),
        ("subject=Group/p1", false),
        ("performer=Practitioner/dr1", true),
        ("performer=dr1", true),
        ("performer:Practitioner=dr1", true),
        ("performer:Organization=dr1", false),
        ("encounter:missing=true", true),
        ("subject:missing=false", true),
    ] {
        assert_eq!(m(&o, q), expected, "{q}");
    }
    let p = patient();
    assert!(m(&p, "general-practitioner:identifier=urn:npi|123"));
    assert!(!m(&p, "general-practitioner:identifier=urn:npi|124"));
    assert!(m(&p, "organization=Organization/org1"));
    // A type the parameter cannot point at is refused, not ignored.
    assert!(parse("Observation", "subject=Medication/x").is_err());
    assert!(parse("Observation", "subject:Medication=x").is_err());
    assert!(parse("Observation", "subject=Patient/not valid").is_err());
}

#[test]
fn date_parameters_with_prefixes() {
    let o = observation();
    for (q, expected) in [
        ("date=2024-02-28", true),
        ("date=2024-02", true),
        ("date=2024", true),
        ("date=2024-02-27", false),
        ("date=ge2024-02-28", true),
        ("date=gt2024-02-28", false),
        ("date=lt2024-03-01", true),
        ("date=le2024-02-27", false),
        ("date=ne2024-02-27", true),
        ("date=sa2024-02-27", true),
        ("date=eb2024-02-27", false),
        ("date=ap2024-02-29", true),
        ("date=ge2024-01-01&date=lt2024-03-01", true),
        ("date=ge2024-03-01&date=lt2024-04-01", false),
        ("_lastUpdated=2024-03-01", true),
        ("_lastUpdated=gt2024-03-02", false),
    ] {
        assert_eq!(m(&o, q), expected, "{q}");
    }
    let p = patient();
    assert!(m(&p, "birthdate=1980-05-17"));
    assert!(m(&p, "birthdate=lt1990"));
    assert!(!m(&p, "birthdate=gt1990"));
    assert!(m(&p, "death-date=2024"));
    // A Period: open at the end.
    let e = json!({"resourceType": "Encounter", "id": "e", "status": "in-progress", "class": {"code": "AMB"},
                   "period": {"start": "2024-01-10T08:00:00Z"}});
    assert!(m(&e, "date=gt2025-01-01"));
    assert!(!m(&e, "date=lt2024-01-01"));
    assert!(parse("Observation", "date=xx2024").is_err());
    assert!(parse("Observation", "date=2024-13-01").is_err());
}

#[test]
fn string_parameters_with_exact_and_contains() {
    let p = patient();
    for (q, expected) in [
        ("family=mul", true),
        ("family=MÜLLER", true),
        ("family=ller", false),
        ("family:contains=ller", true),
        ("family:exact=Müller", true),
        ("family:exact=muller", false),
        ("given=zo", true),
        ("given=anna", true),
        ("name=anna", true),
        ("name=smith", false),
        ("address-city=zur", true),
        ("address=8001", true),
        ("address-postalcode:exact=8001", true),
    ] {
        assert_eq!(m(&p, q), expected, "{q}");
    }
}

#[test]
fn quantity_and_number_parameters() {
    let o = observation();
    for (q, expected) in [
        ("value-quantity=72", true),
        ("value-quantity=72.4", false),
        ("value-quantity=72||/min", true),
        ("value-quantity=72||beats/minute", true),
        ("value-quantity=72|http://unitsofmeasure.org|/min", true),
        ("value-quantity=72|http://unitsofmeasure.org|mm[Hg]", false),
        ("value-quantity=gt70", true),
        ("value-quantity=lt70", false),
        ("value-quantity=ge72", true),
        ("value-quantity=le71.9", false),
        ("value-quantity=ap75", true),
        ("value-quantity=ap90", false),
        ("value-quantity=ne72", false),
        ("component-value-quantity=120.5", true),
        ("component-value-quantity=gt200", false),
    ] {
        assert_eq!(m(&o, q), expected, "{q}");
    }
    // Precision: 100 is [99.5, 100.5).
    let risk = json!({"resourceType": "RiskAssessment", "id": "r", "status": "final",
                      "subject": {"reference": "Patient/p1"}, "prediction": [{"probabilityDecimal": 0.8}]});
    assert!(m(&risk, "probability=0.8"));
    assert!(m(&risk, "probability=1"));
    assert!(!m(&risk, "probability=0.80001"));
    assert!(m(&risk, "probability=gt0.5"));
    assert!(parse("RiskAssessment", "probability=abc").is_err());
    assert!(parse("RiskAssessment", "probability=1e999").is_err());
}

#[test]
fn uri_parameters_with_below_and_above() {
    let vs = json!({"resourceType": "ValueSet", "id": "v", "status": "active",
                    "url": "http://example.org/fhir/ValueSet/a"});
    assert!(m(&vs, "url=http://example.org/fhir/ValueSet/a"));
    assert!(!m(&vs, "url=http://example.org/fhir"));
    assert!(m(&vs, "url:below=http://example.org/fhir"));
    assert!(m(&vs, "url:above=http://example.org/fhir/ValueSet/a/b"));
    assert!(!m(&vs, "url:above=http://other.org/"));
}

#[test]
fn chains_are_parsed_for_the_server_to_resolve() {
    let mut q = parse("Observation", "subject:Patient.identifier=urn:mrn|MRN-1").unwrap();
    let chain = q.clauses[0].chain.clone().unwrap();
    assert_eq!(chain.target_types, ["Patient"]);
    assert_eq!(chain.clause.param, "identifier");
    // Unresolved, it matches nothing.
    assert!(!q.matches(&extract(&observation())));
    for c in q.chains_mut() {
        c.resolve_chain(vec![("Patient".into(), "p1".into())]);
    }
    assert!(q.matches(&extract(&observation())));
    // Without a type: every target type that has the parameter.
    let q = parse("Observation", "subject.name=mul").unwrap();
    let chain = q.clauses[0].chain.as_ref().unwrap();
    assert!(chain.target_types.contains(&"Patient"));
    assert!(!chain.target_types.contains(&"Device"));
    assert!(parse("Observation", "subject.name.family=x").is_err());
    assert!(parse("Observation", "code.name=x").is_err());
    assert!(parse("Observation", "subject:Patient.nonsense=x").is_err());
}

#[test]
fn result_parameters() {
    let q = parse(
        "Observation",
        "code=1&_count=10&_offset=20&_sort=-date,code&_include=Observation:subject:Patient&_revinclude=Provenance:target&_elements=code,status&_summary=count&_total=accurate&_format=json",
    )
    .unwrap();
    assert_eq!(q.count, Some(10));
    assert_eq!(q.offset, 20);
    assert_eq!(
        q.sort,
        [
            Sort {
                param: "date",
                descending: true
            },
            Sort {
                param: "code",
                descending: false
            }
        ]
    );
    assert_eq!(q.include[0].target, Some("Patient"));
    assert_eq!(q.revinclude[0].source_type, "Provenance");
    assert_eq!(
        q.elements.as_deref(),
        Some(&["code".to_string(), "status".to_string()][..])
    );
    assert!(q.count_only());
    assert_eq!(q.total, Some(Total::Accurate));
    for bad in [
        "_count=1001",
        "_count=1&_count=2",
        "_sort=nonsense",
        "_include=Patient:link",
        "_include=Observation:code",
        "_include=Observation:subject:Medication",
        "_revinclude=Nothing:x",
        "_summary=maybe",
        "_total=all",
        "_elements=a b",
        "_has=Observation:patient:code=1",
        "_text=x",
        "_content=x",
        "_list=x",
        "code:below=1",
        "date:exact=2024",
        "code=",
        "nonsense=1",
    ] {
        assert!(parse("Observation", bad).is_err(), "{bad}");
    }
}

#[test]
fn sorting_by_a_parameter() {
    let a = extract(
        &json!({"resourceType": "Observation", "id": "a", "status": "final", "code": {"text": "x"},
                           "effectiveDateTime": "2024-01-01"}),
    );
    let b = extract(
        &json!({"resourceType": "Observation", "id": "b", "status": "final", "code": {"text": "x"},
                           "effectiveDateTime": "2023-01-01"}),
    );
    let none = extract(&json!({"resourceType": "Observation", "id": "c", "status": "final", "code": {"text": "x"}}));
    let asc = parse("Observation", "_sort=date").unwrap();
    assert_eq!(asc.compare(&b, &a), Ordering::Less);
    assert_eq!(asc.compare(&none, &a), Ordering::Greater);
    let desc = parse("Observation", "_sort=-date").unwrap();
    assert_eq!(desc.compare(&b, &a), Ordering::Greater);
    assert_eq!(desc.compare(&none, &a), Ordering::Greater);
}

#[test]
fn the_patient_a_query_is_confined_to() {
    let p = |t: &str, q: &str| parse(t, q).unwrap().patient();
    assert_eq!(p("Observation", "patient=p1").as_deref(), Some("p1"));
    assert_eq!(p("Observation", "subject=Patient/p1").as_deref(), Some("p1"));
    assert_eq!(p("Observation", "subject:Patient=p1").as_deref(), Some("p1"));
    assert_eq!(p("Observation", "subject=p1"), None, "subject may name a Group");
    assert_eq!(p("Observation", "patient=p1,p2"), None);
    assert_eq!(p("Patient", "_id=p1").as_deref(), Some("p1"));
    assert_eq!(p("Claim", "patient=p9").as_deref(), Some("p9"));
    assert_eq!(p("Location", "name=x"), None);
}

#[test]
fn the_self_link_keeps_the_query_as_written() {
    let q = parse("Observation", "code=http://loinc.org|8867-4&date=ge2024&_count=5").unwrap();
    assert_eq!(
        q.self_query_with_offset(10),
        "code=http://loinc.org%7C8867-4&date=ge2024&_count=5&_offset=10"
    );
    let again = SearchQuery::parse(
        "Observation",
        &pairs("code=http://loinc.org|8867-4&date=ge2024&_count=5&_offset=10"),
    )
    .unwrap();
    assert_eq!(again.offset, 10);
}

#[test]
fn every_parameter_of_every_type_parses_a_missing_clause() {
    for t in crate::defs::defs().iter() {
        for code in t.params.keys() {
            let q = format!("{code}:missing=true");
            assert!(parse(t.name, &q).is_ok(), "{}.{code}", t.name);
        }
    }
}

proptest! {
    #[test]
    fn hostile_queries_never_panic(name in "[a-z_:.\\-]{0,30}", value in "\\PC{0,60}") {
        let _ = SearchQuery::parse("Observation", &[(name, value)]);
    }

    #[test]
    fn hostile_values_of_real_parameters_never_panic(
        t in prop::sample::select(vec!["Observation", "Patient", "Claim", "Encounter", "RiskAssessment"]),
        value in "[a-zA-Z0-9|,\\\\$:/.\\-+]{0,40}",
    ) {
        let def = crate::defs::defs().get(t).unwrap();
        for code in def.params.keys() {
            if let Ok(q) = SearchQuery::parse(t, &[(code.to_string(), value.clone())]) {
                let _ = q.matches(&Indexed::default());
                let _ = q.self_query();
            }
        }
    }
}
