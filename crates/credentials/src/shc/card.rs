//! Issuing and verifying cards: ES256 compact JWS over the raw-DEFLATEd payload.

use super::crl::{Crl, is_rid};
use super::jwk::{IssuerKey, Jwks};
use super::{HEALTH_CARD_TYPE, MAX_JWS_CHARS, MAX_PAYLOAD_BYTES, ShcError};
use crate::time::UnixTime;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Signer;
use serde_json::{Map, Value, json};
use std::io::{Read, Write};

/// The longest JWS header accepted, in characters.
const MAX_HEADER_CHARS: usize = 1024;

/// The claims of a card.
#[derive(Debug, Clone, PartialEq)]
pub struct CardPayload {
    /// The issuer's URL (`https`, no trailing `/`); its keys are at
    /// `<iss>/.well-known/jwks.json`.
    pub iss: String,
    /// Issuance time, seconds since the epoch (the examples carry fractions).
    pub nbf: f64,
    pub exp: Option<f64>,
    /// `vc.type`; always contains the health card type.
    pub types: Vec<String>,
    pub fhir_version: String,
    /// `vc.credentialSubject.fhirBundle`.
    pub bundle: Value,
    /// `vc.rid`, the revocation identifier.
    pub rid: Option<String>,
}

impl CardPayload {
    /// A card over `bundle` (already minified, see [`super::minify`]).
    pub fn new(iss: &str, nbf: UnixTime, bundle: Value) -> CardPayload {
        CardPayload {
            iss: iss.to_owned(),
            nbf: nbf.0 as f64,
            exp: None,
            types: vec![HEALTH_CARD_TYPE.to_owned()],
            fhir_version: "4.0.1".to_owned(),
            bundle,
            rid: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut vc = json!({
            "type": self.types,
            "credentialSubject": {
                "fhirVersion": self.fhir_version,
                "fhirBundle": self.bundle,
            },
        });
        if let Some(rid) = &self.rid {
            vc["rid"] = rid.clone().into();
        }
        let mut payload = Map::new();
        payload.insert("iss".into(), self.iss.clone().into());
        payload.insert("nbf".into(), seconds(self.nbf));
        if let Some(exp) = self.exp {
            payload.insert("exp".into(), seconds(exp));
        }
        payload.insert("vc".into(), vc);
        Value::Object(payload)
    }

    pub fn from_json(v: &Value) -> Result<CardPayload, ShcError> {
        let iss = v
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(ShcError::Payload("no iss"))?;
        if !iss.starts_with("https://") || iss.ends_with('/') {
            return Err(ShcError::Payload("iss must be an https URL without a trailing /"));
        }
        let nbf = v
            .get("nbf")
            .and_then(Value::as_f64)
            .ok_or(ShcError::Payload("no numeric nbf"))?;
        let exp = match v.get("exp") {
            None => None,
            Some(e) => Some(e.as_f64().ok_or(ShcError::Payload("exp is not a number"))?),
        };
        let vc = v.get("vc").ok_or(ShcError::Payload("no vc"))?;
        let types: Vec<String> = vc
            .get("type")
            .and_then(Value::as_array)
            .ok_or(ShcError::Payload("no vc.type"))?
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(ShcError::Payload("vc.type holds a non-string"))?;
        if !types.iter().any(|t| t == HEALTH_CARD_TYPE) {
            return Err(ShcError::Payload("vc.type lacks https://smarthealth.cards#health-card"));
        }
        let subject = vc
            .get("credentialSubject")
            .ok_or(ShcError::Payload("no vc.credentialSubject"))?;
        let fhir_version = subject
            .get("fhirVersion")
            .and_then(Value::as_str)
            .ok_or(ShcError::Payload("no fhirVersion"))?
            .to_owned();
        let bundle = subject
            .get("fhirBundle")
            .filter(|b| b.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
            .ok_or(ShcError::Payload("no fhirBundle Bundle"))?
            .clone();
        let rid = match vc.get("rid") {
            None => None,
            Some(Value::String(r)) if is_rid(r) => Some(r.clone()),
            Some(_) => return Err(ShcError::Payload("rid is not 1-24 base64url characters")),
        };
        Ok(CardPayload {
            iss: iss.to_owned(),
            nbf,
            exp,
            types,
            fhir_version,
            bundle,
            rid,
        })
    }
}

/// Whole seconds as an integer, fractions as they are.
fn seconds(t: f64) -> Value {
    if t.fract() == 0.0 && t.abs() < 9.0e15 {
        Value::from(t as i64)
    } else {
        Value::from(t)
    }
}

/// Signs `payload` as a card: the compact JWS.
pub fn issue(payload: &CardPayload, key: &IssuerKey) -> Result<String, ShcError> {
    // What verification would refuse is never signed.
    if payload.rid.as_deref().is_some_and(|r| !is_rid(r)) {
        return Err(ShcError::Payload("rid is not 1-24 base64url characters"));
    }
    CardPayload::from_json(&payload.to_json())?;
    let header = json!({"alg": "ES256", "zip": "DEF", "kid": key.kid()});
    let json = serde_json::to_vec(&payload.to_json()).map_err(|_| ShcError::Sign)?;
    let mut deflate = DeflateEncoder::new(Vec::new(), Compression::best());
    deflate.write_all(&json).map_err(|_| ShcError::Sign)?;
    let compressed = deflate.finish().map_err(|_| ShcError::Sign)?;
    let header = serde_json::to_vec(&header).map_err(|_| ShcError::Sign)?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(compressed)
    );
    let signature: Signature = key.signing_key().sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// The protected header's members that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kid: String,
}

/// The three parts of a compact JWS, and its header checked.
struct Parts<'a> {
    header: Header,
    signing_input: &'a str,
    payload_b64: &'a str,
    signature_b64: &'a str,
}

fn split(jws: &str) -> Result<Parts<'_>, ShcError> {
    if jws.len() > MAX_JWS_CHARS {
        return Err(ShcError::TooLong(MAX_JWS_CHARS));
    }
    let (signing_input, signature_b64) = jws.rsplit_once('.').ok_or(ShcError::Jws("no dots"))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(ShcError::Jws("fewer than three parts"))?;
    if payload_b64.contains('.') {
        return Err(ShcError::Jws("more than three parts"));
    }
    if header_b64.len() > MAX_HEADER_CHARS {
        return Err(ShcError::Header("longer than 1024 characters"));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| ShcError::Header("not base64url"))?;
    let header: Value = serde_json::from_slice(&header).map_err(|_| ShcError::Header("not JSON"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        Some(other) => return Err(ShcError::Alg(other.chars().take(32).collect())),
        None => return Err(ShcError::Header("no alg")),
    }
    if header.get("zip").and_then(Value::as_str) != Some("DEF") {
        return Err(ShcError::Zip);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(ShcError::Header("no kid"))?
        .to_owned();
    Ok(Parts {
        header: Header { kid },
        signing_input,
        payload_b64,
        signature_b64,
    })
}

/// Inflates raw DEFLATE data, at most [`MAX_PAYLOAD_BYTES`].
pub fn inflate(compressed: &[u8]) -> Result<Vec<u8>, ShcError> {
    let mut out = Vec::new();
    let limit = MAX_PAYLOAD_BYTES as u64 + 1;
    let raw = DeflateDecoder::new(compressed).take(limit).read_to_end(&mut out);
    match raw {
        Ok(_) if out.len() > MAX_PAYLOAD_BYTES => Err(ShcError::PayloadTooLarge(MAX_PAYLOAD_BYTES)),
        Ok(_) => Ok(out),
        Err(_) if has_zlib_header(compressed) => Err(ShcError::NotRawDeflate),
        Err(_) => Err(ShcError::Inflate),
    }
}

/// RFC 1950 §2.2: CM = 8, CINFO ≤ 7, and CMF·256 + FLG a multiple of 31.
fn has_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn decode_payload(payload_b64: &str) -> Result<CardPayload, ShcError> {
    let compressed = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| ShcError::Jws("payload is not base64url"))?;
    let json = inflate(&compressed)?;
    let v: Value = serde_json::from_slice(&json).map_err(|_| ShcError::Payload("not JSON"))?;
    CardPayload::from_json(&v)
}

/// Reads a card's header and payload WITHOUT checking its signature (for inspection and
/// fuzzing; never for trust).
pub fn decode_unverified(jws: &str) -> Result<(Header, CardPayload), ShcError> {
    let parts = split(jws)?;
    Ok((parts.header, decode_payload(parts.payload_b64)?))
}

/// A card that passed [`verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCard {
    pub kid: String,
    pub payload: CardPayload,
    /// Whether a revocation list was checked (the key's `crlVersion`, when the key set
    /// has one, says the issuer publishes one).
    pub revocation_checked: bool,
    pub crl_version: Option<u64>,
}

/// Verifies a card against the issuer's key set at time `at`, and against the key's
/// revocation list when one is given. The caller checks that `payload.iss` is the issuer
/// whose keys `jwks` are.
pub fn verify(jws: &str, jwks: &Jwks, at: UnixTime, crl: Option<&Crl>) -> Result<VerifiedCard, ShcError> {
    let parts = split(jws)?;
    let jwk = jwks.find(&parts.header.kid)?;
    let key = jwk.key.as_ref().map_err(|reason| ShcError::KeyUnusable {
        kid: jwk.kid.clone(),
        reason,
    })?;
    let signature = URL_SAFE_NO_PAD
        .decode(parts.signature_b64)
        .map_err(|_| ShcError::Jws("signature is not base64url"))?;
    if signature.len() != 64 {
        return Err(if looks_like_der(&signature) {
            ShcError::DerSignature
        } else {
            ShcError::SignatureLength(signature.len())
        });
    }
    // ring's P-256 verifier (fixed-width r‖s, SHA-256): several times faster than the
    // p256 crate's here, and already in the build through the crypto crate.
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &key.0)
        .verify(parts.signing_input.as_bytes(), &signature)
        .map_err(|_| ShcError::BadSignature)?;
    let payload = decode_payload(parts.payload_b64)?;
    let now = at.0 as f64;
    if payload.nbf > now {
        return Err(ShcError::NotYetValid(payload.nbf));
    }
    if let Some(exp) = payload.exp
        && exp < now
    {
        return Err(ShcError::Expired(exp));
    }
    if let Some(crl) = crl {
        if crl.kid != parts.header.kid {
            return Err(ShcError::CrlKid {
                crl: crl.kid.clone(),
                card: parts.header.kid,
            });
        }
        if let Some(crl_version) = jwk.crl_version
            && crl.ctr < crl_version
        {
            return Err(ShcError::CrlStale {
                ctr: crl.ctr,
                crl_version,
            });
        }
        if let Some(rid) = &payload.rid
            && crl.revokes(rid, payload.nbf)
        {
            return Err(ShcError::Revoked(rid.clone()));
        }
    }
    Ok(VerifiedCard {
        kid: parts.header.kid,
        payload,
        revocation_checked: crl.is_some(),
        crl_version: jwk.crl_version,
    })
}

/// An ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` as ECDSA libraries write by default.
fn looks_like_der(sig: &[u8]) -> bool {
    matches!(sig, [0x30, len, 0x02, ..] if usize::from(*len) + 2 == sig.len())
}
