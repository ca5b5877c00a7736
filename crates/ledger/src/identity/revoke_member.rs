//! `identity.revoke_member`: an organisation admin revokes a member; its key can never
//! sign again.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{KeyRecord, KeyStatus, member_record, require_admin, require_org};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0102);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeMember {
    pub org: OrgId,
    pub member: MemberId,
}

impl Encode for RevokeMember {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
    }
}

impl Decode for RevokeMember {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RevokeMember {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
        })
    }
}

impl RevokeMember {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_org(state, &self.org)?;
        require_admin(state, signer, &self.org)?;
        let member_key = keys::member(&self.org, &self.member);
        let mut member = member_record(state, &self.org, &self.member)?;
        if member.key == *signer {
            return Err(TxError::SelfRevocation);
        }
        if !member.active {
            return Err(TxError::MemberRevoked {
                org: self.org.clone(),
                member: self.member.clone(),
            });
        }
        member.active = false;
        let key_key = keys::key(&member.key);
        if let Some(mut rec) = state.get_record::<KeyRecord>(&key_key) {
            rec.status = KeyStatus::Revoked;
            state.put_record(key_key, &rec);
        }
        state.put_record(member_key, &member);
        Ok(vec![Event::MemberRevoked {
            org: self.org.clone(),
            member: self.member.clone(),
        }])
    }
}
