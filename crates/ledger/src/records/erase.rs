//! `records.erase`: the custodian records that it destroyed the keys and ciphertexts of a
//! patient's records (GDPR Art. 17). The signed transaction is the erasure receipt.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{ErasureRecord, RecordState, read_id, read_type, require_writer};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0202);

pub const MAX_RECORDS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsErase {
    pub custodian: OrgId,
    pub patient: String,
    pub records: Vec<(String, String)>,
}

impl Encode for RecordsErase {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.custodian.encode_to(out);
        put::str(out, &self.patient);
        put::len(out, self.records.len());
        for (t, id) in &self.records {
            put::str(out, t);
            put::str(out, id);
        }
    }
}

impl Decode for RecordsErase {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let custodian = OrgId::decode_from(r)?;
        let patient = read_id(r, "patient")?;
        let records = r.seq(MAX_RECORDS, 10, "records", |r| {
            Ok((read_type(r, "resource type")?, read_id(r, "record id")?))
        })?;
        if records.is_empty() {
            return Err(DecodeError::Invalid {
                what: "records",
                reason: "at least one record",
            });
        }
        Ok(RecordsErase {
            custodian,
            patient,
            records,
        })
    }
}

impl RecordsErase {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_writer(state, signer, &self.custodian)?;
        for (t, id) in &self.records {
            let key = keys::record(t, id);
            let mut r: RecordState = state.get_record(&key).ok_or(TxError::UnknownRecord)?;
            if r.custodian != self.custodian {
                return Err(TxError::NotCustodian);
            }
            if r.patient.as_deref() != Some(self.patient.as_str()) {
                return Err(TxError::PatientMismatch);
            }
            if r.erased {
                return Err(TxError::RecordErased);
            }
            r.erased = true;
            state.put_record(key, &r);
        }
        let n = self.records.len() as u32;
        state.put_record(
            keys::erasure(&self.patient, &self.custodian),
            &ErasureRecord {
                height: ctx.height,
                timestamp: ctx.timestamp,
                records: n,
            },
        );
        Ok(vec![Event::RecordsErased {
            custodian: self.custodian.clone(),
            patient: self.patient.clone(),
            records: n,
        }])
    }
}
