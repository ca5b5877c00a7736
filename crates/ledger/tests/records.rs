//! Records, consent, the access policy and audit, as tables of transactions and outcomes.

mod common;

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::audit::record::AuditRecord;
use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::policy::{AccessRequest, Basis, Denial, decide};
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::genesis::{GenesisAdmin, GenesisMember, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::records::erase::RecordsErase;
use medledger_ledger::records::{record_state, version_anchor};
use medledger_ledger::{BlockContext, Genesis, Payload, Rejection, TxError};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};

struct World {
    chain: ChainId,
    admin_a: Keypair,
    admin_b: Keypair,
    node_a: Keypair,
    node_b: Keypair,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    now: u64,
}

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}
fn member(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn world() -> World {
    let admin_a = Keypair::from_seed([1; 32]);
    let admin_b = Keypair::from_seed([2; 32]);
    let node_a = Keypair::from_seed([4; 32]);
    let node_b = Keypair::from_seed([5; 32]);
    let mk = |id: &str, admin: &Keypair, node: &Keypair| GenesisOrg {
        gs1: None,
        id: org(id),
        name: id.into(),
        role: OrgRole::Hospital,
        admins: vec![GenesisAdmin {
            member: member("admin"),
            public_key: admin.public(),
        }],
        members: vec![GenesisMember {
            member: member("node0"),
            kind: MemberKind::Service,
            public_key: node.public(),
        }],
    };
    let genesis = Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: ChainId::new("test-chain").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: vec![mk("hospital-a", &admin_a, &node_a), mk("clinic-b", &admin_b, &node_b)],
        validators: vec![GenesisValidator {
            org: org("hospital-a"),
            public_key: Keypair::from_seed([3; 32]).public(),
            power: 1,
        }],
    };
    genesis.validate().unwrap();
    World {
        chain: genesis.chain_id.clone(),
        state: genesis
            .initial_writes()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect(),
        admin_a,
        admin_b,
        node_a,
        node_b,
        now: 1000,
    }
}

impl World {
    fn run(&mut self, signer: &Keypair, payload: Payload) -> Result<Result<(), TxError>, Rejection> {
        self.now += 1000;
        let ctx = BlockContext {
            chain_id: self.chain.clone(),
            height: Height(self.now / 1000),
            timestamp: TimestampMs(self.now),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)?;
        Ok(applied.error.map_or(Ok(()), Err))
    }

    fn register(&mut self, m: &str, kind: MemberKind) -> Keypair {
        self.register_at("hospital-a", m, kind)
    }

    /// Enrols patient `pseudonym` at `at`: its node anchors the Patient record, then its
    /// admin registers the patient (enrolment needs the Patient record held there).
    fn enrol_at(&mut self, at: &str, pseudonym: &str) -> Keypair {
        let node = if at == "hospital-a" {
            self.node_a.clone()
        } else {
            self.node_b.clone()
        };
        let mut record = anchor("Patient", pseudonym, 1, Some(pseudonym));
        record.author = member("node0");
        self.run(&node, anchors(at, vec![record])).unwrap().unwrap();
        self.register_at(at, pseudonym, MemberKind::Patient)
    }

    fn register_at(&mut self, at: &str, m: &str, kind: MemberKind) -> Keypair {
        let key = Keypair::from_seed(*Hash32::digest(&[at.as_bytes(), m.as_bytes()]).as_bytes());
        let admin = if at == "hospital-a" {
            self.admin_a.clone()
        } else {
            self.admin_b.clone()
        };
        self.run(
            &admin,
            Payload::RegisterMember(RegisterMember {
                org: org(at),
                member: member(m),
                kind,
                public_key: key.public(),
            }),
        )
        .unwrap()
        .unwrap();
        key
    }
}

fn anchor(t: &str, id: &str, v: u64, patient: Option<&str>) -> Anchor {
    Anchor {
        resource_type: t.into(),
        record_id: id.into(),
        version: v,
        patient: patient.map(str::to_string),
        ciphertext: Hash32::digest(&[id.as_bytes(), &v.to_le_bytes()]),
        author: member("dr-a"),
    }
}

fn anchors(custodian: &str, a: Vec<Anchor>) -> Payload {
    Payload::RecordsAnchor(RecordsAnchor {
        custodian: org(custodian),
        anchors: a,
    })
}

fn grant(
    patient: &str,
    id: &str,
    grantee: Grantee,
    scope: ConsentScope,
    purposes: Vec<Purpose>,
    expires: Option<u64>,
) -> Payload {
    Payload::ConsentGrant(ConsentGrant {
        consent_id: id.into(),
        patient: patient.into(),
        grantee,
        scope,
        purposes,
        expires: expires.map(TimestampMs),
    })
}

fn types(t: &[&str]) -> ConsentScope {
    ConsentScope::Types(t.iter().map(|s| s.to_string()).collect())
}

#[test]
fn anchors_go_in_order_by_the_custodian_only() {
    let mut w = world();
    w.register("dr-a", MemberKind::Practitioner);
    let (na, nb) = (w.node_a.clone(), w.node_b.clone());
    // A record cannot name a patient whose Patient record is not on the ledger.
    assert_eq!(
        w.run(
            &na,
            anchors("hospital-a", vec![anchor("Observation", "o1", 1, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::UnknownPatient)
    );
    // Two versions in one transaction, with the Patient they name.
    assert_eq!(
        w.run(
            &na,
            anchors(
                "hospital-a",
                vec![
                    anchor("Observation", "o1", 1, Some("p1")),
                    anchor("Observation", "o1", 2, Some("p1")),
                    anchor("Patient", "p1", 1, Some("p1")),
                ]
            )
        )
        .unwrap(),
        Ok(())
    );
    let s = record_state(&w.state, "Observation", "o1").unwrap();
    assert_eq!((s.latest, s.erased, s.patient.as_deref()), (2, false, Some("p1")));
    assert!(version_anchor(&w.state, "Observation", "o1", 2).is_some());
    // Out of order, another patient, another custodian, a stranger's key: refused.
    assert_eq!(
        w.run(
            &na,
            anchors("hospital-a", vec![anchor("Observation", "o1", 4, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::VersionConflict { expected: 3, got: 4 })
    );
    assert_eq!(
        w.run(
            &na,
            anchors("hospital-a", vec![anchor("Observation", "o1", 3, Some("p2"))])
        )
        .unwrap(),
        Err(TxError::PatientMismatch)
    );
    assert_eq!(
        w.run(
            &na,
            anchors("hospital-a", vec![anchor("Observation", "o2", 2, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::VersionConflict { expected: 1, got: 2 })
    );
    assert_eq!(
        w.run(
            &nb,
            anchors("hospital-a", vec![anchor("Observation", "o3", 1, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::NotAuthorized)
    );
    let dr = w.register("dr-x", MemberKind::Practitioner);
    assert_eq!(
        w.run(
            &dr,
            anchors("hospital-a", vec![anchor("Observation", "o3", 1, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::NotAuthorized),
        "a practitioner's own key cannot anchor; the node's service key does"
    );
    // All or nothing: a good anchor with a bad one writes nothing.
    assert!(
        w.run(
            &na,
            anchors(
                "hospital-a",
                vec![
                    anchor("Observation", "o4", 1, Some("p1")),
                    anchor("Observation", "o1", 9, Some("p1"))
                ]
            )
        )
        .unwrap()
        .is_err()
    );
    assert!(record_state(&w.state, "Observation", "o4").is_none());
}

#[test]
fn erasure_marks_records_and_blocks_new_versions() {
    let mut w = world();
    w.register("dr-a", MemberKind::Practitioner);
    let (na, nb) = (w.node_a.clone(), w.node_b.clone());
    w.run(
        &na,
        anchors(
            "hospital-a",
            vec![
                anchor("Patient", "p1", 1, Some("p1")),
                anchor("Observation", "o1", 1, Some("p1")),
            ],
        ),
    )
    .unwrap()
    .unwrap();
    let erase = |records: Vec<(&str, &str)>, patient: &str| {
        Payload::RecordsErase(RecordsErase {
            custodian: org("hospital-a"),
            patient: patient.into(),
            records: records
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        })
    };
    assert_eq!(
        w.run(&na, erase(vec![("Observation", "o1")], "p2")).unwrap(),
        Err(TxError::PatientMismatch)
    );
    assert_eq!(
        w.run(&nb, erase(vec![("Observation", "o1")], "p1")).unwrap(),
        Err(TxError::NotAuthorized)
    );
    assert_eq!(
        w.run(&na, erase(vec![("Observation", "nope")], "p1")).unwrap(),
        Err(TxError::UnknownRecord)
    );
    assert_eq!(
        w.run(&na, erase(vec![("Patient", "p1"), ("Observation", "o1")], "p1"))
            .unwrap(),
        Ok(())
    );
    assert!(record_state(&w.state, "Observation", "o1").unwrap().erased);
    assert!(medledger_ledger::records::erasure(&w.state, "p1", &org("hospital-a")).is_some());
    assert_eq!(
        w.run(
            &na,
            anchors("hospital-a", vec![anchor("Observation", "o1", 2, Some("p1"))])
        )
        .unwrap(),
        Err(TxError::RecordErased)
    );
    assert_eq!(
        w.run(&na, erase(vec![("Observation", "o1")], "p1")).unwrap(),
        Err(TxError::RecordErased)
    );
}

#[test]
fn only_the_patient_grants_and_revokes() {
    let mut w = world();
    let p1 = w.enrol_at("hospital-a", "p1");
    let p2 = w.enrol_at("hospital-a", "p2");
    let dr = w.register("dr-a", MemberKind::Practitioner);
    let g = |id: &str| {
        grant(
            "p1",
            id,
            Grantee::Org(org("clinic-b")),
            types(&["Observation"]),
            vec![Purpose::Treatment],
            None,
        )
    };
    assert_eq!(w.run(&p2, g("c1")).unwrap(), Err(TxError::NotThePatient));
    assert_eq!(w.run(&dr, g("c1")).unwrap(), Err(TxError::NotThePatient));
    assert_eq!(w.run(&p1, g("c1")).unwrap(), Ok(()));
    assert_eq!(w.run(&p1, g("c1")).unwrap(), Err(TxError::ConsentExists));
    assert_eq!(
        w.run(
            &p1,
            grant(
                "p1",
                "c2",
                Grantee::Org(org("nowhere")),
                types(&["*"]),
                vec![Purpose::Treatment],
                None
            )
        )
        .unwrap(),
        Err(TxError::UnknownOrg(org("nowhere")))
    );
    assert_eq!(
        w.run(
            &p1,
            grant(
                "p1",
                "c3",
                Grantee::Org(org("clinic-b")),
                types(&["*"]),
                vec![Purpose::Treatment],
                Some(5)
            )
        )
        .unwrap(),
        Err(TxError::ConsentExpired)
    );
    assert_eq!(medledger_ledger::consent::active(&w.state, "p1").len(), 1);
    let revoke = |id: &str| {
        Payload::ConsentRevoke(ConsentRevoke {
            patient: "p1".into(),
            consent_id: id.into(),
        })
    };
    assert_eq!(w.run(&p2, revoke("c1")).unwrap(), Err(TxError::NotThePatient));
    assert_eq!(w.run(&p1, revoke("zz")).unwrap(), Err(TxError::UnknownConsent));
    assert_eq!(w.run(&p1, revoke("c1")).unwrap(), Ok(()));
    assert_eq!(w.run(&p1, revoke("c1")).unwrap(), Err(TxError::ConsentRevoked));
    assert!(medledger_ledger::consent::active(&w.state, "p1").is_empty());
    assert!(
        medledger_ledger::consent::get(&w.state, "p1", "c1")
            .unwrap()
            .revoked_at
            .is_some()
    );
}

#[test]
fn the_access_policy_as_a_table() {
    let mut w = world();
    let p1 = w.enrol_at("hospital-a", "p1");
    // Every reader of the table is a member on the ledger: `decide` reads the reader's
    // kind from there, not from the request.
    w.register("dr-a", MemberKind::Practitioner);
    w.register_at("clinic-b", "dr-b", MemberKind::Practitioner);
    w.register_at("clinic-b", "dr-c", MemberKind::Practitioner);
    w.register_at("clinic-b", "svc", MemberKind::Service);
    // A clinic-b device that happens to carry p1's id, and a patient of clinic-b.
    w.register_at("clinic-b", "p1", MemberKind::Device);
    w.enrol_at("clinic-b", "p2");
    let run = |w: &mut World, p: Payload| w.run(&p1, p).unwrap().unwrap();
    run(
        &mut w,
        grant(
            "p1",
            "org-obs",
            Grantee::Org(org("clinic-b")),
            types(&["Observation"]),
            vec![Purpose::Treatment],
            None,
        ),
    );
    run(
        &mut w,
        grant(
            "p1",
            "dr-cond",
            Grantee::Practitioner {
                org: org("clinic-b"),
                member: member("dr-b"),
            },
            types(&["Condition"]),
            vec![Purpose::Treatment, Purpose::Research],
            None,
        ),
    );
    run(
        &mut w,
        grant(
            "p1",
            "one-rec",
            Grantee::Org(org("clinic-b")),
            ConsentScope::Records(vec![("Procedure".into(), "pr1".into())]),
            vec![Purpose::Payment],
            None,
        ),
    );
    run(
        &mut w,
        grant(
            "p1",
            "study",
            Grantee::Study("s1".into()),
            types(&["*"]),
            vec![Purpose::Research],
            None,
        ),
    );
    let expiring_at = w.now + 3000;
    run(
        &mut w,
        grant(
            "p1",
            "soon",
            Grantee::Org(org("clinic-b")),
            types(&["Immunization"]),
            vec![Purpose::Treatment],
            Some(expiring_at),
        ),
    );
    let now = TimestampMs(w.now + 1);
    let later = TimestampMs(expiring_at + 1);
    let (a, b) = (org("hospital-a"), org("clinic-b"));
    struct Case<'a> {
        org: &'a OrgId,
        member: &'a str,
        /// The kind the fixture registered the reader with (checked against the ledger).
        kind: MemberKind,
        ty: &'a str,
        id: &'a str,
        patient: Option<&'a str>,
        purpose: Purpose,
        emergency: bool,
        at: TimestampMs,
        want: Result<Basis, Denial>,
    }
    let c = |org, member, kind, ty, id, purpose, emergency, at, want| Case {
        org,
        member,
        kind,
        ty,
        id,
        patient: Some("p1"),
        purpose,
        emergency,
        at,
        want,
    };
    use MemberKind::*;
    use Purpose::*;
    let cases = vec![
        c(
            &a,
            "dr-a",
            Practitioner,
            "Observation",
            "o1",
            Treatment,
            false,
            now,
            Ok(Basis::Custodian),
        ),
        // Changed: the patient is the member enrolled at hospital-a (it used to be any
        // `patient` reader whose member id was p1, in any organisation).
        c(
            &a,
            "p1",
            Patient,
            "Observation",
            "o1",
            Treatment,
            false,
            now,
            Ok(Basis::OwnRecord),
        ),
        // New: a clinic-b member with the same id is not the patient, and as a device it
        // is not covered by the consent to clinic-b either.
        c(
            &b,
            "p1",
            Device,
            "Observation",
            "o1",
            Treatment,
            false,
            now,
            Err(Denial::NoConsent),
        ),
        c(
            &b,
            "dr-b",
            Practitioner,
            "Observation",
            "o1",
            Treatment,
            false,
            now,
            Ok(Basis::Consent("org-obs".into())),
        ),
        c(
            &b,
            "dr-b",
            Practitioner,
            "Observation",
            "o1",
            Research,
            false,
            now,
            Err(Denial::PurposeNotCovered),
        ),
        c(
            &b,
            "dr-b",
            Practitioner,
            "Condition",
            "c1",
            Research,
            false,
            now,
            Ok(Basis::Consent("dr-cond".into())),
        ),
        c(
            &b,
            "dr-c",
            Practitioner,
            "Condition",
            "c1",
            Treatment,
            false,
            now,
            Err(Denial::NoConsent),
        ),
        c(
            &b,
            "svc",
            Service,
            "Procedure",
            "pr1",
            Payment,
            false,
            now,
            Ok(Basis::Consent("one-rec".into())),
        ),
        c(
            &b,
            "svc",
            Service,
            "Procedure",
            "pr2",
            Payment,
            false,
            now,
            Err(Denial::NoConsent),
        ),
        c(
            &b,
            "dr-b",
            Practitioner,
            "Immunization",
            "i1",
            Treatment,
            false,
            now,
            Ok(Basis::Consent("soon".into())),
        ),
        c(
            &b,
            "dr-b",
            Practitioner,
            "Immunization",
            "i1",
            Treatment,
            false,
            later,
            Err(Denial::NoConsent),
        ),
        // Changed: asking for an emergency no longer opens records by itself; it takes a
        // `consent.break_glass` declaration on the ledger first (tests/policy.rs).
        c(
            &b,
            "dr-b",
            Practitioner,
            "AllergyIntolerance",
            "x",
            Treatment,
            true,
            now,
            Err(Denial::NoBreakGlass),
        ),
        // Changed: a non-practitioner asking for an emergency is told so (it was
        // `NoConsent`).
        c(
            &b,
            "svc",
            Service,
            "AllergyIntolerance",
            "x",
            Treatment,
            true,
            now,
            Err(Denial::NoBreakGlass),
        ),
        // Changed: an organisation-wide consent covers the organisation's staff only, not
        // its patients, so the consent to clinic-b (Observation, treatment) no longer
        // matches clinic-b's patient p2 at all (it was `PurposeNotCovered`).
        c(
            &b,
            "p2",
            Patient,
            "Observation",
            "o9",
            Research,
            false,
            now,
            Err(Denial::NoConsent),
        ),
        c(
            &b,
            "p2",
            Patient,
            "Observation",
            "o9",
            Treatment,
            false,
            now,
            Err(Denial::NoConsent),
        ),
    ];
    for (i, k) in cases.iter().enumerate() {
        let m = member(k.member);
        let on_ledger = medledger_ledger::identity::active_member(&w.state, k.org, &m).map(|r| r.kind);
        assert_eq!(on_ledger, Some(k.kind), "case {i}: the fixture registers {}", k.member);
        let got = decide(
            &w.state,
            &AccessRequest {
                reader_org: k.org,
                reader_member: &m,
                resource_type: k.ty,
                record_id: k.id,
                patient: k.patient,
                custodian: &a,
                purpose: k.purpose,
                emergency: k.emergency,
            },
            k.at,
        );
        assert_eq!(got, k.want, "case {i}");
    }
    // Directory resources have no patient.
    let svc = member("svc");
    let dir = AccessRequest {
        reader_org: &b,
        reader_member: &svc,
        resource_type: "Practitioner",
        record_id: "d",
        patient: None,
        custodian: &a,
        purpose: Treatment,
        emergency: false,
    };
    assert_eq!(decide(&w.state, &dir, now), Ok(Basis::Directory));
    // Shared reference data: any R4 type outside the Patient compartment.
    for t in ["Location", "Medication", "Organization", "Device", "Substance"] {
        let shared = AccessRequest {
            resource_type: t,
            ..dir
        };
        assert_eq!(decide(&w.state, &shared, now), Ok(Basis::Directory), "{t}");
    }
    // A record of a compartment type that names no patient stays with its custodian's
    // staff: another organisation reads nothing, the custodian's practitioner reads it.
    for t in ["Observation", "Claim", "Group", "Coverage", "AuditEvent"] {
        let unassigned = AccessRequest {
            resource_type: t,
            ..dir
        };
        assert_eq!(decide(&w.state, &unassigned, now), Err(Denial::CustodianOnly), "{t}");
    }
    let dr_a = member("dr-a");
    let own = AccessRequest {
        reader_org: &a,
        reader_member: &dr_a,
        resource_type: "Observation",
        ..dir
    };
    assert_eq!(decide(&w.state, &own, now), Ok(Basis::Custodian));
    assert!(medledger_ledger::consent::policy::COMPARTMENT_TYPES.is_sorted());
    // New: a reader who is not a member on the ledger reads nothing, not even the directory.
    let stranger = member("x");
    let dir = AccessRequest {
        reader_member: &stranger,
        ..dir
    };
    assert_eq!(decide(&w.state, &dir, now), Err(Denial::NotAMember));
    // Revocation closes access at once.
    w.run(
        &p1,
        Payload::ConsentRevoke(ConsentRevoke {
            patient: "p1".into(),
            consent_id: "org-obs".into(),
        }),
    )
    .unwrap()
    .unwrap();
    let dr_b = member("dr-b");
    let req = AccessRequest {
        reader_org: &b,
        reader_member: &dr_b,
        resource_type: "Observation",
        record_id: "o1",
        patient: Some("p1"),
        custodian: &a,
        purpose: Treatment,
        emergency: false,
    };
    assert_eq!(decide(&w.state, &req, now), Err(Denial::NoConsent));
}

fn entry(n: u8) -> AuditEntry {
    AuditEntry {
        id: Hash32([n; 32]),
        at: TimestampMs(5),
        actor_org: org("clinic-b"),
        actor_member: member("dr-b"),
        action: AuditAction::Read,
        outcome: AuditOutcome::Denied,
        purpose: Some(Purpose::Treatment),
        break_glass: false,
        patient: Some("p1".into()),
        resource_type: Some("Observation".into()),
        record_id: Some("o1".into()),
        version: Some(1),
    }
}

#[test]
fn audit_runs_are_sequenced_idempotent_and_signed_by_the_node() {
    let mut w = world();
    let (na, nb) = (w.node_a.clone(), w.node_b.clone());
    let rec = |first_seq, entries| {
        Payload::AuditRecord(AuditRecord {
            node_org: org("clinic-b"),
            first_seq,
            entries,
        })
    };
    let next = |w: &World| {
        w.state
            .get(&medledger_ledger::keys::audit_next(&nb.public()))
            .map(|v| u64::from_le_bytes(v.as_slice().try_into().unwrap()))
    };
    assert_eq!(w.run(&na, rec(0, vec![entry(1)])).unwrap(), Err(TxError::NotAuthorized));
    assert_eq!(next(&w), None);
    // A run that does not start at 0 would skip entries: refused.
    assert_eq!(
        w.run(&nb, rec(1, vec![entry(2)])).unwrap(),
        Err(TxError::AuditGap { expected: 0, got: 1 })
    );
    assert_eq!(w.run(&nb, rec(0, vec![entry(1), entry(2)])).unwrap(), Ok(()));
    assert_eq!(next(&w), Some(2));
    // Re-sent after a crash with one new entry: 1 is skipped, 2 is recorded.
    let before = w.state.len();
    assert_eq!(w.run(&nb, rec(1, vec![entry(2), entry(3)])).unwrap(), Ok(()));
    assert_eq!(next(&w), Some(3));
    // Only existing keys changed (the sequence and the nonce): entries add no state.
    assert_eq!(w.state.len(), before);
    // Entirely repeated: accepted, nothing moves back.
    assert_eq!(w.run(&nb, rec(0, vec![entry(1)])).unwrap(), Ok(()));
    assert_eq!(next(&w), Some(3));
    assert_eq!(
        w.run(&nb, rec(4, vec![entry(5)])).unwrap(),
        Err(TxError::AuditGap { expected: 3, got: 4 })
    );
    // A run whose numbers would overflow does not even decode.
    let overflow = AuditRecord {
        node_org: org("clinic-b"),
        first_seq: u64::MAX,
        entries: vec![entry(1)],
    };
    assert!(AuditRecord::decode(&overflow.encode()).is_err());
}

#[test]
fn bodies_round_trip_and_truncations_are_refused() {
    let payloads = vec![
        anchors(
            "hospital-a",
            vec![
                anchor("Observation", "o1", 1, Some("p1")),
                anchor("Practitioner", "d1", 1, None),
            ],
        ),
        Payload::RecordsErase(RecordsErase {
            custodian: org("hospital-a"),
            patient: "p1".into(),
            records: vec![("Observation".into(), "o1".into())],
        }),
        grant(
            "p1",
            "c1",
            Grantee::Practitioner {
                org: org("clinic-b"),
                member: member("dr-b"),
            },
            ConsentScope::Records(vec![("Observation".into(), "o1".into())]),
            vec![Purpose::Treatment, Purpose::Research],
            Some(99),
        ),
        Payload::ConsentRevoke(ConsentRevoke {
            patient: "p1".into(),
            consent_id: "c1".into(),
        }),
        Payload::AuditRecord(AuditRecord {
            node_org: org("clinic-b"),
            first_seq: 7,
            entries: vec![entry(1), entry(2)],
        }),
    ];
    for p in payloads {
        let body = p.body();
        assert_eq!(Payload::decode(p.kind(), &body).unwrap(), p);
        for n in 0..body.len() {
            assert!(
                Payload::decode(p.kind(), &body[..n]).is_err(),
                "{} truncated to {n}",
                p.name()
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(
            Payload::decode(p.kind(), &longer).is_err(),
            "{} with a trailing byte",
            p.name()
        );
    }
    // Patient-identifying text cannot hide in an id: ids are restricted.
    let bad = RecordsAnchor {
        custodian: org("hospital-a"),
        anchors: vec![anchor("Observation", "Jane Doe", 1, None)],
    };
    assert!(RecordsAnchor::decode(&bad.encode()).is_err());
    let unsorted = grant(
        "p1",
        "c1",
        Grantee::Org(org("clinic-b")),
        types(&["Observation", "Condition"]),
        vec![Purpose::Treatment],
        None,
    );
    assert!(Payload::decode(unsorted.kind(), &unsorted.body()).is_err());
}
