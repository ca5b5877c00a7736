//! SMART Health Cards (HL7 FHIR IG "SMART Health Cards and Links", the "SMART Health Cards
//! Framework" specification), the parts a custodian issuing cards and a verifier need.
//!
//! - **Keys** ([`jwk`], spec "Determining keys associated with an issuer"): P-256 keys
//!   published as a JWK set at `<iss>/.well-known/jwks.json`, each with `kty` `EC`, `use`
//!   `sig`, `alg` `ES256`, `crv` `P-256` and a `kid` equal to the key's RFC 7638 SHA-256
//!   thumbprint, and no private `d`.
//! - **Cards** ([`card`], "Health Cards are encoded as Compact Serialization JSON Web
//!   Signatures (JWS)", "Health Cards are Compact"): a compact JWS with the header
//!   `{"alg":"ES256","zip":"DEF","kid":…}`; its payload is the minified JSON of
//!   `{iss, nbf, exp?, vc: {type, credentialSubject: {fhirVersion, fhirBundle}, rid?}}`,
//!   compressed with raw DEFLATE (RFC 1951, no zlib or gzip header); the signature is
//!   ES256 (RFC 7518 §3.4): the 64-byte `r‖s`, never DER.
//! - **Minification** ([`minify`], "Payload content minified for QR codes").
//! - **Revocation** ([`crl`], "Revocation"): `rid` in the `vc` claim; a card revocation
//!   list per key at `<iss>/.well-known/crl/<kid>.json`; a `rid.timestamp` entry revokes
//!   only cards whose `nbf` is before the timestamp. `exp` is checked when present
//!   ("Expiration of Health Cards").
//! - **QR** ([`qr`], "Health Cards as QR Codes", "Encoding QRs"): `shc:/` in a byte-mode
//!   segment, then the JWS with each character written as two digits of `ord(c) − 45` in
//!   a numeric-mode segment, error correction L, version at most 22; chunked QRs
//!   (`shc:/C/N/…`) are deprecated and refused.
//!
//! Verification order ([`card::verify`]): size, JWS shape, header (`alg`, `zip`, `kid`),
//! key lookup by `kid`, the signature (before anything is inflated), bounded inflate,
//! the payload's shape, `nbf` and `exp` at the given time, and revocation.

pub mod card;
pub mod crl;
pub mod jwk;
pub mod minify;
pub mod qr;

pub use card::{CardPayload, VerifiedCard, issue, verify};
pub use crl::Crl;
pub use jwk::{IssuerKey, Jwks};

use thiserror::Error;

/// The longest JWS accepted (a file-download card may exceed one QR's capacity).
pub const MAX_JWS_CHARS: usize = 256 * 1024;
/// The largest inflated payload accepted.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Health card type that every card's `vc.type` must contain.
pub const HEALTH_CARD_TYPE: &str = "https://smarthealth.cards#health-card";

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShcError {
    #[error("the card is longer than {0} characters")]
    TooLong(usize),
    #[error("not a compact JWS: {0}")]
    Jws(&'static str),
    #[error("JWS header: {0}")]
    Header(&'static str),
    #[error("JWS alg {0:?} is not ES256")]
    Alg(String),
    #[error("JWS header has no zip \"DEF\": the payload must be DEFLATE-compressed")]
    Zip,
    #[error("no ES256 signing key with kid {0:?} in the issuer's key set")]
    UnknownKid(String),
    #[error("the issuer's key {kid:?} cannot be used: {reason}")]
    KeyUnusable { kid: String, reason: &'static str },
    #[error("the signature is DER-encoded; ES256 in a JWS is the 64-byte r||s")]
    DerSignature,
    #[error("the signature is {0} bytes; ES256 is 64")]
    SignatureLength(usize),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the payload has a zlib header: it must be raw DEFLATE")]
    NotRawDeflate,
    #[error("the payload is not raw DEFLATE data")]
    Inflate,
    #[error("the payload inflates to more than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("payload: {0}")]
    Payload(&'static str),
    #[error("the card is not valid before {0} (nbf)")]
    NotYetValid(f64),
    #[error("the card expired at {0} (exp)")]
    Expired(f64),
    #[error("the card is revoked (rid {0:?})")]
    Revoked(String),
    #[error("the revocation list is for key {crl:?}, the card is signed by {card:?}")]
    CrlKid { crl: String, card: String },
    #[error("the revocation list's ctr {ctr} is older than the key's crlVersion {crl_version}")]
    CrlStale { ctr: u64, crl_version: u64 },
    #[error("revocation list: {0}")]
    Crl(&'static str),
    #[error("key set: {0}")]
    Jwks(&'static str),
    #[error("QR content does not start with shc:/")]
    QrPrefix,
    #[error("chunked QR (shc:/C/N/…) is deprecated and not accepted")]
    Chunked,
    #[error("QR content: {0}")]
    QrDigits(&'static str),
    #[error("the JWS has {0} characters, more than one QR holds (1195)")]
    QrTooLong(usize),
    #[error("QR encoding: {0}")]
    Qr(String),
    #[error("signing failed")]
    Sign,
}
