//! AES-256-GCM envelopes (NIST SP 800-38D): one fresh data key per record version.
//!
//! A sealed envelope is `nonce (12) ‖ ciphertext ‖ tag (16)`. The nonce is 96 random bits
//! from the operating system; the associated data binds the envelope to what it holds
//! (organisation, type, id, version), so an envelope moved to another record fails to open.
//!
//! Random nonces are safe for up to 2³² envelopes under one key (SP 800-38D §8.3). A data
//! key seals one record version; a key-encryption key seals one data key per version, far
//! below that bound.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// What [`seal`] adds to the plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// A 256-bit data key; wiped from memory when dropped, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> DataKey {
        let mut k = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Encrypts `plaintext` under `key`, bound to `aad`: `nonce ‖ ciphertext ‖ tag`.
///
/// AES-GCM refuses plaintexts over 2³⁶ − 32 bytes; for those the result is the bare
/// nonce, which [`open`] rejects. Callers bound their inputs far below that.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = Aes256Gcm::new((&key.0).into())
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts an envelope made by [`seal`] with the same key and associated data. Every
/// failure — short input, wrong key, wrong `aad`, any altered byte — is
/// [`CryptoError::Decrypt`], so a caller learns nothing about which check failed.
pub fn open(key: &DataKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new((&key.0).into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn round_trip_and_every_tamper_fails() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"hello record", b"aad");
        assert_eq!(sealed.len(), OVERHEAD + 12);
        assert_eq!(open(&key, &sealed, b"aad").unwrap(), b"hello record");
        assert_eq!(open(&key, &sealed, b"other"), Err(CryptoError::Decrypt));
        assert_eq!(open(&key, &sealed, b""), Err(CryptoError::Decrypt));
        assert_eq!(open(&DataKey::generate(), &sealed, b"aad"), Err(CryptoError::Decrypt));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(open(&key, &bad, b"aad"), Err(CryptoError::Decrypt), "byte {i}");
        }
        for n in 0..sealed.len() {
            assert_eq!(
                open(&key, &sealed[..n], b"aad"),
                Err(CryptoError::Decrypt),
                "length {n}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(open(&key, &longer, b"aad"), Err(CryptoError::Decrypt));
    }

    #[test]
    fn empty_plaintext_is_just_nonce_and_tag() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"", b"aad");
        assert_eq!(sealed.len(), OVERHEAD);
        assert_eq!(open(&key, &sealed, b"aad").unwrap(), b"");
        assert_eq!(open(&key, &sealed, b"aad2"), Err(CryptoError::Decrypt));
    }

    #[test]
    fn fresh_nonce_each_time_and_key_never_printed() {
        let key = DataKey::from_bytes([0xab; 32]);
        let (a, b) = (seal(&key, b"x", b""), seal(&key, b"x", b""));
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(DataKey::generate().as_bytes(), DataKey::generate().as_bytes());
        let shown = format!("{key:?}");
        assert_eq!(shown, "DataKey(…)");
        assert!(!shown.contains("ab"));
    }

    /// A NIST CAVP vector (`gcmEncryptExtIV256.rsp`, section [Keylen = 256] [IVlen = 96]
    /// [PTlen = 128] [AADlen = 128] [Taglen = 128]): the envelope is exactly `IV ‖ CT ‖ Tag`.
    #[test]
    fn opens_a_nist_gcm_vector() {
        let key = DataKey::from_bytes(hex32(
            "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        ));
        let aad = hex::decode("1e0889016f67601c8ebea4943bc23ad6").unwrap();
        let sealed = hex::decode(concat!(
            "ac93a1a6145299bde902f21a",
            "8995ae2e6df3dbf96fac7b7137bae67f",
            "eca5aa77d51d4a0a14d9c51e1da474ab"
        ))
        .unwrap();
        assert_eq!(
            open(&key, &sealed, &aad).unwrap(),
            hex::decode("2d71bcfa914e4ac045b2aa60955fad24").unwrap()
        );
        assert_eq!(open(&key, &sealed, b""), Err(CryptoError::Decrypt));
    }

    proptest! {
        #[test]
        fn hostile_envelopes_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let key = DataKey::from_bytes([7; 32]);
            prop_assert_eq!(open(&key, &bytes, b"aad"), Err(CryptoError::Decrypt));
        }

        #[test]
        fn any_plaintext_round_trips(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let key = DataKey::generate();
            let sealed = seal(&key, &plaintext, &aad);
            prop_assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
            prop_assert_eq!(open(&key, &sealed, &aad).unwrap(), plaintext);
        }
    }
}
