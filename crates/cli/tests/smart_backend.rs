//! SMART Backend Services conformance: a backend client registers its JWK Set (one
//! ES384 and one RS384 key) on the ledger with `medledger tx client-keys`, then gets
//! bearer tokens with client assertions signed by either key; the server's discovery
//! document says so. Assertions under a kid that is not registered, for another client
//! id, or after the set is removed are refused.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::fhir::{fhir, register, token_request};
use common::net::Net;
use medledger_ledger::identity::MemberKind;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);

enum Key {
    Ec(EcdsaKeyPair),
    Rsa(SigningKey<sha2::Sha384>),
}

fn assertion(key: &Key, kid: &str, client_id: &str, url: &str) -> String {
    let alg = match key {
        Key::Ec(_) => "ES384",
        Key::Rsa(_) => "RS384",
    };
    let now = medledger_node::node::now_ms().0 / 1000;
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let claims = json!({"iss": client_id, "sub": client_id, "aud": format!("{url}/auth/token"),
                        "exp": now + 120, "jti": format!("{alg}-{kid}-{}", rand::random::<u64>())});
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header).unwrap()),
        B64.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = match key {
        Key::Ec(pair) => pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
        Key::Rsa(signer) => signer.sign(input.as_bytes()).to_vec(),
    };
    format!("{input}.{}", B64.encode(sig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_clients_sign_with_es384_and_rs384() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    net.start_all();
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let svc = register(&net, 0, "hospital-a", "backend", MemberKind::Service).await;

    // The client's keys, as a backend client makes them.
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = ec.public_key().as_ref().to_vec();
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let public = private.to_public_key();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-384", "kid": "ec-1", "alg": "ES384", "use": "sig",
         "x": B64.encode(&point[1..49]), "y": B64.encode(&point[49..])},
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS384", "use": "sig",
         "n": B64.encode(public.n().to_bytes_be()), "e": B64.encode(public.e().to_bytes_be())},
    ]});
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, serde_json::to_vec(&jwks).unwrap()).unwrap();
    let admin_key = net.dir.join("admins/hospital-a.json");
    let set = |file: &std::path::Path| {
        common::medledger(&[
            "tx",
            "client-keys",
            "--org",
            "hospital-a",
            "--member",
            "backend",
            "--jwks",
            file.to_str().unwrap(),
            "--key",
            admin_key.to_str().unwrap(),
            "--node",
            &net.urls[0],
            "--ca",
            net.ca.to_str().unwrap(),
        ])
    };
    let out = set(&jwks_file);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A private JWK is refused before anything is signed.
    let private_file = dir.path().join("private.json");
    let mut leaked = jwks.clone();
    leaked["keys"][0]["d"] = json!("AAAA");
    std::fs::write(&private_file, serde_json::to_vec(&leaked).unwrap()).unwrap();
    let refused = set(&private_file);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("private key"));

    let discovery = net
        .http
        .get(format!("{}/.well-known/smart-configuration", net.urls[0]))
        .send()
        .await
        .unwrap();
    let discovery: Value = discovery.json().await.unwrap();
    let algs = discovery["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        algs.contains(&json!("ES384")) && algs.contains(&json!("RS384")),
        "{discovery}"
    );

    let url = net.urls[0].clone();
    let keys = [
        (Key::Ec(ec), "ec-1"),
        (Key::Rsa(SigningKey::<sha2::Sha384>::new(private)), "rsa-1"),
    ];
    for (key, kid) in &keys {
        let a = token_request(
            &net,
            0,
            &assertion(key, kid, &svc.client_id(), &url),
            "system/Patient.rs",
        )
        .await;
        assert_eq!(a.status, 200, "{kid}: {}", a.text);
        let tok = a.body["access_token"].as_str().unwrap();
        let search = fhir(&net, 0, "GET", "/Patient?_count=1", Some(tok), None, &[]).await;
        assert_eq!(search.status, 200, "{}", search.text);
        // The same key under a kid it is not registered as, or claiming another client.
        let wrong_kid = token_request(
            &net,
            0,
            &assertion(key, "ec-9", &svc.client_id(), &url),
            "system/Patient.rs",
        )
        .await;
        assert_eq!(wrong_kid.status, 401, "{}", wrong_kid.text);
        let other = token_request(
            &net,
            0,
            &assertion(key, kid, "hospital-a/admin", &url),
            "system/Patient.rs",
        )
        .await;
        assert_eq!(other.status, 401, "{}", other.text);
    }
    // An ES384 key named as the RSA one.
    let swapped = token_request(
        &net,
        0,
        &assertion(&keys[0].0, "rsa-1", &svc.client_id(), &url),
        "system/Patient.rs",
    )
    .await;
    assert_eq!(swapped.status, 401);

    // Removing the set stops both keys.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, br#"{"keys": []}"#).unwrap();
    assert!(set(&empty).status.success());
    for (key, kid) in &keys {
        let a = token_request(
            &net,
            0,
            &assertion(key, kid, &svc.client_id(), &url),
            "system/Patient.rs",
        )
        .await;
        assert_eq!(a.status, 401, "{kid}: {}", a.text);
    }
    net.stop_all();
}
