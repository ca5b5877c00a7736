//! `identity.register_member`: an organisation admin registers a new member and its key.
//!
//! A `patient` member enrols a patient pseudonym network-wide: its member id must be the id
//! of a Patient record the organisation holds (not erased), and the pseudonym must not be
//! enrolled anywhere yet. So another organisation cannot register a member under a
//! patient's pseudonym and act as that patient.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{KeyRecord, KeyStatus, MemberKind, MemberRecord, PatientRecord, require_admin, require_org};
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
        if self.kind == MemberKind::Patient {
            self.enrol_patient(state)?;
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

    /// Enrols the patient pseudonym for this organisation, once in the whole network.
    fn enrol_patient(&self, state: &mut Overlay<'_>) -> Result<(), TxError> {
        let pseudonym = self.member.as_str();
        let key = keys::patient(pseudonym);
        if state.get(&key).is_some() {
            return Err(TxError::PatientEnrolled);
        }
        let held_here = crate::records::record_state(state, "Patient", pseudonym)
            .is_some_and(|r| r.custodian == self.org && !r.erased);
        if !held_here {
            return Err(TxError::NotPatientCustodian);
        }
        state.put_record(key, &PatientRecord { org: self.org.clone() });
        Ok(())
    }
}
