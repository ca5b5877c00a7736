//! The transaction envelope.
//!
//! ```text
//! SignedTx = version:u8 (=1) | Tx | signature:[u8;64]
//! Tx       = chain_id:str | signer:[u8;32] | nonce:u64 | kind:u16 | body:bytes
//! ```
//!
//! The signature is Ed25519 over `TX_SIGN_DOMAIN || encode(Tx)`. The transaction hash
//! is SHA-256 over `TX_HASH_DOMAIN || encode(Tx)`: it leaves the signature out, so the
//! hash of a transaction cannot be changed by re-encoding its signature.
//!
//! The body is opaque here; the ledger's domain module for `kind` decodes it.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, Reader, put};
use crate::ids::{ChainId, Hash32, Nonce, PublicKey, Signature};

/// Version byte of the envelope encoding.
pub const TX_VERSION: u8 = 1;
/// Domain separation prefix of the bytes a signer signs.
pub const TX_SIGN_DOMAIN: &[u8] = b"medledger/tx/sign/v1\0";
/// Domain separation prefix of the transaction hash.
pub const TX_HASH_DOMAIN: &[u8] = b"medledger/tx/hash/v1\0";
/// Largest transaction body.
pub const MAX_TX_BODY: usize = 64 * 1024;
/// Largest encoded signed transaction.
pub const MAX_TX_BYTES: usize = MAX_TX_BODY + 256;

/// Which ledger operation a transaction carries. Numbers are frozen once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxKind(pub u16);

/// The unsigned part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    pub chain_id: ChainId,
    pub signer: PublicKey,
    pub nonce: Nonce,
    pub kind: TxKind,
    pub body: Vec<u8>,
}

impl Tx {
    /// The bytes the signer signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = TX_SIGN_DOMAIN.to_vec();
        self.encode_to(&mut out);
        out
    }

    pub fn hash(&self) -> Hash32 {
        Hash32::digest(&[TX_HASH_DOMAIN, &self.encode()])
    }
}

impl Encode for Tx {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.signer.encode_to(out);
        self.nonce.encode_to(out);
        put::u16(out, self.kind.0);
        put::bytes(out, &self.body);
    }
}

impl Decode for Tx {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tx {
            chain_id: ChainId::decode_from(r)?,
            signer: PublicKey::decode_from(r)?,
            nonce: Nonce::decode_from(r)?,
            kind: TxKind(r.u16("tx kind")?),
            body: r.bytes(MAX_TX_BODY, "tx body")?.to_vec(),
        })
    }
}

/// A transaction with its signature, as submitted and as stored in blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    pub tx: Tx,
    pub signature: Signature,
}

impl SignedTx {
    pub fn hash(&self) -> Hash32 {
        self.tx.hash()
    }
}

impl Encode for SignedTx {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, TX_VERSION);
        self.tx.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedTx {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("tx version")?;
        if version != TX_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "transaction",
                version,
            });
        }
        Ok(SignedTx {
            tx: Tx::decode_from(r)?,
            signature: Signature::decode_from(r)?,
        })
    }
}

/// Smallest possible encoded signed transaction; bounds hostile sequence counts.
pub const MIN_SIGNED_TX_LEN: usize = 1 + 4 + 1 + 32 + 8 + 2 + 4 + 64;

/// Encodes a batch of signed transactions (a `u32` count, then each one).
pub fn encode_batch(txs: &[SignedTx]) -> Vec<u8> {
    let mut out = Vec::new();
    put::len(&mut out, txs.len());
    for tx in txs {
        tx.encode_to(&mut out);
    }
    out
}

/// Decodes a batch of at most `max` signed transactions.
pub fn decode_batch(bytes: &[u8], max: usize) -> Result<Vec<SignedTx>, DecodeError> {
    let mut r = Reader::new(bytes);
    let txs = r.seq(max, MIN_SIGNED_TX_LEN, "transaction batch", SignedTx::decode_from)?;
    r.finish()?;
    Ok(txs)
}
