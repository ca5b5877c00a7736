//! The rx domain (issue 14, ADR 014 §7–9): prescribing and dispensing rules, packs leaving
//! the supply chain at a fill, MME worked examples, every monitoring alert on either side
//! of its threshold, the thresholds' vote, and the threat model's rx rows.
//!
//! Tables: given the state earlier steps left, this transaction gives these events or
//! this error. Block time starts on UTC day 20,000; each transaction is one block.
//!
//! `rx/preview.rs`: a draft previewed raises what its fill then raises; `rx/view.rs`: who
//! may see a patient's monitoring view.

mod common;
#[path = "rx/preview.rs"]
mod preview;
#[path = "rx/view.rs"]
mod view;

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_gs1::ident::{EpcUri, Gtin, Lot};
use medledger_ledger::genesis::{GenesisGs1, GenesisMember, GenesisOrg};
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::rx::cancel::RxCancel;
use medledger_ledger::rx::dispense::RxDispense;
use medledger_ledger::rx::monitor::fill_milli_mme;
use medledger_ledger::rx::params::RxParamsVote;
use medledger_ledger::rx::prescribe::RxPrescribe;
use medledger_ledger::rx::table::{self, table};
use medledger_ledger::rx::{self, Alert, DAY_MS, Medication, MmeLevel, Order, RxCui, RxParams, Schedule, Strength};
use medledger_ledger::supply::capture::{Commitment, Step, SupplyCapture};
use medledger_ledger::supply::recall::SupplyRecall;
use medledger_ledger::supply::{self, Hold, ItemState};
use medledger_ledger::{BlockContext, Event, Payload, TxError};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};

const CHAIN: &str = "rx-chain";
const START_DAY: u64 = 20_000;

const HOSPITAL: usize = 0;
const CLINIC: usize = 1;
const PHARMACY_P: usize = 2;
const PHARMACY_Q: usize = 3;
const PHARMACY_R: usize = 4;
const PHARMACY_S: usize = 5;
const MAKER: usize = 6;
const LAB: usize = 7;
const REGULATOR: usize = 8;

/// `(organisation, role, practitioners)`, admin key seeds 1, 2, … in this order.
const ORGS: [(&str, OrgRole, &[&str]); 9] = [
    ("hospital-a", OrgRole::Hospital, &["doc-1", "doc-2"]),
    ("clinic-b", OrgRole::Clinic, &["doc-3", "doc-4"]),
    ("pharmacy-p", OrgRole::Pharmacy, &["pharmacist-p"]),
    ("pharmacy-q", OrgRole::Pharmacy, &[]),
    ("pharmacy-r", OrgRole::Pharmacy, &[]),
    ("pharmacy-s", OrgRole::Pharmacy, &[]),
    ("maker-m", OrgRole::Manufacturer, &[]),
    ("lab-l", OrgRole::Lab, &[]),
    ("regulator-g", OrgRole::Regulator, &["inspector-g"]),
];

// RxNorm ingredients (the drug table's) and products.
const OXYCODONE: u32 = 7804;
const MORPHINE: u32 = 7052;
const FENTANYL: u32 = 4337;
const HYDROCODONE: u32 = 5489;
const HYDROMORPHONE: u32 = 3423;
const METHADONE: u32 = 6813;
const TRAMADOL: u32 = 10689;
const CODEINE: u32 = 2670;
const TAPENTADOL: u32 = 787390;
const OXYMORPHONE: u32 = 7814;
const ALPRAZOLAM: u32 = 596;
const LORAZEPAM: u32 = 6470;
/// Not in the table: no class, no monitoring.
const AMOXICILLIN: u32 = 723;

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn org_of(i: usize) -> OrgId {
    org(ORGS[i].0)
}

fn member(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

/// The key of practitioner `n` of organisation `i` (seeds 10 × (i + 1) + n).
fn practitioner(i: usize, n: usize) -> Keypair {
    Keypair::from_seed([10 * (i as u8 + 1) + n as u8; 32])
}

fn doc(n: usize) -> (Keypair, MemberId) {
    let (i, k) = if n <= 2 { (HOSPITAL, n - 1) } else { (CLINIC, n - 3) };
    (practitioner(i, k), member(&format!("doc-{n}")))
}

/// hospital-a's node.
fn hospital_node() -> Keypair {
    Keypair::from_seed([200; 32])
}

fn genesis(quorum: Option<u32>) -> medledger_ledger::Genesis {
    let orgs = ORGS
        .iter()
        .enumerate()
        .map(|(i, (id, role, practitioners))| {
            let mut members: Vec<GenesisMember> = practitioners
                .iter()
                .enumerate()
                .map(|(n, m)| GenesisMember {
                    member: member(m),
                    kind: MemberKind::Practitioner,
                    public_key: practitioner(i, n).public(),
                })
                .collect();
            if i == HOSPITAL {
                members.push(GenesisMember {
                    member: member("node"),
                    kind: MemberKind::Service,
                    public_key: hospital_node().public(),
                });
            }
            GenesisOrg {
                members,
                gs1: (i == MAKER).then(|| GenesisGs1 {
                    company_prefixes: vec!["0614141".into()],
                    glns: Vec::new(),
                }),
                ..common::genesis::org_with_admin(id, *role, &admin(i))
            }
        })
        .collect();
    medledger_ledger::Genesis {
        suspend_quorum: quorum,
        ..common::genesis::genesis(CHAIN, orgs, "hospital-a")
    }
}

type Outcome = Result<Vec<Event>, TxError>;

struct World {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    height: u64,
    now_ms: u64,
    /// Distinct ids for prescriptions and fills.
    ids: u64,
}

impl World {
    fn with_quorum(quorum: Option<u32>) -> World {
        let mut w = World {
            state: common::genesis::state_of(&genesis(quorum)),
            height: 0,
            now_ms: START_DAY * DAY_MS + 9 * 3_600_000,
            ids: 0,
        };
        let patients = ["pt-1", "pt-2", "pt-3", "pt-4", "pt-5", "pt-6", "pt-7", "pt-8"];
        let anchors = patients
            .iter()
            .map(|p| Anchor {
                resource_type: "Patient".into(),
                record_id: (*p).into(),
                version: 1,
                patient: Some((*p).into()),
                ciphertext: Hash32::digest(&[p.as_bytes()]),
                author: member("admin"),
            })
            .collect();
        let anchor = Payload::RecordsAnchor(RecordsAnchor {
            custodian: org_of(HOSPITAL),
            anchors,
        });
        w.run(&admin(HOSPITAL), anchor).unwrap();
        w
    }

    fn new() -> World {
        World::with_quorum(Some(2))
    }

    fn today(&self) -> u32 {
        (self.now_ms / DAY_MS) as u32
    }

    fn advance_days(&mut self, days: u64) {
        self.now_ms += days * DAY_MS;
    }

    fn run(&mut self, signer: &Keypair, payload: Payload) -> Outcome {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new(CHAIN).unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(self.now_ms),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)
            .unwrap_or_else(|r| panic!("rejected at the envelope: {r}"));
        applied.error.map_or(Ok(applied.events), Err)
    }

    fn fresh_id(&mut self) -> Hash32 {
        self.ids += 1;
        Hash32::digest(&[b"rx test id", &self.ids.to_le_bytes()])
    }

    /// Writes `rx` (signed by its prescriber) and returns its id; panics if refused.
    fn prescribe(&mut self, n: usize, rx: Rx) -> Hash32 {
        let (key, _) = doc(n);
        let p = self.prescription(n, rx);
        let id = match &p {
            Payload::RxPrescribe(p) => p.id,
            _ => unreachable!(),
        };
        self.run(&key, p).unwrap_or_else(|e| panic!("prescribing refused: {e}"));
        id
    }

    fn prescription(&mut self, n: usize, rx: Rx) -> Payload {
        let id = self.fresh_id();
        let valid_until = TimestampMs(self.now_ms + rx.valid_days * DAY_MS);
        Payload::RxPrescribe(RxPrescribe {
            id,
            order: Order {
                patient: rx.patient.into(),
                prescriber: doc(n).1,
                medication: rx.medication,
                quantity: rx.quantity,
                days_supply: rx.days_supply,
                repeats: rx.repeats,
                schedule: rx.schedule,
                valid_until,
            },
        })
    }

    fn dispense(&mut self, prescription: Hash32, quantity: u32, days_supply: u32, packs: &[&str]) -> Payload {
        Payload::RxDispense(RxDispense {
            id: self.fresh_id(),
            prescription,
            quantity,
            days_supply,
            packs: packs.iter().map(|p| EpcUri::parse(p).unwrap()).collect(),
        })
    }

    /// Dispenses by the pharmacy's admin and returns the alerts raised; panics if refused.
    fn fill(&mut self, pharmacy: usize, prescription: Hash32, quantity: u32, days_supply: u32) -> Vec<Alert> {
        let d = self.dispense(prescription, quantity, days_supply, &[]);
        let events = self
            .run(&admin(pharmacy), d)
            .unwrap_or_else(|e| panic!("dispensing refused: {e}"));
        alerts_of(&events)
    }
}

fn alerts_of(events: &[Event]) -> Vec<Alert> {
    events
        .iter()
        .find_map(|e| match e {
            Event::RxAlerts {
                table_version, alerts, ..
            } => {
                assert_eq!(table_version, "CDC 2022", "every alert names its table");
                Some(alerts.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// A prescription's contents; the defaults are 30 days of one oxycodone 5 mg tablet a
/// day, Schedule II, no repeats, valid 30 days, for `pt-1`.
#[derive(Clone)]
struct Rx {
    patient: &'static str,
    medication: Medication,
    quantity: u32,
    days_supply: u32,
    repeats: u32,
    schedule: Schedule,
    valid_days: u64,
}

fn mg(ingredient: u32, mg_milli: u64) -> Medication {
    Medication {
        product: RxCui(1_000_000 + ingredient),
        ingredient: RxCui(ingredient),
        strength: Strength::Mg { milli: mg_milli },
    }
}

fn patch(mcg_per_hour: u64, hours: u16) -> Medication {
    Medication {
        product: RxCui(245_134),
        ingredient: RxCui(FENTANYL),
        strength: Strength::McgPerHour {
            milli: mcg_per_hour * 1000,
            hours,
        },
    }
}

fn oxycodone() -> Rx {
    Rx {
        patient: "pt-1",
        medication: mg(OXYCODONE, 5_000),
        quantity: 30,
        days_supply: 30,
        repeats: 0,
        schedule: Schedule::II,
        valid_days: 30,
    }
}

fn benzo(patient: &'static str, ingredient: u32) -> Rx {
    Rx {
        patient,
        medication: mg(ingredient, 1_000),
        quantity: 30,
        days_supply: 30,
        repeats: 0,
        schedule: Schedule::IV,
        valid_days: 60,
    }
}

/// `milli`/1000 mg of morphine a day for 30 days, as `milli`×30/1000 tablets of 1 mg.
fn morphine(patient: &'static str, mme_per_day: u32) -> Rx {
    Rx {
        patient,
        medication: mg(MORPHINE, 1_000),
        quantity: mme_per_day * 30,
        days_supply: 30,
        ..oxycodone()
    }
}

// ---------------------------------------------------------------------------------------
// Prescribing

#[test]
fn prescribing_rules_each_refuse_with_their_own_error() {
    let mut w = World::new();
    let (doc1, _) = doc(1);
    let mut cases: Vec<(&str, Keypair, Payload, Result<(), TxError>)> = Vec::new();

    let p = w.prescription(1, oxycodone());
    cases.push(("the practitioner prescribes", doc1.clone(), p.clone(), Ok(())));
    cases.push(("the same id again", doc1.clone(), p, Err(TxError::PrescriptionExists)));
    let p = w.prescription(1, oxycodone());
    cases.push(("the hospital's node for its practitioner", hospital_node(), p, Ok(())));
    let p = w.prescription(1, oxycodone());
    cases.push((
        "another organisation's admin naming the hospital's practitioner",
        admin(CLINIC),
        p,
        Err(TxError::NotAPractitioner {
            org: org_of(CLINIC),
            member: member("doc-1"),
        }),
    ));
    let p = w.prescription(2, oxycodone());
    cases.push((
        "a practitioner signing for a colleague",
        doc1.clone(),
        p,
        Err(TxError::NotAuthorized),
    ));
    let mut p = w.prescription(1, oxycodone());
    if let Payload::RxPrescribe(rx) = &mut p {
        rx.order.prescriber = member("pharmacist-p");
    }
    cases.push((
        "a pharmacy does not prescribe",
        admin(PHARMACY_P),
        p,
        Err(TxError::NotAuthorized),
    ));
    let p = w.prescription(
        1,
        Rx {
            patient: "pt-unknown",
            ..oxycodone()
        },
    );
    cases.push((
        "a patient without a Patient record",
        doc1.clone(),
        p,
        Err(TxError::UnknownPatient),
    ));
    let p = w.prescription(
        1,
        Rx {
            schedule: Schedule::IV,
            ..oxycodone()
        },
    );
    cases.push((
        "oxycodone declared Schedule IV",
        doc1.clone(),
        p,
        Err(TxError::ScheduleMismatch {
            least_strict: Schedule::II,
        }),
    ));
    let p = w.prescription(
        1,
        Rx {
            repeats: 1,
            ..oxycodone()
        },
    );
    cases.push((
        "Schedule II with a repeat",
        doc1.clone(),
        p,
        Err(TxError::ScheduleIIRepeats),
    ));
    let p = w.prescription(
        1,
        Rx {
            repeats: 5,
            ..benzo("pt-1", ALPRAZOLAM)
        },
    );
    cases.push(("Schedule IV with five repeats", doc1.clone(), p, Ok(())));
    let p = w.prescription(
        1,
        Rx {
            repeats: 6,
            ..benzo("pt-1", ALPRAZOLAM)
        },
    );
    cases.push((
        "Schedule IV with six repeats",
        doc1.clone(),
        p,
        Err(TxError::TooManyRepeats { max: 5 }),
    ));
    let p = w.prescription(
        1,
        Rx {
            valid_days: 184,
            ..benzo("pt-1", ALPRAZOLAM)
        },
    );
    cases.push(("Schedule IV valid 184 days", doc1.clone(), p, Ok(())));
    let p = w.prescription(
        1,
        Rx {
            valid_days: 185,
            ..benzo("pt-1", ALPRAZOLAM)
        },
    );
    cases.push((
        "Schedule IV valid 185 days",
        doc1.clone(),
        p,
        Err(TxError::BadValidity { max_days: 184 }),
    ));
    let p = w.prescription(
        1,
        Rx {
            valid_days: 0,
            medication: mg(AMOXICILLIN, 500_000),
            schedule: Schedule::None,
            ..oxycodone()
        },
    );
    cases.push((
        "validity ending in this block",
        doc1.clone(),
        p,
        Err(TxError::BadValidity { max_days: 366 }),
    ));
    let p = w.prescription(
        1,
        Rx {
            medication: mg(FENTANYL, 100_000),
            ..oxycodone()
        },
    );
    cases.push((
        "fentanyl in mg: no CDC 2022 factor",
        doc1.clone(),
        p,
        Err(TxError::NoMmeFactor {
            table: "CDC 2022".into(),
        }),
    ));
    let p = w.prescription(
        1,
        Rx {
            medication: mg(AMOXICILLIN, 500_000),
            schedule: Schedule::None,
            repeats: 3,
            valid_days: 366,
            ..oxycodone()
        },
    );
    cases.push(("a drug outside the table, unscheduled", doc1.clone(), p, Ok(())));

    for (name, signer, payload, expected) in cases {
        let got = w.run(&signer, payload).map(|events| {
            assert!(
                matches!(events.as_slice(), [Event::PrescriptionWritten { .. }]),
                "{name}"
            );
        });
        assert_eq!(got, expected, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Dispensing

#[test]
fn dispensing_rules_each_refuse_with_their_own_error() {
    let mut w = World::new();
    let schedule_ii = w.prescribe(1, oxycodone());
    let repeats = w.prescribe(
        3,
        Rx {
            repeats: 1,
            ..benzo("pt-2", ALPRAZOLAM)
        },
    );
    let cancelled = w.prescribe(1, oxycodone());
    let short = w.prescribe(
        1,
        Rx {
            valid_days: 2,
            ..oxycodone()
        },
    );
    let first = w.dispense(schedule_ii, 30, 30, &[]);
    let steps: Vec<(&str, Keypair, Payload, Result<u32, TxError>)> = vec![
        (
            "a laboratory does not dispense",
            admin(LAB),
            w.dispense(schedule_ii, 30, 30, &[]),
            Err(TxError::NotAuthorized),
        ),
        (
            "an unknown prescription",
            admin(PHARMACY_P),
            w.dispense(Hash32([7; 32]), 30, 30, &[]),
            Err(TxError::UnknownPrescription),
        ),
        (
            "more than one fill's quantity",
            admin(PHARMACY_P),
            w.dispense(schedule_ii, 31, 30, &[]),
            Err(TxError::QuantityExceeded { remaining: 30 }),
        ),
        ("pharmacy P fills it", admin(PHARMACY_P), first.clone(), Ok(1)),
        (
            "the same fill again",
            admin(PHARMACY_P),
            first,
            Err(TxError::FillExists),
        ),
        (
            "pharmacy Q fills what P filled",
            admin(PHARMACY_Q),
            w.dispense(schedule_ii, 1, 1, &[]),
            Err(TxError::FilledElsewhere),
        ),
        (
            "P fills the Schedule II again",
            admin(PHARMACY_P),
            w.dispense(schedule_ii, 1, 1, &[]),
            Err(TxError::ScheduleIIRefill),
        ),
        (
            "P's pharmacist fills the first of two",
            practitioner(PHARMACY_P, 0),
            w.dispense(repeats, 30, 30, &[]),
            Ok(1),
        ),
        (
            "the repeat, over one fill's quantity",
            admin(PHARMACY_P),
            w.dispense(repeats, 31, 30, &[]),
            Err(TxError::QuantityExceeded { remaining: 30 }),
        ),
        (
            "the repeat, part of a fill",
            admin(PHARMACY_P),
            w.dispense(repeats, 20, 20, &[]),
            Ok(2),
        ),
        (
            "a third fill",
            admin(PHARMACY_P),
            w.dispense(repeats, 10, 10, &[]),
            Err(TxError::NoRepeatsLeft),
        ),
        (
            "another organisation cancels",
            admin(CLINIC),
            Payload::RxCancel(RxCancel {
                prescription: cancelled,
            }),
            Err(TxError::NotAuthorized),
        ),
        (
            "the prescriber's organisation cancels",
            admin(HOSPITAL),
            Payload::RxCancel(RxCancel {
                prescription: cancelled,
            }),
            Ok(0),
        ),
        (
            "cancelled twice",
            doc(1).0,
            Payload::RxCancel(RxCancel {
                prescription: cancelled,
            }),
            Err(TxError::PrescriptionCancelled),
        ),
        (
            "a cancelled prescription",
            admin(PHARMACY_P),
            w.dispense(cancelled, 30, 30, &[]),
            Err(TxError::PrescriptionCancelled),
        ),
    ];
    for (name, signer, payload, expected) in steps {
        let got = w.run(&signer, payload).map(|events| match events.first() {
            Some(Event::PrescriptionFilled { number, .. }) => *number,
            Some(Event::PrescriptionCancelled { .. }) => 0,
            other => panic!("{name}: unexpected {other:?}"),
        });
        assert_eq!(got, expected, "{name}");
        if let Err(e) = &got {
            assert!(
                !e.to_string().contains("pt-"),
                "{name}: the error names no patient: {e}"
            );
        }
    }
    let rec = rx::prescription(&w.state, &repeats).unwrap();
    assert_eq!(
        (rec.fills, rec.dispensed, rec.pharmacy),
        (2, 50, Some(org_of(PHARMACY_P)))
    );

    // Validity: the day before it ends, and the day it ends.
    w.advance_days(1);
    let d = w.dispense(short, 10, 10, &[]);
    assert!(w.run(&admin(PHARMACY_P), d).is_ok(), "valid for one more day");
    w.advance_days(1);
    let d = w.dispense(short, 10, 10, &[]);
    assert_eq!(w.run(&admin(PHARMACY_P), d), Err(TxError::PrescriptionExpired));
}

#[test]
fn an_organisation_cancels_the_prescriptions_of_a_practitioner_who_left() {
    let mut w = World::new();
    let by_doc2 = w.prescribe(2, oxycodone());
    let revoke = Payload::RevokeMember(RevokeMember {
        org: org_of(HOSPITAL),
        member: member("doc-2"),
    });
    w.run(&admin(HOSPITAL), revoke).unwrap();
    // Until cancelled, a prescription outlives its prescriber's membership.
    let d = w.dispense(by_doc2, 10, 10, &[]);
    assert!(w.run(&admin(PHARMACY_P), d).is_ok());
    let cancel = |prescription| Payload::RxCancel(RxCancel { prescription });
    // A colleague is not the prescriber; the organisation's node acts for it.
    assert_eq!(w.run(&doc(1).0, cancel(by_doc2)), Err(TxError::NotAuthorized));
    assert!(w.run(&hospital_node(), cancel(by_doc2)).is_ok());
    let d = w.dispense(by_doc2, 10, 10, &[]);
    assert_eq!(w.run(&admin(PHARMACY_P), d), Err(TxError::PrescriptionCancelled));
}

// ---------------------------------------------------------------------------------------
// Packs leave the supply chain at a fill

fn pack(serial: &str) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

fn capture(step: Step, epcs: &[&str], n: u8, destination: Option<OrgId>) -> Payload {
    Payload::SupplyCapture(SupplyCapture {
        commitments: vec![Commitment {
            hash_id: Hash32::digest(&[b"rx test event", &[n]]),
            lot: (step == Step::Commission).then(|| Lot::parse("LOT1").unwrap()),
            expiry: (step == Step::Commission).then(|| "291231".into()),
            step,
            epcs: epcs.iter().map(|e| EpcUri::parse(e).unwrap()).collect(),
            parent: None,
            destination,
            corrects: Vec::new(),
        }],
    })
}

#[test]
fn a_dispensed_serial_leaves_the_supply_chain_and_held_packs_only() {
    let mut w = World::new();
    let [p1, p2, p3, p4, p5] = ["1", "2", "3", "4", "5"].map(pack);
    let all: Vec<&str> = [&p1, &p2, &p3, &p4].iter().map(|s| s.as_str()).collect();
    w.run(
        &admin(MAKER),
        capture(Step::Commission, &[&p1, &p2, &p3, &p4, &p5], 1, None),
    )
    .unwrap();
    w.run(&admin(MAKER), capture(Step::Ship, &all, 2, Some(org_of(PHARMACY_P))))
        .unwrap();
    w.run(&admin(PHARMACY_P), capture(Step::Receive, &all, 3, None))
        .unwrap();
    w.run(
        &admin(MAKER),
        Payload::SupplyRecall(SupplyRecall::Suspect {
            epcs: vec![EpcUri::parse(&p3).unwrap()],
            suspect: true,
        }),
    )
    .unwrap();

    let rx = w.prescribe(1, oxycodone());
    let cases = [
        (
            p5.as_str(),
            TxError::NotHeld {
                index: 0,
                epc: p5.clone(),
            },
        ),
        (
            p3.as_str(),
            TxError::ItemOnHold {
                index: 0,
                epc: p3.clone(),
                hold: Hold::Suspect,
            },
        ),
        (
            "urn:epc:id:sgtin:0614141.812345.999",
            TxError::UnknownEpc {
                index: 0,
                epc: "urn:epc:id:sgtin:0614141.812345.999".into(),
            },
        ),
    ];
    for (epc, expected) in cases {
        let d = w.dispense(rx, 30, 30, &[epc]);
        assert_eq!(w.run(&admin(PHARMACY_P), d), Err(expected));
    }
    // All or nothing: the refused fills changed neither the prescription nor any pack.
    assert_eq!(rx::prescription(&w.state, &rx).unwrap().fills, 0);
    assert_eq!(supply::item(&w.state, &p1).unwrap().state, ItemState::Active);

    let d = w.dispense(rx, 30, 30, &[&p1]);
    let fill_id = match &d {
        Payload::RxDispense(d) => d.id,
        _ => unreachable!(),
    };
    let events = w.run(&admin(PHARMACY_P), d).unwrap();
    assert!(matches!(events[0], Event::PrescriptionFilled { packs: 1, .. }));
    let item = supply::item(&w.state, &p1).unwrap();
    assert_eq!(item.state, ItemState::Dispensed);
    assert_eq!(item.last_event, fill_id, "the pack names the fill");
    assert_eq!(rx::fill(&w.state, &fill_id).unwrap().packs, vec![p1.clone()]);

    // The dispensed pack cannot be dispensed again, for another prescription or pharmacy.
    let other = w.prescribe(3, oxycodone());
    let d = w.dispense(other, 30, 30, &[&p1]);
    assert_eq!(
        w.run(&admin(PHARMACY_P), d),
        Err(TxError::ItemFinal {
            index: 0,
            epc: p1.clone()
        })
    );

    // A recalled lot is not dispensed; the packs after the first are named by position.
    w.run(
        &admin(MAKER),
        Payload::SupplyRecall(SupplyRecall::Lot {
            gtin: Gtin::parse("80614141123458").unwrap(),
            lot: Lot::parse("LOT1").unwrap(),
        }),
    )
    .unwrap();
    let d = w.dispense(other, 30, 30, &[&p2]);
    assert_eq!(
        w.run(&admin(PHARMACY_P), d),
        Err(TxError::ItemOnHold {
            index: 0,
            epc: p2.clone(),
            hold: Hold::Recalled,
        })
    );
}

// ---------------------------------------------------------------------------------------
// MME

#[test]
fn mme_worked_examples() {
    let t = table().unwrap();
    let mme = |ingredient: u32, strength: Strength, quantity: u32, days: u32| {
        fill_milli_mme(t.get(RxCui(ingredient)), strength, quantity, days).unwrap()
    };
    let mg = |m: u64| Strength::Mg { milli: m * 1000 };
    let fentanyl_75 = Strength::McgPerHour {
        milli: 75_000,
        hours: 72,
    };
    // CDC 2022: transdermal fentanyl 2.4 per mcg/hr — one 72-hour 75 mcg/h patch is
    // 180 MME/day, and so are ten of them over 30 days (one worn at a time).
    assert_eq!(mme(FENTANYL, fentanyl_75, 1, 3), 180_000);
    assert_eq!(mme(FENTANYL, fentanyl_75, 10, 30), 180_000);
    // CDC's own examples: hydrocodone 5 mg four times a day is 20 MME/day; oxycodone
    // 10 mg twice a day is 30 MME/day.
    assert_eq!(mme(HYDROCODONE, mg(5), 120, 30), 20_000);
    assert_eq!(mme(OXYCODONE, mg(10), 60, 30), 30_000);
    assert_eq!(mme(METHADONE, mg(10), 90, 30), 141_000);
    assert_eq!(mme(TRAMADOL, mg(50), 120, 30), 40_000);
    assert_eq!(mme(CODEINE, mg(30), 120, 30), 18_000);
    assert_eq!(mme(TAPENTADOL, mg(50), 60, 30), 40_000);
    assert_eq!(mme(OXYMORPHONE, mg(5), 60, 30), 30_000);
    assert_eq!(mme(MORPHINE, mg(15), 60, 30), 30_000);
    // 2 mg × 7 ÷ 3 days × 5 = 23.333… MME/day: rounded down to the thousandth, once.
    assert_eq!(mme(HYDROMORPHONE, mg(2), 7, 3), 23_333);
    // Half-milligram strengths stay exact: 7.5 mg × 4 a day × 1.5 = 45.
    assert_eq!(mme(OXYCODONE, Strength::Mg { milli: 7_500 }, 120, 30), 45_000);
    // Benzodiazepines and drugs outside the table count 0; a wrong unit has no factor.
    assert_eq!(mme(ALPRAZOLAM, mg(1), 30, 30), 0);
    assert_eq!(mme(AMOXICILLIN, mg(500), 30, 10), 0);
    assert_eq!(fill_milli_mme(t.get(RxCui(FENTANYL)), mg(1), 1, 1), None);
    assert_eq!(fill_milli_mme(t.get(RxCui(OXYCODONE)), fentanyl_75, 1, 1), None);

    // On the ledger: the fentanyl fill records 180 MME/day and raises the high alert.
    let mut w = World::new();
    let rx = w.prescribe(
        1,
        Rx {
            medication: patch(75, 72),
            quantity: 10,
            days_supply: 30,
            ..oxycodone()
        },
    );
    let d = w.dispense(rx, 10, 30, &[]);
    let id = match &d {
        Payload::RxDispense(d) => d.id,
        _ => unreachable!(),
    };
    let alerts = alerts_of(&w.run(&admin(PHARMACY_P), d).unwrap());
    assert_eq!(
        alerts,
        vec![Alert::Mme {
            level: MmeLevel::High,
            milli_per_day: 180_000,
            threshold: 90,
        }]
    );
    let fill = rx::fill(&w.state, &id).unwrap();
    assert_eq!((fill.milli_mme, fill.table_version.as_str()), (180_000, "CDC 2022"));
    assert_eq!(fill.alerts, alerts);
}

// ---------------------------------------------------------------------------------------
// Each alert on either side of its threshold

fn mme_alert(alerts: &[Alert]) -> Option<(MmeLevel, u64)> {
    alerts.iter().find_map(|a| match a {
        Alert::Mme {
            level, milli_per_day, ..
        } => Some((*level, *milli_per_day)),
        _ => None,
    })
}

#[test]
fn the_mme_alerts_start_at_50_and_90_mme_a_day() {
    let mut w = World::new();
    let fill_morphine = |w: &mut World, patient: &'static str, rx: Rx| {
        let quantity = rx.quantity;
        let id = w.prescribe(1, Rx { patient, ..rx });
        w.fill(PHARMACY_P, id, quantity, 30)
    };
    // 49.966… (1499 tablets of 1 mg over 30 days) and 50.
    let below = fill_morphine(
        &mut w,
        "pt-1",
        Rx {
            quantity: 1499,
            ..morphine("pt-1", 0)
        },
    );
    assert_eq!(mme_alert(&below), None);
    let at = fill_morphine(&mut w, "pt-2", morphine("pt-2", 50));
    assert_eq!(mme_alert(&at), Some((MmeLevel::Caution, 50_000)));
    let below_high = fill_morphine(
        &mut w,
        "pt-3",
        Rx {
            quantity: 2699,
            ..morphine("pt-3", 0)
        },
    );
    assert_eq!(mme_alert(&below_high), Some((MmeLevel::Caution, 89_966)));
    let high = fill_morphine(&mut w, "pt-4", morphine("pt-4", 90));
    assert_eq!(mme_alert(&high), Some((MmeLevel::High, 90_000)));

    // The total adds up every organisation's fills covering the day: 30 from the
    // hospital's prescriber at P, then 20 from the clinic's at Q.
    let a = w.prescribe(1, morphine("pt-5", 30));
    assert_eq!(mme_alert(&w.fill(PHARMACY_P, a, 900, 30)), None);
    let b = w.prescribe(3, morphine("pt-5", 20));
    assert_eq!(
        mme_alert(&w.fill(PHARMACY_Q, b, 600, 30)),
        Some((MmeLevel::Caution, 50_000))
    );
    // A fill that has run out no longer counts: 30 days later the same 20 is alone.
    w.advance_days(30);
    let c = w.prescribe(3, morphine("pt-5", 20));
    assert_eq!(mme_alert(&w.fill(PHARMACY_Q, c, 600, 30)), None);
}

/// Fills `first` on day 0, then `second` after `after` days; the alerts of the second.
fn second_fill_alerts(first: Rx, second: Rx, after: u64) -> Vec<Alert> {
    let mut w = World::new();
    let a = w.prescribe(1, first.clone());
    w.fill(PHARMACY_P, a, first.quantity, first.days_supply);
    w.advance_days(after);
    let b = w.prescribe(1, second.clone());
    w.fill(PHARMACY_P, b, second.quantity, second.days_supply)
}

#[test]
fn an_opioid_and_a_benzodiazepine_overlapping_are_flagged() {
    let opioid = morphine("pt-1", 10);
    let benzo = benzo("pt-1", LORAZEPAM);
    // The opioid covers days 0–29: a benzodiazepine on day 29 overlaps one day, on day
    // 30 none.
    let overlapping = second_fill_alerts(opioid.clone(), benzo.clone(), 29);
    assert!(
        matches!(overlapping.as_slice(), [Alert::OpioidBenzodiazepine { days: 1, .. }]),
        "{overlapping:?}"
    );
    assert_eq!(second_fill_alerts(opioid.clone(), benzo.clone(), 30), vec![]);
    // Either order.
    let reverse = second_fill_alerts(benzo, opioid, 10);
    assert!(
        matches!(reverse.as_slice(), [Alert::OpioidBenzodiazepine { days: 20, .. }]),
        "{reverse:?}"
    );
}

#[test]
fn overlapping_fills_of_the_same_drug_are_flagged() {
    let first = oxycodone();
    let second = oxycodone();
    let overlapping = second_fill_alerts(first.clone(), second.clone(), 29);
    assert!(
        matches!(overlapping.as_slice(), [Alert::SameDrug { days: 1, .. }]),
        "{overlapping:?}"
    );
    assert_eq!(second_fill_alerts(first, second, 30), vec![]);
    // Another drug of the same class is not the same drug.
    let other = second_fill_alerts(benzo("pt-1", ALPRAZOLAM), benzo("pt-1", LORAZEPAM), 5);
    assert_eq!(other, vec![]);
}

#[test]
fn a_repeat_before_75_percent_of_the_supply_is_early() {
    let repeatable = Rx {
        repeats: 1,
        ..benzo("pt-1", ALPRAZOLAM)
    };
    let repeat_after = |days: u64| {
        let mut w = World::new();
        let id = w.prescribe(1, repeatable.clone());
        w.fill(PHARMACY_P, id, 30, 30);
        w.advance_days(days);
        w.fill(PHARMACY_P, id, 30, 30)
    };
    // 22 of 30 days is 73 %; 23 is 77 %.
    assert_eq!(
        repeat_after(22),
        vec![Alert::EarlyRefill {
            elapsed: 22,
            supply: 30
        }]
    );
    assert_eq!(repeat_after(23), vec![]);
    // A drug outside the table is checked too.
    let mut w = World::new();
    let id = w.prescribe(
        1,
        Rx {
            medication: mg(AMOXICILLIN, 500_000),
            schedule: Schedule::None,
            repeats: 1,
            days_supply: 10,
            quantity: 30,
            ..oxycodone()
        },
    );
    assert_eq!(w.fill(PHARMACY_P, id, 30, 10), vec![]);
    w.advance_days(7);
    assert_eq!(
        w.fill(PHARMACY_P, id, 30, 10),
        vec![Alert::EarlyRefill { elapsed: 7, supply: 10 }]
    );
}

/// One lorazepam fill per (prescriber, pharmacy), `gap` days apart; the alerts of each.
fn episode(providers: &[(usize, usize)], gap: u64) -> Vec<Vec<Alert>> {
    let mut w = World::new();
    providers
        .iter()
        .enumerate()
        .map(|(i, (prescriber, pharmacy))| {
            if i > 0 {
                w.advance_days(gap);
            }
            let id = w.prescribe(
                *prescriber,
                Rx {
                    days_supply: 1,
                    quantity: 1,
                    ..benzo("pt-6", LORAZEPAM)
                },
            );
            w.fill(*pharmacy, id, 1, 1)
                .into_iter()
                .filter(|a| matches!(a, Alert::MultipleProviders { .. }))
                .collect()
        })
        .collect()
}

#[test]
fn doctor_shopping_raises_a_multiple_provider_alert() {
    let four = [(1, PHARMACY_P), (2, PHARMACY_Q), (3, PHARMACY_R), (4, PHARMACY_S)];
    let alerts = episode(&four, 29);
    assert_eq!(alerts[..3], [vec![], vec![], vec![]]);
    assert_eq!(
        alerts[3],
        vec![Alert::MultipleProviders {
            prescribers: 4,
            pharmacies: 4,
            days: 90,
        }]
    );
    // The first fill 90 days before the fourth is outside the window.
    assert!(episode(&four, 30).iter().all(Vec::is_empty));
    // Four prescribers but three pharmacies.
    let three_pharmacies = [(1, PHARMACY_P), (2, PHARMACY_Q), (3, PHARMACY_R), (4, PHARMACY_R)];
    assert!(episode(&three_pharmacies, 1).iter().all(Vec::is_empty));
    // Four pharmacies but three prescribers.
    let three_prescribers = [(1, PHARMACY_P), (2, PHARMACY_Q), (3, PHARMACY_R), (3, PHARMACY_S)];
    assert!(episode(&three_prescribers, 1).iter().all(Vec::is_empty));
}

// ---------------------------------------------------------------------------------------
// Thresholds by vote

#[test]
fn the_consortium_sets_the_thresholds_by_vote() {
    let lower = RxParams {
        mme_caution: 40,
        ..RxParams::default()
    };
    let vote = |p: RxParams| Payload::RxParams(RxParamsVote { params: p });
    let mut w = World::new();
    let (doc1, _) = doc(1);
    assert_eq!(w.run(&doc1, vote(lower)), Err(TxError::NotAuthorized));
    assert_eq!(
        w.run(&admin(HOSPITAL), vote(RxParams { mme_high: 30, ..lower })),
        Err(TxError::BadRxParams)
    );
    assert_eq!(
        w.run(&admin(HOSPITAL), vote(RxParams::default())),
        Err(TxError::RxParamsUnchanged)
    );
    let events = w.run(&admin(HOSPITAL), vote(lower)).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::RxParamsVoted {
            votes: 1,
            quorum: 2,
            ..
        }]
    ));
    assert_eq!(w.run(&admin(HOSPITAL), vote(lower)), Err(TxError::AlreadyVoted));
    assert_eq!(rx::params(&w.state), RxParams::default(), "one vote is not a quorum");

    // 45 MME/day: no alert under the defaults …
    let before = w.prescribe(1, morphine("pt-7", 45));
    assert_eq!(mme_alert(&w.fill(PHARMACY_P, before, 1350, 30)), None);
    let events = w.run(&admin(PHARMACY_P), vote(lower)).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::RxParamsVoted { votes: 2, .. }, Event::RxParamsChanged { .. }]
    ));
    assert_eq!(rx::params(&w.state), lower);
    assert_eq!(
        rx::params_ballot(&w.state, &RxParamsVote { params: lower }.proposal()),
        None
    );
    // … a caution at 40 once voted.
    let after = w.prescribe(1, morphine("pt-8", 45));
    assert_eq!(
        mme_alert(&w.fill(PHARMACY_P, after, 1350, 30)),
        Some((MmeLevel::Caution, 45_000))
    );

    let mut ungoverned = World::with_quorum(None);
    assert_eq!(
        ungoverned.run(&admin(HOSPITAL), vote(lower)),
        Err(TxError::NoGovernance)
    );
}

// ---------------------------------------------------------------------------------------
// Threat model rows

/// The table every validator computes with is the one reviewed: a change to the data file
/// is a deliberate, visible change of the ledger's rules (like a golden vector).
#[test]
fn the_drug_table_is_pinned() {
    assert_eq!(
        Hash32::digest(&[table::SOURCE.as_bytes()]).to_hex(),
        "00b1240318c0123e61499c2221a0c05615a45583b2bc6c9fb4d0e7b0c5e992d1",
        "crates/ledger/data/cdc-mme-2022.csv changed: that changes what every validator computes; \
         give it a new version string and update this pin deliberately"
    );
    let t = table().unwrap();
    let factor = |i: u32| t.get(RxCui(i)).and_then(|d| d.factor).map(|(_, f)| f);
    assert_eq!(factor(FENTANYL), Some(2_400));
    assert_eq!(factor(METHADONE), Some(4_700));
    assert_eq!(factor(OXYCODONE), Some(1_500));
    assert_eq!(factor(ALPRAZOLAM), None);
}

#[test]
fn rx_records_events_and_errors_carry_no_patient_data_but_the_pseudonym_key() {
    let mut w = World::new();
    let a = w.prescribe(1, morphine("pt-1", 60));
    let b = w.prescribe(3, benzo("pt-1", LORAZEPAM));
    let d = w.dispense(a, 1800, 30, &[]);
    let mut events = w.run(&admin(PHARMACY_P), d).unwrap();
    let d = w.dispense(b, 30, 30, &[]);
    events.extend(w.run(&admin(PHARMACY_Q), d).unwrap());
    let d = w.dispense(a, 1, 1, &[]);
    let refused = w.run(&admin(PHARMACY_Q), d).unwrap_err();
    assert_eq!(refused, TxError::FilledElsewhere);
    assert!(!refused.to_string().contains("pt-1"));
    let json = serde_json::to_string(&events).unwrap();
    assert!(json.contains("rx_alerts") && !json.contains("pt-1"), "{json}");
    // The window is keyed by the pseudonym and holds codes, days and members only.
    let window = rx::window(&w.state, "pt-1");
    assert_eq!(window.fills.len(), 2);
    let json = serde_json::to_string(&window).unwrap();
    assert!(!json.contains("pt-1"), "{json}");
    assert_eq!(window.fills[0].start, w.today());
}

// ---------------------------------------------------------------------------------------
// Hostile bodies

#[test]
fn hostile_rx_bodies_are_refused_when_decoded() {
    let mut w = World::new();
    let good = match w.prescription(1, oxycodone()) {
        Payload::RxPrescribe(p) => p,
        _ => unreachable!(),
    };
    let with = |f: &dyn Fn(&mut Order)| {
        let mut p = good.clone();
        f(&mut p.order);
        Payload::RxPrescribe(p).body()
    };
    let prescribe_kind = medledger_ledger::rx::prescribe::KIND;
    let bad_orders: [(&str, Vec<u8>); 7] = [
        ("no units", with(&|o| o.quantity = 0)),
        ("no days", with(&|o| o.days_supply = 0)),
        ("a year and a day", with(&|o| o.days_supply = 367)),
        ("100 repeats", with(&|o| o.repeats = 100)),
        (
            "a zero strength",
            with(&|o| o.medication.strength = Strength::Mg { milli: 0 }),
        ),
        (
            "a patch worn no hours",
            with(&|o| {
                o.medication.strength = Strength::McgPerHour {
                    milli: 25_000,
                    hours: 0,
                }
            }),
        ),
        ("RxNorm code 0", with(&|o| o.medication.ingredient = RxCui(0))),
    ];
    for (name, body) in bad_orders {
        assert!(Payload::decode(prescribe_kind, &body).is_err(), "{name}");
    }
    let pack = |s: &str| EpcUri::parse(s).unwrap();
    let dispense = |packs: Vec<EpcUri>| {
        Payload::RxDispense(RxDispense {
            id: Hash32([1; 32]),
            prescription: Hash32([2; 32]),
            quantity: 1,
            days_supply: 1,
            packs,
        })
        .body()
    };
    let dispense_kind = medledger_ledger::rx::dispense::KIND;
    let one = pack("urn:epc:id:sgtin:0614141.812345.1");
    assert!(Payload::decode(dispense_kind, &dispense(vec![one.clone()])).is_ok());
    assert!(Payload::decode(dispense_kind, &dispense(vec![one.clone(), one.clone()])).is_err());
    assert!(
        Payload::decode(
            dispense_kind,
            &dispense(vec![pack("urn:epc:id:sscc:0614141.1234567890")])
        )
        .is_err()
    );
    assert!(Payload::decode(dispense_kind, &dispense(vec![one; 17])).is_err());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_rx_decoders(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        for kind in [
            medledger_ledger::rx::prescribe::KIND,
            medledger_ledger::rx::dispense::KIND,
            medledger_ledger::rx::cancel::KIND,
            medledger_ledger::rx::params::KIND,
        ] {
            if let Ok(p) = Payload::decode(kind, &bytes) {
                proptest::prop_assert_eq!(p.body(), bytes.clone(), "accepted a non-canonical body");
            }
        }
    }
}
