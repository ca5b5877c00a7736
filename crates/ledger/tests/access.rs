//! Who reads a patient's records, as tables: whom an organisation-wide consent covers,
//! which purposes an organisation's role allows, and break-glass access, which needs a
//! declaration on the ledger and is limited per practitioner and per day of block time.
//!
//! Every reader is a member on the ledger; `decide` reads its kind from there.
//!
//! Longer than a file usually is: every table here reads the same fixture (three
//! organisations of different roles and a member of every kind), and integration test
//! files share code only through a module of their own.

mod common;

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::consent::break_glass::{self, BreakGlass, BreakGlassRules};
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::policy::{AccessRequest, Basis, Denial, decide, purpose_allowed};
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::genesis::{GenesisAdmin, GenesisMember, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::vote_node::VoteNode;
use medledger_ledger::identity::vote_org::VoteOrg;
use medledger_ledger::identity::{MemberKind, OrgRole, active_member};
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::{BlockContext, Event, Genesis, Payload, Rejection, TxError};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// Block time of the first transaction.
const START: u64 = 1_700_000_000_000;

/// `(id, role, admin seed, genesis node seed)`.
const ORGS: [(&str, OrgRole, u8, u8); 3] = [
    ("hospital-a", OrgRole::Hospital, 1, 11),
    ("clinic-b", OrgRole::Clinic, 2, 12),
    ("insurer-c", OrgRole::Insurer, 3, 13),
];

/// What one transaction did: refused at the envelope, or included with its events or
/// its ledger error.
type Outcome = Result<Result<Vec<Event>, TxError>, Rejection>;

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn member(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

/// The key of `org/member`: the admin and the genesis node (`node0`) from fixed seeds,
/// every other member from its name.
fn key(o: &str, m: &str) -> Keypair {
    let (_, _, admin_seed, node_seed) = ORGS.iter().find(|(id, ..)| *id == o).expect("known org");
    match m {
        "admin" => Keypair::from_seed([*admin_seed; 32]),
        "node0" => Keypair::from_seed([*node_seed; 32]),
        _ => Keypair::from_seed(*Hash32::digest(&[o.as_bytes(), b"/", m.as_bytes()]).as_bytes()),
    }
}

struct World {
    chain: ChainId,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    height: u64,
    /// Block time of the last transaction.
    now: u64,
}

impl World {
    /// Three organisations, each with an admin and a genesis node; suspensions and node
    /// votes take 2 votes.
    fn empty(rules: Option<BreakGlassRules>) -> World {
        let genesis = Genesis {
            chain_id: ChainId::new("access-chain").unwrap(),
            genesis_time: TimestampMs(START - 1000),
            orgs: ORGS
                .iter()
                .map(|(id, role, ..)| GenesisOrg {
                    gs1: None,
                    id: org(id),
                    name: id.to_string(),
                    role: *role,
                    admins: vec![GenesisAdmin {
                        member: member("admin"),
                        public_key: key(id, "admin").public(),
                    }],
                    members: vec![GenesisMember {
                        member: member("node0"),
                        kind: MemberKind::Service,
                        public_key: key(id, "node0").public(),
                    }],
                })
                .collect(),
            validators: vec![GenesisValidator {
                org: org("hospital-a"),
                public_key: Keypair::from_seed([99; 32]).public(),
                power: 1,
            }],
            suspend_quorum: Some(2),
            break_glass: rules,
            contracts: None,
        };
        genesis.validate().unwrap();
        World {
            chain: genesis.chain_id.clone(),
            state: genesis
                .initial_writes()
                .into_iter()
                .map(|(k, v)| (k, v.unwrap()))
                .collect(),
            height: 0,
            now: START - 1,
        }
    }

    /// The members every test reads with:
    /// - hospital-a holds the records of pt-1, pt-2 and pt-3 (enrolled there) and has a
    ///   practitioner dr-a;
    /// - clinic-b has practitioners dr-b and dr-b2, a billing service that is not a node,
    ///   a device, a privacy officer and a patient of its own, pt-b;
    /// - insurer-c has a practitioner (a medical reviewer) dr-c and a claims service.
    fn new(rules: Option<BreakGlassRules>) -> World {
        let mut w = World::empty(rules);
        for p in ["pt-1", "pt-2", "pt-3"] {
            w.enrol("hospital-a", p);
        }
        w.enrol("clinic-b", "pt-b");
        for (o, m, kind) in [
            ("hospital-a", "dr-a", MemberKind::Practitioner),
            ("clinic-b", "dr-b", MemberKind::Practitioner),
            ("clinic-b", "dr-b2", MemberKind::Practitioner),
            ("clinic-b", "billing", MemberKind::Service),
            ("clinic-b", "monitor", MemberKind::Device),
            ("clinic-b", "privacy", MemberKind::Privacy),
            ("insurer-c", "dr-c", MemberKind::Practitioner),
            ("insurer-c", "claims", MemberKind::Service),
        ] {
            w.register(o, m, kind);
        }
        w
    }

    /// Applies and commits one transaction in a block at time `at`.
    fn step_at(&mut self, signer: &Keypair, payload: Payload, at: u64) -> Outcome {
        assert!(at >= self.now, "block time goes forward");
        self.height += 1;
        self.now = at;
        let ctx = BlockContext {
            chain_id: self.chain.clone(),
            height: Height(self.height),
            timestamp: TimestampMs(at),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)?;
        Ok(applied.error.map_or(Ok(applied.events), Err))
    }

    /// Applies one transaction a millisecond after the last.
    fn step(&mut self, signer: &Keypair, payload: Payload) -> Outcome {
        let at = self.now + 1;
        self.step_at(signer, payload, at)
    }

    /// Applies one transaction that must succeed.
    fn ok(&mut self, signer: &Keypair, payload: Payload) {
        let name = payload.name();
        let outcome = self.step(signer, payload);
        assert!(matches!(outcome, Ok(Ok(_))), "{name}: {outcome:?}");
    }

    fn register(&mut self, o: &str, m: &str, kind: MemberKind) {
        self.ok(
            &key(o, "admin"),
            Payload::RegisterMember(RegisterMember {
                org: org(o),
                member: member(m),
                kind,
                public_key: key(o, m).public(),
            }),
        );
    }

    /// The custodian's admin anchors the Patient record, then enrols the patient.
    fn enrol(&mut self, o: &str, pseudonym: &str) {
        self.ok(
            &key(o, "admin"),
            Payload::RecordsAnchor(RecordsAnchor {
                custodian: org(o),
                anchors: vec![Anchor {
                    resource_type: "Patient".into(),
                    record_id: pseudonym.into(),
                    version: 1,
                    patient: Some(pseudonym.into()),
                    ciphertext: Hash32::digest(&[pseudonym.as_bytes()]),
                    author: member("admin"),
                }],
            }),
        );
        self.register(o, pseudonym, MemberKind::Patient);
    }

    /// The patient (enrolled at hospital-a) grants a consent.
    fn grant(&mut self, patient: &str, id: &str, grantee: Grantee, types: &[&str], purposes: Vec<Purpose>) {
        self.ok(
            &key("hospital-a", patient),
            Payload::ConsentGrant(ConsentGrant {
                consent_id: id.into(),
                patient: patient.into(),
                grantee,
                scope: ConsentScope::Types(types.iter().map(|t| t.to_string()).collect()),
                purposes,
                expires: None,
            }),
        );
    }

    /// Two other organisations' admins vote to suspend (or reinstate) `o`.
    fn set_suspended(&mut self, o: &str, suspend: bool) {
        for (voter, ..) in ORGS.iter().filter(|(id, ..)| *id != o) {
            self.ok(&key(voter, "admin"), Payload::VoteOrg(VoteOrg { org: org(o), suspend }));
        }
    }
}

/// One question to [`decide`]: `reader` (`org/member`) reads an Observation of `patient`
/// held by hospital-a.
struct Ask<'a> {
    reader: (&'a str, &'a str),
    patient: &'a str,
    purpose: Purpose,
    emergency: bool,
}

impl Ask<'_> {
    fn at(&self, w: &World, now: u64) -> Result<Basis, Denial> {
        self.held_by(w, "hospital-a", now)
    }

    fn held_by(&self, w: &World, custodian: &str, now: u64) -> Result<Basis, Denial> {
        let (reader_org, reader_member, custodian) = (org(self.reader.0), member(self.reader.1), org(custodian));
        decide(
            &w.state,
            &AccessRequest {
                reader_org: &reader_org,
                reader_member: &reader_member,
                resource_type: "Observation",
                record_id: "o-1",
                patient: Some(self.patient),
                custodian: &custodian,
                purpose: self.purpose,
                emergency: self.emergency,
            },
            TimestampMs(now),
        )
    }
}

fn treat<'a>(o: &'a str, m: &'a str, patient: &'a str) -> Ask<'a> {
    Ask {
        reader: (o, m),
        patient,
        purpose: Purpose::Treatment,
        emergency: false,
    }
}

fn emergency<'a>(o: &'a str, m: &'a str, patient: &'a str) -> Ask<'a> {
    Ask {
        emergency: true,
        ..treat(o, m, patient)
    }
}

/// Asserts each `(reader, kind on the ledger, expected decision)`.
fn assert_decisions(
    w: &World,
    ask: impl Fn(&str, &str) -> Result<Basis, Denial>,
    cases: &[(&str, &str, MemberKind, Result<Basis, Denial>)],
) {
    for (o, m, kind, want) in cases {
        assert_eq!(
            active_member(&w.state, &org(o), &member(m)).map(|r| r.kind),
            Some(*kind),
            "{o}/{m} is registered as {kind:?}"
        );
        assert_eq!(&ask(o, m), want, "{o}/{m} ({kind:?})");
    }
}

#[test]
fn an_organisation_wide_consent_covers_its_staff_only() {
    use MemberKind::*;
    let mut w = World::new(None);
    w.grant(
        "pt-1",
        "to-b",
        Grantee::Org(org("clinic-b")),
        &["*"],
        vec![Purpose::Treatment],
    );
    // A practitioner grantee opens records to a practitioner only, whoever it names.
    w.grant(
        "pt-1",
        "to-privacy",
        Grantee::Practitioner {
            org: org("clinic-b"),
            member: member("privacy"),
        },
        &["*"],
        vec![Purpose::Treatment],
    );
    let now = w.now;
    let consent = || Ok(Basis::Consent("to-b".into()));
    let ask = |o: &str, m: &str| treat(o, m, "pt-1").at(&w, now);
    assert_decisions(
        &w,
        ask,
        &[
            ("clinic-b", "dr-b", Practitioner, consent()),
            ("clinic-b", "admin", Admin, consent()),
            ("clinic-b", "node0", Service, consent()),
            ("clinic-b", "billing", Service, consent()),
            ("clinic-b", "pt-b", Patient, Err(Denial::NoConsent)),
            ("clinic-b", "monitor", Device, Err(Denial::NoConsent)),
            ("clinic-b", "privacy", Privacy, Err(Denial::NoConsent)),
        ],
    );
    // Not members on the ledger: nobody, and a revoked practitioner.
    assert_eq!(treat("clinic-b", "nobody", "pt-1").at(&w, now), Err(Denial::NotAMember));
    w.ok(
        &key("clinic-b", "admin"),
        Payload::RevokeMember(RevokeMember {
            org: org("clinic-b"),
            member: member("dr-b2"),
        }),
    );
    assert_eq!(
        treat("clinic-b", "dr-b2", "pt-1").at(&w, w.now),
        Err(Denial::NotAMember)
    );

    // A suspended grantee reads nothing, staff or not; reinstated, it reads again.
    w.set_suspended("clinic-b", true);
    for m in ["dr-b", "admin", "node0"] {
        assert_eq!(
            treat("clinic-b", m, "pt-1").at(&w, w.now),
            Err(Denial::OrgSuspended),
            "{m}"
        );
    }
    w.set_suspended("clinic-b", false);
    assert_eq!(treat("clinic-b", "dr-b", "pt-1").at(&w, w.now), consent());
}

#[test]
fn purposes_allowed_by_organisation_role() {
    use OrgRole::*;
    // (role, [treatment, payment, operations, research])
    let table = [
        (Hospital, [true, true, true, true]),
        (Clinic, [true, true, true, true]),
        (Lab, [true, true, true, true]),
        (Pharmacy, [true, true, true, false]),
        (Insurer, [false, true, true, false]),
        (ResearchSponsor, [false, false, false, true]),
        (Manufacturer, [false, false, false, false]),
        (Distributor, [false, false, false, false]),
        (Regulator, [false, false, false, false]),
    ];
    let purposes = [
        Purpose::Treatment,
        Purpose::Payment,
        Purpose::Operations,
        Purpose::Research,
    ];
    for (role, allowed) in table {
        for (purpose, want) in purposes.into_iter().zip(allowed) {
            assert_eq!(purpose_allowed(role, purpose), want, "{role:?} for {purpose:?}");
        }
    }
}

#[test]
fn the_reader_organisation_role_limits_the_purpose() {
    use MemberKind::*;
    let mut w = World::new(None);
    // The patient may consent to anything; the insurer still reads only for what an
    // insurer may claim.
    w.grant(
        "pt-1",
        "to-insurer",
        Grantee::Org(org("insurer-c")),
        &["*"],
        vec![Purpose::Treatment, Purpose::Payment],
    );
    let (now, world) = (w.now, &w);
    let ask = move |purpose: Purpose| {
        move |o: &str, m: &str| {
            Ask {
                purpose,
                ..treat(o, m, "pt-1")
            }
            .at(world, now)
        }
    };
    let consent = || Ok(Basis::Consent("to-insurer".into()));
    assert_decisions(
        &w,
        ask(Purpose::Treatment),
        &[
            ("insurer-c", "claims", Service, Err(Denial::PurposeNotForRole)),
            ("insurer-c", "dr-c", Practitioner, Err(Denial::PurposeNotForRole)),
        ],
    );
    assert_decisions(
        &w,
        ask(Purpose::Payment),
        &[
            ("insurer-c", "claims", Service, consent()),
            ("insurer-c", "dr-c", Practitioner, consent()),
        ],
    );
    // Allowed for the role but not consented to; and not allowed for the role at all.
    assert_decisions(
        &w,
        ask(Purpose::Operations),
        &[("insurer-c", "claims", Service, Err(Denial::PurposeNotCovered))],
    );
    assert_decisions(
        &w,
        ask(Purpose::Research),
        &[("insurer-c", "claims", Service, Err(Denial::PurposeNotForRole))],
    );
    // An emergency does not make an insurer a treating organisation.
    assert_eq!(
        emergency("insurer-c", "dr-c", "pt-1").at(&w, now),
        Err(Denial::PurposeNotForRole)
    );
    // The role limits reading other organisations' records: its own staff read its own
    // records for any purpose.
    assert_eq!(
        treat("insurer-c", "claims", "pt-1").held_by(&w, "insurer-c", now),
        Ok(Basis::Custodian)
    );
}

fn declare(patient: &str, reader_org: &str, reader_member: &str) -> Payload {
    Payload::BreakGlass(BreakGlass {
        patient: patient.into(),
        reader_org: org(reader_org),
        reader_member: member(reader_member),
    })
}

fn declared(patient: &str, reader_org: &str, reader_member: &str) -> Outcome {
    Ok(Ok(vec![Event::BreakGlass {
        patient: patient.into(),
        reader_org: org(reader_org),
        reader_member: member(reader_member),
    }]))
}

fn not_a_practitioner(o: &str, m: &str) -> Outcome {
    Ok(Err(TxError::NotAPractitioner {
        org: org(o),
        member: member(m),
    }))
}

/// `(name, signer org/member, declaration, expected)`, applied one millisecond apart.
type Declaration<'a> = (&'a str, (&'a str, &'a str), Payload, Outcome);

fn run_declarations(w: &mut World, steps: Vec<Declaration<'_>>) {
    for (name, (o, m), payload, expected) in steps {
        assert_eq!(w.step(&key(o, m), payload), expected, "step: {name}");
    }
}

#[test]
fn only_the_practitioner_or_its_node_declares_for_a_treating_practitioner() {
    let mut w = World::new(None);
    run_declarations(
        &mut w,
        vec![
            (
                "another organisation's node declares for dr-b",
                ("hospital-a", "node0"),
                declare("pt-1", "clinic-b", "dr-b"),
                Ok(Err(TxError::NotAuthorized)),
            ),
            (
                "a service key of clinic-b that is not a node",
                ("clinic-b", "billing"),
                declare("pt-1", "clinic-b", "dr-b"),
                Ok(Err(TxError::NotAuthorized)),
            ),
            (
                "clinic-b's admin",
                ("clinic-b", "admin"),
                declare("pt-1", "clinic-b", "dr-b"),
                Ok(Err(TxError::NotAuthorized)),
            ),
            (
                "a colleague of dr-b",
                ("clinic-b", "dr-b2"),
                declare("pt-1", "clinic-b", "dr-b"),
                Ok(Err(TxError::NotAuthorized)),
            ),
            (
                "for a device",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "monitor"),
                not_a_practitioner("clinic-b", "monitor"),
            ),
            (
                "for an admin",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "admin"),
                not_a_practitioner("clinic-b", "admin"),
            ),
            (
                "for a privacy officer",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "privacy"),
                not_a_practitioner("clinic-b", "privacy"),
            ),
            (
                "a device for itself",
                ("clinic-b", "monitor"),
                declare("pt-1", "clinic-b", "monitor"),
                not_a_practitioner("clinic-b", "monitor"),
            ),
            (
                "for nobody",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "nobody"),
                not_a_practitioner("clinic-b", "nobody"),
            ),
            (
                "an insurer's practitioner for itself",
                ("insurer-c", "dr-c"),
                declare("pt-1", "insurer-c", "dr-c"),
                Ok(Err(TxError::PurposeNotForRole)),
            ),
            (
                "an insurer's node for its practitioner",
                ("insurer-c", "node0"),
                declare("pt-1", "insurer-c", "dr-c"),
                Ok(Err(TxError::PurposeNotForRole)),
            ),
        ],
    );
    // Nothing refused opened anything.
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, w.now),
        Err(Denial::NoBreakGlass)
    );
    run_declarations(
        &mut w,
        vec![
            (
                "dr-b declares with its own key",
                ("clinic-b", "dr-b"),
                declare("pt-1", "clinic-b", "dr-b"),
                declared("pt-1", "clinic-b", "dr-b"),
            ),
            (
                "clinic-b's genesis node declares for dr-b2",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "dr-b2"),
                declared("pt-1", "clinic-b", "dr-b2"),
            ),
        ],
    );
}

#[test]
fn a_declaration_opens_the_patient_records_for_its_grant_time() {
    let mut w = World::new(None);
    let before = w.now;
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, before),
        Err(Denial::NoBreakGlass)
    );
    assert_eq!(treat("clinic-b", "dr-b", "pt-1").at(&w, before), Err(Denial::NoConsent));

    let declared_at = w.now + 1;
    run_declarations(
        &mut w,
        vec![
            (
                "dr-b declares with its own key",
                ("clinic-b", "dr-b"),
                declare("pt-1", "clinic-b", "dr-b"),
                declared("pt-1", "clinic-b", "dr-b"),
            ),
            (
                "clinic-b's genesis node declares for dr-b2",
                ("clinic-b", "node0"),
                declare("pt-1", "clinic-b", "dr-b2"),
                declared("pt-1", "clinic-b", "dr-b2"),
            ),
        ],
    );
    let t = w.now;
    let expires = declared_at + 60 * MINUTE;
    let cases = [
        (
            "dr-b, emergency",
            emergency("clinic-b", "dr-b", "pt-1"),
            t,
            Ok(Basis::BreakGlass),
        ),
        (
            "dr-b2, declared by the node",
            emergency("clinic-b", "dr-b2", "pt-1"),
            t,
            Ok(Basis::BreakGlass),
        ),
        (
            "dr-b, not asking for it",
            treat("clinic-b", "dr-b", "pt-1"),
            t,
            Err(Denial::NoConsent),
        ),
        (
            "dr-b, for payment",
            Ask {
                purpose: Purpose::Payment,
                ..emergency("clinic-b", "dr-b", "pt-1")
            },
            t,
            Err(Denial::NoBreakGlass),
        ),
        (
            "dr-b, another patient",
            emergency("clinic-b", "dr-b", "pt-2"),
            t,
            Err(Denial::NoBreakGlass),
        ),
        (
            "dr-b2, another patient",
            emergency("clinic-b", "dr-b2", "pt-2"),
            t,
            Err(Denial::NoBreakGlass),
        ),
        (
            "clinic-b's billing service",
            emergency("clinic-b", "billing", "pt-1"),
            t,
            Err(Denial::NoBreakGlass),
        ),
        (
            "dr-b, last minute",
            emergency("clinic-b", "dr-b", "pt-1"),
            expires - 1,
            Ok(Basis::BreakGlass),
        ),
        (
            "dr-b, expired",
            emergency("clinic-b", "dr-b", "pt-1"),
            expires,
            Err(Denial::NoBreakGlass),
        ),
        (
            "the insurer's practitioner",
            emergency("insurer-c", "dr-c", "pt-1"),
            t,
            Err(Denial::PurposeNotForRole),
        ),
    ];
    for (name, ask, at, want) in cases {
        assert_eq!(ask.at(&w, at), want, "{name}");
    }

    // Once expired, declaring again opens it again, from the new declaration.
    let again = expires + HOUR;
    assert_eq!(
        w.step_at(&key("clinic-b", "dr-b"), declare("pt-1", "clinic-b", "dr-b"), again),
        declared("pt-1", "clinic-b", "dr-b")
    );
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, again),
        Ok(Basis::BreakGlass)
    );
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, again + 60 * MINUTE),
        Err(Denial::NoBreakGlass)
    );
}

#[test]
fn a_matching_consent_is_the_basis_even_in_an_emergency() {
    let mut w = World::new(None);
    assert_eq!(
        w.step(&key("clinic-b", "dr-b"), declare("pt-1", "clinic-b", "dr-b")),
        declared("pt-1", "clinic-b", "dr-b")
    );
    let declared_at = w.now;
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, w.now),
        Ok(Basis::BreakGlass)
    );
    // A consent that matches is the basis, emergency or not, declared or not.
    w.grant(
        "pt-1",
        "dr-b-obs",
        Grantee::Practitioner {
            org: org("clinic-b"),
            member: member("dr-b"),
        },
        &["Observation"],
        vec![Purpose::Treatment],
    );
    let consent = Ok(Basis::Consent("dr-b-obs".into()));
    assert_eq!(emergency("clinic-b", "dr-b", "pt-1").at(&w, w.now), consent);
    assert_eq!(treat("clinic-b", "dr-b", "pt-1").at(&w, w.now), consent);
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, declared_at + DAY),
        consent,
        "long after the declaration expired"
    );
    // For another purpose neither opens it: the consent is for treatment, and so is
    // break-glass.
    assert_eq!(
        Ask {
            purpose: Purpose::Payment,
            ..emergency("clinic-b", "dr-b", "pt-1")
        }
        .at(&w, w.now),
        Err(Denial::NoBreakGlass)
    );
}

#[test]
fn revoked_or_suspended_readers_lose_break_glass() {
    let mut w = World::new(None);
    // A revoked practitioner's declaration opens nothing; nor can it declare again.
    assert_eq!(
        w.step(&key("clinic-b", "node0"), declare("pt-1", "clinic-b", "dr-b2")),
        declared("pt-1", "clinic-b", "dr-b2")
    );
    assert_eq!(
        emergency("clinic-b", "dr-b2", "pt-1").at(&w, w.now),
        Ok(Basis::BreakGlass)
    );
    w.ok(
        &key("clinic-b", "admin"),
        Payload::RevokeMember(RevokeMember {
            org: org("clinic-b"),
            member: member("dr-b2"),
        }),
    );
    assert_eq!(
        emergency("clinic-b", "dr-b2", "pt-1").at(&w, w.now),
        Err(Denial::NotAMember)
    );
    assert_eq!(
        w.step(&key("clinic-b", "node0"), declare("pt-2", "clinic-b", "dr-b2")),
        not_a_practitioner("clinic-b", "dr-b2")
    );

    // A suspended organisation neither reads under a declaration nor declares.
    let open_again = w.now + 1;
    assert_eq!(
        w.step_at(
            &key("clinic-b", "dr-b"),
            declare("pt-2", "clinic-b", "dr-b"),
            open_again
        ),
        declared("pt-2", "clinic-b", "dr-b")
    );
    w.set_suspended("clinic-b", true);
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-2").at(&w, w.now),
        Err(Denial::OrgSuspended)
    );
    assert_eq!(
        w.step(&key("clinic-b", "dr-b"), declare("pt-3", "clinic-b", "dr-b")),
        Err(Rejection::OrgSuspended(org("clinic-b")))
    );
}

#[test]
fn only_a_current_node_of_the_reader_organisation_declares_for_it() {
    let mut w = World::new(None);
    w.register("clinic-b", "node1", MemberKind::Service);
    let vote = |add: bool| {
        Payload::VoteNode(VoteNode {
            org: org("clinic-b"),
            member: member("node1"),
            add,
        })
    };
    assert_eq!(
        w.step(&key("clinic-b", "node1"), declare("pt-1", "clinic-b", "dr-b")),
        Ok(Err(TxError::NotAuthorized)),
        "registered by its organisation only, node1 is not a node"
    );
    for voter in ["hospital-a", "insurer-c"] {
        w.ok(&key(voter, "admin"), vote(true));
    }
    assert_eq!(
        w.step(&key("clinic-b", "node1"), declare("pt-1", "clinic-b", "dr-b")),
        declared("pt-1", "clinic-b", "dr-b")
    );
    for voter in ["hospital-a", "insurer-c"] {
        w.ok(&key(voter, "admin"), vote(false));
    }
    assert_eq!(
        w.step(&key("clinic-b", "node1"), declare("pt-2", "clinic-b", "dr-b")),
        Ok(Err(TxError::NotAuthorized)),
        "voted out"
    );
}

#[test]
fn break_glass_is_limited_per_practitioner_per_day_of_block_time() {
    let rules = BreakGlassRules {
        patients_per_day: 2,
        grant_minutes: 30,
    };
    let mut w = World::new(Some(rules));
    assert_eq!(break_glass::rules(&w.state), rules);
    let t0 = w.now + 1000;
    let limit = || -> Outcome { Ok(Err(TxError::BreakGlassLimit { per_day: 2 })) };
    let (dr_b, dr_b2, node0) = (
        key("clinic-b", "dr-b"),
        key("clinic-b", "dr-b2"),
        key("clinic-b", "node0"),
    );
    // (name, signer, patient, reader, block time, expected)
    type Step<'a> = (&'a str, &'a Keypair, &'a str, &'a str, u64, Outcome);
    let run = |w: &mut World, steps: Vec<Step<'_>>| {
        for (name, signer, patient, reader, at, expected) in steps {
            assert_eq!(
                w.step_at(signer, declare(patient, "clinic-b", reader), at),
                expected,
                "step: {name}"
            );
        }
    };
    run(
        &mut w,
        vec![
            (
                "first patient",
                &dr_b,
                "pt-1",
                "dr-b",
                t0,
                declared("pt-1", "clinic-b", "dr-b"),
            ),
            (
                "second patient",
                &dr_b,
                "pt-2",
                "dr-b",
                t0 + HOUR,
                declared("pt-2", "clinic-b", "dr-b"),
            ),
            (
                "third patient within 24 h",
                &dr_b,
                "pt-3",
                "dr-b",
                t0 + 2 * HOUR,
                limit(),
            ),
            (
                "declared by the node: the same practitioner's limit",
                &node0,
                "pt-3",
                "dr-b",
                t0 + 2 * HOUR,
                limit(),
            ),
            (
                "another practitioner has a limit of its own",
                &dr_b2,
                "pt-3",
                "dr-b2",
                t0 + 2 * HOUR,
                declared("pt-3", "clinic-b", "dr-b2"),
            ),
        ],
    );
    // A refused declaration opens nothing.
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-3").at(&w, w.now),
        Err(Denial::NoBreakGlass)
    );

    let renewed = t0 + 3 * HOUR;
    run(
        &mut w,
        vec![(
            "a patient already declared counts once",
            &dr_b,
            "pt-2",
            "dr-b",
            renewed,
            declared("pt-2", "clinic-b", "dr-b"),
        )],
    );
    // ... and renews the access from the new declaration.
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-2").at(&w, renewed + 29 * MINUTE),
        Ok(Basis::BreakGlass)
    );

    run(
        &mut w,
        vec![
            (
                "just before the first declaration is 24 h old",
                &dr_b,
                "pt-3",
                "dr-b",
                t0 + DAY - 1,
                limit(),
            ),
            (
                "24 h after the first declaration",
                &dr_b,
                "pt-3",
                "dr-b",
                t0 + DAY,
                declared("pt-3", "clinic-b", "dr-b"),
            ),
            (
                "pt-1 counts as a new patient in this window",
                &dr_b,
                "pt-1",
                "dr-b",
                t0 + DAY + 1,
                limit(),
            ),
            (
                "24 h after pt-2's renewal",
                &dr_b,
                "pt-1",
                "dr-b",
                renewed + DAY,
                declared("pt-1", "clinic-b", "dr-b"),
            ),
        ],
    );
    // The genesis grant lasts 30 minutes, not the default 60.
    let last = renewed + DAY;
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, last + 30 * MINUTE - 1),
        Ok(Basis::BreakGlass)
    );
    assert_eq!(
        emergency("clinic-b", "dr-b", "pt-1").at(&w, last + 30 * MINUTE),
        Err(Denial::NoBreakGlass)
    );
}

#[test]
fn without_genesis_rules_the_default_limits_apply() {
    let mut w = World::empty(None);
    w.register("clinic-b", "dr-b", MemberKind::Practitioner);
    let defaults = break_glass::rules(&w.state);
    assert_eq!(defaults, BreakGlassRules::default());
    assert_eq!((defaults.patients_per_day, defaults.grant_minutes), (10, 60));
    let dr_b = key("clinic-b", "dr-b");
    for i in 0..10 {
        let p = format!("pt-{i}");
        assert_eq!(
            w.step(&dr_b, declare(&p, "clinic-b", "dr-b")),
            declared(&p, "clinic-b", "dr-b")
        );
    }
    assert_eq!(
        w.step(&dr_b, declare("pt-10", "clinic-b", "dr-b")),
        Ok(Err(TxError::BreakGlassLimit { per_day: 10 }))
    );
}

#[test]
fn break_glass_bodies_round_trip_and_truncations_are_refused() {
    let Payload::BreakGlass(b) = declare("pt-1", "clinic-b", "dr-b") else {
        unreachable!()
    };
    let bytes = b.encode();
    assert_eq!(BreakGlass::decode(&bytes).unwrap(), b);
    for n in 0..bytes.len() {
        assert!(BreakGlass::decode(&bytes[..n]).is_err(), "truncated to {n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(BreakGlass::decode(&longer).is_err());
    // The patient is a pseudonym, not free text.
    let named = BreakGlass {
        patient: "Jane Doe".into(),
        ..b
    };
    assert!(BreakGlass::decode(&named.encode()).is_err());
    let rules = BreakGlassRules {
        patients_per_day: 3,
        grant_minutes: 15,
    };
    assert_eq!(BreakGlassRules::decode(&rules.encode()).unwrap(), rules);
}

#[test]
fn the_patients_of_a_suspended_organisation_keep_their_control() {
    let mut w = World::new(None);
    w.enrol("hospital-a", "pt-5");
    w.set_suspended("hospital-a", true);
    // The organisation's staff stop signing; its patients do not.
    let admin_tx = w.step(
        &key("hospital-a", "admin"),
        Payload::RegisterMember(RegisterMember {
            org: org("hospital-a"),
            member: member("late"),
            kind: MemberKind::Practitioner,
            public_key: key("hospital-a", "late").public(),
        }),
    );
    assert_eq!(admin_tx, Err(Rejection::OrgSuspended(org("hospital-a"))));
    w.grant(
        "pt-5",
        "while-suspended",
        Grantee::Org(org("clinic-b")),
        &["Observation"],
        vec![Purpose::Treatment],
    );
    assert_eq!(treat("hospital-a", "pt-5", "pt-5").at(&w, START), Ok(Basis::OwnRecord));
    assert_eq!(
        treat("clinic-b", "node0", "pt-5").at(&w, START),
        Ok(Basis::Consent("while-suspended".into()))
    );
}

#[test]
fn study_investigators_come_from_organisations_that_may_read_for_research() {
    let mut w = World::new(None);
    w.register("insurer-c", "dr-i", MemberKind::Practitioner);
    w.register("clinic-b", "dr-r", MemberKind::Practitioner);
    let study = |investigators: Vec<(OrgId, MemberId)>| {
        Payload::RegisterStudy(medledger_ledger::research::study::RegisterStudy {
            study: "trial-9".into(),
            investigators,
        })
    };
    assert_eq!(
        w.step(
            &key("hospital-a", "admin"),
            study(vec![(org("insurer-c"), member("dr-i"))])
        ),
        Ok(Err(TxError::PurposeNotForRole))
    );
    let ok = w.step(
        &key("hospital-a", "admin"),
        study(vec![(org("clinic-b"), member("dr-r"))]),
    );
    assert!(matches!(ok, Ok(Ok(_))), "{ok:?}");
}
