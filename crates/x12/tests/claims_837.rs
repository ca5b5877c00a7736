//! The example 837P/837I interchanges are accepted and read into the claim model.

use medledger_x12::amount::{Amount, Quantity};
use medledger_x12::claim::{ClaimKind, Diagnosis, Frequency, ServiceDate};
use medledger_x12::syntax::Limits;
use medledger_x12::{check, receive};

const EXAMPLE_837P: &[u8] = include_bytes!("data/837p_example.x12");
const DEPENDENT_837P: &[u8] = include_bytes!("data/837p_dependent_replacement.x12");
const EXAMPLE_837I: &[u8] = include_bytes!("data/837i_example.x12");

fn diagnosis(principal: bool, code: &str) -> Diagnosis {
    Diagnosis {
        principal,
        icd9: false,
        code: code.to_owned(),
    }
}

#[test]
fn the_example_837p_is_accepted_and_read_into_the_model() {
    let receipt = receive(EXAMPLE_837P, &Limits::default());
    assert!(receipt.ack.accepted(), "{}", receipt.ack);
    assert_eq!(receipt.claims.len(), 1);
    let claim = &receipt.claims[0];
    assert_eq!(claim.kind, ClaimKind::Professional);
    assert_eq!(claim.set_control, "0001");
    assert_eq!(claim.billing_provider.name, "RIVERSIDE CLINIC");
    assert_eq!(claim.billing_provider.npi.as_str(), "1234567893");
    assert_eq!(claim.subscriber.last_name, "DOE");
    assert_eq!(claim.subscriber.first_name, "JANE");
    assert_eq!(claim.subscriber.member_id.as_deref(), Some("MEM0001"));
    assert_eq!(claim.patient, None, "the subscriber is the patient");
    assert_eq!(claim.payer.name, "MEDLEDGER HEALTH PLAN");
    assert_eq!(claim.payer.id, "PAYER0001");
    assert_eq!(claim.claim_id, "PCN0001");
    assert_eq!(claim.total_charge, Amount(15_000));
    assert_eq!(claim.facility_code, "11");
    assert_eq!(claim.frequency, Frequency::Original);
    assert_eq!(claim.original_reference, None);
    assert_eq!(claim.diagnoses, vec![diagnosis(true, "J069"), diagnosis(false, "R05")]);
    let rendering = claim.rendering_provider.as_ref().expect("rendering provider");
    assert_eq!(
        (rendering.name.as_str(), rendering.npi.as_str()),
        ("SMITH, ROBERT", "1999999992")
    );
    assert_eq!(claim.lines.len(), 2);
    let first = &claim.lines[0];
    assert_eq!(first.number, 1);
    let procedure = first.procedure.as_ref().expect("procedure");
    assert_eq!((procedure.qualifier.as_str(), procedure.code.as_str()), ("HC", "99213"));
    assert!(procedure.modifiers.is_empty());
    assert_eq!(first.charge, Amount(10_000));
    assert_eq!((first.unit.as_str(), first.quantity), ("UN", Quantity::units(1)));
    assert_eq!(first.date, Some(ServiceDate::Day("20260102".into())));
    let second = claim.lines[1].procedure.as_ref().expect("procedure");
    assert_eq!(
        (second.code.as_str(), second.modifiers.as_slice()),
        ("87880", &["QW".to_owned()][..])
    );
}

#[test]
fn a_dependent_patient_and_a_replacement_claim_are_read() {
    let receipt = receive(DEPENDENT_837P, &Limits::default());
    assert!(receipt.ack.accepted(), "{}", receipt.ack);
    let claim = &receipt.claims[0];
    assert_eq!(claim.subscriber.member_id.as_deref(), Some("MEM0001"));
    let patient = claim.patient.as_ref().expect("2000C patient");
    assert_eq!(
        (patient.last_name.as_str(), patient.first_name.as_str()),
        ("DOE", "JIMMY")
    );
    assert_eq!(claim.frequency, Frequency::Replacement);
    assert_eq!(claim.original_reference.as_deref(), Some("PAYERCLAIM0001"));
    assert_eq!(claim.total_charge, Amount(7_550));
    assert_eq!(
        claim.lines[0].procedure.as_ref().map(|p| p.modifiers.clone()),
        Some(vec!["25".to_owned()])
    );
}

#[test]
fn the_example_837i_is_accepted_and_read_into_the_model() {
    let receipt = receive(EXAMPLE_837I, &Limits::default());
    assert!(receipt.ack.accepted(), "{}", receipt.ack);
    let claim = &receipt.claims[0];
    assert_eq!(claim.kind, ClaimKind::Institutional);
    assert_eq!(claim.billing_provider.npi.as_str(), "1456789019");
    assert_eq!(claim.facility_code, "13");
    assert_eq!(claim.total_charge, Amount(70_000));
    assert_eq!(claim.diagnoses, vec![diagnosis(true, "R0789")]);
    let revenue: Vec<_> = claim
        .lines
        .iter()
        .map(|l| l.revenue_code.clone().unwrap_or_default())
        .collect();
    assert_eq!(revenue, ["0450", "0300"]);
    assert_eq!(
        claim.lines[0].procedure.as_ref().map(|p| p.code.as_str()),
        Some("99284")
    );
    assert_eq!(claim.lines[1].charge, Amount(20_000));
}

#[test]
fn line_breaks_after_terminators_and_other_delimiters_are_read() {
    let text = String::from_utf8_lossy(EXAMPLE_837P).replace('\n', "\r\n");
    assert!(check(text.as_bytes()).accepted());
    let one_line = String::from_utf8_lossy(EXAMPLE_837P).replace('\n', "");
    assert!(check(one_line.as_bytes()).accepted());
    // Every delimiter comes from the ISA: swap them all for others.
    let swapped: String = one_line
        .chars()
        .map(|c| match c {
            '*' => '|',
            ':' => '>',
            '^' => '!',
            '~' => '\n',
            other => other,
        })
        .collect();
    let ack = check(swapped.as_bytes());
    assert!(ack.accepted(), "{ack}");
}

#[test]
fn a_group_with_one_good_and_one_bad_set_is_partially_accepted() {
    let text = String::from_utf8_lossy(EXAMPLE_837P);
    let lines: Vec<&str> = text.lines().collect();
    let st = lines.iter().position(|l| l.starts_with("ST*")).expect("ST");
    let se = lines.iter().position(|l| l.starts_with("SE*")).expect("SE");
    let second: Vec<String> = lines[st..=se]
        .iter()
        .map(|l| {
            l.replace("*0001", "*0002")
                .replace("11:B:1*", "11:B:8*")
                .replace("PCN0001", "PCN0009")
        })
        .collect();
    let mut all: Vec<String> = lines[..=se].iter().map(|l| (*l).to_owned()).collect();
    all.extend(second);
    all.push("GE*2*101~".into());
    all.push(lines[lines.len() - 1].to_owned());
    let receipt = receive(all.join("\n").as_bytes(), &Limits::default());
    let group = &receipt.ack.groups[0];
    assert_eq!(
        (group.code(), group.sets.len(), group.accepted_sets()),
        ("P", 2, 1),
        "{}",
        receipt.ack
    );
    assert!(group.sets[0].accepted() && !group.sets[1].accepted());
    assert_eq!(
        group.sets[1].segment_errors[0].segment_id, "REF",
        "the void lacks REF*F8"
    );
    let ids: Vec<_> = receipt.claims.iter().map(|c| c.claim_id.as_str()).collect();
    assert_eq!(ids, ["PCN0001"], "claims come only from accepted sets");
}
