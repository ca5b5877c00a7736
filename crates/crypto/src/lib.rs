//! Cryptography for medledger.
//!
//! - Ed25519 (RFC 8032) signing (this module), and single and batch verification by one
//!   rule ([`eddsa`]).
//! - [`envelope`]: AES-256-GCM envelopes, one fresh data key per record version.
//! - [`wrap`]: HPKE (RFC 9180) wrapping of a data key to an organisation's X25519 key.
//! - [`jws`]: compact JWS (RFC 7515) with EdDSA (RFC 8037), for SMART client assertions
//!   and signed node-to-node requests.
//!
//! Single and batch verification accept exactly the same signatures: canonical encodings
//! of `A`, `R` and `S`, no small-order `A` or `R`, and the cofactored equation (the rule is
//! stated in [`eddsa`]), so validators agree whichever path they take and one signature has
//! one encoding. Batch verification is all-or-nothing: when a batch fails, [`verify_each`]
//! tells which entries are bad.
//!
//! Ed25519 key generation takes its randomness from the caller. Data keys, encryption key
//! pairs, nonces and HPKE ephemeral keys come from the operating system, so they belong
//! at the node's edge, never in the ledger's deterministic `apply`. Secret keys are wiped
//! from memory when dropped and never printed, and every decoder here refuses hostile
//! input with an error, never a panic.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bind;
pub mod eddsa;
pub mod envelope;
pub mod jws;
pub mod wrap;

use ed25519_dalek::{Signer, SigningKey};
pub use eddsa::{SigItem, verify, verify_batch, verify_each};
use medledger_types::{PublicKey, Signature, SignedTx, Tx};
use rand_core::CryptoRngCore;
use thiserror::Error;
use zeroize::Zeroize;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Not a canonical encoding of a curve point, or a point of small order.
    #[error("public key {0} is not a valid Ed25519 key")]
    BadPublicKey(PublicKey),
    #[error("signature does not verify")]
    BadSignature,
    #[error("secret key must be 32 bytes of hex")]
    BadSecretKey,
    #[error("decryption failed: wrong key, wrong binding or altered data")]
    Decrypt,
    #[error("an X25519 public key must be 32 bytes of hex")]
    BadEncryptionKey,
    #[error("X25519 public key is of small order: nothing can be encrypted to it")]
    WeakEncryptionKey,
}

/// An Ed25519 key pair. The secret never leaves this type except through
/// [`Keypair::secret_hex`], which exists to write key files.
#[derive(Clone)]
pub struct Keypair(SigningKey);

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public())
    }
}

impl Keypair {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Keypair {
        Keypair(SigningKey::generate(rng))
    }

    /// A key derived from a seed. Only for tests and benchmarks: anyone who knows the
    /// seed knows the key.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair(SigningKey::from_bytes(&seed))
    }

    pub fn from_secret_hex(s: &str) -> Result<Keypair, CryptoError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut seed).map_err(|_| CryptoError::BadSecretKey)?;
        let key = Keypair::from_seed(seed);
        seed.zeroize();
        Ok(key)
    }

    /// The 32-byte secret seed (for deriving the node's libp2p identity from the same key).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn secret_hex(&self) -> String {
        self.0.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }

    /// Signs a transaction envelope.
    pub fn sign_tx(&self, tx: Tx) -> SignedTx {
        let signature = self.sign(&tx.sign_bytes());
        SignedTx { tx, signature }
    }
}

/// Checks a signed transaction's signature.
pub fn verify_tx(tx: &SignedTx) -> Result<(), CryptoError> {
    verify(&tx.tx.signer, &tx.tx.sign_bytes(), &tx.signature)
}

/// Checks many transactions' signatures, batched; one result per transaction.
pub fn verify_txs(txs: &[SignedTx]) -> Vec<Result<(), CryptoError>> {
    let msgs: Vec<Vec<u8>> = txs.iter().map(|t| t.tx.sign_bytes()).collect();
    let items: Vec<SigItem<'_>> = txs
        .iter()
        .zip(&msgs)
        .map(|(t, m)| SigItem {
            key: &t.tx.signer,
            msg: m,
            sig: &t.signature,
        })
        .collect();
    verify_each(&items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_types::{ChainId, Nonce, TxKind};

    fn tx(k: &Keypair, nonce: u64) -> SignedTx {
        k.sign_tx(Tx {
            chain_id: ChainId::new("test").unwrap(),
            signer: k.public(),
            nonce: Nonce(nonce),
            kind: TxKind(1),
            body: vec![1, 2, 3],
        })
    }

    #[test]
    fn sign_and_verify() {
        let k = Keypair::from_seed([7; 32]);
        let t = tx(&k, 0);
        assert!(verify_tx(&t).is_ok());
        let mut bad = t.clone();
        bad.tx.nonce = Nonce(1);
        assert_eq!(verify_tx(&bad), Err(CryptoError::BadSignature));
    }

    #[test]
    fn batch_names_the_bad_entry() {
        let k = Keypair::from_seed([1; 32]);
        let mut txs: Vec<SignedTx> = (0..16).map(|n| tx(&k, n)).collect();
        txs[5].signature.0[0] ^= 1;
        let results = verify_txs(&txs);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 5, "entry {i}");
        }
    }

    #[test]
    fn secret_hex_round_trip() {
        let k = Keypair::from_seed([9; 32]);
        let back = Keypair::from_secret_hex(&k.secret_hex()).unwrap();
        assert_eq!(back.public(), k.public());
        assert!(Keypair::from_secret_hex("xyz").is_err());
        assert!(Keypair::from_secret_hex(&"zz".repeat(32)).is_err());
    }
}
