//! Identifiers, the transaction envelope, blocks and the canonical binary encoding.
//!
//! Everything here is pure data: no I/O, no clocks, no randomness.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod block;
pub mod calendar;
pub mod codec;
pub mod ids;
pub mod log;
pub mod tx;

pub use block::{Block, BlockHeader, Commit, CommitSig, commit_sign_bytes};
pub use codec::{Decode, DecodeError, Encode, Reader};
pub use ids::{
    ChainId, Hash32, Height, LeafIndex, MemberId, Nonce, OrgId, ParseIdError, PublicKey, Signature, TimestampMs,
    TreeSize,
};
pub use log::{LogLeaf, OutcomeCode, TreeHead};
pub use tx::{SignedTx, Tx, TxKind};
