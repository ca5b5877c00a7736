//! `identity.register_member`: an organisation admin registers a new member and its key.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{KeyRecord, KeyStatus, MemberKind, MemberRecord, require_admin, require_org};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0101);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterMember {
    pub org: OrgId,
    pub member: MemberId,
    pub kind: MemberKind,
    pub public_key: PublicKey,
}

impl Encode for RegisterMember {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
        self.kind.encode_to(out);
        self.public_key.encode_to(out);
    }
}

impl Decode for RegisterMember {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RegisterMember {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
            kind: MemberKind::decode_from(r)?,
            public_key: PublicKey::decode_from(r)?,
        })
    }
}

impl RegisterMember {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_org(state, &self.org)?;
        require_admin(state, signer, &self.org)?;
        let member_key = keys::member(&self.org, &self.member);
        if state.get(&member_key).is_some() {
            return Err(TxError::MemberExists {
                org: self.org.clone(),
                member: self.member.clone(),
            });
        }
        let key_key = keys::key(&self.public_key);
        if state.get(&key_key).is_some() {
            return Err(TxError::KeyInUse(self.public_key));
        }
        state.put_record(
            member_key,
            &MemberRecord {
                kind: self.kind,
                key: self.public_key,
                active: true,
            },
        );
        state.put_record(
            key_key,
            &KeyRecord {
                org: self.org.clone(),
                member: self.member.clone(),
                kind: self.kind,
                status: KeyStatus::Active,
            },
        );
        Ok(vec![Event::MemberRegistered {
            org: self.org.clone(),
            member: self.member.clone(),
            kind: self.kind,
        }])
    }
}
