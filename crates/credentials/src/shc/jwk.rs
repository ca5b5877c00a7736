//! Issuer keys: P-256 JWKs, their RFC 7638 thumbprints, and JWK sets.

use super::ShcError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The largest key set accepted, in bytes of JSON, and in keys.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
pub const MAX_KEYS: usize = 100;

/// RFC 7638 §3: SHA-256 over `{"crv":"P-256","kty":"EC","x":…,"y":…}` (members in
/// lexicographic order, no whitespace), base64url without padding.
pub fn thumbprint(x_b64: &str, y_b64: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x_b64}","y":"{y_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A P-256 public key checked to be on the curve, kept as its uncompressed SEC1 point
/// (`04 ‖ x ‖ y`), the form ring's verifier takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) [u8; 65]);

/// One entry of a key set, as far as verification needs it.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: String,
    /// The key, or why it cannot verify cards.
    pub key: Result<PublicKey, &'static str>,
    /// The revocation list counter the issuer publishes for this key.
    pub crl_version: Option<u64>,
}

/// A JWK set (RFC 7517 §5) of an issuer.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    pub fn from_json(text: &str) -> Result<Jwks, ShcError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(ShcError::Jwks("larger than 256 KiB"));
        }
        let v: Value = serde_json::from_str(text).map_err(|_| ShcError::Jwks("not JSON"))?;
        let keys = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(ShcError::Jwks("no keys array"))?;
        if keys.len() > MAX_KEYS {
            return Err(ShcError::Jwks("more than 100 keys"));
        }
        let keys = keys
            .iter()
            .filter_map(|k| {
                let kid = k.get("kid")?.as_str()?.to_owned();
                Some(Jwk {
                    key: signing_key_of(k, &kid),
                    crl_version: k.get("crlVersion").and_then(Value::as_u64),
                    kid,
                })
            })
            .collect();
        Ok(Jwks { keys })
    }

    /// The ES256 key with `kid`, or why there is none.
    pub fn find(&self, kid: &str) -> Result<&Jwk, ShcError> {
        let mut usable = None;
        let mut unusable = None;
        for k in self.keys.iter().filter(|k| k.kid == kid) {
            match &k.key {
                Ok(_) => usable = usable.or(Some(k)),
                Err(reason) => unusable = unusable.or(Some(*reason)),
            }
        }
        match (usable, unusable) {
            (Some(k), _) => Ok(k),
            (None, Some(reason)) => Err(ShcError::KeyUnusable {
                kid: kid.chars().take(100).collect(),
                reason,
            }),
            (None, None) => Err(ShcError::UnknownKid(kid.chars().take(100).collect())),
        }
    }
}

/// Checks a JWK against the specification's rules for an issuer's signing key.
fn signing_key_of(k: &Value, kid: &str) -> Result<PublicKey, &'static str> {
    let field = |name: &str| k.get(name).and_then(Value::as_str);
    if field("kty") != Some("EC") {
        return Err("kty is not EC");
    }
    if field("crv") != Some("P-256") {
        return Err("crv is not P-256");
    }
    if field("alg") != Some("ES256") {
        return Err("alg is not ES256");
    }
    if k.get("use").is_some_and(|u| u != "sig") {
        return Err("use is not sig");
    }
    if k.get("d").is_some() {
        return Err("a published key must not carry the private d");
    }
    let (Some(x), Some(y)) = (field("x"), field("y")) else {
        return Err("no x and y");
    };
    let coordinate = |s: &str| -> Result<[u8; 32], &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "x or y is not base64url")?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "x or y is not 32 bytes")
    };
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..33].copy_from_slice(&coordinate(x)?);
    sec1[33..].copy_from_slice(&coordinate(y)?);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "not a point on P-256")?;
    if thumbprint(x, y) != kid {
        return Err("kid is not the key's RFC 7638 thumbprint");
    }
    Ok(PublicKey(sec1))
}

/// An issuer's signing key.
#[derive(Clone)]
pub struct IssuerKey {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuerKey({})", self.kid)
    }
}

impl IssuerKey {
    /// From the 32-byte private scalar.
    pub fn from_bytes(d: &[u8; 32]) -> Result<IssuerKey, ShcError> {
        let key = SigningKey::from_bytes(d.into()).map_err(|_| ShcError::Jwks("bad P-256 scalar"))?;
        let (x, y) = coordinates(key.verifying_key());
        Ok(IssuerKey {
            kid: thumbprint(&x, &y),
            key,
        })
    }

    /// From a private JWK (`d` present), as in the specification's example issuer.
    pub fn from_jwk(k: &Value) -> Result<IssuerKey, ShcError> {
        let d = k
            .get("d")
            .and_then(Value::as_str)
            .and_then(|d| URL_SAFE_NO_PAD.decode(d).ok())
            .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
            .ok_or(ShcError::Jwks("no 32-byte d"))?;
        IssuerKey::from_bytes(&d)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public JWK to publish in `/.well-known/jwks.json`.
    pub fn public_jwk(&self, crl_version: Option<u64>) -> Value {
        let (x, y) = coordinates(self.key.verifying_key());
        let mut jwk = json!({
            "kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256",
            "crv": "P-256", "x": x, "y": y,
        });
        if let Some(v) = crl_version {
            jwk["crlVersion"] = v.into();
        }
        jwk
    }
}

fn coordinates(key: &VerifyingKey) -> (String, String) {
    let point = key.to_encoded_point(false);
    let b64 = |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
    (b64(point.x()), b64(point.y()))
}
