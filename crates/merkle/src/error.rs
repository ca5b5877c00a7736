//! Errors of proof generation (the log's side) and of proof verification (the client's).

use medledger_types::{LeafIndex, TreeSize};

/// Why a root or proof could not be produced, or a node could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// An inclusion proof was asked for a leaf that is not in the tree of that size
    /// (including any leaf of the empty tree).
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: LeafIndex, size: TreeSize },
    /// The requested tree size is larger than the number of leaves the source holds.
    #[error("tree size {requested} exceeds the {available} leaves available")]
    SizeOutOfRange { requested: TreeSize, available: TreeSize },
    /// The node source lacks a node that a tree of the requested size must contain.
    /// Sources that do not report their size (see [`crate::NodeSource::leaf_count`])
    /// report a too-large size this way, as the missing leaf `(0, size - 1)`.
    #[error("node (level {level}, index {index}) is missing from the node source")]
    MissingNode { level: u8, index: u64 },
    /// A consistency proof needs `0 < first <= second` (RFC 9162 §2.1.4: no proof is
    /// needed, or defined, from the empty tree).
    #[error("no consistency proof from tree size {first} to tree size {second}")]
    InvalidRange { first: TreeSize, second: TreeSize },
    /// [`crate::MemoryLog::insert_node`] was given a node before the leaves it covers.
    #[error(
        "node (level {level}, index {index}) inserted out of order: \
         this level holds {held} nodes so far"
    )]
    OutOfOrderInsert { level: u8, index: u64, held: u64 },
    /// [`crate::MemoryLog::insert_node`] was given a node whose hash differs from the one
    /// recomputed from its leaves: the stored tree is corrupt.
    #[error("stored node (level {level}, index {index}) does not match the recomputed hash")]
    NodeMismatch { level: u8, index: u64 },
}

/// Why a proof did not verify. Verification never panics; every malformed proof ends
/// here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The proof's leaf index is not below its tree size (this includes tree size 0).
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: LeafIndex, size: TreeSize },
    /// A consistency proof's sizes do not satisfy `0 < first <= second`.
    #[error("invalid consistency proof sizes: first {first}, second {second}")]
    InvalidSizes { first: TreeSize, second: TreeSize },
    /// The path does not have the number of hashes the sizes call for.
    #[error("proof path has {got} hashes, expected {expected}")]
    WrongPathLength { expected: usize, got: usize },
    /// The recomputed root (or, for consistency, either recomputed root) differs from the
    /// one supplied.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
}
