//! `medledger load`: Synthea-style output (shared hospital and practitioner Bundles, then
//! patient Bundles with every type Synthea writes) into a one-validator network,
//! unmodified; failures are summarised and `--resume` sends only what is left.

mod common;

use std::path::Path;
use std::time::Duration;

use common::fhir::{fhir, register, resources, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);
const SYNTHEA: &str = "https://github.com/synthetichealth/synthea";

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn entry(full_url: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": t}})
}

fn conditional(full_url: &str, resource: Value, ident: &str) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource,
           "request": {"method": "POST", "url": t, "ifNoneExist": format!("identifier={SYNTHEA}|{ident}")}})
}

fn bundle(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// What Synthea writes: the shared hospital and practitioner Bundles, then one Bundle per
/// patient with the types Synthea emits (Claim and ExplanationOfBenefit with contained
/// Coverage, CareTeam, CarePlan, ImagingStudy, Device, Medication, MedicationRequest,
/// Immunization, Provenance …), `urn:uuid` references inside each Bundle and
/// conditional references to the shared ones.
fn synthea_output(dir: &Path, patients: usize) -> usize {
    let npi = "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999";
    let org = format!("Organization?identifier={SYNTHEA}|org-1");
    write(
        dir,
        "hospitalInformation1700000000000.json",
        &bundle(vec![
            conditional(
                "urn:uuid:0a000000-0000-4000-8000-000000000001",
                json!({"resourceType": "Organization", "name": "General Hospital",
                       "identifier": [{"system": SYNTHEA, "value": "org-1"}]}),
                "org-1",
            ),
            conditional(
                "urn:uuid:0a000000-0000-4000-8000-000000000002",
                json!({"resourceType": "Location", "name": "General Hospital",
                       "identifier": [{"system": SYNTHEA, "value": "loc-1"}],
                       "managingOrganization": {"reference": org}}),
                "loc-1",
            ),
        ]),
    );
    write(
        dir,
        "practitionerInformation1700000000000.json",
        &bundle(vec![
            conditional(
                "urn:uuid:0b000000-0000-4000-8000-000000000001",
                json!({"resourceType": "Practitioner",
                       "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999"}]}),
                "npi-9999",
            ),
            entry(
                "urn:uuid:0b000000-0000-4000-8000-000000000002",
                json!({"resourceType": "PractitionerRole", "practitioner": {"reference": npi},
                       "organization": {"reference": org}}),
            ),
        ]),
    );
    let mut written = 4;
    for n in 0..patients {
        let u = |k: u32| format!("urn:uuid:0c{n:06}-0000-4000-8000-{k:012}");
        let (pat, enc, claim, med, dev) = (u(1), u(2), u(3), u(4), u(5));
        let code = |c: &str| json!({"coding": [{"system": "http://snomed.info/sct", "code": c}]});
        let entries = vec![
            entry(
                &pat,
                json!({"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01",
                               "name": [{"family": format!("Family{n}"), "given": ["Ada"]}],
                               "identifier": [{"system": SYNTHEA, "value": format!("pat-{n}")}]}),
            ),
            entry(
                &enc,
                json!({"resourceType": "Encounter", "status": "finished",
                               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                               "subject": {"reference": pat},
                               "participant": [{"individual": {"reference": npi}}],
                               "location": [{"location": {"reference": format!("Location?identifier={SYNTHEA}|loc-1"), "display": "General Hospital"}}],
                               "serviceProvider": {"reference": org}}),
            ),
            entry(
                &u(6),
                json!({"resourceType": "Observation", "status": "final",
                                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                                "subject": {"reference": pat}, "encounter": {"reference": enc},
                                "effectiveDateTime": "2024-03-01T10:00:00Z",
                                "valueQuantity": {"value": 72, "unit": "/min"}}),
            ),
            entry(
                &u(7),
                json!({"resourceType": "Condition", "subject": {"reference": pat},
                                "encounter": {"reference": enc}, "code": code("44054006")}),
            ),
            entry(&med, json!({"resourceType": "Medication", "code": code("860975")})),
            entry(
                &u(8),
                json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                                "subject": {"reference": pat}, "encounter": {"reference": enc},
                                "medicationReference": {"reference": med}, "requester": {"reference": npi}}),
            ),
            entry(
                &u(9),
                json!({"resourceType": "Immunization", "status": "completed", "vaccineCode": code("140"),
                                "patient": {"reference": pat}, "occurrenceDateTime": "2024-03-01"}),
            ),
            entry(
                &dev,
                json!({"resourceType": "Device", "patient": {"reference": pat},
                               "udiCarrier": [{"deviceIdentifier": "00844588003288"}]}),
            ),
            entry(
                &u(10),
                json!({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": pat},
                                 "encounter": {"reference": enc}}),
            ),
            entry(
                &u(11),
                json!({"resourceType": "CareTeam", "status": "active", "subject": {"reference": pat},
                                 "participant": [{"member": {"reference": npi}}], "managingOrganization": [{"reference": org}]}),
            ),
            entry(
                &u(12),
                json!({"resourceType": "CarePlan", "status": "active", "intent": "order",
                                 "subject": {"reference": pat}, "careTeam": [{"reference": u(11)}]}),
            ),
            entry(
                &claim,
                json!({"resourceType": "Claim", "status": "active", "use": "claim",
                                 "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
                                 "patient": {"reference": pat}, "created": "2024-03-01", "priority": {"coding": [{"code": "normal"}]},
                                 "provider": {"reference": org},
                                 "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "Cigna"}}],
                                 "item": [{"sequence": 1, "productOrService": code("185345009"), "encounter": [{"reference": enc}]}]}),
            ),
            entry(
                &u(13),
                json!({"resourceType": "ExplanationOfBenefit", "status": "active", "use": "claim", "outcome": "complete",
                                 "contained": [{"resourceType": "Coverage", "id": "coverage", "status": "active",
                                                "beneficiary": {"reference": pat}, "payor": [{"display": "Cigna"}]}],
                                 "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
                                 "patient": {"reference": pat}, "created": "2024-03-01", "insurer": {"display": "Cigna"},
                                 "provider": {"reference": npi}, "claim": {"reference": claim},
                                 "insurance": [{"focal": true, "coverage": {"reference": "#coverage"}}]}),
            ),
            entry(
                &u(14),
                json!({"resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
                                 "target": [{"reference": pat}, {"reference": claim}],
                                 "agent": [{"who": {"reference": npi}, "onBehalfOf": {"reference": org}}]}),
            ),
        ];
        written += entries.len();
        write(dir, &format!("Patient{n}_0c{n:06}.json"), &bundle(entries));
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthea_output_loads_unmodified_and_every_reference_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    net.start_all();
    // One validator makes no empty blocks: wait for its API, not for a block.
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    // A practitioner loads (the default scope asks for both system/ and user/ access; the
    // node grants the user/ part a practitioner may hold).
    let loader = register(&net, 0, "hospital-a", "loader", MemberKind::Practitioner).await;
    let key_file = dir.path().join("loader.json");
    medledger_node::home::write_key(&key_file, &loader.key).unwrap();
    let out = dir.path().join("fhir");
    std::fs::create_dir_all(&out).unwrap();
    let written = synthea_output(&out, 3);
    // A file a broken export left behind.
    std::fs::write(out.join("broken.json"), b"{ not json").unwrap();
    let summary = dir.path().join("load-summary.json");
    let load = |extra: &[&str]| {
        let mut args = vec![
            "load",
            "--node",
            &net.urls[0],
            "--ca",
            net.ca.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
            "--client-id",
            "hospital-a/loader",
            "--summary",
            summary.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        common::medledger(&args)
    };
    let tok = token(&net, 0, &loader, "user/*.rs").await;
    let all = async |t: &str| -> Vec<Value> {
        let a = fhir(&net, 0, "GET", &format!("/{t}?_count=1000"), Some(&tok), None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        resources(&a.body)
    };

    // Everything goes in as it is, shared files first; the broken file is reported by
    // name and in the summary, and the others load.
    let first = load(&[out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(
        stderr.contains("broken.json") && stderr.contains("not JSON") || stderr.contains("400"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 6 Bundles failed"), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "loaded 5 of 6 Bundles (0 already loaded before): {written} resources written"
        )),
        "{stdout}"
    );
    let recorded: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(recorded["loaded"].as_object().unwrap().len(), 5);
    assert_eq!(recorded["failed"].as_object().unwrap().len(), 1);

    for (t, n) in [
        ("Patient", 3),
        ("Organization", 1),
        ("Location", 1),
        ("Practitioner", 1),
        ("PractitionerRole", 1),
        ("Encounter", 3),
        ("Observation", 3),
        ("Condition", 3),
        ("Medication", 3),
        ("MedicationRequest", 3),
        ("Immunization", 3),
        ("Device", 3),
        ("ImagingStudy", 3),
        ("CareTeam", 3),
        ("CarePlan", 3),
        ("Claim", 3),
        ("ExplanationOfBenefit", 3),
        ("Provenance", 3),
    ] {
        assert_eq!(all(t).await.len(), n, "{t}");
    }
    // Every reference resolves: each local one names a record that reads back.
    let mut resolved = 0;
    for t in [
        "Encounter",
        "MedicationRequest",
        "CarePlan",
        "ExplanationOfBenefit",
        "Provenance",
        "Location",
        "PractitionerRole",
        "Device",
    ] {
        for r in all(t).await {
            let mut refs = Vec::new();
            medledger_fhir::reference::visit_references(&r, |_, s| refs.push(s.to_string()));
            for s in refs {
                if s.starts_with('#') {
                    continue;
                }
                assert!(!s.starts_with("urn:") && !s.contains('?'), "{t}: unresolved {s}");
                let a = fhir(&net, 0, "GET", &format!("/{s}"), Some(&tok), None, &[]).await;
                assert_eq!(a.status, 200, "{t} → {s}: {}", a.text);
                resolved += 1;
            }
        }
    }
    assert!(resolved >= 40, "{resolved}");

    // Fixed, and run again with --resume: only the broken file is sent.
    std::fs::remove_file(out.join("broken.json")).unwrap();
    write(
        &out,
        "broken.json",
        &bundle(vec![entry(
            "urn:uuid:0d000000-0000-4000-8000-000000000001",
            json!({"resourceType": "Location", "name": "Annex"}),
        )]),
    );
    let again = load(&["--resume", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        stdout.contains("loaded 1 of 6 Bundles (5 already loaded before): 1 resources written"),
        "{stdout}"
    );
    assert_eq!(all("Patient").await.len(), 3, "nothing loaded twice");
    assert_eq!(all("Location").await.len(), 2);
    net.stop_all();
}
