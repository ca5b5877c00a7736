//! Verifiable credentials for medledger (issue 16), pure: no I/O, no clock (every time is
//! passed in), no randomness.
//!
//! - [`jcs`]: RFC 8785 JSON Canonicalization Scheme.
//! - [`di`]: W3C Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite (vc-di-eddsa
//!   §3.3), and the verification-method forms that name an issuer's ledger key.
//! - [`practitioner`]: practitioner licence credentials (VC Data Model 2.0) issued by a
//!   licensing board, with the NPI check ([`npi`]).
//! - [`status_list`]: W3C Bitstring Status List v1.0, with bounded decoding.
//! - [`shc`]: SMART Health Cards: minified FHIR payloads, ES256 compact JWS over raw
//!   DEFLATE, JWKS and card revocation lists, the `shc:/` numeric QR form and its SVG and
//!   PNG rendering.
//!
//! Every decoder takes or applies a size limit and answers hostile input with an error,
//! never a panic.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod di;
pub mod jcs;
pub mod multibase;
pub mod npi;
pub mod practitioner;
pub mod shc;
pub mod status_list;
pub mod time;

pub use time::UnixTime;
