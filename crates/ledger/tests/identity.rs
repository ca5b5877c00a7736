//! Identity rules as tables: given a state and a transaction, expect an outcome.
//!
//! Members and keys, then patients: a patient pseudonym is enrolled once, by the
//! custodian of its Patient record, and only that member acts as the patient.

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::policy::{AccessRequest, Basis, Denial, decide};
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::genesis::{GenesisAdmin, GenesisMember, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::rotate_key::RotateKey;
use medledger_ledger::identity::{MemberKind, OrgRole, PatientRecord, is_patient, patient_enrolment};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::records::erase::RecordsErase;
use medledger_ledger::{
    BlockContext, Event, Genesis, Overlay, Payload, Rejection, StateRead, TxError, VerifiedTx, apply_tx, execute_block,
};
use medledger_types::{ChainId, Hash32, Height, MemberId, Nonce, OrgId, SignedTx, TimestampMs, Tx};

struct World {
    chain: ChainId,
    admin_a: Keypair,
    admin_b: Keypair,
    admin_c: Keypair,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// What one transaction did: refused at the envelope, or included with its events or
/// its ledger error.
type Outcome = Result<Result<Vec<Event>, TxError>, Rejection>;

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}
fn member(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn world() -> World {
    let admin_a = Keypair::from_seed([1; 32]);
    let admin_b = Keypair::from_seed([2; 32]);
    let admin_c = Keypair::from_seed([200; 32]);
    let validator = Keypair::from_seed([3; 32]);
    let genesis = Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: ChainId::new("test-chain").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: vec![
            GenesisOrg {
                gs1: None,
                id: org("hospital-a"),
                name: "Hospital A".into(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: member("admin"),
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
                    member: member("admin"),
                    public_key: admin_b.public(),
                }],
                members: Vec::new(),
            },
            GenesisOrg {
                gs1: None,
                id: org("lab-c"),
                name: "Lab C".into(),
                role: OrgRole::Lab,
                admins: vec![GenesisAdmin {
                    member: member("admin"),
                    public_key: admin_c.public(),
                }],
                members: Vec::new(),
            },
        ],
        validators: vec![GenesisValidator {
            org: org("hospital-a"),
            public_key: validator.public(),
            power: 1,
        }],
    };
    genesis.validate().unwrap();
    let state = genesis
        .initial_writes()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect();
    World {
        chain: genesis.chain_id,
        admin_a,
        admin_b,
        admin_c,
        state,
    }
}

impl World {
    fn ctx(&self) -> BlockContext {
        BlockContext {
            chain_id: self.chain.clone(),
            height: Height(1),
            timestamp: TimestampMs(1),
        }
    }

    fn tx(&self, signer: &Keypair, nonce: u64, payload: Payload) -> VerifiedTx {
        let signed = signer.sign_tx(Tx {
            chain_id: self.chain.clone(),
            signer: signer.public(),
            nonce: Nonce(nonce),
            kind: payload.kind(),
            body: payload.body(),
        });
        VerifiedTx::verify(signed).unwrap()
    }

    /// Applies and commits one transaction.
    fn run(&mut self, signer: &Keypair, payload: Payload) -> Result<Result<(), TxError>, Rejection> {
        self.step(signer, payload).map(|r| r.map(drop))
    }

    /// Applies and commits one transaction, keeping its events.
    fn step(&mut self, signer: &Keypair, payload: Payload) -> Outcome {
        let nonce = medledger_ledger::next_nonce(&self.state, &signer.public()).0;
        let tx = self.tx(signer, nonce, payload);
        let ctx = self.ctx();
        let mut overlay = Overlay::new(&self.state);
        let applied = apply_tx(&mut overlay, &tx, &ctx)?;
        let writes = overlay.into_writes();
        for (k, v) in writes {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
        Ok(applied.error.map_or(Ok(applied.events), Err))
    }

    /// Runs `(name, signer, payload, expected)` steps in order, each against the state the
    /// previous ones left.
    fn run_table(&mut self, steps: Vec<(&str, Keypair, Payload, Outcome)>) {
        for (name, signer, payload, expected) in steps {
            assert_eq!(self.step(&signer, payload), expected, "step: {name}");
        }
    }
}

/// Version 1 of the Patient record `pseudonym`, anchored by `custodian` (signed by its
/// admin, who is also the author).
fn patient_record(custodian: &str, pseudonym: &str) -> Payload {
    Payload::RecordsAnchor(RecordsAnchor {
        custodian: org(custodian),
        anchors: vec![Anchor {
            resource_type: "Patient".into(),
            record_id: pseudonym.into(),
            version: 1,
            patient: Some(pseudonym.into()),
            ciphertext: Hash32::digest(&[pseudonym.as_bytes()]),
            author: member("admin"),
        }],
    })
}

fn register(org_id: &str, m: &str, kind: MemberKind, key: &Keypair) -> Payload {
    Payload::RegisterMember(RegisterMember {
        org: org(org_id),
        member: member(m),
        kind,
        public_key: key.public(),
    })
}

#[test]
fn identity_rules_table() {
    let doc = Keypair::from_seed([10; 32]);
    let doc2 = Keypair::from_seed([11; 32]);
    let patient = Keypair::from_seed([12; 32]);

    type Step = (
        &'static str,
        fn(&World) -> Keypair,
        Payload,
        Result<Result<(), TxError>, Rejection>,
    );
    let steps: Vec<Step> = vec![
        (
            "admin registers a practitioner",
            |w| w.admin_a.clone(),
            register("hospital-a", "dr-1", MemberKind::Practitioner, &doc),
            Ok(Ok(())),
        ),
        (
            "same member id twice",
            |w| w.admin_a.clone(),
            register("hospital-a", "dr-1", MemberKind::Practitioner, &doc2),
            Ok(Err(TxError::MemberExists {
                org: org("hospital-a"),
                member: member("dr-1"),
            })),
        ),
        (
            "same key twice",
            |w| w.admin_a.clone(),
            register("hospital-a", "dr-2", MemberKind::Practitioner, &doc),
            Ok(Err(TxError::KeyInUse(doc.public()))),
        ),
        (
            "another org's admin may not register here",
            |w| w.admin_b.clone(),
            register("hospital-a", "dr-9", MemberKind::Practitioner, &doc2),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "an admin may not revoke itself",
            |w| w.admin_a.clone(),
            Payload::RevokeMember(RevokeMember {
                org: org("hospital-a"),
                member: member("admin"),
            }),
            Ok(Err(TxError::SelfRevocation)),
        ),
        (
            "unknown org",
            |w| w.admin_a.clone(),
            register("nowhere", "x", MemberKind::Practitioner, &doc2),
            Ok(Err(TxError::UnknownOrg(org("nowhere")))),
        ),
        // A patient is enrolled only once the organisation holds the Patient record
        // (the rule behind `patient/{pseudonym}`; before it, any admin could enrol any id).
        (
            "no patient before its Patient record",
            |w| w.admin_a.clone(),
            register("hospital-a", "p-7f3a", MemberKind::Patient, &patient),
            Ok(Err(TxError::NotPatientCustodian)),
        ),
        (
            "the custodian anchors the Patient record",
            |w| w.admin_a.clone(),
            patient_record("hospital-a", "p-7f3a"),
            Ok(Ok(())),
        ),
        (
            "patient with own key",
            |w| w.admin_a.clone(),
            register("hospital-a", "p-7f3a", MemberKind::Patient, &patient),
            Ok(Ok(())),
        ),
        (
            "a practitioner is not an admin",
            |_| Keypair::from_seed([10; 32]),
            register("hospital-a", "dr-3", MemberKind::Practitioner, &doc2),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "member rotates own key",
            |_| Keypair::from_seed([10; 32]),
            Payload::RotateKey(RotateKey {
                org: org("hospital-a"),
                member: member("dr-1"),
                new_key: doc2.public(),
            }),
            Ok(Ok(())),
        ),
        (
            "rotated-out key can no longer sign",
            |_| Keypair::from_seed([10; 32]),
            Payload::RotateKey(RotateKey {
                org: org("hospital-a"),
                member: member("dr-1"),
                new_key: patient.public(),
            }),
            Err(Rejection::RevokedSigner(doc.public())),
        ),
        (
            "admin revokes the practitioner",
            |w| w.admin_a.clone(),
            Payload::RevokeMember(RevokeMember {
                org: org("hospital-a"),
                member: member("dr-1"),
            }),
            Ok(Ok(())),
        ),
        (
            "revoked key can no longer sign",
            |_| Keypair::from_seed([11; 32]),
            Payload::RotateKey(RotateKey {
                org: org("hospital-a"),
                member: member("dr-1"),
                new_key: Keypair::from_seed([13; 32]).public(),
            }),
            Err(Rejection::RevokedSigner(doc2.public())),
        ),
        (
            "revoking twice",
            |w| w.admin_a.clone(),
            Payload::RevokeMember(RevokeMember {
                org: org("hospital-a"),
                member: member("dr-1"),
            }),
            Ok(Err(TxError::MemberRevoked {
                org: org("hospital-a"),
                member: member("dr-1"),
            })),
        ),
        (
            "an old key cannot be registered again",
            |w| w.admin_a.clone(),
            register("hospital-a", "dr-4", MemberKind::Practitioner, &doc),
            Ok(Err(TxError::KeyInUse(doc.public()))),
        ),
        (
            "unknown signer",
            |_| Keypair::from_seed([99; 32]),
            register("hospital-a", "dr-5", MemberKind::Practitioner, &doc2),
            Err(Rejection::UnknownSigner(Keypair::from_seed([99; 32]).public())),
        ),
    ];

    let mut w = world();
    for (name, signer, payload, expected) in steps {
        let signer = signer(&w);
        assert_eq!(w.run(&signer, payload), expected, "step: {name}");
    }
}

#[test]
fn failed_tx_advances_nonce_but_writes_nothing_else() {
    let mut w = world();
    let before = w.state.clone();
    let r = w.run(
        &w.admin_b.clone(),
        register(
            "hospital-a",
            "dr-1",
            MemberKind::Practitioner,
            &Keypair::from_seed([5; 32]),
        ),
    );
    assert_eq!(r, Ok(Err(TxError::NotAuthorized)));
    let changed: Vec<_> = w
        .state
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(changed, vec![medledger_ledger::keys::nonce(&w.admin_b.public())]);
}

#[test]
fn nonces_must_be_exact() {
    let w = world();
    let p = register(
        "hospital-a",
        "dr-1",
        MemberKind::Practitioner,
        &Keypair::from_seed([5; 32]),
    );
    let ahead = w.tx(&w.admin_a, 1, p.clone());
    let err = execute_block(&w.state, &[ahead], &w.ctx()).unwrap_err();
    assert_eq!(
        err.reason,
        Rejection::NonceGap {
            expected: Nonce(0),
            got: Nonce(1)
        }
    );

    let first = w.tx(&w.admin_a, 0, p.clone());
    let replay = w.tx(&w.admin_a, 0, p);
    let err = execute_block(&w.state, &[first, replay], &w.ctx()).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(
        err.reason,
        Rejection::ReplayedNonce {
            expected: Nonce(1),
            got: Nonce(0)
        }
    );
}

#[test]
fn wrong_chain_and_bad_bodies_are_rejected() {
    let w = world();
    let mut bad = SignedTx {
        tx: Tx {
            chain_id: ChainId::new("other").unwrap(),
            signer: w.admin_a.public(),
            nonce: Nonce(0),
            kind: medledger_types::TxKind(0x0101),
            body: vec![],
        },
        signature: medledger_types::Signature([0; 64]),
    };
    bad = w.admin_a.sign_tx(bad.tx);
    let tx = VerifiedTx::verify(bad.clone()).unwrap();
    let err = execute_block(&w.state, &[tx], &w.ctx()).unwrap_err();
    assert!(matches!(err.reason, Rejection::WrongChain { .. }));

    bad.tx.chain_id = w.chain.clone();
    let tx = VerifiedTx::verify(w.admin_a.sign_tx(bad.tx.clone())).unwrap();
    let err = execute_block(&w.state, &[tx], &w.ctx()).unwrap_err();
    assert!(matches!(err.reason, Rejection::MalformedBody(_)));

    bad.tx.kind = medledger_types::TxKind(0xffff);
    let tx = VerifiedTx::verify(w.admin_a.sign_tx(bad.tx.clone())).unwrap();
    let err = execute_block(&w.state, &[tx], &w.ctx()).unwrap_err();
    assert_eq!(err.reason, Rejection::UnknownKind(medledger_types::TxKind(0xffff)));

    let mut forged = w.admin_a.sign_tx(bad.tx);
    forged.signature.0[10] ^= 0x40;
    assert_eq!(VerifiedTx::verify(forged), Err(Rejection::BadSignature));
}

#[test]
fn execution_is_deterministic() {
    let w = world();
    let txs: Vec<VerifiedTx> = (0..50)
        .map(|i| {
            let k = Keypair::from_seed([(i + 20) as u8; 32]);
            w.tx(
                &w.admin_a,
                i,
                register("hospital-a", &format!("m-{i}"), MemberKind::Device, &k),
            )
        })
        .collect();
    let a = execute_block(&w.state, &txs, &w.ctx()).unwrap();
    let b = execute_block(&w.state, &txs, &w.ctx()).unwrap();
    assert_eq!(a.writes, b.writes);
    assert_eq!(a.applied, b.applied);
    assert!(a.applied.iter().all(|x| x.outcome.is_ok()));
    // 50 members + 50 keys + 1 nonce
    assert_eq!(a.writes.len(), 101);
    let _ = StateRead::get(&w.state, b"nothing");
}

#[test]
fn genesis_validation_names_the_problem() {
    use medledger_ledger::consent::break_glass::BreakGlassRules;
    use medledger_ledger::genesis::GenesisError;
    let w = world();
    let empty = Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: w.chain.clone(),
        genesis_time: TimestampMs(0),
        orgs: vec![],
        validators: vec![],
    };
    assert_eq!(empty.validate(), Err(GenesisError::NoOrgs));

    let admin = |m: &str, seed: u8| GenesisAdmin {
        member: member(m),
        public_key: Keypair::from_seed([seed; 32]).public(),
    };
    let base = Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: w.chain.clone(),
        genesis_time: TimestampMs(0),
        orgs: vec![GenesisOrg {
            gs1: None,
            id: org("h"),
            name: "H".into(),
            role: OrgRole::Hospital,
            admins: vec![admin("admin", 1)],
            members: Vec::new(),
        }],
        validators: vec![GenesisValidator {
            org: org("h"),
            public_key: Keypair::from_seed([2; 32]).public(),
            power: 1,
        }],
    };
    assert_eq!(base.validate(), Ok(()));

    let mut twice = base.clone();
    twice.orgs[0].admins.push(admin("admin", 3));
    assert_eq!(
        twice.validate(),
        Err(GenesisError::DuplicateAdmin {
            org: org("h"),
            member: member("admin")
        })
    );

    let mut shared = base.clone();
    shared.validators[0].public_key = Keypair::from_seed([1; 32]).public();
    assert_eq!(
        shared.validate(),
        Err(GenesisError::DuplicateKey(Keypair::from_seed([1; 32]).public()))
    );

    let mut stray = base.clone();
    stray.validators[0].org = org("nowhere");
    assert!(matches!(stray.validate(), Err(GenesisError::ValidatorOrg { .. })));

    let mut weightless = base.clone();
    weightless.validators[0].power = 0;
    assert!(matches!(weightless.validate(), Err(GenesisError::ZeroPower(_))));

    // Patients are enrolled on the ledger by the custodian of their Patient record, never
    // named in genesis; other kinds of members are.
    let mut with_patient = base.clone();
    with_patient.orgs[0].members.push(GenesisMember {
        member: member("pt-1"),
        kind: MemberKind::Patient,
        public_key: Keypair::from_seed([4; 32]).public(),
    });
    assert_eq!(
        with_patient.validate(),
        Err(GenesisError::PatientInGenesis {
            org: org("h"),
            member: member("pt-1")
        })
    );
    with_patient.orgs[0].members[0].kind = MemberKind::Device;
    assert_eq!(with_patient.validate(), Ok(()));

    for (patients_per_day, grant_minutes) in [(0, 60), (1001, 60), (10, 0), (10, 24 * 60 + 1)] {
        let mut bad = base.clone();
        bad.break_glass = Some(BreakGlassRules {
            patients_per_day,
            grant_minutes,
        });
        assert_eq!(
            bad.validate(),
            Err(GenesisError::BadBreakGlass),
            "{patients_per_day} a day, {grant_minutes} minutes"
        );
    }
    let mut limits = base;
    limits.break_glass = Some(BreakGlassRules {
        patients_per_day: 1000,
        grant_minutes: 24 * 60,
    });
    assert_eq!(limits.validate(), Ok(()));
}

#[test]
fn outcome_names_match_the_errors() {
    let errors = [
        TxError::NotAuthorized,
        TxError::UnknownOrg(org("x")),
        TxError::MemberExists {
            org: org("x"),
            member: member("y"),
        },
        TxError::UnknownMember {
            org: org("x"),
            member: member("y"),
        },
        TxError::MemberRevoked {
            org: org("x"),
            member: member("y"),
        },
        TxError::KeyInUse(Keypair::from_seed([1; 32]).public()),
        TxError::SelfRevocation,
        TxError::UnknownRecord,
        TxError::VersionConflict { expected: 1, got: 2 },
        TxError::NotCustodian,
        TxError::RecordErased,
        TxError::PatientMismatch,
        TxError::NotThePatient,
        TxError::ConsentExists,
        TxError::UnknownConsent,
        TxError::ConsentRevoked,
        TxError::ConsentExpired,
        TxError::TooManyConsents,
        TxError::NoGovernance,
        TxError::OrgStatusUnchanged,
        TxError::AlreadyVoted,
        TxError::NotAPractitioner {
            org: org("x"),
            member: member("y"),
        },
        TxError::AuditGap { expected: 1, got: 2 },
        TxError::PatientEnrolled,
        TxError::NotPatientCustodian,
        TxError::NotAService {
            org: org("x"),
            member: member("y"),
        },
        TxError::NodeStatusUnchanged,
        TxError::BreakGlassLimit { per_day: 2 },
        TxError::PurposeNotForRole,
        TxError::UnknownPatient,
        TxError::EpcClone {
            index: 0,
            epc: "e".into(),
        },
        TxError::NotPrefixOwner {
            index: 0,
            epc: "e".into(),
        },
        TxError::UnknownEpc {
            index: 0,
            epc: "e".into(),
        },
        TxError::NotHeld {
            index: 0,
            epc: "e".into(),
        },
        TxError::NotShippedToYou {
            index: 0,
            epc: "e".into(),
        },
        TxError::ItemFinal {
            index: 0,
            epc: "e".into(),
        },
        TxError::ItemOnHold {
            index: 0,
            epc: "e".into(),
            hold: medledger_ledger::supply::Hold::Recalled,
        },
        TxError::Aggregation {
            index: 0,
            epc: "e".into(),
            reason: "r",
        },
        TxError::DuplicateEvent {
            index: 0,
            hash_id: medledger_types::Hash32::ZERO,
        },
        TxError::UnknownEvent {
            index: 0,
            hash_id: medledger_types::Hash32::ZERO,
        },
        TxError::AlreadyRecalled,
        TxError::TooManyCorrections {
            index: 0,
            hash_id: medledger_types::Hash32::ZERO,
        },
        TxError::Gs1Taken { id: "i".into() },
        TxError::Gs1NotRegistered { id: "i".into() },
        TxError::UnknownPrescription,
        TxError::PrescriptionExists,
        TxError::PrescriptionCancelled,
        TxError::PrescriptionExpired,
        TxError::FilledElsewhere,
        TxError::ScheduleIIRefill,
        TxError::NoRepeatsLeft,
        TxError::QuantityExceeded { remaining: 1 },
        TxError::FillExists,
        TxError::ScheduleIIRepeats,
        TxError::TooManyRepeats { max: 5 },
        TxError::ScheduleMismatch {
            least_strict: medledger_ledger::rx::Schedule::II,
        },
        TxError::NoMmeFactor { table: "t".into() },
        TxError::BadValidity { max_days: 1 },
        TxError::DrugTableInvalid,
        TxError::BadRxParams,
        TxError::RxParamsUnchanged,
        TxError::ContractCodeTooLarge { reason: "r".into() },
        TxError::ContractCodeFloat { reason: "r".into() },
        TxError::ContractCodeInvalid { reason: "r".into() },
        TxError::ContractCodeImports { reason: "r".into() },
        TxError::ContractCodeExports { reason: "r".into() },
        TxError::ContractCodeMemory { reason: "r".into() },
        TxError::ContractInterface { got: 2 },
        TxError::ContractNotPending,
    ];
    let mut codes = std::collections::BTreeSet::new();
    for e in &errors {
        assert!(codes.insert(e.code().0), "code {:?} used twice", e.code());
        assert_eq!(medledger_ledger::describe_outcome(e.code()), e.reason());
    }
    // The codes are stable and dense: 1 to 69, in declaration order.
    assert_eq!(codes, (1..=69).collect());
    assert_eq!(
        medledger_ledger::describe_outcome(medledger_types::OutcomeCode(70)),
        "unknown_error"
    );
    assert_eq!(
        medledger_ledger::describe_outcome(medledger_types::OutcomeCode::OK),
        "ok"
    );
}

fn consent_grant(patient: &str, id: &str) -> Payload {
    Payload::ConsentGrant(ConsentGrant {
        consent_id: id.into(),
        patient: patient.into(),
        grantee: Grantee::Org(org("pharmacy-b")),
        scope: ConsentScope::Types(vec!["*".into()]),
        purposes: vec![Purpose::Treatment],
        expires: None,
    })
}

fn consent_revoke(patient: &str, id: &str) -> Payload {
    Payload::ConsentRevoke(ConsentRevoke {
        patient: patient.into(),
        consent_id: id.into(),
    })
}

fn registered(o: &str, m: &str, kind: MemberKind) -> Outcome {
    Ok(Ok(vec![Event::MemberRegistered {
        org: org(o),
        member: member(m),
        kind,
    }]))
}

fn anchored(custodian: &str, pseudonym: &str) -> Outcome {
    Ok(Ok(vec![Event::RecordAnchored {
        resource_type: "Patient".into(),
        record_id: pseudonym.into(),
        version: 1,
        patient: Some(pseudonym.into()),
        custodian: org(custodian),
    }]))
}

fn granted(patient: &str, id: &str) -> Outcome {
    Ok(Ok(vec![Event::ConsentGranted {
        patient: patient.into(),
        consent_id: id.into(),
    }]))
}

fn revoked(patient: &str, id: &str) -> Outcome {
    Ok(Ok(vec![Event::ConsentRevoked {
        patient: patient.into(),
        consent_id: id.into(),
    }]))
}

/// Reads one of `pt-1`'s Observations, held by hospital-a, for treatment.
fn read_as(w: &World, reader_org: &str, reader_member: &str) -> Result<Basis, Denial> {
    let (reader_org, reader_member, custodian) = (org(reader_org), member(reader_member), org("hospital-a"));
    decide(
        &w.state,
        &AccessRequest {
            reader_org: &reader_org,
            reader_member: &reader_member,
            resource_type: "Observation",
            record_id: "o-1",
            patient: Some("pt-1"),
            custodian: &custodian,
            purpose: Purpose::Treatment,
            emergency: false,
        },
        TimestampMs(1),
    )
}

#[test]
fn a_patient_is_enrolled_once_by_the_custodian_of_its_patient_record() {
    let mut w = world();
    let (a, b) = (w.admin_a.clone(), w.admin_b.clone());
    let (k1, k2, k3, k4) = (
        Keypair::from_seed([30; 32]),
        Keypair::from_seed([31; 32]),
        Keypair::from_seed([32; 32]),
        Keypair::from_seed([33; 32]),
    );
    let erase_pt3 = Payload::RecordsErase(RecordsErase {
        custodian: org("hospital-a"),
        patient: "pt-3".into(),
        records: vec![("Patient".into(), "pt-3".into())],
    });
    w.run_table(vec![
        (
            "hospital-a anchors Patient/pt-1",
            a.clone(),
            patient_record("hospital-a", "pt-1"),
            anchored("hospital-a", "pt-1"),
        ),
        (
            "pharmacy-b cannot enrol a patient whose Patient record hospital-a holds",
            b.clone(),
            register("pharmacy-b", "pt-1", MemberKind::Patient, &k1),
            Ok(Err(TxError::NotPatientCustodian)),
        ),
        (
            "nor can hospital-a enrol a pseudonym without a Patient record",
            a.clone(),
            register("hospital-a", "pt-2", MemberKind::Patient, &k1),
            Ok(Err(TxError::NotPatientCustodian)),
        ),
        (
            "the custodian enrols pt-1",
            a.clone(),
            register("hospital-a", "pt-1", MemberKind::Patient, &k1),
            registered("hospital-a", "pt-1", MemberKind::Patient),
        ),
        // In its own organisation the member id is the pseudonym, so a second enrolment
        // there collides with the member first.
        (
            "the custodian enrols pt-1 again",
            a.clone(),
            register("hospital-a", "pt-1", MemberKind::Patient, &k2),
            Ok(Err(TxError::MemberExists {
                org: org("hospital-a"),
                member: member("pt-1"),
            })),
        ),
        (
            "another organisation enrols pt-1 again",
            b.clone(),
            register("pharmacy-b", "pt-1", MemberKind::Patient, &k2),
            Ok(Err(TxError::PatientEnrolled)),
        ),
        (
            "a third organisation enrols pt-1 again",
            w.admin_c.clone(),
            register("lab-c", "pt-1", MemberKind::Patient, &k2),
            Ok(Err(TxError::PatientEnrolled)),
        ),
        (
            "hospital-a anchors Patient/pt-3",
            a.clone(),
            patient_record("hospital-a", "pt-3"),
            anchored("hospital-a", "pt-3"),
        ),
        (
            "and erases it",
            a.clone(),
            erase_pt3,
            Ok(Ok(vec![Event::RecordsErased {
                custodian: org("hospital-a"),
                patient: "pt-3".into(),
                records: 1,
            }])),
        ),
        (
            "an erased Patient record enrols nobody",
            a.clone(),
            register("hospital-a", "pt-3", MemberKind::Patient, &k3),
            Ok(Err(TxError::NotPatientCustodian)),
        ),
        (
            "only an admin enrols, not the custodian's other keys",
            k1.clone(),
            register("hospital-a", "pt-4", MemberKind::Patient, &k4),
            Ok(Err(TxError::NotAuthorized)),
        ),
    ]);
    assert_eq!(
        patient_enrolment(&w.state, "pt-1"),
        Some(PatientRecord { org: org("hospital-a") })
    );
    // Refused enrolments leave no trace.
    for pseudonym in ["pt-2", "pt-3", "pt-4"] {
        assert_eq!(patient_enrolment(&w.state, pseudonym), None, "{pseudonym}");
    }
    assert!(is_patient(&w.state, &org("hospital-a"), &member("pt-1"), "pt-1"));
}

#[test]
fn a_namesake_in_another_organisation_cannot_act_as_the_patient() {
    let mut w = world();
    let (a, b, c) = (w.admin_a.clone(), w.admin_b.clone(), w.admin_c.clone());
    let patient = Keypair::from_seed([40; 32]);
    let namesake_practitioner = Keypair::from_seed([41; 32]);
    let namesake_device = Keypair::from_seed([42; 32]);
    w.run_table(vec![
        (
            "hospital-a anchors Patient/pt-1",
            a.clone(),
            patient_record("hospital-a", "pt-1"),
            anchored("hospital-a", "pt-1"),
        ),
        (
            "hospital-a enrols pt-1",
            a.clone(),
            register("hospital-a", "pt-1", MemberKind::Patient, &patient),
            registered("hospital-a", "pt-1", MemberKind::Patient),
        ),
        // Member ids are per organisation: other kinds of members may share the id.
        (
            "pharmacy-b registers a practitioner called pt-1",
            b.clone(),
            register("pharmacy-b", "pt-1", MemberKind::Practitioner, &namesake_practitioner),
            registered("pharmacy-b", "pt-1", MemberKind::Practitioner),
        ),
        (
            "lab-c registers a device called pt-1",
            c.clone(),
            register("lab-c", "pt-1", MemberKind::Device, &namesake_device),
            registered("lab-c", "pt-1", MemberKind::Device),
        ),
        (
            "the practitioner namesake grants a consent for pt-1",
            namesake_practitioner.clone(),
            consent_grant("pt-1", "c-1"),
            Ok(Err(TxError::NotThePatient)),
        ),
        (
            "the device namesake grants a consent for pt-1",
            namesake_device.clone(),
            consent_grant("pt-1", "c-1"),
            Ok(Err(TxError::NotThePatient)),
        ),
        (
            "the patient grants",
            patient.clone(),
            consent_grant("pt-1", "c-1"),
            granted("pt-1", "c-1"),
        ),
        (
            "the practitioner namesake revokes it",
            namesake_practitioner.clone(),
            consent_revoke("pt-1", "c-1"),
            Ok(Err(TxError::NotThePatient)),
        ),
        (
            "the device namesake revokes it",
            namesake_device.clone(),
            consent_revoke("pt-1", "c-1"),
            Ok(Err(TxError::NotThePatient)),
        ),
    ]);
    assert_eq!(medledger_ledger::consent::active(&w.state, "pt-1").len(), 1);

    // Reading: only the enrolled patient reads its records as its own. The practitioner
    // namesake is a pharmacy-b member, covered by pt-1's consent to pharmacy-b like any
    // other of its staff; the device namesake is nobody's staff and has no consent.
    assert_eq!(read_as(&w, "hospital-a", "pt-1"), Ok(Basis::OwnRecord));
    assert_eq!(read_as(&w, "pharmacy-b", "pt-1"), Ok(Basis::Consent("c-1".into())));
    assert_eq!(read_as(&w, "lab-c", "pt-1"), Err(Denial::NoConsent));
    assert!(!is_patient(&w.state, &org("pharmacy-b"), &member("pt-1"), "pt-1"));
    assert!(!is_patient(&w.state, &org("lab-c"), &member("pt-1"), "pt-1"));
    assert_eq!(w.step(&patient, consent_revoke("pt-1", "c-1")), revoked("pt-1", "c-1"));
    assert_eq!(read_as(&w, "pharmacy-b", "pt-1"), Err(Denial::NoConsent));
}

#[test]
fn the_patient_key_is_rotated_by_the_patient_or_its_custodian_admin() {
    let mut w = world();
    let (a, b) = (w.admin_a.clone(), w.admin_b.clone());
    let (k0, k1, k2, k3) = (
        Keypair::from_seed([50; 32]),
        Keypair::from_seed([51; 32]),
        Keypair::from_seed([52; 32]),
        Keypair::from_seed([53; 32]),
    );
    let rotate = |new_key: &Keypair| {
        Payload::RotateKey(RotateKey {
            org: org("hospital-a"),
            member: member("pt-1"),
            new_key: new_key.public(),
        })
    };
    let rotated = |old: &Keypair, new: &Keypair| -> Outcome {
        Ok(Ok(vec![Event::KeyRotated {
            org: org("hospital-a"),
            member: member("pt-1"),
            old_key: old.public(),
            new_key: new.public(),
        }]))
    };
    w.run_table(vec![
        (
            "hospital-a anchors Patient/pt-1",
            a.clone(),
            patient_record("hospital-a", "pt-1"),
            anchored("hospital-a", "pt-1"),
        ),
        (
            "hospital-a enrols pt-1",
            a.clone(),
            register("hospital-a", "pt-1", MemberKind::Patient, &k0),
            registered("hospital-a", "pt-1", MemberKind::Patient),
        ),
        (
            "the patient rotates its own key",
            k0.clone(),
            rotate(&k1),
            rotated(&k0, &k1),
        ),
        (
            "the old key cannot grant",
            k0.clone(),
            consent_grant("pt-1", "c-1"),
            Err(Rejection::RevokedSigner(k0.public())),
        ),
        (
            "the new key grants",
            k1.clone(),
            consent_grant("pt-1", "c-1"),
            granted("pt-1", "c-1"),
        ),
        (
            "another organisation's admin cannot rotate it",
            b.clone(),
            rotate(&k3),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "the enrolling organisation's admin rotates it",
            a.clone(),
            rotate(&k2),
            rotated(&k1, &k2),
        ),
        (
            "the key rotated out by the admin cannot revoke",
            k1.clone(),
            consent_revoke("pt-1", "c-1"),
            Err(Rejection::RevokedSigner(k1.public())),
        ),
        (
            "the key rotated out by the admin cannot grant",
            k1.clone(),
            consent_grant("pt-1", "c-2"),
            Err(Rejection::RevokedSigner(k1.public())),
        ),
        (
            "the current key revokes",
            k2.clone(),
            consent_revoke("pt-1", "c-1"),
            revoked("pt-1", "c-1"),
        ),
    ]);
    // The identity is unchanged by rotation: same member, same enrolment.
    assert!(is_patient(&w.state, &org("hospital-a"), &member("pt-1"), "pt-1"));
    assert_eq!(read_as(&w, "hospital-a", "pt-1"), Ok(Basis::OwnRecord));
}

/// An Observation of `patient`, anchored by `custodian`.
fn observation_record(custodian: &str, id: &str, patient: &str) -> Payload {
    Payload::RecordsAnchor(RecordsAnchor {
        custodian: org(custodian),
        anchors: vec![Anchor {
            resource_type: "Observation".into(),
            record_id: id.into(),
            version: 1,
            patient: Some(patient.into()),
            ciphertext: Hash32::digest(&[id.as_bytes()]),
            author: member("admin"),
        }],
    })
}

#[test]
fn a_pseudonym_seen_in_a_record_cannot_be_claimed_by_another_organisation() {
    let mut w = world();
    let (a, b) = (w.admin_a.clone(), w.admin_b.clone());
    let thief = Keypair::from_seed([60; 32]);
    w.run_table(vec![
        (
            "a record naming a patient with no Patient record is refused",
            a.clone(),
            observation_record("hospital-a", "o-9", "pt-9"),
            Ok(Err(TxError::UnknownPatient)),
        ),
        (
            "so another organisation learns nothing to claim, and its own Patient is its own",
            b.clone(),
            patient_record("pharmacy-b", "pt-7"),
            anchored("pharmacy-b", "pt-7"),
        ),
        (
            "hospital-a anchors Patient/pt-9 and its Observation in one transaction",
            a.clone(),
            Payload::RecordsAnchor(RecordsAnchor {
                custodian: org("hospital-a"),
                anchors: vec![
                    Anchor {
                        resource_type: "Observation".into(),
                        record_id: "o-9".into(),
                        version: 1,
                        patient: Some("pt-9".into()),
                        ciphertext: Hash32::digest(&[b"o-9"]),
                        author: member("admin"),
                    },
                    Anchor {
                        resource_type: "Patient".into(),
                        record_id: "pt-9".into(),
                        version: 1,
                        patient: Some("pt-9".into()),
                        ciphertext: Hash32::digest(&[b"pt-9"]),
                        author: member("admin"),
                    },
                ],
            }),
            Ok(Ok(vec![
                Event::RecordAnchored {
                    resource_type: "Observation".into(),
                    record_id: "o-9".into(),
                    version: 1,
                    patient: Some("pt-9".into()),
                    custodian: org("hospital-a"),
                },
                Event::RecordAnchored {
                    resource_type: "Patient".into(),
                    record_id: "pt-9".into(),
                    version: 1,
                    patient: Some("pt-9".into()),
                    custodian: org("hospital-a"),
                },
            ])),
        ),
        (
            "pharmacy-b cannot anchor a Patient under the now public pseudonym",
            b.clone(),
            patient_record("pharmacy-b", "pt-9"),
            Ok(Err(TxError::NotCustodian)),
        ),
        (
            "nor enrol it",
            b.clone(),
            register("pharmacy-b", "pt-9", MemberKind::Patient, &thief),
            Ok(Err(TxError::NotPatientCustodian)),
        ),
        (
            "another organisation may hold its own records of the patient",
            b.clone(),
            observation_record("pharmacy-b", "o-10", "pt-9"),
            Ok(Ok(vec![Event::RecordAnchored {
                resource_type: "Observation".into(),
                record_id: "o-10".into(),
                version: 1,
                patient: Some("pt-9".into()),
                custodian: org("pharmacy-b"),
            }])),
        ),
    ]);
}

#[test]
fn a_revoked_patient_is_given_a_new_key_by_the_enrolling_organisation_only() {
    let mut w = world();
    let (a, b) = (w.admin_a.clone(), w.admin_b.clone());
    let (k0, k1, k2) = (
        Keypair::from_seed([70; 32]),
        Keypair::from_seed([71; 32]),
        Keypair::from_seed([72; 32]),
    );
    let rotate = |new_key: &Keypair| {
        Payload::RotateKey(RotateKey {
            org: org("hospital-a"),
            member: member("pt-1"),
            new_key: new_key.public(),
        })
    };
    w.run_table(vec![
        (
            "anchor",
            a.clone(),
            patient_record("hospital-a", "pt-1"),
            anchored("hospital-a", "pt-1"),
        ),
        (
            "enrol",
            a.clone(),
            register("hospital-a", "pt-1", MemberKind::Patient, &k0),
            registered("hospital-a", "pt-1", MemberKind::Patient),
        ),
        (
            "grant",
            k0.clone(),
            consent_grant("pt-1", "c-1"),
            granted("pt-1", "c-1"),
        ),
        (
            "the key is lost: the enrolling organisation revokes it",
            a.clone(),
            Payload::RevokeMember(RevokeMember {
                org: org("hospital-a"),
                member: member("pt-1"),
            }),
            Ok(Ok(vec![Event::MemberRevoked {
                org: org("hospital-a"),
                member: member("pt-1"),
            }])),
        ),
        (
            "the revoked key signs nothing",
            k0.clone(),
            consent_revoke("pt-1", "c-1"),
            Err(Rejection::RevokedSigner(k0.public())),
        ),
        (
            "another organisation cannot give the patient a key",
            b.clone(),
            rotate(&k2),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "the revoked key cannot give itself a new one",
            k0.clone(),
            rotate(&k2),
            Err(Rejection::RevokedSigner(k0.public())),
        ),
        (
            "the enrolling organisation gives the patient a new key",
            a.clone(),
            rotate(&k1),
            Ok(Ok(vec![Event::KeyRotated {
                org: org("hospital-a"),
                member: member("pt-1"),
                old_key: k0.public(),
                new_key: k1.public(),
            }])),
        ),
        (
            "and the patient withdraws the old consent with it",
            k1.clone(),
            consent_revoke("pt-1", "c-1"),
            revoked("pt-1", "c-1"),
        ),
        (
            "the old key stays revoked",
            k0.clone(),
            consent_grant("pt-1", "c-2"),
            Err(Rejection::RevokedSigner(k0.public())),
        ),
    ]);
    assert!(is_patient(&w.state, &org("hospital-a"), &member("pt-1"), "pt-1"));
}

#[test]
fn client_keys_are_set_by_the_member_or_its_admin() {
    use medledger_ledger::identity::set_client_keys::{ClientKey, ClientKeyMaterial, SetClientKeys, client_keys};
    let mut w = world();
    let doc = Keypair::from_seed([40; 32]);
    assert_eq!(
        w.run(
            &w.admin_a.clone(),
            register("hospital-a", "dr-k", MemberKind::Practitioner, &doc)
        ),
        Ok(Ok(()))
    );
    let es384 = |kid: &str| ClientKey {
        kid: kid.into(),
        key: ClientKeyMaterial::EcP384 {
            x: vec![7; 48],
            y: vec![9; 48],
        },
    };
    let set = |keys: Vec<ClientKey>| {
        Payload::SetClientKeys(SetClientKeys {
            org: org("hospital-a"),
            member: member("dr-k"),
            keys,
        })
    };
    // The member itself, then its admin.
    assert_eq!(w.run(&doc, set(vec![es384("k1")])), Ok(Ok(())));
    let keys = client_keys(&w.state, &org("hospital-a"), &member("dr-k"));
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key.alg(), "ES384");
    assert_eq!(
        w.run(&w.admin_a.clone(), set(vec![es384("k1"), es384("k2")])),
        Ok(Ok(()))
    );
    assert_eq!(client_keys(&w.state, &org("hospital-a"), &member("dr-k")).len(), 2);
    // Another organisation's admin, or a stranger, may not.
    assert_eq!(w.run(&w.admin_b.clone(), set(vec![])), Ok(Err(TxError::NotAuthorized)));
    assert_eq!(client_keys(&w.state, &org("hospital-a"), &member("dr-k")).len(), 2);
    // Malformed sets are refused before they reach state: a repeated kid, a weak RSA key.
    let body = set(vec![es384("k1"), es384("k1")]).body();
    assert!(Payload::decode(medledger_ledger::identity::set_client_keys::KIND, &body).is_err());
    let weak = set(vec![ClientKey {
        kid: "rsa".into(),
        key: ClientKeyMaterial::Rsa {
            n: vec![0xc1; 128],
            e: vec![1, 0, 1],
        },
    }]);
    assert!(Payload::decode(medledger_ledger::identity::set_client_keys::KIND, &weak.body()).is_err());
    // An empty set removes them; a revoked member sets none.
    assert_eq!(w.run(&doc, set(vec![])), Ok(Ok(())));
    assert!(client_keys(&w.state, &org("hospital-a"), &member("dr-k")).is_empty());
    assert_eq!(
        w.run(
            &w.admin_a.clone(),
            Payload::RevokeMember(RevokeMember {
                org: org("hospital-a"),
                member: member("dr-k"),
            })
        ),
        Ok(Ok(()))
    );
    assert_eq!(
        w.run(&w.admin_a.clone(), set(vec![es384("k3")])),
        Ok(Err(TxError::MemberRevoked {
            org: org("hospital-a"),
            member: member("dr-k"),
        }))
    );
}
