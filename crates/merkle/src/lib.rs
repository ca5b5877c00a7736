//! The medledger transparency log: an RFC 9162 (Certificate Transparency v2) append-only
//! Merkle tree, its inclusion and consistency proofs, and their verification.
//!
//! Everything here is pure computation: no I/O, no clocks, no threads. Storage of tree
//! nodes is abstracted by [`NodeSource`]; [`MemoryLog`] is the in-memory implementation.
//!
//! # What is implemented, section by section
//!
//! - **RFC 9162 §2.1.1, Definition of the Merkle Tree.** [`leaf_hash`] is
//!   `SHA-256(0x00 || d)`, [`node_hash`] is `SHA-256(0x01 || left || right)`,
//!   [`empty_root`] is `MTH({}) = SHA-256()`, and [`root_of`] / [`root_at`] compute
//!   `MTH(D[n])`, where the tree over `n > 1` leaves splits at the largest power of two
//!   smaller than `n`.
//! - **§2.1.2, Verifying a Tree Head Given Entries.** [`root_of`] recomputes a root from
//!   an in-memory list of leaf hashes (used for a block's transaction root as well).
//! - **§2.1.3.1, Generating an Inclusion Proof.** [`inclusion_proof`] returns
//!   `PATH(m, D[n])`, ordered from the leaf's sibling up to the child of the root.
//! - **§2.1.3.2, Verifying an Inclusion Proof.** [`InclusionProof::verify`] is the RFC
//!   algorithm, step by step.
//! - **§2.1.4.1, Generating a Consistency Proof.** [`consistency_proof`] returns
//!   `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`.
//! - **§2.1.4.2, Verifying Consistency between Two Tree Heads.**
//!   [`ConsistencyProof::verify`] is the RFC algorithm, step by step.
//!
//! # Node addressing
//!
//! Node `(level, index)` is the root of the perfect subtree covering leaves
//! `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes. Only such
//! *full* subtrees are ever stored. Nodes on the right edge of a tree whose size is not
//! a power of two are recomputed on demand from at most `log2(n)` stored nodes, so every
//! root and proof for any earlier size can be served from the same stored nodes.
//!
//! # Edge cases (all as in RFC 9162)
//!
//! - The root of the empty tree is `SHA-256("")`; there is no inclusion proof in it, so
//!   an inclusion proof with `tree_size == 0` is an error to generate and never verifies.
//! - A consistency proof between equal sizes is empty, and verifies only if the two roots
//!   are equal.
//! - The RFC needs no consistency proof from the empty tree (every tree extends it).
//!   [`consistency_proof`] refuses `first == 0` with [`MerkleError::InvalidRange`] and
//!   [`ConsistencyProof::verify`] rejects it with [`VerifyError::InvalidSizes`]; callers
//!   handle "the previous tree was empty" themselves.
//! - Verification never panics, whatever the proof contains: wrong sizes, huge indices
//!   and paths of any length are reported as [`VerifyError`]s.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod error;
mod log;
mod proof;

use medledger_types::Hash32;
use sha2::{Digest, Sha256};

pub use error::{MerkleError, VerifyError};
pub use log::{MemoryLog, NodeSource};
pub use proof::{ConsistencyProof, InclusionProof, MAX_PATH_LEN, consistency_proof, inclusion_proof, root_at};

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// The hash of one leaf: `SHA-256(0x00 || leaf_data)` (RFC 9162 §2.1.1).
pub fn leaf_hash(leaf_data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf_data);
    Hash32(h.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

/// The root of the empty tree: `MTH({}) = SHA-256()`, that is
/// `e3b0c442…7852b855` (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash32 {
    Hash32::digest(&[])
}

/// `MTH(D[n])` of an in-memory list of *leaf hashes* (RFC 9162 §2.1.1), e.g. a block's
/// transaction root. Runs in `O(n)` time and `O(log n)` extra space.
pub fn root_of(leaf_hashes: &[Hash32]) -> Hash32 {
    // A stack of perfect subtrees, strictly decreasing in size from bottom to top: the
    // same "compact range" that an append-only log keeps along its right edge.
    let mut stack: Vec<(u32, Hash32)> = Vec::with_capacity(64);
    for leaf in leaf_hashes {
        let mut level = 0u32;
        let mut hash = *leaf;
        while let Some(&(top_level, top_hash)) = stack.last() {
            if top_level != level {
                break;
            }
            stack.pop();
            hash = node_hash(&top_hash, &hash);
            level += 1;
        }
        stack.push((level, hash));
    }
    // The tree of n leaves is the right fold of its perfect subtrees, largest first.
    let mut nodes = stack.into_iter().rev().map(|(_, h)| h);
    match nodes.next() {
        None => empty_root(),
        Some(last) => nodes.fold(last, |acc, left| node_hash(&left, &acc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash32 {
        s.parse().unwrap()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(root_of(&[]), empty_root());
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        // Published leaf hashes of "" and 0x00 (RFC 6962 reference vectors).
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(&[0x00]),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(node_hash(&a, &b), Hash32::digest(&[&[1], &a.0, &b.0]));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
        // A leaf whose data is "l || r" must not collide with the node over (l, r).
        assert_ne!(leaf_hash(&[a.0, b.0].concat()), node_hash(&a, &b));
    }

    #[test]
    fn root_of_single_leaf_is_the_leaf_hash() {
        let a = leaf_hash(b"x");
        assert_eq!(root_of(&[a]), a);
    }

    #[test]
    fn root_of_splits_at_largest_power_of_two() {
        let l: Vec<Hash32> = (0u8..7).map(|i| leaf_hash(&[i])).collect();
        // n = 7: MTH = H(MTH(D[0:4]), H(H(l4, l5), l6)).
        let left = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
        let right = node_hash(&node_hash(&l[4], &l[5]), &l[6]);
        assert_eq!(root_of(&l), node_hash(&left, &right));
        // n = 3: H(H(l0, l1), l2) — the odd leaf is promoted, never duplicated.
        assert_eq!(root_of(&l[..3]), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    }
}
