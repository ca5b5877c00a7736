//! Compact proposals (ADR 013), on four validator processes: a proposal names by hash the
//! transactions every validator holds, and a validator that lacks some asks the
//! proposer for them.
//!
//! node3 ignores every transaction the others gossip (a test mode), so it holds none of
//! them: the proposals of node1 and node2, which name node0's clients' transactions by
//! hash (they got them from node0's gossip), make it ask; the proposer sends them; node3
//! checks the blocks itself and commits the same chain. node0, whose batches node3 never
//! acknowledges, carries its own clients' transactions in full.

mod common;

use std::time::{Duration, Instant};

use common::net::Net;

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_lacking_named_transactions_gets_them_from_the_proposer() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    for i in 0..3 {
        net.start(i, &[]);
    }
    net.start(3, &[("MEDLEDGER_TEST_DROP_GOSSIP", "1")]);
    for i in 0..4 {
        net.wait_height(i, 2, T).await;
    }

    // Batches sent to node0 one after the other, each committed before the next, until
    // node1 or node2 has proposed some of them by hash (node3 asked for them and got
    // them) and node0 some in full (the proposer rotates with each height).
    let deadline = Instant::now() + T;
    let mut sent = Vec::new();
    let mut nonce = 0;
    while net.metric(3, "proposal_txs_filled_total").await == 0
        || net.metric(0, "proposal_txs_carried_total").await == 0
    {
        assert!(
            Instant::now() < deadline,
            "node3 never got a proposal's transactions from its proposer, or node0 never proposed"
        );
        let batch = net.send_replicated(0, nonce, 10).await;
        nonce += 10;
        for tx in &batch {
            common::eventually("the batch commits on node3", T, async || {
                net.tx_status(3, tx).await == "committed"
            })
            .await;
        }
        sent.extend(batch);
    }
    assert_eq!(
        net.metric(3, "txs_gossip_received_total").await,
        0,
        "node3 held gossiped transactions"
    );
    let named = net.metric(1, "proposal_txs_named_total").await + net.metric(2, "proposal_txs_named_total").await;
    assert!(named > 0, "node1 and node2 never named a transaction by hash");
    assert!(net.metric(3, "proposal_txs_wanted_total").await > 0);

    let top = net.height(0).await.unwrap();
    for i in 1..4 {
        net.wait_height(i, top, T).await;
    }
    net.assert_all_committed(&[0, 1, 2, 3], &sent).await;
    net.assert_same_chain(&[0, 1, 2, 3], top).await;
    net.stop_all();
    for i in 0..4 {
        net.verify(i);
    }
}
