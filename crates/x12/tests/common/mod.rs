//! Remittances the tests emit, shared by the 835 tests and the pyx12 validation test.
#![allow(dead_code)]

use medledger_x12::amount::{Amount, Quantity};
use medledger_x12::claim::{Frequency, Npi, Procedure};
use medledger_x12::remit::{
    Address, Adjustment, AdjustmentGroup, ClaimPayment, ClaimStatus, Payee, PayerParty, Payment, PaymentMethod,
    RemitPatient, Remittance, ServicePayment, reason,
};
use medledger_x12::write::EnvelopeHeader;

pub fn header(control: u32) -> EnvelopeHeader {
    EnvelopeHeader {
        sender_qualifier: "ZZ".into(),
        sender_id: "MEDLEDGERPAYER".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "SUBMITTER01".into(),
        sender_code: "MEDLEDGERPAYER".into(),
        receiver_code: "SUBMITTER01".into(),
        interchange_control: control,
        group_control: control,
        date: "20260110".into(),
        time: "0930".into(),
        production: false,
    }
}

fn payer() -> PayerParty {
    PayerParty {
        name: "MEDLEDGER HEALTH PLAN".into(),
        address: Address {
            line: "1 INSURANCE PLAZA".into(),
            city: "SPRINGFIELD".into(),
            state: "IL".into(),
            postal_code: "62703".into(),
        },
        contact_name: "EDI SUPPORT".into(),
        contact_phone: "5555550300".into(),
        company_id: "1123456789".into(),
    }
}

fn payee() -> Payee {
    Payee {
        name: "RIVERSIDE CLINIC".into(),
        npi: Npi::parse("1234567893").expect("valid NPI"),
    }
}

fn hc(code: &str, modifiers: &[&str]) -> Procedure {
    Procedure {
        qualifier: "HC".into(),
        code: code.into(),
        modifiers: modifiers.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn patient() -> RemitPatient {
    RemitPatient {
        last_name: "DOE".into(),
        first_name: "JANE".into(),
        member_id: "MEM0001".into(),
    }
}

fn line(procedure: Procedure, charge: i64, paid: i64, adjustments: Vec<Adjustment>) -> ServicePayment {
    ServicePayment {
        procedure,
        revenue_code: None,
        charge: Amount(charge),
        paid: Amount(paid),
        units: Quantity::units(1),
        date: Some("20260102".into()),
        adjustments,
        line_control: None,
        allowed: None,
    }
}

fn co(code: &str, cents: i64) -> Adjustment {
    Adjustment::new(AdjustmentGroup::Contractual, code, Amount(cents))
}

fn pr(code: &str, cents: i64) -> Adjustment {
    Adjustment::new(AdjustmentGroup::Patient, code, Amount(cents))
}

/// The example 837P's claim paid: line 1 reduced to the fee schedule (CO-45) with a copay
/// (PR-3), line 2 bundled into line 1 (CO-97).
pub fn paid_claim() -> ClaimPayment {
    let mut first = line(
        hc("99213", &[]),
        10_000,
        6_000,
        vec![co(reason::EXCEEDS_FEE_SCHEDULE, 2_000), pr(reason::COPAY, 2_000)],
    );
    first.line_control = Some("PCN0001-1".into());
    first.allowed = Some(Amount(8_000));
    ClaimPayment {
        claim_id: "PCN0001".into(),
        status: ClaimStatus::ProcessedPrimary,
        charge: Amount(15_000),
        paid: Amount(6_000),
        patient_responsibility: Amount(2_000),
        filing_indicator: "12".into(),
        payer_claim_control: "PAYERCLAIM0001".into(),
        facility_code: Some("11".into()),
        frequency: Some(Frequency::Original),
        adjustments: Vec::new(),
        patient: patient(),
        services: vec![
            first,
            line(hc("87880", &["QW"]), 5_000, 0, vec![co(reason::BUNDLED, 5_000)]),
        ],
    }
}

/// An exact duplicate of an earlier claim: denied, CO-18 at claim level.
pub fn duplicate_claim() -> ClaimPayment {
    ClaimPayment {
        claim_id: "PCN0001".into(),
        status: ClaimStatus::Denied,
        charge: Amount(15_000),
        paid: Amount::ZERO,
        patient_responsibility: Amount::ZERO,
        filing_indicator: "12".into(),
        payer_claim_control: "PAYERCLAIM0002".into(),
        facility_code: Some("11".into()),
        frequency: Some(Frequency::Original),
        adjustments: vec![co(reason::DUPLICATE, 15_000)],
        patient: patient(),
        services: Vec::new(),
    }
}

/// A claim with the deductible applied and a payer-initiated reduction, as secondary.
pub fn deductible_claim() -> ClaimPayment {
    let adjustments = vec![
        pr(reason::DEDUCTIBLE, 2_550),
        Adjustment::new(AdjustmentGroup::PayerInitiated, "45", Amount(1_000)),
    ];
    ClaimPayment {
        claim_id: "PCN0002".into(),
        status: ClaimStatus::ProcessedSecondary,
        charge: Amount(7_550),
        paid: Amount(4_000),
        patient_responsibility: Amount(2_550),
        filing_indicator: "HM".into(),
        payer_claim_control: "PAYERCLAIM0003".into(),
        facility_code: Some("11".into()),
        frequency: Some(Frequency::Replacement),
        adjustments: Vec::new(),
        patient: patient(),
        services: vec![line(hc("99212", &["25"]), 7_550, 4_000, adjustments)],
    }
}

/// A reversal of an earlier payment (status 22, negative amounts).
pub fn reversal_claim() -> ClaimPayment {
    ClaimPayment {
        claim_id: "PCN0003".into(),
        status: ClaimStatus::Reversal,
        charge: Amount(-5_000),
        paid: Amount(-3_000),
        patient_responsibility: Amount::ZERO,
        filing_indicator: "12".into(),
        payer_claim_control: "PAYERCLAIM0004".into(),
        facility_code: Some("11".into()),
        frequency: Some(Frequency::Void),
        adjustments: vec![co(reason::EXCEEDS_FEE_SCHEDULE, -2_000)],
        patient: patient(),
        services: Vec::new(),
    }
}

/// An institutional claim's lines with revenue codes.
pub fn institutional_claim() -> ClaimPayment {
    let mut er = line(
        hc("99284", &[]),
        50_000,
        40_000,
        vec![co(reason::EXCEEDS_FEE_SCHEDULE, 10_000)],
    );
    er.revenue_code = Some("0450".into());
    let mut lab = line(
        hc("80053", &[]),
        20_000,
        15_000,
        vec![co(reason::EXCEEDS_FEE_SCHEDULE, 5_000)],
    );
    lab.revenue_code = Some("0300".into());
    ClaimPayment {
        claim_id: "PCN1001".into(),
        status: ClaimStatus::ProcessedPrimary,
        charge: Amount(70_000),
        paid: Amount(55_000),
        patient_responsibility: Amount::ZERO,
        filing_indicator: "HM".into(),
        payer_claim_control: "PAYERCLAIM1001".into(),
        facility_code: Some("13".into()),
        frequency: Some(Frequency::Original),
        adjustments: Vec::new(),
        patient: RemitPatient {
            last_name: "ROE".into(),
            first_name: "RICHARD".into(),
            member_id: "MEM0002".into(),
        },
        services: vec![er, lab],
    }
}

pub fn remittance(method: PaymentMethod, claims: Vec<ClaimPayment>) -> Remittance {
    Remittance {
        payer: payer(),
        payee: payee(),
        payment: Payment {
            method,
            trace_number: "CHK0000123".into(),
            date: "20260110".into(),
        },
        production_date: Some("20260109".into()),
        claims,
    }
}

pub fn ach() -> PaymentMethod {
    PaymentMethod::Ach {
        payer_routing: "011000015".into(),
        payer_account: "123456".into(),
        payee_routing: "021000021".into(),
        payee_account: "654321".into(),
    }
}

/// Every 835 the tests emit, by name.
pub fn emitted_835s() -> Vec<(&'static str, String)> {
    let cases = [
        ("paid_by_check", remittance(PaymentMethod::Check, vec![paid_claim()])),
        (
            "duplicate_denied",
            remittance(PaymentMethod::NonPayment, vec![duplicate_claim()]),
        ),
        (
            "ach_several_claims",
            remittance(ach(), vec![paid_claim(), deductible_claim(), duplicate_claim()]),
        ),
        (
            "with_reversal",
            remittance(PaymentMethod::Check, vec![deductible_claim(), reversal_claim()]),
        ),
        (
            "institutional",
            remittance(PaymentMethod::Check, vec![institutional_claim()]),
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, r))| (name, r.to_x12(&header(200 + i as u32)).expect(name)))
        .collect()
}
