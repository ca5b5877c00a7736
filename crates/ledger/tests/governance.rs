//! Consortium-level rules: suspending and reinstating an organisation by the votes of
//! the others, and research studies whose investigators a patient's consent can name.

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::policy::{AccessRequest, Denial, decide};
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::genesis::{GenesisAdmin, GenesisError, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::vote_org::{self, OrgStatus, VoteOrg};
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::research::study::RegisterStudy;
use medledger_ledger::{BlockContext, Event, Genesis, Overlay, Payload, Rejection, TxError, VerifiedTx, apply_tx};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, Height, MemberId, Nonce, OrgId, TimestampMs, Tx};

const ORGS: [&str; 3] = ["hospital-a", "clinic-b", "lab-c"];

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

fn genesis(quorum: Option<u32>) -> Genesis {
    Genesis {
        suspend_quorum: quorum,
        chain_id: ChainId::new("gov-chain").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: ORGS
            .iter()
            .enumerate()
            .map(|(i, o)| GenesisOrg {
                id: org(o),
                name: o.to_string(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: MemberId::new("admin").unwrap(),
                    public_key: admin(i).public(),
                }],
                members: Vec::new(),
            })
            .collect(),
        validators: vec![GenesisValidator {
            org: org("hospital-a"),
            public_key: Keypair::from_seed([99; 32]).public(),
            power: 1,
        }],
    }
}

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
        let nonce = medledger_ledger::next_nonce(&self.state, &signer.public()).0;
        let tx = VerifiedTx::verify(signer.sign_tx(Tx {
            chain_id: ChainId::new("gov-chain").unwrap(),
            signer: signer.public(),
            nonce: Nonce(nonce),
            kind: payload.kind(),
            body: payload.body(),
        }))
        .unwrap();
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new("gov-chain").unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(self.height * 1000),
        };
        let mut overlay = Overlay::new(&self.state);
        let applied = apply_tx(&mut overlay, &tx, &ctx)?;
        for (k, v) in overlay.into_writes() {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
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

    fn suspended(&self, o: &str) -> bool {
        vote_org::is_suspended(&self.state, &org(o))
    }
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
    assert!(decide(&w.state, &read(&org("lab-c"), &org("lab-c"), &dr), now).is_ok());

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
        reader_kind: MemberKind::Practitioner,
        resource_type: "Observation",
        record_id: "o-1",
        patient: Some("pt-1"),
        custodian,
        purpose: Purpose::Treatment,
        break_glass: true,
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
    for (signer, payload) in [
        (b, register("clinic-b", "dr-b", MemberKind::Practitioner, &dr_b)),
        (c, register("lab-c", "dr-c", MemberKind::Practitioner, &dr_c)),
        (c, register("lab-c", "bot", MemberKind::Device, &nurse_bot)),
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
    let ask = |w: &World, o: &str, m: &str, kind: MemberKind, purpose: Purpose| {
        let (reader_org, reader_member, custodian) = (org(o), MemberId::new(m).unwrap(), org("hospital-a"));
        decide(
            &w.state,
            &AccessRequest {
                reader_org: &reader_org,
                reader_member: &reader_member,
                reader_kind: kind,
                resource_type: "Observation",
                record_id: "o-1",
                patient: Some("pt-1"),
                custodian: &custodian,
                purpose,
                break_glass: false,
            },
            now,
        )
    };
    use medledger_ledger::consent::policy::Basis;
    let p = MemberKind::Practitioner;
    assert_eq!(
        ask(&w, "clinic-b", "dr-b", p, Purpose::Research),
        Ok(Basis::Consent("research".into()))
    );
    assert_eq!(
        ask(&w, "lab-c", "dr-c", p, Purpose::Research),
        Ok(Basis::Consent("research".into()))
    );
    assert_eq!(
        ask(&w, "clinic-b", "dr-b", p, Purpose::Treatment),
        Err(Denial::PurposeNotCovered)
    );
    assert_eq!(
        ask(&w, "lab-c", "bot", MemberKind::Device, Purpose::Research),
        Err(Denial::NoConsent)
    );
    assert_eq!(
        ask(&w, "clinic-b", "dr-x", p, Purpose::Research),
        Err(Denial::NoConsent)
    );

    // Taking an investigator off the study closes the door for them at once.
    assert_eq!(w.run(&admin(c), study("trial-7", &[("lab-c", "dr-c")])), Ok(Ok(())));
    assert_eq!(
        ask(&w, "clinic-b", "dr-b", p, Purpose::Research),
        Err(Denial::NoConsent)
    );
    assert!(ask(&w, "lab-c", "dr-c", p, Purpose::Research).is_ok());
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
