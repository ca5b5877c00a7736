//! Drug monitoring over every organisation's dispenses for a patient, computed at each
//! fill in integers so that every validator agrees.
//!
//! **Daily MME** of a fill (CDC 2022; the claims-data form "strength per unit × units per
//! day × factor"), in thousandths, rounded down once at the end:
//!
//! - mg products: `strength × quantity × factor / days supply`;
//! - transdermal systems (mcg/hr): `rate × systems worn at once × factor`, where
//!   `systems worn at once = quantity × hours worn each / (24 × days supply)` — ten
//!   72-hour 75 mcg/hr patches for 30 days are one patch at a time, 75 × 2.4 = 180 MME/day.
//!
//! A fill covers the days `[start, start + days supply)`, `start` being the UTC day of the
//! block that records it. When an opioid or a benzodiazepine is dispensed:
//!
//! | alert | raised when |
//! |---|---|
//! | `Mme` (caution, high) | the new opioid fill and the patient's other opioid fills covering today add up to at least `mme_caution` (`mme_high`) MME/day — only the higher level is raised |
//! | `OpioidBenzodiazepine` | a fill of the other class still covers at least `overlap_days` of the new fill's days |
//! | `SameDrug` | a fill of the same ingredient under another prescription covers at least `overlap_days` of them |
//! | `MultipleProviders` | the monitored fills started within the last `episode_days` days (the new one included) come from at least `episode_prescribers` prescribers and `episode_pharmacies` pharmacies |
//!
//! and for any prescription, `EarlyRefill` when a repeat comes before
//! `early_refill_percent`% of the previous fill's days supply has elapsed. Overlap alerts
//! name the other fill with the longest overlap (the older one on a tie). Fills before
//! today cover fewer days from today on, so the total on the day of the fill is the
//! highest the new fill sees: checking that day is enough.
//!
//! Alerts never refuse a dispense: they are decision support, recorded with the fill and
//! the table version, and returned as an event.
//!
//! [`preview`] answers the same question before anything is dispensed — for the draft
//! orders of a prescriber's EHR (CDS Hooks) or a prescription a pharmacy is about to fill —
//! by running [`admit`] on a copy of the patient's window. It writes nothing.

use std::collections::BTreeSet;

use medledger_types::{Hash32, MemberId, OrgId};

use super::table::{Drug, FactorUnit, table};
use super::{
    Alert, DrugClass, MAX_DAYS_SUPPLY, MAX_WINDOW, Medication, MmeLevel, PatientWindow, RxParams, Strength, WindowFill,
    params, prescription, window,
};
use crate::error::TxError;
use crate::state::StateRead;

/// The daily MME of a fill, in thousandths, or `None` when the drug's factor does not
/// apply to the strength's unit (a drug without a factor gives 0).
pub fn fill_milli_mme(drug: Option<&Drug>, strength: Strength, quantity: u32, days_supply: u32) -> Option<u64> {
    let Some((unit, factor)) = drug.and_then(|d| d.factor) else {
        return Some(0);
    };
    let (q, d, f) = (u128::from(quantity), u128::from(days_supply.max(1)), u128::from(factor));
    let milli = match (unit, strength) {
        (FactorUnit::Mg, Strength::Mg { milli }) => u128::from(milli) * q * f / (1000 * d),
        (FactorUnit::McgPerHour, Strength::McgPerHour { milli, hours }) => {
            u128::from(milli) * q * u128::from(hours) * f / (1000 * 24 * d)
        }
        _ => return None,
    };
    Some(u64::try_from(milli).unwrap_or(u64::MAX))
}

/// The early-refill alert for a repeat on `today` of a prescription last filled on
/// `last = (day, days supply)`.
pub fn early_refill(last: Option<(u32, u32)>, today: u32, params: &RxParams) -> Option<Alert> {
    let (day, supply) = last?;
    let elapsed = today.saturating_sub(day);
    (u64::from(elapsed) * 100 < u64::from(supply) * u64::from(params.early_refill_percent))
        .then_some(Alert::EarlyRefill { elapsed, supply })
}

/// Adds `new` (starting today) to the window and returns the alerts it raises, in the
/// order of the table above. Fills that no longer matter are dropped first, and the oldest
/// ones when the window is full.
pub fn admit(window: &mut PatientWindow, new: WindowFill, params: &RxParams) -> Vec<Alert> {
    let today = new.start;
    window
        .fills
        .retain(|f| f.end > today || f.start.saturating_add(MAX_DAYS_SUPPLY) > today);
    let mut alerts = Vec::new();
    let covering: Vec<&WindowFill> = window.fills.iter().filter(|f| f.end > today).collect();

    if new.class == DrugClass::Opioid {
        let total = covering
            .iter()
            .filter(|f| f.class == DrugClass::Opioid)
            .fold(new.milli_mme, |sum, f| sum.saturating_add(f.milli_mme));
        let reached = |threshold: u32| total >= u64::from(threshold) * 1000;
        let level = if reached(params.mme_high) {
            Some((MmeLevel::High, params.mme_high))
        } else if reached(params.mme_caution) {
            Some((MmeLevel::Caution, params.mme_caution))
        } else {
            None
        };
        if let Some((level, threshold)) = level {
            alerts.push(Alert::Mme {
                level,
                milli_per_day: total,
                threshold,
            });
        }
    }

    let overlap = |f: &WindowFill| f.end.min(new.end).saturating_sub(today);
    let longest = |pick: &dyn Fn(&WindowFill) -> bool| {
        covering
            .iter()
            .filter(|f| pick(f))
            .map(|f| (overlap(f), f.fill))
            .filter(|(days, _)| *days >= params.overlap_days)
            // The first (oldest) of the longest overlaps.
            .fold(None, |best: Option<(u32, _)>, cur| match best {
                Some(b) if b.0 >= cur.0 => Some(b),
                _ => Some(cur),
            })
    };
    if let Some((days, other)) = longest(&|f| f.class != new.class) {
        alerts.push(Alert::OpioidBenzodiazepine { other, days });
    }
    if let Some((days, other)) = longest(&|f| f.ingredient == new.ingredient && f.prescription != new.prescription) {
        alerts.push(Alert::SameDrug { other, days });
    }

    let recent = window
        .fills
        .iter()
        .filter(|f| f.start.saturating_add(params.episode_days) > today)
        .chain(std::iter::once(&new));
    let mut prescribers = BTreeSet::new();
    let mut pharmacies = BTreeSet::new();
    for f in recent {
        prescribers.insert((&f.prescriber_org, &f.prescriber));
        pharmacies.insert(&f.pharmacy);
    }
    let (prescribers, pharmacies) = (count(prescribers.len()), count(pharmacies.len()));
    if prescribers >= params.episode_prescribers && pharmacies >= params.episode_pharmacies {
        alerts.push(Alert::MultipleProviders {
            prescribers,
            pharmacies,
            days: params.episode_days,
        });
    }

    window.fills.push(new);
    if window.fills.len() > MAX_WINDOW {
        let excess = window.fills.len() - MAX_WINDOW;
        window.fills.drain(..excess);
    }
    alerts
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A fill that has not happened: a draft order, or a prescription about to be filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub medication: Medication,
    pub quantity: u32,
    pub days_supply: u32,
    /// The prescription on the ledger this would fill (again), if it is one: its earlier
    /// fills are not "another prescription" of the same drug, and a repeat may be early.
    /// Ignored unless it is the same patient's.
    pub prescription: Option<Hash32>,
    /// The prescriber, when known (else the named prescription's).
    pub prescriber: Option<(OrgId, MemberId)>,
    /// The organisation that would dispense, when known (a draft order has none yet).
    pub pharmacy: Option<OrgId>,
    /// Who asks for the preview. An unknown prescriber or pharmacy is counted as the one
    /// of the patient's latest monitored fill, so it never adds a provider; when the
    /// patient has none, the asker stands in for it (one provider alone is no episode).
    pub requester: (OrgId, MemberId),
}

/// What monitoring would raise for one draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The draft's own daily MME, in thousandths (0 for anything but an opioid).
    pub milli_mme_per_day: u64,
    /// The alerts, as [`admit`] and [`early_refill`] would raise them at the fill.
    pub alerts: Vec<Alert>,
    /// The drug table that computed them.
    pub table_version: String,
}

/// What dispensing each draft today would raise against `patient`'s monitoring window and
/// the thresholds in force, the drafts taken as filled one after the other in this order
/// (two drafts signed together count together). Nothing is written. A draft that
/// `rx.dispense` could not count (an opioid whose strength unit has no MME factor) gets
/// that error and is left out of the window.
pub fn preview(state: &dyn StateRead, patient: &str, drafts: &[Draft], today: u32) -> Vec<Result<Preview, TxError>> {
    let Ok(table) = table() else {
        return drafts.iter().map(|_| Err(TxError::DrugTableInvalid)).collect();
    };
    let thresholds = params(state);
    let mut win = window(state, patient);
    drafts
        .iter()
        .enumerate()
        .map(|(n, draft)| {
            let drug = table.get(draft.medication.ingredient);
            let milli_mme = fill_milli_mme(drug, draft.medication.strength, draft.quantity, draft.days_supply)
                .ok_or_else(|| TxError::NoMmeFactor {
                    table: table.version.clone(),
                })?;
            let named = draft
                .prescription
                .and_then(|id| Some((id, prescription(state, &id)?)))
                .filter(|(_, rx)| rx.order.patient == patient);
            let mut alerts = Vec::new();
            if let Some(class) = drug.map(|d| d.class) {
                let latest = win.fills.last();
                let prescriber = draft
                    .prescriber
                    .clone()
                    .or_else(|| {
                        named
                            .as_ref()
                            .map(|(_, rx)| (rx.org.clone(), rx.order.prescriber.clone()))
                    })
                    .or_else(|| latest.map(|f| (f.prescriber_org.clone(), f.prescriber.clone())))
                    .unwrap_or_else(|| draft.requester.clone());
                let pharmacy = draft
                    .pharmacy
                    .clone()
                    .or_else(|| named.as_ref().and_then(|(_, rx)| rx.pharmacy.clone()))
                    .or_else(|| latest.map(|f| f.pharmacy.clone()))
                    .unwrap_or_else(|| draft.requester.0.clone());
                let synthetic = |what: &[u8]| Hash32::digest(&[b"medledger/rx/preview/v1\0", what, &n.to_le_bytes()]);
                let new = WindowFill {
                    fill: synthetic(b"fill"),
                    prescription: named.as_ref().map_or_else(|| synthetic(b"prescription"), |(id, _)| *id),
                    ingredient: draft.medication.ingredient,
                    class,
                    milli_mme,
                    start: today,
                    end: today.saturating_add(draft.days_supply),
                    prescriber_org: prescriber.0,
                    prescriber: prescriber.1,
                    pharmacy,
                };
                alerts = admit(&mut win, new, &thresholds);
            }
            let last_fill = named.and_then(|(_, rx)| rx.last_fill);
            alerts.extend(early_refill(last_fill, today, &thresholds));
            Ok(Preview {
                milli_mme_per_day: milli_mme,
                alerts,
                table_version: table.version.clone(),
            })
        })
        .collect()
}
