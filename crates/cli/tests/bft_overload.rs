//! Overload: four validators offered three times the rate they can commit, for 30 s.
//! Nothing crashes, every acknowledged transaction commits on every validator, what is
//! refused is refused with `429` and a `Retry-After`, memory stays bounded, and every
//! data folder verifies.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::net::{Net, register_member_tx};
use medledger_node::home::read_key;
use medledger_types::tx::encode_batch;
use medledger_types::{Hash32, SignedTx};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);
const BATCH: u64 = 50;

/// A small mempool, so that overload shows within seconds on a debug build.
fn small_mempool(home: &std::path::Path) {
    let path = home.join("config.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(config.contains("max_txs = 20000"), "{config}");
    let config = config
        .replace("max_txs = 20000", "max_txs = 2000")
        .replace("max_per_signer = 5000", "max_per_signer = 2000");
    std::fs::write(&path, config).unwrap();
}

#[derive(Default)]
struct Tally {
    /// (signer, transaction) in the order acknowledged.
    acked: Mutex<Vec<(usize, Hash32)>>,
    throttled: AtomicU64,
    /// Any answer other than success or 429, with its body.
    unexpected: Mutex<Vec<String>>,
}

/// One signer per organisation admin, each sending batches to its own validator at
/// `per_signer_rate` tx/s (wait for the commit when `wait`), until `until`. A `429` is
/// waited out and the refused part of the batch sent again.
async fn offer(net: &Net, per_signer_rate: f64, wait: bool, until: Instant, tally: Arc<Tally>, nonces: &mut [u64]) {
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let mut tasks = Vec::new();
    // The first organisations, one per signer (the supply chain's members sign nothing).
    for (i, org) in genesis.orgs.iter().enumerate().take(nonces.len()) {
        let key = read_key(&net.dir.join(format!("admins/{}.json", org.id))).unwrap();
        let (chain, org_id) = (genesis.chain_id.clone(), org.id.clone());
        let url = format!("{}/v1/txs?wait={wait}", net.urls[i % net.urls.len()]);
        let (http, tally) = (net.http.clone(), tally.clone());
        let mut nonce = nonces[i];
        let interval = Duration::from_secs_f64(BATCH as f64 / per_signer_rate);
        tasks.push(tokio::spawn(async move {
            let mut due = Instant::now();
            while Instant::now() < until {
                tokio::time::sleep_until(due.into()).await;
                due += interval;
                let txs: Vec<SignedTx> = (nonce..nonce + BATCH)
                    .map(|n| register_member_tx(&key, &chain, &org_id, "o", n))
                    .collect();
                let Ok(r) = http
                    .post(&url)
                    .header("content-type", "application/octet-stream")
                    .body(encode_batch(&txs))
                    .send()
                    .await
                else {
                    tally.unexpected.lock().unwrap().push("request failed".into());
                    return nonce;
                };
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let v: Value = r.json().await.unwrap_or(Value::Null);
                let mut busy = status == 429;
                if !busy && status >= 300 {
                    tally.unexpected.lock().unwrap().push(format!("{status}: {v}"));
                    return nonce;
                }
                // Accepted transactions advance the nonce; the first refused one is
                // where the next batch starts.
                for r in v["results"].as_array().into_iter().flatten() {
                    if let Some(h) = r["hash"].as_str().filter(|_| r["error"].is_null()) {
                        tally.acked.lock().unwrap().push((i, h.parse().unwrap()));
                        nonce += 1;
                    } else {
                        let reason = r["error"]["reason"].as_str().unwrap_or("");
                        if matches!(reason, "busy" | "mempool_full" | "signer_busy") {
                            busy = true;
                        } else {
                            tally.unexpected.lock().unwrap().push(format!("{status}: {r}"));
                            return nonce;
                        }
                        break;
                    }
                }
                if busy {
                    tally.throttled.fetch_add(1, Ordering::Relaxed);
                    let secs = retry_after.expect("a refusal for load says when to retry");
                    assert!((1..=30).contains(&secs), "Retry-After {secs}");
                    due = Instant::now() + Duration::from_secs(secs);
                }
            }
            nonce
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        nonces[i] = t.await.unwrap();
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_times_the_saturating_rate_for_30_s_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    for home in &net.homes {
        small_mempool(home);
    }
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 2, T).await;
    }
    let signers = 4;
    let mut nonces = vec![0u64; signers];

    // What the network commits when each signer waits for its batches: the saturating
    // rate of this build on this machine.
    let calibrate = Arc::new(Tally::default());
    let t0 = Instant::now();
    offer(
        &net,
        1e6,
        true,
        t0 + Duration::from_secs(5),
        calibrate.clone(),
        &mut nonces,
    )
    .await;
    let saturating = calibrate.acked.lock().unwrap().len() as f64 / t0.elapsed().as_secs_f64();
    assert!(
        calibrate.unexpected.lock().unwrap().is_empty(),
        "{:?}",
        calibrate.unexpected
    );
    assert!(saturating > 0.0);

    // Three times that, not waiting for commits, for 30 s.
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    offer(
        &net,
        3.0 * saturating / signers as f64,
        false,
        start + Duration::from_secs(30),
        tally.clone(),
        &mut nonces,
    )
    .await;
    let unexpected = tally.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers other than success or 429: {unexpected:?}"
    );
    let throttled = tally.throttled.load(Ordering::Relaxed);
    assert!(
        throttled > 0,
        "three times the saturating rate ({saturating:.0} tx/s) was never refused"
    );

    eprintln!(
        "overload: saturating {saturating:.0} tx/s, offered {:.0} tx/s for 30 s: {} acknowledged, {throttled} requests answered 429",
        3.0 * saturating,
        tally.acked.lock().unwrap().len()
    );

    // Nothing crashed, and memory stayed bounded.
    for i in 0..4 {
        let pid = net.pid(i).unwrap_or_else(|| panic!("node{i} died under overload"));
        let rss = peak_rss_mib(pid);
        assert!(rss < 1024.0, "node{i} peaked at {rss:.0} MiB");
    }

    // Every acknowledged transaction commits everywhere once the load stops. Each
    // signer's nonces are consecutive, so its last acknowledged transaction committing
    // means all of its earlier ones did; a sample is also looked up one by one.
    let mut acked = calibrate.acked.lock().unwrap().clone();
    acked.extend(tally.acked.lock().unwrap().iter().copied());
    let mut check: Vec<Hash32> = (0..signers)
        .filter_map(|s| acked.iter().rev().find(|(x, _)| *x == s).map(|(_, h)| *h))
        .collect();
    check.extend(acked.iter().step_by((acked.len() / 200).max(1)).map(|(_, h)| *h));
    let last = acked.last().unwrap().1;
    common::eventually("the last acknowledged transaction commits", T, async || {
        net.ledger_get(3, &format!("/v1/tx/{last}")).await["status"] == "committed"
    })
    .await;
    for &h in &check {
        common::eventually("every acknowledged transaction commits", T, async || {
            net.ledger_get(0, &format!("/v1/tx/{h}")).await["status"] == "committed"
        })
        .await;
    }
    let top = net.height(0).await.unwrap();
    for i in 0..4 {
        net.wait_height(i, top, T).await;
    }
    net.assert_all_committed(&[0, 1, 2, 3], &check).await;
    net.assert_same_chain(&[0, 1, 2, 3], top).await;

    net.stop_all();
    for i in 0..4 {
        net.verify(i);
    }
}
