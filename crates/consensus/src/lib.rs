//! BFT consensus for medledger through Malachite 0.8.2 (Tendermint).
//!
//! - [`context::LedgerContext`]: Malachite's `Context` for our blocks — heights,
//!   validator addresses (their Ed25519 public keys), the validator set from genesis,
//!   round-robin proposer selection, votes, proposals and proposal parts;
//! - [`signing`]: Ed25519 signing and verification through `medledger-crypto` (one rule),
//!   with one domain-separated preimage per message kind. A precommit for a block signs
//!   exactly [`medledger_types::commit_sign_bytes`], so the 2f+1 precommits Malachite
//!   collects become the block's stored [`medledger_types::Commit`] unchanged, and
//!   `medledger verify` checks them with the code it already has;
//! - [`codec`]: the wire, WAL and sync codecs (bounded, refusing hostile input; golden
//!   vectors in `tests/vectors/consensus_v1.json`);
//! - [`app`]: the application loop over Malachite's `AppMsg`s — proposing, checking
//!   proposals (every transaction, root, and a timestamp not too far ahead), committing
//!   and catching up;
//! - [`compact`]: proposals that name by hash the transactions every validator holds,
//!   rebuilt from the mempool, with the missing ones asked of the proposer (ADR 013);
//! - [`gossip`]: transactions sent to the other validators over the same authenticated
//!   connections, acknowledged, and retried until held (ADR 013);
//! - [`run`]: starting a validator.
#![forbid(unsafe_code)]

pub mod app;
pub mod codec;
pub mod compact;
pub mod context;
pub mod gossip;
pub mod run;
pub mod signing;
pub mod types;

pub use run::run_validator;

/// Signed transactions for the unit tests: `n` of one signer, nonces from 0, bodies of
/// `body` bytes (each distinct).
#[cfg(test)]
pub(crate) fn test_txs(n: u64, body: usize) -> Vec<medledger_types::SignedTx> {
    let k = medledger_crypto::Keypair::from_seed([1; 32]);
    (0..n)
        .map(|i| {
            let mut bytes = vec![7; body];
            if let Some(b) = bytes.first_mut() {
                *b = i as u8;
            }
            k.sign_tx(medledger_types::Tx {
                chain_id: medledger_types::ChainId::new("c").unwrap(),
                signer: k.public(),
                nonce: medledger_types::Nonce(i),
                kind: medledger_types::TxKind(1),
                body: bytes,
            })
        })
        .collect()
}

pub use context::LedgerContext;
pub use types::{
    Address, BlockHash, BlockValue, ConsensusHeight, Proposal, ProposalPart, Validator, ValidatorSet, Vote,
};
