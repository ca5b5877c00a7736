//! AES-256-GCM envelopes: one fresh data key per record version.
//!
//! A sealed envelope is `nonce (12) ‖ ciphertext ‖ tag (16)`; the nonce is random, and
//! the associated data binds the envelope to what it holds.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// A 256-bit data key; wiped from memory when dropped, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Encrypts `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new((&key.0).into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    // Encryption with a valid key and nonce cannot fail for inputs below 64 GiB.
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts an envelope made by [`seal`] with the same key and associated data.
pub fn open(key: &DataKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new((&key.0).into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_tamper_fails() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"hello record", b"aad");
        assert_eq!(sealed.len(), NONCE_LEN + 12 + TAG_LEN);
        assert_eq!(open(&key, &sealed, b"aad").unwrap(), b"hello record");
        assert_eq!(open(&key, &sealed, b"other"), Err(CryptoError::Decrypt));
        assert_eq!(open(&DataKey::generate(), &sealed, b"aad"), Err(CryptoError::Decrypt));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(open(&key, &bad, b"aad"), Err(CryptoError::Decrypt), "byte {i}");
        }
        for n in 0..NONCE_LEN + TAG_LEN {
            assert_eq!(open(&key, &sealed[..n], b"aad"), Err(CryptoError::Decrypt));
        }
    }

    #[test]
    fn fresh_nonce_each_time() {
        let key = DataKey::generate();
        assert_ne!(seal(&key, b"x", b""), seal(&key, b"x", b""));
        assert_eq!(format!("{key:?}"), "DataKey(…)");
    }
}
