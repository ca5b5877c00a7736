//! The Patient compartment (HL7's `CompartmentDefinition-patient`) decides what is shared:
//! on a two-validator network (node0 Hospital A, node1 Clinic B),
//!
//! - a Location (outside the compartment) is shared reference data: Clinic B's
//!   practitioner reads and finds it without any consent;
//! - an Observation of patient P is P's: Clinic B reads nothing without P's consent;
//! - an Observation that names no patient (its subject a Device) stays with Hospital A's
//!   staff: Clinic B is refused, Hospital A's practitioner reads it;
//! - a Device that names P (outside HL7's compartment, but P's through its `patient`) is
//!   protected like P's records;
//! - reference data is written only by its custodian's staff: Clinic B's practitioner,
//!   and Hospital A's own patient, are refused when they try to change the Location;
//! - once P consents to Clinic B, Clinic B's search for P's Observations of one code is
//!   matched by Hospital A on its search values: only the matching records are sent and
//!   decrypted at Clinic B (`medledger_records_decrypted_total`).

mod common;

use std::time::Duration;

use common::attack::org_consent;
use common::fhir::{fhir, observation, patient, register, resources, submit, token};
use common::net::Net;
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::MemberKind;
use serde_json::json;

const A: usize = 0;
const B: usize = 1;
const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compartment_decides_what_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 2);
    net.start_all();
    for i in [A, B] {
        net.wait_height(i, 1, T).await;
    }
    let dr_a = register(&net, A, "hospital-a", "dr-a", MemberKind::Practitioner).await;
    let dr_b = register(&net, B, "clinic-b", "dr-b", MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let tb = token(&net, B, &dr_b, "user/*.cruds").await;

    let created = async |body: serde_json::Value| -> String {
        let t = body["resourceType"].as_str().unwrap().to_string();
        let a = fhir(&net, A, "POST", &format!("/{t}"), Some(&ta), Some(&body), &[]).await;
        assert_eq!(a.status, 201, "{t}: {}", a.text);
        format!("{t}/{}", a.body["id"].as_str().unwrap())
    };
    let location = created(json!({"resourceType": "Location", "name": "Radiology Wing 7", "status": "active"})).await;
    let pid = created(patient("cmp-1")).await;
    let pid = pid.strip_prefix("Patient/").unwrap().to_string();
    let obs = created(observation(&pid, "8867-4", "cmp", "2024-01-01")).await;
    let monitor = created(json!({"resourceType": "Device", "status": "active"})).await;
    let unassigned = created(json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "calibration"}, "subject": {"reference": monitor}}))
    .await;
    let device = created(json!({"resourceType": "Device", "patient": {"reference": format!("Patient/{pid}")}})).await;

    // Clinic B waits for Hospital A's writes to reach its ledger.
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;

    // Shared reference data, without consent, read and found.
    let read = fhir(&net, B, "GET", &format!("/{location}"), Some(&tb), None, &[]).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["name"], "Radiology Wing 7");
    let found = fhir(&net, B, "GET", "/Location?name=radiology", Some(&tb), None, &[]).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(resources(&found.body).len(), 1);

    // The patient's records, and a compartment record naming no patient: refused.
    for (what, path) in [
        ("P's Observation", &obs),
        ("an unassigned Observation", &unassigned),
        ("P's Device", &device),
    ] {
        let r = fhir(&net, B, "GET", &format!("/{path}"), Some(&tb), None, &[]).await;
        assert_eq!(r.status, 403, "{what}: {}", r.text);
        assert_eq!(r.body["resourceType"], "OperationOutcome");
    }
    let none = fhir(&net, B, "GET", "/Observation?code=calibration", Some(&tb), None, &[]).await;
    assert_eq!(none.status, 200);
    assert!(resources(&none.body).is_empty(), "{}", none.text);
    // Control: the custodian's practitioner reads all three.
    for path in [&obs, &unassigned, &device] {
        let r = fhir(&net, A, "GET", &format!("/{path}"), Some(&ta), None, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }

    // Reference data is written only by its custodian's staff.
    let mut changed = read.body.clone();
    changed["name"] = json!("Taken over");
    let at_b = fhir(&net, B, "PUT", &format!("/{location}"), Some(&tb), Some(&changed), &[]).await;
    assert_eq!(at_b.status, 403, "{}", at_b.text);
    let tb_at_a = token(&net, A, &dr_b, "user/*.cruds").await;
    let b_at_a = fhir(
        &net,
        A,
        "PUT",
        &format!("/{location}"),
        Some(&tb_at_a),
        Some(&changed),
        &[],
    )
    .await;
    assert_eq!(b_at_a.status, 403, "{}", b_at_a.text);
    let pat = register(&net, A, "hospital-a", &pid, MemberKind::Patient).await;
    let tp = token(&net, A, &pat, "patient/*.cruds").await;
    let by_patient = fhir(&net, A, "PUT", &format!("/{location}"), Some(&tp), Some(&changed), &[]).await;
    assert!(matches!(by_patient.status, 401 | 403), "{}", by_patient.text);
    let after = fhir(&net, A, "GET", &format!("/{location}"), Some(&ta), None, &[]).await;
    assert_eq!(after.body["name"], "Radiology Wing 7");
    // Control: the custodian's practitioner changes it.
    let own = fhir(&net, A, "PUT", &format!("/{location}"), Some(&ta), Some(&changed), &[]).await;
    assert_eq!(own.status, 200, "{}", own.text);

    // A cross-organisation search with consent: the custodian matches, Clinic B decrypts
    // only what matches.
    for k in 0..6 {
        let code = if k < 2 { "1111-1" } else { "2222-2" };
        created(observation(&pid, code, &format!("x{k}"), "2024-02-01")).await;
    }
    let granted = submit(
        &net,
        A,
        &pat.key,
        org_consent(&pid, "cmp-b", "clinic-b", &["Observation"], vec![Purpose::Treatment]),
    )
    .await;
    assert_eq!(granted["outcome"], 0, "{granted}");
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    let decrypted_at_b = async || -> u64 { net.metric(B, "records_decrypted_total").await };
    let before = decrypted_at_b().await;
    let found = fhir(
        &net,
        B,
        "GET",
        &format!("/Observation?patient={pid}&code=1111-1"),
        Some(&tb),
        None,
        &[],
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(resources(&found.body).len(), 2, "{}", found.text);
    assert_eq!(
        decrypted_at_b().await - before,
        2,
        "the four that do not match are neither sent nor decrypted"
    );
    net.stop_all();
}
