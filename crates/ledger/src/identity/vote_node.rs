//! `identity.vote_node`: the consortium adds (or removes) a node of a member organisation.
//!
//! Rules:
//! - The nodes named in genesis (its `service` members) are nodes from the start.
//! - Another node of an organisation is an active `service` member that the organisation's
//!   admin registered; it becomes a node when `suspend_quorum` other organisations (from
//!   genesis) have voted to add it, in the block of the vote that reaches the quorum. The
//!   same vote removes a node. One vote per organisation; the ballot starts afresh after
//!   each change.
//! - Only an active admin of another organisation votes: an organisation cannot make its
//!   own service keys into nodes.
//! - Only node keys sign node-to-node requests (record transfer, forwarding): a service
//!   key an organisation registers for a script or a billing system is not a node.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{MemberKind, NodeRecord, cast, is_node, member_record};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0105);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteNode {
    pub org: OrgId,
    pub member: MemberId,
    /// `true` to add the node, `false` to remove it.
    pub add: bool,
}

impl Encode for VoteNode {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
        put::bool(out, self.add);
    }
}

impl Decode for VoteNode {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VoteNode {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
            add: r.bool("add")?,
        })
    }
}

impl VoteNode {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let (voter_org, quorum) = crate::identity::voter(state, signer, &self.org)?;
        let member = member_record(state, &self.org, &self.member)?;
        if self.add && (!member.active || member.kind != MemberKind::Service) {
            return Err(TxError::NotAService {
                org: self.org.clone(),
                member: self.member.clone(),
            });
        }
        if is_node(state, &self.org, &self.member) == self.add {
            return Err(TxError::NodeStatusUnchanged);
        }
        let (votes, carried) = cast(
            state,
            keys::node_ballot(&self.org, &self.member),
            voter_org.clone(),
            quorum,
        )?;
        let mut events = vec![Event::NodeVoted {
            org: self.org.clone(),
            member: self.member.clone(),
            voter: voter_org,
            add: self.add,
            votes,
            quorum,
        }];
        if carried {
            let node_key = keys::node(&self.org, &self.member);
            if self.add {
                state.put_record(node_key, &NodeRecord { added_at: ctx.height });
            } else {
                state.delete(node_key);
            }
            events.push(Event::NodeChanged {
                org: self.org.clone(),
                member: self.member.clone(),
                added: self.add,
            });
        }
        Ok(events)
    }
}
