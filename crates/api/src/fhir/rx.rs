//! Prescriptions and dispenses written as FHIR (issue 14, ADR 014 §12).
//!
//! - A `MedicationRequest` that is an active order with a `dispenseRequest` is a
//!   prescription: before the record is stored, the node derives `rx.prescribe` from it,
//!   checks it against the ledger and commits it. The stored record carries the
//!   prescription's ledger id as an identifier in `urn:medledger:rx`, which pharmacies name
//!   in `MedicationDispense.authorizingPrescription`. A later version with status
//!   `cancelled`, `stopped` or `entered-in-error` cancels it (`rx.cancel`); a version that
//!   changes what was ordered is refused (cancel and write a new one).
//! - A `MedicationDispense` with status `completed` whose `authorizingPrescription` names
//!   a prescription by that identifier is a fill: `rx.dispense`, checked network-wide,
//!   committed before the record is stored. The alerts drug monitoring raised are stored
//!   with it as contained `DetectedIssue`s in `detectedIssue`.
//! - Only single creates and updates take ledger steps. In a Bundle (an import, a
//!   history) these resources are stored as the records they are, as every other entry: a
//!   Bundle is written all or nothing, a ledger step one block at a time; and a prescription
//!   that is not on the ledger cannot be filled through it.
//!
//! The ledger refuses what it refuses with its own reason (422, `business-rule`), and
//! nothing is stored. Only codes and numbers reach the ledger (ADR 014 §7).
//!
//! How the order is read: the RxNorm product from `medicationCodeableConcept` (or the
//! contained `Medication`'s `code`); ingredient and strength from a contained `Medication`
//! (`medicationReference: {"reference": "#…"}`), `ingredient[].itemCodeableConcept` in
//! RxNorm and `ingredient[].strength` a Ratio of UCUM `mg`, `ug` or `ug/h` per one unit (a
//! combination product counts its monitored ingredient); for `ug/h` (a patch) the hours
//! one is worn from `dosageInstruction[0].timing.repeat.period` in `h` or `d`; the fill's
//! quantity, days supply, repeats and validity from `dispenseRequest`; the schedule from
//! the drug table, made stricter by the extension [`SCHEDULE_EXTENSION`].

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use axum::http::StatusCode;
use medledger_custody::Actor;
use medledger_gs1::epcis::Epc;
use medledger_ledger::error::TxError;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::rx::cancel::RxCancel;
use medledger_ledger::rx::dispense::RxDispense;
use medledger_ledger::rx::prescribe::{MAX_VALID_DAYS, MAX_VALID_DAYS_III_IV, RxPrescribe};
use medledger_ledger::rx::table::table;
use medledger_ledger::rx::{
    Alert, DAY_MS, MAX_DAYS_SUPPLY, MAX_PACKS, MAX_QUANTITY, MAX_REPEATS, Medication, MmeLevel, Order, RxCui, RxStatus,
    Schedule, Strength,
};
use medledger_ledger::state::StateRead;
use medledger_types::codec::Encode;
use medledger_types::{Hash32, MemberId, OrgId, TimestampMs, TxKind};
use serde_json::{Value, json};

use super::FhirError;
use crate::AppState;

/// The identifier system of a prescription's ledger id (64 hex digits).
pub const RX_SYSTEM: &str = "urn:medledger:rx";
/// An extension on a `MedicationRequest` or its contained `Medication` declaring the US
/// DEA schedule (`valueCode` `II`, `III`, `IV` or `V`), where the product is scheduled
/// more strictly than the drug table's least strict for its ingredient.
pub const SCHEDULE_EXTENSION: &str = "https://medledger.dev/fhir/StructureDefinition/dea-schedule";
/// The code system of the alerts' `DetectedIssue.code`.
pub const ALERT_SYSTEM: &str = "https://medledger.dev/fhir/CodeSystem/rx-alert";
/// The RxNorm code system.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// UCUM, the code system of quantities' units.
pub const UCUM: &str = "http://unitsofmeasure.org";
const MEMBER_SYSTEM: &str = "urn:medledger:member";
const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// A default validity ends this much before the ledger's limit, for clocks a little apart.
const VALIDITY_MARGIN_MS: u64 = 3_600_000;

/// What a FHIR write asks of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerStep {
    Prescribe(RxPrescribe),
    Dispense(RxDispense),
    Cancel(RxCancel),
}

impl LedgerStep {
    fn kind_and_body(&self) -> (TxKind, Vec<u8>) {
        match self {
            LedgerStep::Prescribe(p) => (medledger_ledger::rx::prescribe::KIND, p.encode()),
            LedgerStep::Dispense(d) => (medledger_ledger::rx::dispense::KIND, d.encode()),
            LedgerStep::Cancel(c) => (medledger_ledger::rx::cancel::KIND, c.encode()),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            LedgerStep::Prescribe(_) => "prescription",
            LedgerStep::Dispense(_) => "dispense",
            LedgerStep::Cancel(_) => "cancellation",
        }
    }
}

/// The ledger id of the prescription written as `MedicationRequest/{id}` at `org`.
pub fn prescription_id(org: &OrgId, id: &str) -> Hash32 {
    Hash32::digest(&[
        b"medledger rx.prescribe\0",
        org.as_str().as_bytes(),
        b"\0",
        id.as_bytes(),
    ])
}

/// The ledger id of the fill written as `MedicationDispense/{id}` at `org`.
pub fn fill_id(org: &OrgId, id: &str) -> Hash32 {
    Hash32::digest(&[
        b"medledger rx.dispense\0",
        org.as_str().as_bytes(),
        b"\0",
        id.as_bytes(),
    ])
}

fn refuse(message: impl Into<String>) -> FhirError {
    FhirError::unprocessable(message)
}

/// What writing `resource` as `{resource_type}/{id}` at `org` (by `actor`, at `now`) asks
/// of the ledger, if anything. Completes the resource as it will be stored: a
/// prescription's ledger identifier and, where it had none, its validity's end.
pub fn plan(
    state: &dyn StateRead,
    actor: &Actor,
    org: &OrgId,
    resource_type: &str,
    id: &str,
    resource: &mut Value,
    now: TimestampMs,
) -> Result<Option<LedgerStep>, FhirError> {
    match resource_type {
        "MedicationRequest" => plan_request(state, actor, org, id, resource, now),
        "MedicationDispense" => plan_dispense(state, org, id, resource),
        _ => Ok(None),
    }
}

fn plan_request(
    state: &dyn StateRead,
    actor: &Actor,
    org: &OrgId,
    id: &str,
    r: &mut Value,
    now: TimestampMs,
) -> Result<Option<LedgerStep>, FhirError> {
    let rx_id = prescription_id(org, id);
    if rx_identifiers(r).any(|v| v != rx_id.to_hex()) {
        return Err(refuse(format!(
            "identifiers in {RX_SYSTEM} are given by the ledger; this MedicationRequest's is its own"
        )));
    }
    let status = r.get("status").and_then(Value::as_str).unwrap_or_default().to_string();
    // A prescription for the ledger: an active order to dispense an RxNorm-coded product.
    // Anything else (another code system, a plan, history) is an ordinary record.
    let ordered = status == "active"
        && matches!(
            r.get("intent").and_then(Value::as_str),
            Some("order" | "original-order")
        )
        && r.get("dispenseRequest").is_some()
        && rxnorm_product(r).is_some();
    let Some(existing) = medledger_ledger::rx::prescription(state, &rx_id) else {
        if !ordered {
            return Ok(None);
        }
        let order = order_of(actor, org, r, now, None)?;
        set_identifier(r, &rx_id);
        if r.pointer("/dispenseRequest/validityPeriod/end").is_none() {
            let end = super::time::instant(order.valid_until.0.saturating_sub(1));
            match r.pointer_mut("/dispenseRequest/validityPeriod") {
                Some(Value::Object(p)) => {
                    p.insert("end".into(), Value::String(end));
                }
                _ => {
                    if let Some(Value::Object(d)) = r.get_mut("dispenseRequest") {
                        d.insert("validityPeriod".into(), json!({ "end": end }));
                    }
                }
            }
        }
        return Ok(Some(LedgerStep::Prescribe(RxPrescribe { id: rx_id, order })));
    };
    set_identifier(r, &rx_id);
    if matches!(status.as_str(), "cancelled" | "stopped" | "entered-in-error") {
        return Ok(
            (existing.status == RxStatus::Active).then_some(LedgerStep::Cancel(RxCancel { prescription: rx_id }))
        );
    }
    if existing.status != RxStatus::Active && status == "active" {
        return Err(refuse(
            "this prescription is cancelled on the ledger and stays so; write a new MedicationRequest",
        ));
    }
    if ordered {
        let order = order_of(actor, org, r, now, Some(&existing.order.prescriber))?;
        if order != existing.order {
            return Err(refuse(
                "a prescription on the ledger is not edited: set this one's status to cancelled and write a new MedicationRequest",
            ));
        }
    }
    Ok(None)
}

/// The identifier values in [`RX_SYSTEM`].
pub(crate) fn rx_identifiers(r: &Value) -> impl Iterator<Item = &str> {
    r.get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("system").and_then(Value::as_str) == Some(RX_SYSTEM))
        .map(|i| i.get("value").and_then(Value::as_str).unwrap_or_default())
}

fn set_identifier(r: &mut Value, rx_id: &Hash32) {
    if rx_identifiers(r).next().is_some() {
        return;
    }
    let Some(obj) = r.as_object_mut() else { return };
    let list = obj.entry("identifier").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.push(json!({"system": RX_SYSTEM, "value": rx_id.to_hex()}));
    }
}

/// The order a `MedicationRequest` makes, as the ledger records it. `prescriber` is the
/// prescriber on the ledger already (an update), which a requester naming no member keeps.
fn order_of(
    actor: &Actor,
    org: &OrgId,
    r: &Value,
    now: TimestampMs,
    prescriber: Option<&MemberId>,
) -> Result<Order, FhirError> {
    let patient = r
        .pointer("/subject/reference")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("Patient/"))
        .filter(|p| medledger_fhir::reference::valid_id(p))
        .ok_or_else(|| refuse("a prescription's subject is a Patient on this network (Patient/<id>)"))?
        .to_string();
    let prescriber = match (member_named(r.pointer("/requester/identifier"))?, prescriber) {
        (Some((o, m)), _) if &o == org => m,
        (Some(_), _) => {
            return Err(refuse(
                "the requester is a practitioner of another organisation: prescriptions are written at the prescriber's own organisation",
            ));
        }
        (None, Some(p)) => p.clone(),
        (None, None) if actor.kind == MemberKind::Practitioner => actor.member.clone(),
        (None, None) => {
            return Err(refuse(format!(
                "name the prescriber: requester.identifier in {MEMBER_SYSTEM} (<org>/<member>), or write as the practitioner"
            )));
        }
    };
    let (medication, declared) = medication_of(r).map_err(refuse)?;
    let dr = r.get("dispenseRequest").unwrap_or(&Value::Null);
    let quantity = whole(dr.pointer("/quantity/value"))
        .filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q))
        .ok_or_else(|| refuse(format!("dispenseRequest.quantity.value: 1 to {MAX_QUANTITY} units")))?;
    let days_supply = days_of(dr.get("expectedSupplyDuration"))
        .map_err(|e| refuse(format!("dispenseRequest.expectedSupplyDuration: {e}")))?;
    let repeats = match dr.get("numberOfRepeatsAllowed") {
        None => 0,
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= u64::from(MAX_REPEATS))
            .ok_or_else(|| refuse(format!("dispenseRequest.numberOfRepeatsAllowed: 0 to {MAX_REPEATS}")))?,
    };
    let listed = table()
        .ok()
        .and_then(|t| t.get(medication.ingredient))
        .map(|d| d.schedule);
    let schedule = match (listed, declared) {
        (Some(a), Some(b)) if b.at_least_as_strict_as(a) => b,
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => Schedule::None,
    };
    let valid_until = match dr.pointer("/validityPeriod/end") {
        Some(end) => {
            let text = end
                .as_str()
                .ok_or_else(|| refuse("dispenseRequest.validityPeriod.end is a dateTime"))?;
            let range = medledger_fhir::date::parse_fhir_date(text)
                .map_err(|e| refuse(format!("dispenseRequest.validityPeriod.end: {e}")))?;
            TimestampMs(u64::try_from(range.end).unwrap_or(0))
        }
        None => {
            let days = match schedule {
                Schedule::III | Schedule::IV => MAX_VALID_DAYS_III_IV,
                _ => MAX_VALID_DAYS,
            };
            TimestampMs(now.0 + u64::from(days) * DAY_MS - VALIDITY_MARGIN_MS)
        }
    };
    Ok(Order {
        patient,
        prescriber,
        medication,
        quantity: u32::try_from(quantity).unwrap_or(MAX_QUANTITY),
        days_supply,
        repeats: u32::try_from(repeats).unwrap_or(MAX_REPEATS),
        schedule,
        valid_until,
    })
}

/// An identifier in `urn:medledger:member` (`<org>/<member>`), if one is given.
fn member_named(identifier: Option<&Value>) -> Result<Option<(OrgId, MemberId)>, FhirError> {
    let Some(i) = identifier else { return Ok(None) };
    if i.get("system").and_then(Value::as_str) != Some(MEMBER_SYSTEM) {
        return Ok(None);
    }
    let bad = || {
        refuse(format!(
            "requester.identifier: {MEMBER_SYSTEM} values are <org>/<member>"
        ))
    };
    let (o, m) = i
        .get("value")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .ok_or_else(bad)?;
    Ok(Some((
        OrgId::new(o).map_err(|_| bad())?,
        MemberId::new(m).map_err(|_| bad())?,
    )))
}

/// The RxNorm code in a CodeableConcept.
fn rxnorm(concept: Option<&Value>) -> Option<Result<RxCui, String>> {
    let coding = concept?
        .get("coding")?
        .as_array()?
        .iter()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(RXNORM))?;
    let code = coding.get("code").and_then(Value::as_str).unwrap_or_default();
    Some(
        code.parse::<u32>()
            .ok()
            .filter(|n| *n > 0 && code.len() <= 10 && code.bytes().all(|b| b.is_ascii_digit()))
            .map(RxCui)
            .ok_or_else(|| "an RxNorm code is a positive whole number".to_string()),
    )
}

/// The contained resource a local reference (`#id`) names.
fn contained<'a>(r: &'a Value, reference: Option<&Value>) -> Option<&'a Value> {
    let local = reference?.get("reference")?.as_str()?.strip_prefix('#')?;
    r.get("contained")?
        .as_array()?
        .iter()
        .find(|c| c.get("id").and_then(Value::as_str) == Some(local))
}

fn declared_schedule(r: &Value) -> Result<Option<Schedule>, String> {
    let Some(ext) = r.get("extension").and_then(Value::as_array).and_then(|l| {
        l.iter()
            .find(|e| e.get("url").and_then(Value::as_str) == Some(SCHEDULE_EXTENSION))
    }) else {
        return Ok(None);
    };
    match ext.get("valueCode").and_then(Value::as_str) {
        Some("II") => Ok(Some(Schedule::II)),
        Some("III") => Ok(Some(Schedule::III)),
        Some("IV") => Ok(Some(Schedule::IV)),
        Some("V") => Ok(Some(Schedule::V)),
        _ => Err(format!("{SCHEDULE_EXTENSION}: valueCode is II, III, IV or V")),
    }
}

/// The RxNorm product a `MedicationRequest` orders (directly or through its contained
/// `Medication`), if it names one.
pub fn rxnorm_product(r: &Value) -> Option<Result<RxCui, String>> {
    rxnorm(r.get("medicationCodeableConcept"))
        .or_else(|| rxnorm(contained(r, r.get("medicationReference")).and_then(|m| m.get("code"))))
}

/// What a `MedicationRequest` prescribes, and the schedule it declares.
pub fn medication_of(r: &Value) -> Result<(Medication, Option<Schedule>), String> {
    let med = contained(r, r.get("medicationReference"));
    if r.get("medicationReference").is_some() && med.is_none_or(|m| m.get("resourceType") != Some(&json!("Medication")))
    {
        return Err(
            "medicationReference names a contained Medication (#id) for the ledger to read the ingredient and strength"
                .into(),
        );
    }
    let product = rxnorm_product(r)
        .ok_or("the medication needs an RxNorm code (http://www.nlm.nih.gov/research/umls/rxnorm)")??;
    let med = med.ok_or(
        "the ledger needs the ingredient and strength: give a contained Medication with ingredient[].itemCodeableConcept (RxNorm) and strength",
    )?;
    let ingredients: Vec<(RxCui, &Value)> = med
        .get("ingredient")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("isActive") != Some(&Value::Bool(false)))
        .filter_map(|i| Some((rxnorm(i.get("itemCodeableConcept"))?, i)))
        .map(|(c, i)| c.map(|c| (c, i)))
        .collect::<Result<_, _>>()?;
    let drugs = table().map_err(|e| e.to_string())?;
    let (ingredient, item) = ingredients
        .iter()
        .find(|(c, _)| drugs.get(*c).is_some())
        .or(ingredients.first())
        .copied()
        .ok_or("the contained Medication names no active ingredient in RxNorm")?;
    let strength = strength_of(r, item.get("strength"))?;
    let declared = match declared_schedule(r)? {
        Some(s) => Some(s),
        None => declared_schedule(med)?,
    };
    Ok((
        Medication {
            product,
            ingredient,
            strength,
        },
        declared,
    ))
}

fn strength_of(r: &Value, ratio: Option<&Value>) -> Result<Strength, String> {
    let ratio = ratio.ok_or("the ingredient has no strength")?;
    if let Some(d) = ratio.get("denominator")
        && milli(d.get("value")) != Some(1000)
    {
        return Err("strength is given per one unit (denominator value 1)".into());
    }
    let n = ratio.get("numerator").ok_or("the strength has no numerator")?;
    if n.get("system").is_some_and(|s| s != UCUM) {
        return Err("the strength's unit is a UCUM code".into());
    }
    let value = milli(n.get("value"))
        .filter(|v| (1..=1_000_000_000).contains(v))
        .ok_or("the strength is a positive decimal with at most three decimals")?;
    match n.get("code").and_then(Value::as_str) {
        Some("mg") => Ok(Strength::Mg { milli: value }),
        Some("ug") => Ok(Strength::Mcg { milli: value }),
        Some("ug/h") => {
            let repeat = r.pointer("/dosageInstruction/0/timing/repeat");
            let period = milli(repeat.and_then(|t| t.get("period")));
            let per_unit = match repeat.and_then(|t| t.get("periodUnit")).and_then(Value::as_str) {
                Some("h") => 1,
                Some("d") => 24,
                _ => {
                    return Err("a ug/h (transdermal) strength needs the hours one is worn: dosageInstruction[0].timing.repeat.period with periodUnit h or d".into());
                }
            };
            let hours = period
                .and_then(|p| p.checked_mul(per_unit))
                .filter(|h| h % 1000 == 0)
                .map(|h| h / 1000)
                .ok_or("dosageInstruction[0].timing.repeat.period must be a whole number of hours")?;
            let hours = u16::try_from(hours)
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or("a transdermal system is worn 1 to 168 hours")?;
            Ok(Strength::McgPerHour { milli: value, hours })
        }
        _ => Err("the strength's numerator is in mg, ug or ug/h (UCUM code)".into()),
    }
}

/// A JSON number as thousandths: at most three decimals, no exponent, not negative.
fn milli(v: Option<&Value>) -> Option<u64> {
    let text = v?.as_number()?.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 3 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = String::from(frac);
    while thousandths.len() < 3 {
        thousandths.push('0');
    }
    int.parse::<u64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(thousandths.parse().ok()?)
}

/// A JSON number that is a whole number (`60` or `60.0`).
pub(crate) fn whole(v: Option<&Value>) -> Option<u64> {
    let m = milli(v)?;
    (m % 1000 == 0).then_some(m / 1000)
}

/// A FHIR Duration of whole days or weeks, as days (1 to 366).
pub(crate) fn days_of(d: Option<&Value>) -> Result<u32, String> {
    let d = d.ok_or("missing")?;
    let value = whole(d.get("value")).ok_or("a whole number of days or weeks")?;
    let unit = d
        .get("code")
        .or_else(|| d.get("unit"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let days = match unit {
        "d" | "day" | "days" => Some(value),
        "wk" | "week" | "weeks" => value.checked_mul(7),
        _ => return Err("the unit is d or wk (UCUM)".into()),
    };
    days.and_then(|d| u32::try_from(d).ok())
        .filter(|d| (1..=MAX_DAYS_SUPPLY).contains(d))
        .ok_or_else(|| format!("1 to {MAX_DAYS_SUPPLY} days"))
}

fn plan_dispense(state: &dyn StateRead, org: &OrgId, id: &str, r: &Value) -> Result<Option<LedgerStep>, FhirError> {
    let fill = fill_id(org, id);
    let existing = medledger_ledger::rx::fill(state, &fill);
    let completed = r.get("status").and_then(Value::as_str) == Some("completed");
    let authorizing: Vec<&Value> = r
        .get("authorizingPrescription")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.pointer("/identifier/system").and_then(Value::as_str) == Some(RX_SYSTEM))
        .collect();
    let prescription = match authorizing.as_slice() {
        [] => None,
        [one] => Some(
            one.pointer("/identifier/value")
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<Hash32>().ok())
                .ok_or_else(|| {
                    refuse(format!(
                        "authorizingPrescription: a {RX_SYSTEM} identifier is 64 hex digits"
                    ))
                })?,
        ),
        _ => return Err(refuse("a fill on the ledger is authorised by one prescription")),
    };
    let Some(prescription) = prescription.filter(|_| completed) else {
        if existing.is_some() {
            return Err(refuse(
                "this dispense is a fill on the ledger: it stays completed and names its prescription",
            ));
        }
        return Ok(None);
    };
    let quantity = whole(r.pointer("/quantity/value"))
        .filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q))
        .ok_or_else(|| refuse(format!("quantity.value: 1 to {MAX_QUANTITY} units")))?;
    let days_supply = days_of(r.get("daysSupply")).map_err(|e| refuse(format!("daysSupply: {e}")))?;
    let packs = packs_of(state, r).map_err(refuse)?;
    let dispense = RxDispense {
        id: fill,
        prescription,
        quantity: u32::try_from(quantity).unwrap_or(MAX_QUANTITY),
        days_supply,
        packs,
    };
    if let Some(f) = existing {
        let same = f.prescription == dispense.prescription
            && f.quantity == dispense.quantity
            && f.days_supply == dispense.days_supply
            && f.packs == dispense.packs.iter().map(ToString::to_string).collect::<Vec<_>>();
        return if same {
            Ok(None)
        } else {
            Err(refuse("a fill on the ledger is not edited"))
        };
    }
    if let Some(rx) = medledger_ledger::rx::prescription(state, &prescription)
        && let Some(subject) = r.pointer("/subject/reference").and_then(Value::as_str)
        && subject.strip_prefix("Patient/") != Some(rx.order.patient.as_str())
    {
        return Err(refuse("the dispense's subject is not the patient of its prescription"));
    }
    Ok(Some(LedgerStep::Dispense(dispense)))
}

/// The pack serials of a dispense: URI identifiers (SGTIN URN or GS1 Digital Link with a
/// serial) of the contained `Medication` its `medicationReference` names.
fn packs_of(state: &dyn StateRead, r: &Value) -> Result<Vec<medledger_gs1::ident::EpcUri>, String> {
    let Some(med) = contained(r, r.get("medicationReference")) else {
        return Ok(Vec::new());
    };
    let mut packs = Vec::new();
    for i in med.get("identifier").and_then(Value::as_array).into_iter().flatten() {
        if i.get("system").and_then(Value::as_str) != Some("urn:ietf:rfc:3986") {
            continue;
        }
        let value = i.get("value").and_then(Value::as_str).unwrap_or_default();
        let epc = medledger_ledger::supply::from_epcis::tracked_epc(&Epc(value.to_string()), state)
            .map_err(|e| format!("Medication.identifier: {e}"))?;
        if !matches!(epc, medledger_gs1::ident::EpcUri::Sgtin { .. }) {
            return Err("Medication.identifier: a dispensed pack is an SGTIN (a GTIN with a serial)".into());
        }
        if packs.contains(&epc) {
            return Err("Medication.identifier: a pack is named twice".into());
        }
        packs.push(epc);
        if packs.len() > MAX_PACKS {
            return Err(format!("at most {MAX_PACKS} packs in one dispense"));
        }
    }
    Ok(packs)
}

/// [`plan`] for a write at this node by the caller of `ctx`.
pub fn plan_write(
    app: &AppState,
    ctx: &super::Ctx,
    resource_type: &str,
    id: &str,
    resource: &mut Value,
) -> Result<Option<LedgerStep>, FhirError> {
    if !matches!(resource_type, "MedicationRequest" | "MedicationDispense") {
        return Ok(None);
    }
    let org = app.custody()?.org().clone();
    let state = read_state(app)?;
    plan(
        &state,
        &ctx.caller.actor,
        &org,
        resource_type,
        id,
        resource,
        medledger_node::node::now_ms(),
    )
}

/// What the ledger holds for the record `{resource_type}/{id}` of this node's organisation.
enum LedgerEntry {
    Prescription { active: bool },
    Fill,
}

fn ledger_entry(app: &AppState, resource_type: &str, id: &str) -> Result<Option<LedgerEntry>, FhirError> {
    if !matches!(resource_type, "MedicationRequest" | "MedicationDispense") {
        return Ok(None);
    }
    let org = app.custody()?.org().clone();
    let state = read_state(app)?;
    Ok(if resource_type == "MedicationRequest" {
        medledger_ledger::rx::prescription(&state, &prescription_id(&org, id)).map(|p| LedgerEntry::Prescription {
            active: p.status == RxStatus::Active,
        })
    } else {
        medledger_ledger::rx::fill(&state, &fill_id(&org, id)).map(|_| LedgerEntry::Fill)
    })
}

/// A Bundle entry writing a record that stands for a prescription or fill on the ledger is
/// refused: such a record changes only by a single update, which keeps it and the ledger
/// in step (Bundle entries take no ledger step).
pub fn refuse_ledger_record_in_bundle(app: &AppState, resource_type: &str, id: &str) -> Result<(), FhirError> {
    match ledger_entry(app, resource_type, id)? {
        Some(_) => Err(refuse(format!(
            "this {resource_type} stands for an entry on the ledger: change it with a single update, not in a Bundle"
        ))),
        None => Ok(()),
    }
}

fn read_state(app: &AppState) -> Result<medledger_store::StoreReader, FhirError> {
    app.node.store().reader().map_err(|_| {
        FhirError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the ledger cannot be read",
        )
    })
}

/// A prescription on the ledger that may still be filled, or a fill, is not deleted: the
/// record is what its ledger entry stands for. Cancel a prescription instead.
pub fn check_delete(app: &AppState, resource_type: &str, id: &str) -> Result<(), FhirError> {
    match ledger_entry(app, resource_type, id)? {
        Some(LedgerEntry::Prescription { active: true }) => Err(refuse(
            "this MedicationRequest is an active prescription on the ledger: set its status to cancelled first",
        )),
        Some(LedgerEntry::Fill) => Err(refuse("this MedicationDispense is a fill on the ledger, which is kept")),
        _ => Ok(()),
    }
}

/// Checks `step` against the ledger as the node's own transaction, submits it and waits
/// for its block. A refusal is a 422 with the ledger's reason.
pub async fn commit(app: &AppState, step: &LedgerStep) -> Result<(), FhirError> {
    let custody = app.custody()?;
    let key = custody.service_key();
    let (kind, body) = step.kind_and_body();
    let unavailable = |m: String| FhirError::new(StatusCode::SERVICE_UNAVAILABLE, "transient", m);
    let refused = |why: String| {
        FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "business-rule",
            format!("the ledger refuses this {}: {why}", step.what()),
        )
    };
    {
        let state = read_state(app)?;
        // What another organisation's node wrote a moment ago (the prescription, the
        // Patient record) may not have reached this node yet: for those the next block
        // decides. Everything else is refused now, with the ledger's full reason.
        match crate::dry_run::dry_run(&app.node, &state, key, kind, body.clone())
            .map_err(|e| unavailable(e.to_string()))?
        {
            None | Some(TxError::UnknownPrescription | TxError::UnknownPatient) => {}
            Some(e) => return Err(refused(e.to_string())),
        }
    }
    let accepted = app
        .node
        .submit_own(key, kind, body)
        .map_err(|e| unavailable(format!("the ledger did not take the {}: {e}", step.what())))?;
    let committed = accepted
        .committed
        .ok_or_else(|| unavailable("the node gave no commit receipt".into()))?
        .await
        .map_err(|_| unavailable("the node stopped".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    if !committed.outcome.is_ok() {
        return Err(refused(
            medledger_ledger::error::describe_outcome(committed.outcome).to_string(),
        ));
    }
    Ok(())
}

/// Stores drug monitoring's alerts for a committed fill with its `MedicationDispense`: each
/// a contained `DetectedIssue` named in `detectedIssue`.
pub fn add_alerts(app: &AppState, fill: &Hash32, r: &mut Value) -> Result<(), FhirError> {
    let state = read_state(app)?;
    let Some(record) = medledger_ledger::rx::fill(&state, fill) else {
        return Ok(());
    };
    let patient = r.get("subject").cloned();
    let Some(obj) = r.as_object_mut() else { return Ok(()) };
    for (n, alert) in record.alerts.iter().enumerate() {
        let local = format!("rx-alert-{}", n + 1);
        let mut issue = detected_issue(alert, &record.table_version);
        if let Some(fields) = issue.as_object_mut() {
            fields.insert("id".into(), Value::String(local.clone()));
            if let Some(p) = &patient {
                fields.insert("patient".into(), p.clone());
            }
        }
        if let Value::Array(list) = obj.entry("contained").or_insert_with(|| json!([])) {
            list.push(issue);
        }
        if let Value::Array(list) = obj.entry("detectedIssue").or_insert_with(|| json!([])) {
            list.push(json!({"reference": format!("#{local}")}));
        }
    }
    Ok(())
}

/// One alert as a FHIR R4 `DetectedIssue` (no patient, no id: the caller adds them).
pub fn detected_issue(alert: &Alert, table_version: &str) -> Value {
    let decimal = |milli: u64| {
        let frac = milli % 1000;
        if frac == 0 {
            format!("{}", milli / 1000)
        } else {
            format!("{}.{}", milli / 1000, format!("{frac:03}").trim_end_matches('0'))
        }
    };
    let (code, display, v3, severity, detail) = match alert {
        Alert::Mme {
            level,
            milli_per_day,
            threshold,
        } => (
            match level {
                MmeLevel::High => "mme-high",
                MmeLevel::Caution => "mme-caution",
            },
            "Opioid dose at or above a morphine milligram equivalent threshold",
            None,
            match level {
                MmeLevel::High => "high",
                MmeLevel::Caution => "moderate",
            },
            format!(
                "The patient's opioids on the day of this fill add up to {} MME/day (threshold {threshold} MME/day; {table_version}).",
                decimal(*milli_per_day)
            ),
        ),
        Alert::OpioidBenzodiazepine { days, .. } => (
            "opioid-benzodiazepine",
            "Opioid and benzodiazepine overlap",
            None,
            "high",
            format!("An opioid and a benzodiazepine overlap by {days} days."),
        ),
        Alert::SameDrug { days, .. } => (
            "same-drug",
            "Same ingredient under another prescription",
            Some(("DUPTHPY", "Duplicate Therapy Alert")),
            "moderate",
            format!("Another prescription's fill of the same ingredient overlaps by {days} days."),
        ),
        Alert::EarlyRefill { elapsed, supply } => (
            "early-refill",
            "Early refill",
            Some(("TOOSOON", "Refill Too Soon Alert")),
            "moderate",
            format!("A repeat {elapsed} days into the last fill's {supply}-day supply."),
        ),
        Alert::MultipleProviders {
            prescribers,
            pharmacies,
            days,
        } => (
            "multiple-providers",
            "Multiple prescribers and pharmacies",
            None,
            "moderate",
            format!("Monitored fills from {prescribers} prescribers and {pharmacies} pharmacies within {days} days."),
        ),
    };
    let mut coding = vec![json!({"system": ALERT_SYSTEM, "code": code, "display": display})];
    if let Some((c, d)) = v3 {
        coding.push(json!({"system": V3_ACT_CODE, "code": c, "display": d}));
    }
    json!({
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": coding},
        "severity": severity,
        "detail": detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oxycodone() -> Value {
        json!({
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "contained": [{
                "resourceType": "Medication", "id": "med",
                "code": {"coding": [{"system": RXNORM, "code": "1049621"}]},
                "ingredient": [
                    {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "161"}]},
                     "strength": {"numerator": {"value": 325, "system": UCUM, "code": "mg"}, "denominator": {"value": 1}}},
                    {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "7804"}]},
                     "strength": {"numerator": {"value": 7.5, "system": UCUM, "code": "mg"}, "denominator": {"value": 1, "unit": "TAB"}}}
                ]
            }],
            "medicationReference": {"reference": "#med"},
            "dispenseRequest": {
                "quantity": {"value": 60},
                "expectedSupplyDuration": {"value": 15, "system": UCUM, "code": "d"}
            }
        })
    }

    #[test]
    fn a_combination_product_counts_its_opioid() {
        let (m, declared) = medication_of(&oxycodone()).unwrap();
        assert_eq!(m.product, RxCui(1_049_621));
        assert_eq!(m.ingredient, RxCui(7804), "the monitored ingredient, not acetaminophen");
        assert_eq!(m.strength, Strength::Mg { milli: 7_500 });
        assert_eq!(declared, None);
    }

    #[test]
    fn a_patch_is_worn_for_its_period() {
        let mut r = oxycodone();
        r["contained"][0]["ingredient"] = json!([{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "4337"}]},
            "strength": {"numerator": {"value": 75, "system": UCUM, "code": "ug/h"}, "denominator": {"value": 1}}}]);
        assert!(medication_of(&r).unwrap_err().contains("hours"));
        r["dosageInstruction"] = json!([{"timing": {"repeat": {"frequency": 1, "period": 3, "periodUnit": "d"}}}]);
        let (m, _) = medication_of(&r).unwrap();
        assert_eq!(
            m.strength,
            Strength::McgPerHour {
                milli: 75_000,
                hours: 72
            }
        );
    }

    #[test]
    fn what_the_ledger_cannot_read_is_refused_with_the_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/contained/0/ingredient/1/strength/numerator/code",
                json!("g"),
                "mg, ug or ug/h",
            ),
            (
                "/contained/0/ingredient/1/strength/numerator/value",
                json!(7.5001),
                "three decimals",
            ),
            (
                "/contained/0/ingredient/1/strength/numerator/value",
                json!(-7.5),
                "positive",
            ),
            (
                "/contained/0/ingredient/1/strength/denominator/value",
                json!(2),
                "per one unit",
            ),
            ("/contained/0/code/coding/0/code", json!("12x"), "positive whole number"),
            (
                "/medicationReference/reference",
                json!("#other"),
                "contained Medication",
            ),
        ];
        for (pointer, value, expect) in cases {
            let mut r = oxycodone();
            *r.pointer_mut(pointer).unwrap() = value;
            let e = medication_of(&r).unwrap_err();
            assert!(e.contains(expect), "{pointer}: {e}");
        }
    }

    #[test]
    fn decimals_are_read_exactly() {
        for (text, want) in [
            ("7.5", Some(7_500)),
            ("0.125", Some(125)),
            ("10", Some(10_000)),
            ("2.50", Some(2_500)),
            ("1e3", Some(1_000_000)),
            ("0.0005", None),
            ("-1", None),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(milli(Some(&v)), want, "{text}");
        }
        assert_eq!(whole(Some(&json!(60.0))), Some(60));
        assert_eq!(whole(Some(&json!(60.5))), None);
    }

    #[test]
    fn days_supply_in_days_or_weeks() {
        assert_eq!(days_of(Some(&json!({"value": 2, "code": "wk"}))), Ok(14));
        assert_eq!(days_of(Some(&json!({"value": 30, "unit": "days"}))), Ok(30));
        assert!(days_of(Some(&json!({"value": 1, "code": "mo"}))).is_err());
        assert!(days_of(Some(&json!({"value": 367, "code": "d"}))).is_err());
        assert!(days_of(Some(&json!({"value": 0, "code": "d"}))).is_err());
        assert!(days_of(None).is_err());
    }

    #[test]
    fn alerts_are_valid_detected_issues_without_the_patient() {
        let v = medledger_fhir::Validator::new().unwrap();
        let alerts = [
            Alert::Mme {
                level: MmeLevel::High,
                milli_per_day: 97_500,
                threshold: 90,
            },
            Alert::OpioidBenzodiazepine {
                other: Hash32::ZERO,
                days: 3,
            },
            Alert::SameDrug {
                other: Hash32::ZERO,
                days: 2,
            },
            Alert::EarlyRefill { elapsed: 5, supply: 30 },
            Alert::MultipleProviders {
                prescribers: 4,
                pharmacies: 4,
                days: 90,
            },
        ];
        for a in &alerts {
            let issue = detected_issue(a, "CDC 2022");
            v.validate(&issue).unwrap_or_else(|e| panic!("{e}: {:?}", e.issues()));
        }
        assert!(
            detected_issue(&alerts[0], "CDC 2022")["detail"]
                .as_str()
                .unwrap()
                .contains("97.5 MME/day (threshold 90 MME/day; CDC 2022)")
        );
    }
}
