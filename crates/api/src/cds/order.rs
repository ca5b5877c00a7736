//! A FHIR R4 `MedicationRequest` read as the ledger's codes and numbers
//! ([`medledger_ledger::rx::Medication`], units per fill, days supply).
//!
//! Self-contained on purpose: the FHIR side of prescriptions (`fhir/rx.rs`) needs the same
//! reading, and the two are to become one function.
//!
//! What is read, and from where:
//!
//! | value | element |
//! |---|---|
//! | product (RxNorm) | `medicationCodeableConcept`, or the contained `Medication.code` |
//! | ingredient (RxNorm) | the contained `Medication` that `medicationReference.reference` names as `#id`: its `ingredient[].itemCodeableConcept` — the first one the drug table lists (the opioid of a combination product), else the first |
//! | strength of one unit | that ingredient's `strength`, a Ratio whose numerator is UCUM `mg`, `ug` or `ug/h` and whose denominator is 1 unit |
//! | hours a patch is worn (`ug/h`) | `dosageInstruction[0].timing.repeat.period` with `periodUnit` `h` or `d` |
//! | units per fill | `dispenseRequest.quantity.value`, a whole number |
//! | days supply | `dispenseRequest.expectedSupplyDuration`, UCUM `d` or `wk`, whole days |
//!
//! Decimals are read from their JSON text into thousandths, never through a float.
//! Codings count only under the RxNorm system URI ([`RXNORM`]).

use medledger_ledger::rx::table::{parse_milli, table};
use medledger_ledger::rx::{MAX_DAYS_SUPPLY, MAX_QUANTITY, Medication, RxCui, Strength};
use medledger_types::Hash32;
use serde_json::Value;

/// The RxNorm code system.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// UCUM, the code system of quantities' units.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The identifier system under which a `MedicationRequest` names its prescription's id on
/// the ledger (64 hex digits): how a pharmacy says which prescription it holds.
pub const PRESCRIPTION_SYSTEM: &str = "urn:medledger:prescription";

/// Largest strength of one unit, in thousandths (as the ledger decodes it).
const MAX_STRENGTH_MILLI: u64 = 1_000_000_000;
/// Longest a transdermal system is worn, in hours (as the ledger decodes it).
const MAX_PATCH_HOURS: u64 = 168;

/// The medication, units per fill and days supply a `MedicationRequest` orders; the error
/// names the element (never a value).
pub fn medication_of(request: &Value) -> Result<(Medication, u32, u32), String> {
    let medication = contained_medication(request)?;
    let product = match request.get("medicationCodeableConcept") {
        Some(concept) => rxnorm(concept).ok_or("medicationCodeableConcept has no RxNorm code")??,
        None => rxnorm(&medication["code"]).ok_or("the contained Medication's code has no RxNorm code")??,
    };
    let (ingredient, ratio) = ingredient_of(medication)?;
    if milli_of(&ratio["denominator"]["value"]) != Some(1000) {
        return Err("the strength's denominator must be 1 unit".into());
    }
    let strength = match strength_unit(&ratio["numerator"])? {
        Unit::Mg(milli) => Strength::Mg { milli },
        Unit::Ug(milli) => Strength::Mcg { milli },
        Unit::UgPerHour(milli) => Strength::McgPerHour {
            milli,
            hours: hours_worn(request)?,
        },
    };
    let quantity = whole(&request["dispenseRequest"]["quantity"]["value"], 1)
        .filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q))
        .ok_or("dispenseRequest.quantity.value must be a whole number of units, 1 to 100,000")?;
    let days = days_supply(&request["dispenseRequest"]["expectedSupplyDuration"])?;
    Ok((
        Medication {
            product,
            ingredient,
            strength,
        },
        u32::try_from(quantity).map_err(|_| "dispenseRequest.quantity.value is too large")?,
        days,
    ))
}

/// Whether the request orders an RxNorm-coded medication (directly or through its
/// contained Medication): the orders drug monitoring looks at.
pub fn is_rxnorm_coded(request: &Value) -> bool {
    let direct = request.get("medicationCodeableConcept").and_then(rxnorm);
    let contained = contained_medication(request).ok().and_then(|m| rxnorm(&m["code"]));
    direct.or(contained).is_some()
}

/// The ledger id of the prescription the request is, when an identifier names it
/// ([`PRESCRIPTION_SYSTEM`]).
pub fn prescription_of(request: &Value) -> Result<Option<Hash32>, String> {
    let Some(identifiers) = request.get("identifier").and_then(Value::as_array) else {
        return Ok(None);
    };
    let Some(id) = identifiers
        .iter()
        .find(|i| i["system"].as_str() == Some(PRESCRIPTION_SYSTEM))
    else {
        return Ok(None);
    };
    id["value"]
        .as_str()
        .and_then(|v| v.parse::<Hash32>().ok())
        .map(Some)
        .ok_or_else(|| format!("an identifier under {PRESCRIPTION_SYSTEM} must be 64 hex digits"))
}

/// The first RxNorm code of a CodeableConcept: `None` when it has none, an error when it
/// is not a positive integer.
fn rxnorm(concept: &Value) -> Option<Result<RxCui, String>> {
    let coding = concept["coding"]
        .as_array()?
        .iter()
        .find(|c| c["system"].as_str() == Some(RXNORM))?;
    Some(
        coding["code"]
            .as_str()
            .and_then(|c| c.parse::<u32>().ok())
            .filter(|c| *c > 0)
            .map(RxCui)
            .ok_or_else(|| "an RxNorm code must be a positive whole number".to_string()),
    )
}

/// The `Medication` in `contained` that `medicationReference` names as `#id`.
fn contained_medication(request: &Value) -> Result<&Value, String> {
    let reference = request["medicationReference"]["reference"]
        .as_str()
        .ok_or("the ingredient and strength come from a contained Medication named by medicationReference (#id)")?;
    let id = reference
        .strip_prefix('#')
        .ok_or("medicationReference must name a contained Medication (#id)")?;
    request["contained"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|r| r["resourceType"] == "Medication" && r["id"].as_str() == Some(id))
        })
        .ok_or_else(|| "medicationReference names no contained Medication".to_string())
}

/// The monitored ingredient of a Medication and its `strength`.
fn ingredient_of(medication: &Value) -> Result<(RxCui, &Value), String> {
    let mut coded = Vec::new();
    for i in medication["ingredient"].as_array().into_iter().flatten() {
        if i["isActive"] == Value::Bool(false) {
            continue;
        }
        if let Some(code) = rxnorm(&i["itemCodeableConcept"]) {
            coded.push((code?, &i["strength"]));
        }
    }
    let listed = |c: &RxCui| table().is_ok_and(|t| t.get(*c).is_some());
    coded
        .iter()
        .find(|(c, _)| listed(c))
        .or(coded.first())
        .copied()
        .ok_or_else(|| "the Medication has no ingredient with an RxNorm itemCodeableConcept".to_string())
}

enum Unit {
    Mg(u64),
    Ug(u64),
    UgPerHour(u64),
}

/// A strength numerator (a UCUM Quantity) in thousandths of its unit.
fn strength_unit(q: &Value) -> Result<Unit, String> {
    if q.get("system").is_some_and(|s| s.as_str() != Some(UCUM)) {
        return Err(format!("the strength's numerator must be a UCUM quantity ({UCUM})"));
    }
    let milli = milli_of(&q["value"])
        .filter(|m| (1..=MAX_STRENGTH_MILLI).contains(m))
        .ok_or("the strength's numerator must be a positive decimal with at most three decimals")?;
    match q["code"].as_str() {
        Some("mg") => Ok(Unit::Mg(milli)),
        Some("ug") => Ok(Unit::Ug(milli)),
        Some("ug/h") => Ok(Unit::UgPerHour(milli)),
        _ => Err("the strength's numerator must be in UCUM mg, ug or ug/h".into()),
    }
}

/// The hours a transdermal system is worn, from the first dosage's timing.
fn hours_worn(request: &Value) -> Result<u16, String> {
    let repeat = &request["dosageInstruction"][0]["timing"]["repeat"];
    let per_unit = match repeat["periodUnit"].as_str() {
        Some("h") => 1,
        Some("d") => 24,
        _ => return Err("a patch (ug/h) needs dosageInstruction[0].timing.repeat.periodUnit h or d".into()),
    };
    whole(&repeat["period"], per_unit)
        .filter(|h| (1..=MAX_PATCH_HOURS).contains(h))
        .and_then(|h| u16::try_from(h).ok())
        .ok_or_else(|| "a patch is worn a whole number of hours, 1 to 168 (timing.repeat.period)".into())
}

/// The days supply of `expectedSupplyDuration`.
fn days_supply(duration: &Value) -> Result<u32, String> {
    if duration.get("system").is_some_and(|s| s.as_str() != Some(UCUM)) {
        return Err(format!("expectedSupplyDuration must be a UCUM duration ({UCUM})"));
    }
    let per_unit = match duration["code"].as_str() {
        Some("d") => 1,
        Some("wk") => 7,
        _ => return Err("dispenseRequest.expectedSupplyDuration must be in UCUM d or wk".into()),
    };
    whole(&duration["value"], per_unit)
        .filter(|d| (1..=u64::from(MAX_DAYS_SUPPLY)).contains(d))
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| "dispenseRequest.expectedSupplyDuration must be a whole number of days, 1 to 366".into())
}

/// A JSON number with at most three decimals, in thousandths (from its text: 7.5 → 7500).
fn milli_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => parse_milli(&n.to_string()),
        _ => None,
    }
}

/// `v × per_unit`, when that is a whole number.
fn whole(v: &Value, per_unit: u64) -> Option<u64> {
    let milli = milli_of(v)?.checked_mul(per_unit)?;
    (milli % 1000 == 0).then_some(milli / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Oxycodone 5 mg tablets (RxNorm 1049621, ingredient 7804), 60 for 30 days.
    fn oxycodone() -> Value {
        json!({
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/pt-1"},
            "contained": [{
                "resourceType": "Medication",
                "id": "med",
                "code": {"coding": [{"system": RXNORM, "code": "1049621"}]},
                "ingredient": [{
                    "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "7804"}]},
                    "strength": {
                        "numerator": {"value": 5, "system": UCUM, "code": "mg"},
                        "denominator": {"value": 1, "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code": "TAB"}
                    }
                }]
            }],
            "medicationReference": {"reference": "#med"},
            "dispenseRequest": {
                "quantity": {"value": 60, "unit": "tablet"},
                "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}
            }
        })
    }

    /// `v` with the element at `path` (keys, or indexes as digits) replaced.
    fn with(mut v: Value, path: &[&str], new: Value) -> Value {
        let mut at = &mut v;
        for p in path {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        *at = new;
        v
    }

    #[test]
    fn an_oxycodone_order_reads_as_codes_and_numbers() {
        let (m, quantity, days) = medication_of(&oxycodone()).unwrap();
        assert_eq!(m.product, RxCui(1_049_621));
        assert_eq!(m.ingredient, RxCui(7804));
        assert_eq!(m.strength, Strength::Mg { milli: 5_000 });
        assert_eq!((quantity, days), (60, 30));
        assert!(is_rxnorm_coded(&oxycodone()));
        assert_eq!(prescription_of(&oxycodone()), Ok(None));
    }

    #[test]
    fn decimals_weeks_and_the_product_from_medication_codeable_concept() {
        let v = with(
            oxycodone(),
            &["contained", "0", "ingredient", "0", "strength", "numerator", "value"],
            json!(7.5),
        );
        let v = with(
            v,
            &["dispenseRequest", "expectedSupplyDuration"],
            json!({"value": 2, "system": UCUM, "code": "wk"}),
        );
        let v = with(
            v,
            &["medicationCodeableConcept"],
            json!({"coding": [{"system": "http://snomed.info/sct", "code": "1"}, {"system": RXNORM, "code": "1049683"}]}),
        );
        let (m, _, days) = medication_of(&v).unwrap();
        assert_eq!(m.strength, Strength::Mg { milli: 7_500 });
        assert_eq!(m.product, RxCui(1_049_683));
        assert_eq!(days, 14);
    }

    #[test]
    fn a_combination_product_counts_its_listed_ingredient() {
        // Hydrocodone 5 mg / acetaminophen 325 mg: acetaminophen (161) first, hydrocodone
        // (5489) is the one the drug table lists.
        let v = with(
            oxycodone(),
            &["contained", "0", "ingredient"],
            json!([
                {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "161"}]},
                 "strength": {"numerator": {"value": 325, "system": UCUM, "code": "mg"}, "denominator": {"value": 1}}},
                {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "5489"}]},
                 "strength": {"numerator": {"value": 5, "system": UCUM, "code": "mg"}, "denominator": {"value": 1}}}
            ]),
        );
        let (m, _, _) = medication_of(&v).unwrap();
        assert_eq!((m.ingredient, m.strength), (RxCui(5489), Strength::Mg { milli: 5_000 }));
    }

    #[test]
    fn a_fentanyl_patch_reads_the_hours_it_is_worn() {
        let v = with(
            oxycodone(),
            &["contained", "0", "ingredient", "0"],
            json!({"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "4337"}]},
                   "strength": {"numerator": {"value": 75, "system": UCUM, "code": "ug/h"}, "denominator": {"value": 1}}}),
        );
        let patch = |period: Value, unit: &str| {
            with(
                v.clone(),
                &["dosageInstruction"],
                json!([{"timing": {"repeat": {"frequency": 1, "period": period, "periodUnit": unit}}}]),
            )
        };
        for (period, unit, hours) in [(json!(72), "h", 72), (json!(3), "d", 72), (json!(0.5), "d", 12)] {
            let (m, _, _) = medication_of(&patch(period, unit)).unwrap();
            assert_eq!(m.strength, Strength::McgPerHour { milli: 75_000, hours });
        }
        assert!(medication_of(&v).unwrap_err().contains("periodUnit"));
        assert!(
            medication_of(&patch(json!(1.5), "h"))
                .unwrap_err()
                .contains("whole number of hours")
        );
        assert!(medication_of(&patch(json!(8), "d")).is_err(), "192 hours");
    }

    #[test]
    fn what_cannot_be_read_is_named_and_refused() {
        let cases: Vec<(Value, &str)> = vec![
            (
                with(oxycodone(), &["medicationReference"], Value::Null),
                "contained Medication",
            ),
            (
                with(
                    oxycodone(),
                    &["medicationReference", "reference"],
                    json!("Medication/x"),
                ),
                "#id",
            ),
            (with(oxycodone(), &["contained"], json!([])), "no contained Medication"),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "code", "coding", "0", "code"],
                    json!("x1"),
                ),
                "positive whole number",
            ),
            (
                with(oxycodone(), &["contained", "0", "ingredient"], json!([])),
                "no ingredient",
            ),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "ingredient", "0", "strength", "numerator", "code"],
                    json!("mcg"),
                ),
                "UCUM mg, ug or ug/h",
            ),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "ingredient", "0", "strength", "numerator", "value"],
                    json!(0.0005),
                ),
                "three decimals",
            ),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "ingredient", "0", "strength", "numerator", "value"],
                    json!(-5),
                ),
                "positive decimal",
            ),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "ingredient", "0", "strength", "denominator", "value"],
                    json!(5),
                ),
                "denominator",
            ),
            (
                with(oxycodone(), &["dispenseRequest", "quantity", "value"], json!(2.5)),
                "whole number of units",
            ),
            (
                with(oxycodone(), &["dispenseRequest", "quantity", "value"], json!(100_001)),
                "100,000",
            ),
            (
                with(oxycodone(), &["dispenseRequest", "quantity"], Value::Null),
                "quantity",
            ),
            (
                with(
                    oxycodone(),
                    &["dispenseRequest", "expectedSupplyDuration", "code"],
                    json!("mo"),
                ),
                "d or wk",
            ),
            (
                with(
                    oxycodone(),
                    &["dispenseRequest", "expectedSupplyDuration", "value"],
                    json!(367),
                ),
                "1 to 366",
            ),
            (
                with(
                    oxycodone(),
                    &["dispenseRequest", "expectedSupplyDuration", "value"],
                    json!("30"),
                ),
                "whole number of days",
            ),
        ];
        for (v, why) in cases {
            let err = medication_of(&v).unwrap_err();
            assert!(err.contains(why), "{why:?} not in {err:?}");
        }
    }

    #[test]
    fn a_pharmacy_names_its_prescription_by_its_ledger_id() {
        let id = Hash32::digest(&[b"rx"]);
        let v = with(
            oxycodone(),
            &["identifier"],
            json!([{"system": "urn:other", "value": "1"}, {"system": PRESCRIPTION_SYSTEM, "value": id.to_hex()}]),
        );
        assert_eq!(prescription_of(&v), Ok(Some(id)));
        let bad = with(
            oxycodone(),
            &["identifier"],
            json!([{"system": PRESCRIPTION_SYSTEM, "value": "abc"}]),
        );
        assert!(prescription_of(&bad).is_err());
    }

    #[test]
    fn only_rxnorm_coded_orders_are_monitored() {
        let snomed = json!({"resourceType": "MedicationRequest",
            "medicationCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}});
        assert!(!is_rxnorm_coded(&snomed));
        assert!(!is_rxnorm_coded(&json!("not an object")));
        let direct = json!({"resourceType": "MedicationRequest",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049621"}]}});
        assert!(is_rxnorm_coded(&direct));
        // Coded, but without a contained Medication there is no ingredient to count.
        assert!(medication_of(&direct).unwrap_err().contains("contained Medication"));
    }
}
