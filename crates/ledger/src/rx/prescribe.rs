//! `rx.prescribe`: a practitioner's FHIR `MedicationRequest` anchored as a prescription.
//!
//! The transaction carries codes and numbers only: the prescription id (a hash the
//! prescriber's system derives from its `MedicationRequest`), the patient's pseudonym, the
//! prescriber, the medication (RxNorm product and ingredient codes, strength per unit),
//! the quantity and expected days supply of one fill (`dispenseRequest.quantity` and
//! `expectedSupplyDuration`), the repeats (`numberOfRepeatsAllowed`), the schedule and
//! the end of validity (`validityPeriod.end`, as block time).
//!
//! Rules:
//! - Signed by the prescriber's own key, or by an admin or service key (the node) of the
//!   prescriber's organisation, which is a hospital or a clinic; the prescriber is an
//!   active practitioner member of that organisation.
//! - The patient's Patient record is on the ledger and not erased (as `records.anchor`
//!   requires of a record naming a patient).
//! - The id is new.
//! - An ingredient in the drug table: the declared schedule is at least as strict as the
//!   table's; an opioid's strength is in the unit of its MME factor (mg, or mcg/hr for a
//!   transdermal system), or the prescription is refused — monitoring must be able to count it.
//! - US DEA rules (21 CFR 1306.12, 1306.22): Schedule II allows no repeats; Schedules III
//!   and IV at most five, within six months (validity at most 184 days); anything else is
//!   valid at most 366 days. The validity ends after the block.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{Hash32, MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::table::table;
use super::{DAY_MS, Order, PrescriptionRecord, RxStatus, Schedule, prescription};
use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind, OrgRole, active_member, require_org, signer_record};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0701);

/// Most repeats of a Schedule III or IV prescription (21 CFR 1306.22(a)).
pub const MAX_REPEATS_III_IV: u32 = 5;
/// Longest validity of a Schedule III or IV prescription: six months, counted generously.
pub const MAX_VALID_DAYS_III_IV: u32 = 184;
/// Longest validity of any other prescription.
pub const MAX_VALID_DAYS: u32 = 366;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxPrescribe {
    pub id: Hash32,
    pub order: Order,
}

impl Encode for RxPrescribe {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.order.encode_to(out);
    }
}

impl Decode for RxPrescribe {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RxPrescribe {
            id: Hash32::decode_from(r)?,
            order: Order::decode_from(r)?,
        })
    }
}

/// The prescriber's organisation, if the signer may write for `prescriber` there: the
/// practitioner's own key, or an admin or service key of its organisation.
pub(super) fn prescriber_org(state: &Overlay<'_>, signer: &PublicKey, prescriber: &MemberId) -> Result<OrgId, TxError> {
    let key = signer_record(state, signer)?;
    if key.status != KeyStatus::Active {
        return Err(TxError::NotAuthorized);
    }
    let own = key.kind == MemberKind::Practitioner && &key.member == prescriber;
    if !own && !matches!(key.kind, MemberKind::Admin | MemberKind::Service) {
        return Err(TxError::NotAuthorized);
    }
    active_member(state, &key.org, prescriber)
        .filter(|m| m.kind == MemberKind::Practitioner)
        .ok_or_else(|| TxError::NotAPractitioner {
            org: key.org.clone(),
            member: prescriber.clone(),
        })?;
    Ok(key.org)
}

impl RxPrescribe {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let o = &self.order;
        let org = prescriber_org(state, signer, &o.prescriber)?;
        if !matches!(require_org(state, &org)?.role, OrgRole::Hospital | OrgRole::Clinic) {
            return Err(TxError::NotAuthorized);
        }
        if crate::records::record_state(state, "Patient", &o.patient).is_none_or(|r| r.erased) {
            return Err(TxError::UnknownPatient);
        }
        if prescription(state, &self.id).is_some() {
            return Err(TxError::PrescriptionExists);
        }
        self.check_drug()?;
        self.check_schedule_rules(ctx)?;
        state.put_record(
            keys::rx_prescription(&self.id),
            &PrescriptionRecord {
                order: o.clone(),
                org: org.clone(),
                status: RxStatus::Active,
                written: ctx.height,
                fills: 0,
                dispensed: 0,
                pharmacy: None,
                last_fill: None,
            },
        );
        Ok(vec![Event::PrescriptionWritten {
            prescription: self.id,
            org,
            prescriber: o.prescriber.clone(),
        }])
    }

    /// The drug table's schedule and MME factor for the ingredient, if it is listed.
    fn check_drug(&self) -> Result<(), TxError> {
        let table = table().map_err(|_| TxError::DrugTableInvalid)?;
        let Some(drug) = table.get(self.order.medication.ingredient) else {
            return Ok(());
        };
        if !self.order.schedule.at_least_as_strict_as(drug.schedule) {
            return Err(TxError::ScheduleMismatch {
                least_strict: drug.schedule,
            });
        }
        if super::monitor::fill_milli_mme(Some(drug), self.order.medication.strength, 1, 1).is_none() {
            return Err(TxError::NoMmeFactor {
                table: table.version.clone(),
            });
        }
        Ok(())
    }

    fn check_schedule_rules(&self, ctx: &BlockContext) -> Result<(), TxError> {
        let max_days = match self.order.schedule {
            Schedule::II if self.order.repeats > 0 => return Err(TxError::ScheduleIIRepeats),
            Schedule::III | Schedule::IV if self.order.repeats > MAX_REPEATS_III_IV => {
                return Err(TxError::TooManyRepeats {
                    max: MAX_REPEATS_III_IV,
                });
            }
            Schedule::III | Schedule::IV => MAX_VALID_DAYS_III_IV,
            _ => MAX_VALID_DAYS,
        };
        let latest = ctx.timestamp.0.saturating_add(u64::from(max_days) * DAY_MS);
        if self.order.valid_until.0 <= ctx.timestamp.0 || self.order.valid_until.0 > latest {
            return Err(TxError::BadValidity { max_days });
        }
        Ok(())
    }
}
