//! CDS Hooks 2.0 cards for drug-monitoring alerts: one card per alert of a draft order.
//!
//! | alert | indicator |
//! |---|---|
//! | `mme` at the high threshold, `opioid_benzodiazepine` | `critical` |
//! | `mme` at the caution threshold, `same_drug`, `multiple_providers`, `early_refill` | `warning` |
//! | an order monitoring could not read or count | `info` |
//!
//! A card's `summary` (under 140 characters) and `detail` (markdown: the figures, the
//! threshold in force and the drug table's version) never name the patient: the EHR shows
//! them in the patient's chart already.

use medledger_ledger::rx::monitor::Preview;
use medledger_ledger::rx::{Alert, Medication, MmeLevel, RxParams, Strength};
use serde_json::{Value, json};

/// The `source.label` of every card.
pub const SOURCE: &str = "medledger drug monitoring";

/// What one order is, for the card's detail.
pub struct Ordered<'a> {
    pub medication: &'a Medication,
    pub quantity: u32,
    pub days_supply: u32,
}

/// The cards for one draft order's preview.
pub fn alert_cards(order: &Ordered<'_>, preview: &Preview, params: &RxParams) -> Vec<Value> {
    preview
        .alerts
        .iter()
        .map(|alert| {
            let (indicator, summary, finding) = describe(alert, preview, params);
            let detail = format!(
                "{finding}\n\n{}\n\nComputed by the ledger over every organisation's dispenses, with the **{}** \
                 MME conversion factors (CDC Clinical Practice Guideline for Prescribing Opioids for Pain, \
                 2022) and the thresholds the consortium has set.",
                order_line(order, preview),
                preview.table_version
            );
            card(indicator, &summary, &detail)
        })
        .collect()
}

/// The card for an order monitoring could not check, with why.
pub fn unchecked_card(entry: usize, why: &str) -> Value {
    card(
        "info",
        "This order could not be checked by drug monitoring",
        &format!(
            "Draft order {} (entry {entry} of draftOrders) was not checked: {why}.",
            entry + 1
        ),
    )
}

fn card(indicator: &str, summary: &str, detail: &str) -> Value {
    json!({
        "uuid": crate::fhir::new_id(),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": {"label": SOURCE},
    })
}

/// `indicator`, `summary` and the finding's paragraph of one alert.
fn describe(alert: &Alert, preview: &Preview, params: &RxParams) -> (&'static str, String, String) {
    let days = |n: u32| {
        if n == 1 {
            "1 day".to_string()
        } else {
            format!("{n} days")
        }
    };
    match alert {
        Alert::Mme {
            level,
            milli_per_day,
            threshold,
        } => {
            let (indicator, name) = match level {
                MmeLevel::High => ("critical", "high"),
                MmeLevel::Caution => ("warning", "caution"),
            };
            let others = milli_per_day.saturating_sub(preview.milli_mme_per_day);
            (
                indicator,
                format!(
                    "Opioids at {} MME/day with this order: at or above {threshold} MME/day",
                    milli(*milli_per_day)
                ),
                format!(
                    "**{} MME/day** of opioids on the day of the fill: this order {} MME/day, the patient's other \
                     opioid fills covering that day {} MME/day. The {name} threshold is {threshold} MME/day \
                     (caution {}, high {}).",
                    milli(*milli_per_day),
                    milli(preview.milli_mme_per_day),
                    milli(others),
                    params.mme_caution,
                    params.mme_high
                ),
            )
        }
        Alert::OpioidBenzodiazepine { days: d, .. } => (
            "critical",
            format!("Opioid and benzodiazepine together: {} of overlap", days(*d)),
            format!(
                "This order and a dispensed fill of the other class (opioid, benzodiazepine) would both cover \
                 **{}**. Alerted from an overlap of {}.",
                days(*d),
                days(params.overlap_days)
            ),
        ),
        Alert::SameDrug { days: d, .. } => (
            "warning",
            format!(
                "Same ingredient dispensed under another prescription: {} of overlap",
                days(*d)
            ),
            format!(
                "A fill of the same ingredient under another prescription would still cover **{}** of this \
                 order's supply. Alerted from an overlap of {}.",
                days(*d),
                days(params.overlap_days)
            ),
        ),
        Alert::MultipleProviders {
            prescribers,
            pharmacies,
            days: d,
        } => (
            "warning",
            format!(
                "Opioids or benzodiazepines from {prescribers} prescribers and {pharmacies} pharmacies in {d} days"
            ),
            format!(
                "The patient's monitored fills within **{d} days**, this order included, come from \
                 **{prescribers} prescribers** and **{pharmacies} pharmacies**. Alerted from {} prescribers and \
                 {} pharmacies.",
                params.episode_prescribers, params.episode_pharmacies
            ),
        ),
        Alert::EarlyRefill { elapsed, supply } => (
            "warning",
            format!("Early refill: {} of a {}-day supply elapsed", days(*elapsed), supply),
            format!(
                "The prescription was last filled **{}** ago for a {supply}-day supply. A repeat is early \
                 before {} % of the supply has elapsed.",
                days(*elapsed),
                params.early_refill_percent
            ),
        ),
    }
}

/// The order, as codes and numbers.
fn order_line(order: &Ordered<'_>, preview: &Preview) -> String {
    let m = order.medication;
    let strength = match m.strength {
        Strength::Mg { milli: s } => format!("{} mg", milli(s)),
        Strength::Mcg { milli: s } => format!("{} mcg", milli(s)),
        Strength::McgPerHour { milli: s, hours } => format!("{} mcg/h, worn {hours} h", milli(s)),
    };
    let mme = if preview.milli_mme_per_day > 0 {
        format!(", {} MME/day", milli(preview.milli_mme_per_day))
    } else {
        String::new()
    };
    format!(
        "Order: RxNorm {} (ingredient RxNorm {}, {strength} a unit), {} units for {} days{mme}.",
        m.product.0, m.ingredient.0, order.quantity, order.days_supply
    )
}

/// Thousandths as a decimal: 89966 → `89.966`, 90000 → `90`.
pub fn milli(m: u64) -> String {
    let (whole, frac) = (m / 1000, m % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}").trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_ledger::rx::RxCui;
    use medledger_types::Hash32;

    fn oxycodone() -> Medication {
        Medication {
            product: RxCui(1_049_621),
            ingredient: RxCui(7804),
            strength: Strength::Mg { milli: 5_000 },
        }
    }

    fn cards_for(alerts: Vec<Alert>) -> Vec<Value> {
        let m = oxycodone();
        let preview = Preview {
            milli_mme_per_day: 15_000,
            alerts,
            table_version: "CDC 2022".into(),
        };
        alert_cards(
            &Ordered {
                medication: &m,
                quantity: 60,
                days_supply: 30,
            },
            &preview,
            &RxParams::default(),
        )
    }

    #[test]
    fn each_alert_is_one_card_with_its_indicator() {
        let other = Hash32::digest(&[b"fill"]);
        let alerts = vec![
            Alert::Mme {
                level: MmeLevel::High,
                milli_per_day: 105_000,
                threshold: 90,
            },
            Alert::Mme {
                level: MmeLevel::Caution,
                milli_per_day: 50_000,
                threshold: 50,
            },
            Alert::OpioidBenzodiazepine { other, days: 20 },
            Alert::SameDrug { other, days: 1 },
            Alert::MultipleProviders {
                prescribers: 4,
                pharmacies: 5,
                days: 90,
            },
            Alert::EarlyRefill {
                elapsed: 10,
                supply: 30,
            },
        ];
        let cards = cards_for(alerts);
        let indicators: Vec<&str> = cards.iter().map(|c| c["indicator"].as_str().unwrap()).collect();
        assert_eq!(
            indicators,
            ["critical", "warning", "critical", "warning", "warning", "warning"]
        );
        for c in &cards {
            let summary = c["summary"].as_str().unwrap();
            assert!(summary.chars().count() < 140, "{summary}");
            assert_eq!(c["source"]["label"], SOURCE);
            assert_eq!(c["uuid"].as_str().unwrap().len(), 36);
            let detail = c["detail"].as_str().unwrap();
            assert!(detail.contains("CDC 2022"), "{detail}");
            assert!(detail.contains("RxNorm 1049621"), "{detail}");
            assert!(!c.to_string().contains(&other.to_hex()), "no fill ids: {c}");
        }
        assert_ne!(cards[0]["uuid"], cards[1]["uuid"]);
        let high = cards[0]["detail"].as_str().unwrap();
        assert!(high.contains("**105 MME/day**"), "{high}");
        assert!(high.contains("this order 15 MME/day"), "{high}");
        assert!(high.contains("covering that day 90 MME/day"), "{high}");
        assert!(high.contains("high threshold is 90 MME/day"), "{high}");
        assert_eq!(
            cards[0]["summary"],
            "Opioids at 105 MME/day with this order: at or above 90 MME/day"
        );
        assert!(cards[2]["summary"].as_str().unwrap().contains("20 days of overlap"));
        assert!(cards[3]["summary"].as_str().unwrap().contains("1 day of overlap"));
        assert!(
            cards[4]["detail"]
                .as_str()
                .unwrap()
                .contains("Alerted from 4 prescribers and 4 pharmacies")
        );
        assert!(cards[5]["detail"].as_str().unwrap().contains("before 75 %"));
    }

    #[test]
    fn no_alert_no_card() {
        assert!(cards_for(Vec::new()).is_empty());
    }

    #[test]
    fn an_unchecked_order_is_an_info_card() {
        let c = unchecked_card(2, "dispenseRequest.quantity.value must be a whole number");
        assert_eq!(c["indicator"], "info");
        assert!(c["detail"].as_str().unwrap().contains("Draft order 3"));
    }

    #[test]
    fn thousandths_print_as_decimals() {
        assert_eq!(milli(89_966), "89.966");
        assert_eq!(milli(90_000), "90");
        assert_eq!(milli(7_500), "7.5");
        assert_eq!(milli(23_330), "23.33");
        assert_eq!(milli(5), "0.005");
    }
}
