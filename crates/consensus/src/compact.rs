//! Compact proposals (ADR 013): a proposed block names each transaction the other
//! validators already hold (from gossip) by its hash, and carries the bytes only of
//! those they may lack. A validator rebuilds the block from its mempool and asks the
//! proposer for whatever it does not hold (`TxsWant`, answered by `TxsFill`).
//!
//! Free of I/O: [`CompactBlock`] is the streamed form, [`Assembly`] a block being
//! rebuilt.

use std::collections::HashMap;

use medledger_types::block::MAX_BLOCK_TXS;
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Block, BlockHeader, Commit, Hash32, SignedTx};

use crate::types::Address;

/// Format of the streamed proposal.
const COMPACT_VERSION: u8 = 1;
const NAMED: u8 = 0;
const FULL: u8 = 1;

/// One transaction of a compact proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Held by every validator: its hash (which leaves the signature out).
    Named(Hash32),
    /// Its bytes, signature included.
    Full(SignedTx),
}

/// A proposed block as it is streamed: its header and its transactions, named or in full.
/// A proposal has no commit certificate yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactBlock {
    pub header: BlockHeader,
    pub entries: Vec<Entry>,
}

impl CompactBlock {
    /// The compact form of `block`: transaction `i` is named when `held_everywhere[i]`.
    pub fn of(block: &Block, held_everywhere: &[bool]) -> CompactBlock {
        let entries = block
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                if held_everywhere.get(i).copied().unwrap_or(false) {
                    Entry::Named(tx.hash())
                } else {
                    Entry::Full(tx.clone())
                }
            })
            .collect();
        CompactBlock {
            header: block.header.clone(),
            entries,
        }
    }

    /// How many transactions are named (not carried).
    pub fn named(&self) -> usize {
        self.entries.iter().filter(|e| matches!(e, Entry::Named(_))).count()
    }
}

impl Encode for CompactBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, COMPACT_VERSION);
        self.header.encode_to(out);
        put::len(out, self.entries.len());
        for e in &self.entries {
            match e {
                Entry::Named(h) => {
                    put::u8(out, NAMED);
                    h.encode_to(out);
                }
                Entry::Full(tx) => {
                    put::u8(out, FULL);
                    tx.encode_to(out);
                }
            }
        }
    }
}

impl Decode for CompactBlock {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("compact proposal version")?;
        if version != COMPACT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "compact proposal",
                version,
            });
        }
        let header = BlockHeader::decode_from(r)?;
        // A named entry is the smallest: a tag and a hash.
        let entries = r.seq(MAX_BLOCK_TXS, 1 + 32, "proposal transactions", |r| {
            match r.u8("proposal entry")? {
                NAMED => Ok(Entry::Named(Hash32::decode_from(r)?)),
                FULL => Ok(Entry::Full(SignedTx::decode_from(r)?)),
                tag => Err(DecodeError::InvalidTag {
                    what: "proposal entry",
                    tag,
                }),
            }
        })?;
        if entries.len() != header.tx_count as usize {
            return Err(DecodeError::Invalid {
                what: "compact proposal",
                reason: "transaction count differs from the header",
            });
        }
        Ok(CompactBlock { header, entries })
    }
}

/// A compact proposal being rebuilt into its block.
#[derive(Debug)]
pub struct Assembly {
    header: BlockHeader,
    slots: Vec<Option<SignedTx>>,
    /// Where each missing transaction goes.
    wanted: HashMap<Hash32, Vec<usize>>,
}

impl Assembly {
    /// Starts rebuilding `compact`, taking named transactions from `held` (this node's
    /// copies of the hashes asked, `None` for those it lacks).
    pub fn new(compact: CompactBlock, held: impl FnOnce(&[Hash32]) -> Vec<Option<SignedTx>>) -> Assembly {
        let named: Vec<Hash32> = compact
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Named(h) => Some(*h),
                Entry::Full(_) => None,
            })
            .collect();
        let mut copies = held(&named).into_iter();
        let mut slots = Vec::with_capacity(compact.entries.len());
        let mut wanted: HashMap<Hash32, Vec<usize>> = HashMap::new();
        for (i, e) in compact.entries.into_iter().enumerate() {
            match e {
                Entry::Full(tx) => slots.push(Some(tx)),
                Entry::Named(h) => {
                    let copy = copies.next().flatten().filter(|tx| tx.hash() == h);
                    if copy.is_none() {
                        wanted.entry(h).or_default().push(i);
                    }
                    slots.push(copy);
                }
            }
        }
        Assembly {
            header: compact.header,
            slots,
            wanted,
        }
    }

    /// The hashes still missing, in block order.
    pub fn missing(&self) -> Vec<Hash32> {
        let mut m: Vec<(usize, Hash32)> = self.wanted.iter().map(|(h, at)| (at[0], *h)).collect();
        m.sort();
        m.into_iter().map(|(_, h)| h).collect()
    }

    pub fn is_complete(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Places the transactions it was waiting for; others are ignored. Returns how many
    /// were placed.
    pub fn fill(&mut self, txs: Vec<SignedTx>) -> usize {
        let mut placed = 0;
        for tx in txs {
            let Some(at) = self.wanted.remove(&tx.hash()) else {
                continue;
            };
            for i in at {
                self.slots[i] = Some(tx.clone());
            }
            placed += 1;
        }
        placed
    }

    /// The rebuilt block, once nothing is missing.
    pub fn block(self) -> Result<Block, Box<Assembly>> {
        if !self.is_complete() {
            return Err(Box::new(self));
        }
        let txs = self.slots.into_iter().flatten().collect();
        Ok(Block {
            header: self.header,
            txs,
            commit: Commit::default(),
        })
    }
}

/// Most times one validator's request for a proposal's missing transactions is
/// answered per round: a validator asking again and again gets nothing more.
pub const MAX_FILLS_SERVED: u32 = 3;

/// How often each validator's requests were answered, per round of the current height.
#[derive(Debug, Default)]
pub struct FillBudget {
    served: HashMap<(Address, u32), u32>,
}

impl FillBudget {
    /// Whether `requester`'s request for `round` may be answered (and counts it).
    pub fn allow(&mut self, requester: Address, round: u32) -> bool {
        let n = self.served.entry((requester, round)).or_default();
        if *n >= MAX_FILLS_SERVED {
            return false;
        }
        *n += 1;
        true
    }

    /// A new height: everyone may ask again.
    pub fn clear(&mut self) {
        self.served.clear();
    }
}

#[cfg(test)]
mod tests;
