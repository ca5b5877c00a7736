//! Four validators on loopback: identical blocks at every height; one validator killed
//! with SIGKILL under load while the others go on; restarted, it catches up; restarted
//! with an empty data folder, it resyncs the whole chain. No acknowledged transaction is
//! lost, and every data folder verifies.

mod common;

use std::time::Duration;

use common::net::{Load, Net};

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_agree_survive_sigkill_and_resync_from_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 2, T).await;
    }
    let load = Load::start(&net, 25);
    net.wait_height(0, 6, T).await;
    let before = load.count();
    assert!(before > 0 || net.height(0).await.unwrap() >= 6);

    // SIGKILL one validator under load: the other three keep committing.
    net.kill(3);
    let h = net.height(0).await.unwrap();
    for i in 0..3 {
        net.wait_height(i, h + 4, T).await;
    }
    let acked_while_down = load.count();
    assert!(
        acked_while_down > before,
        "no transaction was acknowledged while node3 was down ({before} before)"
    );

    // Restarted, it catches up and holds the same chain.
    net.start(3, &[]);
    let target = net.height(0).await.unwrap();
    net.wait_height(3, target, T).await;
    net.assert_same_chain(&[0, 1, 2, 3], target).await;

    // A validator whose data folder is gone resyncs everything from its peers.
    net.stop(2);
    std::fs::remove_dir_all(net.homes[2].join("data")).unwrap();
    net.start(2, &[]);
    let target = net.height(0).await.unwrap();
    net.wait_height(2, target, T).await;
    net.assert_same_chain(&[0, 1, 2, 3], target).await;

    let acked = load.finish().await;
    assert!(!acked.is_empty());
    let top = net.height(0).await.unwrap();
    for i in 0..4 {
        net.wait_height(i, top, T).await;
    }
    net.assert_same_chain(&[0, 1, 2, 3], top).await;
    net.assert_all_committed(&[0, 1, 2, 3], &acked).await;

    // A receipt from any validator is backed by the validator set: it verifies offline
    // against genesis alone, with a certificate of at least three of the four.
    let receipt = dir.path().join("receipt.json");
    common::ok(&[
        "proof",
        "get",
        "--tx",
        &acked[acked.len() / 2].to_string(),
        "--node",
        &net.urls[1],
        "--ca",
        net.ca.to_str().unwrap(),
        "--out",
        receipt.to_str().unwrap(),
    ]);
    let out = common::ok(&[
        "proof",
        "verify",
        "--genesis",
        net.dir.join("genesis.json").to_str().unwrap(),
        "--receipt",
        receipt.to_str().unwrap(),
    ]);
    assert!(out.starts_with("ok:"), "{out}");
    let signers: usize = out
        .split("certified by ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(signers >= 3, "{out}");
    net.stop_all();
    for i in 0..4 {
        net.verify(i);
    }
}
