//! `medledger load`: Synthea-style output (shared hospital and practitioner Bundles, then
//! patient Bundles full of types medledger does not hold) into a one-validator network.

mod common;

use std::path::Path;
use std::time::Duration;

use common::fhir::{fhir, register, token};
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

/// The three files Synthea writes for one patient, in its shape.
fn synthea_output(dir: &Path) {
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
                       "identifier": [{"system": SYNTHEA, "value": "loc-1"}]}),
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
                json!({"resourceType": "PractitionerRole",
                       "practitioner": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"}}),
            ),
        ]),
    );
    let pat = "urn:uuid:0c000000-0000-4000-8000-000000000001";
    let enc = "urn:uuid:0c000000-0000-4000-8000-000000000002";
    let claim = "urn:uuid:0c000000-0000-4000-8000-000000000003";
    write(
        dir,
        "Ada_Lovelace_0c000000.json",
        &bundle(vec![
            entry(
                pat,
                json!({"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"}),
            ),
            entry(
                enc,
                json!({"resourceType": "Encounter", "status": "finished",
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                       "subject": {"reference": pat},
                       "participant": [{"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"}}],
                       "location": [{"location": {"reference": format!("Location?identifier={SYNTHEA}|loc-1"), "display": "General Hospital"}}],
                       "serviceProvider": {"reference": format!("Organization?identifier={SYNTHEA}|org-1")}}),
            ),
            entry(
                "urn:uuid:0c000000-0000-4000-8000-000000000004",
                json!({"resourceType": "Observation", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                       "subject": {"reference": pat}, "encounter": {"reference": enc},
                       "effectiveDateTime": "2024-03-01T10:00:00Z",
                       "valueQuantity": {"value": 72, "unit": "/min"}}),
            ),
            entry(
                claim,
                json!({"resourceType": "Claim", "status": "active", "patient": {"reference": pat}}),
            ),
            entry(
                "urn:uuid:0c000000-0000-4000-8000-000000000005",
                json!({"resourceType": "ExplanationOfBenefit", "claim": {"reference": claim}}),
            ),
            entry(
                "urn:uuid:0c000000-0000-4000-8000-000000000006",
                json!({"resourceType": "CareTeam", "subject": {"reference": pat}}),
            ),
            entry(
                "urn:uuid:0c000000-0000-4000-8000-000000000007",
                json!({"resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
                       "target": [{"reference": pat}, {"reference": claim}],
                       "agent": [{"who": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"}}]}),
            ),
        ]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthea_output_loads_with_unsupported_types_skipped() {
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
    synthea_output(&out);
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
        ];
        args.extend_from_slice(extra);
        common::medledger(&args)
    };
    let tok = token(&net, 0, &loader, "user/*.rs").await;
    let count = async |t: &str| {
        let a = fhir(&net, 0, "GET", &format!("/{t}?_count=100"), Some(&tok), None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["entry"].as_array().map_or(0, Vec::len)
    };

    // As they are, Bundles with unsupported types fail whole, and write nothing.
    let plain = load(&[out.to_str().unwrap()]);
    assert!(!plain.status.success());
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("3 of 3 Bundles failed"), "{err}");
    assert!(err.contains("404"), "{err}");
    assert_eq!(count("Patient").await, 0);
    assert_eq!(count("Organization").await, 0);

    // With --skip-unsupported everything medledger holds goes in, shared files first.
    let pruned = load(&["--skip-unsupported", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&pruned.stdout);
    assert!(
        pruned.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    assert!(
        stdout.contains("loaded 3 of 3 Bundles: 6 resources written"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CareTeam 1, Claim 1, ExplanationOfBenefit 1, Location 1, PractitionerRole 1"),
        "{stdout}"
    );
    for (t, n) in [
        ("Patient", 1),
        ("Organization", 1),
        ("Practitioner", 1),
        ("Encounter", 1),
        ("Observation", 1),
        ("Provenance", 1),
    ] {
        assert_eq!(count(t).await, n, "{t}");
    }
    let enc = fhir(&net, 0, "GET", "/Encounter?_count=1", Some(&tok), None, &[]).await;
    let enc = &enc.body["entry"][0]["resource"];
    assert_eq!(enc["location"][0]["location"], json!({"display": "General Hospital"}));
    let org = enc["serviceProvider"]["reference"].as_str().unwrap();
    assert!(
        org.starts_with("Organization/"),
        "conditional reference resolved: {org}"
    );

    // A broken file is reported by name; the others still load.
    std::fs::write(out.join("broken.json"), b"{ not json").unwrap();
    let again = load(&["--skip-unsupported", out.join("broken.json").to_str().unwrap()]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("broken.json") && err.contains("not JSON"), "{err}");
    net.stop_all();
}
