//! What the transparency log records, and the signed statements about it.
//!
//! Every committed transaction becomes one leaf of the RFC 9162 log:
//!
//! ```text
//! LogLeaf = version:u8 (=1) | height:u64 | index_in_block:u32 | tx_hash:[32] | outcome:u16
//! ```
//!
//! so that an inclusion proof shows not only that a transaction exists but in which
//! block, at which position, and whether it succeeded (`outcome` 0) or failed (the
//! ledger's error code).

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, Reader, put};
use crate::ids::{ChainId, Hash32, Height, TimestampMs, TreeSize};

pub const LEAF_VERSION: u8 = 1;
pub const STH_SIGN_DOMAIN: &[u8] = b"medledger/sth/sign/v1\0";

/// The outcome of applying a transaction: `0` is success, anything else a ledger error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutcomeCode(pub u16);

impl OutcomeCode {
    pub const OK: OutcomeCode = OutcomeCode(0);

    pub fn is_ok(self) -> bool {
        self == Self::OK
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLeaf {
    pub height: Height,
    pub index_in_block: u32,
    pub tx_hash: Hash32,
    pub outcome: OutcomeCode,
}

impl Encode for LogLeaf {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, LEAF_VERSION);
        self.height.encode_to(out);
        put::u32(out, self.index_in_block);
        self.tx_hash.encode_to(out);
        put::u16(out, self.outcome.0);
    }
}

impl Decode for LogLeaf {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("leaf version")?;
        if version != LEAF_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "log leaf",
                version,
            });
        }
        Ok(LogLeaf {
            height: Height::decode_from(r)?,
            index_in_block: r.u32("index in block")?,
            tx_hash: Hash32::decode_from(r)?,
            outcome: OutcomeCode(r.u16("outcome")?),
        })
    }
}

/// A tree head: the log's size and root after some block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub chain_id: ChainId,
    pub tree_size: TreeSize,
    /// The timestamp of the block that brought the log to this size.
    pub timestamp: TimestampMs,
    pub root_hash: Hash32,
}

impl TreeHead {
    /// The bytes a node signs to vouch for this tree head.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = STH_SIGN_DOMAIN.to_vec();
        self.chain_id.encode_to(&mut out);
        self.tree_size.encode_to(&mut out);
        self.timestamp.encode_to(&mut out);
        self.root_hash.encode_to(&mut out);
        out
    }
}
