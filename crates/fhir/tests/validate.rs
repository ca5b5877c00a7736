//! Validation against the official FHIR R4 schema: conforming resources of every
//! supported type pass; each kind of defect is refused with its location, and no message
//! echoes the resource's data.

use std::sync::OnceLock;

use medledger_fhir::{InvalidResource, SUPPORTED_TYPES, Validator, fhir_path, operation_outcome};
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
fn a_conforming_resource_of_every_supported_type_passes() {
    for ty in SUPPORTED_TYPES {
        let r = minimal(ty);
        assert_eq!(
            validator()
                .validate(&r)
                .unwrap_or_else(|e| panic!("{ty}: {:?}", e.issues())),
            ty
        );
    }
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
    let claim = json!({ "resourceType": "Claim" });
    let err = validator().validate(&claim).unwrap_err();
    assert!(matches!(err, InvalidResource::Unsupported(ref t) if t == "Claim"));
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
