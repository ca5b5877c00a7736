//! The values Malachite agrees on, in our terms.

use std::fmt;

use malachitebft_app_channel::app::types::core::{
    self as mal, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};
use medledger_ledger::Genesis;
use medledger_types::{Hash32, Height, PublicKey, Signature};

use crate::context::LedgerContext;

/// A block height, as Malachite counts them (the first block is height 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsensusHeight(pub u64);

impl fmt::Display for ConsensusHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mal::Height for ConsensusHeight {
    const ZERO: Self = ConsensusHeight(0);
    const INITIAL: Self = ConsensusHeight(1);

    fn increment_by(&self, n: u64) -> Self {
        ConsensusHeight(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(ConsensusHeight)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

impl From<Height> for ConsensusHeight {
    fn from(h: Height) -> Self {
        ConsensusHeight(h.0)
    }
}

impl From<ConsensusHeight> for Height {
    fn from(h: ConsensusHeight) -> Self {
        Height(h.0)
    }
}

/// A validator's address: its Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub PublicKey);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mal::Address for Address {}

/// The id of a proposed value: the block hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub Hash32);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What consensus decides: a block, named by its hash. The block itself travels as
/// proposal parts and is kept by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockValue(pub Hash32);

impl mal::Value for BlockValue {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        BlockHash(self.0)
    }
}

/// A validator of the genesis set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Address,
    pub public_key: PublicKey,
    pub voting_power: VotingPower,
}

impl mal::Validator<LedgerContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The validator set, sorted by address so every node indexes it the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by_key(|v| v.address);
        validators.dedup_by(|a, b| a.address == b.address);
        ValidatorSet { validators }
    }

    /// The validators named in a genesis file.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        Self::new(
            genesis
                .validators
                .iter()
                .map(|v| Validator {
                    address: Address(v.public_key),
                    public_key: v.public_key,
                    voting_power: v.power,
                })
                .collect(),
        )
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mal::ValidatorSet<LedgerContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// Vote extensions are not used; this type only satisfies the trait.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoExtension;

impl mal::Extension for NoExtension {
    fn size_bytes(&self) -> usize {
        0
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub vote_type: VoteType,
    pub height: ConsensusHeight,
    pub round: Round,
    pub value: NilOrVal<BlockHash>,
    pub validator: Address,
    pub extension: Option<SignedExtension<LedgerContext>>,
}

impl mal::Vote<LedgerContext> for Vote {
    fn height(&self) -> ConsensusHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<LedgerContext>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<LedgerContext>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<LedgerContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// A proposal: the proposer's claim that `value` is the block for this height and round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: ConsensusHeight,
    pub round: Round,
    pub value: BlockValue,
    pub pol_round: Round,
    pub proposer: Address,
}

impl mal::Proposal<LedgerContext> for Proposal {
    fn height(&self) -> ConsensusHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A piece of a streamed proposal: where it belongs, the block's bytes in chunks, and the
/// proposer's signature over the whole stream. The channel also carries the validators'
/// transaction gossip (ADR 013), outside any proposal stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    Init {
        height: ConsensusHeight,
        round: Round,
        proposer: Address,
        pol_round: Round,
    },
    Data(Vec<u8>),
    Fin(Signature),
    /// Transactions gossiped by their sender: batch `seq` of its `session` (one per
    /// process start), as an encoded transaction batch.
    Txs {
        session: u64,
        seq: u64,
        batch: Vec<u8>,
    },
    /// `to`'s batches `seqs` of `session` are held by the validator that publishes this
    /// (acknowledgements of one sender's batches travel together).
    TxsAck {
        to: Address,
        session: u64,
        seqs: Vec<u64>,
    },
    /// The validator that publishes this lacks these transactions of `to`'s compact
    /// proposal at `height` and `round`.
    TxsWant {
        to: Address,
        height: ConsensusHeight,
        round: Round,
        hashes: Vec<medledger_types::Hash32>,
    },
    /// The proposer's answer to a [`ProposalPart::TxsWant`] of `to`: some of the
    /// transactions asked for, as an encoded transaction batch.
    TxsFill {
        to: Address,
        height: ConsensusHeight,
        round: Round,
        batch: Vec<u8>,
    },
}

impl mal::ProposalPart<LedgerContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}
