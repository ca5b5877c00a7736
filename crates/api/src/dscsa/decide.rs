//! The verification decision: what the ledger holds about a serial, against what the
//! requester read off the pack. Pure, so every answer the responder can give is tested as
//! a table (below).
//!
//! The order of the checks follows the standard's failure reasons: GTIN and serial first
//! (when they do not match, nothing else is compared), then lot and expiry together.

use medledger_ledger::supply::{ItemRecord, ItemState};
use serde::Serialize;

use super::request::Expiry;

/// `data.verificationFailureReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FailureReason {
    /// No pack with this GTIN and serial was commissioned.
    #[serde(rename = "No_match_GTIN_Serial")]
    GtinSerial,
    /// The serial exists with another lot.
    #[serde(rename = "No_match_GTIN_Serial_Lot")]
    Lot,
    /// The serial exists with another expiry date.
    #[serde(rename = "No_match_GTIN_Serial_Expiry")]
    Expiry,
    /// The serial exists with another lot and another expiry date.
    #[serde(rename = "No_match_GTIN_Serial_Lot_Expiry")]
    LotExpiry,
    /// The identifiers match, but the responder does not confirm the pack (here: it was
    /// dispensed, decommissioned or destroyed, which the standard has no code for).
    #[serde(rename = "No_reason_provided")]
    NoReason,
    /// The pack is marked suspect: not to be distributed again.
    #[serde(rename = "Not_for_re-distribution")]
    NotForRedistribution,
}

/// `data.additionalInfo`: one code, the most pressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AdditionalInfo {
    Suspect,
    Recalled,
    Expired,
}

/// `data` of a verification response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_failure_reason: Option<FailureReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<AdditionalInfo>,
}

/// What the requester read off the pack (the GTIN and serial chose `item`).
pub struct Claim<'a> {
    pub lot: &'a str,
    pub expiry: Expiry,
}

/// What the ledger holds: the item at `supply/item/{sgtin}` (`None`: never commissioned),
/// whether the lot the item was commissioned with is recalled, and today's date (for
/// `Expired`).
pub struct Facts<'a> {
    pub item: Option<&'a ItemRecord>,
    pub lot_recalled: bool,
    pub today: Expiry,
}

/// The answer to one verification request.
pub fn decide(claim: &Claim<'_>, facts: &Facts<'_>) -> Verification {
    let Some(item) = facts.item else {
        return refused(FailureReason::GtinSerial, None);
    };
    let lot_ok = item.lot.as_deref() == Some(claim.lot);
    let expiry = item.expiry.as_deref().and_then(|e| Expiry::parse(e, facts.today).ok());
    let expiry_ok = expiry == Some(claim.expiry);
    let info = if item.suspect {
        Some(AdditionalInfo::Suspect)
    } else if facts.lot_recalled {
        Some(AdditionalInfo::Recalled)
    } else if expiry.is_some_and(|e| e < facts.today) {
        Some(AdditionalInfo::Expired)
    } else {
        None
    };
    match (lot_ok, expiry_ok) {
        (false, false) => return refused(FailureReason::LotExpiry, info),
        (false, true) => return refused(FailureReason::Lot, info),
        (true, false) => return refused(FailureReason::Expiry, info),
        (true, true) => {}
    }
    if item.suspect {
        return refused(FailureReason::NotForRedistribution, info);
    }
    if matches!(
        item.state,
        ItemState::Dispensed | ItemState::Decommissioned | ItemState::Destroyed
    ) {
        return refused(FailureReason::NoReason, info);
    }
    Verification {
        verified: true,
        verification_failure_reason: None,
        additional_info: info,
    }
}

fn refused(reason: FailureReason, info: Option<AdditionalInfo>) -> Verification {
    Verification {
        verified: false,
        verification_failure_reason: Some(reason),
        additional_info: info,
    }
}

#[cfg(test)]
mod tests {
    use medledger_types::{Hash32, Height, OrgId};

    use super::*;

    fn today() -> Expiry {
        Expiry::from_ymd(2026, 12, 5)
    }

    fn item(state: ItemState, lot: &str, expiry: &str, suspect: bool) -> ItemRecord {
        ItemRecord {
            state,
            owner: OrgId::new("wholesale-w").unwrap(),
            parent: None,
            children: Vec::new(),
            gtin: Some("10614141000019".into()),
            lot: Some(lot.into()),
            expiry: Some(expiry.into()),
            suspect,
            quarantined: false,
            disposition: None,
            last_event: Hash32::digest(&[b"e"]),
            updated_at: Height(3),
        }
    }

    fn ask(item: Option<&ItemRecord>, recalled: bool, lot: &str, expiry: &str) -> Verification {
        decide(
            &Claim {
                lot,
                expiry: Expiry::parse(expiry, today()).unwrap(),
            },
            &Facts {
                item,
                lot_recalled: recalled,
                today: today(),
            },
        )
    }

    fn answer(v: &Verification) -> (bool, Option<FailureReason>, Option<AdditionalInfo>) {
        (v.verified, v.verification_failure_reason, v.additional_info)
    }

    #[test]
    fn every_answer() {
        use AdditionalInfo as I;
        use FailureReason as F;
        let active = item(ItemState::Active, "LOT1", "280131", false);
        let suspect = item(ItemState::Active, "LOT1", "280131", true);
        let dispensed = item(ItemState::Dispensed, "LOT1", "280131", false);
        let destroyed = item(ItemState::Destroyed, "LOT1", "280131", false);
        let expired = item(ItemState::Active, "LOT1", "251130", false);
        let end_of_month = item(ItemState::Active, "LOT1", "280200", false);
        let cases: &[(&str, Option<&ItemRecord>, bool, &str, &str, _)] = &[
            ("matches", Some(&active), false, "LOT1", "280131", (true, None, None)),
            (
                "unknown serial",
                None,
                false,
                "LOT1",
                "280131",
                (false, Some(F::GtinSerial), None),
            ),
            (
                "other lot",
                Some(&active),
                false,
                "LOT2",
                "280131",
                (false, Some(F::Lot), None),
            ),
            (
                "other expiry",
                Some(&active),
                false,
                "LOT1",
                "280130",
                (false, Some(F::Expiry), None),
            ),
            (
                "both differ",
                Some(&active),
                false,
                "LOT2",
                "290131",
                (false, Some(F::LotExpiry), None),
            ),
            (
                "recalled lot",
                Some(&active),
                true,
                "LOT1",
                "280131",
                (true, None, Some(I::Recalled)),
            ),
            (
                "recalled, lot claimed wrong",
                Some(&active),
                true,
                "LOT9",
                "280131",
                (false, Some(F::Lot), Some(I::Recalled)),
            ),
            (
                "suspect",
                Some(&suspect),
                false,
                "LOT1",
                "280131",
                (false, Some(F::NotForRedistribution), Some(I::Suspect)),
            ),
            (
                "suspect beats recalled",
                Some(&suspect),
                true,
                "LOT1",
                "280131",
                (false, Some(F::NotForRedistribution), Some(I::Suspect)),
            ),
            (
                "dispensed",
                Some(&dispensed),
                false,
                "LOT1",
                "280131",
                (false, Some(F::NoReason), None),
            ),
            (
                "destroyed",
                Some(&destroyed),
                false,
                "LOT1",
                "280131",
                (false, Some(F::NoReason), None),
            ),
            (
                "expired",
                Some(&expired),
                false,
                "LOT1",
                "251130",
                (true, None, Some(I::Expired)),
            ),
            // GS1 General Specifications §7.12: day 00 is the last day of the month.
            (
                "DD=00 asked, last day held",
                Some(&active),
                false,
                "LOT1",
                "280100",
                (true, None, None),
            ),
            (
                "DD=00 held, last day asked (leap year)",
                Some(&end_of_month),
                false,
                "LOT1",
                "280229",
                (true, None, None),
            ),
            (
                "DD=00 held, another day asked",
                Some(&end_of_month),
                false,
                "LOT1",
                "280228",
                (false, Some(F::Expiry), None),
            ),
        ];
        for (name, it, recalled, lot, expiry, expected) in cases {
            assert_eq!(answer(&ask(*it, *recalled, lot, expiry)), *expected, "{name}");
        }
    }

    #[test]
    fn data_serialises_with_the_standards_names() {
        let v = ask(None, false, "LOT1", "280131");
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"verified": false, "verificationFailureReason": "No_match_GTIN_Serial"})
        );
        let suspect = item(ItemState::Active, "LOT1", "280131", true);
        assert_eq!(
            serde_json::to_value(ask(Some(&suspect), false, "LOT1", "280131")).unwrap(),
            serde_json::json!({"verified": false, "verificationFailureReason": "Not_for_re-distribution", "additionalInfo": "Suspect"})
        );
        let active = item(ItemState::Active, "LOT1", "280131", false);
        assert_eq!(
            serde_json::to_value(ask(Some(&active), false, "LOT1", "280131")).unwrap(),
            serde_json::json!({"verified": true})
        );
    }
}
