//! Wrapping a data key to an organisation's X25519 key with HPKE (RFC 9180).
//!
//! The suite is fixed: Base mode (§5.1.1), DHKEM(X25519, HKDF-SHA256) (KEM 0x0020),
//! HKDF-SHA256 (KDF 0x0001), AES-256-GCM (AEAD 0x0002), single-shot (§6.1). A wrapped key
//! is `enc (32) ‖ sealed data key (32 + 16)`, 80 bytes in all.
//!
//! `info` names the protocol step the key is wrapped for, and `aad` the record and the
//! reader it is wrapped for; both must match to unwrap. A public key of small order gives
//! an all-zero shared secret, which §7.1.4 requires senders to refuse: parsing such a key
//! from text or JSON fails, and [`wrap_key`] to one returns an empty wrap.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, HpkeError, Kem as KemTrait, OpModeR, OpModeS, Serializable};
use rand_core::OsRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

use crate::CryptoError;
use crate::envelope::{DataKey, KEY_LEN, TAG_LEN};

type Kem = X25519HkdfSha256;

/// Length of the KEM's encapsulated key (`Nenc`).
pub const ENCAPPED_LEN: usize = 32;
/// Length of a wrapped data key.
pub const WRAPPED_LEN: usize = ENCAPPED_LEN + KEY_LEN + TAG_LEN;

/// An organisation's X25519 key pair; the secret is wiped when dropped and never printed.
pub struct EncryptionKeypair {
    secret: StaticSecret,
    public: EncryptionPublicKey,
}

impl std::fmt::Debug for EncryptionKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKeypair({})", self.public)
    }
}

impl EncryptionKeypair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> EncryptionKeypair {
        Self::from_secret(StaticSecret::random_from_rng(OsRng))
    }

    /// The key pair of a 32-byte X25519 secret. Every 32 bytes are a valid secret: X25519
    /// clamps the scalar when it uses it (RFC 7748 §5).
    pub fn from_secret_bytes(secret: [u8; 32]) -> EncryptionKeypair {
        Self::from_secret(StaticSecret::from(secret))
    }

    fn from_secret(secret: StaticSecret) -> EncryptionKeypair {
        let public = EncryptionPublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        EncryptionKeypair { secret, public }
    }

    /// The secret as given to [`EncryptionKeypair::from_secret_bytes`], to write key files.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    pub fn public(&self) -> EncryptionPublicKey {
        self.public
    }
}

/// An X25519 public key (RFC 7748 u-coordinate), lowercase hex in text and JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionPublicKey([u8; 32]);

impl EncryptionPublicKey {
    /// Takes the bytes as they are; see [`EncryptionPublicKey::is_weak`].
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EncryptionPublicKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// True for the points of small order, on the curve or its twist: every X25519 secret
    /// gives the all-zero shared secret with them, so nothing can be wrapped to them.
    pub fn is_weak(&self) -> bool {
        // A clamped scalar is 8·j with 0 < j < 2²⁵², below both large prime orders, so it
        // maps a point to zero exactly when the point has small order: one product decides
        // for every scalar.
        let probe = StaticSecret::from([0x42; 32]);
        !probe
            .diffie_hellman(&x25519_dalek::PublicKey::from(self.0))
            .was_contributory()
    }
}

impl std::fmt::Display for EncryptionPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for EncryptionPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionPublicKey({self})")
    }
}

/// Parses 64 hex digits, and refuses a key of small order.
impl std::str::FromStr for EncryptionPublicKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        if s.len() != 2 * 32 {
            return Err(CryptoError::BadEncryptionKey);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| CryptoError::BadEncryptionKey)?;
        let key = EncryptionPublicKey(bytes);
        if key.is_weak() {
            return Err(CryptoError::WeakEncryptionKey);
        }
        Ok(key)
    }
}

impl Serialize for EncryptionPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EncryptionPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Wraps `key` to `recipient`, bound to `info` and `aad`: `enc ‖ ciphertext`, always
/// [`WRAPPED_LEN`] bytes — except for a weak recipient key ([`EncryptionPublicKey::is_weak`]),
/// to which nothing can be wrapped: the result is then empty, and unwraps to nothing.
pub fn wrap_key(recipient: &EncryptionPublicKey, key: &DataKey, info: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut rng = rand_core_09::UnwrapErr(rand_core_09::OsRng);
    seal_to(recipient, key.as_bytes(), info, aad, &mut rng).unwrap_or_default()
}

/// Opens a key wrapped by [`wrap_key`]. Every failure — wrong length, wrong recipient,
/// wrong `info` or `aad`, any altered byte — is [`CryptoError::Decrypt`].
pub fn unwrap_key(
    recipient: &EncryptionKeypair,
    wrapped: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<DataKey, CryptoError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (enc, sealed) = wrapped.split_at(ENCAPPED_LEN);
    let mut plaintext = open_from(recipient, enc, sealed, info, aad)?;
    let key = <[u8; KEY_LEN]>::try_from(plaintext.as_slice()).map(DataKey::from_bytes);
    plaintext.zeroize();
    key.map_err(|_| CryptoError::Decrypt)
}

/// The HPKE exporter context (§5.3) of a batch key.
const BATCH_EXPORT: &[u8] = b"medledger/batch-key/v1";

/// Sets up an HPKE context to `recipient` (Base mode, §5.1.1) and exports a 32-byte key
/// from it (§5.3): one X25519 key agreement for a whole batch of data keys, each then
/// sealed under the batch key with AES-256-GCM ([`crate::envelope::seal`]) and its own
/// `aad`. Returns `enc` (to send with the batch) and the batch key. A weak recipient key
/// is refused.
pub fn batch_key_to(recipient: &EncryptionPublicKey, info: &[u8]) -> Result<(Vec<u8>, DataKey), CryptoError> {
    let mut rng = rand_core_09::UnwrapErr(rand_core_09::OsRng);
    batch_key_with(recipient, info, &mut rng)
}

fn batch_key_with<R: rand_core_09::CryptoRng>(
    recipient: &EncryptionPublicKey,
    info: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, DataKey), CryptoError> {
    if recipient.is_weak() {
        return Err(CryptoError::WeakEncryptionKey);
    }
    let pk = <Kem as KemTrait>::PublicKey::from_bytes(&recipient.0).map_err(|_| CryptoError::BadEncryptionKey)?;
    let (enc, ctx) = hpke::setup_sender::<AesGcm256, HkdfSha256, Kem, R>(&OpModeS::Base, &pk, info, rng)
        .map_err(|_| CryptoError::WeakEncryptionKey)?;
    let mut key = [0u8; KEY_LEN];
    ctx.export(BATCH_EXPORT, &mut key).map_err(|_| CryptoError::Decrypt)?;
    let out = DataKey::from_bytes(key);
    key.zeroize();
    Ok((enc.to_bytes().to_vec(), out))
}

/// The recipient's side of [`batch_key_to`]: the same batch key from `enc`. Every
/// failure — wrong length, a small-order `enc`, another recipient's `enc` (detected only
/// when a key sealed under the batch key fails to open) — ends in [`CryptoError::Decrypt`].
pub fn batch_key_from(recipient: &EncryptionKeypair, enc: &[u8], info: &[u8]) -> Result<DataKey, CryptoError> {
    if enc.len() != ENCAPPED_LEN {
        return Err(CryptoError::Decrypt);
    }
    let sk =
        <Kem as KemTrait>::PrivateKey::from_bytes(recipient.secret.as_bytes()).map_err(|_| CryptoError::Decrypt)?;
    let enc = <Kem as KemTrait>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Decrypt)?;
    let ctx = hpke::setup_receiver::<AesGcm256, HkdfSha256, Kem>(&OpModeR::Base, &sk, &enc, info)
        .map_err(|_| CryptoError::Decrypt)?;
    let mut key = [0u8; KEY_LEN];
    ctx.export(BATCH_EXPORT, &mut key).map_err(|_| CryptoError::Decrypt)?;
    let out = DataKey::from_bytes(key);
    key.zeroize();
    Ok(out)
}

/// HPKE `SealBase` (§6.1) with the ephemeral key drawn from `rng`: `enc ‖ ciphertext`.
fn seal_to<R: rand_core_09::CryptoRng>(
    recipient: &EncryptionPublicKey,
    plaintext: &[u8],
    info: &[u8],
    aad: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, HpkeError> {
    let pk = <Kem as KemTrait>::PublicKey::from_bytes(&recipient.0)?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem, R>(&OpModeS::Base, &pk, info, plaintext, aad, rng)?;
    let mut out = Vec::with_capacity(ENCAPPED_LEN + ciphertext.len());
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// HPKE `OpenBase` (§6.1).
fn open_from(
    recipient: &EncryptionKeypair,
    enc: &[u8],
    ciphertext: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // Both conversions only check the length, which is right by construction.
    let sk =
        <Kem as KemTrait>::PrivateKey::from_bytes(recipient.secret.as_bytes()).map_err(|_| CryptoError::Decrypt)?;
    let enc = <Kem as KemTrait>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Decrypt)?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(&OpModeR::Base, &sk, &enc, info, ciphertext, aad)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order-8 point listed among the blocked X25519 public keys in libsodium; 0 and 1
    /// are of order 1 and 4.
    const SMALL_ORDER: [&str; 3] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ];

    fn hex_vec(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Replays fixed bytes, to reproduce a test vector's ephemeral key.
    struct Replay(Vec<u8>);

    impl rand_core_09::RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            unimplemented!("hpke only asks for bytes")
        }
        fn next_u64(&mut self) -> u64 {
            unimplemented!("hpke only asks for bytes")
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            let rest = self.0.split_off(dst.len());
            dst.copy_from_slice(&self.0);
            self.0 = rest;
        }
    }

    impl rand_core_09::CryptoRng for Replay {}

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
        assert_eq!(
            unwrap_key(&other, &w, b"info", b"aad").err(),
            Some(CryptoError::Decrypt)
        );
        assert_eq!(unwrap_key(&org, &w, b"other", b"aad").err(), Some(CryptoError::Decrypt));
        assert_eq!(
            unwrap_key(&org, &w, b"info", b"other").err(),
            Some(CryptoError::Decrypt)
        );
        assert_eq!(unwrap_key(&org, &w, b"", b"").err(), Some(CryptoError::Decrypt));
        for i in 0..w.len() {
            let mut bad = w.clone();
            bad[i] ^= 1;
            assert_eq!(
                unwrap_key(&org, &bad, b"info", b"aad").err(),
                Some(CryptoError::Decrypt),
                "byte {i}"
            );
        }
        for n in 0..w.len() {
            assert_eq!(
                unwrap_key(&org, &w[..n], b"info", b"aad").err(),
                Some(CryptoError::Decrypt),
                "length {n}"
            );
        }
        let mut longer = w.clone();
        longer.push(0);
        assert_eq!(
            unwrap_key(&org, &longer, b"info", b"aad").err(),
            Some(CryptoError::Decrypt)
        );
    }

    #[test]
    fn batch_keys_agree_only_for_the_recipient_and_info() {
        let org = EncryptionKeypair::generate();
        let other = EncryptionKeypair::generate();
        let (enc, key) = batch_key_to(&org.public(), b"info").unwrap();
        assert_eq!(enc.len(), ENCAPPED_LEN);
        assert_eq!(batch_key_from(&org, &enc, b"info").unwrap().as_bytes(), key.as_bytes());
        assert_ne!(
            batch_key_from(&other, &enc, b"info").unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_ne!(batch_key_from(&org, &enc, b"other").unwrap().as_bytes(), key.as_bytes());
        let mut bad = enc.clone();
        bad[0] ^= 1;
        assert!(batch_key_from(&org, &bad, b"info").map_or(true, |k| k.as_bytes() != key.as_bytes()));
        for n in [0, 31, 33] {
            let mut e = enc.clone();
            e.resize(n, 0);
            assert_eq!(
                batch_key_from(&org, &e, b"info").err(),
                Some(CryptoError::Decrypt),
                "length {n}"
            );
        }
        // A fresh ephemeral key, hence a fresh batch key, every time.
        let (enc2, key2) = batch_key_to(&org.public(), b"info").unwrap();
        assert_ne!(enc, enc2);
        assert_ne!(key.as_bytes(), key2.as_bytes());
        // Keys sealed under the batch key open only with it and their own binding.
        let data = DataKey::generate();
        let sealed = crate::envelope::seal(&key, data.as_bytes(), b"Observation/1/1/clinic-b");
        let opened = crate::envelope::open(
            &batch_key_from(&org, &enc, b"info").unwrap(),
            &sealed,
            b"Observation/1/1/clinic-b",
        );
        assert_eq!(opened.unwrap(), data.as_bytes());
        assert!(crate::envelope::open(&key2, &sealed, b"Observation/1/1/clinic-b").is_err());
        assert!(crate::envelope::open(&key, &sealed, b"Observation/1/1/clinic-c").is_err());
    }

    #[test]
    fn batch_keys_refuse_small_order_keys() {
        let org = EncryptionKeypair::generate();
        let (_, key) = batch_key_to(&org.public(), b"info").unwrap();
        for text in SMALL_ORDER {
            let weak = EncryptionPublicKey::from_bytes(hex_vec(text).try_into().unwrap());
            assert_eq!(batch_key_to(&weak, b"info").err(), Some(CryptoError::WeakEncryptionKey));
            // A hostile custodian's small-order `enc` never yields a usable key.
            assert!(batch_key_from(&org, weak.as_bytes(), b"info").map_or(true, |k| k.as_bytes() != key.as_bytes()));
        }
    }

    #[test]
    fn each_wrap_uses_a_fresh_ephemeral_key() {
        let org = EncryptionKeypair::generate();
        let key = DataKey::generate();
        let (a, b) = (
            wrap_key(&org.public(), &key, b"i", b"a"),
            wrap_key(&org.public(), &key, b"i", b"a"),
        );
        assert_ne!(a[..ENCAPPED_LEN], b[..ENCAPPED_LEN]);
        assert_ne!(a[ENCAPPED_LEN..], b[ENCAPPED_LEN..]);
    }

    #[test]
    fn small_order_keys_are_refused() {
        let org = EncryptionKeypair::generate();
        let key = DataKey::generate();
        assert!(!org.public().is_weak());
        for text in SMALL_ORDER {
            let weak = EncryptionPublicKey::from_bytes(hex_vec(text).try_into().unwrap());
            assert!(weak.is_weak(), "{text}");
            assert_eq!(text.parse::<EncryptionPublicKey>(), Err(CryptoError::WeakEncryptionKey));
            assert!(serde_json::from_str::<EncryptionPublicKey>(&format!("\"{text}\"")).is_err());
            assert!(wrap_key(&weak, &key, b"info", b"aad").is_empty());
            // A small-order ephemeral key from a hostile sender is refused, not used.
            let mut w = wrap_key(&org.public(), &key, b"info", b"aad");
            w[..ENCAPPED_LEN].copy_from_slice(weak.as_bytes());
            assert_eq!(unwrap_key(&org, &w, b"info", b"aad").err(), Some(CryptoError::Decrypt));
        }
    }

    #[test]
    fn keys_round_trip_through_bytes_hex_and_json() {
        let k = EncryptionKeypair::generate();
        let again = EncryptionKeypair::from_secret_bytes(k.secret_bytes());
        assert_eq!(again.public(), k.public());
        assert_eq!(EncryptionPublicKey::from_bytes(*k.public().as_bytes()), k.public());
        let text = k.public().to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.parse::<EncryptionPublicKey>().unwrap(), k.public());
        assert_eq!(text.to_uppercase().parse::<EncryptionPublicKey>().unwrap(), k.public());
        let json = serde_json::to_string(&k.public()).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<EncryptionPublicKey>(&json).unwrap(), k.public());
        for bad in [
            "",
            "zz",
            &text[..62],
            &format!("{text}00"),
            &format!("{}zz", &text[..62]),
            &format!(" {}", &text[1..]),
        ] {
            assert_eq!(
                bad.parse::<EncryptionPublicKey>(),
                Err(CryptoError::BadEncryptionKey),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<EncryptionPublicKey>("42").is_err());
        let debug = format!("{k:?}");
        assert!(debug.contains(&text));
        assert!(!debug.contains(&hex::encode(k.secret_bytes())));
    }

    /// The CFRG HPKE test vectors (`test-vectors.json` of draft-irtf-cfrg-hpke, the source
    /// of RFC 9180 Appendix A), entry mode 0, kem_id 32, kdf_id 1, aead_id 2, first
    /// encryption. Reproduces `enc` and `ct` from `ikmE`, and opens them with `skRm`.
    #[test]
    fn matches_the_rfc_9180_test_vector() {
        let info = hex_vec("4f6465206f6e2061204772656369616e2055726e");
        let ikm_e = hex_vec("2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9");
        let sk_rm = hex_vec("497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d");
        let pk_rm = hex_vec("430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c");
        let enc = hex_vec("6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256");
        let aad = hex_vec("436f756e742d30");
        let pt = hex_vec("4265617574792069732074727574682c20747275746820626561757479");
        let ct = hex_vec("e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a");

        let recipient = EncryptionKeypair::from_secret_bytes(sk_rm.try_into().unwrap());
        assert_eq!(recipient.public().as_bytes().as_slice(), pk_rm);

        let sealed = seal_to(&recipient.public(), &pt, &info, &aad, &mut Replay(ikm_e)).unwrap();
        assert_eq!(sealed[..ENCAPPED_LEN], enc);
        assert_eq!(sealed[ENCAPPED_LEN..], ct);

        assert_eq!(open_from(&recipient, &enc, &ct, &info, &aad).unwrap(), pt);
        assert_eq!(
            open_from(&recipient, &enc, &ct, &info, b"Count-1"),
            Err(CryptoError::Decrypt)
        );
    }
}
