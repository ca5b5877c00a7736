//! `consent.grant`: a patient allows someone to read some of their records, for some
//! purposes, until some time.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{PublicKey, TimestampMs, TxKind};
use serde::{Deserialize, Serialize};

use super::{
    ActiveList, ConsentRecord, ConsentScope, Grantee, MAX_ACTIVE, Purpose, decode_purposes, encode_opt_ts,
    encode_purposes, require_patient,
};
use crate::error::TxError;
use crate::identity::{member_record, require_org};
use crate::records::{read_id, read_opt};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0301);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    pub consent_id: String,
    pub patient: String,
    pub grantee: Grantee,
    pub scope: ConsentScope,
    pub purposes: Vec<Purpose>,
    pub expires: Option<TimestampMs>,
}

impl Encode for ConsentGrant {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.consent_id);
        put::str(out, &self.patient);
        self.grantee.encode_to(out);
        self.scope.encode_to(out);
        encode_purposes(out, &self.purposes);
        encode_opt_ts(out, self.expires);
    }
}

impl Decode for ConsentGrant {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConsentGrant {
            consent_id: read_id(r, "consent id")?,
            patient: read_id(r, "patient")?,
            grantee: Grantee::decode_from(r)?,
            scope: ConsentScope::decode_from(r)?,
            purposes: decode_purposes(r)?,
            expires: read_opt(r, "expires", TimestampMs::decode_from)?,
        })
    }
}

impl ConsentGrant {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_patient(state, signer, &self.patient)?;
        let key = keys::consent(&self.patient, &self.consent_id);
        if state.get(&key).is_some() {
            return Err(TxError::ConsentExists);
        }
        match &self.grantee {
            Grantee::Org(org) => {
                require_org(state, org)?;
            }
            Grantee::Practitioner { org, member } => {
                require_org(state, org)?;
                member_record(state, org, member)?;
            }
            Grantee::Study(_) => {}
        }
        if self.expires.is_some_and(|e| e <= ctx.timestamp) {
            return Err(TxError::ConsentExpired);
        }
        let list_key = keys::consents(&self.patient);
        let mut list: ActiveList = state.get_record(&list_key).unwrap_or_default();
        if list.0.len() >= MAX_ACTIVE {
            return Err(TxError::TooManyConsents);
        }
        let pos = list.0.binary_search(&self.consent_id).unwrap_or_else(|p| p);
        list.0.insert(pos, self.consent_id.clone());
        state.put_record(list_key, &list);
        state.put_record(
            key,
            &ConsentRecord {
                patient: self.patient.clone(),
                grantee: self.grantee.clone(),
                scope: self.scope.clone(),
                purposes: self.purposes.clone(),
                expires: self.expires,
                granted_at: ctx.timestamp,
                granted_height: ctx.height,
                revoked_at: None,
            },
        );
        Ok(vec![Event::ConsentGranted {
            patient: self.patient.clone(),
            consent_id: self.consent_id.clone(),
        }])
    }
}
