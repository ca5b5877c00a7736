//! BFT consensus for medledger through Malachite 0.8.2 (Tendermint).
//!
//! This crate is being built up for the BFT-network issue. What is here:
//! - [`context::LedgerContext`]: Malachite's `Context` for our blocks — heights,
//!   validator addresses (their Ed25519 public keys), the validator set from genesis,
//!   round-robin proposer selection, votes, proposals and proposal parts;
//! - [`signing`]: Ed25519 signing and strict verification through `medledger-crypto`,
//!   with one domain-separated preimage per message kind. A precommit for a block signs
//!   exactly [`medledger_types::commit_sign_bytes`], so the 2f+1 precommits Malachite
//!   collects become the block's stored [`medledger_types::Commit`] unchanged, and
//!   `medledger verify` checks them with the code it already has.
//!
//! Still to come (see `docs/consensus-integration-notes.md`): the wire/WAL/sync codecs,
//! the application loop over `AppMsg`, and the node wiring.
#![forbid(unsafe_code)]

pub mod app;
pub mod codec;
pub mod context;
pub mod run;
pub mod signing;
pub mod types;

pub use run::{FORWARDED_HEADER, run_validator};

pub use context::LedgerContext;
pub use types::{
    Address, BlockHash, BlockValue, ConsensusHeight, Proposal, ProposalPart, Validator, ValidatorSet, Vote,
};
