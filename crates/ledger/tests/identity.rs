//! Identity rules as tables: given a state and a transaction, expect an outcome.

use std::collections::BTreeMap;

use medledger_crypto::Keypair;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::rotate_key::RotateKey;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::{
    BlockContext, Genesis, Overlay, Payload, Rejection, StateRead, TxError, VerifiedTx, apply_tx, execute_block,
};
use medledger_types::{ChainId, Height, MemberId, Nonce, OrgId, SignedTx, TimestampMs, Tx};

struct World {
    chain: ChainId,
    admin_a: Keypair,
    admin_b: Keypair,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
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
    let validator = Keypair::from_seed([3; 32]);
    let genesis = Genesis {
        suspend_quorum: None,
        chain_id: ChainId::new("test-chain").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: vec![
            GenesisOrg {
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
                id: org("pharmacy-b"),
                name: "Pharmacy B".into(),
                role: OrgRole::Pharmacy,
                admins: vec![GenesisAdmin {
                    member: member("admin"),
                    public_key: admin_b.public(),
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
        Ok(applied.error.map_or(Ok(()), Err))
    }
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
    use medledger_ledger::genesis::GenesisError;
    let w = world();
    let empty = Genesis {
        suspend_quorum: None,
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
        chain_id: w.chain.clone(),
        genesis_time: TimestampMs(0),
        orgs: vec![GenesisOrg {
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

    let mut weightless = base;
    weightless.validators[0].power = 0;
    assert!(matches!(weightless.validate(), Err(GenesisError::ZeroPower(_))));
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
    ];
    let mut codes = std::collections::BTreeSet::new();
    for e in &errors {
        assert!(codes.insert(e.code().0), "code {:?} used twice", e.code());
        assert_eq!(medledger_ledger::describe_outcome(e.code()), e.reason());
    }
    assert_eq!(
        medledger_ledger::describe_outcome(medledger_types::OutcomeCode::OK),
        "ok"
    );
}
