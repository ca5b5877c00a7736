//! Golden vectors: the frozen byte formats of medledger, pinned in
//! `tests/vectors/ledger_v1.json` at the workspace root.
//!
//! The test builds a fixed set of values (keys from fixed seeds, a genesis, one signed
//! transaction per kind, log leaves, a block header, a commit and a whole block),
//! encodes and hashes them, and compares every byte with the file. It then decodes each
//! stored encoding and checks that it gives back the constructed value and re-encodes to
//! the same bytes. Ed25519 signatures are deterministic, so the signatures are pinned too.
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
use medledger_ledger::genesis::{GENESIS_HASH_DOMAIN, GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::rotate_key::RotateKey;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_ledger::{Genesis, Payload};
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

/// Every value the vectors pin, built deterministically.
struct Fixture {
    genesis: Genesis,
    /// `(name, payload, signed transaction)`, in block order.
    txs: Vec<(&'static str, Payload, SignedTx)>,
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
    let chain_id = ChainId::new("medledger-vectors-1").expect("valid chain id");

    let genesis = Genesis {
        suspend_quorum: None,
        chain_id: chain_id.clone(),
        genesis_time: TimestampMs(1_700_000_000_000),
        orgs: vec![
            GenesisOrg {
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
    let txs = vec![
        ("tx.register_member", register.clone(), sign(&admin_a, 0, &register)),
        ("tx.revoke_member", revoke.clone(), sign(&admin_a, 1, &revoke)),
        ("tx.rotate_key", rotate.clone(), sign(&admin_b, 0, &rotate)),
    ];

    let height = Height(1);
    let leaves: Vec<LogLeaf> = txs
        .iter()
        .enumerate()
        .map(|(i, (_, _, tx))| LogLeaf {
            height,
            index_in_block: u32::try_from(i).expect("few txs"),
            tx_hash: tx.hash(),
            outcome: OutcomeCode::OK,
        })
        .collect();
    let tx_leaf_hashes: Vec<Hash32> = txs
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
        tx_count: u32::try_from(txs.len()).expect("few txs"),
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
        txs: txs.iter().map(|(_, _, tx)| tx.clone()).collect(),
        commit: commit.clone(),
    };
    Fixture {
        genesis,
        txs,
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
            validator = 3, new member = 4, rotated key = 5). Tx hash = SHA-256(\"medledger/tx/hash/v1\\0\" || \
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
