//! Shared test helpers: leaf generation, an independent straight-from-the-RFC reference
//! implementation, and adapters to ct-merkle (a second independent implementation).
#![allow(dead_code)]

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof as CtConsistency, InclusionProof as CtInclusion, RootHash};
use medledger_merkle::{ConsistencyProof, InclusionProof, MemoryLog, leaf_hash, node_hash};
use medledger_types::Hash32;
use proptest::prelude::*;
use sha2_011::Sha256;

pub type CtTree = MemoryBackedTree<Sha256, Vec<u8>>;

/// `count` leaves of random data, made pairwise distinct by a prefix of their index (so
/// no two leaf hashes collide and no tampered proof can verify "by coincidence").
pub fn distinct_leaves(count: impl Into<proptest::sample::SizeRange>) -> BoxedStrategy<Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), count)
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, mut data)| {
                    let mut leaf = (i as u64).to_le_bytes().to_vec();
                    leaf.append(&mut data);
                    leaf
                })
                .collect()
        })
        .boxed()
}

pub fn hashes_of(leaves: &[Vec<u8>]) -> Vec<Hash32> {
    leaves.iter().map(|l| leaf_hash(l)).collect()
}

pub fn log_of(hashes: &[Hash32]) -> MemoryLog {
    let mut log = MemoryLog::new();
    for h in hashes {
        log.push(*h);
    }
    log
}

pub fn ct_tree_of(leaves: &[Vec<u8>]) -> CtTree {
    let mut t = CtTree::new();
    for l in leaves {
        t.push(l.clone());
    }
    t
}

pub fn ct_root(root: &Hash32, size: u64) -> RootHash<Sha256> {
    RootHash::new(root.0.into(), size)
}

pub fn path_bytes(path: &[Hash32]) -> Vec<u8> {
    path.iter().flat_map(|h| h.0).collect()
}

/// Does ct-merkle accept our inclusion proof for `leaf_data`? `None` if ct-merkle cannot
/// even be asked (it panics on indices beyond the tree and on empty trees).
pub fn ct_accepts_inclusion(p: &InclusionProof, leaf_data: &[u8], root: &Hash32) -> Option<bool> {
    if p.tree_size.0 == 0 || p.leaf_index.0 >= p.tree_size.0 {
        return None;
    }
    let proof = CtInclusion::<Sha256>::try_from_bytes(path_bytes(&p.path)).ok()?;
    Some(
        ct_root(root, p.tree_size.0)
            .verify_inclusion(&leaf_data, p.leaf_index.0, &proof)
            .is_ok(),
    )
}

/// Does ct-merkle accept our consistency proof? `None` if it cannot be asked.
pub fn ct_accepts_consistency(p: &ConsistencyProof, first_root: &Hash32, second_root: &Hash32) -> Option<bool> {
    if p.first.0 == 0 || p.first.0 > p.second.0 {
        return None;
    }
    let proof = CtConsistency::<Sha256>::try_from_bytes(path_bytes(&p.path)).ok()?;
    Some(
        ct_root(second_root, p.second.0)
            .verify_consistency(&ct_root(first_root, p.first.0), &proof)
            .is_ok(),
    )
}

// ---- RFC 9162 §2.1 transcribed literally (recursive, O(n) per call) ----

/// The largest power of two smaller than `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// §2.1.1 MTH over leaf hashes.
pub fn ref_mth(d: &[Hash32]) -> Hash32 {
    match d.len() {
        0 => medledger_merkle::empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
        }
    }
}

/// §2.1.3.1 PATH(m, D[n]).
pub fn ref_path(m: usize, d: &[Hash32]) -> Vec<Hash32> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = ref_path(m, &d[..k]);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &d[k..]);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// §2.1.4.1 SUBPROOF(m, D[n], b); PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
pub fn ref_subproof(m: usize, d: &[Hash32], b: bool) -> Vec<Hash32> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![ref_mth(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = ref_subproof(m, &d[..k], b);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &d[k..], false);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// Flips one bit of one path hash.
pub fn flip(path: &mut [Hash32], elem: usize, byte: usize, bit: u8) {
    path[elem].0[byte] ^= 1 << bit;
}
