//! Wrapping a data key to an organisation's X25519 key with HPKE (RFC 9180): Base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. A wrapped key is the 32-byte
//! encapsulated key followed by the 48-byte sealed data key.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as KemTrait, OpModeR, OpModeS, Serializable};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroize;

use crate::CryptoError;
use crate::envelope::DataKey;

type Kem = X25519HkdfSha256;

pub const WRAPPED_LEN: usize = 32 + 32 + 16;

/// An organisation's X25519 key pair; the secret is wiped when dropped.
pub struct EncryptionKeypair {
    secret: [u8; 32],
    sk: <Kem as KemTrait>::PrivateKey,
    pk: EncryptionPublicKey,
}

impl Drop for EncryptionKeypair {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for EncryptionKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKeypair({})", self.pk)
    }
}

/// An X25519 public key, hex in text and JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionPublicKey([u8; 32]);

impl EncryptionKeypair {
    pub fn generate() -> EncryptionKeypair {
        let mut s = [0u8; 32];
        OsRng.fill_bytes(&mut s);
        let k = Self::from_secret_bytes(s);
        s.zeroize();
        k
    }

    /// A key pair from a 32-byte X25519 secret (clamped as X25519 requires).
    pub fn from_secret_bytes(secret: [u8; 32]) -> EncryptionKeypair {
        // Any 32 bytes are a valid X25519 secret, so this cannot fail.
        let sk = <Kem as KemTrait>::PrivateKey::from_bytes(&secret).unwrap_or_else(|_| unreachable_key());
        let pk_bytes = <Kem as KemTrait>::sk_to_pk(&sk).to_bytes();
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&pk_bytes);
        EncryptionKeypair {
            secret,
            sk,
            pk: EncryptionPublicKey(pk),
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    pub fn public(&self) -> EncryptionPublicKey {
        self.pk
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> <Kem as KemTrait>::PrivateKey {
    panic!("x25519 accepts every 32-byte secret")
}

impl EncryptionPublicKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        EncryptionPublicKey(b)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for EncryptionPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for EncryptionPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionPublicKey({self})")
    }
}

impl std::str::FromStr for EncryptionPublicKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        let raw = s.as_bytes();
        if raw.len() != 64 {
            return Err(CryptoError::BadEncryptionKey);
        }
        let mut out = [0u8; 32];
        for (i, c) in raw.chunks(2).enumerate() {
            let hi = crate::hex_val(c[0]).ok_or(CryptoError::BadEncryptionKey)?;
            let lo = crate::hex_val(c[1]).ok_or(CryptoError::BadEncryptionKey)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(EncryptionPublicKey(out))
    }
}

/// Wraps `key` to `recipient`, bound to `info` and `aad`.
pub fn wrap_key(recipient: &EncryptionPublicKey, key: &DataKey, info: &[u8], aad: &[u8]) -> Vec<u8> {
    let Ok(pk) = <Kem as KemTrait>::PublicKey::from_bytes(&recipient.0) else {
        return Vec::new();
    };
    let mut rng = rand_core_09::UnwrapErr(rand_core_09::OsRng);
    match hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        info,
        key.as_bytes(),
        aad,
        &mut rng,
    ) {
        Ok((enc, ct)) => {
            let mut out = enc.to_bytes().to_vec();
            out.extend_from_slice(&ct);
            out
        }
        Err(_) => Vec::new(),
    }
}

/// Opens a key wrapped by [`wrap_key`].
pub fn unwrap_key(
    recipient: &EncryptionKeypair,
    wrapped: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<DataKey, CryptoError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (enc, ct) = wrapped.split_at(32);
    let enc = <Kem as KemTrait>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Decrypt)?;
    let mut pt =
        hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(&OpModeR::Base, &recipient.sk, &enc, info, ct, aad)
            .map_err(|_| CryptoError::Decrypt)?;
    let bytes: Result<[u8; 32], _> = pt.as_slice().try_into();
    pt.zeroize();
    bytes.map(DataKey::from_bytes).map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_only_for_the_recipient_and_binding() {
        let org = EncryptionKeypair::generate();
        let other = EncryptionKeypair::generate();
        let key = DataKey::generate();
        let w = wrap_key(&org.public(), &key, b"info", b"aad");
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(
            unwrap_key(&org, &w, b"info", b"aad").unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(unwrap_key(&other, &w, b"info", b"aad").is_err());
        assert!(unwrap_key(&org, &w, b"other", b"aad").is_err());
        assert!(unwrap_key(&org, &w, b"info", b"other").is_err());
        for i in 0..w.len() {
            let mut bad = w.clone();
            bad[i] ^= 1;
            assert!(unwrap_key(&org, &bad, b"info", b"aad").is_err(), "byte {i}");
        }
        assert!(unwrap_key(&org, &w[..40], b"info", b"aad").is_err());
    }

    #[test]
    fn keys_round_trip_through_bytes_and_hex() {
        let k = EncryptionKeypair::generate();
        let again = EncryptionKeypair::from_secret_bytes(k.secret_bytes());
        assert_eq!(again.public(), k.public());
        let text = k.public().to_string();
        assert_eq!(text.parse::<EncryptionPublicKey>().unwrap(), k.public());
        assert!("zz".parse::<EncryptionPublicKey>().is_err());
    }
}
