//! A FHIR R4 `MedicationRequest` read as the ledger's codes and numbers
//! ([`medledger_ledger::rx::Medication`], units per fill, days supply) — the same reading
//! as the FHIR side of prescriptions ([`crate::fhir::rx`]), which it delegates to, so that
//! a card speaks of exactly what `rx.prescribe` would record.
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

use medledger_ledger::rx::{MAX_QUANTITY, Medication};
use medledger_types::Hash32;
use serde_json::Value;

use crate::fhir::rx as fhir_rx;

/// The RxNorm code system.
pub const RXNORM: &str = fhir_rx::RXNORM;
/// UCUM, the code system of quantities' units.
pub const UCUM: &str = fhir_rx::UCUM;
/// The identifier system under which a `MedicationRequest` names its prescription's id on
/// the ledger (64 hex digits): how a pharmacy says which prescription it holds.
pub const PRESCRIPTION_SYSTEM: &str = fhir_rx::RX_SYSTEM;

/// The medication, units per fill and days supply a `MedicationRequest` orders; the error
/// names the element (never a value).
pub fn medication_of(request: &Value) -> Result<(Medication, u32, u32), String> {
    let (medication, _) = fhir_rx::medication_of(request)?;
    let quantity = fhir_rx::whole(request.pointer("/dispenseRequest/quantity/value"))
        .filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q))
        .ok_or("dispenseRequest.quantity.value must be a whole number of units, 1 to 100,000")?;
    let days = fhir_rx::days_of(request.pointer("/dispenseRequest/expectedSupplyDuration"))
        .map_err(|e| format!("dispenseRequest.expectedSupplyDuration: {e}"))?;
    Ok((
        medication,
        u32::try_from(quantity).map_err(|_| "dispenseRequest.quantity.value is too large")?,
        days,
    ))
}

/// Whether the request orders an RxNorm-coded medication (directly or through its
/// contained Medication): the orders drug monitoring looks at.
pub fn is_rxnorm_coded(request: &Value) -> bool {
    fhir_rx::rxnorm_product(request).is_some()
}

/// The prescription a `MedicationRequest` names by its ledger id, if any.
pub fn prescription_of(request: &Value) -> Result<Option<Hash32>, String> {
    fhir_rx::rx_identifiers(request)
        .next()
        .map(|v| {
            v.parse::<Hash32>()
                .map_err(|_| format!("an identifier under {PRESCRIPTION_SYSTEM} must be 64 hex digits"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_ledger::rx::{RxCui, Strength};
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
            (with(oxycodone(), &["contained"], json!([])), "contained Medication"),
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
                "no active ingredient",
            ),
            (
                with(
                    oxycodone(),
                    &["contained", "0", "ingredient", "0", "strength", "numerator", "code"],
                    json!("mcg"),
                ),
                "mg, ug or ug/h",
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
        let missed: Vec<String> = cases
            .into_iter()
            .filter_map(|(v, why)| {
                let err = medication_of(&v).unwrap_err();
                (!err.contains(why)).then(|| format!("{why:?} not in {err:?}"))
            })
            .collect();
        assert!(missed.is_empty(), "{missed:#?}");
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
