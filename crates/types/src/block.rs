//! Blocks, their headers and commit certificates.
//!
//! ```text
//! BlockHeader = version:u8 (=1) | chain_id:str | height:u64 | parent_hash:[32]
//!             | proposer:[32] | timestamp:u64 (ms) | tx_count:u32 | tx_root:[32]
//!             | state_root:[32] | log_size:u64 | log_root:[32]
//! Block       = header | txs:seq<SignedTx> | commit:Commit
//! Commit      = round:u32 | seq<(validator:[32], signature:[64])>
//! ```
//!
//! The block hash is SHA-256 over `BLOCK_HASH_DOMAIN || encode(header)`. The header
//! commits to the transactions (`tx_root`, an RFC 9162 Merkle root of their hashes) and
//! to what executing them produced (`state_root`, `log_size`, `log_root`), so a block
//! hash pins the whole ledger up to and including that block.
//!
//! The commit certificate is not part of the hash: it is made of validators' signatures
//! over the hash, given after the block was decided.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, Reader, put};
use crate::ids::{ChainId, Hash32, Height, PublicKey, Signature, TimestampMs, TreeSize};
use crate::tx::{MIN_SIGNED_TX_LEN, SignedTx};

pub const BLOCK_VERSION: u8 = 1;
pub const BLOCK_HASH_DOMAIN: &[u8] = b"medledger/block/hash/v1\0";
pub const COMMIT_SIGN_DOMAIN: &[u8] = b"medledger/commit/sign/v1\0";
/// Most transactions one block may carry.
pub const MAX_BLOCK_TXS: usize = 50_000;
/// Most signatures a commit certificate may carry.
pub const MAX_COMMIT_SIGS: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: Height,
    pub parent_hash: Hash32,
    pub proposer: PublicKey,
    pub timestamp: TimestampMs,
    pub tx_count: u32,
    pub tx_root: Hash32,
    pub state_root: Hash32,
    pub log_size: TreeSize,
    pub log_root: Hash32,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash32 {
        Hash32::digest(&[BLOCK_HASH_DOMAIN, &self.encode()])
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, BLOCK_VERSION);
        self.chain_id.encode_to(out);
        self.height.encode_to(out);
        self.parent_hash.encode_to(out);
        self.proposer.encode_to(out);
        self.timestamp.encode_to(out);
        put::u32(out, self.tx_count);
        self.tx_root.encode_to(out);
        self.state_root.encode_to(out);
        self.log_size.encode_to(out);
        self.log_root.encode_to(out);
    }
}

impl Decode for BlockHeader {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("block version")?;
        if version != BLOCK_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "block header",
                version,
            });
        }
        Ok(BlockHeader {
            chain_id: ChainId::decode_from(r)?,
            height: Height::decode_from(r)?,
            parent_hash: Hash32::decode_from(r)?,
            proposer: PublicKey::decode_from(r)?,
            timestamp: TimestampMs::decode_from(r)?,
            tx_count: r.u32("tx count")?,
            tx_root: Hash32::decode_from(r)?,
            state_root: Hash32::decode_from(r)?,
            log_size: TreeSize::decode_from(r)?,
            log_root: Hash32::decode_from(r)?,
        })
    }
}

/// One validator's signature over a decided block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSig {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// The signatures that decided a block: more than two thirds of the validators' voting
/// power, each over [`commit_sign_bytes`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub round: u32,
    pub signatures: Vec<CommitSig>,
}

/// The bytes a validator signs to commit `block_hash` at `height` in `round`.
pub fn commit_sign_bytes(chain_id: &ChainId, height: Height, round: u32, block_hash: &Hash32) -> Vec<u8> {
    let mut out = COMMIT_SIGN_DOMAIN.to_vec();
    chain_id.encode_to(&mut out);
    height.encode_to(&mut out);
    put::u32(&mut out, round);
    block_hash.encode_to(&mut out);
    out
}

impl Encode for Commit {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u32(out, self.round);
        put::len(out, self.signatures.len());
        for s in &self.signatures {
            s.validator.encode_to(out);
            s.signature.encode_to(out);
        }
    }
}

impl Decode for Commit {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let round = r.u32("commit round")?;
        let signatures = r.seq(MAX_COMMIT_SIGS, 96, "commit signatures", |r| {
            Ok(CommitSig {
                validator: PublicKey::decode_from(r)?,
                signature: Signature::decode_from(r)?,
            })
        })?;
        Ok(Commit { round, signatures })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTx>,
    pub commit: Commit,
}

impl Block {
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put::len(out, self.txs.len());
        for tx in &self.txs {
            tx.encode_to(out);
        }
        self.commit.encode_to(out);
    }
}

impl Decode for Block {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let txs = r.seq(
            MAX_BLOCK_TXS,
            MIN_SIGNED_TX_LEN,
            "block transactions",
            SignedTx::decode_from,
        )?;
        if txs.len() != header.tx_count as usize {
            return Err(DecodeError::Invalid {
                what: "block",
                reason: "transaction count differs from the header",
            });
        }
        let commit = Commit::decode_from(r)?;
        Ok(Block { header, txs, commit })
    }
}
