//! `rx.dispense`: a pharmacy's FHIR `MedicationDispense`, checked network-wide against its
//! prescription (`authorizingPrescription`) and recorded as a fill.
//!
//! The transaction carries the fill's id (a hash the pharmacy's system derives from its
//! `MedicationDispense`), the prescription id, the quantity, the days supply and the
//! serials (SGTIN URNs) of the packs handed out, where the packs are serialised.
//!
//! Rules, checked in this order, each refused with its own [`TxError`]:
//!
//! | rule | error |
//! |---|---|
//! | signed by an active admin, service or practitioner key of a pharmacy, hospital or clinic | `NotAuthorized` |
//! | the fill id is new | `FillExists` |
//! | the prescription is on the ledger | `UnknownPrescription` |
//! | it is not cancelled | `PrescriptionCancelled` |
//! | its validity has not ended (block time) | `PrescriptionExpired` |
//! | no other organisation has filled it (the first to fill it alone fills the repeats) | `FilledElsewhere` |
//! | Schedule II: it has not been filled yet | `ScheduleIIRefill` |
//! | a fill remains (`1 + repeats`) | `NoRepeatsLeft` |
//! | the quantity is at most one fill's quantity and at most what the prescription leaves | `QuantityExceeded` |
//! | each pack is held by the signer's organisation, `active`, not recalled, suspect or quarantined, not dispensed | the supply step's error, naming the pack by position (`UnknownEpc`, `NotHeld`, `ItemOnHold`, `ItemFinal`, `Aggregation`) |
//!
//! Then, all or nothing: each pack becomes `dispensed` in the supply chain (its
//! `last_event` is the fill id); the prescription counts the fill; the fill is recorded
//! under `rx/fill/{id}` with the packs, its daily MME and the alerts monitoring raises
//! ([`super::monitor`]), which are also returned as an `RxAlerts` event.

use medledger_gs1::ident::EpcUri;
use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::{Hash32, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::table::table;
use super::{
    FillRecord, MAX_DAYS_SUPPLY, MAX_PACKS, MAX_QUANTITY, PrescriptionRecord, RxStatus, Schedule, WindowFill, day_of,
    fill, monitor, params, prescription, read_count, window,
};
use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind, OrgRole, require_org, signer_record};
use crate::state::{Overlay, keys};
use crate::supply::{dispense_packs, put_epcs, read_epcs};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0702);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxDispense {
    pub id: Hash32,
    pub prescription: Hash32,
    pub quantity: u32,
    pub days_supply: u32,
    /// SGTIN pure identity URNs, canonical; none for an unserialised product.
    pub packs: Vec<EpcUri>,
}

impl Encode for RxDispense {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.prescription.encode_to(out);
        medledger_types::codec::put::u32(out, self.quantity);
        medledger_types::codec::put::u32(out, self.days_supply);
        put_epcs(out, &self.packs);
    }
}

impl Decode for RxDispense {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let d = RxDispense {
            id: Hash32::decode_from(r)?,
            prescription: Hash32::decode_from(r)?,
            quantity: read_count(r, "quantity", false, MAX_QUANTITY, "1 to 100,000 units")?,
            days_supply: read_count(r, "days supply", false, MAX_DAYS_SUPPLY, "1 to 366 days")?,
            packs: read_epcs(r, MAX_PACKS, "packs")?,
        };
        if d.packs.iter().any(|p| !matches!(p, EpcUri::Sgtin { .. })) {
            return Err(DecodeError::Invalid {
                what: "packs",
                reason: "a dispensed pack is an SGTIN",
            });
        }
        let mut seen: Vec<&EpcUri> = d.packs.iter().collect();
        seen.sort_by_key(|p| p.to_string());
        seen.dedup();
        if seen.len() != d.packs.len() {
            return Err(DecodeError::Invalid {
                what: "packs",
                reason: "a pack is listed twice",
            });
        }
        Ok(d)
    }
}

/// The signer's organisation, if it dispenses and the signer acts for it.
fn dispenser(state: &Overlay<'_>, signer: &PublicKey) -> Result<OrgId, TxError> {
    let key = signer_record(state, signer)?;
    if key.status != KeyStatus::Active
        || !matches!(
            key.kind,
            MemberKind::Admin | MemberKind::Service | MemberKind::Practitioner
        )
    {
        return Err(TxError::NotAuthorized);
    }
    match require_org(state, &key.org)?.role {
        OrgRole::Pharmacy | OrgRole::Hospital | OrgRole::Clinic => Ok(key.org),
        _ => Err(TxError::NotAuthorized),
    }
}

impl RxDispense {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let org = dispenser(state, signer)?;
        if fill(state, &self.id).is_some() {
            return Err(TxError::FillExists);
        }
        let mut rx = prescription(state, &self.prescription).ok_or(TxError::UnknownPrescription)?;
        self.check(&rx, &org, ctx)?;
        dispense_packs(state, &org, &self.packs, self.id, ctx.height)?;

        let table = table().map_err(|_| TxError::DrugTableInvalid)?;
        let drug = table.get(rx.order.medication.ingredient);
        let milli_mme = monitor::fill_milli_mme(drug, rx.order.medication.strength, self.quantity, self.days_supply)
            .ok_or_else(|| TxError::NoMmeFactor {
                table: table.version.clone(),
            })?;
        let today = day_of(ctx.timestamp);
        let thresholds = params(state);
        let mut alerts = Vec::new();
        if let Some(class) = drug.map(|d| d.class) {
            let mut win = window(state, &rx.order.patient);
            alerts = monitor::admit(
                &mut win,
                WindowFill {
                    fill: self.id,
                    prescription: self.prescription,
                    ingredient: rx.order.medication.ingredient,
                    class,
                    milli_mme,
                    start: today,
                    end: today.saturating_add(self.days_supply),
                    prescriber_org: rx.org.clone(),
                    prescriber: rx.order.prescriber.clone(),
                    pharmacy: org.clone(),
                },
                &thresholds,
            );
            state.put_record(keys::rx_patient(&rx.order.patient), &win);
        }
        alerts.extend(monitor::early_refill(rx.last_fill, today, &thresholds));

        rx.fills += 1;
        rx.dispensed += u64::from(self.quantity);
        rx.pharmacy = Some(org.clone());
        rx.last_fill = Some((today, self.days_supply));
        state.put_record(keys::rx_prescription(&self.prescription), &rx);
        state.put_record(
            keys::rx_fill(&self.id),
            &FillRecord {
                prescription: self.prescription,
                pharmacy: org.clone(),
                quantity: self.quantity,
                days_supply: self.days_supply,
                day: today,
                packs: self.packs.iter().map(EpcUri::to_string).collect(),
                milli_mme,
                height: ctx.height,
                table_version: table.version.clone(),
                alerts: alerts.clone(),
            },
        );
        let mut events = vec![Event::PrescriptionFilled {
            prescription: self.prescription,
            fill: self.id,
            pharmacy: org,
            number: rx.fills,
            packs: u32::try_from(self.packs.len()).unwrap_or(u32::MAX),
        }];
        if !alerts.is_empty() {
            events.push(Event::RxAlerts {
                fill: self.id,
                table_version: table.version.clone(),
                alerts,
            });
        }
        Ok(events)
    }

    /// The dispensing rules of the table above, up to the packs.
    fn check(&self, rx: &PrescriptionRecord, org: &OrgId, ctx: &BlockContext) -> Result<(), TxError> {
        if let RxStatus::Cancelled { .. } = rx.status {
            return Err(TxError::PrescriptionCancelled);
        }
        if ctx.timestamp >= rx.order.valid_until {
            return Err(TxError::PrescriptionExpired);
        }
        if rx.pharmacy.as_ref().is_some_and(|p| p != org) {
            return Err(TxError::FilledElsewhere);
        }
        if rx.order.schedule == Schedule::II && rx.fills > 0 {
            return Err(TxError::ScheduleIIRefill);
        }
        if rx.fills > rx.order.repeats {
            return Err(TxError::NoRepeatsLeft);
        }
        let remaining = rx
            .total_allowed()
            .saturating_sub(rx.dispensed)
            .min(u64::from(rx.order.quantity));
        if u64::from(self.quantity) > remaining {
            return Err(TxError::QuantityExceeded { remaining });
        }
        Ok(())
    }
}
