//! `rx.cancel`: the prescriber withdraws a prescription; no further fill is dispensed.
//!
//! Rules:
//! - Signed by the prescriber's own key, or by an admin or service key of the
//!   prescriber's organisation — also once the prescriber has left it (a revoked
//!   practitioner's prescriptions stay valid until they expire or the organisation
//!   cancels them).
//! - The prescription is on the ledger, written by that organisation, and not already
//!   cancelled. Fills already dispensed stay on the ledger, as do their alerts.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{Hash32, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{RxStatus, prescription};
use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind, signer_record};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0703);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxCancel {
    pub prescription: Hash32,
}

impl Encode for RxCancel {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.prescription.encode_to(out);
    }
}

impl Decode for RxCancel {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RxCancel {
            prescription: Hash32::decode_from(r)?,
        })
    }
}

impl RxCancel {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let mut rx = prescription(state, &self.prescription).ok_or(TxError::UnknownPrescription)?;
        let key = signer_record(state, signer)?;
        let for_org = matches!(key.kind, MemberKind::Admin | MemberKind::Service);
        let prescriber = key.kind == MemberKind::Practitioner && key.member == rx.order.prescriber;
        if key.status != KeyStatus::Active || key.org != rx.org || !(for_org || prescriber) {
            return Err(TxError::NotAuthorized);
        }
        let org = key.org;
        if rx.status != RxStatus::Active {
            return Err(TxError::PrescriptionCancelled);
        }
        rx.status = RxStatus::Cancelled { at: ctx.height };
        state.put_record(keys::rx_prescription(&self.prescription), &rx);
        Ok(vec![Event::PrescriptionCancelled {
            prescription: self.prescription,
            by: org,
        }])
    }
}
