//! From EPCIS 2.0 documents to `supply.capture` (ADR 014 §2): a DSCSA-style path of three
//! packs from their manufacturer through a wholesaler to a pharmacy, written as the
//! JSON-LD documents each trading partner would capture (`tests/data/dscsa-*.jsonld`),
//! mapped with `commitments_of` and applied on the ledger; and the events that have no
//! commitment, each with its reason (`tests/data/refusals.jsonld`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medledger_crypto::Keypair;
use medledger_gs1::epcis::{Document, EventType, Format, parse_document};
use medledger_ledger::genesis::{GenesisGs1, GenesisOrg};
use medledger_ledger::identity::OrgRole;
use medledger_ledger::supply::capture::{Step, SupplyCapture};
use medledger_ledger::supply::{self, DocumentError, FromEpcisError, ItemState, commitment_of, commitments_of};
use medledger_ledger::{BlockContext, Payload};
use medledger_types::{ChainId, Hash32, Height, OrgId, TimestampMs};

const CHAIN: &str = "epcis-chain";

/// `(organisation, role, company prefix, GLN)`: the GLNs the documents name, under GS1's
/// example prefixes.
const ORGS: [(&str, OrgRole, Option<&str>, &str); 3] = [
    ("maker", OrgRole::Manufacturer, Some("0614141"), "0614141000012"),
    ("wholesaler", OrgRole::Distributor, None, "4012345000122"),
    ("pharmacy", OrgRole::Pharmacy, None, "5200001000039"),
];
const MAKER: usize = 0;
const WHOLESALER: usize = 1;
const PHARMACY: usize = 2;

const PACK_1: &str = "urn:epc:id:sgtin:0614141.012345.S1";
const PACK_2: &str = "urn:epc:id:sgtin:0614141.012345.S2";
const PACK_3: &str = "urn:epc:id:sgtin:0614141.012345.S3";
const CASE: &str = "urn:epc:id:sscc:0614141.0000000001";

fn org(i: usize) -> OrgId {
    OrgId::new(ORGS[i].0).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

fn genesis_state() -> common::State {
    let orgs = ORGS
        .iter()
        .enumerate()
        .map(|(i, (id, role, prefix, gln))| GenesisOrg {
            gs1: Some(GenesisGs1 {
                company_prefixes: prefix.iter().map(|p| p.to_string()).collect(),
                glns: vec![gln.to_string()],
            }),
            ..common::genesis::org_with_admin(id, *role, &admin(i))
        })
        .collect();
    common::genesis::state_of(&common::genesis::genesis(CHAIN, orgs, ORGS[MAKER].0))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn document(name: &str) -> Document {
    let bytes = std::fs::read(data(name)).unwrap();
    parse_document(&bytes, Format::JsonLd).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Maps a document and captures it as `signer`; the ledger must accept it.
fn capture(state: &mut common::State, height: u64, name: &str, signer: usize) {
    let doc = document(name);
    let commitments = commitments_of(&doc, state).unwrap_or_else(|e| panic!("{name}: {e}"));
    let payload = Payload::SupplyCapture(SupplyCapture {
        commitments: commitments.into_iter().map(|c| c.commitment).collect(),
    });
    let ctx = BlockContext {
        chain_id: ChainId::new(CHAIN).unwrap(),
        height: Height(height),
        timestamp: TimestampMs(height * 1000),
    };
    let applied = common::apply_signed(state, &admin(signer), &payload, &ctx).unwrap();
    assert_eq!(applied.error, None, "{name}: the ledger refused it");
}

/// The documents of the path, in order, with who captures each.
const PATH: [(&str, usize); 3] = [
    ("dscsa-1-manufacturer.jsonld", MAKER),
    ("dscsa-2-wholesaler.jsonld", WHOLESALER),
    ("dscsa-3-pharmacy.jsonld", PHARMACY),
];

fn after_path() -> common::State {
    let mut state = genesis_state();
    for (height, (name, signer)) in PATH.iter().enumerate() {
        capture(&mut state, height as u64 + 1, name, *signer);
    }
    state
}

fn item(state: &common::State, epc: &str) -> supply::ItemRecord {
    supply::item(state, epc).unwrap_or_else(|| panic!("{epc} is not on the ledger"))
}

#[test]
fn each_event_of_the_path_gives_its_step() {
    type Expected = (Step, Option<&'static str>, Option<usize>, Vec<&'static str>);
    let table: [(&str, Vec<Expected>); 3] = [
        (
            PATH[0].0,
            vec![
                (Step::Commission, None, None, vec![PACK_1, PACK_2, PACK_3]),
                (Step::Pack, Some(CASE), None, vec![PACK_1, PACK_2, PACK_3]),
                (Step::Ship, None, Some(WHOLESALER), vec![CASE]),
            ],
        ),
        (
            PATH[1].0,
            vec![
                (Step::Receive, None, None, vec![CASE]),
                (Step::Ship, None, Some(PHARMACY), vec![CASE]),
            ],
        ),
        (
            PATH[2].0,
            vec![
                (Step::Receive, None, None, vec![CASE]),
                (
                    Step::Observe {
                        disposition: "damaged".into(),
                    },
                    None,
                    None,
                    vec![PACK_2],
                ),
                (Step::Dispense, None, None, vec![PACK_1]),
            ],
        ),
    ];
    let state = genesis_state();
    for (name, expected) in table {
        let doc = document(name);
        let got = commitments_of(&doc, &state).unwrap();
        assert_eq!(got.len(), expected.len(), "{name}");
        for ((i, c), (step, parent, destination, epcs)) in got.iter().enumerate().zip(expected) {
            let c_ = &c.commitment;
            assert_eq!(c.index, i, "{name} #{i}");
            assert_eq!(c_.step, step, "{name} #{i}");
            assert_eq!(
                c_.parent.as_ref().map(|p| p.to_string()).as_deref(),
                parent,
                "{name} #{i}"
            );
            assert_eq!(c_.destination, destination.map(org), "{name} #{i}");
            let named: Vec<String> = c_.epcs.iter().map(|e| e.to_string()).collect();
            assert_eq!(named, epcs, "{name} #{i}");
            assert_eq!(c_.hash_id, Hash32(doc.events[i].hash_id().digest()), "{name} #{i}");
            assert!(c_.corrects.is_empty(), "{name} #{i}");
            let commissioning = c_.step == Step::Commission;
            assert_eq!(c_.lot.as_ref().map(|l| l.as_str()), commissioning.then_some("LOT42"));
            assert_eq!(c_.expiry.as_deref(), commissioning.then_some("270630"));
        }
    }
}

#[test]
fn the_path_ends_with_one_pack_dispensed_and_two_at_the_pharmacy() {
    let state = after_path();
    let pharmacy = org(PHARMACY);
    let dispensed = item(&state, PACK_1);
    assert_eq!(dispensed.state, ItemState::Dispensed);
    assert_eq!(dispensed.owner, pharmacy);
    assert_eq!(dispensed.parent, None, "a dispensed pack leaves its case");
    for epc in [PACK_2, PACK_3] {
        let pack = item(&state, epc);
        assert_eq!(pack.state, ItemState::Active, "{epc}");
        assert_eq!(pack.owner, pharmacy, "{epc}");
        assert_eq!(pack.parent.as_deref(), Some(CASE), "{epc}");
        assert_eq!(pack.gtin.as_deref(), Some("00614141123452"), "{epc}");
        assert_eq!(pack.lot.as_deref(), Some("LOT42"), "{epc}");
        assert_eq!(pack.expiry.as_deref(), Some("270630"), "{epc}");
    }
    assert!(item(&state, PACK_2).quarantined, "the pharmacy found it damaged");
    let case = item(&state, CASE);
    assert_eq!((case.state, case.owner), (ItemState::Active, pharmacy));
    assert_eq!(case.children, vec![PACK_2.to_string(), PACK_3.to_string()]);
}

#[test]
fn a_corrective_event_carries_the_declared_event_and_lifts_the_quarantine() {
    let mut state = after_path();
    let erroneous = Hash32(document(PATH[2].0).events[1].hash_id().digest());
    let doc = document("dscsa-4-pharmacy-correction.jsonld");
    assert_eq!(
        commitment_of(&doc.events[0], &state),
        Err(FromEpcisError::ErrorDeclaration)
    );
    let got = commitments_of(&doc, &state).unwrap();
    assert_eq!(got.len(), 1, "the declaration is not committed itself");
    assert_eq!(got[0].index, 1);
    assert_eq!(got[0].commitment.corrects, vec![erroneous]);
    let corrective = got[0].commitment.hash_id;

    capture(&mut state, 9, "dscsa-4-pharmacy-correction.jsonld", PHARMACY);
    let record = supply::event(&state, &erroneous).unwrap();
    assert_eq!(record.corrected_by, vec![corrective]);
    let pack = item(&state, PACK_2);
    assert!(!pack.quarantined);
    assert_eq!(pack.disposition.as_deref(), Some("conformant"));
}

#[test]
fn events_without_a_commitment_say_why() {
    let state = genesis_state();
    let doc = document("refusals.jsonld");
    let unsupported = |epc: &str, reason: &str| FromEpcisError::UnsupportedEpc {
        epc: epc.into(),
        reason: reason.into(),
    };
    let table = [
        FromEpcisError::UnknownDestination {
            gln: "4012345000993".into(),
        },
        FromEpcisError::UnregisteredPrefix {
            epc: "urn:epc:id:sgtin:4012345.011111.7".into(),
        },
        FromEpcisError::UnregisteredPrefix {
            epc: "https://id.gs1.org/01/04012345111118/21/7".into(),
        },
        unsupported(
            "urn:epc:id:grai:0614141.12345.400",
            "unsupported EPC URI \"urn:epc:id:grai:0614141.12345.400\"",
        ),
        FromEpcisError::MissingDestination,
        FromEpcisError::MissingDisposition {
            biz_step: "inspecting".into(),
        },
        FromEpcisError::BadExpiry {
            value: "2027-13-01".into(),
        },
        FromEpcisError::NoInstanceEpcs,
        FromEpcisError::CommissioningNotAdd,
        FromEpcisError::UnsupportedEventType(EventType::TransformationEvent),
        FromEpcisError::ErrorDeclaration,
    ];
    assert_eq!(doc.events.len(), table.len());
    for (i, (event, expected)) in doc.events.iter().zip(table).enumerate() {
        let got = commitment_of(event, &state);
        if let (Err(FromEpcisError::UnsupportedEpc { epc, .. }), FromEpcisError::UnsupportedEpc { epc: want, .. }) =
            (&got, &expected)
        {
            // The reason is the identifier parser's; the EPC is what matters here.
            assert_eq!(epc, want, "event {i}");
            assert!(got.as_ref().unwrap_err().to_string().contains("grai"), "event {i}");
            continue;
        }
        assert_eq!(got, Err(expected), "event {i}");
    }

    // A document is all or nothing: the first event without a commitment, by its index.
    let err = commitments_of(&doc, &state).unwrap_err();
    assert_eq!(err.index, 0);
    assert!(err.to_string().starts_with("event 0: "), "{err}");
    let from = |i: usize| Document {
        events: doc.events[i..].to_vec(),
        ..doc.clone()
    };
    assert!(matches!(
        commitments_of(&from(3), &state),
        Err(DocumentError {
            index: 0,
            error: FromEpcisError::UnsupportedEpc { .. }
        })
    ));
    // A declaration whose corrective event is elsewhere cannot be recorded.
    assert_eq!(
        commitments_of(&from(10), &state),
        Err(DocumentError {
            index: 0,
            error: FromEpcisError::CorrectiveEventNotInDocument {
                id: "urn:uuid:00000000-0000-4000-8000-00000000dead".into(),
            },
        })
    );
}

/// Every event of the GS1 example documents (in every binding the gs1 crate reads) maps to
/// a commitment or an error, never a panic.
#[test]
fn no_event_of_the_gs1_examples_panics() {
    let state = after_path();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gs1/tests/data/epcis/examples");
    let mut seen = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("jsonld") => Format::JsonLd,
            Some("xml") => Format::Xml,
            _ => continue,
        };
        let Ok(doc) = parse_document(&std::fs::read(&path).unwrap(), format) else {
            continue;
        };
        for event in &doc.events {
            let ok = commitment_of(event, &state).is_ok();
            *seen.entry(ok).or_insert(0) += 1;
        }
        let _ = commitments_of(&doc, &state);
    }
    assert!(seen.values().sum::<usize>() > 50, "read the examples: {seen:?}");
}
