//! 835 health care claim payment/advice out (005010X221A1), from a [`Remittance`].
//!
//! The segments written, with the guide's loops: `BPR` (financial information: `I`
//! remittance and payment by cheque `CHK` or ACH `CCP`, or `H` notification only with
//! `NON` when nothing is paid), `TRN` (reassociation trace: cheque/EFT number and the
//! payer's `1`+EIN), `DTM*405` (production date); 1000A payer `N1*PR`, `N3`, `N4`,
//! `PER*BL`; 1000B payee `N1*PE` with its NPI (`XX`); 2000 `LX`; 2100 `CLP` (patient
//! control number, status code, charge, paid, patient responsibility, filing indicator,
//! payer claim control number, facility code, frequency), claim `CAS`, `NM1*QC` patient;
//! 2110 `SVC`, `DTM*472`, `CAS`, `REF*6R`, `AMT*B6`.
//!
//! Balancing (X221A1 §1.10.2), refused when it does not hold:
//! - each line: charge − paid = the line's adjustments;
//! - each claim: charge − paid = the claim's adjustments + its lines' adjustments, and
//!   the patient responsibility = the `PR` adjustments;
//! - the payment: BPR02 = the sum of the claims' paid amounts (no PLB here).
//!
//! CAS group codes (X12 1033): `CO` contractual obligation, `PR` patient responsibility,
//! `OA` other adjustment, `PI` payer-initiated reduction; reason codes are the Claim
//! Adjustment Reason Codes (`18` exact duplicate, `97` bundled, `45` charge exceeds the fee
//! schedule, `1` deductible, `2` coinsurance, `3` copay...). A CAS holds up to six
//! adjustments of one group.

use crate::amount::{Amount, Quantity};
use crate::claim::{Frequency, Npi, Procedure};
use crate::write::{EnvelopeHeader, GroupContent, SetWriter, WriteError, clean, interchange};

/// GS08/ST03 of an 835.
pub const REMITTANCE: &str = "005010X221A1";

/// CAS01, the claim adjustment group code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentGroup {
    /// `CO`: contractual obligation (the provider writes it off).
    Contractual,
    /// `PR`: patient responsibility.
    Patient,
    /// `OA`: other adjustment.
    Other,
    /// `PI`: payer-initiated reduction.
    PayerInitiated,
}

impl AdjustmentGroup {
    pub fn code(self) -> &'static str {
        match self {
            AdjustmentGroup::Contractual => "CO",
            AdjustmentGroup::Patient => "PR",
            AdjustmentGroup::Other => "OA",
            AdjustmentGroup::PayerInitiated => "PI",
        }
    }
}

/// Claim Adjustment Reason Codes used by medledger's claims rules (any other code the
/// CARC list holds can be given with [`Adjustment::reason`]).
pub mod reason {
    /// Deductible amount.
    pub const DEDUCTIBLE: &str = "1";
    /// Coinsurance amount.
    pub const COINSURANCE: &str = "2";
    /// Co-payment amount.
    pub const COPAY: &str = "3";
    /// Exact duplicate claim/service.
    pub const DUPLICATE: &str = "18";
    /// Charge exceeds fee schedule / maximum allowable.
    pub const EXCEEDS_FEE_SCHEDULE: &str = "45";
    /// Payment included in the allowance for another service (bundled).
    pub const BUNDLED: &str = "97";
}

/// One adjustment: group, reason code, amount (and units, rarely).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub group: AdjustmentGroup,
    pub reason: String,
    pub amount: Amount,
    pub quantity: Option<Quantity>,
}

impl Adjustment {
    pub fn new(group: AdjustmentGroup, reason: &str, amount: Amount) -> Adjustment {
        Adjustment {
            group,
            reason: reason.to_owned(),
            amount,
            quantity: None,
        }
    }
}

/// CLP02, the claim status code (X12 1029).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStatus {
    /// `1`: processed as primary.
    ProcessedPrimary,
    /// `2`: processed as secondary.
    ProcessedSecondary,
    /// `3`: processed as tertiary.
    ProcessedTertiary,
    /// `4`: denied.
    Denied,
    /// `19`: processed as primary, forwarded to additional payer(s).
    PrimaryForwarded,
    /// `22`: reversal of a previous payment.
    Reversal,
    /// `23`: not our claim, forwarded to additional payer(s).
    NotOurClaim,
}

impl ClaimStatus {
    pub fn code(self) -> &'static str {
        match self {
            ClaimStatus::ProcessedPrimary => "1",
            ClaimStatus::ProcessedSecondary => "2",
            ClaimStatus::ProcessedTertiary => "3",
            ClaimStatus::Denied => "4",
            ClaimStatus::PrimaryForwarded => "19",
            ClaimStatus::Reversal => "22",
            ClaimStatus::NotOurClaim => "23",
        }
    }
}

/// A postal address (N3/N4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub line: String,
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    pub postal_code: String,
}

/// The payer (1000A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerParty {
    pub name: String,
    pub address: Address,
    /// PER*BL, the payer's technical contact (required): name and telephone.
    pub contact_name: String,
    pub contact_phone: String,
    /// TRN03: `1` followed by the payer's EIN (ten characters).
    pub company_id: String,
}

/// The payee (1000B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payee {
    pub name: String,
    pub npi: Npi,
}

/// How the money moves (BPR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMethod {
    /// `CHK`: a cheque; TRN02 is its number.
    Check,
    /// `ACH` `CCP`: an EFT; the payer's and payee's bank routing (ABA) and account numbers.
    Ach {
        payer_routing: String,
        payer_account: String,
        payee_routing: String,
        payee_account: String,
    },
    /// `NON`: nothing paid (BPR01 `H`); only allowed when the total is zero.
    NonPayment,
}

/// The payment: method, trace number, date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub method: PaymentMethod,
    /// TRN02: the cheque or EFT trace number.
    pub trace_number: String,
    /// BPR16: `CCYYMMDD`.
    pub date: String,
}

/// One service line's payment (2110).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePayment {
    pub procedure: Procedure,
    /// SVC04, the revenue code (institutional claims).
    pub revenue_code: Option<String>,
    pub charge: Amount,
    pub paid: Amount,
    pub units: Quantity,
    pub date: Option<String>,
    pub adjustments: Vec<Adjustment>,
    /// REF*6R, the provider's line item control number, when the claim gave one.
    pub line_control: Option<String>,
    /// AMT*B6, the allowed amount.
    pub allowed: Option<Amount>,
}

/// The patient as the 835 names them (NM1*QC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemitPatient {
    pub last_name: String,
    pub first_name: String,
    pub member_id: String,
}

/// One claim's payment (2100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPayment {
    /// CLP01: the provider's claim id (CLM01).
    pub claim_id: String,
    pub status: ClaimStatus,
    pub charge: Amount,
    pub paid: Amount,
    pub patient_responsibility: Amount,
    /// CLP06, the claim filing indicator (`12` PPO, `15` indemnity, `HM` HMO, `MC` Medicaid, ...).
    pub filing_indicator: String,
    /// CLP07, the payer's claim control number.
    pub payer_claim_control: String,
    /// CLP08 and CLP09 (the claim's CLM05-1 and CLM05-3), when known.
    pub facility_code: Option<String>,
    pub frequency: Option<Frequency>,
    pub adjustments: Vec<Adjustment>,
    pub patient: RemitPatient,
    pub services: Vec<ServicePayment>,
}

/// One 835 transaction set: a payment to one payee for its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    pub payer: PayerParty,
    pub payee: Payee,
    pub payment: Payment,
    /// DTM*405, `CCYYMMDD`.
    pub production_date: Option<String>,
    pub claims: Vec<ClaimPayment>,
}

/// Why a remittance cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemitError {
    #[error("claim {claim_id:?}: {what} {left} and {right} do not balance")]
    Unbalanced {
        claim_id: String,
        what: &'static str,
        left: Amount,
        right: Amount,
    },
    #[error("payment BPR02 {total} is not the sum of the claims' paid amounts {sum}")]
    PaymentUnbalanced { total: Amount, sum: Amount },
    #[error("a remittance with no claims")]
    NoClaims,
    #[error("{0}")]
    Invalid(String),
    #[error("amounts overflow")]
    Overflow,
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn sum(amounts: impl IntoIterator<Item = Amount>) -> Result<Amount, RemitError> {
    amounts
        .into_iter()
        .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
        .ok_or(RemitError::Overflow)
}

fn date(field: &'static str, value: &str) -> Result<(), RemitError> {
    if value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(RemitError::Invalid(format!("{field} {value:?} is not a CCYYMMDD date")))
    }
}

impl Remittance {
    /// The total paid (BPR02): the sum of the claims' paid amounts.
    pub fn total_paid(&self) -> Result<Amount, RemitError> {
        sum(self.claims.iter().map(|c| c.paid))
    }

    /// Checks the balancing rules and the values the guide constrains.
    pub fn validate(&self) -> Result<(), RemitError> {
        if self.claims.is_empty() {
            return Err(RemitError::NoClaims);
        }
        let total = self.total_paid()?;
        if total < Amount::ZERO {
            return Err(RemitError::Invalid(format!("the total paid {total} is negative")));
        }
        if matches!(self.payment.method, PaymentMethod::NonPayment) != (total == Amount::ZERO) {
            return Err(RemitError::Invalid(
                "NON (no payment) exactly when the total paid is zero".into(),
            ));
        }
        date("BPR16", &self.payment.date)?;
        if let Some(d) = &self.production_date {
            date("DTM*405", d)?;
        }
        if self.payer.company_id.len() != 10 {
            return Err(RemitError::Invalid(
                "TRN03 must be 1 followed by the payer's nine-digit EIN".into(),
            ));
        }
        for claim in &self.claims {
            claim.validate()?;
        }
        Ok(())
    }

    /// The 835 transaction set's segments between ST and SE.
    fn segments(&self, w: &mut SetWriter) -> Result<(), RemitError> {
        self.validate()?;
        let total = self.total_paid()?.to_string();
        let p = &self.payment;
        match &p.method {
            PaymentMethod::Check => {
                w.segment(
                    "BPR",
                    &[
                        "I", &total, "C", "CHK", "", "", "", "", "", "", "", "", "", "", "", &p.date,
                    ],
                );
            }
            PaymentMethod::NonPayment => {
                w.segment(
                    "BPR",
                    &[
                        "H", &total, "C", "NON", "", "", "", "", "", "", "", "", "", "", "", &p.date,
                    ],
                );
            }
            PaymentMethod::Ach {
                payer_routing,
                payer_account,
                payee_routing,
                payee_account,
            } => {
                for v in [payer_routing, payer_account, payee_routing, payee_account] {
                    clean("BPR", v)?;
                }
                let company = &self.payer.company_id;
                #[rustfmt::skip]
                w.segment("BPR", &[
                    "I", &total, "C", "ACH", "CCP", "01", payer_routing, "DA", payer_account, company, "",
                    "01", payee_routing, "DA", payee_account, &p.date,
                ]);
            }
        }
        clean("TRN02", &p.trace_number)?;
        w.segment("TRN", &["1", &p.trace_number, &self.payer.company_id]);
        if let Some(d) = &self.production_date {
            w.segment("DTM", &["405", d]);
        }
        let payer = &self.payer;
        for v in [&payer.name, &payer.contact_name, &payer.contact_phone, &self.payee.name] {
            clean("N1/PER", v)?;
        }
        w.segment("N1", &["PR", &payer.name]);
        address(w, &payer.address)?;
        w.segment("PER", &["BL", &payer.contact_name, "TE", &payer.contact_phone]);
        w.segment("N1", &["PE", &self.payee.name, "XX", self.payee.npi.as_str()]);
        w.segment("LX", &["1"]);
        for claim in &self.claims {
            claim.segments(w)?;
        }
        Ok(())
    }

    /// The remittance as a whole interchange (one group `HP`, one 835 set).
    pub fn to_x12(&self, header: &EnvelopeHeader) -> Result<String, RemitError> {
        to_x12(std::slice::from_ref(self), header)
    }
}

/// Several remittances as one interchange: one `HP` group, one 835 set each.
pub fn to_x12(remittances: &[Remittance], header: &EnvelopeHeader) -> Result<String, RemitError> {
    let mut sets = Vec::new();
    for (index, remittance) in remittances.iter().enumerate() {
        let mut w = SetWriter::default();
        remittance.segments(&mut w)?;
        // X221A1 does not use ST03 (the guide is named in GS08 only).
        sets.push(w.finish("835", &format!("{:04}", index + 1), None));
    }
    let group = GroupContent {
        functional_id: "HP",
        convention: REMITTANCE,
        sets,
    };
    Ok(interchange(header, &[], vec![group])?)
}

fn address(w: &mut SetWriter, a: &Address) -> Result<(), RemitError> {
    for v in [&a.line, &a.city, &a.state, &a.postal_code] {
        clean("N3/N4", v)?;
    }
    w.segment("N3", &[&a.line]);
    w.segment("N4", &[&a.city, &a.state, &a.postal_code]);
    Ok(())
}

/// Writes CAS segments: one per group, up to six adjustments each.
fn adjustments(w: &mut SetWriter, all: &[Adjustment]) -> Result<(), RemitError> {
    let groups = [
        AdjustmentGroup::Contractual,
        AdjustmentGroup::Other,
        AdjustmentGroup::PayerInitiated,
        AdjustmentGroup::Patient,
    ];
    for group in groups {
        let mine: Vec<&Adjustment> = all.iter().filter(|a| a.group == group).collect();
        for chunk in mine.chunks(6) {
            let mut values = vec![group.code().to_owned()];
            for a in chunk {
                clean("CAS reason", &a.reason)?;
                values.push(a.reason.clone());
                values.push(a.amount.to_string());
                values.push(a.quantity.map(|q| q.to_string()).unwrap_or_default());
            }
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            w.segment("CAS", &refs);
        }
    }
    Ok(())
}

impl ClaimPayment {
    fn validate(&self) -> Result<(), RemitError> {
        let unbalanced = |what, left, right| RemitError::Unbalanced {
            claim_id: self.claim_id.clone(),
            what,
            left,
            right,
        };
        for a in self
            .adjustments
            .iter()
            .chain(self.services.iter().flat_map(|s| s.adjustments.iter()))
        {
            if a.reason.is_empty() || a.reason.len() > 5 {
                return Err(RemitError::Invalid(format!(
                    "claim {:?}: reason code {:?}",
                    self.claim_id, a.reason
                )));
            }
        }
        let mut line_adjustments = Amount::ZERO;
        for line in &self.services {
            let adjusted = sum(line.adjustments.iter().map(|a| a.amount))?;
            let difference = line.charge.checked_sub(line.paid).ok_or(RemitError::Overflow)?;
            if difference != adjusted {
                return Err(unbalanced(
                    "line charge − paid and line adjustments",
                    difference,
                    adjusted,
                ));
            }
            line_adjustments = line_adjustments.checked_add(adjusted).ok_or(RemitError::Overflow)?;
            if let Some(d) = &line.date {
                date("DTM*472", d)?;
            }
        }
        let claim_adjustments = sum(self.adjustments.iter().map(|a| a.amount))?;
        let adjusted = claim_adjustments
            .checked_add(line_adjustments)
            .ok_or(RemitError::Overflow)?;
        let difference = self.charge.checked_sub(self.paid).ok_or(RemitError::Overflow)?;
        if difference != adjusted {
            return Err(unbalanced("charge − paid and adjustments", difference, adjusted));
        }
        let patient = sum(self
            .adjustments
            .iter()
            .chain(self.services.iter().flat_map(|s| s.adjustments.iter()))
            .filter(|a| a.group == AdjustmentGroup::Patient)
            .map(|a| a.amount))?;
        if patient != self.patient_responsibility {
            return Err(unbalanced(
                "patient responsibility and PR adjustments",
                self.patient_responsibility,
                patient,
            ));
        }
        if !self.services.is_empty() {
            let charges = sum(self.services.iter().map(|s| s.charge))?;
            if charges != self.charge {
                return Err(unbalanced("charge and the sum of line charges", self.charge, charges));
            }
        }
        if self.claim_id.is_empty() || self.payer_claim_control.is_empty() || self.filing_indicator.is_empty() {
            let why = format!("claim {:?}: CLP01, CLP06 and CLP07 are required", self.claim_id);
            return Err(RemitError::Invalid(why));
        }
        Ok(())
    }

    fn segments(&self, w: &mut SetWriter) -> Result<(), RemitError> {
        for v in [&self.claim_id, &self.filing_indicator, &self.payer_claim_control] {
            clean("CLP", v)?;
        }
        let (charge, paid, patient) = (
            self.charge.to_string(),
            self.paid.to_string(),
            self.patient_responsibility.to_string(),
        );
        let patient_amount = if self.patient_responsibility == Amount::ZERO {
            ""
        } else {
            patient.as_str()
        };
        #[rustfmt::skip]
        w.segment("CLP", &[
            &self.claim_id, self.status.code(), &charge, &paid, patient_amount, &self.filing_indicator,
            &self.payer_claim_control, self.facility_code.as_deref().unwrap_or(""),
            self.frequency.map_or("", Frequency::code),
        ]);
        adjustments(w, &self.adjustments)?;
        let p = &self.patient;
        for v in [&p.last_name, &p.first_name, &p.member_id] {
            clean("NM1*QC", v)?;
        }
        w.segment(
            "NM1",
            &["QC", "1", &p.last_name, &p.first_name, "", "", "", "MI", &p.member_id],
        );
        for line in &self.services {
            let pr = &line.procedure;
            let mut composite = vec![pr.qualifier.as_str(), pr.code.as_str()];
            composite.extend(pr.modifiers.iter().map(String::as_str));
            for v in &composite {
                clean("SVC01", v)?;
            }
            let procedure = composite.join(":");
            let (charge, paid, units) = (line.charge.to_string(), line.paid.to_string(), line.units.to_string());
            let revenue = line.revenue_code.as_deref().unwrap_or("");
            w.segment("SVC", &[&procedure, &charge, &paid, revenue, &units]);
            if let Some(d) = &line.date {
                w.segment("DTM", &["472", d]);
            }
            adjustments(w, &line.adjustments)?;
            if let Some(control) = &line.line_control {
                clean("REF*6R", control)?;
                w.segment("REF", &["6R", control]);
            }
            if let Some(allowed) = line.allowed {
                w.segment("AMT", &["B6", &allowed.to_string()]);
            }
        }
        Ok(())
    }
}
