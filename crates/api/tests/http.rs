//! The HTTP API against a real node on a loopback port: submit, read receipts, verify them,
//! and refuse bad input with a JSON reason while writing nothing.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_crypto::Keypair;
use medledger_ledger::Genesis;
use medledger_ledger::Payload;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_merkle::{ConsistencyProof, InclusionProof, leaf_hash};
use medledger_node::config::{ApiConfig, BlockConfig};
use medledger_node::{Config, Home, Node, Receipt};
use medledger_types::codec::Encode;
use medledger_types::tx::encode_batch;
use medledger_types::{ChainId, Hash32, LeafIndex, MemberId, Nonce, OrgId, SignedTx, TimestampMs, TreeSize, Tx};
use serde_json::Value;

struct TestNode {
    node: Node,
    addr: SocketAddr,
    admin: Keypair,
    other_admin: Keypair,
    chain: ChainId,
    genesis: Genesis,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

/// A node whose ledger is open to anyone (`api.public_ledger`), as for outside auditors.
async fn start() -> TestNode {
    start_with(true).await
}

async fn start_with(public_ledger: bool) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let admin = Keypair::from_seed([1; 32]);
    let other_admin = Keypair::from_seed([2; 32]);
    let validator = Keypair::from_seed([9; 32]);
    let genesis = Genesis {
        break_glass: None,
        contracts: None,
        suspend_quorum: None,
        chain_id: ChainId::new("api-test").unwrap(),
        genesis_time: TimestampMs(1_000),
        orgs: vec![
            GenesisOrg {
                gs1: None,
                id: org("hospital-a"),
                name: "Hospital A".into(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: MemberId::new("admin").unwrap(),
                    public_key: admin.public(),
                }],
                members: Vec::new(),
            },
            GenesisOrg {
                gs1: None,
                id: org("clinic-b"),
                name: "Clinic B".into(),
                role: OrgRole::Clinic,
                admins: vec![GenesisAdmin {
                    member: MemberId::new("admin").unwrap(),
                    public_key: other_admin.public(),
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
    let home = Home {
        service: None,
        dir: dir.path().to_path_buf(),
        config: Config {
            api: ApiConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                max_body_bytes: 64 * 1024,
                max_batch_txs: 100,
                public_ledger,
                ..Default::default()
            },
            block: BlockConfig {
                max_txs: 1000,
                interval_ms: 5,
                ..BlockConfig::default()
            },
            ..Default::default()
        },
        genesis: genesis.clone(),
        key: validator,
    };
    let node = Node::open(&home).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (api_stop_tx, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn({
        let node = node.clone();
        async move {
            medledger_api::serve(listener, node, async {
                let _ = api_stop_rx.await;
            })
            .await
            .unwrap();
        }
    });
    let producer = tokio::spawn({
        let node = node.clone();
        async move {
            node.run(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
            let _ = api_stop_tx.send(());
        }
    });
    TestNode {
        node,
        addr,
        admin,
        other_admin,
        chain: genesis.chain_id.clone(),
        genesis,
        stop: Some(stop),
        tasks: vec![api, producer],
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestNode {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn sign(&self, key: &Keypair, nonce: u64, payload: &Payload) -> SignedTx {
        key.sign_tx(Tx {
            chain_id: self.chain.clone(),
            signer: key.public(),
            nonce: Nonce(nonce),
            kind: payload.kind(),
            body: payload.body(),
        })
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        for t in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), t).await.unwrap().unwrap();
        }
    }
}

fn register(member: &str, key_seed: u8) -> Payload {
    Payload::RegisterMember(RegisterMember {
        org: org("hospital-a"),
        member: MemberId::new(member).unwrap(),
        kind: MemberKind::Practitioner,
        public_key: Keypair::from_seed([key_seed; 32]).public(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_commit_and_verify_receipts() {
    let n = start().await;
    let mut hashes = Vec::new();
    for i in 0..5u8 {
        let tx = n.sign(&n.admin, u64::from(i), &register(&format!("dr-{i}"), 100 + i));
        let (status, v) = n.post_raw("/v1/tx", tx.encode()).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], "committed");
        assert_eq!(v["outcome_name"], "ok");
        assert_eq!(v["hash"], tx.hash().to_hex());
        hashes.push(tx.hash());
    }
    // A ledger-rule failure is committed with its outcome, not refused.
    let dup = n.sign(&n.admin, 5, &register("dr-0", 200));
    let (status, v) = n.post_raw("/v1/tx", dup.encode()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome_name"], "member_exists");

    for (i, h) in hashes.iter().enumerate() {
        let (status, v) = n.get(&format!("/v1/tx/{h}")).await;
        assert_eq!(status, 200);
        assert_eq!(v["tx"]["kind_name"], "identity.register_member");
        let receipt: Receipt = serde_json::from_value(v["receipt"].clone()).unwrap();
        let leaf = receipt.verify(&n.genesis).unwrap();
        assert_eq!(leaf.tx_hash, *h);
        assert_eq!(receipt.leaf_index, i as u64);
        // The same receipt fails against a key that is not a validator, and when tampered.
        let mut other = n.genesis.clone();
        other.validators[0].public_key = n.admin.public();
        assert!(receipt.verify(&other).is_err());
        let mut bad = receipt.clone();
        bad.inclusion_proof
            .path
            .first_mut()
            .map(|p| p.0[0] ^= 1)
            .unwrap_or_else(|| bad.tree_head.head.root_hash.0[0] ^= 1);
        assert!(bad.verify(&n.genesis).is_err());
    }

    // Blocks link by hash and carry a certificate.
    let (_, latest) = n.get("/v1/blocks/latest").await;
    let height = latest["header"]["height"].as_u64().unwrap();
    assert!(height >= 1);
    let mut parent = n.genesis.hash().to_hex();
    for h in 1..=height {
        let (status, b) = n.get(&format!("/v1/blocks/{h}")).await;
        assert_eq!(status, 200);
        assert_eq!(b["header"]["parent_hash"], parent);
        assert_eq!(b["commit"]["signatures"].as_array().unwrap().len(), 1);
        parent = b["hash"].as_str().unwrap().to_string();
    }
    assert_eq!(n.get("/v1/blocks/999999").await.0, 404);

    // State with proof: the registered member's key record exists.
    let key = hex::encode(medledger_ledger::keys::member(
        &org("hospital-a"),
        &MemberId::new("dr-1").unwrap(),
    ));
    let (status, s) = n.get(&format!("/v1/state/{key}")).await;
    assert_eq!(status, 200);
    assert!(s["value"].is_string());
    let proof: medledger_store::SparseMerkleProof = serde_json::from_value(s["proof"].clone()).unwrap();
    let root = medledger_store::RootHash(s["state_root"].as_str().unwrap().parse::<Hash32>().unwrap().0);
    let value = hex::decode(s["value"].as_str().unwrap()).unwrap();
    proof
        .verify_existence(
            root,
            medledger_store::KeyHash::with::<sha2::Sha256>(hex::decode(&key).unwrap()),
            &value,
        )
        .unwrap();
    let absent = hex::encode(b"member/hospital-a/nobody");
    let (_, s) = n.get(&format!("/v1/state/{absent}")).await;
    assert!(s["value"].is_null());
    let proof: medledger_store::SparseMerkleProof = serde_json::from_value(s["proof"].clone()).unwrap();
    proof
        .verify_nonexistence(
            root,
            medledger_store::KeyHash::with::<sha2::Sha256>(b"member/hospital-a/nobody"),
        )
        .unwrap();

    // Status, health, metrics.
    let (_, st) = n.get("/v1/status").await;
    assert_eq!(st["chain_id"], "api-test");
    assert_eq!(st["log_size"], 6);
    assert_eq!(n.get("/health").await.0, 200);
    let metrics = n
        .http
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("medledger_txs_committed_total 6"), "{metrics}");
    n.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparency_log_speaks_rfc6962_json() {
    let n = start().await;
    let txs: Vec<SignedTx> = (0..20u8)
        .map(|i| n.sign(&n.admin, u64::from(i), &register(&format!("m-{i}"), 50 + i)))
        .collect();
    let (status, v) = n.post_raw("/v1/txs", encode_batch(&txs[..7])).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 7);
    let (_, sth1) = n.get("/ct/v1/get-sth").await;
    let (status, v) = n.post_raw("/v1/txs", encode_batch(&txs[7..])).await;
    assert_eq!(status, 200);
    assert_eq!(v["accepted"], 13);
    let (_, sth2) = n.get("/ct/v1/get-sth").await;
    assert_eq!(sth1["tree_size"], 7);
    assert_eq!(sth2["tree_size"], 20);
    let root = |v: &Value| Hash32::from_slice(&B64.decode(v["sha256_root_hash"].as_str().unwrap()).unwrap()).unwrap();

    // Inclusion by leaf hash, for every leaf, against both tree heads.
    let (_, entries) = n.get("/ct/v1/get-entries?start=0&end=19").await;
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 20);
    for (i, e) in entries.iter().enumerate() {
        let leaf = B64.decode(e["leaf_input"].as_str().unwrap()).unwrap();
        let lh = leaf_hash(&leaf);
        let (status, p) = n
            .get(&format!(
                "/ct/v1/get-proof-by-hash?hash={}&tree_size=20",
                urlencode(&B64.encode(lh.as_bytes()))
            ))
            .await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["leaf_index"], i);
        let path = p["audit_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash32::from_slice(&B64.decode(h.as_str().unwrap()).unwrap()).unwrap())
            .collect();
        InclusionProof {
            leaf_index: LeafIndex(i as u64),
            tree_size: TreeSize(20),
            path,
        }
        .verify(&lh, &root(&sth2))
        .unwrap();
        let extra = B64.decode(e["extra_data"].as_str().unwrap()).unwrap();
        assert_eq!(extra, txs[i].encode());
    }
    // A leaf of the later tree is not in the earlier one.
    let late = leaf_hash(&B64.decode(entries[15]["leaf_input"].as_str().unwrap()).unwrap());
    let (status, _) = n
        .get(&format!(
            "/ct/v1/get-proof-by-hash?hash={}&tree_size=7",
            urlencode(&B64.encode(late.as_bytes()))
        ))
        .await;
    assert_eq!(status, 404);

    // Consistency between the two tree heads.
    let (status, c) = n.get("/ct/v1/get-sth-consistency?first=7&second=20").await;
    assert_eq!(status, 200);
    let path = c["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash32::from_slice(&B64.decode(h.as_str().unwrap()).unwrap()).unwrap())
        .collect();
    ConsistencyProof {
        first: TreeSize(7),
        second: TreeSize(20),
        path,
    }
    .verify(&root(&sth1), &root(&sth2))
    .unwrap();

    for bad in [
        "/ct/v1/get-sth-consistency?first=0&second=20",
        "/ct/v1/get-sth-consistency?first=9&second=7",
        "/ct/v1/get-sth-consistency?first=1&second=21",
        "/ct/v1/get-sth-consistency",
        "/ct/v1/get-proof-by-hash?hash=notbase64!&tree_size=20",
        "/ct/v1/get-entries?start=5&end=2",
        "/ct/v1/get-entries?start=20&end=30",
    ] {
        let (status, v) = n.get(bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"]["reason"].is_string(), "{bad}: {v}");
    }
    n.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let n = start().await;
    // Register then revoke a member whose key we hold, to test a revoked signer.
    let member = Keypair::from_seed([77; 32]);
    let reg = Payload::RegisterMember(RegisterMember {
        org: org("hospital-a"),
        member: MemberId::new("dr-x").unwrap(),
        kind: MemberKind::Practitioner,
        public_key: member.public(),
    });
    assert_eq!(n.post_raw("/v1/tx", n.sign(&n.admin, 0, &reg).encode()).await.0, 200);
    let revoke = Payload::RevokeMember(RevokeMember {
        org: org("hospital-a"),
        member: MemberId::new("dr-x").unwrap(),
    });
    assert_eq!(n.post_raw("/v1/tx", n.sign(&n.admin, 1, &revoke).encode()).await.0, 200);
    let before = n.node.head();

    let good = n.sign(&n.admin, 2, &register("dr-y", 3));
    let mut forged = good.clone();
    forged.signature.0[0] ^= 1;
    let mut wrong_chain_tx = good.tx.clone();
    wrong_chain_tx.chain_id = ChainId::new("another-chain").unwrap();
    let wrong_chain = n.admin.sign_tx(wrong_chain_tx);
    let replayed = n.sign(&n.admin, 0, &register("dr-z", 4));
    let gap = n.sign(&n.admin, 7, &register("dr-z", 4));
    let stranger = n.sign(&Keypair::from_seed([55; 32]), 0, &register("dr-z", 4));
    let revoked = n.sign(&member, 0, &register("dr-z", 4));
    let mut bad_body_tx = good.tx.clone();
    bad_body_tx.body = vec![1, 2, 3];
    let bad_body = n.admin.sign_tx(bad_body_tx);
    let mut truncated = good.encode();
    truncated.truncate(truncated.len() - 3);

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("garbage", vec![0xff; 40], 400, "malformed"),
        ("truncated", truncated, 400, "malformed"),
        ("forged signature", forged.encode(), 400, "bad_signature"),
        ("wrong chain", wrong_chain.encode(), 400, "wrong_chain"),
        ("replayed nonce", replayed.encode(), 400, "replayed_nonce"),
        ("nonce gap", gap.encode(), 400, "nonce_gap"),
        ("unknown signer", stranger.encode(), 400, "unknown_signer"),
        ("revoked signer", revoked.encode(), 400, "revoked_signer"),
        ("undecodable body", bad_body.encode(), 400, "malformed_body"),
        ("oversized body", vec![0u8; 200 * 1024], 413, "body_too_large"),
    ];
    for (name, body, status, reason) in cases {
        let (got, v) = n.post_raw("/v1/tx", body).await;
        assert_eq!(got, status, "{name}: {v}");
        assert_eq!(v["error"]["reason"], reason, "{name}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}");
    }
    // JSON body with bad hex, and an over-long batch.
    let r = n
        .http
        .post(n.url("/v1/tx"))
        .json(&serde_json::json!({ "tx": "zz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let many: Vec<SignedTx> = (0..101u64)
        .map(|i| n.sign(&n.admin, 2 + i, &register(&format!("b-{i}"), 9)))
        .collect();
    let (status, v) = n.post_raw("/v1/txs", encode_batch(&many)).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["error"]["reason"], "batch_too_large");
    // Bad query values, wrong methods: JSON errors too.
    let (status, v) = n.post_raw("/v1/tx?wait=yes", good.encode()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["reason"], "bad_params");
    let r = n.http.delete(n.url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["reason"],
        "method_not_allowed"
    );
    assert_eq!(n.get("/v1/tx/nothex").await.0, 400);
    assert_eq!(n.get(&format!("/v1/tx/{}", Hash32::ZERO)).await.0, 404);
    assert_eq!(n.get("/v1/nowhere").await.0, 404);

    // Nothing was written: same head, and the good transaction still goes through with nonce 2.
    assert_eq!(n.node.head(), before);
    assert_eq!(n.node.mempool_len(), 0);
    let (status, v) = n.post_raw("/v1/tx", good.encode()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome_name"], "ok");
    // Other org's admin cannot register into hospital-a: committed as a failure.
    let (_, v) = n
        .post_raw("/v1/tx", n.sign(&n.other_admin, 0, &register("dr-q", 8)).encode())
        .await;
    assert_eq!(v["outcome_name"], "not_authorized");
    n.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledgers_contents_need_a_member_token_but_proofs_stay_public() {
    let n = start_with(false).await;
    let tx = n.sign(&n.admin, 0, &register("dr-closed", 77));
    let (status, v) = n.post_raw("/v1/tx", tx.encode()).await;
    assert_eq!(status, 200, "{v}");
    let h = tx.hash();
    let key = hex::encode(medledger_ledger::keys::nonce(&n.admin.public()));
    // Who did what, to which patient: members only.
    for path in [
        format!("/v1/tx/{h}"),
        "/v1/blocks/latest".to_string(),
        "/v1/blocks/1".to_string(),
        format!("/v1/state/{key}"),
        "/ct/v1/get-entries?start=0&end=0".to_string(),
    ] {
        let (status, v) = n.get(&path).await;
        assert_eq!(status, 401, "{path}: {v}");
        assert_eq!(v["error"]["reason"], "token_required", "{path}: {v}");
        let r = n
            .http
            .get(n.url(&path))
            .header("authorization", "Bearer not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} with a made-up token");
    }
    // What lets anyone check a receipt: public.
    let (status, v) = n.get(&format!("/v1/receipts/{h}")).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("tx").is_none(), "a receipt does not carry the transaction: {v}");
    let receipt: Receipt = serde_json::from_value(v["receipt"].clone()).unwrap();
    assert_eq!(receipt.verify(&n.genesis).unwrap().tx_hash, h);
    for path in ["/ct/v1/get-sth", "/v1/status", "/health"] {
        assert_eq!(n.get(path).await.0, 200, "{path}");
    }
    let (status, v) = n.get(&format!("/v1/nonce/{}", n.admin.public())).await;
    assert_eq!(status, 200);
    assert_eq!(v["next_nonce"], 1);
    n.shutdown().await;
}
