//! The supply domain (ADR 014 §3–5): one state machine per serial, driven by the
//! commitments of EPCIS events; recalls and suspect marks; the GS1 registry from genesis.
//!
//! Tables: given the state earlier steps left, this transaction gives these items changed
//! or this error.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use medledger_crypto::Keypair;
use medledger_gs1::ident::{EpcUri, Gtin, Lot, check_digit};
use medledger_ledger::genesis::{GenesisError, GenesisGs1, GenesisMember, GenesisOrg};
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::supply::capture::{Commitment, MAX_COMMITMENTS, MAX_EPCS, Step, SupplyCapture};
use medledger_ledger::supply::recall::SupplyRecall;
use medledger_ledger::supply::{self, Hold, ItemState};
use medledger_ledger::{BlockContext, Event, Genesis, Payload, Rejection, TxError};
use medledger_types::codec::{Encode, put};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};

const CHAIN: &str = "supply-chain";

/// `(organisation, role, company prefix)`, in key-seed order.
const ORGS: [(&str, OrgRole, Option<&str>); 6] = [
    ("maker-a", OrgRole::Manufacturer, Some("0614141")),
    ("maker-b", OrgRole::Manufacturer, Some("0012345")),
    ("wholesaler", OrgRole::Distributor, None),
    ("pharmacy", OrgRole::Pharmacy, None),
    ("regulator", OrgRole::Regulator, None),
    ("lab", OrgRole::Lab, None),
];
const MAKER_A: usize = 0;
const MAKER_B: usize = 1;
const WHOLESALER: usize = 2;
const PHARMACY: usize = 3;
const REGULATOR: usize = 4;
const LAB: usize = 5;

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn org_of(i: usize) -> OrgId {
    org(ORGS[i].0)
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

/// maker-a's node (a service member).
fn maker_node() -> Keypair {
    Keypair::from_seed([40; 32])
}

fn gln(data12: &str) -> String {
    format!("{data12}{}", check_digit(data12).unwrap())
}

fn genesis() -> Genesis {
    let orgs = ORGS
        .iter()
        .enumerate()
        .map(|(i, (id, role, prefix))| GenesisOrg {
            members: if i == MAKER_A {
                vec![GenesisMember {
                    member: MemberId::new("node").unwrap(),
                    kind: MemberKind::Service,
                    public_key: maker_node().public(),
                }]
            } else {
                Vec::new()
            },
            gs1: prefix.map(|p| GenesisGs1 {
                company_prefixes: vec![p.to_string()],
                glns: vec![gln(&format!("{p:0<12}"))],
            }),
            ..common::genesis::org_with_admin(id, *role, &admin(i))
        })
        .collect();
    common::genesis::genesis(CHAIN, orgs, "maker-a")
}

/// What a transaction did: refused at the envelope, or included with its events or error.
type Outcome = Result<Result<Vec<Event>, TxError>, Rejection>;

struct World {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    height: u64,
}

impl World {
    fn new() -> World {
        let g = genesis();
        g.validate().unwrap();
        World {
            state: g.initial_writes().into_iter().map(|(k, v)| (k, v.unwrap())).collect(),
            height: 0,
        }
    }

    fn run(&mut self, signer: &Keypair, payload: Payload) -> Outcome {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new(CHAIN).unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(self.height * 1000),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)?;
        Ok(applied.error.map_or(Ok(applied.events), Err))
    }

    /// Runs steps in order; each expects the number of items changed or an error.
    fn run_table(&mut self, table: &str, steps: Vec<(&str, Keypair, Payload, Result<u32, TxError>)>) {
        for (name, signer, payload, expected) in steps {
            let got = self
                .run(&signer, payload)
                .unwrap_or_else(|r| panic!("{table}: {name}: rejected: {r}"));
            let got = got.map(|events| match events.as_slice() {
                [Event::SupplyCaptured { items, .. }] | [Event::SuspectMarked { items, .. }] => *items,
                [Event::LotRecalled { .. }] => 0,
                other => panic!("{table}: {name}: unexpected events {other:?}"),
            });
            assert_eq!(got, expected, "{table}: step {name}");
        }
    }

    fn item(&self, epc: &str) -> supply::ItemRecord {
        supply::item(&self.state, epc).unwrap_or_else(|| panic!("{epc} is not on the ledger"))
    }
}

fn uri(s: &str) -> EpcUri {
    EpcUri::parse(s).unwrap()
}

/// maker-a's pack `serial` (GTIN 80614141123458).
fn pack(serial: &str) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

/// maker-a's case `serial` (another GTIN of maker-a).
fn case(serial: &str) -> String {
    format!("urn:epc:id:sgtin:0614141.112345.{serial}")
}

/// maker-a's logistic unit `n`.
fn sscc(n: u32) -> String {
    format!("urn:epc:id:sscc:0614141.{:010}", n)
}

/// A fresh, distinct event hash ID.
fn fresh_hash() -> Hash32 {
    static N: AtomicU64 = AtomicU64::new(0);
    Hash32::digest(&[&N.fetch_add(1, Ordering::Relaxed).to_le_bytes()])
}

fn commitment(step: Step, epcs: &[&str]) -> Commitment {
    Commitment {
        hash_id: fresh_hash(),
        step,
        epcs: epcs.iter().map(|e| uri(e)).collect(),
        parent: None,
        destination: None,
        lot: None,
        expiry: None,
        corrects: Vec::new(),
    }
}

fn capture(commitments: Vec<Commitment>) -> Payload {
    Payload::SupplyCapture(SupplyCapture { commitments })
}

fn commission_c(epcs: &[&str]) -> Commitment {
    Commitment {
        lot: Some(Lot::parse("LOT1").unwrap()),
        expiry: Some("271231".into()),
        ..commitment(Step::Commission, epcs)
    }
}

fn commission(epcs: &[&str]) -> Payload {
    capture(vec![commission_c(epcs)])
}

fn ship_c(epcs: &[&str], to: usize) -> Commitment {
    Commitment {
        destination: Some(org_of(to)),
        ..commitment(Step::Ship, epcs)
    }
}

fn ship(epcs: &[&str], to: usize) -> Payload {
    capture(vec![ship_c(epcs, to)])
}

fn step(step: Step, epcs: &[&str]) -> Payload {
    capture(vec![commitment(step, epcs)])
}

fn observe(epcs: &[&str], disposition: &str) -> Payload {
    step(
        Step::Observe {
            disposition: disposition.into(),
        },
        epcs,
    )
}

fn aggregate(s: Step, parent: &str, children: &[&str]) -> Payload {
    capture(vec![Commitment {
        parent: Some(uri(parent)),
        ..commitment(s, children)
    }])
}

fn recall_lot(lot: &str) -> Payload {
    Payload::SupplyRecall(SupplyRecall::Lot {
        gtin: Gtin::parse("80614141123458").unwrap(),
        lot: Lot::parse(lot).unwrap(),
    })
}

fn suspect(epcs: &[&str], suspect: bool) -> Payload {
    Payload::SupplyRecall(SupplyRecall::Suspect {
        epcs: epcs.iter().map(|e| uri(e)).collect(),
        suspect,
    })
}

fn e(index: u32, epc: &str) -> (u32, String) {
    (index, epc.to_string())
}

fn not_held((index, epc): (u32, String)) -> TxError {
    TxError::NotHeld { index, epc }
}

fn on_hold((index, epc): (u32, String), hold: Hold) -> TxError {
    TxError::ItemOnHold { index, epc, hold }
}

#[test]
fn commissioning_needs_the_company_prefix_and_refuses_clones() {
    let p1 = pack("1");
    let mut w = World::new();
    w.run_table(
        "commissioning",
        vec![
            (
                "the prefix owner commissions",
                admin(MAKER_A),
                commission(&[&p1]),
                Ok(1),
            ),
            (
                "again: a clone",
                admin(MAKER_A),
                commission(&[&p1]),
                Err(TxError::EpcClone {
                    index: 0,
                    epc: p1.clone(),
                }),
            ),
            (
                "another manufacturer under maker-a's prefix",
                admin(MAKER_B),
                commission(&[&pack("2")]),
                Err(TxError::NotPrefixOwner {
                    index: 0,
                    epc: pack("2"),
                }),
            ),
            (
                // The same GTIN and serial written with a six-digit prefix split: that
                // prefix is nobody's (the registry is prefix-free), so it is refused.
                "the same serial under another prefix split",
                admin(MAKER_A),
                commission(&["urn:epc:id:sgtin:061414.8112345.1"]),
                Err(TxError::NotPrefixOwner {
                    index: 0,
                    epc: "urn:epc:id:sgtin:061414.8112345.1".into(),
                }),
            ),
            (
                "twice in one transaction",
                admin(MAKER_A),
                capture(vec![commission_c(&[&pack("3")]), commission_c(&[&pack("3")])]),
                Err(TxError::EpcClone {
                    index: 1,
                    epc: pack("3"),
                }),
            ),
            (
                "maker-a's node commissions packs and an SSCC",
                maker_node(),
                commission(&[&pack("4"), &pack("5"), &sscc(1)]),
                Ok(3),
            ),
            (
                "maker-b commissions under its own prefix",
                admin(MAKER_B),
                commission(&["urn:epc:id:sgtin:0012345.011111.9"]),
                Ok(1),
            ),
            (
                "a laboratory may not capture",
                admin(LAB),
                commission(&[&pack("6")]),
                Err(TxError::NotAuthorized),
            ),
            (
                "a regulator may not commission",
                admin(REGULATOR),
                commission(&[&pack("6")]),
                Err(TxError::NotAuthorized),
            ),
        ],
    );
    let rec = w.item(&p1);
    assert_eq!(rec.state, ItemState::Active);
    assert_eq!(rec.owner, org_of(MAKER_A));
    assert_eq!(rec.gtin.as_deref(), Some("80614141123458"));
    assert_eq!(rec.lot.as_deref(), Some("LOT1"));
    assert_eq!(rec.expiry.as_deref(), Some("271231"));
    assert_eq!(w.item(&sscc(1)).gtin, None);
    assert_eq!(supply::gtin_owner(&w.state, "80614141123458"), Some(org_of(MAKER_A)));
    assert_eq!(supply::gln_owner(&w.state, &gln("061414100000")), Some(org_of(MAKER_A)));
}

#[test]
fn shipping_receiving_and_dispensing_follow_the_holder() {
    let (p1, p2, p3) = (pack("1"), pack("2"), pack("3"));
    let mut w = World::new();
    w.run_table(
        "custody",
        vec![
            ("commission", admin(MAKER_A), commission(&[&p1, &p2, &p3]), Ok(3)),
            (
                "the wholesaler ships what it does not hold",
                admin(WHOLESALER),
                ship(&[&p1], PHARMACY),
                Err(not_held(e(0, &p1))),
            ),
            (
                "ship to a laboratory, which cannot receive",
                admin(MAKER_A),
                ship(&[&p1], LAB),
                Err(TxError::NotAuthorized),
            ),
            (
                "ship to an organisation that does not exist",
                admin(MAKER_A),
                capture(vec![Commitment {
                    destination: Some(org("nowhere")),
                    ..commitment(Step::Ship, &[&p1])
                }]),
                Err(TxError::UnknownOrg(org("nowhere"))),
            ),
            (
                "maker ships to the wholesaler",
                admin(MAKER_A),
                ship(&[&p1, &p2], WHOLESALER),
                Ok(2),
            ),
            (
                "ship again while in transit",
                admin(MAKER_A),
                ship(&[&p1], PHARMACY),
                Err(not_held(e(0, &p1))),
            ),
            (
                "the pharmacy receives what was shipped to the wholesaler",
                admin(PHARMACY),
                step(Step::Receive, &[&p1]),
                Err(TxError::NotShippedToYou {
                    index: 0,
                    epc: p1.clone(),
                }),
            ),
            (
                "the wholesaler dispenses in transit",
                admin(WHOLESALER),
                step(Step::Dispense, &[&p1]),
                Err(not_held(e(0, &p1))),
            ),
            (
                "the wholesaler receives",
                admin(WHOLESALER),
                step(Step::Receive, &[&p1, &p2]),
                Ok(2),
            ),
            (
                "receives twice",
                admin(WHOLESALER),
                step(Step::Receive, &[&p1]),
                Err(TxError::NotShippedToYou {
                    index: 0,
                    epc: p1.clone(),
                }),
            ),
            (
                "the maker ships what it sold",
                admin(MAKER_A),
                ship(&[&p1], PHARMACY),
                Err(not_held(e(0, &p1))),
            ),
            (
                "wholesaler → pharmacy",
                admin(WHOLESALER),
                ship(&[&p1], PHARMACY),
                Ok(1),
            ),
            ("pharmacy receives", admin(PHARMACY), step(Step::Receive, &[&p1]), Ok(1)),
            (
                "pharmacy dispenses",
                admin(PHARMACY),
                step(Step::Dispense, &[&p1]),
                Ok(1),
            ),
            (
                "dispenses twice",
                admin(PHARMACY),
                step(Step::Dispense, &[&p1]),
                Err(TxError::ItemFinal {
                    index: 0,
                    epc: p1.clone(),
                }),
            ),
            (
                "ships a dispensed pack",
                admin(PHARMACY),
                ship(&[&p1], WHOLESALER),
                Err(TxError::ItemFinal {
                    index: 0,
                    epc: p1.clone(),
                }),
            ),
            (
                "the maker decommissions",
                admin(MAKER_A),
                step(Step::Decommission, &[&p3]),
                Ok(1),
            ),
            (
                "and then ships it",
                admin(MAKER_A),
                ship(&[&p3], WHOLESALER),
                Err(TxError::ItemFinal {
                    index: 0,
                    epc: p3.clone(),
                }),
            ),
            (
                "the wholesaler destroys",
                admin(WHOLESALER),
                step(Step::Destroy, &[&p2]),
                Ok(1),
            ),
            (
                "and observes it",
                admin(WHOLESALER),
                observe(&[&p2], "active"),
                Err(TxError::ItemFinal {
                    index: 0,
                    epc: p2.clone(),
                }),
            ),
            (
                "an unknown serial",
                admin(MAKER_A),
                ship(&[&pack("404")], WHOLESALER),
                Err(TxError::UnknownEpc {
                    index: 0,
                    epc: pack("404"),
                }),
            ),
        ],
    );
    assert_eq!(w.item(&p1).state, ItemState::Dispensed);
    assert_eq!(w.item(&p1).owner, org_of(PHARMACY));
    assert_eq!(w.item(&p2).state, ItemState::Destroyed);
    assert_eq!(w.item(&p3).state, ItemState::Decommissioned);
}

#[test]
fn recalled_suspect_and_quarantined_packs_do_not_move() {
    let (p1, p2, p3) = (pack("1"), pack("2"), pack("3"));
    let mut w = World::new();
    w.run_table(
        "holds",
        vec![
            (
                "commission lot LOT1",
                admin(MAKER_A),
                commission(&[&p1, &p2, &p3]),
                Ok(3),
            ),
            (
                "to the pharmacy",
                admin(MAKER_A),
                ship(&[&p1, &p2, &p3], PHARMACY),
                Ok(3),
            ),
            (
                "received",
                admin(PHARMACY),
                step(Step::Receive, &[&p1, &p2, &p3]),
                Ok(3),
            ),
            (
                "another manufacturer recalls maker-a's lot",
                admin(MAKER_B),
                recall_lot("LOT1"),
                Err(TxError::NotAuthorized),
            ),
            (
                "the pharmacy marks a pack suspect",
                admin(PHARMACY),
                suspect(&[&p2], true),
                Err(TxError::NotAuthorized),
            ),
            (
                "the GTIN's owner marks p2 suspect",
                admin(MAKER_A),
                suspect(&[&p2], true),
                Ok(1),
            ),
            (
                "dispense the suspect pack",
                admin(PHARMACY),
                step(Step::Dispense, &[&p2]),
                Err(on_hold(e(0, &p2), Hold::Suspect)),
            ),
            (
                "ship the suspect pack back",
                admin(PHARMACY),
                ship(&[&p2], WHOLESALER),
                Err(on_hold(e(0, &p2), Hold::Suspect)),
            ),
            (
                "a regulator clears the mark",
                admin(REGULATOR),
                suspect(&[&p2], false),
                Ok(1),
            ),
            (
                "the pharmacy finds p3 damaged",
                admin(PHARMACY),
                observe(&[&p3], "damaged"),
                Ok(1),
            ),
            (
                "dispense the quarantined pack",
                admin(PHARMACY),
                step(Step::Dispense, &[&p3]),
                Err(on_hold(e(0, &p3), Hold::Quarantined)),
            ),
            (
                "ship it",
                admin(PHARMACY),
                ship(&[&p3], WHOLESALER),
                Err(on_hold(e(0, &p3), Hold::Quarantined)),
            ),
            (
                "an inspector observes it sellable",
                admin(REGULATOR),
                observe(&[&p3], "sellable_accessible"),
                Ok(1),
            ),
            (
                "a regulator may only observe",
                admin(REGULATOR),
                step(Step::Destroy, &[&p3]),
                Err(TxError::NotAuthorized),
            ),
            ("the owner recalls the lot", admin(MAKER_A), recall_lot("LOT1"), Ok(0)),
            (
                "recall it again",
                admin(REGULATOR),
                recall_lot("LOT1"),
                Err(TxError::AlreadyRecalled),
            ),
            (
                "dispense a recalled pack",
                admin(PHARMACY),
                step(Step::Dispense, &[&p1]),
                Err(on_hold(e(0, &p1), Hold::Recalled)),
            ),
            (
                "ship a recalled pack",
                admin(PHARMACY),
                ship(&[&p1], WHOLESALER),
                Err(on_hold(e(0, &p1), Hold::Recalled)),
            ),
            (
                "a recalled pack may still be destroyed",
                admin(PHARMACY),
                step(Step::Destroy, &[&p1]),
                Ok(1),
            ),
            (
                "a regulator recalls another lot",
                admin(REGULATOR),
                recall_lot("LOT2"),
                Ok(0),
            ),
        ],
    );
    assert_eq!(
        supply::recall_of(&w.state, "80614141123458", "LOT1").map(|r| r.by),
        Some(org_of(MAKER_A))
    );
    assert!(!w.item(&p3).quarantined);
    assert_eq!(w.item(&p3).disposition.as_deref(), Some("sellable_accessible"));
}

#[test]
fn children_follow_their_parent_until_unpacked() {
    let (pallet, c1, c2) = (sscc(7), case("C1"), case("C2"));
    let (p1, p2, p3, p4) = (pack("1"), pack("2"), pack("3"), pack("4"));
    let mut w = World::new();
    w.run_table(
        "aggregation",
        vec![
            (
                "commission",
                admin(MAKER_A),
                commission(&[&c1, &c2, &p1, &p2, &p3, &p4]),
                Ok(6),
            ),
            (
                "pack case 1",
                admin(MAKER_A),
                aggregate(Step::Pack, &c1, &[&p1, &p2]),
                Ok(3),
            ),
            (
                "pack case 2",
                admin(MAKER_A),
                aggregate(Step::Pack, &c2, &[&p3, &p4]),
                Ok(3),
            ),
            (
                "a pack into a second case",
                admin(MAKER_A),
                aggregate(Step::Pack, &c2, &[&p1]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: p1.clone(),
                    reason: "already inside another parent; unpack it first",
                }),
            ),
            (
                "a case into itself",
                admin(MAKER_A),
                aggregate(Step::Pack, &c1, &[&c1]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: c1.clone(),
                    reason: "an item cannot be packed inside itself",
                }),
            ),
            (
                "cases onto a new pallet (the SSCC is commissioned)",
                admin(MAKER_A),
                aggregate(Step::Pack, &pallet, &[&c1, &c2]),
                Ok(3),
            ),
            (
                "the pallet onto another: a fourth level",
                admin(MAKER_A),
                aggregate(Step::Pack, &sscc(8), &[&pallet]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: pallet.clone(),
                    reason: "more than 3 levels of aggregation",
                }),
            ),
            (
                "ship one pack out of its case",
                admin(MAKER_A),
                ship(&[&p1], WHOLESALER),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: p1.clone(),
                    reason: "inside a parent that does not move with it; unpack it first",
                }),
            ),
            (
                "decommission a case that holds packs",
                admin(MAKER_A),
                step(Step::Decommission, &[&c1]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: c1.clone(),
                    reason: "holds other items; unpack it first",
                }),
            ),
            (
                "ship the pallet: 7 items",
                admin(MAKER_A),
                ship(&[&pallet], WHOLESALER),
                Ok(7),
            ),
            (
                "the pharmacy receives a case of it",
                admin(PHARMACY),
                step(Step::Receive, &[&c1]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: c1.clone(),
                    reason: "inside a parent that does not move with it; unpack it first",
                }),
            ),
            (
                "the wholesaler receives the pallet",
                admin(WHOLESALER),
                step(Step::Receive, &[&pallet]),
                Ok(7),
            ),
        ],
    );
    for epc in [&pallet, &c1, &c2, &p1, &p2, &p3, &p4] {
        let rec = w.item(epc);
        assert_eq!(
            (rec.owner, rec.state),
            (org_of(WHOLESALER), ItemState::Active),
            "{epc} is held by the receiver"
        );
    }
    assert_eq!(w.item(&c1).parent.as_deref(), Some(pallet.as_str()));
    assert_eq!(w.item(&pallet).children, vec![c1.clone(), c2.clone()]);

    w.run_table(
        "unpacking",
        vec![
            (
                "unpack the whole pallet",
                admin(WHOLESALER),
                aggregate(Step::Unpack, &pallet, &[]),
                Ok(3),
            ),
            (
                "unpack a pack from the wrong case",
                admin(WHOLESALER),
                aggregate(Step::Unpack, &c2, &[&p1]),
                Err(TxError::Aggregation {
                    index: 0,
                    epc: p1.clone(),
                    reason: "not inside this parent",
                }),
            ),
            (
                "unpack p1 from case 1",
                admin(WHOLESALER),
                aggregate(Step::Unpack, &c1, &[&p1]),
                Ok(2),
            ),
            ("ship p1 alone", admin(WHOLESALER), ship(&[&p1], PHARMACY), Ok(1)),
            (
                "ship case 2 with its packs",
                admin(WHOLESALER),
                ship(&[&c2, &p3], PHARMACY),
                Ok(3),
            ),
            ("receive case 2", admin(PHARMACY), step(Step::Receive, &[&c2]), Ok(3)),
            (
                "dispense a pack out of case 2 (it leaves the case)",
                admin(PHARMACY),
                step(Step::Dispense, &[&p3]),
                Ok(2),
            ),
        ],
    );
    assert_eq!(w.item(&p1).state, ItemState::InTransit { to: org_of(PHARMACY) });
    assert_eq!(w.item(&p1).parent, None);
    assert_eq!(w.item(&p2).owner, org_of(WHOLESALER));
    assert_eq!(w.item(&p2).parent.as_deref(), Some(c1.as_str()));
    assert_eq!(w.item(&c1).children, vec![p2.clone()]);
    assert_eq!(w.item(&c2).children, vec![p4.clone()]);
    assert_eq!(w.item(&pallet).children, Vec::<String>::new());
}

#[test]
fn a_capture_job_is_all_or_nothing() {
    let (p1, p2) = (pack("1"), pack("2"));
    let mut w = World::new();
    let first = commission_c(&[&p1]);
    let first_hash = first.hash_id;
    let before = w.state.clone();
    let got = w.run(&admin(MAKER_A), capture(vec![first, ship_c(&[&p2], WHOLESALER)]));
    assert_eq!(got, Ok(Err(TxError::UnknownEpc { index: 1, epc: p2 })));
    assert!(
        supply::item(&w.state, &p1).is_none(),
        "the first commitment's item is not kept"
    );
    assert!(supply::event(&w.state, &first_hash).is_none(), "nor its event");
    let changed: Vec<_> = w.state.keys().filter(|k| before.get(*k) != w.state.get(*k)).collect();
    assert_eq!(changed.len(), 1, "only the signer's nonce moved");
    assert!(changed[0].starts_with(b"nonce/"));
}

#[test]
fn hash_ids_are_committed_once_and_corrections_are_recorded() {
    let (p1, p2) = (pack("1"), pack("2"));
    let mut w = World::new();
    let original = commission_c(&[&p1]);
    let id = original.hash_id;
    let got = w
        .run(&admin(MAKER_A), capture(vec![original.clone()]))
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        vec![Event::SupplyCaptured {
            org: org_of(MAKER_A),
            items: 1,
            hash_ids: vec![id],
        }]
    );
    let again = Commitment {
        epcs: vec![uri(&p2)],
        ..original.clone()
    };
    let twice = commission_c(&[&p2]);
    let corrective = Commitment {
        corrects: vec![id],
        ..observe_c(&[&p1], "active")
    };
    let stranger = Commitment {
        corrects: vec![id],
        ..observe_c(&[&p1], "active")
    };
    let unknown = Hash32::digest(&[b"never committed"]);
    w.run_table(
        "hash IDs",
        vec![
            (
                "the same hash ID in a later transaction",
                admin(MAKER_A),
                capture(vec![again]),
                Err(TxError::DuplicateEvent { index: 0, hash_id: id }),
            ),
            (
                "the same hash ID twice in one transaction",
                admin(MAKER_A),
                capture(vec![twice.clone(), twice.clone()]),
                Err(TxError::DuplicateEvent {
                    index: 1,
                    hash_id: twice.hash_id,
                }),
            ),
            (
                "correct an event that is not on the ledger",
                admin(MAKER_A),
                capture(vec![Commitment {
                    corrects: vec![unknown],
                    ..observe_c(&[&p1], "active")
                }]),
                Err(TxError::UnknownEvent {
                    index: 0,
                    hash_id: unknown,
                }),
            ),
            (
                "correct another organisation's event",
                admin(REGULATOR),
                capture(vec![stranger]),
                Err(TxError::NotAuthorized),
            ),
            (
                "the capturer corrects its event",
                admin(MAKER_A),
                capture(vec![corrective.clone()]),
                Ok(1),
            ),
        ],
    );
    let rec = supply::event(&w.state, &id).unwrap();
    assert_eq!(rec.capturer, org_of(MAKER_A));
    assert_eq!(rec.corrected_by, vec![corrective.hash_id]);
    assert_eq!(
        w.item(&p1).last_event,
        corrective.hash_id,
        "the corrective event was applied"
    );
}

fn observe_c(epcs: &[&str], disposition: &str) -> Commitment {
    commitment(
        Step::Observe {
            disposition: disposition.into(),
        },
        epcs,
    )
}

fn malformed(kind: medledger_types::TxKind, body: &[u8]) -> bool {
    matches!(Payload::decode(kind, body), Err(Rejection::MalformedBody(_)))
}

#[test]
fn hostile_bodies_are_refused_when_decoded() {
    let kind = medledger_ledger::supply::capture::KIND;
    let good = commission_c(&[&pack("1")]);

    // Counts beyond the limits, claimed or real.
    let mut body = Vec::new();
    put::u32(&mut body, u32::MAX);
    assert!(malformed(kind, &body), "a huge claimed count");
    let many = SupplyCapture {
        commitments: vec![good.clone(); MAX_COMMITMENTS + 1],
    };
    assert!(malformed(kind, &many.encode()), "too many commitments");
    let many_epcs = Commitment {
        epcs: vec![uri(&pack("1")); MAX_EPCS + 1],
        ..good.clone()
    };
    assert!(
        malformed(kind, &capture(vec![many_epcs]).body()),
        "too many EPCs in one commitment"
    );
    assert!(malformed(kind, &SupplyCapture { commitments: vec![] }.encode()), "none");

    // EPCs: malformed, untracked, not canonical.
    let with_epc = |epc: &str| {
        let mut body = Vec::new();
        put::u32(&mut body, 1);
        good.hash_id.encode_to(&mut body);
        put::u8(&mut body, 0); // Commission
        put::u32(&mut body, 1);
        put::str(&mut body, epc);
        body.extend_from_slice(&[0, 0, 0, 0]); // no parent, destination, lot, expiry
        put::u32(&mut body, 0); // corrects
        body
    };
    assert!(!malformed(kind, &with_epc(&pack("1"))), "the well-formed body decodes");
    for bad in [
        "urn:epc:id:sgtin:0614141.812345",
        "urn:epc:id:sgtin:0614141.81234X.1",
        "urn:epc:id:sgln:0614141.12345.0",
        "urn:epc:class:lgtin:0614141.812345.LOT1",
        "urn:epc:id:sgtin:0614141.812345.%34%30%30",
        "URN:EPC:ID:SGTIN:0614141.812345.1",
        &format!("urn:epc:id:sgtin:0614141.812345.{}", "9".repeat(200)),
        "",
    ] {
        assert!(malformed(kind, &with_epc(bad)), "{bad:?} is refused");
    }

    // Fields a step needs, and fields it must not carry.
    for c in [
        commitment(Step::Ship, &[&pack("1")]),
        commitment(Step::Pack, &[&pack("1")]),
        Commitment {
            parent: Some(uri(&sscc(1))),
            ..commitment(Step::Dispense, &[&pack("1")])
        },
        Commitment {
            lot: Some(Lot::parse("L").unwrap()),
            ..commitment(Step::Receive, &[&pack("1")])
        },
        commitment(Step::Dispense, &[]),
        observe_c(&[&pack("1")], "Not A Word"),
        Commitment {
            expiry: Some("271331".into()),
            ..good.clone()
        },
    ] {
        assert!(malformed(kind, &capture(vec![c.clone()]).body()), "{c:?} is refused");
    }

    // A recall's GTIN must be the 14-digit form with its check digit.
    let recall = medledger_ledger::supply::recall::KIND;
    let mut body = vec![0];
    put::str(&mut body, "80614141123457");
    put::str(&mut body, "LOT1");
    assert!(malformed(recall, &body), "bad check digit");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = Payload::decode(medledger_ledger::supply::capture::KIND, &bytes);
        let _ = Payload::decode(medledger_ledger::supply::recall::KIND, &bytes);
    }
}

#[test]
fn the_registry_comes_from_genesis_and_is_checked() {
    let base = genesis();
    assert_eq!(base.validate(), Ok(()));
    let with = |i: usize, prefixes: &[&str], glns: &[&str]| {
        let mut g = base.clone();
        g.orgs[i].gs1 = Some(GenesisGs1 {
            company_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            glns: glns.iter().map(|s| s.to_string()).collect(),
        });
        g.validate()
    };
    let a_gln = gln("061414100000");
    assert_eq!(
        with(MAKER_B, &["0614141"], &[]),
        Err(GenesisError::DuplicateCompanyPrefix("0614141".into()))
    );
    assert_eq!(
        with(MAKER_B, &["06141412"], &[]),
        Err(GenesisError::DuplicateCompanyPrefix("0614141".into())),
        "a prefix that starts with another's"
    );
    assert_eq!(
        with(WHOLESALER, &["12345"], &[]),
        Err(GenesisError::BadCompanyPrefix {
            org: org_of(WHOLESALER),
            prefix: "12345".into()
        })
    );
    assert_eq!(
        with(WHOLESALER, &[], &[&a_gln]),
        Err(GenesisError::DuplicateGln(a_gln.clone()))
    );
    let last = a_gln.as_bytes()[12] - b'0';
    let bad_gln = format!("{}{}", &a_gln[..12], (last + 1) % 10);
    assert_eq!(
        with(WHOLESALER, &[], &[&bad_gln]),
        Err(GenesisError::BadGln {
            org: org_of(WHOLESALER),
            gln: bad_gln.clone()
        })
    );
    assert_eq!(with(WHOLESALER, &["4000001"], &[&gln("400000100000")]), Ok(()));

    // An organisation without `gs1` writes nothing for it, and its JSON has no such field.
    let json = serde_json::to_value(&base.orgs[WHOLESALER]).unwrap();
    assert!(json.get("gs1").is_none());
    let mut without = base.clone();
    for o in &mut without.orgs {
        o.gs1 = None;
    }
    let writes = without.initial_writes();
    assert!(!writes.keys().any(|k| k.starts_with(b"gs1/")));
    assert_eq!(
        base.initial_writes().len(),
        writes.len() + 6,
        "two prefixes, two GLNs, and a count under each prefix's six-digit stem"
    );
}
