//! `consent.revoke`: the patient withdraws a consent; it stops at this block.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{ActiveList, ConsentRecord, require_patient};
use crate::error::TxError;
use crate::records::read_id;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0302);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRevoke {
    pub patient: String,
    pub consent_id: String,
}

impl Encode for ConsentRevoke {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.patient);
        put::str(out, &self.consent_id);
    }
}

impl Decode for ConsentRevoke {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConsentRevoke {
            patient: read_id(r, "patient")?,
            consent_id: read_id(r, "consent id")?,
        })
    }
}

impl ConsentRevoke {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_patient(state, signer, &self.patient)?;
        let key = keys::consent(&self.patient, &self.consent_id);
        let mut rec: ConsentRecord = state.get_record(&key).ok_or(TxError::UnknownConsent)?;
        if rec.revoked_at.is_some() {
            return Err(TxError::ConsentRevoked);
        }
        rec.revoked_at = Some(ctx.timestamp);
        state.put_record(key, &rec);
        let list_key = keys::consents(&self.patient);
        let mut list: ActiveList = state.get_record(&list_key).unwrap_or_default();
        list.0.retain(|id| id != &self.consent_id);
        state.put_record(list_key, &list);
        Ok(vec![Event::ConsentRevoked {
            patient: self.patient.clone(),
            consent_id: self.consent_id.clone(),
        }])
    }
}
