//! A byzantine proposer (test-only mode): it proposes blocks with a forged signature, with
//! a replayed nonce, or stamped a day ahead of its clock. The honest validators vote
//! against those blocks and the chain goes on; no such block ever commits, and chain time
//! never runs ahead of the validators' clocks.

mod common;

use std::time::Duration;

use common::net::{Load, Net};

const T: Duration = Duration::from_secs(180);

async fn run_with(mode: &str, marker: &str, refusal: &str) {
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
    let rejected = (1..4).filter(|&i| net.log(i).contains(refusal)).count();
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
    // No committed block is stamped ahead of now by more than the allowed drift (10 s by
    // default): consent expiry keeps following real time.
    let now = medledger_node::node::now_ms().0;
    for h in 1..=top {
        let b = net.ledger_get(1, &format!("/v1/blocks/{h}")).await;
        let ts = b["header"]["timestamp"].as_u64().unwrap();
        assert!(ts <= now + 10_000, "block {h} is stamped {} ms ahead", ts - now);
    }
    net.stop_all();
    // `verify` re-checks every signature, nonce and root of every committed block.
    for i in 0..4 {
        net.verify(i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signature_and_replayed_nonce_are_rejected() {
    let invalid = "rejecting an invalid proposal";
    run_with("forge-signature", "forged the signature", invalid).await;
    run_with("replay-nonce", "replayed a committed transaction", invalid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_stamped_in_the_future_is_rejected() {
    run_with(
        "future-timestamp",
        "stamped a day ahead",
        "stamped too far in the future",
    )
    .await;
}
