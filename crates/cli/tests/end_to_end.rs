//! A new user's path: init a network, run a node, send a transaction with the CLI, fetch
//! its receipt, check it offline, stop the node, verify the data folder.

mod common;

use common::*;
use medledger_store::Store;
use medledger_types::codec::Encode;
use medledger_types::{Hash32, Height};

#[test]
fn init_run_transact_prove_verify() {
    let dir = tempfile::tempdir().unwrap();
    let net = init(dir.path(), 2);
    let home = net.join("node0");
    let genesis = net.join("genesis.json");
    let admin = net.join("admins/hospital-a.json");
    let ca = net.join("ca/ca.pem");
    let ca = ca.to_str().unwrap();
    let node = NodeProcess::start(&home);
    assert!(node.url.starts_with("https://"), "init serves HTTPS: {}", node.url);

    let mut hashes = Vec::new();
    for i in 0..3 {
        let key_file = dir.path().join(format!("member-{i}.json"));
        let pk = ok(&["keys", "generate", "--out", key_file.to_str().unwrap()]);
        let out = ok(&[
            "tx",
            "register-member",
            "--node",
            &node.url,
            "--ca",
            ca,
            "--key",
            admin.to_str().unwrap(),
            "--org",
            "hospital-a",
            "--member",
            &format!("dr-{i}"),
            "--kind",
            "practitioner",
            "--public-key",
            pk.trim(),
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"], "committed", "{out}");
        assert_eq!(v["outcome_name"], "ok");
        hashes.push(v["hash"].as_str().unwrap().to_string());
    }

    // Receipt, offline check, and a tampered receipt is refused.
    let receipt = dir.path().join("receipt.json");
    ok(&[
        "proof",
        "get",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--tx",
        &hashes[1],
        "--out",
        receipt.to_str().unwrap(),
    ]);
    let out = ok(&[
        "proof",
        "verify",
        "--genesis",
        genesis.to_str().unwrap(),
        "--receipt",
        receipt.to_str().unwrap(),
    ]);
    assert!(out.starts_with("ok: transaction"), "{out}");
    let mut r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&receipt).unwrap()).unwrap();
    r["leaf_index"] = serde_json::json!(0);
    r["inclusion_proof"]["leaf_index"] = serde_json::json!(0);
    std::fs::write(&receipt, r.to_string()).unwrap();
    let bad = medledger(&[
        "proof",
        "verify",
        "--genesis",
        genesis.to_str().unwrap(),
        "--receipt",
        receipt.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does NOT verify"));

    // Consistency from a tree head saved earlier.
    let sth = dir.path().join("sth.json");
    ok(&[
        "proof",
        "sth",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--out",
        sth.to_str().unwrap(),
    ]);
    ok(&[
        "tx",
        "revoke-member",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--key",
        admin.to_str().unwrap(),
        "--org",
        "hospital-a",
        "--member",
        "dr-0",
    ]);
    let cons = dir.path().join("consistency.json");
    ok(&[
        "proof",
        "consistency",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--from",
        sth.to_str().unwrap(),
        "--out",
        cons.to_str().unwrap(),
    ]);
    let out = ok(&[
        "proof",
        "verify",
        "--genesis",
        genesis.to_str().unwrap(),
        "--consistency",
        cons.to_str().unwrap(),
    ]);
    assert!(out.contains("log of size 4"), "{out}");

    // A failing transaction reports its outcome and a non-zero exit.
    let again = medledger(&[
        "tx",
        "register-member",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--key",
        admin.to_str().unwrap(),
        "--org",
        "hospital-a",
        "--member",
        "dr-1",
        "--kind",
        "practitioner",
        "--public-key",
        &Hash32::ZERO.to_hex(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("member_exists"));

    // A client assertion is single-use, and stays spent across a restart.
    let admin_key = medledger_node::home::read_key(&admin).unwrap();
    let assertion = client_assertion(&admin_key, &node.url);
    assert_eq!(exchange(&node, &assertion), 200);
    assert_eq!(exchange(&node, &assertion), 401, "an assertion was used twice");

    node.stop();
    let db = home.join("data/ledger.redb");
    let before = std::fs::read(&db).unwrap();
    let out = ok(&["verify", "--home", home.to_str().unwrap(), "--quiet"]);
    assert!(out.starts_with("ok:"), "{out}");
    assert!(out.contains("5 transactions"), "{out}");
    assert!(
        std::fs::read(&db).unwrap() == before,
        "verify must not write to the data it checks"
    );

    // Restarting resumes the same chain. The transaction itself is shown to members only.
    let node = NodeProcess::start(&home);
    assert_eq!(exchange(&node, &assertion), 401, "a restart reopened a spent assertion");
    let anonymous = medledger(&["tx", "show", "--node", &node.url, "--ca", ca, &hashes[0]]);
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("token_required"));
    let token: serde_json::Value = serde_json::from_str(&ok(&[
        "token",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--key",
        admin.to_str().unwrap(),
        "--client-id",
        "hospital-a/admin",
        "--scope",
        "system/*.rs",
    ]))
    .unwrap();
    let out = ok(&[
        "tx",
        "show",
        "--node",
        &node.url,
        "--ca",
        ca,
        "--token",
        token["access_token"].as_str().unwrap(),
        &hashes[0],
    ]);
    assert!(out.contains("\"committed\""), "{out}");
    // Without the consortium's CA, the CLI refuses to talk to an https:// node.
    let no_ca = medledger(&["tx", "show", "--node", &node.url, &hashes[0]]);
    assert!(String::from_utf8_lossy(&no_ca.stderr).contains("--ca"));
    node.stop();
}

/// A client assertion for hospital-a's admin at `url`'s token endpoint, with a fresh `jti`.
fn client_assertion(key: &medledger_crypto::Keypair, url: &str) -> String {
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
    let now = medledger_node::node::now_ms().0 / 1000;
    medledger_crypto::jws::sign_compact(
        &serde_json::json!({"typ": "JWT", "kid": key.public().to_string()}),
        &serde_json::json!({"iss": "hospital-a/admin", "sub": "hospital-a/admin",
            "aud": format!("{url}/auth/token"), "exp": now + 240, "jti": hex::encode(jti)}),
        key,
    )
}

/// Exchanges `assertion` at the node's token endpoint; returns the HTTP status.
fn exchange(node: &NodeProcess, assertion: &str) -> u16 {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", "system/*.rs"),
    ])
    .unwrap();
    let http = node.http();
    let url = format!("{}/auth/token", node.url);
    tokio::runtime::Runtime::new().unwrap().block_on(async move {
        http.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

fn copy_db(home: &std::path::Path, to: &std::path::Path) -> std::path::PathBuf {
    let db = to.join("copy.redb");
    std::fs::copy(home.join("data/ledger.redb"), &db).unwrap();
    db
}

#[test]
fn verify_names_the_first_tampered_block() {
    let dir = tempfile::tempdir().unwrap();
    let net = init_plain(dir.path(), 1);
    let home = net.join("node0");
    let genesis = net.join("genesis.json");
    let admin = net.join("admins/hospital-a.json");
    let node = NodeProcess::start(&home);
    for i in 0..4 {
        ok(&[
            "tx",
            "register-member",
            "--node",
            &node.url,
            "--key",
            admin.to_str().unwrap(),
            "--org",
            "hospital-a",
            "--member",
            &format!("p-{i}"),
            "--kind",
            "practitioner",
            "--public-key",
            &Hash32::digest(&[&[i]]).to_hex(),
        ]);
    }
    node.stop();
    ok(&["verify", "--home", home.to_str().unwrap(), "--quiet"]);

    let verify_db = |db: &std::path::Path| {
        medledger(&[
            "verify",
            "--db",
            db.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
            "--quiet",
        ])
    };

    // A flipped byte inside block 2 (in a transaction's member id).
    let db = copy_db(&home, dir.path());
    {
        let store = Store::open(&db).unwrap();
        let block = store.reader().unwrap().block(Height(2)).unwrap().unwrap();
        let mut bytes = block.encode();
        let at = bytes.len() - 120;
        bytes[at] ^= 0x01;
        store.tamper_for_tests(Some((Height(2), bytes)), None).unwrap();
    }
    let out = verify_db(&db);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("block 2"), "{err}");

    // A flipped byte in a stored log node.
    std::fs::remove_file(&db).unwrap();
    let db = copy_db(&home, dir.path());
    {
        let store = Store::open(&db).unwrap();
        let reader = store.reader().unwrap();
        let (level, index, mut hash) = reader
            .log_nodes()
            .unwrap()
            .into_iter()
            .find(|(l, i, _)| *l == 1 && *i == 1)
            .unwrap();
        drop(reader);
        hash.0[7] ^= 0x80;
        store.tamper_for_tests(None, Some((level, index, hash))).unwrap();
    }
    let out = verify_db(&db);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Node (1, 1) covers leaves 2 and 3, completed by block 4's transaction.
    assert!(err.contains("block 4") && err.contains("log node (1, 1)"), "{err}");
}
