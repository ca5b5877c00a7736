//! Throughput and latency of the log on a 1,000,000-leaf `MemoryLog`.
//!
//! `cargo bench -p medledger-merkle` runs the full measurement (release profile). Under
//! `cargo test --benches` (no `--bench` flag) it runs a small smoke version instead.
//! It only prints figures: it never fails on a slow machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use medledger_merkle::{MemoryLog, consistency_proof, inclusion_proof, leaf_hash, root_at, root_of};
use medledger_types::{LeafIndex, TreeSize};

/// splitmix64: a deterministic, dependency-free source of indices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `[lo, hi]` for benchmarking.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn us_per_op(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / ops as f64
}

fn report(name: &str, elapsed: Duration, ops: u64, leaves: u64, target_us: Option<f64>) {
    let per = us_per_op(elapsed, ops);
    let verdict = match target_us {
        Some(t) if per < t => format!("  [target < {t} µs: met]"),
        Some(t) => format!("  [target < {t} µs: MISSED]"),
        None => String::new(),
    };
    println!(
        "{name:<28} {per:>9.3} µs/op over {ops} ops ({leaves} leaves){verdict}",
        leaves = group(leaves)
    );
}

/// 1000000 -> "1_000_000".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (leaves, ops) = if full {
        (1_000_000u64, 100_000u64)
    } else {
        (10_000, 1_000)
    };
    if full {
        println!(
            "medledger-merkle bench: {} leaves, {} ops per figure",
            group(leaves),
            group(ops)
        );
    } else {
        println!("medledger-merkle bench smoke run (no --bench flag): figures are not meaningful");
    }

    // Leaf hashing and appends.
    let data: Vec<[u8; 45]> = (0..leaves)
        .map(|i| {
            let mut d = [0u8; 45];
            d[..8].copy_from_slice(&i.to_le_bytes());
            d
        })
        .collect();
    let t = Instant::now();
    let hashes: Vec<_> = data.iter().map(|d| leaf_hash(d)).collect();
    let hash_time = t.elapsed();
    drop(data);

    let mut log = MemoryLog::new();
    let mut written = 0usize;
    let t = Instant::now();
    for h in &hashes {
        written += black_box(log.push(*h)).len();
    }
    let append_time = t.elapsed();
    println!(
        "{:<28} {:>9.0} leaves/s ({} leaves in {:.3} s; {} nodes reported for storage)",
        "append (MemoryLog::push)",
        leaves as f64 / append_time.as_secs_f64(),
        group(leaves),
        append_time.as_secs_f64(),
        group(written as u64)
    );
    println!(
        "{:<28} {:>9.0} leaves/s (45-byte leaves)",
        "leaf_hash",
        leaves as f64 / hash_time.as_secs_f64()
    );

    let size = log.size();
    let mut rng = Rng(0x5EED);

    // Roots.
    let t = Instant::now();
    for _ in 0..ops {
        black_box(log.root());
    }
    report("root (current size)", t.elapsed(), ops, leaves, None);
    let t = Instant::now();
    for _ in 0..ops {
        let s = rng.range(1, leaves);
        black_box(root_at(&log, TreeSize(s)).ok());
    }
    report("root_at (random size)", t.elapsed(), ops, leaves, None);

    // Inclusion proofs at the current size, random leaves.
    let indices: Vec<u64> = (0..ops).map(|_| rng.range(0, leaves - 1)).collect();
    let t = Instant::now();
    for &i in &indices {
        black_box(inclusion_proof(&log, LeafIndex(i), size).ok());
    }
    report("inclusion_proof gen", t.elapsed(), ops, leaves, Some(100.0));

    let sample = 10_000.min(ops as usize);
    let proofs: Vec<_> = indices[..sample]
        .iter()
        .filter_map(|&i| inclusion_proof(&log, LeafIndex(i), size).ok())
        .collect();
    let root = log.root();
    let mut failures = 0u64;
    let t = Instant::now();
    for k in 0..ops as usize {
        let p = &proofs[k % proofs.len()];
        let leaf = &hashes[p.leaf_index.0 as usize];
        failures += u64::from(black_box(p.verify(leaf, &root)).is_err());
    }
    report("inclusion_proof verify", t.elapsed(), ops, leaves, Some(20.0));

    // Consistency proofs from a random earlier size to the current one, and between two
    // random sizes.
    let firsts: Vec<u64> = (0..ops).map(|_| rng.range(1, leaves)).collect();
    let t = Instant::now();
    for &m in &firsts {
        black_box(consistency_proof(&log, TreeSize(m), size).ok());
    }
    report("consistency_proof gen", t.elapsed(), ops, leaves, None);
    let pairs: Vec<(u64, u64)> = (0..ops)
        .map(|_| {
            let n = rng.range(1, leaves);
            (rng.range(1, n), n)
        })
        .collect();
    let t = Instant::now();
    for &(m, n) in &pairs {
        black_box(consistency_proof(&log, TreeSize(m), TreeSize(n)).ok());
    }
    report("consistency_proof gen (any)", t.elapsed(), ops, leaves, None);

    let cons: Vec<_> = firsts[..sample]
        .iter()
        .filter_map(|&m| {
            let p = consistency_proof(&log, TreeSize(m), size).ok()?;
            let r1 = root_at(&log, TreeSize(m)).ok()?;
            Some((p, r1))
        })
        .collect();
    let t = Instant::now();
    for k in 0..ops as usize {
        let (p, r1) = &cons[k % cons.len()];
        failures += u64::from(black_box(p.verify(r1, &root)).is_err());
    }
    report("consistency_proof verify", t.elapsed(), ops, leaves, None);

    // A block's transaction root over 1,000 leaf hashes.
    let block = &hashes[..1000.min(hashes.len())];
    let reps = if full { 2_000 } else { 50 };
    let t = Instant::now();
    for _ in 0..reps {
        black_box(root_of(black_box(block)));
    }
    report("root_of (tx_root)", t.elapsed(), reps, block.len() as u64, None);

    // Reload from stored nodes.
    let mut stored = Vec::with_capacity(written);
    let mut scratch = MemoryLog::new();
    for h in &hashes {
        stored.extend(scratch.push(*h));
    }
    drop(scratch);
    let t = Instant::now();
    let mut reloaded = MemoryLog::new();
    for &(level, index, hash) in &stored {
        failures += u64::from(reloaded.insert_node(level, index, hash).is_err());
    }
    let reload_time = t.elapsed();
    println!(
        "{:<28} {:>9.0} nodes/s ({} nodes in {:.3} s)",
        "reload (insert_node)",
        stored.len() as f64 / reload_time.as_secs_f64(),
        group(stored.len() as u64),
        reload_time.as_secs_f64()
    );
    if reloaded.root() != root {
        failures += 1;
    }

    if failures != 0 {
        println!("WARNING: {failures} verifications or inserts failed during the bench");
    }
}
