//! `identity.rotate_key`: replaces a member's key. Signed by an admin of the member's
//! organisation, or by the member with its current key. The old key is marked rotated
//! and can never sign again.
//!
//! A patient whose key was revoked (lost, stolen) is given a new key by the organisation
//! that enrolled them: the pseudonym is theirs for good, so rotation by the enrolling
//! organisation's admin makes the patient active again, with the new key.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{KeyRecord, KeyStatus, MemberKind, member_record, require_admin, require_org};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0103);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateKey {
    pub org: OrgId,
    pub member: MemberId,
    pub new_key: PublicKey,
}

impl Encode for RotateKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
        self.new_key.encode_to(out);
    }
}

impl Decode for RotateKey {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RotateKey {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
            new_key: PublicKey::decode_from(r)?,
        })
    }
}

impl RotateKey {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_org(state, &self.org)?;
        let member_key = keys::member(&self.org, &self.member);
        let mut member = member_record(state, &self.org, &self.member)?;
        let reenrol = !member.active && member.kind == MemberKind::Patient;
        if !member.active && !reenrol {
            return Err(TxError::MemberRevoked {
                org: self.org.clone(),
                member: self.member.clone(),
            });
        }
        if *signer != member.key || reenrol {
            require_admin(state, signer, &self.org)?;
        }
        let new_key_key = keys::key(&self.new_key);
        if state.get(&new_key_key).is_some() {
            return Err(TxError::KeyInUse(self.new_key));
        }
        let old_key = member.key;
        let old_key_key = keys::key(&old_key);
        if let Some(mut rec) = state.get_record::<KeyRecord>(&old_key_key)
            && rec.status == KeyStatus::Active
        {
            rec.status = KeyStatus::Rotated;
            state.put_record(old_key_key, &rec);
        }
        state.put_record(
            new_key_key,
            &KeyRecord {
                org: self.org.clone(),
                member: self.member.clone(),
                kind: member.kind,
                status: KeyStatus::Active,
            },
        );
        member.key = self.new_key;
        member.active = true;
        state.put_record(member_key, &member);
        Ok(vec![Event::KeyRotated {
            org: self.org.clone(),
            member: self.member.clone(),
            old_key,
            new_key: self.new_key,
        }])
    }
}
