//! Golden vectors: the frozen byte formats of medledger, pinned in
//! `tests/vectors/ledger_v1.json` at the workspace root.
//!
//! The test builds a fixed set of values (keys from fixed seeds, a genesis, one signed
//! transaction of every kind in [`Payload`], the state records that make up the state
//! root with the state keys they are stored under, log leaves, a block header, a commit
//! and a whole block), encodes and hashes them, and compares every byte with the file. It
//! then decodes each stored encoding and checks that it gives back the constructed value
//! and re-encodes to the same bytes. Ed25519 signatures are deterministic, so the
//! signatures are pinned too.
//!
//! The transactions pin encodings, not a history: they are not applied to the genesis,
//! and only the first [`BLOCK_TXS`] are in the block.
//!
//! These bytes are what nodes sign, hash, store and exchange: a node built from a
//! changed encoding forks from every existing chain and cannot read existing data.
//! A mismatch therefore fails the test. Changing a frozen encoding is a deliberate
//! format change: regenerate the file with
//!
//! ```text
//! MEDLEDGER_REGENERATE_VECTORS=1 cargo test -p medledger-ledger --test vectors
//! ```
//!
//! and explain the change (and the version bump it needs) in the commit message.

use std::path::PathBuf;

use medledger_crypto::Keypair;
use medledger_ledger::audit::record::AuditRecord;
use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_ledger::consent::break_glass::{BreakGlass, BreakGlassRules};
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentRecord, ConsentScope, Grantee, Purpose};
use medledger_ledger::contracts::deploy::ContractDeploy;
use medledger_ledger::contracts::vote::ContractVote;
use medledger_ledger::contracts::{self, CodeId, ContractName, ContractParams, ContractVersion};
use medledger_ledger::genesis::{GENESIS_HASH_DOMAIN, GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::Ballot;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::rotate_key::RotateKey;
use medledger_ledger::identity::set_client_keys::{ClientKey, ClientKeyMaterial, ClientKeys, SetClientKeys};
use medledger_ledger::identity::vote_node::VoteNode;
use medledger_ledger::identity::vote_org::{OrgStatus, VoteOrg};
use medledger_ledger::identity::{
    KeyRecord, KeyStatus, MemberKind, MemberRecord, NodeRecord, OrgRecord, OrgRole, PatientRecord,
};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::records::erase::RecordsErase;
use medledger_ledger::records::{ErasureRecord, RecordState, VersionAnchor};
use medledger_ledger::research::StudyRecord;
use medledger_ledger::research::study::RegisterStudy;
use medledger_ledger::rx::cancel::RxCancel;
use medledger_ledger::rx::dispense::RxDispense;
use medledger_ledger::rx::params::RxParamsVote;
use medledger_ledger::rx::prescribe::RxPrescribe;
use medledger_ledger::rx::{
    Alert, DrugClass, FillRecord, Medication, MmeLevel, Order, PatientWindow, PrescriptionRecord, RxCui, RxParams,
    RxStatus, Schedule, Strength, WindowFill,
};
use medledger_ledger::supply::capture::{Commitment, Step, SupplyCapture};
use medledger_ledger::supply::recall::SupplyRecall;
use medledger_ledger::supply::vote_gs1::VoteGs1;
use medledger_ledger::supply::{EventRecord, ItemRecord, ItemState, RecallRecord};
use medledger_ledger::{Genesis, Payload, keys};
use medledger_types::codec::{Decode, Encode, put};
use medledger_types::{
    Block, BlockHeader, ChainId, Commit, CommitSig, Hash32, Height, LogLeaf, MemberId, Nonce, OrgId, OutcomeCode,
    SignedTx, TimestampMs, TreeSize, Tx, TxKind, commit_sign_bytes,
};
use serde_json::{Value, json};

const REGENERATE_VAR: &str = "MEDLEDGER_REGENERATE_VECTORS";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/ledger_v1.json")
}

fn regenerating() -> bool {
    std::env::var(REGENERATE_VAR).is_ok_and(|v| v == "1")
}

fn org(s: &str) -> OrgId {
    OrgId::new(s).expect("valid org id")
}

fn member(s: &str) -> MemberId {
    MemberId::new(s).expect("valid member id")
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed([seed; 32])
}

/// How many of the fixture's transactions (the first ones) are in the block.
const BLOCK_TXS: usize = 3;

/// A position for every kind of [`Payload`]. The match has no catch-all, so a new kind
/// does not compile here until it has a place, and then `every_kind_has_a_vector` fails
/// until the fixture pins a transaction of it.
fn kind_index(p: &Payload) -> usize {
    match p {
        Payload::RegisterMember(_) => 0,
        Payload::RevokeMember(_) => 1,
        Payload::RotateKey(_) => 2,
        Payload::VoteOrg(_) => 3,
        Payload::VoteNode(_) => 4,
        Payload::RecordsAnchor(_) => 5,
        Payload::RecordsErase(_) => 6,
        Payload::ConsentGrant(_) => 7,
        Payload::ConsentRevoke(_) => 8,
        Payload::BreakGlass(_) => 9,
        Payload::AuditRecord(_) => 10,
        Payload::RegisterStudy(_) => 11,
        Payload::SetClientKeys(_) => 12,
        Payload::SupplyCapture(_) => 13,
        Payload::SupplyRecall(_) => 14,
        Payload::VoteGs1(_) => 15,
        Payload::RxPrescribe(_) => 16,
        Payload::RxDispense(_) => 17,
        Payload::RxCancel(_) => 18,
        Payload::RxParams(_) => 19,
        Payload::ContractDeploy(_) => 20,
        Payload::ContractVote(_) => 21,
    }
}

/// How many kinds [`kind_index`] knows.
const KINDS: usize = 22;

/// Decodes stored bytes, checks they give the constructed value and re-encode to the
/// same bytes.
type Check = Box<dyn Fn(&[u8])>;

/// A state record: the value, the state key it is stored under (none for a value that
/// is only ever part of another encoding) and a check of a stored encoding against it.
struct Record {
    name: &'static str,
    type_name: &'static str,
    key: Option<Vec<u8>>,
    encoding: Vec<u8>,
    check: Check,
}

fn record<T>(name: &'static str, key: Option<Vec<u8>>, value: T) -> Record
where
    T: Encode + Decode + PartialEq + std::fmt::Debug + 'static,
{
    let type_name = std::any::type_name::<T>().rsplit("::").next().unwrap_or_default();
    Record {
        name,
        type_name,
        key,
        encoding: value.encode(),
        check: Box::new(move |bytes| assert_decodes_to(name, bytes, &value)),
    }
}

/// Every value the vectors pin, built deterministically.
struct Fixture {
    genesis: Genesis,
    /// `(name, payload, signed transaction)`: the block's transactions first, in block
    /// order, then one of every other kind.
    txs: Vec<(&'static str, Payload, SignedTx)>,
    records: Vec<Record>,
    leaves: Vec<LogLeaf>,
    header: BlockHeader,
    commit: Commit,
    block: Block,
}

fn fixture() -> Fixture {
    let admin_a = key(1);
    let admin_b = key(2);
    let validator = key(3);
    let new_member = key(4);
    let rotated = key(5);
    let patient = key(6);
    let practitioner = key(7);
    let node = key(8);
    let chain_id = ChainId::new("medledger-vectors-1").expect("valid chain id");

    let genesis = Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: chain_id.clone(),
        genesis_time: TimestampMs(1_700_000_000_000),
        orgs: vec![
            GenesisOrg {
                gs1: None,
                id: org("hospital-a"),
                name: "Hospital A".into(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: member("admin-a"),
                    public_key: admin_a.public(),
                }],
                members: Vec::new(),
            },
            GenesisOrg {
                gs1: None,
                id: org("pharmacy-b"),
                name: "Pharmacy B".into(),
                role: OrgRole::Pharmacy,
                admins: vec![GenesisAdmin {
                    member: member("admin-b"),
                    public_key: admin_b.public(),
                }],
                members: Vec::new(),
            },
        ],
        validators: vec![GenesisValidator {
            org: org("hospital-a"),
            public_key: validator.public(),
            power: 10,
        }],
    };
    genesis.validate().expect("fixture genesis is valid");

    let sign = |signer: &Keypair, nonce: u64, payload: &Payload| {
        signer.sign_tx(Tx {
            chain_id: chain_id.clone(),
            signer: signer.public(),
            nonce: Nonce(nonce),
            kind: payload.kind(),
            body: payload.body(),
        })
    };
    let register = Payload::RegisterMember(RegisterMember {
        org: org("hospital-a"),
        member: member("pr-0001"),
        kind: MemberKind::Practitioner,
        public_key: new_member.public(),
    });
    let revoke = Payload::RevokeMember(RevokeMember {
        org: org("hospital-a"),
        member: member("pr-0001"),
    });
    let rotate = Payload::RotateKey(RotateKey {
        org: org("pharmacy-b"),
        member: member("admin-b"),
        new_key: rotated.public(),
    });
    let pt = "pt-0001";
    let vote_org = Payload::VoteOrg(VoteOrg {
        org: org("hospital-a"),
        suspend: true,
    });
    let vote_node = Payload::VoteNode(VoteNode {
        org: org("hospital-a"),
        member: member("node-1"),
        add: true,
    });
    let anchor = Payload::RecordsAnchor(RecordsAnchor {
        custodian: org("hospital-a"),
        anchors: vec![
            Anchor {
                resource_type: "Observation".into(),
                record_id: "obs-0001".into(),
                version: 1,
                patient: Some(pt.into()),
                ciphertext: Hash32::digest(&[b"medledger vectors: ciphertext obs-0001"]),
                author: member("admin-a"),
            },
            Anchor {
                resource_type: "Practitioner".into(),
                record_id: "pr-0002".into(),
                version: 2,
                patient: None,
                ciphertext: Hash32::digest(&[b"medledger vectors: ciphertext pr-0002"]),
                author: member("node-1"),
            },
        ],
    });
    let erase = Payload::RecordsErase(RecordsErase {
        custodian: org("hospital-a"),
        patient: pt.into(),
        records: vec![("Observation".into(), "obs-0001".into()), ("Patient".into(), pt.into())],
    });
    let grant = Payload::ConsentGrant(ConsentGrant {
        consent_id: "consent-0001".into(),
        patient: pt.into(),
        grantee: Grantee::Org(org("pharmacy-b")),
        scope: ConsentScope::Types(vec!["MedicationRequest".into(), "Observation".into()]),
        purposes: vec![Purpose::Treatment, Purpose::Payment],
        expires: Some(TimestampMs(1_800_000_000_000)),
    });
    let revoke_consent = Payload::ConsentRevoke(ConsentRevoke {
        patient: pt.into(),
        consent_id: "consent-0001".into(),
    });
    let break_glass = Payload::BreakGlass(BreakGlass {
        patient: pt.into(),
        reader_org: org("pharmacy-b"),
        reader_member: member("pr-0002"),
    });
    let entry = AuditEntry {
        id: Hash32([0xa5; 32]),
        at: TimestampMs(1_700_000_004_000),
        actor_org: org("pharmacy-b"),
        actor_member: member("pr-0002"),
        action: AuditAction::Read,
        outcome: AuditOutcome::Allowed,
        purpose: Some(Purpose::Treatment),
        break_glass: true,
        patient: Some(pt.into()),
        resource_type: Some("Observation".into()),
        record_id: Some("obs-0001".into()),
        version: Some(1),
    };
    let bare_entry = AuditEntry {
        id: Hash32([0x5a; 32]),
        at: TimestampMs(1_700_000_004_500),
        actor_org: org("hospital-a"),
        actor_member: member("privacy-a"),
        action: AuditAction::LedgerView,
        outcome: AuditOutcome::Denied,
        purpose: None,
        break_glass: false,
        patient: None,
        resource_type: None,
        record_id: None,
        version: None,
    };
    let audit = Payload::AuditRecord(AuditRecord {
        node_org: org("hospital-a"),
        first_seq: 41,
        entries: vec![entry.clone(), bare_entry],
    });
    let study = Payload::RegisterStudy(RegisterStudy {
        study: "study-0001".into(),
        investigators: vec![(org("pharmacy-b"), member("pr-0002"))],
    });
    let client_keys = vec![
        ClientKey {
            kid: "backend-es384-1".into(),
            key: ClientKeyMaterial::EcP384 {
                x: (1..=48).collect(),
                y: (49..=96).collect(),
            },
        },
        ClientKey {
            kid: "backend-rs384-1".into(),
            key: ClientKeyMaterial::Rsa {
                n: (0..256).map(|i| (i as u8) | 0x80).collect(),
                e: vec![1, 0, 1],
            },
        },
    ];
    let set_client_keys = Payload::SetClientKeys(SetClientKeys {
        org: org("pharmacy-b"),
        member: member("pr-0002"),
        keys: client_keys.clone(),
    });
    let epc = |s: &str| medledger_gs1::ident::EpcUri::parse(s).expect("valid EPC");
    let pack_1 = "urn:epc:id:sgtin:0614141.812345.400";
    let pallet = "urn:epc:id:sscc:0614141.1234567890";
    let event_a = Hash32::digest(&[b"medledger vectors: EPCIS event a"]);
    let event_b = Hash32::digest(&[b"medledger vectors: EPCIS event b"]);
    let capture = Payload::SupplyCapture(SupplyCapture {
        commitments: vec![
            Commitment {
                hash_id: event_a,
                step: Step::Commission,
                epcs: vec![epc(pack_1)],
                parent: None,
                destination: None,
                lot: Some(medledger_gs1::ident::Lot::parse("LOT-1").expect("valid lot")),
                expiry: Some("271231".into()),
                corrects: Vec::new(),
            },
            Commitment {
                hash_id: event_b,
                step: Step::Pack,
                epcs: vec![epc(pack_1)],
                parent: Some(epc(pallet)),
                destination: None,
                lot: None,
                expiry: None,
                corrects: Vec::new(),
            },
            Commitment {
                hash_id: Hash32::digest(&[b"medledger vectors: EPCIS event c"]),
                step: Step::Ship,
                epcs: vec![epc(pallet)],
                parent: None,
                destination: Some(org("pharmacy-b")),
                lot: None,
                expiry: None,
                corrects: Vec::new(),
            },
            Commitment {
                hash_id: Hash32::digest(&[b"medledger vectors: EPCIS event d"]),
                step: Step::Observe {
                    disposition: "in_transit".into(),
                },
                epcs: vec![epc(pallet)],
                parent: None,
                destination: None,
                lot: None,
                expiry: None,
                corrects: vec![event_a],
            },
        ],
    });
    let recall = Payload::SupplyRecall(SupplyRecall::Lot {
        gtin: medledger_gs1::ident::Gtin::parse("80614141123458").expect("valid GTIN"),
        lot: medledger_gs1::ident::Lot::parse("LOT-1").expect("valid lot"),
    });
    let vote_gs1 = Payload::VoteGs1(VoteGs1 {
        org: org("pharmacy-b"),
        register: true,
        company_prefixes: vec!["0614142".into()],
        glns: vec!["0614142000004".into()],
    });
    let prescription_id = Hash32::digest(&[b"medledger vectors: MedicationRequest rx-0001"]);
    let fill_id = Hash32::digest(&[b"medledger vectors: MedicationDispense md-0001"]);
    let patch = Medication {
        product: RxCui(245134),
        ingredient: RxCui(4337),
        strength: Strength::McgPerHour {
            milli: 75_000,
            hours: 72,
        },
    };
    let prescribe = Payload::RxPrescribe(RxPrescribe {
        id: prescription_id,
        order: Order {
            patient: pt.into(),
            prescriber: member("pr-0002"),
            medication: patch,
            quantity: 10,
            days_supply: 30,
            repeats: 0,
            schedule: Schedule::II,
            valid_until: TimestampMs(1_702_592_000_000),
        },
    });
    let dispense = Payload::RxDispense(RxDispense {
        id: fill_id,
        prescription: prescription_id,
        quantity: 10,
        days_supply: 30,
        packs: vec![epc("urn:epc:id:sgtin:0614141.812345.401")],
    });
    let cancel = Payload::RxCancel(RxCancel {
        prescription: prescription_id,
    });
    let rx_params = RxParams {
        mme_caution: 40,
        ..RxParams::default()
    };
    let params_vote = Payload::RxParams(RxParamsVote { params: rx_params });
    // The smallest WebAssembly module: the vectors pin the encoding, not the check.
    let wasm = b"\0asm\x01\0\0\0".to_vec();
    let code_id = CodeId::of(&wasm);
    let contract = ContractName::new("coverage-basic").expect("valid contract name");
    let deploy = Payload::ContractDeploy(ContractDeploy {
        org: org("pharmacy-b"),
        name: contract.clone(),
        version: 2,
        interface: contracts::INTERFACE_V1,
        code: wasm,
    });
    let contract_vote = Payload::ContractVote(ContractVote {
        org: org("pharmacy-b"),
        name: contract.clone(),
        version: 2,
        code: Hash32(code_id.0),
    });
    let txs = vec![
        ("tx.register_member", register.clone(), sign(&admin_a, 0, &register)),
        ("tx.revoke_member", revoke.clone(), sign(&admin_a, 1, &revoke)),
        ("tx.rotate_key", rotate.clone(), sign(&admin_b, 0, &rotate)),
        // After the rotation, admin-b signs with the rotated key.
        ("tx.vote_org", vote_org.clone(), sign(&rotated, 0, &vote_org)),
        ("tx.vote_node", vote_node.clone(), sign(&rotated, 1, &vote_node)),
        ("tx.records_anchor", anchor.clone(), sign(&node, 0, &anchor)),
        ("tx.records_erase", erase.clone(), sign(&node, 1, &erase)),
        ("tx.consent_grant", grant.clone(), sign(&patient, 0, &grant)),
        (
            "tx.consent_revoke",
            revoke_consent.clone(),
            sign(&patient, 1, &revoke_consent),
        ),
        (
            "tx.consent_break_glass",
            break_glass.clone(),
            sign(&practitioner, 0, &break_glass),
        ),
        ("tx.audit_record", audit.clone(), sign(&node, 2, &audit)),
        ("tx.research_study", study.clone(), sign(&rotated, 2, &study)),
        (
            "tx.set_client_keys",
            set_client_keys.clone(),
            sign(&practitioner, 1, &set_client_keys),
        ),
        ("tx.supply_capture", capture.clone(), sign(&node, 3, &capture)),
        ("tx.supply_recall", recall.clone(), sign(&rotated, 3, &recall)),
        ("tx.supply_vote_gs1", vote_gs1.clone(), sign(&rotated, 4, &vote_gs1)),
        ("tx.rx_prescribe", prescribe.clone(), sign(&practitioner, 2, &prescribe)),
        ("tx.rx_dispense", dispense.clone(), sign(&rotated, 5, &dispense)),
        ("tx.rx_cancel", cancel.clone(), sign(&practitioner, 3, &cancel)),
        ("tx.rx_params", params_vote.clone(), sign(&admin_a, 2, &params_vote)),
        ("tx.contract_deploy", deploy.clone(), sign(&rotated, 6, &deploy)),
        (
            "tx.contract_vote",
            contract_vote.clone(),
            sign(&admin_a, 3, &contract_vote),
        ),
    ];

    let records = vec![
        record(
            "state.client_keys",
            Some(keys::client_keys(&org("pharmacy-b"), &member("pr-0002"))),
            ClientKeys(client_keys),
        ),
        record(
            "state.org_record",
            Some(keys::org(&org("hospital-a"))),
            OrgRecord {
                name: "Hospital A".into(),
                role: OrgRole::Hospital,
            },
        ),
        record(
            "state.member_record",
            Some(keys::member(&org("pharmacy-b"), &member("pr-0002"))),
            MemberRecord {
                kind: MemberKind::Practitioner,
                key: practitioner.public(),
                active: true,
            },
        ),
        record(
            "state.key_record",
            Some(keys::key(&admin_b.public())),
            KeyRecord {
                org: org("pharmacy-b"),
                member: member("admin-b"),
                kind: MemberKind::Admin,
                status: KeyStatus::Rotated,
            },
        ),
        record(
            "state.patient_record",
            Some(keys::patient(pt)),
            PatientRecord { org: org("hospital-a") },
        ),
        record(
            "state.node_record",
            Some(keys::node(&org("hospital-a"), &member("node-1"))),
            NodeRecord { added_at: Height(2) },
        ),
        record(
            "state.org_status",
            Some(keys::org_status(&org("hospital-a"))),
            OrgStatus {
                suspended: false,
                changed_at: Height(0),
                ballot: vec![org("pharmacy-b")],
            },
        ),
        record(
            "state.record_state",
            Some(keys::record("Observation", "obs-0001")),
            RecordState {
                custodian: org("hospital-a"),
                patient: Some(pt.into()),
                latest: 1,
                erased: true,
            },
        ),
        record(
            "state.version_anchor",
            Some(keys::record_version("Observation", "obs-0001", 1)),
            VersionAnchor {
                ciphertext: Hash32::digest(&[b"medledger vectors: ciphertext obs-0001"]),
                author: member("admin-a"),
                height: Height(3),
                timestamp: TimestampMs(1_700_000_015_000),
            },
        ),
        record(
            "state.erasure_record",
            Some(keys::erasure(pt, &org("hospital-a"))),
            ErasureRecord {
                height: Height(4),
                timestamp: TimestampMs(1_700_000_020_000),
                records: 2,
            },
        ),
        record(
            "state.consent_record",
            Some(keys::consent(pt, "consent-0002")),
            ConsentRecord {
                patient: pt.into(),
                grantee: Grantee::Practitioner {
                    org: org("pharmacy-b"),
                    member: member("pr-0002"),
                },
                scope: ConsentScope::Records(vec![("Observation".into(), "obs-0001".into())]),
                purposes: vec![Purpose::Treatment],
                expires: None,
                granted_at: TimestampMs(1_700_000_025_000),
                granted_height: Height(5),
                revoked_at: Some(TimestampMs(1_700_000_030_000)),
            },
        ),
        record(
            "state.consent_record_study",
            Some(keys::consent(pt, "consent-0003")),
            ConsentRecord {
                patient: pt.into(),
                grantee: Grantee::Study("study-0001".into()),
                scope: ConsentScope::Types(vec!["*".into()]),
                purposes: vec![Purpose::Research],
                expires: Some(TimestampMs(1_900_000_000_000)),
                granted_at: TimestampMs(1_700_000_035_000),
                granted_height: Height(7),
                revoked_at: None,
            },
        ),
        record(
            "state.study_record",
            Some(keys::study("study-0001")),
            StudyRecord {
                sponsor: org("pharmacy-b"),
                investigators: vec![(org("pharmacy-b"), member("pr-0002"))],
                updated_at: Height(6),
            },
        ),
        record(
            "state.break_glass_rules",
            Some(keys::break_glass_rules()),
            BreakGlassRules {
                patients_per_day: 5,
                grant_minutes: 30,
            },
        ),
        record(
            "state.supply_item",
            Some(keys::supply_item(pack_1)),
            ItemRecord {
                state: ItemState::InTransit { to: org("pharmacy-b") },
                owner: org("hospital-a"),
                parent: Some(pallet.into()),
                children: Vec::new(),
                gtin: Some("80614141123458".into()),
                lot: Some("LOT-1".into()),
                expiry: Some("271231".into()),
                suspect: false,
                quarantined: true,
                disposition: Some("damaged".into()),
                last_event: event_b,
                updated_at: Height(8),
            },
        ),
        record(
            "state.supply_item_parent",
            Some(keys::supply_item(pallet)),
            ItemRecord {
                state: ItemState::Dispensed,
                owner: org("pharmacy-b"),
                parent: None,
                children: vec![pack_1.into()],
                gtin: None,
                lot: None,
                expiry: None,
                suspect: true,
                quarantined: false,
                disposition: None,
                last_event: event_a,
                updated_at: Height(9),
            },
        ),
        record(
            "state.supply_event",
            Some(keys::supply_event(&event_a)),
            EventRecord {
                capturer: org("hospital-a"),
                height: Height(8),
                corrected_by: vec![event_b],
            },
        ),
        record(
            "state.supply_recall",
            Some(keys::supply_recall("80614141123458", "LOT-1")),
            RecallRecord {
                by: org("pharmacy-b"),
                height: Height(10),
            },
        ),
        record("state.gs1_prefix", Some(keys::gs1_prefix("0614141")), org("hospital-a")),
        record("state.gs1_under", Some(keys::gs1_under("061414")), 1u64),
        record(
            "state.gs1_ballot",
            Some(keys::gs1_ballot(&Hash32::digest(&[b"medledger vectors: a GS1 change"]))),
            {
                let mut b = Ballot::default();
                b.add(org("hospital-a")).expect("first vote");
                b
            },
        ),
        record(
            "state.rx_prescription",
            Some(keys::rx_prescription(&prescription_id)),
            PrescriptionRecord {
                order: Order {
                    patient: pt.into(),
                    prescriber: member("pr-0002"),
                    medication: Medication {
                        product: RxCui(1049621),
                        ingredient: RxCui(7804),
                        strength: Strength::Mg { milli: 5_000 },
                    },
                    quantity: 60,
                    days_supply: 30,
                    repeats: 2,
                    schedule: Schedule::III,
                    valid_until: TimestampMs(1_702_592_000_000),
                },
                org: org("hospital-a"),
                status: RxStatus::Cancelled { at: Height(12) },
                written: Height(11),
                fills: 1,
                dispensed: 60,
                pharmacy: Some(org("pharmacy-b")),
                last_fill: Some((19_700, 30)),
            },
        ),
        record(
            "state.rx_fill",
            Some(keys::rx_fill(&fill_id)),
            FillRecord {
                prescription: prescription_id,
                pharmacy: org("pharmacy-b"),
                quantity: 10,
                days_supply: 30,
                day: 19_700,
                packs: vec!["urn:epc:id:sgtin:0614141.812345.401".into()],
                milli_mme: 180_000,
                height: Height(12),
                table_version: "CDC 2022".into(),
                alerts: vec![
                    Alert::Mme {
                        level: MmeLevel::High,
                        milli_per_day: 210_000,
                        threshold: 90,
                    },
                    Alert::OpioidBenzodiazepine {
                        other: event_a,
                        days: 12,
                    },
                    Alert::SameDrug {
                        other: event_b,
                        days: 3,
                    },
                    Alert::MultipleProviders {
                        prescribers: 4,
                        pharmacies: 5,
                        days: 90,
                    },
                    Alert::EarlyRefill {
                        elapsed: 20,
                        supply: 30,
                    },
                ],
            },
        ),
        record(
            "state.rx_patient_window",
            Some(keys::rx_patient(pt)),
            PatientWindow {
                fills: vec![WindowFill {
                    fill: fill_id,
                    prescription: prescription_id,
                    ingredient: RxCui(6470),
                    class: DrugClass::Benzodiazepine,
                    milli_mme: 0,
                    start: 19_700,
                    end: 19_730,
                    prescriber_org: org("hospital-a"),
                    prescriber: member("pr-0002"),
                    pharmacy: org("pharmacy-b"),
                }],
            },
        ),
        record("state.rx_params", Some(keys::rx_params()), rx_params),
        record(
            "state.rx_params_ballot",
            Some(keys::rx_params_ballot(&RxParamsVote { params: rx_params }.proposal())),
            {
                let mut ballot = Ballot::default();
                ballot.add(org("pharmacy-b")).expect("a first vote");
                ballot
            },
        ),
        record(
            "state.contract_version",
            Some(contracts::keys::version(&org("pharmacy-b"), &contract, 2)),
            ContractVersion {
                code: Hash32(code_id.0),
                interface: contracts::INTERFACE_V1,
                deployed_at: Height(7),
                deployed_time: TimestampMs(1_700_000_070_000),
                deployer: member("admin-b"),
                activated_at: Some(Height(9)),
            },
        ),
        record(
            "state.contract_latest",
            Some(contracts::keys::latest(&org("pharmacy-b"), &contract)),
            2u64,
        ),
        record(
            "state.contract_ballot",
            Some(contracts::keys::ballot(&org("pharmacy-b"), &contract, 2, &code_id)),
            {
                let mut ballot = Ballot::default();
                ballot.add(org("hospital-a")).expect("a first vote");
                ballot
            },
        ),
        record(
            "state.contract_params",
            Some(contracts::keys::params()),
            ContractParams { require_vote: true },
        ),
        // Not stored under a key of its own: the unit of `audit.record`.
        record("audit_entry", None, entry),
    ];

    let height = Height(1);
    let leaves: Vec<LogLeaf> = txs[..BLOCK_TXS]
        .iter()
        .enumerate()
        .map(|(i, (_, _, tx))| LogLeaf {
            height,
            index_in_block: u32::try_from(i).expect("few txs"),
            tx_hash: tx.hash(),
            outcome: OutcomeCode::OK,
        })
        .collect();
    let tx_leaf_hashes: Vec<Hash32> = txs[..BLOCK_TXS]
        .iter()
        .map(|(_, _, tx)| medledger_merkle::leaf_hash(tx.hash().as_bytes()))
        .collect();
    let log_leaf_hashes: Vec<Hash32> = leaves
        .iter()
        .map(|l| medledger_merkle::leaf_hash(&l.encode()))
        .collect();

    let header = BlockHeader {
        chain_id: chain_id.clone(),
        height,
        parent_hash: genesis.hash(),
        proposer: validator.public(),
        timestamp: TimestampMs(1_700_000_005_000),
        tx_count: u32::try_from(BLOCK_TXS).expect("few txs"),
        tx_root: medledger_merkle::root_of(&tx_leaf_hashes),
        state_root: Hash32::digest(&[b"medledger vectors: state root"]),
        log_size: TreeSize(leaves.len() as u64),
        log_root: medledger_merkle::root_of(&log_leaf_hashes),
    };
    let round = 0;
    let commit = Commit {
        round,
        signatures: vec![CommitSig {
            validator: validator.public(),
            signature: validator.sign(&commit_sign_bytes(&chain_id, height, round, &header.hash())),
        }],
    };
    let block = Block {
        header: header.clone(),
        txs: txs[..BLOCK_TXS].iter().map(|(_, _, tx)| tx.clone()).collect(),
        commit: commit.clone(),
    };
    Fixture {
        genesis,
        txs,
        records,
        leaves,
        header,
        commit,
        block,
    }
}

/// The bytes `Genesis::hash` digests, spelled out so that the vector pins the preimage
/// layout and the initial state records, not only the final digest.
fn genesis_preimage(g: &Genesis) -> Vec<u8> {
    let mut out = GENESIS_HASH_DOMAIN.to_vec();
    g.chain_id.encode_to(&mut out);
    g.genesis_time.encode_to(&mut out);
    let writes = g.initial_writes();
    put::len(&mut out, writes.len());
    for (k, v) in &writes {
        put::bytes(&mut out, k);
        put::bytes(&mut out, v.as_deref().unwrap_or_default());
    }
    out
}

/// The vectors file as the current code produces it.
fn generate(f: &Fixture) -> Value {
    let mut vectors = Vec::new();

    let initial_state: Vec<Value> = f
        .genesis
        .initial_writes()
        .iter()
        .map(|(k, v)| {
            json!({
                "key": hex::encode(k),
                "value": hex::encode(v.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    vectors.push(json!({
        "name": "genesis",
        "type": "Genesis",
        "json": serde_json::to_value(&f.genesis).expect("genesis serialises"),
        "initial_state": initial_state,
        "hash_preimage": hex::encode(genesis_preimage(&f.genesis)),
        "hash": f.genesis.hash().to_hex(),
    }));

    for (name, payload, tx) in &f.txs {
        vectors.push(json!({
            "name": name,
            "type": "SignedTx",
            "kind": payload.kind().0,
            "body": hex::encode(payload.body()),
            "sign_bytes": hex::encode(tx.tx.sign_bytes()),
            "encoding": hex::encode(tx.encode()),
            "hash": tx.hash().to_hex(),
            "signature": tx.signature.to_hex(),
        }));
    }

    for r in &f.records {
        let mut v = json!({
            "name": r.name,
            "type": r.type_name,
            "encoding": hex::encode(&r.encoding),
        });
        if let Some(key) = &r.key {
            v["key"] = json!(hex::encode(key));
        }
        vectors.push(v);
    }

    for leaf in &f.leaves {
        let bytes = leaf.encode();
        vectors.push(json!({
            "name": format!("log_leaf.{}", leaf.index_in_block),
            "type": "LogLeaf",
            "encoding": hex::encode(&bytes),
            "hash": medledger_merkle::leaf_hash(&bytes).to_hex(),
        }));
    }

    vectors.push(json!({
        "name": "block_header",
        "type": "BlockHeader",
        "encoding": hex::encode(f.header.encode()),
        "hash": f.header.hash().to_hex(),
    }));

    let sig = &f.commit.signatures[0];
    vectors.push(json!({
        "name": "commit",
        "type": "Commit",
        "sign_bytes": hex::encode(commit_sign_bytes(
            &f.header.chain_id,
            f.header.height,
            f.commit.round,
            &f.header.hash(),
        )),
        "encoding": hex::encode(f.commit.encode()),
        "signature": sig.signature.to_hex(),
    }));

    vectors.push(json!({
        "name": "block",
        "type": "Block",
        "encoding": hex::encode(f.block.encode()),
        "hash": f.block.hash().to_hex(),
    }));

    json!({
        "description": "medledger frozen encodings, version 1. Generated by crates/ledger/tests/vectors.rs; \
            hex is lowercase. Keys are Ed25519 keys from 32-byte seeds [n; 32] (admin_a = 1, admin_b = 2, \
            validator = 3, new member = 4, rotated key = 5, patient = 6, practitioner = 7, node service key = 8). \
            One signed transaction of every kind; the block holds the first three. state.* are state records \
            with the state key they are stored under (key) and their value (encoding). Tx hash = SHA-256(\"medledger/tx/hash/v1\\0\" || \
            encode(Tx)); block hash = SHA-256(\"medledger/block/hash/v1\\0\" || encode(header)); leaf hash = \
            RFC 9162 SHA-256(0x00 || encode(LogLeaf)); tx_root = RFC 9162 root over leaf_hash(tx hash). \
            Changing any value here is a deliberate format change: regenerate with \
            MEDLEDGER_REGENERATE_VECTORS=1 and explain it in the commit.",
        "vectors": vectors,
    })
}

fn read_file() -> Value {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; generate it with {REGENERATE_VAR}=1 cargo test -p medledger-ledger --test vectors",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The stored vectors, or the freshly generated ones while regenerating (so that tests
/// running in parallel with the writer never read a half-written file).
fn stored_or_generated(f: &Fixture) -> Value {
    if regenerating() { generate(f) } else { read_file() }
}

fn vector<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["vectors"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("vector {name:?} is missing from the file"))
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector {}: field {field:?} is not a string", v["name"]));
    hex::decode(s).unwrap_or_else(|e| panic!("vector {}: field {field:?} is not hex: {e}", v["name"]))
}

/// Decodes `bytes`, checks that it is `expected` and re-encodes to exactly `bytes`.
fn assert_decodes_to<T: Decode + Encode + PartialEq + std::fmt::Debug>(name: &str, bytes: &[u8], expected: &T) {
    let decoded = T::decode(bytes).unwrap_or_else(|e| panic!("vector {name}: stored encoding does not decode: {e}"));
    assert_eq!(&decoded, expected, "vector {name}: decodes to a different value");
    assert_eq!(
        decoded.encode(),
        bytes,
        "vector {name}: does not re-encode to the same bytes"
    );
}

#[test]
fn encodings_match_the_frozen_vectors() {
    let generated = generate(&fixture());
    let path = vectors_path();
    if regenerating() {
        let mut text = serde_json::to_string_pretty(&generated).expect("vectors serialise");
        text.push('\n');
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        // Written to the real stderr, not through `eprintln!`, so that the test harness
        // does not swallow it: regenerating must never go unnoticed.
        let note = format!(
            "\n{REGENERATE_VAR}=1: wrote {}. This is a format change: explain it in the commit message.\n",
            path.display()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }

    let stored = read_file();
    let mut mismatches = Vec::new();
    if stored["description"] != generated["description"] {
        mismatches.push("description".to_owned());
    }
    let gen_vectors = generated["vectors"].as_array().expect("array");
    let stored_vectors = stored["vectors"].as_array().cloned().unwrap_or_default();
    let names = |vs: &[Value]| vs.iter().map(|v| v["name"].to_string()).collect::<Vec<_>>();
    if names(gen_vectors) != names(&stored_vectors) {
        mismatches.push(format!(
            "vector names: file has {:?}, code produces {:?}",
            names(&stored_vectors),
            names(gen_vectors)
        ));
    }
    for g in gen_vectors {
        let name = g["name"].as_str().unwrap_or_default();
        let Some(s) = stored_vectors.iter().find(|s| s["name"] == name) else {
            continue;
        };
        let fields = g
            .as_object()
            .expect("object")
            .keys()
            .chain(s.as_object().into_iter().flat_map(|o| o.keys()));
        let mut seen = std::collections::BTreeSet::new();
        for field in fields {
            if seen.insert(field) && g[field] != s[field] {
                mismatches.push(format!(
                    "{name}.{field}:\n    file: {}\n    code: {}",
                    s[field], g[field]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "the frozen encodings in {} differ from what the code produces:\n  {}\n\n\
         Changing a frozen encoding is a deliberate format change: it forks every existing \
         chain and makes stored data unreadable. If that is really intended, regenerate the \
         file with `{REGENERATE_VAR}=1 cargo test -p medledger-ledger --test vectors` and \
         explain the change in the commit message.",
        path.display(),
        mismatches.join("\n  ")
    );
}

#[test]
fn stored_encodings_decode_to_the_constructed_values() {
    let f = fixture();
    let file = stored_or_generated(&f);

    // Genesis: the JSON form parses back, and the hash is SHA-256 of the stored preimage.
    let g = vector(&file, "genesis");
    let parsed: Genesis = serde_json::from_value(g["json"].clone()).expect("genesis JSON parses");
    assert_eq!(parsed, f.genesis);
    let preimage = hex_field(g, "hash_preimage");
    assert_eq!(Hash32::digest(&[&preimage]).to_hex(), g["hash"].as_str().expect("hash"));
    assert_eq!(parsed.hash(), Hash32::digest(&[&preimage]));

    for r in &f.records {
        let v = vector(&file, r.name);
        (r.check)(&hex_field(v, "encoding"));
        match &r.key {
            Some(key) => assert_eq!(&hex_field(v, "key"), key, "vector {}: state key", r.name),
            None => assert!(v.get("key").is_none(), "vector {}: has no state key", r.name),
        }
    }

    for (name, payload, tx) in &f.txs {
        let v = vector(&file, name);
        let bytes = hex_field(v, "encoding");
        assert_decodes_to(name, &bytes, tx);
        let decoded = SignedTx::decode(&bytes).expect("checked above");
        assert_eq!(decoded.hash().to_hex(), v["hash"].as_str().expect("hash"));
        medledger_crypto::verify_tx(&decoded)
            .unwrap_or_else(|e| panic!("vector {name}: stored signature does not verify: {e}"));
        let kind = TxKind(u16::try_from(v["kind"].as_u64().expect("kind")).expect("u16 kind"));
        let body = hex_field(v, "body");
        let decoded_payload =
            Payload::decode(kind, &body).unwrap_or_else(|e| panic!("vector {name}: stored body does not decode: {e}"));
        assert_eq!(&decoded_payload, payload, "vector {name}: payload");
        assert_eq!(decoded_payload.body(), body, "vector {name}: body re-encodes");
        assert_eq!(decoded.tx.body, body, "vector {name}: body inside the envelope");
        assert_eq!(decoded.tx.sign_bytes(), hex_field(v, "sign_bytes"));
    }

    for leaf in &f.leaves {
        let name = format!("log_leaf.{}", leaf.index_in_block);
        let v = vector(&file, &name);
        let bytes = hex_field(v, "encoding");
        assert_decodes_to(&name, &bytes, leaf);
        assert_eq!(
            medledger_merkle::leaf_hash(&bytes).to_hex(),
            v["hash"].as_str().expect("hash")
        );
    }

    let v = vector(&file, "block_header");
    let bytes = hex_field(v, "encoding");
    assert_decodes_to("block_header", &bytes, &f.header);
    assert_eq!(
        BlockHeader::decode(&bytes).expect("checked above").hash().to_hex(),
        v["hash"].as_str().expect("hash")
    );

    let v = vector(&file, "commit");
    let bytes = hex_field(v, "encoding");
    assert_decodes_to("commit", &bytes, &f.commit);
    let commit = Commit::decode(&bytes).expect("checked above");
    let sig = &commit.signatures[0];
    medledger_crypto::verify(&sig.validator, &hex_field(v, "sign_bytes"), &sig.signature)
        .expect("stored commit signature verifies over the stored sign bytes");

    let v = vector(&file, "block");
    let bytes = hex_field(v, "encoding");
    assert_decodes_to("block", &bytes, &f.block);
    let block = Block::decode(&bytes).expect("checked above");
    assert_eq!(block.hash().to_hex(), v["hash"].as_str().expect("hash"));
    // The block is internally consistent: its header names the genesis as parent and
    // commits to exactly its transactions.
    assert_eq!(block.header.parent_hash, parsed.hash());
    let tx_leaves: Vec<Hash32> = block
        .txs
        .iter()
        .map(|t| medledger_merkle::leaf_hash(t.hash().as_bytes()))
        .collect();
    assert_eq!(block.header.tx_root, medledger_merkle::root_of(&tx_leaves));
    assert_eq!(block.header.tx_count as usize, block.txs.len());
}

#[test]
fn every_kind_has_a_vector() {
    let f = fixture();
    let mut seen = [false; KINDS];
    for (name, payload, tx) in &f.txs {
        assert_eq!(tx.tx.kind, payload.kind(), "{name}");
        assert!(!seen[kind_index(payload)], "{name}: a second {}", payload.name());
        seen[kind_index(payload)] = true;
    }
    assert!(seen.iter().all(|s| *s), "kinds without a vector: {seen:?}");
    let names: std::collections::BTreeSet<_> = f.records.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), f.records.len(), "record vector names are unique");
}
