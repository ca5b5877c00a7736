//! `contract.vote`: the consortium approves a pending contract version.
//!
//! Rules (the quorum pattern of `supply.vote_gs1`), in check order:
//! - `org` is a member of the consortium (`unknown_org`).
//! - Only an active admin of *another* organisation votes (`not_authorized`): an
//!   organisation cannot approve its own code.
//! - The genesis has a `suspend_quorum` (`no_governance`).
//! - The vote names the pending version and its code id (`contract_not_pending`): a vote
//!   is for the exact code that was deployed, so replacing a pending version's code drops
//!   the votes it had.
//! - One vote per organisation (`already_voted`). At the quorum the version is active from
//!   the next transaction on, becomes the contract's latest, and its ballot is deleted.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{CodeId, ContractName, keys, version};
use crate::error::TxError;
use crate::identity::cast;
use crate::state::Overlay;
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0802);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractVote {
    pub org: OrgId,
    pub name: ContractName,
    pub version: u32,
    /// The SHA-256 of the pending version's code.
    pub code: Hash32,
}

impl Encode for ContractVote {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.name.encode_to(out);
        put::u32(out, self.version);
        self.code.encode_to(out);
    }
}

impl Decode for ContractVote {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ContractVote {
            org: OrgId::decode_from(r)?,
            name: ContractName::decode_from(r)?,
            version: r.u32("contract version")?,
            code: Hash32::decode_from(r)?,
        })
    }
}

impl ContractVote {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let (voter_org, quorum) = crate::identity::voter(state, signer, &self.org)?;
        let mut pending = version(state, &self.org, &self.name, self.version)
            .filter(|v| !v.is_active() && v.code == self.code)
            .ok_or(TxError::ContractNotPending)?;
        let code = CodeId(self.code.0);
        let ballot = keys::ballot(&self.org, &self.name, self.version, &code);
        let (votes, carried) = cast(state, ballot, voter_org.clone(), quorum)?;
        let mut events = vec![Event::ContractVoted {
            org: self.org.clone(),
            name: self.name.clone(),
            version: self.version,
            voter: voter_org,
            votes,
            quorum,
        }];
        if carried {
            pending.activated_at = Some(ctx.height);
            state.put_record(keys::version(&self.org, &self.name, self.version), &pending);
            state.put_record(keys::latest(&self.org, &self.name), &u64::from(self.version));
            events.push(Event::ContractActivated {
                org: self.org.clone(),
                name: self.name.clone(),
                version: self.version,
            });
        }
        Ok(events)
    }
}
