//! Leaf hash → position in the transparency log, for `get-proof-by-hash` and receipts.
//!
//! Every committed transaction is a leaf, so this index grows with the chain. Keyed by the
//! whole 32-byte hash it cost about 40 bytes a leaf (more while the table doubled); keyed
//! by the hash's first eight bytes it costs 16, and the log itself (which holds every leaf
//! hash) confirms a hit. Leaves whose first eight bytes repeat an earlier leaf's — about one
//! in 10^10 pairs — are kept whole in a second map.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use medledger_types::Hash32;

#[derive(Default)]
pub(crate) struct LeafLookup {
    by_prefix: HashMap<u64, u64>,
    collided: HashMap<Hash32, u64>,
}

fn prefix(hash: &Hash32) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(p)
}

impl LeafLookup {
    pub(crate) fn with_capacity(leaves: usize) -> LeafLookup {
        LeafLookup {
            by_prefix: HashMap::with_capacity(leaves),
            collided: HashMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, hash: &Hash32, index: u64) {
        match self.by_prefix.entry(prefix(hash)) {
            Entry::Vacant(v) => {
                v.insert(index);
            }
            Entry::Occupied(_) => {
                self.collided.entry(*hash).or_insert(index);
            }
        }
    }

    /// The position of the leaf with `hash`; `leaf_at(i)` is the log's leaf hash at `i`.
    pub(crate) fn find(&self, hash: &Hash32, leaf_at: impl Fn(u64) -> Option<Hash32>) -> Option<u64> {
        if let Some(&i) = self.by_prefix.get(&prefix(hash))
            && leaf_at(i).as_ref() == Some(hash)
        {
            return Some(i);
        }
        self.collided.get(hash).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(first: u8, rest: u8) -> Hash32 {
        let mut b = [rest; 32];
        b[..8].copy_from_slice(&[first; 8]);
        Hash32(b)
    }

    #[test]
    fn finds_every_leaf_even_when_their_prefixes_collide() {
        // Leaves 0 and 2 share their first eight bytes; leaf 1 does not.
        let log = [hash(1, 1), hash(2, 2), hash(1, 3)];
        let mut lookup = LeafLookup::with_capacity(log.len());
        for (i, h) in log.iter().enumerate() {
            lookup.insert(h, i as u64);
        }
        let leaf_at = |i: u64| log.get(i as usize).copied();
        for (i, h) in log.iter().enumerate() {
            assert_eq!(lookup.find(h, leaf_at), Some(i as u64));
        }
        // A hash with a known prefix but not in the log, and one with an unknown prefix.
        assert_eq!(lookup.find(&hash(1, 9), leaf_at), None);
        assert_eq!(lookup.find(&hash(7, 7), leaf_at), None);
        // A prefix hit the log does not confirm (not committed yet) is not found.
        assert_eq!(lookup.find(&log[1], |_| None), None);
    }
}
