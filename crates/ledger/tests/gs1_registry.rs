//! The GS1 registry changed by the consortium's vote (`supply.vote_gs1`, ADR 014 §5):
//! who votes, when a change happens, and that the registry stays prefix-free.

mod common;

use medledger_crypto::Keypair;
use medledger_gs1::ident::check_digit;
use medledger_ledger::genesis::{GenesisGs1, GenesisMember};
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::supply::vote_gs1::{self, VoteGs1};
use medledger_ledger::supply::{gln_owner, gtin_owner, prefix_owner};
use medledger_ledger::{BlockContext, Event, Genesis, Payload, Rejection, TxError};
use medledger_types::codec::Encode;
use medledger_types::{ChainId, Height, MemberId, OrgId, TimestampMs};

use common::State;

const CHAIN: &str = "gs1-registry";

/// In key-seed order; maker-a has prefix 0614141 from genesis, maker-b nothing yet.
const ORGS: [(&str, OrgRole); 5] = [
    ("maker-a", OrgRole::Manufacturer),
    ("maker-b", OrgRole::Manufacturer),
    ("wholesaler", OrgRole::Distributor),
    ("pharmacy", OrgRole::Pharmacy),
    ("regulator", OrgRole::Regulator),
];
const MAKER_A: usize = 0;
const MAKER_B: usize = 1;
const WHOLESALER: usize = 2;
const PHARMACY: usize = 3;
const REGULATOR: usize = 4;
const QUORUM: u32 = 3;

fn org(i: usize) -> OrgId {
    OrgId::new(ORGS[i].0).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

/// The wholesaler's node, a service member (not an admin).
fn wholesaler_node() -> Keypair {
    Keypair::from_seed([50; 32])
}

fn gln(data12: &str) -> String {
    format!("{data12}{}", check_digit(data12).unwrap())
}

fn genesis(quorum: Option<u32>) -> Genesis {
    let orgs = ORGS
        .iter()
        .enumerate()
        .map(|(i, (id, role))| {
            let mut o = common::genesis::org_with_admin(id, *role, &admin(i));
            if i == MAKER_A {
                o.gs1 = Some(GenesisGs1 {
                    company_prefixes: vec!["0614141".into()],
                    glns: vec![gln("061414100000")],
                });
            }
            if i == WHOLESALER {
                o.members.push(GenesisMember {
                    member: MemberId::new("node").unwrap(),
                    kind: MemberKind::Service,
                    public_key: wholesaler_node().public(),
                });
            }
            o
        })
        .collect();
    Genesis {
        suspend_quorum: quorum,
        ..common::genesis::genesis(CHAIN, orgs, "maker-a")
    }
}

struct World {
    state: State,
    height: u64,
}

impl World {
    fn new(quorum: Option<u32>) -> World {
        World {
            state: common::genesis::state_of(&genesis(quorum)),
            height: 0,
        }
    }

    fn vote(&mut self, signer: &Keypair, vote: &VoteGs1) -> Result<Vec<Event>, TxError> {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new(CHAIN).unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(self.height * 1000),
        };
        let applied = common::apply_signed(&mut self.state, signer, &Payload::VoteGs1(vote.clone()), &ctx)
            .expect("the envelope is accepted");
        applied.error.map_or(Ok(applied.events), Err)
    }

    /// Votes from each of `voters` in turn; returns the last vote's events.
    fn carry(&mut self, voters: &[usize], vote: &VoteGs1) -> Vec<Event> {
        let mut last = Vec::new();
        for &v in voters {
            last = self
                .vote(&admin(v), vote)
                .unwrap_or_else(|e| panic!("{} votes: {e}", ORGS[v].0));
        }
        last
    }

    fn under(&self, digits: &str) -> Option<u64> {
        medledger_ledger::state::read(&self.state, &medledger_ledger::state::keys::gs1_under(digits))
    }
}

fn change(who: usize, register: bool, prefixes: &[&str], glns: &[&str]) -> VoteGs1 {
    VoteGs1 {
        org: org(who),
        register,
        company_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        glns: glns.iter().map(|g| g.to_string()).collect(),
    }
}

#[test]
fn a_change_happens_at_the_quorum_of_other_organisations() {
    let mut w = World::new(Some(QUORUM));
    let b_gln = gln("001234500001");
    let reg = change(MAKER_B, true, &["0012345"], &[&b_gln]);

    // Below the quorum the ballot only counts.
    for (n, voter) in [WHOLESALER, PHARMACY].into_iter().enumerate() {
        let events = w.vote(&admin(voter), &reg).unwrap();
        assert_eq!(
            events,
            vec![Event::Gs1Voted {
                org: org(MAKER_B),
                voter: org(voter),
                register: true,
                ballot: reg.ballot_id(),
                votes: n as u32 + 1,
                quorum: QUORUM,
            }]
        );
        assert_eq!(prefix_owner(&w.state, "0012345"), None);
    }
    // The same organisation cannot vote twice.
    assert_eq!(w.vote(&admin(PHARMACY), &reg), Err(TxError::AlreadyVoted));

    // The third vote carries it, in that block.
    let events = w.vote(&admin(REGULATOR), &reg).unwrap();
    assert_eq!(
        events.last(),
        Some(&Event::Gs1Changed {
            org: org(MAKER_B),
            register: true,
            company_prefixes: vec!["0012345".into()],
            glns: vec![b_gln.clone()],
        })
    );
    assert_eq!(prefix_owner(&w.state, "0012345"), Some(org(MAKER_B)));
    assert_eq!(gtin_owner(&w.state, "10012345000019"), Some(org(MAKER_B)));
    assert_eq!(gln_owner(&w.state, &b_gln), Some(org(MAKER_B)));
    assert_eq!(w.under("001234"), Some(1));
    // The ballot is gone: a fresh vote on the same change is refused as already done.
    assert!(
        !w.state.keys().any(|k| k.starts_with(b"gs1/ballot/")),
        "the carried ballot is deleted"
    );
    assert_eq!(
        w.vote(&admin(MAKER_A), &reg),
        Err(TxError::Gs1Taken { id: "0012345".into() })
    );
}

#[test]
fn only_admins_of_other_organisations_vote() {
    let mut w = World::new(Some(QUORUM));
    let reg = change(MAKER_B, true, &["0012345"], &[]);
    // An organisation cannot register a prefix to itself.
    assert_eq!(w.vote(&admin(MAKER_B), &reg), Err(TxError::NotAuthorized));
    // A node (service member) is not an admin.
    assert_eq!(w.vote(&wholesaler_node(), &reg), Err(TxError::NotAuthorized));
    // An unknown organisation cannot be named.
    let mut ghost = reg.clone();
    ghost.org = OrgId::new("ghost").unwrap();
    assert!(matches!(
        w.vote(&admin(WHOLESALER), &ghost),
        Err(TxError::UnknownOrg(_))
    ));
    // Nothing was counted.
    assert!(!w.state.keys().any(|k| k.starts_with(b"gs1/ballot/")));
}

#[test]
fn without_a_quorum_in_genesis_the_registry_is_fixed() {
    let mut w = World::new(None);
    let reg = change(MAKER_B, true, &["0012345"], &[]);
    assert_eq!(w.vote(&admin(WHOLESALER), &reg), Err(TxError::NoGovernance));
}

#[test]
fn different_changes_are_different_ballots() {
    let mut w = World::new(Some(QUORUM));
    let one = change(MAKER_B, true, &["0012345"], &[]);
    let other = change(MAKER_B, true, &["0012346"], &[]);
    assert_ne!(one.ballot_id(), other.ballot_id());
    w.carry(&[WHOLESALER, PHARMACY], &one);
    // A vote for another change does not count towards the first.
    let events = w.vote(&admin(REGULATOR), &other).unwrap();
    assert!(matches!(events.as_slice(), [Event::Gs1Voted { votes: 1, .. }]));
    assert_eq!(prefix_owner(&w.state, "0012345"), None);
    assert_eq!(prefix_owner(&w.state, "0012346"), None);
}

/// Every way a registration could make a GTIN have two owners, refused at the first vote.
#[test]
fn the_registry_stays_prefix_free() {
    let mut w = World::new(Some(QUORUM));
    // Genesis counted maker-a's 0614141 under each shorter run of its digits.
    assert_eq!(w.under("061414"), Some(1));
    assert_eq!(w.under("0614141"), None);

    let a_gln = gln("061414100000");
    let table: [(&str, VoteGs1, &str); 4] = [
        ("the same prefix", change(MAKER_B, true, &["0614141"], &[]), "0614141"),
        (
            "a longer prefix a registered one starts",
            change(MAKER_B, true, &["06141415"], &[]),
            "0614141",
        ),
        (
            "a shorter prefix that starts a registered one",
            change(MAKER_B, true, &["061414"], &[]),
            "061414 (a longer registered prefix starts with it)",
        ),
        (
            "a registered GLN",
            change(MAKER_B, true, &[], &[&a_gln]),
            a_gln.as_str(),
        ),
    ];
    for (name, vote, id) in table {
        assert_eq!(
            w.vote(&admin(WHOLESALER), &vote),
            Err(TxError::Gs1Taken { id: id.to_owned() }),
            "{name}"
        );
    }
    assert!(!w.state.keys().any(|k| k.starts_with(b"gs1/ballot/")));
}

#[test]
fn a_change_that_became_impossible_gathers_no_more_votes() {
    let mut w = World::new(Some(QUORUM));
    let for_b = change(MAKER_B, true, &["0012345"], &[]);
    let for_pharmacy = change(PHARMACY, true, &["00123456"], &[]);
    w.carry(&[WHOLESALER, PHARMACY], &for_b);
    w.carry(&[WHOLESALER, REGULATOR], &for_pharmacy);
    // maker-b's prefix is carried first; the pharmacy's longer one now clashes with it.
    w.vote(&admin(REGULATOR), &for_b).unwrap();
    assert_eq!(
        w.vote(&admin(MAKER_A), &for_pharmacy),
        Err(TxError::Gs1Taken { id: "0012345".into() })
    );
    assert_eq!(prefix_owner(&w.state, "00123456"), None);
}

#[test]
fn withdrawing_frees_the_identifiers_and_their_counts() {
    let mut w = World::new(Some(QUORUM));
    let a_gln = gln("061414100000");
    // Only what is registered to the organisation named can be withdrawn.
    assert_eq!(
        w.vote(&admin(WHOLESALER), &change(MAKER_B, false, &["0614141"], &[])),
        Err(TxError::Gs1NotRegistered { id: "0614141".into() })
    );
    assert_eq!(
        w.vote(&admin(WHOLESALER), &change(MAKER_A, false, &["0012345"], &[])),
        Err(TxError::Gs1NotRegistered { id: "0012345".into() })
    );

    let withdraw = change(MAKER_A, false, &["0614141"], &[&a_gln]);
    let events = w.carry(&[WHOLESALER, PHARMACY, REGULATOR], &withdraw);
    assert!(matches!(events.last(), Some(Event::Gs1Changed { register: false, .. })));
    assert_eq!(prefix_owner(&w.state, "0614141"), None);
    assert_eq!(gtin_owner(&w.state, "10614141000019"), None);
    assert_eq!(gln_owner(&w.state, &a_gln), None);
    assert_eq!(
        w.under("061414"),
        None,
        "the count of prefixes under 061414 is back to none"
    );

    // The shorter prefix that clashed before can now be registered, to maker-b.
    w.carry(
        &[WHOLESALER, PHARMACY, REGULATOR],
        &change(MAKER_B, true, &["061414"], &[]),
    );
    assert_eq!(gtin_owner(&w.state, "10614141000019"), Some(org(MAKER_B)));
}

/// A change is one sequence of bytes: identifiers well-formed, ascending, each once, at
/// least one, none starting another. Anything else does not decode.
#[test]
fn malformed_changes_are_refused_before_they_reach_the_ledger() {
    let good = gln("001234500001");
    let last = good.as_bytes()[12] - b'0';
    let bad_gln = format!("{}{}", &good[..12], (last + 1) % 10);
    let table: [(&str, VoteGs1); 7] = [
        ("no identifier", change(MAKER_B, true, &[], &[])),
        ("a five-digit prefix", change(MAKER_B, true, &["00123"], &[])),
        ("a prefix with a letter", change(MAKER_B, true, &["00123A5"], &[])),
        (
            "a GLN with a wrong check digit",
            change(MAKER_B, true, &[], &[&bad_gln]),
        ),
        (
            "prefixes out of order",
            change(MAKER_B, true, &["0012346", "0012345"], &[]),
        ),
        ("a prefix twice", change(MAKER_B, true, &["0012345", "0012345"], &[])),
        (
            "one prefix starting another",
            change(MAKER_B, true, &["0012345", "00123456"], &[]),
        ),
    ];
    for (name, vote) in table {
        let body = vote.encode();
        assert!(
            matches!(Payload::decode(vote_gs1::KIND, &body), Err(Rejection::MalformedBody(_))),
            "{name}"
        );
    }
    // The well-formed version round-trips.
    let ok = change(MAKER_B, true, &["0012345", "0012346"], &[&gln("001234500001")]);
    assert_eq!(
        Payload::decode(vote_gs1::KIND, &ok.encode()).unwrap(),
        Payload::VoteGs1(ok)
    );
}

#[test]
fn genesis_counts_every_prefix_under_its_shorter_runs() {
    let mut g = genesis(Some(QUORUM));
    g.orgs[MAKER_B].gs1 = Some(GenesisGs1 {
        company_prefixes: vec!["001234567890".into()],
        glns: Vec::new(),
    });
    let state = common::genesis::state_of(&g);
    let under = |d: &str| -> Option<u64> {
        medledger_ledger::state::read(&state, &medledger_ledger::state::keys::gs1_under(d))
    };
    for l in 6..12 {
        assert_eq!(under(&"001234567890"[..l]), Some(1), "length {l}");
    }
    assert_eq!(under("001234567890"), None);
    assert_eq!(under("061414"), Some(1));
}
