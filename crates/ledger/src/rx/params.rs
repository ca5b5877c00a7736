//! `rx.params`: the consortium sets the monitoring thresholds by vote.
//!
//! Rules (the quorum pattern of `identity.vote_org`):
//! - An active admin of a member organisation votes for one complete set of thresholds
//!   (a proposal, named by the hash of its encoding); one vote per organisation and
//!   proposal.
//! - The thresholds are in range ([`RxParams::is_valid`]) and differ from those in force.
//! - When the genesis `suspend_quorum` organisations have voted for the same proposal, it
//!   is in force from the next transaction on and its ballot is cleared. Other proposals'
//!   ballots stay open. Without `suspend_quorum`, the defaults ([`RxParams::default`])
//!   cannot be changed.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{Hash32, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{RxParams, params};
use crate::error::TxError;
use crate::identity::vote_org::quorum;
use crate::identity::{cast, signer_admin};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0704);

/// Domain of a proposal's hash.
const PROPOSAL_DOMAIN: &[u8] = b"medledger/rx/params/v1\0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxParamsVote {
    pub params: RxParams,
}

impl RxParamsVote {
    /// The proposal's name: SHA-256 over a domain and the thresholds' encoding.
    pub fn proposal(&self) -> Hash32 {
        Hash32::digest(&[PROPOSAL_DOMAIN, &self.params.encode()])
    }
}

impl Encode for RxParamsVote {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.params.encode_to(out);
    }
}

impl Decode for RxParamsVote {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RxParamsVote {
            params: RxParams::decode_from(r)?,
        })
    }
}

impl RxParamsVote {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let voter = signer_admin(state, signer)?.org;
        let quorum = quorum(state).ok_or(TxError::NoGovernance)?;
        if !self.params.is_valid() {
            return Err(TxError::BadRxParams);
        }
        if params(state) == self.params {
            return Err(TxError::RxParamsUnchanged);
        }
        let proposal = self.proposal();
        let (votes, carried) = cast(state, keys::rx_params_ballot(&proposal), voter.clone(), quorum)?;
        let mut events = vec![Event::RxParamsVoted {
            proposal,
            voter,
            votes,
            quorum,
        }];
        if carried {
            state.put_record(keys::rx_params(), &self.params);
            events.push(Event::RxParamsChanged { proposal });
        }
        Ok(events)
    }
}
