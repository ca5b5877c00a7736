//! A ballot of the consortium: the organisations that voted for one change, in vote order.
//! Every governance vote (nodes, GS1 identifiers) keeps one under its own key until the
//! change reaches the genesis' `suspend_quorum` and happens.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{OrgId, PublicKey};

use crate::error::TxError;
use crate::state::Overlay;

/// Most organisations a ballot can hold (far above any consortium's size).
const MAX_BALLOT: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ballot(Vec<OrgId>);

impl Ballot {
    /// Counts `org`'s vote; an organisation votes once.
    pub fn add(&mut self, org: OrgId) -> Result<(), TxError> {
        if self.0.contains(&org) {
            return Err(TxError::AlreadyVoted);
        }
        self.0.push(org);
        Ok(())
    }

    /// How many organisations have voted.
    pub fn len(&self) -> u32 {
        self.0.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn voters(&self) -> &[OrgId] {
        &self.0
    }
}

/// Who votes on a change concerning `subject` (which must exist): the signer, an active
/// admin of another organisation, while genesis sets a quorum. Returns the voter's
/// organisation and the quorum.
pub fn voter(state: &Overlay<'_>, signer: &PublicKey, subject: &OrgId) -> Result<(OrgId, u32), TxError> {
    super::require_org(state, subject)?;
    let voter = super::signer_record(state, signer)?;
    if voter.status != super::KeyStatus::Active || voter.kind != super::MemberKind::Admin || voter.org == *subject {
        return Err(TxError::NotAuthorized);
    }
    let quorum = super::vote_org::quorum(state).ok_or(TxError::NoGovernance)?;
    Ok((voter.org, quorum))
}

/// Counts `voter`'s vote on the ballot stored at `key`; returns how many organisations have
/// now voted and whether that reaches `quorum`. At the quorum the ballot is deleted (the
/// caller makes the change, and the next ballot starts afresh); below it, it is stored.
pub fn cast(state: &mut Overlay<'_>, key: Vec<u8>, voter: OrgId, quorum: u32) -> Result<(u32, bool), TxError> {
    let mut ballot: Ballot = state.get_record(&key).unwrap_or_default();
    ballot.add(voter)?;
    let votes = ballot.len();
    let carried = votes >= quorum;
    if carried {
        state.delete(key);
    } else {
        state.put_record(key, &ballot);
    }
    Ok((votes, carried))
}

impl Encode for Ballot {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.0.len());
        for o in &self.0 {
            o.encode_to(out);
        }
    }
}

impl Decode for Ballot {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Ballot(r.seq(MAX_BALLOT, 2, "ballot", OrgId::decode_from)?))
    }
}
