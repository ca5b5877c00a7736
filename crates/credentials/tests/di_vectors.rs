//! The W3C vc-di-eddsa test vectors for `eddsa-jcs-2022` (spec Appendix "Representation:
//! eddsa-jcs-2022"): every intermediate step is compared with the published value.

use medledger_credentials::di::{self, DiError, ProofOptions, VerificationMethod};
use medledger_credentials::{UnixTime, jcs, multibase};
use medledger_crypto::Keypair;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn text(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/vc-di-eddsa/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .trim()
        .to_owned()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap()
}

fn key() -> Keypair {
    let pair = json("keyPair.json");
    let seed = multibase::decode_ed25519_secret(pair["privateKeyMultibase"].as_str().unwrap()).unwrap();
    let key = Keypair::from_seed(seed);
    let public = multibase::decode_ed25519_public(pair["publicKeyMultibase"].as_str().unwrap()).unwrap();
    assert_eq!(key.public(), public, "the key pair's halves match");
    assert_eq!(
        multibase::encode_ed25519_public(&public),
        pair["publicKeyMultibase"].as_str().unwrap()
    );
    key
}

fn options(key: &Keypair) -> ProofOptions {
    ProofOptions::assertion(
        VerificationMethod::DidKey(key.public()),
        UnixTime::parse_rfc3339("2023-02-24T23:36:38Z").unwrap(),
    )
}

#[test]
fn every_step_matches_the_vectors() {
    let key = key();
    let unsigned = json("unsigned.json");

    let canonical_doc = jcs::canonicalize(&unsigned).unwrap();
    assert_eq!(canonical_doc, text("canonDocJCS.txt"));
    assert_eq!(hex::encode(Sha256::digest(&canonical_doc)), text("docHashJCS.txt"));

    let config = di::proof_config(&unsigned, &options(&key)).unwrap();
    assert_eq!(config, json("proofConfigJCS.json"));
    let canonical_config = jcs::canonicalize(&config).unwrap();
    assert_eq!(canonical_config, text("proofCanonJCS.txt"));
    assert_eq!(hex::encode(Sha256::digest(&canonical_config)), text("proofHashJCS.txt"));

    let hash = di::hash_data(canonical_config.as_bytes(), canonical_doc.as_bytes());
    assert_eq!(hex::encode(hash), text("combinedHashJCS.txt"));

    let signature = key.sign(&hash);
    assert_eq!(hex::encode(signature.0), text("sigHexJCS.txt"));
    assert_eq!(multibase::encode_base58btc(&signature.0), text("sigBTC58JCS.txt"));

    let signed = di::create_proof(&unsigned, &options(&key), &key).unwrap();
    assert_eq!(signed, json("signedJCS.json"));
}

#[test]
fn the_published_signed_credential_verifies() {
    let verified = di::verify_proof(&json("signedJCS.json")).unwrap();
    assert_eq!(verified.method, VerificationMethod::DidKey(key().public()));
    assert_eq!(verified.proof_purpose, "assertionMethod");
    assert_eq!(
        verified.created,
        Some(UnixTime::parse_rfc3339("2023-02-24T23:36:38Z").unwrap())
    );
}

#[test]
fn any_change_is_refused() {
    let signed = json("signedJCS.json");
    let mut changed = signed.clone();
    changed["credentialSubject"]["alumniOf"] = "Another School".into();
    assert_eq!(di::verify_proof(&changed), Err(DiError::BadSignature));

    let mut changed = signed.clone();
    changed["proof"]["created"] = "2023-02-24T23:36:39Z".into();
    assert_eq!(di::verify_proof(&changed), Err(DiError::BadSignature));

    let mut changed = signed.clone();
    changed["proof"]["cryptosuite"] = "eddsa-rdfc-2022".into();
    assert!(matches!(di::verify_proof(&changed), Err(DiError::Cryptosuite(_))));

    let mut changed = signed.clone();
    changed["@context"][1] = "https://example.org/other".into();
    assert_eq!(di::verify_proof(&changed), Err(DiError::ContextMismatch));

    let mut changed = signed.clone();
    let other = Keypair::from_seed([3; 32]);
    changed["proof"]["verificationMethod"] = VerificationMethod::DidKey(other.public()).to_string().into();
    assert_eq!(di::verify_proof(&changed), Err(DiError::BadSignature));

    let mut changed = signed.clone();
    changed["proof"]["proofValue"] = "z1111".into();
    assert_eq!(di::verify_proof(&changed), Err(DiError::ProofValueLength));

    let mut changed = signed;
    changed["proof"]["proofValue"] = "u0000".into();
    assert!(matches!(di::verify_proof(&changed), Err(DiError::ProofValue(_))));
}

#[test]
fn ledger_verification_method_round_trips() {
    let key = Keypair::from_seed([5; 32]);
    let m = VerificationMethod::Ledger {
        org: medledger_types::OrgId::new("regulator-r").unwrap(),
        key: key.public(),
    };
    let s = m.to_string();
    assert!(s.starts_with("urn:medledger:org:regulator-r#z6Mk"), "{s}");
    assert_eq!(VerificationMethod::parse(&s).unwrap(), m);
    for bad in [
        "urn:medledger:org:regulator-r",
        "urn:medledger:org:bad org#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6Mkother",
        "did:web:example.com#key-1",
    ] {
        assert!(VerificationMethod::parse(bad).is_err(), "{bad}");
    }
}
