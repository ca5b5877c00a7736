//! `identity.vote_org`: the consortium suspends (or reinstates) a member organisation.
//!
//! Rules:
//! - Only an active admin of another organisation votes; one vote per organisation.
//! - When `suspend_quorum` organisations (from genesis) have voted for the same change,
//!   it happens in that block and the ballot starts afresh.
//! - A suspended organisation's keys cannot sign anything (see [`crate::check_envelope`])
//!   and consents granted to it open nothing; its records stay on the ledger. Its patients
//!   are not its staff: they keep signing consents and reading their own records.
//! - Without `suspend_quorum` in genesis, organisations cannot be suspended.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Height, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::MemberKind;
use crate::error::TxError;
use crate::state::{Overlay, StateRead, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0104);

/// Most organisations a ballot can hold (far above any consortium's size).
const MAX_BALLOT: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteOrg {
    pub org: OrgId,
    /// `true` to suspend, `false` to reinstate.
    pub suspend: bool,
}

impl Encode for VoteOrg {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        put::bool(out, self.suspend);
    }
}

impl Decode for VoteOrg {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VoteOrg {
            org: OrgId::decode_from(r)?,
            suspend: r.bool("suspend")?,
        })
    }
}

/// `orgstatus/{org}`: absent for an organisation in good standing that nobody voted on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgStatus {
    pub suspended: bool,
    /// The height of the last change (0: never changed).
    pub changed_at: Height,
    /// Organisations that voted to change the current status, in vote order.
    pub ballot: Vec<OrgId>,
}

impl Encode for OrgStatus {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::bool(out, self.suspended);
        self.changed_at.encode_to(out);
        put::u32(out, self.ballot.len() as u32);
        for o in &self.ballot {
            o.encode_to(out);
        }
    }
}

impl Decode for OrgStatus {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let suspended = r.bool("suspended")?;
        let changed_at = Height::decode_from(r)?;
        let n = r.u32("ballot length")? as usize;
        if n > MAX_BALLOT {
            return Err(DecodeError::TooLong {
                what: "ballot",
                len: n,
                max: MAX_BALLOT,
            });
        }
        let mut ballot = Vec::with_capacity(n);
        for _ in 0..n {
            ballot.push(OrgId::decode_from(r)?);
        }
        Ok(OrgStatus {
            suspended,
            changed_at,
            ballot,
        })
    }
}

/// The organisation's standing (default: in good standing, no votes).
pub fn status(state: &dyn StateRead, org: &OrgId) -> OrgStatus {
    state
        .get(&keys::org_status(org))
        .and_then(|raw| OrgStatus::decode(&raw).ok())
        .unwrap_or_default()
}

/// Whether the consortium has suspended `org`.
pub fn is_suspended(state: &dyn StateRead, org: &OrgId) -> bool {
    status(state, org).suspended
}

/// Whether a member of `kind` in `org` is stopped by a suspension: everyone but its
/// patients, who are not the organisation's staff and keep control of their records.
pub fn stops(state: &dyn StateRead, org: &OrgId, kind: MemberKind) -> bool {
    kind != MemberKind::Patient && is_suspended(state, org)
}

/// How many organisations must vote for a suspension or reinstatement; `None` when the
/// genesis did not enable it.
pub fn quorum(state: &dyn StateRead) -> Option<u32> {
    state
        .get(&keys::suspend_quorum())
        .and_then(|raw| u64::decode(&raw).ok())
        .and_then(|q| u32::try_from(q).ok())
}

impl VoteOrg {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let (voter_org, quorum) = crate::identity::voter(state, signer, &self.org)?;
        let mut st = status(state, &self.org);
        if st.suspended == self.suspend {
            return Err(TxError::OrgStatusUnchanged);
        }
        if st.ballot.contains(&voter_org) {
            return Err(TxError::AlreadyVoted);
        }
        st.ballot.push(voter_org.clone());
        let votes = st.ballot.len() as u32;
        let mut events = vec![Event::OrgVoted {
            org: self.org.clone(),
            voter: voter_org,
            suspend: self.suspend,
            votes,
            quorum,
        }];
        if votes >= quorum {
            st.suspended = self.suspend;
            st.changed_at = ctx.height;
            st.ballot.clear();
            events.push(if self.suspend {
                Event::OrgSuspended { org: self.org.clone() }
            } else {
                Event::OrgReinstated { org: self.org.clone() }
            });
        }
        state.put_record(keys::org_status(&self.org), &st);
        Ok(events)
    }
}
