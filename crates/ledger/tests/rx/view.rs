//! `rx::view::may_view`: who may see a patient's monitoring view, as a table — given the
//! state, this reader naming these prescriptions gets this basis or this refusal.

use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::rx::view::{ViewBasis, ViewDenial, may_view};

use super::*;

type Decision = Result<ViewBasis, ViewDenial>;

fn sees(w: &World, reader: (usize, &str), patient: &str, named: &[Hash32]) -> Decision {
    may_view(
        &w.state,
        &org_of(reader.0),
        &member(reader.1),
        patient,
        named,
        TimestampMs(w.now_ms),
    )
}

#[test]
fn who_may_see_a_patients_monitoring_view() {
    let mut w = World::new();
    // pt-1's Patient record is held by the hospital.
    let mut cases: Vec<(&str, Decision, Decision)> = vec![
        (
            "the custodian's practitioner",
            sees(&w, (HOSPITAL, "doc-1"), "pt-1", &[]),
            Ok(ViewBasis::PatientCustodian),
        ),
        (
            "the custodian's node",
            sees(&w, (HOSPITAL, "node"), "pt-1", &[]),
            Ok(ViewBasis::PatientCustodian),
        ),
        (
            "a regulator's admin",
            sees(&w, (REGULATOR, "admin"), "pt-1", &[]),
            Ok(ViewBasis::Regulator),
        ),
        (
            "a regulator's inspector, for a patient unknown to the ledger",
            sees(&w, (REGULATOR, "inspector-g"), "pt-unknown", &[]),
            Ok(ViewBasis::Regulator),
        ),
        (
            "another clinic's practitioner",
            sees(&w, (CLINIC, "doc-3"), "pt-1", &[]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "a pharmacy that never filled for the patient",
            sees(&w, (PHARMACY_P, "admin"), "pt-1", &[]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "a lab",
            sees(&w, (LAB, "admin"), "pt-1", &[]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "a manufacturer",
            sees(&w, (MAKER, "admin"), "pt-1", &[]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "no member",
            sees(&w, (HOSPITAL, "doc-9"), "pt-1", &[]),
            Err(ViewDenial::NotAMember),
        ),
    ];

    // The clinic writes a prescription for pt-1: naming it, the clinic and any pharmacy
    // that may fill it see the view.
    let rx = w.prescribe(3, oxycodone());
    let later = Rx {
        valid_days: 60,
        ..oxycodone()
    };
    let other = w.prescribe(
        3,
        Rx {
            patient: "pt-2",
            ..later
        },
    );
    cases.extend([
        (
            "the prescriber's colleague, without naming it",
            sees(&w, (CLINIC, "doc-4"), "pt-1", &[]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "the prescriber's colleague, naming it",
            sees(&w, (CLINIC, "doc-4"), "pt-1", &[rx]),
            Ok(ViewBasis::PrescriptionInHand),
        ),
        (
            "a pharmacy with the unfilled prescription in hand",
            sees(&w, (PHARMACY_Q, "admin"), "pt-1", &[rx]),
            Ok(ViewBasis::PrescriptionInHand),
        ),
        (
            "a pharmacy naming another patient's prescription",
            sees(&w, (PHARMACY_Q, "admin"), "pt-1", &[other]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "a pharmacy naming a prescription that does not exist",
            sees(&w, (PHARMACY_Q, "admin"), "pt-1", &[Hash32([7; 32])]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "a lab naming it",
            sees(&w, (LAB, "admin"), "pt-1", &[rx]),
            Err(ViewDenial::NotTreating),
        ),
    ]);

    // P fills it: P and the clinic see the view from the window; Q no longer may fill it.
    w.fill(PHARMACY_P, rx, 30, 30);
    cases.extend([
        (
            "the pharmacy that filled it",
            sees(&w, (PHARMACY_P, "pharmacist-p"), "pt-1", &[]),
            Ok(ViewBasis::MonitoredFill),
        ),
        (
            "the prescribing clinic",
            sees(&w, (CLINIC, "doc-4"), "pt-1", &[]),
            Ok(ViewBasis::MonitoredFill),
        ),
        (
            "a pharmacy naming a prescription another filled",
            sees(&w, (PHARMACY_Q, "admin"), "pt-1", &[rx]),
            Err(ViewDenial::NotTreating),
        ),
        (
            "the filling pharmacy, after the prescription's validity",
            may_view(
                &w.state,
                &org_of(PHARMACY_P),
                &member("admin"),
                "pt-1",
                &[],
                TimestampMs(w.now_ms + 30 * DAY_MS),
            ),
            Err(ViewDenial::NotTreating),
        ),
    ]);

    w.run(&doc(3).0, Payload::RxCancel(rx::cancel::RxCancel { prescription: rx }))
        .unwrap();
    cases.push((
        "the filling pharmacy, once the prescription is cancelled",
        sees(&w, (PHARMACY_P, "admin"), "pt-1", &[]),
        Err(ViewDenial::NotTreating),
    ));

    // pt-2 enrols and consents to the clinic's reading their dispenses for treatment.
    let patient = Keypair::from_seed([250; 32]);
    w.run(
        &admin(HOSPITAL),
        Payload::RegisterMember(RegisterMember {
            org: org_of(HOSPITAL),
            member: member("pt-2"),
            kind: MemberKind::Patient,
            public_key: patient.public(),
        }),
    )
    .unwrap();
    cases.push((
        "the patient themself",
        sees(&w, (HOSPITAL, "pt-2"), "pt-2", &[]),
        Err(ViewDenial::NotStaff),
    ));
    let grant = |id: &str, grantee: Grantee, types: &[&str], purpose: Purpose| {
        Payload::ConsentGrant(ConsentGrant {
            consent_id: id.into(),
            patient: "pt-2".into(),
            grantee,
            scope: ConsentScope::Types(types.iter().map(|t| t.to_string()).collect()),
            purposes: vec![purpose],
            expires: None,
        })
    };
    w.run(
        &patient,
        grant(
            "c-obs",
            Grantee::Org(org_of(CLINIC)),
            &["Observation"],
            Purpose::Treatment,
        ),
    )
    .unwrap();
    w.run(
        &patient,
        grant(
            "c-research",
            Grantee::Org(org_of(CLINIC)),
            &["MedicationDispense"],
            Purpose::Research,
        ),
    )
    .unwrap();
    cases.push((
        "a consent for other types or purposes",
        sees(&w, (CLINIC, "doc-3"), "pt-2", &[]),
        Err(ViewDenial::NotTreating),
    ));
    w.run(
        &patient,
        grant(
            "c-rx",
            Grantee::Practitioner {
                org: org_of(CLINIC),
                member: member("doc-3"),
            },
            &["MedicationDispense"],
            Purpose::Treatment,
        ),
    )
    .unwrap();
    cases.extend([
        (
            "the practitioner the consent names",
            sees(&w, (CLINIC, "doc-3"), "pt-2", &[]),
            Ok(ViewBasis::Consent("c-rx".into())),
        ),
        (
            "a colleague the consent does not name",
            sees(&w, (CLINIC, "doc-4"), "pt-2", &[]),
            Err(ViewDenial::NotTreating),
        ),
    ]);

    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}
