//! A byzantine proposer (test-only mode): it proposes blocks with a forged signature, and
//! later with a replayed nonce. The honest validators vote against those blocks and the
//! chain goes on; no block holding either ever commits.

mod common;

use std::time::Duration;

use common::net::{Load, Net};

const T: Duration = Duration::from_secs(180);

async fn run_with(mode: &str, marker: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    net.start(0, &[("MEDLEDGER_TEST_BYZANTINE_PROPOSER", mode)]);
    for i in 1..4 {
        net.start(i, &[]);
    }
    for i in 0..4 {
        net.wait_height(i, 2, T).await;
    }
    // Load on every validator; what reaches node0 is forwarded to the others as usual.
    let load = Load::start(&net, 20);
    // Every validator proposes in turn; go on until node0 has tried more than once.
    let start = net.height(1).await.unwrap();
    net.wait_height(1, start + 12, T).await;
    let acked = load.finish().await;
    assert!(!acked.is_empty(), "no transaction was committed");
    assert!(
        net.log(0).contains(marker),
        "node0 never misbehaved; log:\n{}",
        net.log(0)
    );
    let rejected = (1..4)
        .filter(|&i| net.log(i).contains("rejecting an invalid proposal"))
        .count();
    assert!(
        rejected >= 2,
        "honest validators did not reject the byzantine proposals"
    );
    let top = net.height(1).await.unwrap();
    for i in 0..4 {
        net.wait_height(i, top, T).await;
    }
    net.assert_same_chain(&[0, 1, 2, 3], top).await;
    net.assert_all_committed(&[1, 2, 3], &acked).await;
    net.stop_all();
    // `verify` re-checks every signature, nonce and root of every committed block.
    for i in 0..4 {
        net.verify(i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signature_and_replayed_nonce_are_rejected() {
    run_with("forge-signature", "forged the signature").await;
    run_with("replay-nonce", "replayed a committed transaction").await;
}
