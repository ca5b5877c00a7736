//! Erasure is crash-safe: the node is killed (a test-only crash point, like SIGKILL: no
//! cleanup) after each step of `$erase` — the decision written, the ledger receipt
//! committed, the ciphertexts deleted — and at no point is there data destroyed without
//! a committed receipt, or a committed receipt while the data can still be read. After a
//! restart the node finishes the erasure on its own.

mod common;

use std::path::Path;
use std::time::Duration;

use common::fhir::{fhir, observation, patient, register, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;

const T: Duration = Duration::from_secs(120);

/// What the stopped node's data folder says about one record version.
struct OnDisk {
    /// The ledger marks the record erased (the receipt is committed).
    receipt: bool,
    /// The ciphertext is still in the blob store.
    blob: bool,
    /// Where the ciphertext is (or was).
    blob_path: std::path::PathBuf,
}

fn on_disk(home: &Path, resource_type: &str, id: &str) -> OnDisk {
    // Opened for writing: after a crash redb repairs the file first, as the node will.
    let store = medledger_store::Store::open(&home.join("data/ledger.redb")).unwrap();
    let state = store.reader().unwrap();
    let record = medledger_ledger::records::record_state(&state, resource_type, id).unwrap();
    let anchor = medledger_ledger::records::version_anchor(&state, resource_type, id, 1).unwrap();
    let hex = anchor.ciphertext.to_hex();
    let blob_path = home.join("data/blobs").join(&hex[..2]).join(&hex);
    OnDisk {
        receipt: record.erased,
        blob: blob_path.exists(),
        blob_path,
    }
}

async fn crash_during_erasure(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    net.start(0, &[("MEDLEDGER_TEST_CRASH_AT", point)]);
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let dr = register(&net, 0, "hospital-a", "dr-a", MemberKind::Practitioner).await;
    let t = token(&net, 0, &dr, "user/*.cruds").await;
    let p = fhir(&net, 0, "POST", "/Patient", Some(&t), Some(&patient("erase")), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    let o = fhir(
        &net,
        0,
        "POST",
        "/Observation",
        Some(&t),
        Some(&observation(&pid, "8867-4", "erase", "2024-01-01")),
        &[],
    )
    .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let oid = o.body["id"].as_str().unwrap().to_string();
    let pat = register(&net, 0, "hospital-a", &pid, MemberKind::Patient).await;
    let tp = token(&net, 0, &pat, "patient/*.rds").await;

    // The node dies in the middle of the erasure: the client gets no answer.
    let url = format!("{}/fhir/Patient/{pid}/$erase", net.urls[0]);
    let answer = net.http.post(url).bearer_auth(&tp).send().await;
    assert!(
        answer.is_err(),
        "{point}: the node answered {:?}",
        answer.map(|r| r.status())
    );
    let status = net.wait_exit(0, T);
    assert!(!status.success(), "{point}: the node exited cleanly");

    // While it is down: data destroyed only with a committed receipt.
    let home = net.homes[0].clone();
    let mut blobs = Vec::new();
    for (t, id) in [("Patient", pid.as_str()), ("Observation", oid.as_str())] {
        let d = on_disk(&home, t, id);
        blobs.push(d.blob_path.clone());
        assert!(d.blob || d.receipt, "{point}: {t} destroyed without a receipt");
        match point {
            "erase-after-decision" => assert!(d.blob && !d.receipt, "{point}: {t}"),
            "erase-after-receipt" => assert!(d.blob && d.receipt, "{point}: {t}"),
            _ => assert!(!d.blob && d.receipt, "{point}: {t}"),
        }
    }

    // Restarted, the node refuses to serve the records at once (receipt or decision),
    // and finishes the erasure by itself.
    net.start(0, &[]);
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let t = token(&net, 0, &dr, "user/*.cruds").await;
    let r = fhir(&net, 0, "GET", &format!("/Observation/{oid}"), Some(&t), None, &[]).await;
    assert!(
        r.status == 410 || r.status == 503,
        "{point}: an erasure in progress is not served: {} {}",
        r.status,
        r.text
    );
    // Finished: the receipt is on the ledger and the ciphertext files are gone.
    common::eventually("the erasure to finish", T, async || {
        let key = hex::encode(medledger_ledger::keys::record("Observation", &oid));
        let v = net.ledger_get(0, &format!("/v1/state/{key}")).await;
        let erased = v["value"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <medledger_ledger::records::RecordState as medledger_types::Decode>::decode(&b).ok())
            .is_some_and(|r| r.erased);
        erased && blobs.iter().all(|b| !b.exists())
    })
    .await;
    net.stop(0);
    for (t, id) in [("Patient", pid.as_str()), ("Observation", oid.as_str())] {
        let d = on_disk(&home, t, id);
        assert!(d.receipt && !d.blob, "{point}: {t} after the restart");
    }
    net.verify(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_decision_leaves_data_and_no_receipt() {
    crash_during_erasure("erase-after-decision").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_receipt_leaves_data_unreadable_and_is_finished() {
    crash_during_erasure("erase-after-receipt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_ciphertexts_are_gone_has_its_receipt() {
    crash_during_erasure("erase-after-blobs").await;
}
