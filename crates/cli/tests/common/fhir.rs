//! A FHIR client for tests: members, tokens, requests.

#![allow(dead_code)]

use medledger_crypto::Keypair;
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::read_key;
use medledger_types::codec::Encode;
use medledger_types::{MemberId, Nonce, OrgId, Tx};
use serde_json::{Value, json};

use super::net::Net;

/// A registered member with its key.
#[derive(Clone)]
pub struct Member {
    pub org: String,
    pub member: String,
    pub key: Keypair,
}

impl Member {
    pub fn client_id(&self) -> String {
        format!("{}/{}", self.org, self.member)
    }
}

/// An HTTP answer: status and JSON body (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    /// The first issue's diagnostics of an OperationOutcome.
    pub fn diagnostics(&self) -> String {
        self.body["issue"][0]["diagnostics"].as_str().unwrap_or("").to_string()
    }

    pub fn is_outcome(&self) -> bool {
        self.body["resourceType"] == "OperationOutcome"
    }
}

pub async fn next_nonce(net: &Net, i: usize, key: &Keypair) -> u64 {
    let v: Value = net
        .http
        .get(format!("{}/v1/nonce/{}", net.urls[i], key.public()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["next_nonce"].as_u64().unwrap()
}

/// Signs `payload` with `key` and submits it to node `i`, waiting for its block.
/// Returns the node's answer (`outcome` 0 means success).
pub async fn submit(net: &Net, i: usize, key: &Keypair, payload: Payload) -> Value {
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let nonce = next_nonce(net, i, key).await;
    let tx = key.sign_tx(Tx {
        chain_id: genesis.chain_id,
        signer: key.public(),
        nonce: Nonce(nonce),
        kind: payload.kind(),
        body: payload.body(),
    });
    net.http
        .post(format!("{}/v1/tx?wait=true", net.urls[i]))
        .header("content-type", "application/octet-stream")
        .body(tx.encode())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The admin of `org` registers a member with a fresh key.
pub async fn register(net: &Net, i: usize, org: &str, member: &str, kind: MemberKind) -> Member {
    let admin = read_key(&net.dir.join(format!("admins/{org}.json"))).unwrap();
    let key = Keypair::generate(&mut rand::rngs::OsRng);
    let answer = submit(
        net,
        i,
        &admin,
        Payload::RegisterMember(RegisterMember {
            org: OrgId::new(org).unwrap(),
            member: MemberId::new(member).unwrap(),
            kind,
            public_key: key.public(),
        }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "registering {org}/{member}: {answer}");
    Member {
        org: org.into(),
        member: member.into(),
        key,
    }
}

pub fn admin(net: &Net, org: &str) -> Member {
    Member {
        org: org.into(),
        member: "admin".into(),
        key: read_key(&net.dir.join(format!("admins/{org}.json"))).unwrap(),
    }
}

/// A signed client assertion for node `url`'s token endpoint.
pub fn assertion(m: &Member, url: &str, exp_in_secs: i64) -> String {
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
    let now = medledger_node::node::now_ms().0 as i64 / 1000;
    medledger_crypto::jws::sign_compact(
        &json!({"typ": "JWT", "kid": m.key.public().to_string()}),
        &json!({"iss": m.client_id(), "sub": m.client_id(), "aud": format!("{url}/auth/token"),
                "exp": now + exp_in_secs, "jti": hex::encode(jti)}),
        &m.key,
    )
}

/// Posts a token request with `assertion`; returns the raw answer.
pub async fn token_request(net: &Net, i: usize, assertion: &str, scope: &str) -> Answer {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", scope),
    ])
    .unwrap();
    let resp = net
        .http
        .post(format!("{}/auth/token", net.urls[i]))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

/// A bearer token for `m` at node `i`.
pub async fn token(net: &Net, i: usize, m: &Member, scope: &str) -> String {
    let a = token_request(net, i, &assertion(m, &net.urls[i], 120), scope).await;
    assert_eq!(a.status, 200, "token for {}: {}", m.client_id(), a.text);
    a.body["access_token"].as_str().unwrap().to_string()
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
        text,
    }
}

/// A FHIR request to node `i`.
pub async fn fhir(
    net: &Net,
    i: usize,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let url = format!("{}/fhir{path}", net.urls[i]);
    let mut req = net.http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/fhir+json")
            .body(serde_json::to_vec(b).unwrap());
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap()).await
}

/// The resources of a Bundle's entries, in order.
pub fn resources(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

pub fn patient(marker: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "name": [{"family": format!("Family{marker}"), "given": [format!("Given{marker}")]}],
        "gender": "female",
        "birthDate": "1980-04-03",
        "identifier": [{"system": "urn:test:mrn", "value": format!("MRN{marker}")}],
    })
}

pub fn observation(patient_id: &str, code: &str, marker: &str, date: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": format!("Note{marker}")},
        "subject": {"reference": format!("Patient/{patient_id}")},
        "effectiveDateTime": date,
        "valueQuantity": {"value": 72, "unit": "beats/min"},
    })
}

pub fn condition(patient_id: &str, marker: &str) -> Value {
    json!({
        "resourceType": "Condition",
        "code": {"text": format!("Diagnosis{marker}")},
        "subject": {"reference": format!("Patient/{patient_id}")},
    })
}
