//! Transaction gossip between validators (ADR 013), on four validator processes.
//!
//! - A validator that was down receives, when it comes back, the transactions it missed:
//!   the three others censor (propose no transaction), so only it can get them into a
//!   block, and it can only have them through gossip sent again.
//! - A transaction acknowledged by a validator that is killed right after (and never
//!   proposed it) is committed by the others: the answer came only once another
//!   validator held it.

mod common;

use std::time::Duration;

use common::net::Net;

const T: Duration = Duration::from_secs(120);
const CENSOR: &[(&str, &str)] = &[("MEDLEDGER_TEST_BYZANTINE_PROPOSER", "censor")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_a_validator_that_was_down_and_outlives_the_validator_that_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    // Three censoring validators: a quorum that commits only empty blocks of its own.
    for i in 0..3 {
        net.start(i, CENSOR);
    }
    for i in 0..3 {
        net.wait_height(i, 2, T).await;
    }

    // Sent while node3 is down: held by the three, in no block.
    let missed = net.send_replicated(0, 0, 20).await;
    let h = net.height(0).await.unwrap();
    net.wait_height(0, h + 3, T).await;
    for tx in &missed {
        assert_eq!(net.tx_status(0, tx).await, "pending");
    }

    // node3 comes back: node0 sends the batch again until node3 holds it, and node3, the
    // only validator that proposes transactions, puts them in a block.
    net.start(3, &[]);
    for tx in &missed {
        common::eventually("the missed transactions commit", T, async || {
            net.tx_status(1, tx).await == "committed"
        })
        .await;
    }
    assert!(
        net.metric(3, "txs_gossip_received_total").await >= missed.len() as u64,
        "node3 did not get the transactions through gossip"
    );
    assert!(net.metric(0, "gossip_batches_resent_total").await > 0);

    // node1 and node2 propose again; node0 still censors. A transaction it acknowledges
    // is held elsewhere before the answer, so killing node0 right after loses nothing.
    for i in [1, 2] {
        net.stop(i);
        net.start(i, &[]);
    }
    let top = net.height(0).await.unwrap();
    for i in [1, 2] {
        net.wait_height(i, top, T).await;
    }
    let acked = net.send_replicated(0, 20, 10).await;
    net.kill(0);
    for tx in &acked {
        common::eventually(
            "transactions acknowledged by the killed validator commit",
            T,
            async || net.tx_status(1, tx).await == "committed",
        )
        .await;
    }
    let top = net.height(1).await.unwrap();
    for i in [2, 3] {
        net.wait_height(i, top, T).await;
    }
    net.assert_all_committed(&[1, 2, 3], &acked).await;
    net.assert_same_chain(&[1, 2, 3], top).await;
    // Restarted, the killed validator catches up to the same chain.
    net.start(0, &[]);
    net.wait_height(0, top, T).await;
    net.assert_same_chain(&[0, 1, 2, 3], top).await;
    net.stop_all();
    for i in 0..4 {
        net.verify(i);
    }
}
