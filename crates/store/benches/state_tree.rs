//! The authenticated state tree on the bench's workload shape (ADR 013): blocks of new and
//! rewritten keys over a growing state. Prints figures; never fails on a slow machine.
//!
//! `cargo bench -p medledger-store --bench state_tree [-- KEYS BLOCK]` (defaults: a state
//! of 1,000,000 keys, blocks of 15,000 writes: 5,000 transactions of three keys each).

use std::collections::BTreeMap;
use std::time::Instant;

use jmt::mock::MockTreeStore;
use jmt::{JellyfishMerkleTree, KeyHash};
use medledger_store::tree::{StateTree, value_hash};
use sha2::{Digest, Sha256};

fn key(i: u64) -> [u8; 32] {
    Sha256::digest(i.to_le_bytes()).into()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let keys = args.first().copied().unwrap_or(1_000_000);
    let block = args.get(1).copied().unwrap_or(15_000);
    let value = vec![0xA5u8; 120];

    // Building the tree from the stored state, as a node does at start.
    let rss0 = rss_mib();
    let mut entries: Vec<([u8; 32], [u8; 32])> = (0..keys).map(|i| (key(i), value_hash(&value))).collect();
    entries.sort_unstable();
    let t = Instant::now();
    let tree = StateTree::from_sorted(&entries);
    let build = t.elapsed();
    drop(entries);
    let rss1 = rss_mib();
    println!(
        "state tree: {keys} keys built in {:.0} ms ({:.2} µs/key), {:.0} MiB resident ({:.0} bytes/key)",
        build.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e6 / keys as f64,
        rss1 - rss0,
        (rss1 - rss0) * 1024.0 * 1024.0 / keys as f64
    );

    // Blocks: a third of the writes rewrite existing keys (nonces), two thirds are new.
    let mut tree = tree;
    let mut next = keys;
    let blocks = 10u64;
    let t = Instant::now();
    for b in 0..blocks {
        let mut ups: BTreeMap<[u8; 32], Option<[u8; 32]>> = BTreeMap::new();
        for j in 0..block {
            let k = if j % 3 == 0 {
                key((b * 7919 + j * 104_729) % keys)
            } else {
                next += 1;
                key(next)
            };
            ups.insert(k, Some(value_hash(&[b as u8, j as u8])));
        }
        let ups: Vec<_> = ups.into_iter().collect();
        tree = tree.apply(&ups);
    }
    let per_key = t.elapsed().as_secs_f64() * 1e6 / (blocks * block) as f64;
    println!(
        "state tree: {blocks} blocks of {block} writes: {:.0} ms per block, {per_key:.2} µs per write",
        t.elapsed().as_secs_f64() * 1e3 / blocks as f64
    );

    // The same blocks through jmt 0.12 on its in-memory store (no disk at all): the
    // tree work JMT does before anything is written to redb.
    let small = (keys / 10).max(block);
    let store = MockTreeStore::default();
    let jmt = JellyfishMerkleTree::<_, Sha256>::new(&store);
    let initial: Vec<(KeyHash, Option<Vec<u8>>)> = (0..small).map(|i| (KeyHash(key(i)), Some(value.clone()))).collect();
    let (_, batch) = jmt.put_value_set(initial, 0).expect("jmt");
    store.write_tree_update_batch(batch).expect("jmt");
    let t = Instant::now();
    let mut next = small;
    let mut nodes = 0usize;
    for b in 0..blocks {
        let mut ups: BTreeMap<[u8; 32], Option<Vec<u8>>> = BTreeMap::new();
        for j in 0..block {
            let k = if j % 3 == 0 {
                key((b * 7919 + j * 104_729) % small)
            } else {
                next += 1;
                key(next)
            };
            ups.insert(k, Some(vec![b as u8, j as u8]));
        }
        let (_, batch) = jmt
            .put_value_set(ups.into_iter().map(|(k, v)| (KeyHash(k), v)), b + 1)
            .expect("jmt");
        nodes += batch.node_batch.nodes().len() + batch.stale_node_index_batch.len();
        store.write_tree_update_batch(batch).expect("jmt");
    }
    println!(
        "jmt 0.12 in memory ({small} keys): {:.0} ms per block, {:.2} µs per write, {} nodes and stale entries per block to store",
        t.elapsed().as_secs_f64() * 1e3 / blocks as f64,
        t.elapsed().as_secs_f64() * 1e6 / (blocks * block) as f64,
        nodes as u64 / blocks
    );
}
