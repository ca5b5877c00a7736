//! Known-answer tests against the published RFC 6962 / transparency-dev reference vectors
//! (tests/vectors/merkle_rfc6962.json), plus the exact error behaviour at the edges.

mod common;

use std::collections::{BTreeSet, HashMap};

use medledger_merkle::{
    ConsistencyProof, InclusionProof, MemoryLog, MerkleError, NodeSource, VerifyError, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, root_at, root_of,
};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{Hash32, LeafIndex, TreeSize};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    leaves: Vec<String>,
    roots: Vec<Hash32>,
    node_hashes: Vec<Vec<Hash32>>,
    inclusion: Vec<InclusionProof>,
    consistency: Vec<ConsistencyProof>,
}

const VECTORS: &str = include_str!("../../../tests/vectors/merkle_rfc6962.json");

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).expect("vector file parses")
}

fn leaf_data(v: &Vectors) -> Vec<Vec<u8>> {
    v.leaves.iter().map(|l| hex::decode(l).unwrap()).collect()
}

fn reference_log(v: &Vectors) -> MemoryLog {
    let mut log = MemoryLog::new();
    for d in leaf_data(v) {
        log.push(leaf_hash(&d));
    }
    log
}

fn h(s: &str) -> Hash32 {
    s.parse().unwrap()
}

#[test]
fn vectors_pin_the_well_known_values() {
    // Guard against the vector file itself being edited: these are quoted in RFC 9162
    // tooling everywhere and must never change.
    let v = vectors();
    assert_eq!(v.leaves.len(), 8);
    assert_eq!(
        v.roots[0],
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        v.roots[1],
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    assert_eq!(
        v.roots[8],
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    );
    assert_eq!(empty_root(), v.roots[0]);
}

#[test]
fn roots_for_every_size_match_published_values() {
    let v = vectors();
    let data = leaf_data(&v);
    let hashes: Vec<Hash32> = data.iter().map(|d| leaf_hash(d)).collect();
    let full = reference_log(&v);
    let mut growing = MemoryLog::new();
    for n in 0..=8usize {
        let want = v.roots[n];
        assert_eq!(root_of(&hashes[..n]), want, "root_of, size {n}");
        assert_eq!(root_at(&full, TreeSize(n as u64)).unwrap(), want, "root_at, size {n}");
        assert_eq!(growing.root(), want, "MemoryLog::root, size {n}");
        assert_eq!(common::ref_mth(&hashes[..n]), want, "reference MTH, size {n}");
        if n < 8 {
            growing.push(hashes[n]);
        }
    }
}

#[test]
fn stored_nodes_are_exactly_the_published_full_subtrees() {
    let v = vectors();
    let mut log = MemoryLog::new();
    let mut written = BTreeSet::new();
    for d in leaf_data(&v) {
        for node in log.push(leaf_hash(&d)) {
            assert!(written.insert(node), "node {node:?} reported twice");
        }
    }
    let mut published = BTreeSet::new();
    for (level, row) in v.node_hashes.iter().enumerate() {
        for (index, hash) in row.iter().enumerate() {
            assert_eq!(log.node(level as u8, index as u64), Some(*hash));
            published.insert((level as u8, index as u64, *hash));
        }
    }
    assert_eq!(written, published);
    assert_eq!(log.node(4, 0), None);
}

#[test]
fn inclusion_vectors_are_generated_and_verify() {
    let v = vectors();
    let data = leaf_data(&v);
    let log = reference_log(&v);
    for want in &v.inclusion {
        let got = inclusion_proof(&log, want.leaf_index, want.tree_size).unwrap();
        assert_eq!(&got, want);
        let leaf = leaf_hash(&data[want.leaf_index.0 as usize]);
        want.verify(&leaf, &v.roots[want.tree_size.0 as usize]).unwrap();
    }
}

#[test]
fn consistency_vectors_are_generated_and_verify() {
    let v = vectors();
    let log = reference_log(&v);
    for want in &v.consistency {
        let got = consistency_proof(&log, want.first, want.second).unwrap();
        assert_eq!(&got, want);
        want.verify(&v.roots[want.first.0 as usize], &v.roots[want.second.0 as usize])
            .unwrap();
    }
}

#[test]
fn every_proof_in_the_reference_tree_verifies() {
    let v = vectors();
    let data = leaf_data(&v);
    let log = reference_log(&v);
    for n in 1..=8u64 {
        for m in 0..n {
            let p = inclusion_proof(&log, LeafIndex(m), TreeSize(n)).unwrap();
            p.verify(&leaf_hash(&data[m as usize]), &v.roots[n as usize]).unwrap();
        }
        for m in 1..=n {
            let p = consistency_proof(&log, TreeSize(m), TreeSize(n)).unwrap();
            p.verify(&v.roots[m as usize], &v.roots[n as usize]).unwrap();
        }
    }
    // A consistency proof from 3 to 8 (not published by transparency-dev, but fully
    // determined by the published node hashes: [node(0,2), node(0,3), node(1,0), node(2,1)]).
    let p = consistency_proof(&log, TreeSize(3), TreeSize(8)).unwrap();
    let nh = &v.node_hashes;
    assert_eq!(p.path, vec![nh[0][2], nh[0][3], nh[1][0], nh[2][1]]);
}

#[test]
fn generation_errors() {
    let v = vectors();
    let log = reference_log(&v);
    assert_eq!(
        inclusion_proof(&log, LeafIndex(0), TreeSize(0)),
        Err(MerkleError::IndexOutOfRange {
            index: LeafIndex(0),
            size: TreeSize(0)
        })
    );
    assert_eq!(
        inclusion_proof(&log, LeafIndex(5), TreeSize(5)),
        Err(MerkleError::IndexOutOfRange {
            index: LeafIndex(5),
            size: TreeSize(5)
        })
    );
    let too_big = MerkleError::SizeOutOfRange {
        requested: TreeSize(9),
        available: TreeSize(8),
    };
    assert_eq!(inclusion_proof(&log, LeafIndex(0), TreeSize(9)).unwrap_err(), too_big);
    assert_eq!(root_at(&log, TreeSize(9)).unwrap_err(), too_big);
    assert_eq!(consistency_proof(&log, TreeSize(2), TreeSize(9)).unwrap_err(), too_big);
    for (first, second) in [(0, 0), (0, 5), (6, 5)] {
        assert_eq!(
            consistency_proof(&log, TreeSize(first), TreeSize(second)),
            Err(MerkleError::InvalidRange {
                first: TreeSize(first),
                second: TreeSize(second)
            })
        );
    }
    assert_eq!(root_at(&MemoryLog::new(), TreeSize(0)), Ok(empty_root()));
}

/// A source that does not know its size and may lack nodes, like a damaged store.
struct Sparse(HashMap<(u8, u64), Hash32>);

impl NodeSource for Sparse {
    fn node(&self, level: u8, index: u64) -> Option<Hash32> {
        self.0.get(&(level, index)).copied()
    }
}

#[test]
fn sources_without_a_size_report_missing_nodes() {
    let v = vectors();
    let mut nodes = HashMap::new();
    for (level, row) in v.node_hashes.iter().enumerate() {
        for (index, hash) in row.iter().enumerate() {
            nodes.insert((level as u8, index as u64), *hash);
        }
    }
    let mut src = Sparse(nodes);
    // Complete: identical results through the trait object.
    let dyn_src: &dyn NodeSource = &src;
    assert_eq!(root_at(dyn_src, TreeSize(7)).unwrap(), v.roots[7]);
    // Beyond the end: the probe of the last leaf fails.
    assert_eq!(
        root_at(&src, TreeSize(9)),
        Err(MerkleError::MissingNode { level: 0, index: 8 })
    );
    // A lost interior node is reported precisely.
    src.0.remove(&(2, 0));
    assert_eq!(
        root_at(&src, TreeSize(6)),
        Err(MerkleError::MissingNode { level: 2, index: 0 })
    );
    assert_eq!(
        inclusion_proof(&src, LeafIndex(7), TreeSize(8)),
        Err(MerkleError::MissingNode { level: 2, index: 0 })
    );
    // Proofs that do not need it still work.
    assert_eq!(root_at(&src, TreeSize(8)).unwrap(), v.roots[8]);
}

#[test]
fn verification_edge_cases() {
    let v = vectors();
    let r = &v.roots;
    let leaf0 = leaf_hash(b"");
    // Inclusion in the empty tree, or beyond the end, never verifies.
    let p = InclusionProof {
        leaf_index: LeafIndex(0),
        tree_size: TreeSize(0),
        path: vec![],
    };
    assert!(matches!(
        p.verify(&leaf0, &r[0]),
        Err(VerifyError::IndexOutOfRange { .. })
    ));
    let p = InclusionProof {
        leaf_index: LeafIndex(u64::MAX),
        tree_size: TreeSize(u64::MAX),
        path: vec![r[1]; 64],
    };
    assert!(matches!(
        p.verify(&leaf0, &r[8]),
        Err(VerifyError::IndexOutOfRange { .. })
    ));
    // Size 1: the leaf is the root and the path is empty.
    let p = InclusionProof {
        leaf_index: LeafIndex(0),
        tree_size: TreeSize(1),
        path: vec![],
    };
    p.verify(&leaf0, &r[1]).unwrap();
    assert_eq!(p.verify(&leaf0, &r[2]), Err(VerifyError::RootMismatch));
    let mut long = p.clone();
    long.path.push(r[1]);
    assert_eq!(
        long.verify(&leaf0, &r[1]),
        Err(VerifyError::WrongPathLength { expected: 0, got: 1 })
    );

    // Consistency: equal sizes need an empty path and equal roots.
    let same = ConsistencyProof {
        first: TreeSize(5),
        second: TreeSize(5),
        path: vec![],
    };
    same.verify(&r[5], &r[5]).unwrap();
    assert_eq!(same.verify(&r[5], &r[6]), Err(VerifyError::RootMismatch));
    let mut padded = same.clone();
    padded.path.push(r[5]);
    assert!(matches!(
        padded.verify(&r[5], &r[5]),
        Err(VerifyError::WrongPathLength { .. })
    ));
    // From the empty tree, or backwards: invalid sizes.
    for (first, second) in [(0, 0), (0, 8), (8, 7)] {
        let p = ConsistencyProof {
            first: TreeSize(first),
            second: TreeSize(second),
            path: vec![],
        };
        assert!(matches!(p.verify(&r[0], &r[8]), Err(VerifyError::InvalidSizes { .. })));
    }
    // Swapped roots fail.
    let log = reference_log(&v);
    let p = consistency_proof(&log, TreeSize(3), TreeSize(7)).unwrap();
    p.verify(&r[3], &r[7]).unwrap();
    assert_eq!(p.verify(&r[7], &r[3]), Err(VerifyError::RootMismatch));
}

/// RFC 9162 binds a root to its tree size only through the signed tree head, not through
/// the proof: a proof for (leaf 0, size 3) also checks out as (leaf 0, size 4) against
/// the *size-3 root*, because both sizes give leaf 0 the same path shape. ct-merkle
/// behaves identically. Callers must always take tree_size from a verified tree head.
#[test]
fn path_shape_aliasing_is_as_in_the_rfc() {
    let v = vectors();
    let data = leaf_data(&v);
    let log = reference_log(&v);
    let mut p = inclusion_proof(&log, LeafIndex(0), TreeSize(3)).unwrap();
    p.tree_size = TreeSize(4);
    let leaf = leaf_hash(&data[0]);
    assert_eq!(p.verify(&leaf, &v.roots[3]), Ok(()));
    assert_eq!(common::ct_accepts_inclusion(&p, &data[0], &v.roots[3]), Some(true));
    // …but never against the real size-4 root.
    assert_eq!(p.verify(&leaf, &v.roots[4]), Err(VerifyError::RootMismatch));
}

#[test]
fn wire_encoding_is_pinned() {
    let v = vectors();
    let p = &v.inclusion[6]; // leaf 5 of 8
    let mut want = String::new();
    want.push_str("0500000000000000"); // leaf_index, u64 LE
    want.push_str("0800000000000000"); // tree_size, u64 LE
    want.push_str("03000000"); // path count, u32 LE
    for hash in &p.path {
        want.push_str(&hash.to_hex());
    }
    let bytes = p.encode();
    assert_eq!(hex::encode(&bytes), want);
    assert_eq!(InclusionProof::decode(&bytes).unwrap(), *p);

    let c = &v.consistency[0]; // 1 -> 1, empty
    assert_eq!(hex::encode(c.encode()), "0100000000000000010000000000000000000000");
    assert_eq!(ConsistencyProof::decode(&c.encode()).unwrap(), *c);

    // JSON form: sizes as numbers, hashes as lowercase hex.
    let json = serde_json::to_value(&v.consistency[2]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "first": 2,
            "second": 5,
            "path": [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
            ]
        })
    );
}
