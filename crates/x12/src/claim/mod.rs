//! 837 health care claims in: professional (005010X222A1) and institutional
//! (005010X223A2), read from a transaction set into [`Claim`]s.
//!
//! The rules checked here, with the guides' sections:
//!
//! - Header: BHT follows ST; the submitter (1000A, `NM1*41`) and receiver (1000B,
//!   `NM1*40`) are present.
//! - Hierarchy (the guides' HL structure, section 2.3.2.1): HL01 starts at 1 and goes up by one;
//!   a billing provider HL (level 20, loop 2000A) has no parent; a subscriber HL (22,
//!   2000B) has a 20 as parent; a patient HL (23, 2000C) has a 22 as parent; HL04 says
//!   whether children follow (1) or not (0) and must be right. A 2000C is used only when
//!   the patient is not the subscriber (SBR02 is then not `18`).
//! - Parties: 2010AA billing provider `NM1*85` with an NPI (`XX`, ten digits, Luhn check
//!   digit over the `80840` prefix); 2010BA subscriber `NM1*IL` with a member id (`MI` or
//!   `II`); 2010BB payer `NM1*PR` (`PI` or `XV`); 2010CA patient `NM1*QC`.
//! - Claim (2300): CLM01 claim id, CLM02 total charge, CLM05 the place of service (837P,
//!   CLM05-2 `B`) or facility type (837I, CLM05-2 `A`), CLM05-3 the frequency code `1`
//!   original, `7` replacement, `8` void; for `7` and `8` the payer's claim control number
//!   of the original (`REF*F8`) is required. CLM02 equals the sum of the line charges.
//! - Diagnoses (HI): `ABK` principal and `ABF` other (ICD-10-CM); for 837I also `BK`/`BF`
//!   (ICD-9-CM). Other HI qualifiers (conditions, occurrences, values, procedures) are
//!   accepted and not modelled.
//! - Rendering provider: `NM1*82` at claim level (837P 2310B, 837I 2310D).
//! - Lines (2400): LX01 numbered from 1; 837P `SV1` (`HC:code:mod1..mod4`, charge, `UN`
//!   or `MJ`, quantity, place of service) with a required `DTP*472` service date; 837I
//!   `SV2` (revenue code, optional `HC` procedure, charge, `UN` or `DA`, quantity).
//!
//! Money is [`Amount`] (cents) and units are [`Quantity`] (thousandths): no floats.

use crate::amount::{Amount, Quantity};
use crate::envelope::TransactionSet;
use crate::error::SegmentError;

mod reader;
mod service;

/// GS08/ST03 of an 837 professional claim.
pub const PROFESSIONAL: &str = "005010X222A1";
/// GS08/ST03 of an 837 institutional claim.
pub const INSTITUTIONAL: &str = "005010X223A2";

/// Professional (837P) or institutional (837I).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    Professional,
    Institutional,
}

impl ClaimKind {
    /// The kind an implementation guide reference (GS08 / ST03) names.
    pub fn from_convention(convention: &str) -> Option<ClaimKind> {
        match convention {
            PROFESSIONAL => Some(ClaimKind::Professional),
            INSTITUTIONAL => Some(ClaimKind::Institutional),
            _ => None,
        }
    }

    fn rendering_loop(self) -> &'static str {
        match self {
            ClaimKind::Professional => "2310B",
            ClaimKind::Institutional => "2310D",
        }
    }
}

/// A National Provider Identifier: ten digits, the last a Luhn check digit computed with
/// the `80840` prefix (45 CFR 162.406).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Npi(String);

impl Npi {
    pub fn parse(text: &str) -> Option<Npi> {
        if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut sum = 24; // the Luhn contribution of the 80840 prefix
        for (i, b) in text.bytes().rev().enumerate() {
            let mut digit = u32::from(b - b'0');
            if i % 2 == 1 {
                digit *= 2;
                if digit > 9 {
                    digit -= 9;
                }
            }
            sum += digit;
        }
        (sum % 10 == 0).then(|| Npi(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A provider: organisation or person name, and NPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub npi: Npi,
}

/// The subscriber or the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub last_name: String,
    pub first_name: String,
    /// The payer's member id (2010BA NM109); `None` for a 2010CA patient.
    pub member_id: Option<String>,
}

/// The payer (2010BB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    pub name: String,
    pub id: String,
}

/// CLM05-3, the claim frequency type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// `1`: an original claim.
    Original,
    /// `7`: replaces an earlier claim.
    Replacement,
    /// `8`: voids an earlier claim.
    Void,
}

impl Frequency {
    pub fn parse(code: &str) -> Option<Frequency> {
        match code {
            "1" => Some(Frequency::Original),
            "7" => Some(Frequency::Replacement),
            "8" => Some(Frequency::Void),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Frequency::Original => "1",
            Frequency::Replacement => "7",
            Frequency::Void => "8",
        }
    }
}

/// One diagnosis from an HI segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The principal diagnosis (`ABK`/`BK`) rather than another (`ABF`/`BF`).
    pub principal: bool,
    /// ICD-9-CM (`BK`/`BF`) rather than ICD-10-CM (`ABK`/`ABF`).
    pub icd9: bool,
    pub code: String,
}

/// A procedure: qualifier (`HC` HCPCS/CPT), code and up to four modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    pub qualifier: String,
    pub code: String,
    pub modifiers: Vec<String>,
}

/// DTP*472: one day or a range (`CCYYMMDD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceDate {
    Day(String),
    Range(String, String),
}

/// One service line (2400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLine {
    /// LX01.
    pub number: u32,
    /// SV201, the revenue code (837I).
    pub revenue_code: Option<String>,
    /// SV101 (837P, required) or SV202 (837I, when given).
    pub procedure: Option<Procedure>,
    pub charge: Amount,
    /// `UN` units, `MJ` minutes (837P) or `DA` days (837I).
    pub unit: String,
    pub quantity: Quantity,
    /// SV105 (837P), when it differs from the claim's.
    pub place_of_service: Option<String>,
    pub date: Option<ServiceDate>,
}

/// One claim read from an 837.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub kind: ClaimKind,
    /// ST02 of the set it came in.
    pub set_control: String,
    pub billing_provider: Provider,
    pub subscriber: Person,
    /// Present only when the patient is not the subscriber (2000C).
    pub patient: Option<Person>,
    pub payer: Payer,
    /// CLM01, the provider's patient control number.
    pub claim_id: String,
    pub total_charge: Amount,
    /// CLM05-1: place of service (837P) or facility type (837I).
    pub facility_code: String,
    pub frequency: Frequency,
    /// REF*F8: the payer's claim control number of the claim replaced or voided.
    pub original_reference: Option<String>,
    pub diagnoses: Vec<Diagnosis>,
    pub rendering_provider: Option<Provider>,
    pub lines: Vec<ServiceLine>,
}

/// Reads every claim of an 837 set; `Err` lists every segment in error.
pub fn read_claims(set: &TransactionSet, kind: ClaimKind) -> Result<Vec<Claim>, Vec<SegmentError>> {
    let mut reader = reader::Reader::new(kind, set.control().to_owned());
    for (index, segment) in set.segments.iter().enumerate() {
        reader.segment(index + 1, segment);
    }
    reader.finish(set.segments.last())
}
