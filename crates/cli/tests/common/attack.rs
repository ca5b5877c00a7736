//! Helpers for the attack suite (`tests/attacks.rs`): signers shared by tests running in
//! parallel, raw ledger reads, the audit trail as the blocks carry it, metrics, and
//! hand-made node-to-node transfer requests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use medledger_crypto::Keypair;
use medledger_ledger::Payload;
use medledger_ledger::audit::AuditEntry;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::read_key;
use medledger_types::codec::Decode;
use medledger_types::{Block, Hash32, Height, MemberId, OrgId, PublicKey};
use serde_json::{Value, json};

use super::fhir::{Answer, Member, answer, fhir, submit};
use super::net::Net;

/// How long anything the suite waits for may take.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The node each genesis organisation runs (`medledger init` order).
pub const ORGS: [&str; 4] = ["hospital-a", "clinic-b", "pharmacy-c", "insurer-d"];

pub fn node_of(org: &str) -> usize {
    ORGS.iter()
        .position(|o| *o == org)
        .unwrap_or_else(|| panic!("{org} is not a genesis organisation"))
}

/// A random suffix for ids that must not collide between tests (or runs).
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 5];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("{prefix}-{}", hex::encode(b))
}

pub fn now_s() -> u64 {
    medledger_node::node::now_ms().0 / 1000
}

/// One lock per signing key, across the tests of the process: a key's next nonce is read
/// from the node, so two tests signing with one key (an organisation's admin) must take
/// turns.
fn signer_lock(key: &PublicKey) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PublicKey, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap()
        .entry(*key)
        .or_default()
        .clone()
}

/// [`submit`] holding the signer's lock: waits until every node has the block (each node
/// decides on its own copy of the ledger), returns the answer of node `i`.
pub async fn submit_as(net: &Net, i: usize, key: &Keypair, payload: Payload) -> Value {
    let lock = signer_lock(&key.public());
    let answer = {
        let _turn = lock.lock().await;
        submit(net, i, key, payload).await
    };
    if let Some(h) = answer["height"].as_u64() {
        for n in 0..net.urls.len() {
            net.wait_height(n, h, DEADLINE).await;
        }
    }
    answer
}

/// The admin of `org` registers a member with a fresh key, through the organisation's own
/// node; returns the answer (`outcome` 0: registered) and the member.
pub async fn try_register(net: &Net, org: &str, member: &str, kind: MemberKind) -> (Value, Member) {
    let admin = read_key(&net.dir.join(format!("admins/{org}.json"))).unwrap();
    let key = Keypair::generate(&mut rand::rngs::OsRng);
    let answer = submit_as(
        net,
        node_of(org),
        &admin,
        Payload::RegisterMember(RegisterMember {
            org: OrgId::new(org).unwrap(),
            member: MemberId::new(member).unwrap(),
            kind,
            public_key: key.public(),
        }),
    )
    .await;
    let m = Member {
        org: org.into(),
        member: member.into(),
        key,
    };
    (answer, m)
}

/// [`try_register`] that must succeed.
pub async fn enrol(net: &Net, org: &str, member: &str, kind: MemberKind) -> Member {
    let (answer, m) = try_register(net, org, member, kind).await;
    assert_eq!(answer["outcome"], 0, "registering {org}/{member} as {kind:?}: {answer}");
    m
}

/// A GET with an optional bearer token, answered as status and JSON.
pub async fn get(net: &Net, i: usize, path: &str, token: Option<&str>) -> Answer {
    let mut req = net.http.get(format!("{}{path}", net.urls[i]));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

/// Writes a Patient and one Observation of it at node `i` with a staff token; returns
/// (patient id, observation id).
pub async fn patient_with_observation(net: &Net, i: usize, staff: &str, marker: &str) -> (String, String) {
    let p = fhir(
        net,
        i,
        "POST",
        "/Patient",
        Some(staff),
        Some(&super::fhir::patient(marker)),
        &[],
    )
    .await;
    assert_eq!(p.status, 201, "creating a Patient at node{i}: {}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    let o = fhir(
        net,
        i,
        "POST",
        "/Observation",
        Some(staff),
        Some(&super::fhir::observation(&pid, "8867-4", marker, "2024-05-06")),
        &[],
    )
    .await;
    assert_eq!(o.status, 201, "creating an Observation at node{i}: {}", o.text);
    (pid, o.body["id"].as_str().unwrap().to_string())
}

/// The patient's access log as node `i` shows it: the ledger's entries only.
pub async fn access_log(net: &Net, i: usize, token: &str, patient: &str) -> Vec<Value> {
    let a = fhir(
        net,
        i,
        "GET",
        &format!("/AuditEvent?patient={patient}&_count=1000"),
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "access log at node{i}: {}", a.text);
    a.body["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["id"].as_str().is_some_and(|id| id.starts_with("ledger-")))
        .collect()
}

/// An access log entry's reader (`<org>/<member>`), observer organisation, interaction and
/// outcome.
pub fn who(e: &Value) -> &str {
    e["agent"][0]["who"]["identifier"]["value"].as_str().unwrap_or("")
}

pub fn observer(e: &Value) -> &str {
    e["source"]["observer"]["identifier"]["value"].as_str().unwrap_or("")
}

pub fn subtype(e: &Value) -> &str {
    e["subtype"][0]["code"].as_str().unwrap_or("")
}

/// The ledger anchor extension's `action` (`read`, `break-glass`, `lookup`…).
pub fn ledger_action(e: &Value) -> String {
    anchor_ext(e, "action")
        .and_then(|x| x["valueString"].as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn anchor_ext(e: &Value, url: &str) -> Option<Value> {
    e["extension"][0]["extension"]
        .as_array()?
        .iter()
        .find(|x| x["url"] == url)
        .cloned()
}

pub fn is_break_glass(e: &Value) -> bool {
    anchor_ext(e, "breakGlass").is_some_and(|x| x["valueBoolean"] == true)
        && e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
}

pub fn entity_refs(e: &Value) -> Vec<String> {
    e["entity"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x["what"]["reference"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn summary(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|e| {
            format!(
                "{} by {} seen by {} outcome {} {:?}",
                ledger_action(e),
                who(e),
                observer(e),
                e["outcome"],
                entity_refs(e)
            )
        })
        .collect()
}

/// Polls the patient's access log at node `i` until `done` holds, within `timeout`.
pub async fn wait_for_log(
    net: &Net,
    i: usize,
    token: &str,
    patient: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = access_log(net, i, token, patient).await;
        if done(&log) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not in the access log within {timeout:?}; it holds {:#?}",
            summary(&log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A value of node `i`'s `/metrics` (`medledger_<name>`).
pub async fn metric(net: &Net, i: usize, name: &str) -> Option<f64> {
    let text = net
        .http
        .get(format!("{}/metrics", net.urls[i]))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("medledger_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until node `i` reports no audit entry waiting to be anchored.
pub async fn wait_audit_drained(net: &Net, i: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let pending = metric(net, i, "audit_pending").await;
        if pending == Some(0.0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node{i}: medledger_audit_pending is still {pending:?} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn height(net: &Net, i: usize) -> u64 {
    net.height(i).await.expect("node status")
}

/// Waits until node `i` has every block node `from` has now.
pub async fn catch_up(net: &Net, i: usize, from: usize) {
    let h = height(net, from).await;
    net.wait_height(i, h, DEADLINE).await;
}

/// A patient's consent to an organisation for some resource types and purposes.
pub fn org_consent(patient: &str, id: &str, grantee: &str, types: &[&str], purposes: Vec<Purpose>) -> Payload {
    Payload::ConsentGrant(ConsentGrant {
        consent_id: id.into(),
        patient: patient.into(),
        grantee: Grantee::Org(OrgId::new(grantee).unwrap()),
        scope: ConsentScope::Types(types.iter().map(|s| s.to_string()).collect()),
        purposes,
        expires: None,
    })
}

/// The `response.status` of entry `i` of a Bundle answer.
pub fn entry_status(a: &Answer, i: usize) -> String {
    a.body["entry"][i]["response"]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `v` without any `id` member, recursively.
pub fn without_ids(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "id")
                .map(|(k, v)| (k.clone(), without_ids(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

/// How many of `hashes` (one signer's, consecutive nonces) node `i` has committed: they
/// commit in nonce order, so the committed ones are a prefix.
pub async fn committed_prefix(net: &Net, i: usize, hashes: &[Hash32]) -> usize {
    let (mut lo, mut hi) = (0, hashes.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let r = get(net, i, &format!("/v1/receipts/{}", hashes[mid]), None).await;
        if r.body["status"] == "committed" {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Block `h` as node `i` holds it (read with an admin's member token).
pub async fn block(net: &Net, i: usize, h: u64) -> Block {
    let v = net.ledger_get(i, &format!("/v1/blocks/{h}?format=hex")).await;
    let raw = hex::decode(v["encoded"].as_str().unwrap_or_else(|| panic!("block {h}: {v}"))).unwrap();
    Block::decode(&raw).unwrap()
}

/// Every audit entry anchored in blocks `from..=to`, with the organisation whose node
/// anchored it.
pub async fn audit_entries(net: &Net, i: usize, from: u64, to: u64) -> Vec<(OrgId, AuditEntry, Height)> {
    let mut out = Vec::new();
    let heights: Vec<u64> = (from.max(1)..=to).collect();
    for chunk in heights.chunks(16) {
        let blocks = futures::future::join_all(chunk.iter().map(|h| block(net, i, *h))).await;
        for b in blocks {
            for tx in &b.txs {
                if tx.tx.kind != medledger_ledger::audit::record::KIND {
                    continue;
                }
                if let Ok(Payload::AuditRecord(r)) = Payload::decode(tx.tx.kind, &tx.tx.body) {
                    for e in r.entries {
                        out.push((r.node_org.clone(), e, b.header.height));
                    }
                }
            }
        }
    }
    out
}

/// Reads node `i`'s blocks after `after`, as they come, until `check` accepts the audit
/// entries found so far (`Err` says what is still missing), within [`DEADLINE`].
pub async fn wait_for_audits(
    net: &Net,
    i: usize,
    after: u64,
    check: impl Fn(&[(OrgId, AuditEntry, Height)]) -> Result<(), String>,
) -> Vec<(OrgId, AuditEntry, Height)> {
    let deadline = Instant::now() + DEADLINE;
    let (mut scanned, mut found) = (after, Vec::new());
    loop {
        let to = height(net, i).await;
        if to > scanned {
            found.extend(audit_entries(net, i, scanned + 1, to).await);
            scanned = to;
        }
        match check(&found) {
            Ok(()) => return found,
            Err(missing) => assert!(
                Instant::now() < deadline,
                "not on the ledger within {DEADLINE:?}: {missing}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client presenting node `i`'s certificate (its service key), accepting any node
/// certificate from the server: for hand-made node-to-node requests.
pub fn node_client(net: &Net, i: usize) -> reqwest::Client {
    let home = &net.homes[i];
    let key = read_key(&home.join("service_key.json")).unwrap();
    let tls = home.join("tls");
    let id = medledger_node::tls::TlsIdentity::load(
        &tls.join("ca.pem"),
        &tls.join("server.pem"),
        &tls.join("server_key.pem"),
        &tls.join("node.pem"),
        &key,
    )
    .unwrap();
    let config = medledger_node::tls::client_config(&id, Arc::new(|_: &PublicKey| true)).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Node `i`'s service key and its member id (`node{i}`).
pub fn node_key(net: &Net, i: usize) -> (Keypair, String) {
    (
        read_key(&net.homes[i].join("service_key.json")).unwrap(),
        format!("node{i}"),
    )
}

/// One item of a transfer request.
pub fn fetch_item(reader: &str, resource_type: &str, id: &str, version: u64, purpose: &str, emergency: bool) -> Value {
    json!({
        "sub": reader,
        "resource_type": resource_type,
        "id": id,
        "version": version,
        "purpose": purpose,
        "emergency": emergency,
        "action": "read",
    })
}

/// A transfer request (`POST /node/v1/records/fetch`) signed by `key` as `iss`, to the
/// custodian organisation `aud`, with a fresh encryption key and `jti`.
pub fn fetch_request(key: &Keypair, iss: &str, aud: &str, items: Vec<Value>) -> String {
    let enc = medledger_crypto::wrap::EncryptionKeypair::generate()
        .public()
        .to_string();
    let claims = json!({
        "iss": iss,
        "aud": aud,
        "enc": enc,
        "exp": now_s() + 60,
        "jti": unique("jti"),
        // The height the requester decided at: 0, so the custodian decides at once.
        "height": 0,
        "items": items,
    });
    medledger_crypto::jws::sign_compact(&json!({"typ": "JWT", "kid": key.public().to_string()}), &claims, key)
}

/// Posts a transfer request to node `i` with `client`.
pub async fn post_fetch(net: &Net, client: &reqwest::Client, i: usize, token: &str) -> Answer {
    let r = client
        .post(format!("{}/node/v1/records/fetch", net.urls[i]))
        .header("content-type", "application/jose")
        .body(token.to_string())
        .send()
        .await
        .unwrap();
    answer(r).await
}

/// A client assertion with the claims given (signed with the member's key).
pub fn assertion_with(m: &Member, claims: Value) -> String {
    medledger_crypto::jws::sign_compact(
        &json!({"typ": "JWT", "kid": m.key.public().to_string()}),
        &claims,
        &m.key,
    )
}

/// The usual claims of `m`'s assertion for `aud`.
pub fn assertion_claims(m: &Member, aud: &str) -> Value {
    json!({"iss": m.client_id(), "sub": m.client_id(), "aud": aud,
           "exp": now_s() + 60, "jti": unique("jti")})
}
