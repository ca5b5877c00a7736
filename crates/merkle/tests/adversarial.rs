//! Property tests for hostile input: tampered proofs are rejected, verification never
//! panics, and decoding is strict and allocation-safe.

mod common;

use common::*;
use medledger_merkle::{
    ConsistencyProof, InclusionProof, MAX_PATH_LEN, VerifyError, consistency_proof, inclusion_proof, leaf_hash,
    node_hash, root_at,
};
use medledger_types::codec::{Decode, DecodeError, Encode, put};
use medledger_types::{Hash32, LeafIndex, TreeSize};
use proptest::prelude::*;

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

/// Sizes and indices that stress the arithmetic: the edges of u64 as well as small ones.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1u64 << 63),
        Just((1u64 << 63) - 1),
        Just((1u64 << 63) + 1),
        0u64..1024,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tampered_inclusion_proofs_are_rejected(
        leaves in distinct_leaves(1..=300),
        idx_seed in any::<u64>(),
        elem_seed in any::<usize>(),
        byte in 0usize..32,
        bit in 0u8..8,
        other_index_seed in any::<u64>(),
        other_size in 0u64..=320,
        extra in hash(),
    ) {
        let hashes = hashes_of(&leaves);
        let log = log_of(&hashes);
        let n = hashes.len() as u64;
        let idx = idx_seed % n;
        let leaf = hashes[idx as usize];
        let root = log.root();
        let proof = inclusion_proof(&log, LeafIndex(idx), TreeSize(n)).unwrap();
        prop_assert_eq!(proof.verify(&leaf, &root), Ok(()));

        // Any flipped bit in any path hash.
        if !proof.path.is_empty() {
            let mut p = proof.clone();
            let elem = elem_seed % p.path.len();
            flip(&mut p.path, elem, byte, bit);
            prop_assert_eq!(p.verify(&leaf, &root), Err(VerifyError::RootMismatch));
        }
        // Another leaf (all leaves are distinct), or a flipped leaf hash.
        let other_leaf = if n > 1 { hashes[((idx + 1) % n) as usize] } else { leaf_hash(b"other") };
        prop_assert!(proof.verify(&other_leaf, &root).is_err());
        let mut flipped_leaf = leaf;
        flipped_leaf.0[byte] ^= 1 << bit;
        prop_assert!(proof.verify(&flipped_leaf, &root).is_err());
        // A root of another size (distinct leaves: all prefix roots differ).
        if n > 1 {
            let older = root_at(&log, TreeSize(n - 1)).unwrap();
            prop_assert!(proof.verify(&leaf, &older).is_err());
        }
        // Truncated or extended paths.
        if !proof.path.is_empty() {
            let mut p = proof.clone();
            p.path.pop();
            prop_assert!(matches!(p.verify(&leaf, &root), Err(VerifyError::WrongPathLength { .. })), "unexpected result");
        }
        let mut p = proof.clone();
        p.path.push(extra);
        prop_assert!(matches!(p.verify(&leaf, &root), Err(VerifyError::WrongPathLength { .. })), "unexpected result");
        let mut p = proof.clone();
        p.path.insert(0, extra);
        prop_assert!(matches!(p.verify(&leaf, &root), Err(VerifyError::WrongPathLength { .. })), "unexpected result");

        // Another index: each leaf has a unique root-to-leaf direction pattern, and with
        // distinct leaves no sibling equals the running hash, so this always fails.
        let other_index = other_index_seed % (n + 2);
        if other_index != idx {
            let mut p = proof.clone();
            p.leaf_index = LeafIndex(other_index);
            prop_assert!(p.verify(&leaf, &root).is_err());
            prop_assert_ne!(ct_accepts_inclusion(&p, &leaves[idx as usize], &root), Some(true));
        }

        // Another tree size: RFC 9162 does not bind the size into the path, so some sizes
        // with the same path shape still check out against the original root (see
        // known_answers::path_shape_aliasing_is_as_in_the_rfc). Assert exactly what the
        // RFC guarantees: the independent verifier agrees with ours, a different shape
        // (path length) always fails, and the original leaf is still the only one that
        // verifies.
        if other_size != n {
            let mut p = proof.clone();
            p.tree_size = TreeSize(other_size);
            let ours = p.verify(&leaf, &root);
            match ct_accepts_inclusion(&p, &leaves[idx as usize], &root) {
                Some(theirs) => prop_assert_eq!(ours.is_ok(), theirs, "size {} -> {}", n, other_size),
                None => prop_assert!(ours.is_err()),
            }
            if ours.is_ok() {
                prop_assert!(p.verify(&other_leaf, &root).is_err());
                if idx < other_size && other_size <= n {
                    // The honest proof at that size has the same shape.
                    let honest = inclusion_proof(&log, LeafIndex(idx), TreeSize(other_size)).unwrap();
                    prop_assert_eq!(honest.path.len(), proof.path.len());
                }
            }
        }
    }

    #[test]
    fn tampered_consistency_proofs_are_rejected(
        leaves in distinct_leaves(1..=300),
        first_seed in any::<u64>(),
        elem_seed in any::<usize>(),
        byte in 0usize..32,
        bit in 0u8..8,
        other_first in 0u64..=320,
        other_second in 0u64..=320,
        extra in hash(),
    ) {
        let hashes = hashes_of(&leaves);
        let log = log_of(&hashes);
        let n = hashes.len() as u64;
        let m = 1 + first_seed % n;
        let (r1, r2) = (root_at(&log, TreeSize(m)).unwrap(), log.root());
        let proof = consistency_proof(&log, TreeSize(m), TreeSize(n)).unwrap();
        prop_assert_eq!(proof.verify(&r1, &r2), Ok(()));

        if !proof.path.is_empty() {
            let mut p = proof.clone();
            let elem = elem_seed % p.path.len();
            flip(&mut p.path, elem, byte, bit);
            prop_assert_eq!(p.verify(&r1, &r2), Err(VerifyError::RootMismatch));
            let mut p = proof.clone();
            p.path.pop();
            prop_assert!(matches!(p.verify(&r1, &r2), Err(VerifyError::WrongPathLength { .. })), "unexpected result");
        }
        let mut p = proof.clone();
        p.path.push(extra);
        prop_assert!(matches!(p.verify(&r1, &r2), Err(VerifyError::WrongPathLength { .. })), "unexpected result");

        // Wrong roots: flipped, swapped, or of another size.
        let mut bad = r1;
        bad.0[byte] ^= 1 << bit;
        prop_assert_eq!(proof.verify(&bad, &r2), Err(VerifyError::RootMismatch));
        let mut bad = r2;
        bad.0[byte] ^= 1 << bit;
        prop_assert_eq!(proof.verify(&r1, &bad), Err(VerifyError::RootMismatch));
        if m != n {
            prop_assert!(proof.verify(&r2, &r1).is_err());
            let other = root_at(&log, TreeSize(1 + (m % n))).unwrap();
            if other != r1 {
                prop_assert!(proof.verify(&other, &r2).is_err());
            }
        }

        // Other sizes: as for inclusion, the sizes are not hashed into the proof, so only
        // agreement with the independent verifier is guaranteed — plus rejection of every
        // invalid size pair.
        if (other_first, other_second) != (m, n) {
            let mut p = proof.clone();
            p.first = TreeSize(other_first);
            p.second = TreeSize(other_second);
            let ours = p.verify(&r1, &r2);
            match ct_accepts_consistency(&p, &r1, &r2) {
                Some(theirs) => prop_assert_eq!(
                    ours.is_ok(), theirs, "{}->{} as {}->{}", m, n, other_first, other_second
                ),
                None => prop_assert!(matches!(ours, Err(VerifyError::InvalidSizes { .. })), "unexpected result"),
            }
        }
    }

    /// Arbitrary proofs never panic the verifier, and (with unrelated roots) never verify.
    #[test]
    fn hostile_proofs_never_panic(
        index in edgy_u64(),
        size in edgy_u64(),
        path in prop::collection::vec(hash(), 0..=70),
        leaf in hash(),
        root in hash(),
    ) {
        let p = InclusionProof { leaf_index: LeafIndex(index), tree_size: TreeSize(size), path: path.clone() };
        prop_assert!(p.verify(&leaf, &root).is_err());
        let first_root = leaf;
        let second_root = node_hash(&leaf, &root);
        let c = ConsistencyProof { first: TreeSize(index), second: TreeSize(size), path };
        prop_assert!(c.verify(&first_root, &second_root).is_err());
    }

    #[test]
    fn encodings_round_trip(
        a in edgy_u64(),
        b in edgy_u64(),
        path in prop::collection::vec(hash(), 0..=MAX_PATH_LEN),
    ) {
        let p = InclusionProof { leaf_index: LeafIndex(a), tree_size: TreeSize(b), path: path.clone() };
        let bytes = p.encode();
        prop_assert_eq!(bytes.len(), 8 + 8 + 4 + 32 * path.len());
        prop_assert_eq!(InclusionProof::decode(&bytes), Ok(p.clone()));
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<InclusionProof>(&json).unwrap(), p);

        let c = ConsistencyProof { first: TreeSize(a), second: TreeSize(b), path };
        let bytes = c.encode();
        prop_assert_eq!(ConsistencyProof::decode(&bytes), Ok(c.clone()));
        // Every strict prefix is an error, and so is a trailing byte.
        let cut = bytes.len() / 2;
        prop_assert!(ConsistencyProof::decode(&bytes[..cut]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(ConsistencyProof::decode(&longer).is_err());
        let json = serde_json::to_string(&c).unwrap();
        prop_assert_eq!(serde_json::from_str::<ConsistencyProof>(&json).unwrap(), c);
    }

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = InclusionProof::decode(&bytes);
        let _ = ConsistencyProof::decode(&bytes);
    }

    #[test]
    fn hostile_counts_are_rejected_before_allocating(count in (MAX_PATH_LEN as u32 + 1)..=u32::MAX) {
        let mut bytes = Vec::new();
        put::u64(&mut bytes, 0);
        put::u64(&mut bytes, 1);
        put::u32(&mut bytes, count);
        prop_assert!(matches!(InclusionProof::decode(&bytes), Err(DecodeError::TooLong { .. })), "unexpected result");
        prop_assert!(matches!(ConsistencyProof::decode(&bytes), Err(DecodeError::TooLong { .. })), "unexpected result");
    }
}

#[test]
fn a_count_within_the_limit_but_beyond_the_input_is_rejected() {
    let mut bytes = Vec::new();
    put::u64(&mut bytes, 0);
    put::u64(&mut bytes, 1);
    put::u32(&mut bytes, MAX_PATH_LEN as u32);
    bytes.extend_from_slice(&[0u8; 32 * 3]);
    assert_eq!(
        InclusionProof::decode(&bytes),
        Err(DecodeError::UnexpectedEnd {
            what: "merkle proof path"
        })
    );
    // 65 real hashes on the wire are refused even though they are all present.
    let p = InclusionProof {
        leaf_index: LeafIndex(0),
        tree_size: TreeSize(1),
        path: vec![Hash32([7; 32]); MAX_PATH_LEN + 1],
    };
    assert!(matches!(
        InclusionProof::decode(&p.encode()),
        Err(DecodeError::TooLong { .. })
    ));
}
