//! Property tests: every root and proof the API hands out agrees with two independent
//! RFC 9162 implementations — ct-merkle 0.3 (a separate crate) and a literal transcription
//! of the RFC's recursive definitions (tests/common) — and reloading a log from its
//! stored nodes changes nothing.

mod common;

use common::*;
use medledger_merkle::{MemoryLog, NodeSource, consistency_proof, inclusion_proof, root_at, root_of};
use medledger_types::{LeafIndex, TreeSize};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Roots at every size: ours (three ways) = ct-merkle's = the literal RFC MTH.
    #[test]
    fn roots_agree_with_independent_implementations(leaves in distinct_leaves(1..=300)) {
        let hashes = hashes_of(&leaves);
        let mut log = MemoryLog::new();
        let mut ct = CtTree::new();
        for (i, (data, hash)) in leaves.iter().zip(&hashes).enumerate() {
            log.push(*hash);
            ct.push(data.clone());
            let n = i + 1;
            let root = log.root();
            prop_assert_eq!(log.size(), TreeSize(n as u64));
            let ct_root = ct.root();
            prop_assert_eq!(&root.0[..], ct_root.as_bytes().as_slice(), "size {}", n);
            prop_assert_eq!(root, root_of(&hashes[..n]));
            prop_assert_eq!(root, ref_mth(&hashes[..n]));
        }
        // And root_at for every earlier size, from the final log's nodes.
        for n in 0..=hashes.len() {
            prop_assert_eq!(root_at(&log, TreeSize(n as u64)).unwrap(), root_of(&hashes[..n]));
        }
    }

    /// At the current size, every inclusion and consistency proof is byte-identical to
    /// ct-merkle's and to the RFC's PATH / PROOF, and verifies with both verifiers.
    #[test]
    fn proofs_at_current_size_match_ct_merkle(leaves in distinct_leaves(1..=300)) {
        let hashes = hashes_of(&leaves);
        let log = log_of(&hashes);
        let ct = ct_tree_of(&leaves);
        let n = hashes.len() as u64;
        let root = log.root();
        for m in 0..n {
            let p = inclusion_proof(&log, LeafIndex(m), TreeSize(n)).unwrap();
            prop_assert_eq!(path_bytes(&p.path), ct.prove_inclusion(m as usize).as_bytes().to_vec());
            prop_assert_eq!(&p.path, &ref_path(m as usize, &hashes));
            prop_assert_eq!(p.verify(&hashes[m as usize], &root), Ok(()));
            prop_assert_eq!(ct_accepts_inclusion(&p, &leaves[m as usize], &root), Some(true));
        }
        for first in 1..=n {
            let p = consistency_proof(&log, TreeSize(first), TreeSize(n)).unwrap();
            let ct_proof = ct.prove_consistency((n - first) as usize);
            prop_assert_eq!(path_bytes(&p.path), ct_proof.as_bytes().to_vec(), "{} -> {}", first, n);
            prop_assert_eq!(&p.path, &ref_subproof(first as usize, &hashes, true));
            let first_root = root_of(&hashes[..first as usize]);
            prop_assert_eq!(p.verify(&first_root, &root), Ok(()));
            prop_assert_eq!(ct_accepts_consistency(&p, &first_root, &root), Some(true));
        }
    }

    /// Proofs for *earlier* sizes, served from the final log's nodes, match the RFC's
    /// definitions over the prefix and verify with ct-merkle's verifier.
    #[test]
    fn proofs_at_earlier_sizes_verify_independently(
        leaves in distinct_leaves(1..=300),
        picks in prop::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 1..40),
    ) {
        let hashes = hashes_of(&leaves);
        let log = log_of(&hashes);
        let total = hashes.len() as u64;
        for (a, b, c) in picks {
            let size = 1 + a % total;
            let root = root_at(&log, TreeSize(size)).unwrap();
            let prefix = &hashes[..size as usize];

            let m = b % size;
            let p = inclusion_proof(&log, LeafIndex(m), TreeSize(size)).unwrap();
            prop_assert_eq!(&p.path, &ref_path(m as usize, prefix));
            prop_assert_eq!(p.verify(&hashes[m as usize], &root), Ok(()));
            prop_assert_eq!(ct_accepts_inclusion(&p, &leaves[m as usize], &root), Some(true));

            let first = 1 + c % size;
            let first_root = root_at(&log, TreeSize(first)).unwrap();
            let p = consistency_proof(&log, TreeSize(first), TreeSize(size)).unwrap();
            prop_assert_eq!(&p.path, &ref_subproof(first as usize, prefix, true));
            prop_assert_eq!(p.verify(&first_root, &root), Ok(()));
            prop_assert_eq!(ct_accepts_consistency(&p, &first_root, &root), Some(true));
        }
    }

    /// Reloading from exactly the nodes `push` reported — in push order, or level by
    /// level — rebuilds an identical log.
    #[test]
    fn reload_from_stored_nodes_is_identical(
        leaves in distinct_leaves(1..=300),
        picks in prop::collection::vec((any::<u64>(), any::<u64>()), 1..20),
    ) {
        let hashes = hashes_of(&leaves);
        let mut original = MemoryLog::new();
        let mut stored = Vec::new();
        for h in &hashes {
            stored.extend(original.push(*h));
        }
        // Each leaf completes one node per trailing one bit of its index: < 2n nodes.
        prop_assert!(stored.len() < 2 * hashes.len());

        let mut in_push_order = MemoryLog::new();
        for &(level, index, hash) in &stored {
            in_push_order.insert_node(level, index, hash).unwrap();
        }
        let mut by_level = stored.clone();
        by_level.sort_by_key(|&(level, index, _)| (level, index));
        let mut in_level_order = MemoryLog::new();
        for &(level, index, hash) in &by_level {
            in_level_order.insert_node(level, index, hash).unwrap();
        }

        let n = hashes.len() as u64;
        for reloaded in [&in_push_order, &in_level_order] {
            prop_assert_eq!(reloaded.size(), original.size());
            prop_assert_eq!(reloaded.root(), original.root());
            for &(level, index, hash) in &stored {
                prop_assert_eq!(reloaded.node(level, index), Some(hash));
            }
            for &(a, b) in &picks {
                let size = 1 + a % n;
                let m = b % size;
                prop_assert_eq!(
                    inclusion_proof(reloaded, LeafIndex(m), TreeSize(size)),
                    inclusion_proof(&original, LeafIndex(m), TreeSize(size))
                );
                let first = 1 + b % size;
                prop_assert_eq!(
                    consistency_proof(reloaded, TreeSize(first), TreeSize(size)),
                    consistency_proof(&original, TreeSize(first), TreeSize(size))
                );
            }
        }

        // A corrupted stored node is caught on reload.
        if let Some(&(level, index, hash)) = stored.iter().find(|&&(level, _, _)| level > 0) {
            let mut log = MemoryLog::new();
            let mut bad = hash;
            bad.0[0] ^= 1;
            for &(l, i, h) in &stored {
                let h = if (l, i) == (level, index) { bad } else { h };
                let result = log.insert_node(l, i, h);
                if (l, i) == (level, index) {
                    prop_assert!(result.is_err());
                    break;
                }
                prop_assert!(result.is_ok());
            }
        }
    }
}
