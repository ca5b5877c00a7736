//! Compact JWS (RFC 7515 §7.1) with EdDSA over Ed25519 (RFC 8037 §3.1; `Ed25519` of RFC
//! 9864 is accepted as the same algorithm) for signed node-to-node requests, and, for
//! SMART Backend Services client assertions ([`verify_compact_any`]), also ES384 and
//! RS384 (RFC 7518 §3.4, §3.3) under keys the member registered on the ledger.
//!
//! [`verify_compact`] follows RFC 7515 §5.2, in this order, and stops at the first failure:
//!
//! 1. the token is at most `max_len` bytes ([`JwsError::TooLong`]);
//! 2. it has exactly three parts, each strict base64url: no padding, no other alphabet,
//!    no non-zero trailing bits, so one token has one encoding;
//! 3. the header is a JSON object; a `crit` member is refused (no extension is
//!    understood, §4.1.11); `alg` must be `EdDSA` or `Ed25519` — `none` and every other
//!    algorithm are [`JwsError::UnsupportedAlg`]; `alg`, `kid` and `typ` must be strings;
//! 4. the signature is 64 bytes and verifies, by the crate's one Ed25519 rule
//!    ([`crate::eddsa`]), under the key the caller names for the header
//!    ([`JwsError::UnknownKey`] when it names none or names bytes that are not a curve
//!    point; [`JwsError::BadSignature`] for a key the rule refuses, such as a small-order one);
//! 5. only then is the payload decoded, and it must be a JSON object.
//!
//! A header with a duplicated member counts with its last value (§5.2 step 4 allows
//! this). JSON nesting is bounded by the parser's recursion limit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curve25519_dalek::edwards::CompressedEdwardsY;
use medledger_types::{PublicKey, Signature};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::Keypair;

/// A key a JWS may be verified with, and so the one algorithm it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// `EdDSA` (or `Ed25519`): the crate's one Ed25519 rule.
    Ed25519(PublicKey),
    /// `ES384`: a P-384 point's affine coordinates, 48 bytes each; the signature is the
    /// 96-byte `r || s` of RFC 7518 §3.4 (a DER signature is refused).
    EcP384 { x: Vec<u8>, y: Vec<u8> },
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384, modulus of 2048 to 8192 bits.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl VerifyingKey {
    fn accepts(&self, alg: &str) -> bool {
        match self {
            VerifyingKey::Ed25519(_) => alg == "EdDSA" || alg == "Ed25519",
            VerifyingKey::EcP384 { .. } => alg == "ES384",
            VerifyingKey::Rsa { .. } => alg == "RS384",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwsError {
    #[error("token is longer than allowed")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm (EdDSA, and for client assertions ES384 and RS384)")]
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

/// Signs `claims` with `key`. The header keeps its members, with `alg` set to `EdDSA`; a
/// header that is not a JSON object is replaced by `{"alg":"EdDSA"}`.
pub fn sign_compact(header: &Value, claims: &Value, key: &Keypair) -> String {
    let mut header = header.as_object().cloned().unwrap_or_default();
    header.insert("alg".into(), Value::String("EdDSA".into()));
    // Serialising a `Value` cannot fail: its map keys are strings.
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_bytes()))
}

/// The three base64url parts of a compact JWS of at most `max_len` bytes.
fn split_compact(token: &str, max_len: usize) -> Result<(&str, &str, &str), JwsError> {
    if token.len() > max_len {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok((header, payload, signature)),
        _ => Err(JwsError::Malformed("a compact JWS has exactly three parts")),
    }
}

/// Verifies a compact JWS by the rules in the module docs; `key_for` names the key for the
/// header, or `None` when it knows none. Returns the header and the claims object.
pub fn verify_compact(
    token: &str,
    max_len: usize,
    key_for: impl FnOnce(&JwsHeader) -> Option<PublicKey>,
) -> Result<(JwsHeader, Value), JwsError> {
    let (header_b64, payload_b64, signature_b64) = split_compact(token, max_len)?;

    let header = parse_header(&decode(header_b64, "header is not base64url")?)?;
    let signature: [u8; 64] = decode(signature_b64, "signature is not base64url")?
        .try_into()
        .map_err(|_| JwsError::Malformed("signature is not 64 bytes"))?;
    // Decoded now, so a loose encoding is refused as one; read only once the signature holds.
    let payload = decode(payload_b64, "payload is not base64url")?;

    let key = key_for(&header).ok_or(JwsError::UnknownKey)?;
    // A key that is not a curve point cannot have signed anything: as good as unknown.
    if CompressedEdwardsY(*key.as_bytes()).decompress().is_none() {
        return Err(JwsError::UnknownKey);
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    crate::verify(&key, signing_input.as_bytes(), &Signature(signature)).map_err(|_| JwsError::BadSignature)?;

    let claims: Value = serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed("payload is not JSON"))?;
    if !claims.is_object() {
        return Err(JwsError::Malformed("claims are not a JSON object"));
    }
    Ok((header, claims))
}

/// Verifies a compact JWS signed with `EdDSA`, `ES384` or `RS384` (SMART Backend
/// Services client assertions), by the same steps as [`verify_compact`]; `key_for` names
/// the key for the header, and the header's `alg` must be the one that key verifies.
pub fn verify_compact_any(
    token: &str,
    max_len: usize,
    key_for: impl FnOnce(&JwsHeader) -> Option<VerifyingKey>,
) -> Result<(JwsHeader, Value), JwsError> {
    let (header_b64, payload_b64, signature_b64) = split_compact(token, max_len)?;
    let header = parse_header_with(
        &decode(header_b64, "header is not base64url")?,
        &["EdDSA", "Ed25519", "ES384", "RS384"],
    )?;
    let signature = decode(signature_b64, "signature is not base64url")?;
    let payload = decode(payload_b64, "payload is not base64url")?;
    let key = key_for(&header).ok_or(JwsError::UnknownKey)?;
    if !key.accepts(&header.alg) {
        return Err(JwsError::UnknownKey);
    }
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    match &key {
        VerifyingKey::Ed25519(pk) => {
            let signature: [u8; 64] = signature
                .try_into()
                .map_err(|_| JwsError::Malformed("signature is not 64 bytes"))?;
            if CompressedEdwardsY(*pk.as_bytes()).decompress().is_none() {
                return Err(JwsError::UnknownKey);
            }
            crate::verify(pk, signing_input, &Signature(signature)).map_err(|_| JwsError::BadSignature)?;
        }
        VerifyingKey::EcP384 { x, y } => {
            if signature.len() != 96 {
                return Err(JwsError::Malformed("an ES384 signature is r || s, 96 bytes"));
            }
            if x.len() != 48 || y.len() != 48 {
                return Err(JwsError::UnknownKey);
            }
            let point = [&[4u8][..], x, y].concat();
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(signing_input, &signature)
                .map_err(|_| JwsError::BadSignature)?;
        }
        VerifyingKey::Rsa { n, e } => {
            ring::signature::RsaPublicKeyComponents { n, e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA384, signing_input, &signature)
                .map_err(|_| JwsError::BadSignature)?;
        }
    }
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed("payload is not JSON"))?;
    if !claims.is_object() {
        return Err(JwsError::Malformed("claims are not a JSON object"));
    }
    Ok((header, claims))
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| JwsError::Malformed(what))
}

fn parse_header(raw: &[u8]) -> Result<JwsHeader, JwsError> {
    parse_header_with(raw, &["EdDSA", "Ed25519"])
}

fn parse_header_with(raw: &[u8], algs: &[&str]) -> Result<JwsHeader, JwsError> {
    let Value::Object(fields) =
        serde_json::from_slice::<Value>(raw).map_err(|_| JwsError::Malformed("header is not JSON"))?
    else {
        return Err(JwsError::Malformed("header is not a JSON object"));
    };
    if fields.contains_key("crit") {
        return Err(JwsError::Malformed("crit headers are not supported"));
    }
    let alg = text(&fields, "alg")?.ok_or(JwsError::Malformed("header has no alg"))?;
    if !algs.contains(&alg.as_str()) {
        return Err(JwsError::UnsupportedAlg);
    }
    Ok(JwsHeader {
        alg,
        kid: text(&fields, "kid")?,
        typ: text(&fields, "typ")?,
    })
}

fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, JwsError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwsError::Malformed("alg, kid and typ must be strings")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const MAX: usize = 4096;

    fn key() -> Keypair {
        Keypair::from_seed([7; 32])
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with the given header and payload text, signed by `key()` as they are.
    fn signed(header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = key().sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_bytes()))
    }

    fn check(token: &str) -> Result<(JwsHeader, Value), JwsError> {
        let pk = key().public();
        verify_compact(token, MAX, |_| Some(pk))
    }

    fn is_malformed(r: Result<(JwsHeader, Value), JwsError>) -> bool {
        matches!(r, Err(JwsError::Malformed(_)))
    }

    #[test]
    fn signs_and_verifies() {
        let k = key();
        let t = sign_compact(
            &json!({"typ": "JWT", "kid": "k1", "alg": "HS256"}),
            &json!({"iss": "a"}),
            &k,
        );
        let mut asked = None;
        let (h, c) = verify_compact(&t, MAX, |h| {
            asked = Some(h.clone());
            (h.kid.as_deref() == Some("k1")).then(|| k.public())
        })
        .unwrap();
        let expected = JwsHeader {
            alg: "EdDSA".into(),
            kid: Some("k1".into()),
            typ: Some("JWT".into()),
        };
        assert_eq!(h, expected);
        assert_eq!(asked, Some(expected));
        assert_eq!(c, json!({"iss": "a"}));
        assert_eq!(verify_compact(&t, t.len(), |_| Some(k.public())).unwrap().1, c);
        assert_eq!(
            verify_compact(&t, t.len() - 1, |_| Some(k.public())),
            Err(JwsError::TooLong)
        );
    }

    #[test]
    fn a_header_that_is_not_an_object_becomes_alg_only() {
        let t = sign_compact(&json!("x"), &json!({}), &key());
        assert!(t.starts_with("eyJhbGciOiJFZERTQSJ9."), "{t}");
        let (h, _) = check(&t).unwrap();
        assert_eq!((h.kid, h.typ), (None, None));
    }

    #[test]
    fn ed25519_is_the_same_algorithm() {
        let (h, c) = check(&signed(r#"{"alg":"Ed25519"}"#, r#"{"a":1}"#)).unwrap();
        assert_eq!(h.alg, "Ed25519");
        assert_eq!(c["a"], 1);
    }

    /// RFC 8037 Appendix A.1 key and A.4 signature: same signing input, same signature.
    /// The A.4 payload is plain text, so the token passes the signature and then fails
    /// as claims.
    #[test]
    fn matches_rfc_8037_appendix_a() {
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap()
            .try_into()
            .unwrap();
        let k = Keypair::from_seed(seed);
        assert_eq!(
            b64(k.public().as_bytes()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        assert_eq!(b64(k.sign(input.as_bytes()).as_bytes()), sig);
        let token = format!("{input}.{sig}");
        assert_eq!(
            verify_compact(&token, MAX, |_| Some(k.public())),
            Err(JwsError::Malformed("payload is not JSON"))
        );
        assert_eq!(
            verify_compact(&token, MAX, |_| Some(key().public())),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn refuses_wrong_keys_and_altered_tokens() {
        let k = key();
        let t = sign_compact(&json!({"typ": "JWT"}), &json!({"iss": "a"}), &k);
        let pk = k.public();
        assert_eq!(verify_compact(&t, 10, |_| Some(pk)), Err(JwsError::TooLong));
        assert_eq!(verify_compact(&t, MAX, |_| None), Err(JwsError::UnknownKey));
        assert_eq!(
            verify_compact(&t, MAX, |_| Some(Keypair::from_seed([8; 32]).public())),
            Err(JwsError::BadSignature)
        );
        // The identity point has small order: a curve point, but refused by the rule.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            verify_compact(&t, MAX, |_| Some(PublicKey(identity))),
            Err(JwsError::BadSignature)
        );
        // Bytes that are no curve point at all: no key.
        let not_a_point = (2u8..)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|b| CompressedEdwardsY(*b).decompress().is_none())
            .unwrap();
        assert_eq!(
            verify_compact(&t, MAX, |_| Some(PublicKey(not_a_point))),
            Err(JwsError::UnknownKey)
        );
        let parts: Vec<&str> = t.split('.').collect();
        let other_claims = b64(br#"{"iss":"b"}"#);
        assert_eq!(
            check(&format!("{}.{other_claims}.{}", parts[0], parts[2])),
            Err(JwsError::BadSignature)
        );
        let other_header = b64(br#"{"alg":"EdDSA","typ":"x"}"#);
        assert_eq!(
            check(&format!("{other_header}.{}.{}", parts[1], parts[2])),
            Err(JwsError::BadSignature)
        );
        // Every single-character change either breaks the encoding or the signature.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..t.len() {
            if t.as_bytes()[i] == b'.' {
                continue;
            }
            let c = t.as_bytes()[i] as char;
            let swap = alphabet.chars().find(|&a| a != c).unwrap();
            let bad = format!("{}{swap}{}", &t[..i], &t[i + 1..]);
            assert!(check(&bad).is_err(), "position {i}");
        }
    }

    #[test]
    fn refuses_alg_none_and_every_other_alg() {
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"Ed448"}"#,
            r#"{"alg":"eddsa"}"#,
            r#"{"alg":""}"#,
        ] {
            assert_eq!(check(&signed(header, "{}")), Err(JwsError::UnsupportedAlg), "{header}");
        }
        // alg none with an empty signature, as an attacker would send it.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(b"{}"));
        assert_eq!(check(&none), Err(JwsError::UnsupportedAlg));
    }

    #[test]
    fn refuses_malformed_headers() {
        for (header, why) in [
            (r#"{"alg":"EdDSA","crit":["b64"]}"#, "crit headers are not supported"),
            (r#"{"alg":"EdDSA","crit":[]}"#, "crit headers are not supported"),
            (r#"{"typ":"JWT"}"#, "header has no alg"),
            (r#"{"alg":null}"#, "alg, kid and typ must be strings"),
            (r#"{"alg":"EdDSA","kid":7}"#, "alg, kid and typ must be strings"),
            (r#"{"alg":"EdDSA","typ":["JWT"]}"#, "alg, kid and typ must be strings"),
            (r#"["EdDSA"]"#, "header is not a JSON object"),
            (r#""EdDSA""#, "header is not a JSON object"),
            (r#"{"alg":"EdDSA""#, "header is not JSON"),
            ("", "header is not JSON"),
        ] {
            assert_eq!(check(&signed(header, "{}")), Err(JwsError::Malformed(why)), "{header}");
        }
    }

    #[test]
    fn refuses_claims_that_are_not_an_object() {
        for payload in ["[1]", "\"iss\"", "42", "null"] {
            assert_eq!(
                check(&signed(r#"{"alg":"EdDSA"}"#, payload)),
                Err(JwsError::Malformed("claims are not a JSON object")),
                "{payload}"
            );
        }
        for payload in ["", "{", "{\"a\":1}x"] {
            assert_eq!(
                check(&signed(r#"{"alg":"EdDSA"}"#, payload)),
                Err(JwsError::Malformed("payload is not JSON")),
                "{payload}"
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let t = signed(r#"{"alg":"EdDSA"}"#, &format!("{{\"a\":{deep}}}"));
        assert_eq!(
            verify_compact(&t, usize::MAX, |_| Some(key().public())),
            Err(JwsError::Malformed("payload is not JSON"))
        );
    }

    #[test]
    fn refuses_bad_structure_and_loose_base64() {
        let t = sign_compact(&json!({}), &json!({"iss": "a"}), &key());
        let parts: Vec<&str> = t.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        for bad in ["", ".", "..", "a.b", "a.b.c.d", &format!("{t}."), &format!(".{t}")] {
            assert_eq!(
                check(bad),
                Err(JwsError::Malformed(if bad.matches('.').count() == 2 {
                    "header is not JSON"
                } else {
                    "a compact JWS has exactly three parts"
                })),
                "{bad:?}"
            );
        }
        // Padding, the standard alphabet and whitespace are all refused.
        let padded_sig = format!("{h}.{p}.{s}==");
        let plus = format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/"));
        for bad in [
            &format!("{h}=.{p}.{s}"),
            &format!("{h}.{p}=.{s}"),
            &padded_sig,
            &format!(" {t}"),
            &format!("{t}\n"),
        ] {
            assert!(is_malformed(check(bad)), "{bad:?}");
        }
        if plus != t {
            assert!(is_malformed(check(&plus)));
        }
        // 64 bytes leave 4 unused bits in the last of 86 characters: setting them would give
        // a second encoding of the same signature.
        let last = s.as_bytes()[s.len() - 1];
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let value = alphabet.find(last as char).unwrap();
        assert_eq!(value & 0x0f, 0);
        let loose = alphabet.as_bytes()[value | 1] as char;
        assert_eq!(
            check(&format!("{h}.{p}.{}{loose}", &s[..s.len() - 1])),
            Err(JwsError::Malformed("signature is not base64url"))
        );
        // Signatures of the wrong length.
        for sig in [String::new(), b64(&[0; 63]), b64(&[0; 65])] {
            assert_eq!(
                check(&format!("{h}.{p}.{sig}")),
                Err(JwsError::Malformed("signature is not 64 bytes"))
            );
        }
        // Non-ASCII input.
        assert!(is_malformed(check(&format!("{h}.{p}é.{s}"))));
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_verify_nor_panic(token in "\\PC{0,300}") {
            prop_assert!(check(&token).is_err());
        }

        #[test]
        fn arbitrary_three_part_base64_never_verifies(
            h in proptest::collection::vec(any::<u8>(), 0..64),
            p in proptest::collection::vec(any::<u8>(), 0..64),
            s in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let token = format!("{}.{}.{}", b64(&h), b64(&p), b64(&s));
            prop_assert!(check(&token).is_err());
        }

        #[test]
        fn any_claims_object_round_trips(iss in "\\PC{0,40}", n in any::<i64>()) {
            let claims = json!({"iss": iss, "n": n});
            let t = sign_compact(&json!({"kid": "k"}), &claims, &key());
            prop_assert_eq!(check(&t).unwrap().1, claims);
        }
    }
}
