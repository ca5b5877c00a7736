//! Prescriptions and monitoring (issue 14, ADR 014 §7–9).
//!
//! A practitioner's FHIR `MedicationRequest` is anchored as a prescription
//! ([`prescribe`]); a pharmacy's `MedicationDispense` is checked against it network-wide
//! and recorded as a fill ([`dispense`]), which also dispenses the pack's serial in the
//! supply chain; the prescriber may cancel it ([`cancel`]). Every fill of an opioid or a
//! benzodiazepine updates the patient's monitoring window and may raise alerts
//! ([`monitor`]), computed from the compiled-in CDC table ([`table`]) in integer
//! thousandths, with thresholds the consortium sets by vote ([`mod@params`]). The same
//! computation previews a draft order without writing anything ([`monitor::preview`]),
//! for those [`view`] lets see the patient's monitoring.
//!
//! No clinical text reaches the ledger: a prescription holds codes and numbers (RxNorm
//! codes, strength, quantity, days supply, repeats, schedule, validity), the patient's
//! pseudonym and the prescriber; the dosage instructions stay in the FHIR resource with
//! its custodian. Days are UTC days of block time (`timestamp / 86 400 000`).
//!
//! # Records and keys
//!
//! - `rx/prescription/{hex id}` → [`PrescriptionRecord`]
//! - `rx/fill/{hex id}` → [`FillRecord`]: one dispense, with its alerts and the table
//!   version that computed them.
//! - `rx/patient/{pseudonym}` → [`PatientWindow`]: the recent monitored fills of a patient.
//! - `rx/params` → [`RxParams`] (absent: [`RxParams::default`]).
//! - `rx/params-ballot/{hex proposal hash}` → the consortium's [`Ballot`] on one proposal.
#![deny(clippy::float_arithmetic, clippy::float_cmp, clippy::cast_precision_loss)]

pub mod cancel;
pub mod dispense;
pub mod monitor;
pub mod params;
pub mod prescribe;
pub mod table;
pub mod view;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, Height, MemberId, OrgId, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::identity::Ballot;
use crate::records::{read_id, read_opt};
use crate::state::{StateRead, keys, read};

/// Longest table version string.
pub const MAX_TABLE_VERSION: usize = 32;
/// Most packs (serials) one fill names.
pub const MAX_PACKS: usize = 16;
/// Most fills a patient's monitoring window keeps; older ones are dropped first.
pub const MAX_WINDOW: usize = 128;
/// Most alerts one fill raises (there are five kinds).
pub const MAX_ALERTS: usize = 8;
/// Longest days supply of one prescription or fill.
pub const MAX_DAYS_SUPPLY: u32 = 366;
/// Most repeats any prescription may allow.
pub const MAX_REPEATS: u32 = 99;
/// One day of block time.
pub const DAY_MS: u64 = 86_400_000;

/// The UTC day of a block time.
pub fn day_of(t: TimestampMs) -> u32 {
    u32::try_from(t.0 / DAY_MS).unwrap_or(u32::MAX)
}

/// An RxNorm concept unique identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RxCui(pub u32);

impl Encode for RxCui {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u32(out, self.0);
    }
}

impl Decode for RxCui {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u32("rxcui")? {
            0 => Err(invalid("rxcui", "RxNorm codes start at 1")),
            n => Ok(RxCui(n)),
        }
    }
}

fn invalid(what: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { what, reason }
}

/// A US DEA controlled substance schedule (21 CFR 1308), or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    None,
    II,
    III,
    IV,
    V,
}

impl Schedule {
    fn tag(self) -> u8 {
        match self {
            Schedule::None => 0,
            Schedule::II => 2,
            Schedule::III => 3,
            Schedule::IV => 4,
            Schedule::V => 5,
        }
    }

    /// Lower is stricter; no schedule is the least strict.
    fn rank(self) -> u8 {
        match self {
            Schedule::None => u8::MAX,
            s => s.tag(),
        }
    }

    /// Whether `self` is at least as strict as `other`.
    pub fn at_least_as_strict_as(self, other: Schedule) -> bool {
        self.rank() <= other.rank()
    }

    pub fn name(self) -> &'static str {
        match self {
            Schedule::None => "unscheduled",
            Schedule::II => "II",
            Schedule::III => "III",
            Schedule::IV => "IV",
            Schedule::V => "V",
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Encode for Schedule {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, self.tag());
    }
}

impl Decode for Schedule {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("schedule")? {
            0 => Schedule::None,
            2 => Schedule::II,
            3 => Schedule::III,
            4 => Schedule::IV,
            5 => Schedule::V,
            tag => return Err(DecodeError::InvalidTag { what: "schedule", tag }),
        })
    }
}

/// The classes monitoring follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrugClass {
    Opioid,
    Benzodiazepine,
}

impl Encode for DrugClass {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, *self as u8);
    }
}

impl Decode for DrugClass {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("drug class")? {
            0 => DrugClass::Opioid,
            1 => DrugClass::Benzodiazepine,
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "drug class",
                    tag,
                });
            }
        })
    }
}

/// The strength of one dispensed unit, in thousandths (fixed point, never a float).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Strength {
    /// Milligrams of the ingredient in one unit (a tablet, a capsule, a millilitre).
    Mg { milli: u64 },
    /// A transdermal system releasing `milli`/1000 micrograms an hour, worn `hours` hours.
    McgPerHour { milli: u64, hours: u16 },
    /// Micrograms in one unit (not an MME unit in the 2022 table; for other products).
    Mcg { milli: u64 },
}

/// Largest strength a transaction may state (1,000,000 units).
const MAX_STRENGTH_MILLI: u64 = 1_000_000_000;

impl Encode for Strength {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Strength::Mg { milli } => {
                put::u8(out, 0);
                put::u64(out, *milli);
            }
            Strength::McgPerHour { milli, hours } => {
                put::u8(out, 1);
                put::u64(out, *milli);
                put::u16(out, *hours);
            }
            Strength::Mcg { milli } => {
                put::u8(out, 2);
                put::u64(out, *milli);
            }
        }
    }
}

impl Decode for Strength {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let s = match r.u8("strength")? {
            0 => Strength::Mg {
                milli: r.u64("strength")?,
            },
            1 => Strength::McgPerHour {
                milli: r.u64("strength")?,
                hours: r.u16("hours")?,
            },
            2 => Strength::Mcg {
                milli: r.u64("strength")?,
            },
            tag => return Err(DecodeError::InvalidTag { what: "strength", tag }),
        };
        let (Strength::Mg { milli } | Strength::McgPerHour { milli, .. } | Strength::Mcg { milli }) = s;
        if milli == 0 || milli > MAX_STRENGTH_MILLI {
            return Err(invalid("strength", "1 to 1,000,000,000 thousandths"));
        }
        if let Strength::McgPerHour { hours, .. } = s
            && !(1..=168).contains(&hours)
        {
            return Err(invalid("hours", "a transdermal system is worn 1 to 168 hours"));
        }
        Ok(s)
    }
}

/// What is prescribed, as codes and numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medication {
    /// The RxNorm code of `MedicationRequest.medicationCodeableConcept` (a clinical or
    /// branded drug), recorded as given.
    pub product: RxCui,
    /// The RxNorm ingredient monitoring counts (the opioid of a combination product): its
    /// class, schedule and MME factor come from the drug table.
    pub ingredient: RxCui,
    pub strength: Strength,
}

impl Encode for Medication {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.product.encode_to(out);
        self.ingredient.encode_to(out);
        self.strength.encode_to(out);
    }
}

impl Decode for Medication {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Medication {
            product: RxCui::decode_from(r)?,
            ingredient: RxCui::decode_from(r)?,
            strength: Strength::decode_from(r)?,
        })
    }
}

/// Whether a prescription may still be dispensed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RxStatus {
    Active,
    Cancelled { at: Height },
}

impl Encode for RxStatus {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            RxStatus::Active => put::u8(out, 0),
            RxStatus::Cancelled { at } => {
                put::u8(out, 1);
                at.encode_to(out);
            }
        }
    }
}

impl Decode for RxStatus {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("status")? {
            0 => RxStatus::Active,
            1 => RxStatus::Cancelled {
                at: Height::decode_from(r)?,
            },
            tag => return Err(DecodeError::InvalidTag { what: "status", tag }),
        })
    }
}

/// What a prescription orders, as the `MedicationRequest` says it: codes and numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The patient's pseudonym (the FHIR Patient id, as records name it).
    pub patient: String,
    /// A practitioner member of the prescribing organisation.
    pub prescriber: MemberId,
    pub medication: Medication,
    /// Units per fill (`dispenseRequest.quantity`), 1 to [`MAX_QUANTITY`].
    pub quantity: u32,
    /// Expected days supply of one fill, 1 to [`MAX_DAYS_SUPPLY`].
    pub days_supply: u32,
    /// Fills allowed after the first (`numberOfRepeatsAllowed`), 0 to [`MAX_REPEATS`].
    pub repeats: u32,
    pub schedule: Schedule,
    /// Block time from which it may no longer be dispensed (`validityPeriod.end`).
    pub valid_until: TimestampMs,
}

/// Most units in one fill.
pub const MAX_QUANTITY: u32 = 100_000;

/// A count in `1..=max` (or `0..=max` when zero is allowed).
pub(crate) fn read_count(
    r: &mut Reader<'_>,
    what: &'static str,
    zero: bool,
    max: u32,
    reason: &'static str,
) -> Result<u32, DecodeError> {
    let n = r.u32(what)?;
    if (n == 0 && !zero) || n > max {
        return Err(invalid(what, reason));
    }
    Ok(n)
}

impl Encode for Order {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.patient);
        self.prescriber.encode_to(out);
        self.medication.encode_to(out);
        put::u32(out, self.quantity);
        put::u32(out, self.days_supply);
        put::u32(out, self.repeats);
        self.schedule.encode_to(out);
        self.valid_until.encode_to(out);
    }
}

impl Decode for Order {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Order {
            patient: read_id(r, "patient")?,
            prescriber: MemberId::decode_from(r)?,
            medication: Medication::decode_from(r)?,
            quantity: read_count(r, "quantity", false, MAX_QUANTITY, "1 to 100,000 units")?,
            days_supply: read_count(r, "days supply", false, MAX_DAYS_SUPPLY, "1 to 366 days")?,
            repeats: read_count(r, "repeats", true, MAX_REPEATS, "0 to 99")?,
            schedule: Schedule::decode_from(r)?,
            valid_until: TimestampMs::decode_from(r)?,
        })
    }
}

/// `rx/prescription/{hex id}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrescriptionRecord {
    pub order: Order,
    /// The prescriber's organisation.
    pub org: OrgId,
    pub status: RxStatus,
    pub written: Height,
    /// Fills so far, and the units they dispensed.
    pub fills: u32,
    pub dispensed: u64,
    /// The organisation that filled it first, and alone may fill it again.
    pub pharmacy: Option<OrgId>,
    /// The day and days supply of the last fill (for early refills).
    pub last_fill: Option<(u32, u32)>,
}

impl PrescriptionRecord {
    /// Units the prescription allows in all: one fill's quantity for each fill.
    pub fn total_allowed(&self) -> u64 {
        u64::from(self.order.quantity) * (1 + u64::from(self.order.repeats))
    }
}

impl Encode for PrescriptionRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.order.encode_to(out);
        self.org.encode_to(out);
        self.status.encode_to(out);
        self.written.encode_to(out);
        put::u32(out, self.fills);
        put::u64(out, self.dispensed);
        put_opt(out, &self.pharmacy, |out, o| o.encode_to(out));
        put_opt(out, &self.last_fill, |out, (day, days)| {
            put::u32(out, *day);
            put::u32(out, *days);
        });
    }
}

impl Decode for PrescriptionRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PrescriptionRecord {
            order: Order::decode_from(r)?,
            org: OrgId::decode_from(r)?,
            status: RxStatus::decode_from(r)?,
            written: Height::decode_from(r)?,
            fills: r.u32("fills")?,
            dispensed: r.u64("dispensed")?,
            pharmacy: read_opt(r, "pharmacy", OrgId::decode_from)?,
            last_fill: read_opt(r, "last fill", |r| Ok((r.u32("day")?, r.u32("days")?)))?,
        })
    }
}

fn put_opt<T>(out: &mut Vec<u8>, v: &Option<T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => put::u8(out, 0),
        Some(v) => {
            put::u8(out, 1);
            f(out, v);
        }
    }
}

/// A level of the daily MME alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MmeLevel {
    /// At or above `mme_caution` (CDC 2022: reassess at 50 MME/day).
    Caution,
    /// At or above `mme_high` (90 MME/day).
    High,
}

/// What monitoring found when a fill was dispensed. Fills are named by their id, never
/// by patient data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alert", rename_all = "snake_case")]
pub enum Alert {
    /// The patient's opioids active on the day of the fill add up to `milli_per_day`
    /// thousandths of an MME a day, at or above `threshold` MME/day.
    Mme {
        level: MmeLevel,
        milli_per_day: u64,
        threshold: u32,
    },
    /// An opioid and a benzodiazepine overlap by `days` days.
    OpioidBenzodiazepine { other: Hash32, days: u32 },
    /// A repeat of the same prescription after `elapsed` days of the last fill's `supply`.
    EarlyRefill { elapsed: u32, supply: u32 },
    /// Another prescription's fill of the same ingredient overlaps by `days` days.
    SameDrug { other: Hash32, days: u32 },
    /// Monitored fills from `prescribers` prescribers and `pharmacies` pharmacies within
    /// `days` days.
    MultipleProviders {
        prescribers: u32,
        pharmacies: u32,
        days: u32,
    },
}

impl Encode for Alert {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Alert::Mme {
                level,
                milli_per_day,
                threshold,
            } => {
                put::u8(out, 0);
                put::u8(out, *level as u8);
                put::u64(out, *milli_per_day);
                put::u32(out, *threshold);
            }
            Alert::OpioidBenzodiazepine { other, days } => {
                put::u8(out, 1);
                other.encode_to(out);
                put::u32(out, *days);
            }
            Alert::EarlyRefill { elapsed, supply } => {
                put::u8(out, 2);
                put::u32(out, *elapsed);
                put::u32(out, *supply);
            }
            Alert::SameDrug { other, days } => {
                put::u8(out, 3);
                other.encode_to(out);
                put::u32(out, *days);
            }
            Alert::MultipleProviders {
                prescribers,
                pharmacies,
                days,
            } => {
                put::u8(out, 4);
                put::u32(out, *prescribers);
                put::u32(out, *pharmacies);
                put::u32(out, *days);
            }
        }
    }
}

impl Decode for Alert {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("alert")? {
            0 => Alert::Mme {
                level: match r.u8("level")? {
                    0 => MmeLevel::Caution,
                    1 => MmeLevel::High,
                    tag => return Err(DecodeError::InvalidTag { what: "level", tag }),
                },
                milli_per_day: r.u64("mme")?,
                threshold: r.u32("threshold")?,
            },
            1 => Alert::OpioidBenzodiazepine {
                other: Hash32::decode_from(r)?,
                days: r.u32("days")?,
            },
            2 => Alert::EarlyRefill {
                elapsed: r.u32("elapsed")?,
                supply: r.u32("supply")?,
            },
            3 => Alert::SameDrug {
                other: Hash32::decode_from(r)?,
                days: r.u32("days")?,
            },
            4 => Alert::MultipleProviders {
                prescribers: r.u32("prescribers")?,
                pharmacies: r.u32("pharmacies")?,
                days: r.u32("days")?,
            },
            tag => return Err(DecodeError::InvalidTag { what: "alert", tag }),
        })
    }
}

/// `rx/fill/{hex id}`: one dispense.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    pub prescription: Hash32,
    pub pharmacy: OrgId,
    pub quantity: u32,
    pub days_supply: u32,
    /// The UTC day of the block that recorded it.
    pub day: u32,
    /// The packs (SGTIN URNs) it dispensed: the link from a pack to the fill (ADR 014 §6).
    pub packs: Vec<String>,
    /// Its daily MME in thousandths (0 for anything but an opioid).
    pub milli_mme: u64,
    pub height: Height,
    /// The drug table that computed `milli_mme` and `alerts`.
    pub table_version: String,
    pub alerts: Vec<Alert>,
}

impl Encode for FillRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.prescription.encode_to(out);
        self.pharmacy.encode_to(out);
        put::u32(out, self.quantity);
        put::u32(out, self.days_supply);
        put::u32(out, self.day);
        put::len(out, self.packs.len());
        for p in &self.packs {
            put::str(out, p);
        }
        put::u64(out, self.milli_mme);
        self.height.encode_to(out);
        put::str(out, &self.table_version);
        put::len(out, self.alerts.len());
        for a in &self.alerts {
            a.encode_to(out);
        }
    }
}

impl Decode for FillRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FillRecord {
            prescription: Hash32::decode_from(r)?,
            pharmacy: OrgId::decode_from(r)?,
            quantity: r.u32("quantity")?,
            days_supply: r.u32("days supply")?,
            day: r.u32("day")?,
            packs: r.seq(MAX_PACKS, 4, "packs", |r| r.string(crate::supply::MAX_EPC_LEN, "pack"))?,
            milli_mme: r.u64("mme")?,
            height: Height::decode_from(r)?,
            table_version: r.string(MAX_TABLE_VERSION, "table version")?,
            alerts: r.seq(MAX_ALERTS, 1, "alerts", Alert::decode_from)?,
        })
    }
}

/// One monitored fill in a patient's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowFill {
    pub fill: Hash32,
    pub prescription: Hash32,
    pub ingredient: RxCui,
    pub class: DrugClass,
    /// Daily MME in thousandths (0 for a benzodiazepine).
    pub milli_mme: u64,
    /// First day covered, and the day after the last (`start + days supply`).
    pub start: u32,
    pub end: u32,
    pub prescriber_org: OrgId,
    pub prescriber: MemberId,
    pub pharmacy: OrgId,
}

impl Encode for WindowFill {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.fill.encode_to(out);
        self.prescription.encode_to(out);
        self.ingredient.encode_to(out);
        self.class.encode_to(out);
        put::u64(out, self.milli_mme);
        put::u32(out, self.start);
        put::u32(out, self.end);
        self.prescriber_org.encode_to(out);
        self.prescriber.encode_to(out);
        self.pharmacy.encode_to(out);
    }
}

impl Decode for WindowFill {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WindowFill {
            fill: Hash32::decode_from(r)?,
            prescription: Hash32::decode_from(r)?,
            ingredient: RxCui::decode_from(r)?,
            class: DrugClass::decode_from(r)?,
            milli_mme: r.u64("mme")?,
            start: r.u32("start")?,
            end: r.u32("end")?,
            prescriber_org: OrgId::decode_from(r)?,
            prescriber: MemberId::decode_from(r)?,
            pharmacy: OrgId::decode_from(r)?,
        })
    }
}

/// `rx/patient/{pseudonym}`: the patient's monitored fills that still matter, oldest
/// first — those still covering today, or started within the last [`MAX_DAYS_SUPPLY`]
/// days (the longest multiple-provider window the thresholds allow); at most
/// [`MAX_WINDOW`], the oldest dropped first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientWindow {
    pub fills: Vec<WindowFill>,
}

impl Encode for PatientWindow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.fills.len());
        for f in &self.fills {
            f.encode_to(out);
        }
    }
}

impl Decode for PatientWindow {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PatientWindow {
            fills: r.seq(MAX_WINDOW, 90, "window", WindowFill::decode_from)?,
        })
    }
}

/// The monitoring thresholds (`rx/params`), changed by the consortium's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxParams {
    /// MME/day at which a caution alert is raised (CDC 2022: 50).
    pub mme_caution: u32,
    /// MME/day at which a high alert is raised (90).
    pub mme_high: u32,
    /// Days two fills must overlap to raise an overlap alert (same drug, or opioid and
    /// benzodiazepine).
    pub overlap_days: u32,
    /// A repeat dispensed before this percentage of the last fill's days supply has
    /// elapsed is early.
    pub early_refill_percent: u32,
    /// A multiple-provider episode: at least this many prescribers and pharmacies …
    pub episode_prescribers: u32,
    pub episode_pharmacies: u32,
    /// … within this many days.
    pub episode_days: u32,
}

impl Default for RxParams {
    fn default() -> Self {
        RxParams {
            mme_caution: 50,
            mme_high: 90,
            overlap_days: 1,
            early_refill_percent: 75,
            episode_prescribers: 4,
            episode_pharmacies: 4,
            episode_days: 90,
        }
    }
}

impl RxParams {
    /// Every threshold in a range that means something.
    pub fn is_valid(&self) -> bool {
        (1..=10_000).contains(&self.mme_caution)
            && (self.mme_caution..=10_000).contains(&self.mme_high)
            && (1..=MAX_DAYS_SUPPLY).contains(&self.overlap_days)
            && (1..=100).contains(&self.early_refill_percent)
            && (2..=64).contains(&self.episode_prescribers)
            && (2..=64).contains(&self.episode_pharmacies)
            && (1..=MAX_DAYS_SUPPLY).contains(&self.episode_days)
    }
}

impl Encode for RxParams {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u32(out, self.mme_caution);
        put::u32(out, self.mme_high);
        put::u32(out, self.overlap_days);
        put::u32(out, self.early_refill_percent);
        put::u32(out, self.episode_prescribers);
        put::u32(out, self.episode_pharmacies);
        put::u32(out, self.episode_days);
    }
}

impl Decode for RxParams {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RxParams {
            mme_caution: r.u32("mme caution")?,
            mme_high: r.u32("mme high")?,
            overlap_days: r.u32("overlap days")?,
            early_refill_percent: r.u32("early refill percent")?,
            episode_prescribers: r.u32("episode prescribers")?,
            episode_pharmacies: r.u32("episode pharmacies")?,
            episode_days: r.u32("episode days")?,
        })
    }
}

/// The prescription, if it is on the ledger.
pub fn prescription(state: &dyn StateRead, id: &Hash32) -> Option<PrescriptionRecord> {
    read(state, &keys::rx_prescription(id))
}

/// The fill, if it is on the ledger.
pub fn fill(state: &dyn StateRead, id: &Hash32) -> Option<FillRecord> {
    read(state, &keys::rx_fill(id))
}

/// The patient's monitoring window (empty if the patient has no monitored fill).
pub fn window(state: &dyn StateRead, pseudonym: &str) -> PatientWindow {
    read(state, &keys::rx_patient(pseudonym)).unwrap_or_default()
}

/// The thresholds in force: voted by the consortium, or the defaults.
pub fn params(state: &dyn StateRead) -> RxParams {
    read(state, &keys::rx_params()).unwrap_or_default()
}

/// The organisations that voted for a proposal, if any has.
pub fn params_ballot(state: &dyn StateRead, proposal: &Hash32) -> Option<Ballot> {
    read(state, &keys::rx_params_ballot(proposal))
}
