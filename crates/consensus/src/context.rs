//! Malachite's `Context` for medledger.

use malachitebft_app_channel::app::types::core::{
    Context, LinearTimeouts, NilOrVal, Round, SigningScheme, ValidatorSet as _, VoteType,
};
use medledger_types::{ChainId, PublicKey, Signature};

use crate::types::{
    Address, BlockHash, BlockValue, ConsensusHeight, NoExtension, Proposal, ProposalPart, Validator, ValidatorSet, Vote,
};

/// The consensus context of one chain. The chain id goes into every signed consensus
/// message, so a vote can never count on another chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerContext {
    pub chain_id: ChainId,
}

impl LedgerContext {
    pub fn new(chain_id: ChainId) -> Self {
        LedgerContext { chain_id }
    }
}

/// Ed25519 as Malachite sees it: our key and signature types, 32 and 64 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

#[derive(Debug, thiserror::Error)]
#[error("{what} must be {expected} bytes, got {got}")]
pub struct BadLength {
    what: &'static str,
    expected: usize,
    got: usize,
}

impl SigningScheme for Ed25519 {
    type DecodingError = BadLength;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = medledger_crypto::Keypair;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, BadLength> {
        Signature::from_slice(bytes).ok_or(BadLength {
            what: "signature",
            expected: 64,
            got: bytes.len(),
        })
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.as_bytes().to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, BadLength> {
        PublicKey::from_slice(bytes).ok_or(BadLength {
            what: "public key",
            expected: 32,
            got: bytes.len(),
        })
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.as_bytes().to_vec()
    }
}

impl Context for LedgerContext {
    type Address = Address;
    type Height = ConsensusHeight;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = NoExtension;
    type SigningScheme = Ed25519;

    /// Round robin over the validators in address order, moving on by one each height and
    /// each round, so a crashed proposer costs one round, never a height. Validators of
    /// unequal power still propose in turn; power counts in the votes.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: ConsensusHeight,
        round: Round,
    ) -> &'a Validator {
        let count = validator_set.count().max(1) as u64;
        let round = u64::from(round.as_u32().unwrap_or(0));
        let index = height.0.wrapping_add(round) % count;
        match validator_set.get_by_index(index as usize) {
            Some(v) => v,
            // An empty validator set cannot start consensus; genesis validation forbids it.
            None => unreachable_empty_set(),
        }
    }

    fn new_proposal(
        &self,
        height: ConsensusHeight,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: ConsensusHeight,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: ConsensusHeight,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_empty_set() -> ! {
    panic!("consensus was started with an empty validator set")
}
