//! Compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037) only: SMART client
//! assertions and signed node-to-node requests. `alg: none` and every other algorithm
//! are refused; so is a `crit` header (no extension is understood).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use medledger_types::PublicKey;
use serde_json::Value;
use thiserror::Error;

use crate::Keypair;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwsError {
    #[error("the token is longer than allowed")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm (only EdDSA/Ed25519)")]
    UnsupportedAlg,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
}

/// The protected header fields we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Signs `claims` with `key`; `alg` is set to `EdDSA` in the header.
pub fn sign_compact(header: &Value, claims: &Value, key: &Keypair) -> String {
    let mut h = header.clone();
    if let Some(o) = h.as_object_mut() {
        o.insert("alg".into(), Value::String("EdDSA".into()));
    } else {
        h = serde_json::json!({"alg": "EdDSA"});
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap_or_default()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.0))
}

fn part(s: &str, what: &'static str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| JwsError::Malformed(what))
}

/// Verifies a compact JWS; `key_for` names the key for the header (`None`: unknown).
/// Returns the header and the claims object.
pub fn verify_compact(
    token: &str,
    max_len: usize,
    key_for: impl FnOnce(&JwsHeader) -> Option<PublicKey>,
) -> Result<(JwsHeader, Value), JwsError> {
    if token.len() > max_len {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwsError::Malformed("a compact JWS has exactly three parts"));
    };
    let header: Value = serde_json::from_slice(&part(h, "header is not base64url")?)
        .map_err(|_| JwsError::Malformed("header is not JSON"))?;
    let obj = header
        .as_object()
        .ok_or(JwsError::Malformed("header is not an object"))?;
    if obj.contains_key("crit") {
        return Err(JwsError::Malformed("crit headers are not supported"));
    }
    let text = |k: &str| -> Result<Option<String>, JwsError> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(JwsError::Malformed("header fields must be strings")),
        }
    };
    let alg = text("alg")?.ok_or(JwsError::Malformed("header has no alg"))?;
    if alg != "EdDSA" && alg != "Ed25519" {
        return Err(JwsError::UnsupportedAlg);
    }
    let header = JwsHeader {
        alg,
        kid: text("kid")?,
        typ: text("typ")?,
    };
    let claims: Value = serde_json::from_slice(&part(p, "payload is not base64url")?)
        .map_err(|_| JwsError::Malformed("payload is not JSON"))?;
    if !claims.is_object() {
        return Err(JwsError::Malformed("claims are not an object"));
    }
    let sig: [u8; 64] = part(s, "signature is not base64url")?
        .try_into()
        .map_err(|_| JwsError::Malformed("signature is not 64 bytes"))?;
    let key = key_for(&header).ok_or(JwsError::UnknownKey)?;
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| JwsError::UnknownKey)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    vk.verify_strict(signing_input.as_bytes(), &DalekSignature::from_bytes(&sig))
        .map_err(|_| JwsError::BadSignature)?;
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key() -> Keypair {
        Keypair::from_seed([7; 32])
    }

    #[test]
    fn signs_and_verifies() {
        let k = key();
        let t = sign_compact(&json!({"typ": "JWT", "kid": "k1"}), &json!({"iss": "a"}), &k);
        let (h, c) = verify_compact(&t, 4096, |h| (h.kid.as_deref() == Some("k1")).then(|| k.public())).unwrap();
        assert_eq!(h.alg, "EdDSA");
        assert_eq!(c["iss"], "a");
    }

    #[test]
    fn refuses_what_it_must() {
        let k = key();
        let t = sign_compact(&json!({"typ": "JWT"}), &json!({"iss": "a"}), &k);
        let pk = k.public();
        assert_eq!(verify_compact(&t, 10, |_| Some(pk)), Err(JwsError::TooLong));
        assert_eq!(verify_compact(&t, 4096, |_| None), Err(JwsError::UnknownKey));
        assert_eq!(
            verify_compact(&t, 4096, |_| Some(Keypair::from_seed([8; 32]).public())),
            Err(JwsError::BadSignature)
        );
        // Payload swapped under the same signature.
        let parts: Vec<&str> = t.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"iss":"b"}"#);
        let forged = format!("{}.{}.{}", parts[0], other, parts[2]);
        assert_eq!(verify_compact(&forged, 4096, |_| Some(pk)), Err(JwsError::BadSignature));
        // alg none and others.
        for alg in ["none", "HS256", "RS384"] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let t = format!("{h}.{}.{}", parts[1], parts[2]);
            assert_eq!(verify_compact(&t, 4096, |_| Some(pk)), Err(JwsError::UnsupportedAlg));
        }
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","crit":["x"]}"#);
        assert!(matches!(
            verify_compact(&format!("{crit}.{}.{}", parts[1], parts[2]), 4096, |_| Some(pk)),
            Err(JwsError::Malformed(_))
        ));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.b.c",
            &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ] {
            assert!(
                matches!(verify_compact(bad, 4096, |_| Some(pk)), Err(JwsError::Malformed(_))),
                "{bad}"
            );
        }
        let arr = URL_SAFE_NO_PAD.encode(b"[1]");
        assert!(matches!(
            verify_compact(&format!("{}.{arr}.{}", parts[0], parts[2]), 4096, |_| Some(pk)),
            Err(JwsError::Malformed(_))
        ));
    }
}
