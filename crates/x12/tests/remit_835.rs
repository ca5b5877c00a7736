//! 835 remittances: balanced ones are written with correct counts and read back by our own
//! strict reader; unbalanced ones are refused.

mod common;

use common::*;
use medledger_x12::amount::Amount;
use medledger_x12::check;
use medledger_x12::remit::{PaymentMethod, RemitError};

#[test]
fn every_emitted_835_passes_our_own_reader() {
    for (name, text) in emitted_835s() {
        let ack = check(text.as_bytes());
        assert!(ack.accepted(), "{name}:\n{ack}\n{text}");
    }
}

#[test]
fn the_paid_claim_reads_as_the_guide_writes_it() {
    let text = remittance(PaymentMethod::Check, vec![paid_claim()])
        .to_x12(&header(7))
        .expect("835");
    let segments: Vec<&str> = text.lines().map(|l| l.trim_end_matches('~')).collect();
    let expected_body = [
        "ST*835*0001",
        "BPR*I*60*C*CHK************20260110",
        "TRN*1*CHK0000123*1123456789",
        "DTM*405*20260109",
        "N1*PR*MEDLEDGER HEALTH PLAN",
        "N3*1 INSURANCE PLAZA",
        "N4*SPRINGFIELD*IL*62703",
        "PER*BL*EDI SUPPORT*TE*5555550300",
        "N1*PE*RIVERSIDE CLINIC*XX*1234567893",
        "LX*1",
        "CLP*PCN0001*1*150*60*20*12*PAYERCLAIM0001*11*1",
        "NM1*QC*1*DOE*JANE****MI*MEM0001",
        "SVC*HC:99213*100*60**1",
        "DTM*472*20260102",
        "CAS*CO*45*20",
        "CAS*PR*3*20",
        "REF*6R*PCN0001-1",
        "AMT*B6*80",
        "SVC*HC:87880:QW*50*0**1",
        "DTM*472*20260102",
        "CAS*CO*97*50",
        "SE*22*0001",
    ];
    assert_eq!(&segments[2..segments.len() - 2], &expected_body[..]);
    assert_eq!(segments[segments.len() - 2], "GE*1*7");
    assert_eq!(segments[segments.len() - 1], "IEA*1*000000007");
    assert_eq!(segments[0].len(), 105, "ISA without its terminator");
}

#[test]
fn unbalanced_remittances_are_refused() {
    let mut claim = paid_claim();
    claim.paid = Amount(6_001);
    let err = remittance(PaymentMethod::Check, vec![claim])
        .to_x12(&header(1))
        .expect_err("unbalanced");
    assert!(matches!(err, RemitError::Unbalanced { .. }), "{err}");

    let mut claim = paid_claim();
    claim.services[1].adjustments.clear();
    let err = remittance(PaymentMethod::Check, vec![claim])
        .to_x12(&header(1))
        .expect_err("line unbalanced");
    assert!(matches!(err, RemitError::Unbalanced { .. }), "{err}");

    let mut claim = paid_claim();
    claim.patient_responsibility = Amount::ZERO;
    let err = remittance(PaymentMethod::Check, vec![claim])
        .to_x12(&header(1))
        .expect_err("PR mismatch");
    assert!(err.to_string().contains("patient responsibility"), "{err}");

    let err = remittance(PaymentMethod::NonPayment, vec![paid_claim()])
        .to_x12(&header(1))
        .expect_err("NON with money");
    assert!(matches!(err, RemitError::Invalid(_)), "{err}");

    let err = remittance(PaymentMethod::Check, Vec::new())
        .to_x12(&header(1))
        .expect_err("no claims");
    assert_eq!(err, RemitError::NoClaims);

    let mut claim = duplicate_claim();
    claim.claim_id = "PCN*1".into();
    let err = remittance(PaymentMethod::NonPayment, vec![claim])
        .to_x12(&header(1))
        .expect_err("delimiter in data");
    assert!(matches!(err, RemitError::Write(_)), "{err}");
}
