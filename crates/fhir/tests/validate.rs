//! Validation against the official FHIR R4 schema: conforming resources of every
//! supported type pass; each kind of defect is refused with its location, and no message
//! echoes the resource's data.

use std::sync::OnceLock;

use medledger_fhir::{InvalidResource, Validator, fhir_path, operation_outcome};
use serde_json::{Value, json};

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new().expect("the vendored schema compiles"))
}

fn minimal(ty: &str) -> Value {
    let subject = json!({ "reference": "Patient/p-1" });
    let code = json!({ "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] });
    match ty {
        "Patient" => json!({ "resourceType": ty, "id": "p-1", "gender": "female", "birthDate": "1970-01-01" }),
        "Practitioner" | "Organization" => json!({ "resourceType": ty, "active": true }),
        "Encounter" => {
            json!({ "resourceType": ty, "status": "finished", "class": { "code": "AMB" }, "subject": subject })
        }
        "Observation" => {
            json!({ "resourceType": ty, "status": "final", "code": code, "subject": subject, "effectiveDateTime": "2026-01-02T03:04:05Z", "valueQuantity": { "value": 72, "unit": "/min" } })
        }
        "Condition" => json!({ "resourceType": ty, "subject": subject, "code": code }),
        "AllergyIntolerance" => json!({ "resourceType": ty, "patient": subject, "code": code }),
        "MedicationRequest" => {
            json!({ "resourceType": ty, "status": "active", "intent": "order", "subject": subject, "medicationCodeableConcept": code })
        }
        "Immunization" => {
            json!({ "resourceType": ty, "status": "completed", "vaccineCode": code, "patient": subject, "occurrenceDateTime": "2025-10-01" })
        }
        "DiagnosticReport" => json!({ "resourceType": ty, "status": "final", "code": code, "subject": subject }),
        "Procedure" => json!({ "resourceType": ty, "status": "completed", "subject": subject }),
        "DocumentReference" => {
            json!({ "resourceType": ty, "status": "current", "content": [{ "attachment": { "contentType": "text/plain" } }] })
        }
        "Consent" => json!({ "resourceType": ty, "status": "active", "scope": code, "category": [code] }),
        "AuditEvent" => {
            json!({ "resourceType": ty, "type": { "code": "rest" }, "recorded": "2026-01-02T03:04:05Z", "agent": [{ "requestor": true }], "source": { "observer": { "reference": "Device/node-1" } } })
        }
        "Provenance" => {
            json!({ "resourceType": ty, "target": [subject], "recorded": "2026-01-02T03:04:05Z", "agent": [{ "who": { "reference": "Practitioner/dr-1" } }] })
        }
        other => panic!("no example for {other}"),
    }
}

fn problems(resource: &Value) -> Vec<medledger_fhir::Issue> {
    match validator().validate(resource) {
        Err(e @ InvalidResource::Invalid { .. }) => e.issues(),
        other => panic!("expected an invalid resource, got {other:?}"),
    }
}

#[test]
fn a_conforming_resource_of_each_of_these_types_passes() {
    for ty in [
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
    ] {
        let r = minimal(ty);
        assert_eq!(
            validator()
                .validate(&r)
                .unwrap_or_else(|e| panic!("{ty}: {:?}", e.issues())),
            ty
        );
    }
}

/// HL7's official R4 examples (`schema/examples.py` collects them from
/// `hl7.fhir.r4.examples@4.0.1`).
fn hl7_examples() -> Vec<Value> {
    use std::io::Read;
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/r4-examples.ndjson.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_official_r4_example_passes() {
    let examples = hl7_examples();
    assert_eq!(examples.len(), 736);
    let mut types = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for e in &examples {
        let ty = e["resourceType"].as_str().unwrap();
        types.insert(ty.to_string());
        if let Err(err) = validator().validate(e) {
            failed.push(format!("{ty}/{}: {:?}", e["id"], err.issues()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} refused:\n{}",
        failed.len(),
        examples.len(),
        failed.join("\n")
    );
    assert_eq!(types.len(), 140, "HL7 ships examples of 140 of the 145 types");
}

#[test]
fn compiling_every_validator_is_measured() {
    let rss_kib = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("VmRSS:")
                        .map(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
                })
            })
            .flatten()
            .unwrap_or(0)
    };
    let rss0 = rss_kib();
    let started = std::time::Instant::now();
    let v = Validator::new().unwrap();
    let parse = started.elapsed();
    let rss1 = rss_kib();
    assert_eq!(v.compiled(), 0, "nothing is compiled at start-up");
    let started = std::time::Instant::now();
    v.validate(&minimal("Observation")).unwrap();
    let one = started.elapsed();
    assert_eq!(v.compiled(), 1);
    let started = std::time::Instant::now();
    v.compile_all().unwrap();
    let all = started.elapsed();
    let rss2 = rss_kib();
    eprintln!(
        "schema: parsed in {parse:?} (+{} MiB resident); first Observation {one:?}; all {} types {all:?} (+{} MiB more)",
        rss1.saturating_sub(rss0) / 1024,
        v.compiled(),
        rss2.saturating_sub(rss1) / 1024
    );
    assert_eq!(
        v.compiled(),
        medledger_fhir::resource_types().len() + 1,
        "and Parameters"
    );
}

#[test]
fn resources_inside_are_checked_against_their_own_type() {
    let mut obs = minimal("Observation");
    obs["contained"] = json!([{ "resourceType": "Patient", "id": "m", "gender": "bogus" }]);
    let issues = problems(&obs);
    assert_eq!(issues[0].location, "/contained/0/gender", "{issues:?}");
    obs["contained"] = json!([{ "resourceType": "Nonsense", "id": "m" }]);
    assert_eq!(problems(&obs)[0].code, "not-supported");
    let bundle = json!({ "resourceType": "Bundle", "type": "collection",
                         "entry": [{ "resource": minimal("Patient") }, { "resource": { "resourceType": "Patient", "gender": "unknown-ish" } }] });
    assert_eq!(problems(&bundle)[0].location, "/entry/1/resource/gender");
    // An element that happens to be called resourceType is not a resource.
    let scenario = json!({ "resourceType": "ExampleScenario", "status": "draft",
                           "instance": [{ "resourceId": "a", "resourceType": "Patient" }] });
    assert!(validator().validate(&scenario).is_ok());
}

#[test]
fn defects_are_refused_with_their_location_and_without_echoing_data() {
    // Unknown element.
    let mut p = minimal("Patient");
    p["favouriteColour"] = json!("MARKER-7f3a");
    let issues = problems(&p);
    assert!(
        issues.iter().any(|i| i.message.contains("favouriteColour")),
        "{issues:?}"
    );

    // A malformed date: located, and the value itself is not repeated.
    let mut p = minimal("Patient");
    p["birthDate"] = json!("MARKER-1999-13-45");
    let issues = problems(&p);
    assert!(issues.iter().any(|i| i.location == "/birthDate"), "{issues:?}");
    // A code outside the value set.
    let mut p = minimal("Patient");
    p["gender"] = json!("MARKER-robot");
    let issues = problems(&p);
    assert!(issues.iter().any(|i| i.location == "/gender"), "{issues:?}");
    // Wrong JSON type deep inside.
    let mut o = minimal("Observation");
    o["valueQuantity"]["value"] = json!("MARKER-seventy-two");
    let issues = problems(&o);
    assert!(
        issues.iter().any(|i| i.location == "/valueQuantity/value"),
        "{issues:?}"
    );
    // A missing required element.
    let mut o = minimal("Observation");
    o.as_object_mut().unwrap().remove("code");
    let issues = problems(&o);
    assert!(
        issues
            .iter()
            .any(|i| i.code == "required" && i.message.contains("code")),
        "{issues:?}"
    );

    for r in [&p, &o] {
        let outcome = operation_outcome(&problems(r));
        assert!(!outcome.to_string().contains("MARKER"), "{outcome}");
    }
}

#[test]
fn non_resources_and_unsupported_types_are_refused() {
    for body in [
        json!([]),
        json!("Patient"),
        json!({ "id": "x" }),
        json!({ "resourceType": 7 }),
    ] {
        assert!(
            matches!(validator().validate(&body), Err(InvalidResource::NotAResource)),
            "{body}"
        );
    }
    let claim = json!({ "resourceType": "Claims" });
    let err = validator().validate(&claim).unwrap_err();
    assert!(matches!(err, InvalidResource::Unsupported(ref t) if t == "Claims"));
    assert_eq!(err.issues()[0].code, "not-supported");
}

#[test]
fn operation_outcome_lists_each_issue_with_a_fhirpath() {
    let mut p = minimal("Patient");
    p["gender"] = json!("robot");
    p["name"] = json!([{ "given": [7] }]);
    let outcome = operation_outcome(&problems(&p));
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = outcome["issue"].as_array().unwrap();
    assert!(issues.len() >= 2, "{outcome}");
    assert!(issues.iter().all(|i| i["severity"] == "error"));
    let paths: Vec<&str> = issues.iter().filter_map(|i| i["expression"][0].as_str()).collect();
    assert!(
        paths.contains(&"gender") && paths.contains(&"name[0].given[0]"),
        "{paths:?}"
    );
    assert_eq!(fhir_path(""), None);
    assert_eq!(fhir_path("/a~1b/0"), Some("a/b[0]".into()));
}

/// A query value that must find `v` again.
fn query_for(v: &medledger_fhir::index::IndexValue) -> Option<String> {
    use medledger_fhir::index::IndexValue as V;
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace(',', "\\,")
            .replace('|', "\\|")
            .replace('$', "\\$")
    };
    Some(match v {
        V::Token {
            system, code: Some(c), ..
        } => match system {
            Some(s) => format!("{}|{}", esc(s), esc(c)),
            None => esc(c),
        },
        V::Reference { target: Some(t), .. } if !t.contains("://") => t.clone(),
        V::Date(r) => {
            let start = medledger_fhir::date::DateRange {
                start: r.start,
                end: r.start + 1,
            }
            .to_fhir()?;
            format!("ge{start}")
        }
        V::String(s) => esc(&s.chars().take(20).collect::<String>()),
        V::Number(n) => format!("{n}"),
        V::Quantity {
            value,
            system: Some(s),
            code: Some(c),
            ..
        } => format!("{value}|{}|{}", esc(s), esc(c)),
        V::Uri(u) => esc(u),
        _ => return None,
    })
}

#[test]
fn every_official_example_is_found_by_each_of_its_indexed_values() {
    use medledger_fhir::compartment::{Compartment, compartment, is_compartment_type};
    use medledger_fhir::search::SearchQuery;
    let mut checked = 0usize;
    let (mut with_patient, mut shared) = (0, 0);
    for e in hl7_examples() {
        let ty = e["resourceType"].as_str().unwrap();
        match compartment(&e) {
            Compartment::Patient(_) => with_patient += 1,
            Compartment::Shared => {
                assert!(!is_compartment_type(ty));
                shared += 1;
            }
            Compartment::Unassigned => assert!(is_compartment_type(ty)),
            Compartment::Several => {}
        }
        let indexed = medledger_fhir::index::extract(&e);
        for (param, values) in &indexed.values {
            let Some(q) = values.iter().find_map(query_for) else {
                continue;
            };
            if q.len() > 1000 {
                continue;
            }
            let query = SearchQuery::parse(ty, &[(param.clone(), q.clone())])
                .unwrap_or_else(|err| panic!("{ty}?{param}={q}: {err}"));
            assert!(query.matches(&indexed), "{ty}/{} not found by {param}={q}", e["id"]);
            checked += 1;
        }
    }
    eprintln!(
        "{checked} parameter values checked; {with_patient} examples in a patient's compartment, {shared} shared"
    );
    assert!(checked > 5000, "{checked}");
    assert!(with_patient > 200 && shared > 100, "{with_patient} {shared}");
}
