//! Consortium-level rules: suspending and reinstating an organisation by the votes of
//! the others, adding and removing nodes the same way, and research studies whose
//! investigators a patient's consent can name.

mod common;

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::policy::{AccessRequest, Denial, decide};
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::genesis::{GenesisAdmin, GenesisError, GenesisMember, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::vote_node::VoteNode;
use medledger_ledger::identity::vote_org::{self, OrgStatus, VoteOrg};
use medledger_ledger::identity::{MemberKind, NodeRecord, OrgRole, is_node, node_key};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::research::study::RegisterStudy;
use medledger_ledger::{BlockContext, Event, Genesis, Payload, Rejection, TxError};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};

const ORGS: [&str; 3] = ["hospital-a", "clinic-b", "lab-c"];

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

/// The key of the service member `node` each organisation names in genesis.
fn genesis_node(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 20; 32])
}

fn genesis(quorum: Option<u32>) -> Genesis {
    Genesis {
        suspend_quorum: quorum,
        break_glass: None,
        contracts: None,
        chain_id: ChainId::new("gov-chain").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: ORGS
            .iter()
            .enumerate()
            .map(|(i, o)| GenesisOrg {
                gs1: None,
                id: org(o),
                name: o.to_string(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: MemberId::new("admin").unwrap(),
                    public_key: admin(i).public(),
                }],
                members: vec![GenesisMember {
                    member: MemberId::new("node").unwrap(),
                    kind: MemberKind::Service,
                    public_key: genesis_node(i).public(),
                }],
            })
            .collect(),
        validators: vec![GenesisValidator {
            org: org("hospital-a"),
            public_key: Keypair::from_seed([99; 32]).public(),
            power: 1,
        }],
    }
}

/// What one transaction did: refused at the envelope, or included with its events or
/// its ledger error.
type Outcome = Result<Result<Vec<Event>, TxError>, Rejection>;

struct World {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    height: u64,
    events: Vec<Event>,
}

impl World {
    fn new(quorum: Option<u32>) -> World {
        let g = genesis(quorum);
        g.validate().unwrap();
        World {
            state: g.initial_writes().into_iter().map(|(k, v)| (k, v.unwrap())).collect(),
            height: 0,
            events: Vec::new(),
        }
    }

    fn run(&mut self, signer: &Keypair, payload: Payload) -> Result<Result<(), TxError>, Rejection> {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new("gov-chain").unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(self.height * 1000),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)?;
        self.events = applied.events;
        Ok(applied.error.map_or(Ok(()), Err))
    }

    fn vote(&mut self, voter: usize, target: &str, suspend: bool) -> Result<Result<(), TxError>, Rejection> {
        self.run(
            &admin(voter),
            Payload::VoteOrg(VoteOrg {
                org: org(target),
                suspend,
            }),
        )
    }

    /// Runs `(name, signer, payload, expected)` steps in order, each against the state the
    /// previous ones left.
    fn run_table(&mut self, steps: Vec<(&str, Keypair, Payload, Outcome)>) {
        for (name, signer, payload, expected) in steps {
            assert_eq!(self.step(&signer, payload), expected, "step: {name}");
        }
    }

    /// Like `run`, keeping the transaction's events.
    fn step(&mut self, signer: &Keypair, payload: Payload) -> Outcome {
        let outcome = self.run(signer, payload)?;
        Ok(outcome.map(|()| self.events.clone()))
    }

    fn suspended(&self, o: &str) -> bool {
        vote_org::is_suspended(&self.state, &org(o))
    }
}

/// Version 1 of the Patient record `pseudonym`, anchored by `custodian`'s admin.
fn patient_record(custodian: &str, pseudonym: &str) -> Payload {
    Payload::RecordsAnchor(RecordsAnchor {
        custodian: org(custodian),
        anchors: vec![Anchor {
            resource_type: "Patient".into(),
            record_id: pseudonym.into(),
            version: 1,
            patient: Some(pseudonym.into()),
            ciphertext: Hash32::digest(&[pseudonym.as_bytes()]),
            author: MemberId::new("admin").unwrap(),
        }],
    })
}

fn register(o: &str, m: &str, kind: MemberKind, key: &Keypair) -> Payload {
    Payload::RegisterMember(RegisterMember {
        org: org(o),
        member: MemberId::new(m).unwrap(),
        kind,
        public_key: key.public(),
    })
}

#[test]
fn a_quorum_of_other_organisations_suspends_and_reinstates() {
    let mut w = World::new(Genesis::default_suspend_quorum(ORGS.len()));
    assert_eq!(vote_org::quorum(&w.state), Some(2));
    let (a, b, c) = (0, 1, 2);

    // Nobody votes on their own organisation; only admins vote.
    assert_eq!(w.vote(b, "clinic-b", true), Ok(Err(TxError::NotAuthorized)));
    let doc_a = Keypair::from_seed([50; 32]);
    assert_eq!(
        w.run(
            &admin(a),
            register("hospital-a", "dr-a", MemberKind::Practitioner, &doc_a)
        ),
        Ok(Ok(()))
    );
    assert_eq!(
        w.run(
            &doc_a,
            Payload::VoteOrg(VoteOrg {
                org: org("clinic-b"),
                suspend: true
            })
        ),
        Ok(Err(TxError::NotAuthorized))
    );
    assert_eq!(w.vote(a, "nowhere", true), Ok(Err(TxError::UnknownOrg(org("nowhere")))));
    assert_eq!(w.vote(a, "clinic-b", false), Ok(Err(TxError::OrgStatusUnchanged)));

    // One vote of two: nothing changes yet, and a second vote from the same org is refused.
    assert_eq!(w.vote(a, "clinic-b", true), Ok(Ok(())));
    assert!(matches!(
        &w.events[..],
        [Event::OrgVoted {
            votes: 1,
            quorum: 2,
            ..
        }]
    ));
    assert!(!w.suspended("clinic-b"));
    assert_eq!(w.vote(a, "clinic-b", true), Ok(Err(TxError::AlreadyVoted)));
    let doc_b = Keypair::from_seed([51; 32]);
    assert_eq!(
        w.run(
            &admin(b),
            register("clinic-b", "dr-b", MemberKind::Practitioner, &doc_b)
        ),
        Ok(Ok(()))
    );

    // The second organisation's vote suspends it, in that block.
    assert_eq!(w.vote(c, "clinic-b", true), Ok(Ok(())));
    assert!(matches!(
        &w.events[..],
        [Event::OrgVoted { votes: 2, .. }, Event::OrgSuspended { .. }]
    ));
    assert!(w.suspended("clinic-b"));
    let status = vote_org::status(&w.state, &org("clinic-b"));
    assert!(status.ballot.is_empty());
    assert_eq!(status.changed_at, Height(w.height));

    // Every key of the suspended organisation stops signing, admin or practitioner.
    let doc_b2 = Keypair::from_seed([52; 32]);
    assert_eq!(
        w.run(
            &admin(b),
            register("clinic-b", "dr-b2", MemberKind::Practitioner, &doc_b2)
        ),
        Err(Rejection::OrgSuspended(org("clinic-b")))
    );
    assert_eq!(
        w.run(&doc_b, register("clinic-b", "x", MemberKind::Practitioner, &doc_b2)),
        Err(Rejection::OrgSuspended(org("clinic-b")))
    );
    // ... and its members read nothing, not even their own organisation's records.
    let now = TimestampMs(w.height * 1000);
    let dr = MemberId::new("dr-b").unwrap();
    assert_eq!(
        decide(&w.state, &read(&org("clinic-b"), &org("clinic-b"), &dr), now),
        Err(Denial::OrgSuspended)
    );
    assert_eq!(
        decide(&w.state, &read(&org("clinic-b"), &org("hospital-a"), &dr), now),
        Err(Denial::OrgSuspended)
    );
    // (The reader must be a member on the ledger: lab-c reads through its own practitioner.)
    let doc_c = Keypair::from_seed([53; 32]);
    assert_eq!(
        w.run(&admin(c), register("lab-c", "dr-c", MemberKind::Practitioner, &doc_c)),
        Ok(Ok(()))
    );
    let dr_c = MemberId::new("dr-c").unwrap();
    assert!(decide(&w.state, &read(&org("lab-c"), &org("lab-c"), &dr_c), now).is_ok());

    // Other organisations carry on; reinstating takes the same quorum.
    assert_eq!(w.vote(a, "clinic-b", true), Ok(Err(TxError::OrgStatusUnchanged)));
    assert_eq!(w.vote(c, "clinic-b", false), Ok(Ok(())));
    assert!(w.suspended("clinic-b"));
    assert_eq!(w.vote(a, "clinic-b", false), Ok(Ok(())));
    assert!(matches!(&w.events[..], [_, Event::OrgReinstated { .. }]));
    assert!(!w.suspended("clinic-b"));
    assert_eq!(
        w.run(
            &admin(b),
            register("clinic-b", "dr-b2", MemberKind::Practitioner, &doc_b2)
        ),
        Ok(Ok(()))
    );
}

fn read<'a>(reader_org: &'a OrgId, custodian: &'a OrgId, member: &'a MemberId) -> AccessRequest<'a> {
    AccessRequest {
        reader_org,
        reader_member: member,
        resource_type: "Observation",
        record_id: "o-1",
        patient: Some("pt-1"),
        custodian,
        purpose: Purpose::Treatment,
        emergency: true,
    }
}

#[test]
fn without_a_quorum_in_genesis_nobody_is_suspended() {
    let mut w = World::new(None);
    assert_eq!(vote_org::quorum(&w.state), None);
    assert_eq!(w.vote(0, "clinic-b", true), Ok(Err(TxError::NoGovernance)));
    assert!(!w.suspended("clinic-b"));
    // Older genesis files (no quorum) keep their hash: the field is not serialised.
    let json = serde_json::to_string(&genesis(None)).unwrap();
    assert!(!json.contains("suspend_quorum"), "{json}");
    assert!(!json.contains("break_glass"), "{json}");
}

#[test]
fn genesis_quorum_is_checked() {
    for bad in [0, 3, 100] {
        assert_eq!(
            genesis(Some(bad)).validate(),
            Err(GenesisError::BadQuorum { max: 2 }),
            "quorum {bad}"
        );
    }
    assert_eq!(genesis(Some(1)).validate(), Ok(()));
    assert_eq!(Genesis::default_suspend_quorum(1), None);
    assert_eq!(Genesis::default_suspend_quorum(2), Some(1));
    assert_eq!(Genesis::default_suspend_quorum(4), Some(2));
    assert_eq!(Genesis::default_suspend_quorum(7), Some(4));
}

#[test]
fn encodings_round_trip_and_truncations_fail() {
    let v = VoteOrg {
        org: org("clinic-b"),
        suspend: true,
    };
    let s = OrgStatus {
        suspended: true,
        changed_at: Height(7),
        ballot: vec![org("hospital-a"), org("lab-c")],
    };
    let (vb, sb) = (v.encode(), s.encode());
    assert_eq!(VoteOrg::decode(&vb).unwrap(), v);
    assert_eq!(OrgStatus::decode(&sb).unwrap(), s);
    for n in 0..vb.len() {
        assert!(VoteOrg::decode(&vb[..n]).is_err());
    }
    let vn = VoteNode {
        org: org("clinic-b"),
        member: MemberId::new("node-2").unwrap(),
        add: true,
    };
    let vnb = vn.encode();
    assert_eq!(VoteNode::decode(&vnb).unwrap(), vn);
    for n in 0..vnb.len() {
        assert!(VoteNode::decode(&vnb[..n]).is_err());
    }
    let mut longer = vnb.clone();
    longer.push(0);
    assert!(VoteNode::decode(&longer).is_err());
    for n in 0..sb.len() {
        assert!(OrgStatus::decode(&sb[..n]).is_err());
    }
    // A ballot length beyond the limit is refused before anything is allocated.
    let mut huge = vec![1u8];
    huge.extend(Height(1).encode());
    medledger_types::codec::put::u32(&mut huge, u32::MAX);
    assert!(OrgStatus::decode(&huge).is_err());
}

fn study(id: &str, investigators: &[(&str, &str)]) -> Payload {
    Payload::RegisterStudy(RegisterStudy {
        study: id.into(),
        investigators: investigators
            .iter()
            .map(|(o, m)| (org(o), MemberId::new(*m).unwrap()))
            .collect(),
    })
}

#[test]
fn a_study_consent_opens_records_to_its_investigators_only() {
    let mut w = World::new(None);
    let (a, b, c) = (0, 1, 2);
    let dr_b = Keypair::from_seed([60; 32]);
    let dr_c = Keypair::from_seed([61; 32]);
    let nurse_bot = Keypair::from_seed([62; 32]);
    let patient = Keypair::from_seed([63; 32]);
    let outsider = Keypair::from_seed([64; 32]);
    for (signer, payload) in [
        (b, register("clinic-b", "dr-b", MemberKind::Practitioner, &dr_b)),
        (b, register("clinic-b", "dr-x", MemberKind::Practitioner, &outsider)),
        (c, register("lab-c", "dr-c", MemberKind::Practitioner, &dr_c)),
        (c, register("lab-c", "bot", MemberKind::Device, &nurse_bot)),
        // Enrolling pt-1 needs its Patient record at hospital-a first.
        (a, patient_record("hospital-a", "pt-1")),
        (a, register("hospital-a", "pt-1", MemberKind::Patient, &patient)),
    ] {
        assert_eq!(w.run(&admin(signer), payload), Ok(Ok(())));
    }

    // Lab C sponsors the study; investigators must be registered practitioners.
    assert_eq!(
        w.run(&admin(c), study("trial-7", &[("lab-c", "bot")])),
        Ok(Err(TxError::NotAPractitioner {
            org: org("lab-c"),
            member: MemberId::new("bot").unwrap()
        }))
    );
    assert_eq!(
        w.run(&admin(c), study("trial-7", &[("clinic-b", "nobody")])),
        Ok(Err(TxError::UnknownMember {
            org: org("clinic-b"),
            member: MemberId::new("nobody").unwrap()
        }))
    );
    assert_eq!(w.run(&dr_c, study("trial-7", &[])), Ok(Err(TxError::NotAuthorized)));
    assert_eq!(
        w.run(&admin(c), study("trial-7", &[("lab-c", "dr-c"), ("clinic-b", "dr-b")])),
        Ok(Ok(()))
    );
    assert!(matches!(
        &w.events[..],
        [Event::StudyRegistered { investigators: 2, .. }]
    ));
    // Only the sponsor changes it.
    assert_eq!(w.run(&admin(a), study("trial-7", &[])), Ok(Err(TxError::NotAuthorized)));

    let grant = Payload::ConsentGrant(ConsentGrant {
        consent_id: "research".into(),
        patient: "pt-1".into(),
        grantee: Grantee::Study("trial-7".into()),
        scope: ConsentScope::Types(vec!["Observation".into()]),
        purposes: vec![Purpose::Research],
        expires: None,
    });
    assert_eq!(w.run(&patient, grant), Ok(Ok(())));
    let now = TimestampMs(w.height * 1000);
    // The reader's kind is the one registered on the ledger (bot is a device).
    let ask = |w: &World, o: &str, m: &str, purpose: Purpose| {
        let (reader_org, reader_member, custodian) = (org(o), MemberId::new(m).unwrap(), org("hospital-a"));
        decide(
            &w.state,
            &AccessRequest {
                reader_org: &reader_org,
                reader_member: &reader_member,
                resource_type: "Observation",
                record_id: "o-1",
                patient: Some("pt-1"),
                custodian: &custodian,
                purpose,
                emergency: false,
            },
            now,
        )
    };
    use medledger_ledger::consent::policy::Basis;
    assert_eq!(
        ask(&w, "clinic-b", "dr-b", Purpose::Research),
        Ok(Basis::Consent("research".into()))
    );
    assert_eq!(
        ask(&w, "lab-c", "dr-c", Purpose::Research),
        Ok(Basis::Consent("research".into()))
    );
    assert_eq!(
        ask(&w, "clinic-b", "dr-b", Purpose::Treatment),
        Err(Denial::PurposeNotCovered)
    );
    assert_eq!(ask(&w, "lab-c", "bot", Purpose::Research), Err(Denial::NoConsent));
    assert_eq!(ask(&w, "clinic-b", "dr-x", Purpose::Research), Err(Denial::NoConsent));

    // Taking an investigator off the study closes the door for them at once.
    assert_eq!(w.run(&admin(c), study("trial-7", &[("lab-c", "dr-c")])), Ok(Ok(())));
    assert_eq!(ask(&w, "clinic-b", "dr-b", Purpose::Research), Err(Denial::NoConsent));
    assert!(ask(&w, "lab-c", "dr-c", Purpose::Research).is_ok());
}

#[test]
fn study_bodies_round_trip_and_refuse_oversized_lists() {
    let Payload::RegisterStudy(s) = study("trial-7", &[("lab-c", "dr-c"), ("clinic-b", "dr-b")]) else {
        unreachable!()
    };
    let bytes = s.encode();
    assert_eq!(RegisterStudy::decode(&bytes).unwrap(), s);
    for n in 0..bytes.len() {
        assert!(RegisterStudy::decode(&bytes[..n]).is_err());
    }
    let mut huge = Vec::new();
    medledger_types::codec::put::str(&mut huge, "trial-7");
    medledger_types::codec::put::u32(&mut huge, 1000);
    assert!(RegisterStudy::decode(&huge).is_err());
    let mut bad_id = Vec::new();
    medledger_types::codec::put::str(&mut bad_id, "trial 7/x");
    medledger_types::codec::put::u32(&mut bad_id, 0);
    assert!(RegisterStudy::decode(&bad_id).is_err());
}

fn vote_node(o: &str, m: &str, add: bool) -> Payload {
    Payload::VoteNode(VoteNode {
        org: org(o),
        member: MemberId::new(m).unwrap(),
        add,
    })
}

fn node_voted(m: &str, voter: &str, add: bool, votes: u32) -> Event {
    Event::NodeVoted {
        org: org("hospital-a"),
        member: MemberId::new(m).unwrap(),
        voter: org(voter),
        add,
        votes,
        quorum: 2,
    }
}

fn node_changed(m: &str, added: bool) -> Event {
    Event::NodeChanged {
        org: org("hospital-a"),
        member: MemberId::new(m).unwrap(),
        added,
    }
}

fn node_record(w: &World, o: &str, m: &str) -> Option<NodeRecord> {
    w.state
        .get(&medledger_ledger::keys::node(&org(o), &MemberId::new(m).unwrap()))
        .map(|raw| NodeRecord::decode(raw).unwrap())
}

#[test]
fn genesis_service_members_are_the_nodes() {
    let w = World::new(Some(2));
    for (i, o) in ORGS.iter().enumerate() {
        let rec = node_key(&w.state, &genesis_node(i).public()).expect("a genesis service key is a node key");
        assert_eq!((rec.org.as_str(), rec.member.as_str()), (*o, "node"));
        assert_eq!(node_record(&w, o, "node"), Some(NodeRecord { added_at: Height(0) }));
        // Admins sign transactions, not node-to-node requests.
        assert_eq!(node_key(&w.state, &admin(i).public()), None, "{o} admin");
    }
}

#[test]
fn the_consortium_adds_and_removes_nodes_by_vote() {
    let mut w = World::new(Some(2));
    let (a, b, c) = (0, 1, 2);
    let billing = Keypair::from_seed([70; 32]);
    let doc = Keypair::from_seed([71; 32]);
    let retired = Keypair::from_seed([72; 32]);
    let registered = |m: &str, kind: MemberKind| -> Outcome {
        Ok(Ok(vec![Event::MemberRegistered {
            org: org("hospital-a"),
            member: MemberId::new(m).unwrap(),
            kind,
        }]))
    };
    let not_a_service = |m: &str| -> Outcome {
        Ok(Err(TxError::NotAService {
            org: org("hospital-a"),
            member: MemberId::new(m).unwrap(),
        }))
    };
    w.run_table(vec![
        (
            "hospital-a registers a service member",
            admin(a),
            register("hospital-a", "billing", MemberKind::Service, &billing),
            registered("billing", MemberKind::Service),
        ),
        (
            "and a practitioner",
            admin(a),
            register("hospital-a", "dr-a", MemberKind::Practitioner, &doc),
            registered("dr-a", MemberKind::Practitioner),
        ),
    ]);
    // Registered by its own organisation, a service key is not a node.
    assert_eq!(node_key(&w.state, &billing.public()), None);

    w.run_table(vec![
        (
            "an organisation cannot vote its own service key in",
            admin(a),
            vote_node("hospital-a", "billing", true),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "another organisation's node key is not an admin",
            genesis_node(b),
            vote_node("hospital-a", "billing", true),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "a practitioner is not a service",
            admin(b),
            vote_node("hospital-a", "dr-a", true),
            not_a_service("dr-a"),
        ),
        (
            "an admin is not a service",
            admin(b),
            vote_node("hospital-a", "admin", true),
            not_a_service("admin"),
        ),
        (
            "no such member",
            admin(b),
            vote_node("hospital-a", "nobody", true),
            Ok(Err(TxError::UnknownMember {
                org: org("hospital-a"),
                member: MemberId::new("nobody").unwrap(),
            })),
        ),
        (
            "a genesis node is already a node",
            admin(b),
            vote_node("hospital-a", "node", true),
            Ok(Err(TxError::NodeStatusUnchanged)),
        ),
        (
            "the first vote to add",
            admin(b),
            vote_node("hospital-a", "billing", true),
            Ok(Ok(vec![node_voted("billing", "clinic-b", true, 1)])),
        ),
        (
            "the same organisation votes twice",
            admin(b),
            vote_node("hospital-a", "billing", true),
            Ok(Err(TxError::AlreadyVoted)),
        ),
    ]);
    assert_eq!(node_key(&w.state, &billing.public()), None, "one vote of two");

    w.run_table(vec![(
        "the quorum adds the node",
        admin(c),
        vote_node("hospital-a", "billing", true),
        Ok(Ok(vec![
            node_voted("billing", "lab-c", true, 2),
            node_changed("billing", true),
        ])),
    )]);
    let rec = node_key(&w.state, &billing.public()).expect("voted in: a node key");
    assert_eq!(rec.member.as_str(), "billing");
    assert_eq!(
        node_record(&w, "hospital-a", "billing"),
        Some(NodeRecord {
            added_at: Height(w.height)
        })
    );

    w.run_table(vec![
        (
            "adding it again",
            admin(b),
            vote_node("hospital-a", "billing", true),
            Ok(Err(TxError::NodeStatusUnchanged)),
        ),
        (
            "the ballot to remove starts afresh",
            admin(c),
            vote_node("hospital-a", "billing", false),
            Ok(Ok(vec![node_voted("billing", "lab-c", false, 1)])),
        ),
        (
            "the same organisation votes twice to remove",
            admin(c),
            vote_node("hospital-a", "billing", false),
            Ok(Err(TxError::AlreadyVoted)),
        ),
        (
            "the organisation itself cannot vote its node out either",
            admin(a),
            vote_node("hospital-a", "billing", false),
            Ok(Err(TxError::NotAuthorized)),
        ),
        (
            "the quorum removes the node",
            admin(b),
            vote_node("hospital-a", "billing", false),
            Ok(Ok(vec![
                node_voted("billing", "clinic-b", false, 2),
                node_changed("billing", false),
            ])),
        ),
        (
            "removing it again",
            admin(b),
            vote_node("hospital-a", "billing", false),
            Ok(Err(TxError::NodeStatusUnchanged)),
        ),
        (
            "hospital-a registers another service member",
            admin(a),
            register("hospital-a", "old-svc", MemberKind::Service, &retired),
            registered("old-svc", MemberKind::Service),
        ),
        (
            "and revokes it",
            admin(a),
            Payload::RevokeMember(medledger_ledger::identity::revoke_member::RevokeMember {
                org: org("hospital-a"),
                member: MemberId::new("old-svc").unwrap(),
            }),
            Ok(Ok(vec![Event::MemberRevoked {
                org: org("hospital-a"),
                member: MemberId::new("old-svc").unwrap(),
            }])),
        ),
        (
            "a revoked service member is not voted in",
            admin(b),
            vote_node("hospital-a", "old-svc", true),
            not_a_service("old-svc"),
        ),
    ]);
    assert_eq!(
        node_key(&w.state, &billing.public()),
        None,
        "voted out: no longer a node key"
    );
    assert_eq!(node_record(&w, "hospital-a", "billing"), None);
    assert!(!is_node(
        &w.state,
        &org("hospital-a"),
        &MemberId::new("billing").unwrap()
    ));
}

#[test]
fn a_suspended_organisation_has_no_node_keys() {
    let mut w = World::new(Some(2));
    let (a, b, c) = (0, 1, 2);
    let extra = Keypair::from_seed([73; 32]);
    assert_eq!(
        w.run(&admin(b), register("clinic-b", "node-2", MemberKind::Service, &extra)),
        Ok(Ok(()))
    );
    for voter in [a, c] {
        assert_eq!(
            w.run(
                &admin(voter),
                Payload::VoteNode(VoteNode {
                    org: org("clinic-b"),
                    member: MemberId::new("node-2").unwrap(),
                    add: true,
                })
            ),
            Ok(Ok(()))
        );
    }
    assert_eq!(
        node_record(&w, "clinic-b", "node-2"),
        Some(NodeRecord {
            added_at: Height(w.height)
        })
    );
    assert!(node_key(&w.state, &extra.public()).is_some());
    assert!(node_key(&w.state, &genesis_node(b).public()).is_some());

    // Suspending the organisation takes every one of its node keys out, genesis or voted.
    for voter in [a, c] {
        assert_eq!(w.vote(voter, "clinic-b", true), Ok(Ok(())));
    }
    assert!(w.suspended("clinic-b"));
    assert_eq!(node_key(&w.state, &extra.public()), None);
    assert_eq!(node_key(&w.state, &genesis_node(b).public()), None);
    // The node markers stay: reinstating brings the same nodes back.
    assert!(is_node(&w.state, &org("clinic-b"), &MemberId::new("node-2").unwrap()));
    for voter in [a, c] {
        assert_eq!(w.vote(voter, "clinic-b", false), Ok(Ok(())));
    }
    assert!(node_key(&w.state, &extra.public()).is_some());
    // Other organisations' nodes were never affected.
    assert!(node_key(&w.state, &genesis_node(a).public()).is_some());
}

#[test]
fn without_a_quorum_in_genesis_nodes_are_genesis_only() {
    let mut w = World::new(None);
    let extra = Keypair::from_seed([74; 32]);
    assert_eq!(
        w.run(&admin(1), register("clinic-b", "node-2", MemberKind::Service, &extra)),
        Ok(Ok(()))
    );
    assert_eq!(
        w.step(&admin(0), vote_node("clinic-b", "node-2", true)),
        Ok(Err(TxError::NoGovernance))
    );
    assert_eq!(node_key(&w.state, &extra.public()), None);
}
