//! ES384 and RS384 client assertions (RFC 7518 §3.4, §3.3), as SMART Backend Services
//! clients sign them: each verifies under its key, and every way of getting it wrong is
//! refused with its own error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use medledger_crypto::jws::{JwsError, VerifyingKey, verify_compact_any};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::json;

fn input(alg: &str, kid: &str) -> String {
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let claims = json!({"iss": "hospital-a/backend", "sub": "hospital-a/backend", "jti": "1", "exp": 2});
    format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header).unwrap()),
        B64.encode(serde_json::to_vec(&claims).unwrap())
    )
}

fn p384(alg: &'static signature::EcdsaSigningAlgorithm) -> (EcdsaKeyPair, VerifyingKey) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 97);
    let key = VerifyingKey::EcP384 {
        x: point[1..49].to_vec(),
        y: point[49..].to_vec(),
    };
    (pair, key)
}

fn es384(pair: &EcdsaKeyPair, signing_input: &str) -> String {
    let sig = pair.sign(&SystemRandom::new(), signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", B64.encode(sig.as_ref()))
}

#[test]
fn es384_verifies_and_what_is_wrong_is_refused() {
    let (pair, key) = p384(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
    let token = es384(&pair, &input("ES384", "k1"));
    let (header, claims) =
        verify_compact_any(&token, 8192, |h| (h.kid.as_deref() == Some("k1")).then(|| key.clone())).unwrap();
    assert_eq!(header.alg, "ES384");
    assert_eq!(claims["sub"], "hospital-a/backend");
    // Another key: the signature does not hold.
    let (_, other) = p384(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
    assert_eq!(
        verify_compact_any(&token, 8192, |_| Some(other.clone())).unwrap_err(),
        JwsError::BadSignature
    );
    // A changed payload.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = B64.encode(br#"{"sub":"hospital-a/admin"}"#);
    parts[1] = &forged;
    assert_eq!(
        verify_compact_any(&parts.join("."), 8192, |_| Some(key.clone())).unwrap_err(),
        JwsError::BadSignature
    );
    // The header says RS384 for an EC key: no key.
    let relabelled = es384(&pair, &input("RS384", "k1"));
    assert_eq!(
        verify_compact_any(&relabelled, 8192, |_| Some(key.clone())).unwrap_err(),
        JwsError::UnknownKey
    );
    // A DER signature (what OpenSSL gives by default) is not the JOSE form.
    let (der_pair, der_key) = p384(&signature::ECDSA_P384_SHA384_ASN1_SIGNING);
    let der = es384(&der_pair, &input("ES384", "k1"));
    assert!(matches!(
        verify_compact_any(&der, 8192, |_| Some(der_key.clone())),
        Err(JwsError::Malformed(_))
    ));
    // Algorithms SMART does not ask for, and none.
    for alg in ["none", "ES256", "HS384", "PS384"] {
        let t = es384(&pair, &input(alg, "k1"));
        assert_eq!(
            verify_compact_any(&t, 8192, |_| Some(key.clone())).unwrap_err(),
            JwsError::UnsupportedAlg,
            "{alg}"
        );
    }
    // An unknown kid.
    assert_eq!(
        verify_compact_any(&token, 8192, |_| None).unwrap_err(),
        JwsError::UnknownKey
    );
}

fn rsa_key(bits: usize) -> (SigningKey<sha2::Sha384>, VerifyingKey) {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
    let public = private.to_public_key();
    let key = VerifyingKey::Rsa {
        n: public.n().to_bytes_be(),
        e: public.e().to_bytes_be(),
    };
    (SigningKey::<sha2::Sha384>::new(private), key)
}

fn rs384(signer: &SigningKey<sha2::Sha384>, signing_input: &str) -> String {
    let sig = signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
}

#[test]
fn rs384_verifies_and_what_is_wrong_is_refused() {
    let (signer, key) = rsa_key(2048);
    let token = rs384(&signer, &input("RS384", "r1"));
    let (header, _) = verify_compact_any(&token, 8192, |_| Some(key.clone())).unwrap();
    assert_eq!(header.alg, "RS384");
    let (_, other) = rsa_key(2048);
    assert_eq!(
        verify_compact_any(&token, 8192, |_| Some(other.clone())).unwrap_err(),
        JwsError::BadSignature
    );
    let relabelled = rs384(&signer, &input("ES384", "r1"));
    assert_eq!(
        verify_compact_any(&relabelled, 8192, |_| Some(key.clone())).unwrap_err(),
        JwsError::UnknownKey
    );
    // A 1024-bit key is too weak to verify anything.
    let (weak_signer, weak) = rsa_key(1024);
    let weak_token = rs384(&weak_signer, &input("RS384", "r1"));
    assert_eq!(
        verify_compact_any(&weak_token, 8192, |_| Some(weak.clone())).unwrap_err(),
        JwsError::BadSignature
    );
    // Too long.
    assert_eq!(
        verify_compact_any(&token, 100, |_| Some(key.clone())).unwrap_err(),
        JwsError::TooLong
    );
}
