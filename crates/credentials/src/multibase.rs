//! The few multibase and multicodec forms this crate reads and writes.
//!
//! - Multibase base58btc: the prefix `z`, then Bitcoin's base58 alphabet (proof values,
//!   `did:key` identifiers).
//! - Multibase base64url without padding: the prefix `u` (Bitstring Status Lists).
//! - Multicodec `ed25519-pub` (`0xed`, varint `ed 01`) before a 32-byte public key, and
//!   `ed25519-priv` (`0x1300`, varint `80 26`) before a 32-byte seed (the W3C test key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medledger_types::PublicKey;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MultibaseError {
    #[error("expected multibase prefix {0:?}")]
    Prefix(char),
    #[error("not valid base58btc")]
    Base58,
    #[error("not valid base64url without padding")]
    Base64,
    #[error("not an Ed25519 key in multicodec form")]
    Multicodec,
    #[error("multibase value longer than {0} characters")]
    TooLong(usize),
}

const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const ED25519_PRIV: [u8; 2] = [0x80, 0x26];

pub fn encode_base58btc(bytes: &[u8]) -> String {
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Decodes `z…`; inputs longer than `max_chars` are refused before any work.
pub fn decode_base58btc(s: &str, max_chars: usize) -> Result<Vec<u8>, MultibaseError> {
    if s.len() > max_chars {
        return Err(MultibaseError::TooLong(max_chars));
    }
    let rest = s.strip_prefix('z').ok_or(MultibaseError::Prefix('z'))?;
    bs58::decode(rest).into_vec().map_err(|_| MultibaseError::Base58)
}

pub fn encode_base64url(bytes: &[u8]) -> String {
    format!("u{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn decode_base64url(s: &str, max_chars: usize) -> Result<Vec<u8>, MultibaseError> {
    if s.len() > max_chars {
        return Err(MultibaseError::TooLong(max_chars));
    }
    let rest = s.strip_prefix('u').ok_or(MultibaseError::Prefix('u'))?;
    URL_SAFE_NO_PAD.decode(rest).map_err(|_| MultibaseError::Base64)
}

/// `z6Mk…`: an Ed25519 public key as multibase multicodec (the `did:key` method-specific id).
pub fn encode_ed25519_public(key: &PublicKey) -> String {
    let mut bytes = ED25519_PUB.to_vec();
    bytes.extend_from_slice(key.as_bytes());
    encode_base58btc(&bytes)
}

pub fn decode_ed25519_public(s: &str) -> Result<PublicKey, MultibaseError> {
    let bytes = decode_base58btc(s, 64)?;
    let key = bytes.strip_prefix(&ED25519_PUB).ok_or(MultibaseError::Multicodec)?;
    PublicKey::from_slice(key).ok_or(MultibaseError::Multicodec)
}

/// The 32-byte seed of an `ed25519-priv` multikey (`z3u2…`), as in the W3C test vectors.
pub fn decode_ed25519_secret(s: &str) -> Result<[u8; 32], MultibaseError> {
    let bytes = decode_base58btc(s, 64)?;
    let seed = bytes.strip_prefix(&ED25519_PRIV).ok_or(MultibaseError::Multicodec)?;
    <[u8; 32]>::try_from(seed).map_err(|_| MultibaseError::Multicodec)
}
