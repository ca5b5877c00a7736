//! Signing and verifying consensus messages with the validators' Ed25519 keys.
//!
//! Each message kind signs its own domain-separated preimage, which always names the
//! chain:
//!
//! | message | bytes signed |
//! |---|---|
//! | precommit for block `h` | `commit_sign_bytes(chain, height, round, h)`: exactly what a block's commit certificate holds |
//! | precommit for nil, prevote | `VOTE_SIGN_DOMAIN ‖ chain ‖ type ‖ height ‖ round ‖ nil-or-hash` |
//! | proposal | `PROPOSAL_SIGN_DOMAIN ‖ chain ‖ height ‖ round ‖ pol_round ‖ block hash` |
//! | proposal stream (Fin part) | `PROPOSAL_PARTS_SIGN_DOMAIN ‖ chain ‖ height ‖ round ‖ SHA-256 of the block bytes` |
//! | validator proof | Malachite's own network-agnostic preimage |
//!
//! Rounds are encoded as `u32`, with `u32::MAX` for "no round" (`Round::Nil`).
//! Verification is strict (canonical signatures, no small-order keys), the same check
//! `medledger verify` applies to stored certificates.

use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    NilOrVal, Round, SignedMessage, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};
use medledger_crypto::Keypair;
use medledger_types::codec::{Encode, put};
use medledger_types::{ChainId, Hash32, PublicKey, Signature, commit_sign_bytes};

use crate::context::LedgerContext;
use crate::types::{NoExtension, Proposal, Vote};

pub const VOTE_SIGN_DOMAIN: &[u8] = b"medledger/vote/sign/v1\0";
pub const PROPOSAL_SIGN_DOMAIN: &[u8] = b"medledger/proposal/sign/v1\0";
pub const PROPOSAL_PARTS_SIGN_DOMAIN: &[u8] = b"medledger/proposal-parts/sign/v1\0";
pub const EXTENSION_SIGN_DOMAIN: &[u8] = b"medledger/vote-extension/sign/v1\0";

fn round_u32(round: Round) -> u32 {
    round.as_u32().unwrap_or(u32::MAX)
}

/// The bytes a validator signs for a vote.
pub fn vote_sign_bytes(chain_id: &ChainId, vote: &Vote) -> Vec<u8> {
    match (vote.vote_type, &vote.value) {
        (VoteType::Precommit, NilOrVal::Val(hash)) => {
            commit_sign_bytes(chain_id, vote.height.into(), round_u32(vote.round), &hash.0)
        }
        (vote_type, value) => {
            let mut out = VOTE_SIGN_DOMAIN.to_vec();
            chain_id.encode_to(&mut out);
            put::u8(&mut out, matches!(vote_type, VoteType::Precommit).into());
            put::u64(&mut out, vote.height.0);
            put::u32(&mut out, round_u32(vote.round));
            match value {
                NilOrVal::Nil => put::u8(&mut out, 0),
                NilOrVal::Val(hash) => {
                    put::u8(&mut out, 1);
                    hash.0.encode_to(&mut out);
                }
            }
            out
        }
    }
}

/// The bytes a proposer signs for a proposal.
pub fn proposal_sign_bytes(chain_id: &ChainId, proposal: &Proposal) -> Vec<u8> {
    let mut out = PROPOSAL_SIGN_DOMAIN.to_vec();
    chain_id.encode_to(&mut out);
    put::u64(&mut out, proposal.height.0);
    put::u32(&mut out, round_u32(proposal.round));
    put::u32(&mut out, round_u32(proposal.pol_round));
    proposal.value.0.encode_to(&mut out);
    out
}

/// The bytes a proposer signs at the end of a streamed proposal.
pub fn proposal_parts_sign_bytes(chain_id: &ChainId, height: u64, round: Round, block_bytes_hash: &Hash32) -> Vec<u8> {
    let mut out = PROPOSAL_PARTS_SIGN_DOMAIN.to_vec();
    chain_id.encode_to(&mut out);
    put::u64(&mut out, height);
    put::u32(&mut out, round_u32(round));
    block_bytes_hash.encode_to(&mut out);
    out
}

fn extension_sign_bytes(chain_id: &ChainId, scope: &VoteExtensionScope<LedgerContext>) -> Vec<u8> {
    let mut out = EXTENSION_SIGN_DOMAIN.to_vec();
    chain_id.encode_to(&mut out);
    put::u64(&mut out, scope.height.0);
    put::u32(&mut out, round_u32(scope.round));
    scope.value_id.0.encode_to(&mut out);
    scope.validator_address.0.encode_to(&mut out);
    out
}

fn check(key: &PublicKey, msg: &[u8], sig: &Signature) -> VerificationResult {
    VerificationResult::from_bool(medledger_crypto::verify(key, msg, sig).is_ok())
}

/// Signs as one validator, and verifies anyone's signatures, for one chain.
#[derive(Clone)]
pub struct LedgerSigner {
    chain_id: ChainId,
    key: Keypair,
}

impl LedgerSigner {
    pub fn new(chain_id: ChainId, key: Keypair) -> Self {
        LedgerSigner { chain_id, key }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }
}

#[async_trait]
impl Signer<LedgerContext> for LedgerSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<LedgerContext, Vote>, Error> {
        let signature = self.key.sign(&vote_sign_bytes(&self.chain_id, &vote));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedMessage<LedgerContext, Proposal>, Error> {
        let signature = self.key.sign(&proposal_sign_bytes(&self.chain_id, &proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<LedgerContext>,
        extension: NoExtension,
    ) -> Result<SignedMessage<LedgerContext, NoExtension>, Error> {
        let signature = self.key.sign(&extension_sign_bytes(&self.chain_id, &scope));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<LedgerContext>, Error> {
        let bytes = ValidatorProof::<LedgerContext>::signing_bytes(&public_key, &peer_id);
        let signature = self.key.sign(&bytes);
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

#[async_trait]
impl Verifier<LedgerContext> for LedgerSigner {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(check(public_key, &vote_sign_bytes(&self.chain_id, vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(check(
            public_key,
            &proposal_sign_bytes(&self.chain_id, proposal),
            signature,
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<LedgerContext>,
        _extension: &NoExtension,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(check(
            public_key,
            &extension_sign_bytes(&self.chain_id, scope),
            signature,
        ))
    }

    async fn verify_validator_proof(&self, proof: &ValidatorProof<LedgerContext>) -> Result<VerificationResult, Error> {
        let Some(key) = PublicKey::from_slice(&proof.public_key) else {
            return Ok(VerificationResult::Invalid);
        };
        let bytes = ValidatorProof::<LedgerContext>::signing_bytes(&proof.public_key, &proof.peer_id);
        Ok(check(&key, &bytes, &proof.signature))
    }
}
