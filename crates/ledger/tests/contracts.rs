//! The contracts domain (issue 15, ADR 015 "The ledger side"): deploying and upgrading
//! contract code, the consortium's vote, the facts a contract reads and how a call's
//! writes reach its state, and the threat model's contract rows.
//!
//! Tables: given the state earlier steps left, this transaction gives these events or this
//! error. The example contracts are built from `contracts/examples` with the pinned
//! AssemblyScript compiler, as the engine's tests do (`npm ci --prefix contracts` once).

mod common;
#[path = "../../contracts/tests/common/mod.rs"]
mod examples;

use medledger_contracts::abi::{self, AbiLimits, Value};
use medledger_contracts::{Engine, Host, LimitKind, Outcome, Write};
use medledger_crypto::Keypair;
use medledger_ledger::contracts::deploy::{self, ContractDeploy};
use medledger_ledger::contracts::facts::{LedgerFacts, StateWriteError, apply_call_writes};
use medledger_ledger::contracts::vote::{self, ContractVote};
use medledger_ledger::contracts::{self, CodeId, ContractName, ContractParams, INTERFACE_V1, consensus_limits};
use medledger_ledger::genesis::{GenesisError, GenesisMember};
use medledger_ledger::identity::vote_org::OrgStatus;
use medledger_ledger::identity::{MemberKind, MemberRecord, OrgRole};
use medledger_ledger::{BlockContext, Event, Genesis, Overlay, Payload, Rejection, TxError, keys};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs};
use proptest::prelude::*;

use common::State;

const CHAIN: &str = "contracts-chain";

const INSURER: usize = 0;
const HOSPITAL: usize = 1;
const CLINIC: usize = 2;
const LAB: usize = 3;

const ORGS: [(&str, OrgRole); 4] = [
    ("insurer-a", OrgRole::Insurer),
    ("hospital-b", OrgRole::Hospital),
    ("clinic-c", OrgRole::Clinic),
    ("lab-d", OrgRole::Lab),
];

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

fn org_of(i: usize) -> OrgId {
    org(ORGS[i].0)
}

fn member(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn name(s: &str) -> ContractName {
    ContractName::new(s).unwrap()
}

fn admin(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

/// A practitioner of each organisation, member `staff`.
fn staff(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 21; 32])
}

fn genesis(quorum: Option<u32>, params: Option<ContractParams>) -> Genesis {
    let orgs = ORGS
        .iter()
        .enumerate()
        .map(|(i, (id, role))| medledger_ledger::genesis::GenesisOrg {
            members: vec![GenesisMember {
                member: member("staff"),
                kind: MemberKind::Practitioner,
                public_key: staff(i).public(),
            }],
            ..common::genesis::org_with_admin(id, *role, &admin(i))
        })
        .collect();
    Genesis {
        suspend_quorum: quorum,
        contracts: params,
        ..common::genesis::genesis(CHAIN, orgs, "hospital-b")
    }
}

type Outcome0 = Result<Vec<Event>, TxError>;

struct World {
    state: State,
    height: u64,
}

impl World {
    fn new(quorum: Option<u32>, params: Option<ContractParams>) -> Self {
        World {
            state: common::genesis::state_of(&genesis(quorum, params)),
            height: 0,
        }
    }

    /// Applies `payload` signed by `signer` in the next block; panics on a rejection.
    fn apply(&mut self, signer: &Keypair, payload: Payload) -> Outcome0 {
        self.try_apply(signer, payload).expect("the envelope is valid")
    }

    fn try_apply(&mut self, signer: &Keypair, payload: Payload) -> Result<Outcome0, Rejection> {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: ChainId::new(CHAIN).unwrap(),
            height: Height(self.height),
            timestamp: TimestampMs(1_700_000_000_000 + self.height * 1000),
        };
        let applied = common::apply_signed(&mut self.state, signer, &payload, &ctx)?;
        Ok(match applied.error {
            None => Ok(applied.events),
            Some(e) => Err(e),
        })
    }

    /// The state without the signers' nonces: what a refused transaction must leave as it was.
    fn without_nonces(&self) -> State {
        self.state
            .iter()
            .filter(|(k, _)| !k.starts_with(b"nonce/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn code_keys(&self) -> usize {
        self.state.keys().filter(|k| k.starts_with(b"contract-code/")).count()
    }
}

fn deploy_payload(owner: usize, contract: &str, version: u32, code: Vec<u8>) -> Payload {
    Payload::ContractDeploy(ContractDeploy {
        org: org_of(owner),
        name: name(contract),
        version,
        interface: INTERFACE_V1,
        code,
    })
}

fn vote_payload(owner: usize, contract: &str, version: u32, code: &[u8]) -> Payload {
    Payload::ContractVote(ContractVote {
        org: org_of(owner),
        name: name(contract),
        version,
        code: Hash32(CodeId::of(code).0),
    })
}

/// A module with the ABI's `memory` and `call` around `body`, importing nothing.
fn wat_module(extra: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {extra} (memory (export "memory") 1) (func (export "call") (result i32) {body}))"#
    ))
    .unwrap()
}

/// Code that returns `status` (distinct statuses give distinct code ids).
fn returns(status: i32) -> Vec<u8> {
    wat_module("", &format!("(i32.const {status})"))
}

fn float_code() -> Vec<u8> {
    wat_module("", "(drop (f64.add (f64.const 1) (f64.const 2))) (i32.const 0)")
}

fn deployed(owner: usize, contract: &str, version: u32, code: &[u8], active: bool) -> Event {
    Event::ContractDeployed {
        org: org_of(owner),
        name: name(contract),
        version,
        code: Hash32(CodeId::of(code).0),
        active,
    }
}

#[test]
fn deployment_rules_each_refuse_with_their_own_error() {
    let mut w = World::new(None, None);
    let v1 = returns(0);
    let v2 = returns(1);
    let interface_2 = Payload::ContractDeploy(ContractDeploy {
        interface: 2,
        ..match deploy_payload(INSURER, "plan", 2, v2.clone()) {
            Payload::ContractDeploy(d) => d,
            _ => unreachable!(),
        }
    });
    let unknown_org = Payload::ContractDeploy(ContractDeploy {
        org: org("nobody-z"),
        name: name("plan"),
        version: 1,
        interface: INTERFACE_V1,
        code: v1.clone(),
    });
    let code_refusal = |code: Vec<u8>| deploy_payload(INSURER, "plan", 2, code);
    let table: Vec<(&str, Keypair, Payload, Outcome0)> = vec![
        (
            "the first version",
            admin(INSURER),
            deploy_payload(INSURER, "plan", 1, v1.clone()),
            Ok(vec![deployed(INSURER, "plan", 1, &v1, true)]),
        ),
        (
            "version 1 again",
            admin(INSURER),
            deploy_payload(INSURER, "plan", 1, v2.clone()),
            Err(TxError::VersionConflict { expected: 2, got: 1 }),
        ),
        (
            "a version skipped",
            admin(INSURER),
            deploy_payload(INSURER, "plan", 3, v2.clone()),
            Err(TxError::VersionConflict { expected: 2, got: 3 }),
        ),
        (
            "another organisation's admin, in the insurer's name",
            admin(HOSPITAL),
            deploy_payload(INSURER, "plan", 2, v2.clone()),
            Err(TxError::NotAuthorized),
        ),
        (
            "a practitioner of the insurer",
            staff(INSURER),
            deploy_payload(INSURER, "plan", 2, v2.clone()),
            Err(TxError::NotAuthorized),
        ),
        (
            "an unknown organisation",
            admin(INSURER),
            unknown_org,
            Err(TxError::UnknownOrg(org("nobody-z"))),
        ),
        (
            "interface 2",
            admin(INSURER),
            interface_2,
            Err(TxError::ContractInterface { got: 2 }),
        ),
    ];
    for (what, signer, payload, expected) in table {
        assert_eq!(w.apply(&signer, payload), expected, "{what}");
    }
    // Code the engine refuses: its own outcome each, nothing written.
    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        ("floats", float_code(), "contract_code_float"),
        (
            "not WebAssembly",
            b"\0asm\x01\0\0\0garbage".to_vec(),
            "contract_code_invalid",
        ),
        (
            "an import that is not ABI v1",
            wat_module(r#"(import "env" "seed" (func (result i64)))"#, "(i32.const 0)"),
            "contract_code_imports",
        ),
        (
            "no call export",
            wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap(),
            "contract_code_exports",
        ),
        (
            "too much memory",
            wat::parse_str(
                r#"(module (memory (export "memory") 17) (func (export "call") (result i32) (i32.const 0)))"#,
            )
            .unwrap(),
            "contract_code_memory",
        ),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for (what, code, reason) in refusals {
        let before = w.without_nonces();
        let err = w.apply(&admin(INSURER), code_refusal(code)).expect_err(what);
        assert_eq!(err.reason(), reason, "{what}");
        assert_eq!(medledger_ledger::describe_outcome(err.code()), reason, "{what}");
        assert!(
            codes.insert(err.code().0),
            "{what}: each refusal has its own outcome code"
        );
        assert_eq!(
            w.without_nonces(),
            before,
            "{what}: a refused deployment writes nothing"
        );
    }
    // Version 2 after all the refusals.
    assert_eq!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 2, v2.clone())),
        Ok(vec![deployed(INSURER, "plan", 2, &v2, true)])
    );
    assert_eq!(contracts::latest(&w.state, &org_of(INSURER), &name("plan")), Some(2));
}

#[test]
fn a_suspended_organisation_cannot_deploy() {
    let mut w = World::new(Some(2), None);
    let suspended = OrgStatus {
        suspended: true,
        changed_at: Height(0),
        ballot: Vec::new(),
    };
    w.state.insert(keys::org_status(&org_of(INSURER)), suspended.encode());
    assert_eq!(
        w.try_apply(&admin(INSURER), deploy_payload(INSURER, "plan", 1, returns(0))),
        Err(Rejection::OrgSuspended(org_of(INSURER)))
    );
}

#[test]
fn oversize_code_never_decodes() {
    let max = consensus_limits().max_code_bytes;
    let body = |len: usize| {
        ContractDeploy {
            org: org_of(INSURER),
            name: name("plan"),
            version: 1,
            interface: INTERFACE_V1,
            code: vec![0; len],
        }
        .encode()
    };
    assert!(Payload::decode(deploy::KIND, &body(max)).is_ok());
    assert!(matches!(
        Payload::decode(deploy::KIND, &body(max + 1)),
        Err(Rejection::MalformedBody(_))
    ));
    // The envelope's own limit binds first: a body over MAX_TX_BODY is not a transaction.
    let tx = medledger_types::Tx {
        chain_id: ChainId::new(CHAIN).unwrap(),
        signer: admin(INSURER).public(),
        nonce: medledger_types::Nonce(0),
        kind: deploy::KIND,
        body: body(medledger_types::tx::MAX_TX_BODY),
    };
    assert!(medledger_types::Tx::decode(&tx.encode()).is_err());
}

#[test]
fn the_same_code_is_stored_once() {
    let mut w = World::new(None, None);
    let code = returns(7);
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 1, code.clone()))
            .is_ok()
    );
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "other-plan", 1, code.clone()))
            .is_ok()
    );
    assert!(
        w.apply(&admin(CLINIC), deploy_payload(CLINIC, "plan", 1, code.clone()))
            .is_ok()
    );
    assert_eq!(w.code_keys(), 1);
    let id = CodeId::of(&code);
    assert_eq!(contracts::code(&w.state, &id), Some(code));
    for (owner, contract) in [(INSURER, "plan"), (INSURER, "other-plan"), (CLINIC, "plan")] {
        let v = contracts::version(&w.state, &org_of(owner), &name(contract), 1).unwrap();
        assert_eq!(v.code_id(), id);
        assert_eq!(v.interface, INTERFACE_V1);
    }
}

fn counter_input(step: i64) -> Vec<u8> {
    abi::encode(&[Value::Int(step)])
}

/// Runs version `v` of the insurer's `plan`, with its code and record read from state.
fn run_version(w: &World, engine: &Engine, v: u32, step: i64) -> Outcome {
    let record = contracts::version(&w.state, &org_of(INSURER), &name("plan"), v).unwrap();
    let code = contracts::code(&w.state, &record.code_id()).unwrap();
    let checked = engine.check(&code).unwrap();
    assert_eq!(checked.id(), record.code_id());
    let host = LedgerFacts::new(
        &w.state,
        org_of(INSURER),
        name("plan"),
        org_of(HOSPITAL),
        TimestampMs(1_700_000_000_000),
    );
    engine.call(&checked, "call", &counter_input(step), &host)
}

#[test]
fn an_upgrade_keeps_the_old_version_readable_and_rerunnable() {
    let mut w = World::new(None, None);
    let counter = examples::example("counter");
    let coverage = examples::example("coverage");
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 1, counter.clone()))
            .is_ok()
    );
    let engine = Engine::new(consensus_limits()).unwrap();
    let before = run_version(&w, &engine, 1, 5);
    assert!(matches!(before, Outcome::Ok { .. }), "{before:?}");

    assert_eq!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 2, coverage.clone())),
        Ok(vec![deployed(INSURER, "plan", 2, &coverage, true)])
    );
    assert_eq!(contracts::latest(&w.state, &org_of(INSURER), &name("plan")), Some(2));
    // Version 1's record and code are still there, and a fresh engine re-runs it to the
    // same outcome, byte for byte.
    let fresh = Engine::new(consensus_limits()).unwrap();
    assert_eq!(run_version(&w, &fresh, 1, 5), before);
    assert_eq!(w.code_keys(), 2);

    // The call's writes reach the contract's state; the next call reads them back.
    let mut overlay = Overlay::new(&w.state);
    assert_eq!(
        apply_call_writes(
            &mut overlay,
            &org_of(INSURER),
            &name("plan"),
            &before,
            &consensus_limits()
        ),
        Ok(1)
    );
    for (k, v) in overlay.into_writes() {
        assert!(k.starts_with(b"contract_state/insurer-a/plan/"));
        w.state.insert(k, v.unwrap());
    }
    let Outcome::Ok { output, .. } = run_version(&w, &fresh, 1, 2) else {
        panic!("the counter runs");
    };
    assert_eq!(
        abi::decode(&output, &AbiLimits::default()).unwrap(),
        vec![Value::Int(7)]
    );
}

#[test]
fn with_a_vote_required_a_version_waits_for_other_organisations() {
    let require = Some(ContractParams { require_vote: true });
    assert_eq!(
        genesis(None, require).validate(),
        Err(GenesisError::ContractVoteWithoutQuorum)
    );
    let mut w = World::new(Some(2), require);
    let v1 = returns(0);
    let replaced = returns(3);
    let voted = |voter: usize, votes: u32| Event::ContractVoted {
        org: org_of(INSURER),
        name: name("plan"),
        version: 1,
        voter: org_of(voter),
        votes,
        quorum: 2,
    };
    let table: Vec<(&str, Keypair, Payload, Outcome0)> = vec![
        (
            "deployed, pending",
            admin(INSURER),
            deploy_payload(INSURER, "plan", 1, replaced.clone()),
            Ok(vec![deployed(INSURER, "plan", 1, &replaced, false)]),
        ),
        (
            "a vote for it",
            admin(HOSPITAL),
            vote_payload(INSURER, "plan", 1, &replaced),
            Ok(vec![voted(HOSPITAL, 1)]),
        ),
        (
            "the pending version replaced by other code: the vote is dropped",
            admin(INSURER),
            deploy_payload(INSURER, "plan", 1, v1.clone()),
            Ok(vec![deployed(INSURER, "plan", 1, &v1, false)]),
        ),
        (
            "a vote for the replaced code",
            admin(CLINIC),
            vote_payload(INSURER, "plan", 1, &replaced),
            Err(TxError::ContractNotPending),
        ),
        (
            "the deploying organisation voting for itself",
            admin(INSURER),
            vote_payload(INSURER, "plan", 1, &v1),
            Err(TxError::NotAuthorized),
        ),
        (
            "a practitioner voting",
            staff(HOSPITAL),
            vote_payload(INSURER, "plan", 1, &v1),
            Err(TxError::NotAuthorized),
        ),
        (
            "a first vote",
            admin(HOSPITAL),
            vote_payload(INSURER, "plan", 1, &v1),
            Ok(vec![voted(HOSPITAL, 1)]),
        ),
        (
            "the same organisation again",
            admin(HOSPITAL),
            vote_payload(INSURER, "plan", 1, &v1),
            Err(TxError::AlreadyVoted),
        ),
        (
            "the quorum",
            admin(LAB),
            vote_payload(INSURER, "plan", 1, &v1),
            Ok(vec![
                voted(LAB, 2),
                Event::ContractActivated {
                    org: org_of(INSURER),
                    name: name("plan"),
                    version: 1,
                },
            ]),
        ),
        (
            "a vote after it",
            admin(CLINIC),
            vote_payload(INSURER, "plan", 1, &v1),
            Err(TxError::ContractNotPending),
        ),
        (
            "a version nobody deployed",
            admin(CLINIC),
            vote_payload(INSURER, "plan", 2, &v1),
            Err(TxError::ContractNotPending),
        ),
    ];
    for (what, signer, payload, expected) in table {
        let pending_before = contracts::latest(&w.state, &org_of(INSURER), &name("plan")).is_none();
        assert_eq!(w.apply(&signer, payload), expected, "{what}");
        if what != "the quorum" {
            assert_eq!(
                contracts::latest(&w.state, &org_of(INSURER), &name("plan")).is_none(),
                pending_before,
                "{what}: only the quorum activates"
            );
        }
    }
    let v = contracts::version(&w.state, &org_of(INSURER), &name("plan"), 1).unwrap();
    assert!(v.is_active());
    assert_eq!(v.code_id(), CodeId::of(&v1));
    assert_eq!(contracts::latest(&w.state, &org_of(INSURER), &name("plan")), Some(1));
    assert!(
        !w.state.keys().any(|k| k.starts_with(b"contract-ballot/")),
        "the carried ballot and the replaced one are gone"
    );
}

#[test]
fn without_a_vote_required_there_is_nothing_to_vote_on() {
    let mut w = World::new(Some(2), Some(ContractParams { require_vote: false }));
    let code = returns(0);
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 1, code.clone()))
            .is_ok()
    );
    assert_eq!(
        w.apply(&admin(HOSPITAL), vote_payload(INSURER, "plan", 1, &code)),
        Err(TxError::ContractNotPending)
    );
    let mut no_quorum = World::new(None, None);
    assert_eq!(
        no_quorum.apply(&admin(HOSPITAL), vote_payload(INSURER, "plan", 1, &code)),
        Err(TxError::NoGovernance)
    );
}

fn fact(host: &dyn Host, key: &str) -> Option<Vec<Value>> {
    host.fact_get(key.as_bytes())
        .map(|raw| abi::decode(&raw, &AbiLimits::default()).unwrap())
}

#[test]
fn a_contract_sees_the_facts_its_caller_may_see_and_nothing_else() {
    let mut w = World::new(Some(2), None);
    // A patient enrolled at the hospital (written directly: enrolment needs a Patient record).
    let patient = MemberRecord {
        kind: MemberKind::Patient,
        key: Keypair::from_seed([90; 32]).public(),
        active: true,
    };
    w.state
        .insert(keys::member(&org_of(HOSPITAL), &member("pt-1")), patient.encode());
    let time = TimestampMs(1_700_000_123_456);
    let host = LedgerFacts::new(&w.state, org_of(INSURER), name("plan"), org_of(HOSPITAL), time);
    let s = |v: &str| Some(vec![Value::Str(v.into())]);
    let table: Vec<(&str, Option<Vec<Value>>)> = vec![
        ("identity/org/insurer-a/role", s("insurer")),
        ("identity/org/lab-d/role", s("lab")),
        ("identity/org/hospital-b/standing", Some(vec![Value::Bool(true)])),
        ("identity/org/nobody-z/role", None),
        ("identity/org/Bad Id/role", None),
        // The caller's own members and the contract owner's.
        (
            "identity/member/hospital-b/staff",
            Some(vec![Value::Str("practitioner".into()), Value::Bool(true)]),
        ),
        (
            "identity/member/insurer-a/admin",
            Some(vec![Value::Str("admin".into()), Value::Bool(true)]),
        ),
        // A third organisation's members, a patient, an unknown member: none.
        ("identity/member/clinic-c/staff", None),
        ("identity/member/hospital-b/pt-1", None),
        ("identity/member/hospital-b/nobody", None),
        // Namespaces with no ledger domain yet.
        ("coverage/pt-1", None),
        ("member/pt-1/birth_day", None),
        ("priorauth/pt-1/99213", None),
        ("credential/c-1", None),
        ("identity/org/insurer-a/role/extra", None),
        ("", None),
    ];
    for (key, expected) in table {
        assert_eq!(fact(&host, key), expected, "{key}");
    }
    assert_eq!(host.fact_get(&[0xff, 0xfe]), None);
    assert_eq!(host.block_time_s(), 1_700_000_123);

    // A caller outside the consortium, or suspended, sees nothing.
    let stranger = LedgerFacts::new(&w.state, org_of(INSURER), name("plan"), org("nobody-z"), time);
    assert_eq!(fact(&stranger, "identity/org/insurer-a/role"), None);
    let suspended = OrgStatus {
        suspended: true,
        changed_at: Height(1),
        ballot: Vec::new(),
    };
    w.state.insert(keys::org_status(&org_of(CLINIC)), suspended.encode());
    let clinic = LedgerFacts::new(&w.state, org_of(INSURER), name("plan"), org_of(CLINIC), time);
    assert_eq!(fact(&clinic, "identity/org/insurer-a/role"), None);
    let hospital = LedgerFacts::new(&w.state, org_of(INSURER), name("plan"), org_of(HOSPITAL), time);
    assert_eq!(
        fact(&hospital, "identity/org/clinic-c/standing"),
        Some(vec![Value::Bool(false)])
    );
}

#[test]
fn a_calls_writes_are_checked_and_applied_all_or_nothing() {
    let mut w = World::new(None, None);
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "plan", 1, returns(0)))
            .is_ok()
    );
    let limits = consensus_limits();
    let ok = |writes: Vec<Write>| Outcome::Ok {
        output: Vec::new(),
        writes,
        events: Vec::new(),
        fuel_used: 1,
    };
    let set = |k: &[u8], len: usize| Write {
        key: k.to_vec(),
        value: Some(vec![1; len]),
    };
    let table: Vec<(&str, &str, Outcome, Result<usize, StateWriteError>)> = vec![
        ("reverted", "plan", Outcome::OutOfFuel, Err(StateWriteError::NotOk)),
        (
            "no such contract",
            "nothing",
            ok(vec![set(b"a", 1)]),
            Err(StateWriteError::UnknownContract),
        ),
        (
            "too many writes",
            "plan",
            ok((0..=limits.max_writes).map(|i| set(&i.to_be_bytes(), 1)).collect()),
            Err(StateWriteError::Limit(LimitKind::Writes)),
        ),
        (
            "a long key",
            "plan",
            ok(vec![set(&vec![b'k'; limits.max_key_bytes + 1], 1)]),
            Err(StateWriteError::Limit(LimitKind::KeySize)),
        ),
        (
            "a large value",
            "plan",
            ok(vec![set(b"k", limits.max_value_bytes + 1)]),
            Err(StateWriteError::Limit(LimitKind::ValueSize)),
        ),
        (
            "too many bytes",
            "plan",
            ok((0..5u8).map(|i| set(&[i], limits.max_value_bytes)).collect()),
            Err(StateWriteError::Limit(LimitKind::WriteBytes)),
        ),
        (
            "a key twice",
            "plan",
            ok(vec![set(b"k", 1), set(b"k", 2)]),
            Err(StateWriteError::DuplicateKey),
        ),
        (
            "a write and a deletion",
            "plan",
            ok(vec![
                set(b"a", 3),
                Write {
                    key: b"b".to_vec(),
                    value: None,
                },
            ]),
            Ok(2),
        ),
    ];
    for (what, contract, outcome, expected) in table {
        let mut overlay = Overlay::new(&w.state);
        let got = apply_call_writes(&mut overlay, &org_of(INSURER), &name(contract), &outcome, &limits);
        assert_eq!(got, expected, "{what}");
        let writes = overlay.into_writes();
        if expected.is_err() {
            assert!(writes.is_empty(), "{what}: nothing written");
        } else {
            let keys: Vec<&[u8]> = writes.keys().map(Vec::as_slice).collect();
            assert_eq!(
                keys,
                vec![
                    b"contract_state/insurer-a/plan/a".as_slice(),
                    b"contract_state/insurer-a/plan/b"
                ]
            );
        }
    }
}

#[test]
fn contract_names_are_narrow() {
    for good in ["a", "coverage-2026", &"x".repeat(64)] {
        assert!(ContractName::new(good).is_ok(), "{good}");
    }
    for bad in ["", "Plan", "a/b", "a_b", "a b", &"x".repeat(65), "é"] {
        assert!(ContractName::new(bad).is_err(), "{bad}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_contract_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Payload::decode(deploy::KIND, &bytes);
        let _ = Payload::decode(vote::KIND, &bytes);
        let _ = contracts::ContractVersion::decode(&bytes);
        let _ = ContractParams::decode(&bytes);
    }

    #[test]
    fn deployments_round_trip(
        contract in "[a-z0-9-]{1,64}",
        version in 1u32..,
        interface in any::<u32>(),
        code in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let p = deploy_payload(INSURER, &contract, version, code);
        let p = match p {
            Payload::ContractDeploy(d) => Payload::ContractDeploy(ContractDeploy { interface, ..d }),
            _ => unreachable!(),
        };
        prop_assert_eq!(Payload::decode(deploy::KIND, &p.body()), Ok(p));
    }
}

/// A contract that reads the fact named by its input and outputs it (status 1 when absent).
fn fact_echo() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "medledger" "input_len" (func $input_len (result i32)))
          (import "medledger" "input_read" (func $input_read (param i32)))
          (import "medledger" "fact_get" (func $fact_get (param i32 i32 i32 i32) (result i32)))
          (import "medledger" "output_write" (func $output_write (param i32 i32)))
          (memory (export "memory") 1)
          (func (export "call") (result i32) (local $len i32)
            (call $input_read (i32.const 0))
            (local.set $len (call $fact_get (i32.const 0) (call $input_len) (i32.const 1024) (i32.const 1024)))
            (if (i32.lt_s (local.get $len) (i32.const 0)) (then (return (i32.const 1))))
            (call $output_write (i32.const 1024) (local.get $len))
            (i32.const 0)))"#,
    )
    .unwrap()
}

#[test]
fn a_deployed_contract_reads_facts_through_the_abi() {
    let mut w = World::new(None, None);
    let code = fact_echo();
    assert!(
        w.apply(&admin(INSURER), deploy_payload(INSURER, "echo", 1, code.clone()))
            .is_ok()
    );
    let engine = Engine::new(consensus_limits()).unwrap();
    let stored = contracts::code(&w.state, &CodeId::of(&code)).unwrap();
    let checked = engine.check(&stored).unwrap();
    let host = LedgerFacts::new(
        &w.state,
        org_of(INSURER),
        name("echo"),
        org_of(HOSPITAL),
        TimestampMs(0),
    );
    let run = |key: &str| engine.call(&checked, "call", key.as_bytes(), &host);
    let Outcome::Ok { output, .. } = run("identity/member/hospital-b/staff") else {
        panic!("the caller's own member is visible");
    };
    assert_eq!(
        abi::decode(&output, &AbiLimits::default()).unwrap(),
        vec![Value::Str("practitioner".into()), Value::Bool(true)]
    );
    for hidden in ["identity/member/clinic-c/staff", "coverage/pt-1"] {
        assert!(
            matches!(run(hidden), Outcome::Reverted { status: 1, .. }),
            "{hidden} is not visible to the contract"
        );
    }
}
