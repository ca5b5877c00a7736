//! W3C Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite (W3C "Data Integrity
//! EdDSA Cryptosuites v1.0", §3.3 "eddsa-jcs-2022").
//!
//! Creating a proof (§3.3.1 "Create Proof", with §3.3.3 "Transformation", §3.3.4 "Hashing",
//! §3.3.5 "Proof Configuration" and §3.3.6 "Proof Serialization"):
//! 1. the proof configuration is the proof's options (`type` `DataIntegrityProof`,
//!    `cryptosuite` `eddsa-jcs-2022`, `created`, `verificationMethod`, `proofPurpose`) and,
//!    when the document has an `@context`, that same `@context`; it is canonicalised with
//!    JCS ([`crate::jcs`]);
//! 2. the document without `proof` is canonicalised with JCS;
//! 3. the hash data is SHA-256(canonical proof configuration) ‖ SHA-256(canonical
//!    document), 64 bytes;
//! 4. the signature is Ed25519 (RFC 8032) over those 64 bytes, and `proofValue` is its
//!    multibase base58btc form (`z…`).
//!
//! Verifying (§3.3.2 "Verify Proof") takes the proof off the document, drops `proofValue`
//! to get the configuration back, requires the proof's `@context` (when present) to equal
//! the document's, recomputes the hash data and checks the signature.
//!
//! # Verification methods
//!
//! Two forms name the key, and both carry it, so a proof can be checked offline:
//! - `did:key:z6Mk…#z6Mk…` (the W3C test vectors);
//! - `urn:medledger:org:<org-id>#z6Mk…`: the Ed25519 key registered on the ledger for the
//!   organisation `<org-id>` (the fragment is the key as a `did:key` multikey). This is the
//!   form medledger issuers use; the issuer of such a credential is `urn:medledger:org:<org-id>`.
//!
//! A valid signature only shows that the named key signed. Whether the key is trusted —
//! for the ledger form, that it was registered to that organisation, unrevoked, when the
//! proof was created — is for the caller to check against the ledger; [`verify_proof`]
//! returns the [`VerificationMethod`] for that purpose.

use crate::jcs::{self, JcsError};
use crate::multibase::{self, MultibaseError};
use crate::time::UnixTime;
use medledger_crypto::Keypair;
use medledger_types::{OrgId, PublicKey, Signature};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

pub const PROOF_TYPE: &str = "DataIntegrityProof";
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";
/// The prefix of an organisation's identifier as a credential issuer.
pub const ORG_URN_PREFIX: &str = "urn:medledger:org:";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiError {
    #[error("the document is not a JSON object")]
    NotAnObject,
    #[error("the document has no proof")]
    MissingProof,
    #[error("the document has a proof set (several proofs); only a single proof is supported")]
    ProofSet,
    #[error("proof member {0} is missing or not a string")]
    ProofMember(&'static str),
    #[error("proof type {0:?} is not DataIntegrityProof")]
    ProofType(String),
    #[error("cryptosuite {0:?} is not eddsa-jcs-2022")]
    Cryptosuite(String),
    #[error("proof created {0:?} is not an RFC 3339 date-time")]
    Created(String),
    #[error("the proof's @context differs from the document's")]
    ContextMismatch,
    #[error("verification method {0:?} is neither did:key nor urn:medledger:org:<org>#<key>")]
    VerificationMethod(String),
    #[error("proofValue: {0}")]
    ProofValue(MultibaseError),
    #[error("proofValue does not decode to a 64-byte Ed25519 signature")]
    ProofValueLength,
    #[error("signature does not verify")]
    BadSignature,
    #[error(transparent)]
    Jcs(#[from] JcsError),
}

/// The key that made a proof, as the proof names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMethod {
    /// `did:key:z6Mk…#z6Mk…`.
    DidKey(PublicKey),
    /// `urn:medledger:org:<org>#z6Mk…`: a key the ledger registers for `org`.
    Ledger { org: OrgId, key: PublicKey },
}

impl VerificationMethod {
    pub fn key(&self) -> &PublicKey {
        match self {
            VerificationMethod::DidKey(k) | VerificationMethod::Ledger { key: k, .. } => k,
        }
    }

    pub fn parse(s: &str) -> Result<VerificationMethod, DiError> {
        let bad = || DiError::VerificationMethod(s.chars().take(200).collect());
        let (base, fragment) = s.split_once('#').ok_or_else(bad)?;
        let key = multibase::decode_ed25519_public(fragment).map_err(|_| bad())?;
        if let Some(did) = base.strip_prefix("did:key:") {
            if did != fragment {
                return Err(bad());
            }
            return Ok(VerificationMethod::DidKey(key));
        }
        if let Some(org) = base.strip_prefix(ORG_URN_PREFIX) {
            let org = OrgId::new(org).map_err(|_| bad())?;
            return Ok(VerificationMethod::Ledger { org, key });
        }
        Err(bad())
    }
}

impl fmt::Display for VerificationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerificationMethod::DidKey(k) => {
                let mb = multibase::encode_ed25519_public(k);
                write!(f, "did:key:{mb}#{mb}")
            }
            VerificationMethod::Ledger { org, key } => {
                let mb = multibase::encode_ed25519_public(key);
                write!(f, "{ORG_URN_PREFIX}{org}#{mb}")
            }
        }
    }
}

/// The options of a proof to create.
#[derive(Debug, Clone)]
pub struct ProofOptions {
    pub verification_method: VerificationMethod,
    pub created: UnixTime,
    /// Almost always `assertionMethod`.
    pub proof_purpose: String,
}

impl ProofOptions {
    pub fn assertion(verification_method: VerificationMethod, created: UnixTime) -> Self {
        ProofOptions {
            verification_method,
            created,
            proof_purpose: "assertionMethod".to_owned(),
        }
    }
}

/// What a verified proof says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    pub method: VerificationMethod,
    pub created: Option<UnixTime>,
    pub proof_purpose: String,
}

/// §3.3.5: the proof configuration for `document` (the proof without `proofValue`).
pub fn proof_config(document: &Value, options: &ProofOptions) -> Result<Value, DiError> {
    let doc = document.as_object().ok_or(DiError::NotAnObject)?;
    let mut config = Map::new();
    config.insert("type".into(), PROOF_TYPE.into());
    config.insert("cryptosuite".into(), CRYPTOSUITE.into());
    config.insert("created".into(), options.created.to_rfc3339().into());
    config.insert(
        "verificationMethod".into(),
        options.verification_method.to_string().into(),
    );
    config.insert("proofPurpose".into(), options.proof_purpose.clone().into());
    if let Some(context) = doc.get("@context") {
        config.insert("@context".into(), context.clone());
    }
    Ok(Value::Object(config))
}

/// §3.3.4: SHA-256(canonical proof config) ‖ SHA-256(canonical document).
pub fn hash_data(canonical_proof_config: &[u8], canonical_document: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&Sha256::digest(canonical_proof_config));
    out[32..].copy_from_slice(&Sha256::digest(canonical_document));
    out
}

/// §3.3.1: `document` with a `proof` made by `key`. The document must not already carry
/// a proof (it would be signed over).
pub fn create_proof(document: &Value, options: &ProofOptions, key: &Keypair) -> Result<Value, DiError> {
    let mut unsecured = document.as_object().ok_or(DiError::NotAnObject)?.clone();
    unsecured.remove("proof");
    let unsecured = Value::Object(unsecured);
    let config = proof_config(&unsecured, options)?;
    let hash = hash_data(&jcs::canonical_bytes(&config)?, &jcs::canonical_bytes(&unsecured)?);
    let signature = key.sign(&hash);
    let mut proof = config;
    if let Value::Object(p) = &mut proof {
        p.insert("proofValue".into(), multibase::encode_base58btc(&signature.0).into());
    }
    let mut secured = unsecured;
    if let Value::Object(d) = &mut secured {
        d.insert("proof".into(), proof);
    }
    Ok(secured)
}

/// §3.3.2: checks the single `eddsa-jcs-2022` proof on `secured`. See the module docs for
/// what the caller must still check about the key.
pub fn verify_proof(secured: &Value) -> Result<VerifiedProof, DiError> {
    let mut doc = secured.as_object().ok_or(DiError::NotAnObject)?.clone();
    let proof = match doc.remove("proof") {
        Some(Value::Object(p)) => p,
        Some(Value::Array(_)) => return Err(DiError::ProofSet),
        Some(_) => return Err(DiError::ProofMember("proof")),
        None => return Err(DiError::MissingProof),
    };
    let text = |name: &'static str| -> Result<&str, DiError> {
        proof
            .get(name)
            .and_then(Value::as_str)
            .ok_or(DiError::ProofMember(name))
    };
    let proof_type = text("type")?;
    if proof_type != PROOF_TYPE {
        return Err(DiError::ProofType(proof_type.to_owned()));
    }
    let suite = text("cryptosuite")?;
    if suite != CRYPTOSUITE {
        return Err(DiError::Cryptosuite(suite.to_owned()));
    }
    let method = VerificationMethod::parse(text("verificationMethod")?)?;
    let proof_purpose = text("proofPurpose")?.to_owned();
    let created = match proof.get("created") {
        None => None,
        Some(Value::String(s)) => {
            Some(UnixTime::parse_rfc3339(s).map_err(|_| DiError::Created(s.chars().take(64).collect()))?)
        }
        Some(_) => return Err(DiError::ProofMember("created")),
    };
    if let Some(proof_context) = proof.get("@context")
        && doc.get("@context") != Some(proof_context)
    {
        return Err(DiError::ContextMismatch);
    }
    let proof_value = text("proofValue")?;
    let sig_bytes = multibase::decode_base58btc(proof_value, 128).map_err(DiError::ProofValue)?;
    let signature = Signature::from_slice(&sig_bytes).ok_or(DiError::ProofValueLength)?;
    let mut config = proof.clone();
    config.remove("proofValue");
    let hash = hash_data(
        &jcs::canonical_bytes(&Value::Object(config))?,
        &jcs::canonical_bytes(&Value::Object(doc))?,
    );
    medledger_crypto::verify(method.key(), &hash, &signature).map_err(|_| DiError::BadSignature)?;
    Ok(VerifiedProof {
        method,
        created,
        proof_purpose,
    })
}
