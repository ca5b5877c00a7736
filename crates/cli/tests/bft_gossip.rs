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

use common::net::{Net, register_member_tx};
use medledger_node::home::read_key;
use medledger_types::tx::encode_batch;
use medledger_types::{Hash32, SignedTx};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);
const CENSOR: &[(&str, &str)] = &[("MEDLEDGER_TEST_BYZANTINE_PROPOSER", "censor")];

/// Sends `n` register-member transactions of the first organisation's admin, from
/// `nonce`, to validator `i` without waiting for the commit; returns their hashes once
/// the validator says each is held by another validator.
async fn send_replicated(net: &Net, i: usize, nonce: u64, n: u64) -> Vec<Hash32> {
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let org = &genesis.orgs[0];
    let key = read_key(&net.dir.join(format!("admins/{}.json", org.id))).unwrap();
    let txs: Vec<SignedTx> = (nonce..nonce + n)
        .map(|k| register_member_tx(&key, &genesis.chain_id, &org.id, "g", k))
        .collect();
    let v: Value = net
        .http
        .post(format!("{}/v1/txs?wait=false", net.urls[i]))
        .header("content-type", "application/octet-stream")
        .body(encode_batch(&txs))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = v["results"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(results.len() as u64, n, "{v}");
    results
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "pending", "{r}");
            assert_eq!(r["replicated"], true, "not held by another validator: {r}");
            r["hash"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

async fn status_of(net: &Net, i: usize, h: &Hash32) -> Value {
    net.ledger_get(i, &format!("/v1/tx/{h}")).await["status"].clone()
}

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
    let missed = send_replicated(&net, 0, 0, 20).await;
    let h = net.height(0).await.unwrap();
    net.wait_height(0, h + 3, T).await;
    for tx in &missed {
        assert_eq!(status_of(&net, 0, tx).await, "pending");
    }

    // node3 comes back: node0 sends the batch again until node3 holds it, and node3, the
    // only validator that proposes transactions, puts them in a block.
    net.start(3, &[]);
    for tx in &missed {
        common::eventually("the missed transactions commit", T, async || {
            status_of(&net, 1, tx).await == "committed"
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
    let acked = send_replicated(&net, 0, 20, 10).await;
    net.kill(0);
    for tx in &acked {
        common::eventually(
            "transactions acknowledged by the killed validator commit",
            T,
            async || status_of(&net, 1, tx).await == "committed",
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
