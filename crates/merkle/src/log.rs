//! Where tree nodes come from: the [`NodeSource`] trait and the in-memory [`MemoryLog`].

use std::fmt;

use medledger_types::{Hash32, TreeSize};

use crate::error::MerkleError;
use crate::{node_hash, proof::root_at, root_of};

/// Source of stored "full subtree" nodes. Node `(level, index)` is the root of the
/// perfect subtree covering leaves `[index << level, (index + 1) << level)`; level 0
/// holds the leaf hashes.
///
/// Implemented by [`MemoryLog`] here and by a persistent store elsewhere. A source must
/// return a node only once every leaf under it exists, and the node's hash must never
/// change afterwards: that is what makes roots and proofs for every earlier size
/// available from the same nodes.
pub trait NodeSource {
    /// The node at `(level, index)`, or `None` if the source does not hold it.
    fn node(&self, level: u8, index: u64) -> Option<Hash32>;

    /// The number of leaves the source holds, if it knows it cheaply.
    ///
    /// With `Some`, a request beyond the log's size fails with
    /// [`MerkleError::SizeOutOfRange`] before any lookup. With `None` (the default), the
    /// functions probe the last leaf `(0, size - 1)` instead and report
    /// [`MerkleError::MissingNode`] if it is absent.
    fn leaf_count(&self) -> Option<TreeSize> {
        None
    }
}

/// In-memory append-only log holding every full-subtree node: `levels[l][i]` is node
/// `(l, i)`. A log of `n` leaves holds fewer than `2n` hashes (64 bytes per leaf).
///
/// Invariant: every full subtree of the current leaves is present, so all lookups for
/// sizes up to [`MemoryLog::size`] succeed.
#[derive(Clone, Default)]
pub struct MemoryLog {
    levels: Vec<Vec<Hash32>>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.level_len(0))
    }

    /// Appends one leaf hash; returns every newly completed node as
    /// `(level, index, hash)`, starting with the leaf itself at level 0 and going up, so
    /// that a persistent store can write exactly these.
    pub fn push(&mut self, leaf_hash: Hash32) -> Vec<(u8, u64, Hash32)> {
        // The leaf completes one node per trailing one bit of its index.
        let index = self.level_len(0);
        let mut out = Vec::with_capacity(index.trailing_ones() as usize + 1);
        self.append(leaf_hash, |level, index, hash| out.push((level, index, hash)));
        out
    }

    /// The root at the current size (RFC 9162 §2.1.1 `MTH(D[n])`), in `O(log n)`.
    pub fn root(&self) -> Hash32 {
        // The invariant makes `root_at` infallible here; the fallback recomputes from the
        // leaves so that even a broken invariant could never panic.
        root_at(self, self.size())
            .unwrap_or_else(|_| root_of(self.levels.first().map(Vec::as_slice).unwrap_or_default()))
    }

    /// The leaf hash at `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash32> {
        self.node(0, index)
    }

    /// Inserts a stored node, as when reloading a log from disk.
    ///
    /// Requirements — any order in which every node comes after the leaves it covers,
    /// for instance the exact order [`MemoryLog::push`] returned them in, or level by
    /// level with increasing index (all leaves, then level 1, …):
    ///
    /// - a leaf (level 0) must be the next one, `index == size()`; it is appended as by
    ///   [`MemoryLog::push`], which recomputes every node it completes;
    /// - an interior node (level ≥ 1) must already be complete, i.e. all its leaves
    ///   inserted. Its hash is then checked against the recomputed one, so a corrupt
    ///   store is detected ([`MerkleError::NodeMismatch`]) instead of served;
    /// - re-inserting a node that is already present with the same hash is a no-op.
    ///
    /// Anything else is [`MerkleError::OutOfOrderInsert`]. Cost: one hash per interior
    /// node, the same as appending the leaves.
    pub fn insert_node(&mut self, level: u8, index: u64, hash: Hash32) -> Result<(), MerkleError> {
        match self.node(level, index) {
            Some(existing) if existing == hash => Ok(()),
            Some(_) => Err(MerkleError::NodeMismatch { level, index }),
            None if level == 0 && index == self.level_len(0) => {
                self.append(hash, |_, _, _| {});
                Ok(())
            }
            None => Err(MerkleError::OutOfOrderInsert {
                level,
                index,
                held: self.level_len(level),
            }),
        }
    }

    fn level_len(&self, level: u8) -> u64 {
        self.levels.get(usize::from(level)).map_or(0, |row| row.len() as u64)
    }

    /// Appends a leaf and every node it completes, reporting each to `completed`.
    fn append(&mut self, leaf_hash: Hash32, mut completed: impl FnMut(u8, u64, Hash32)) {
        let mut hash = leaf_hash;
        let mut level = 0u8;
        loop {
            let slot = usize::from(level);
            if self.levels.len() <= slot {
                self.levels.resize_with(slot + 1, Vec::new);
            }
            let Some(row) = self.levels.get_mut(slot) else {
                return;
            };
            let index = row.len();
            // The left sibling, if this node is a right child: then the parent is complete.
            let left = if index % 2 == 1 {
                row.get(index - 1).copied()
            } else {
                None
            };
            row.push(hash);
            completed(level, index as u64, hash);
            match left {
                Some(left) => {
                    hash = node_hash(&left, &hash);
                    level += 1;
                }
                None => return,
            }
        }
    }
}

impl NodeSource for MemoryLog {
    fn node(&self, level: u8, index: u64) -> Option<Hash32> {
        let row = self.levels.get(usize::from(level))?;
        row.get(usize::try_from(index).ok()?).copied()
    }

    fn leaf_count(&self) -> Option<TreeSize> {
        Some(self.size())
    }
}

impl fmt::Debug for MemoryLog {
    /// Summarises instead of listing up to millions of hashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLog")
            .field("size", &self.size().0)
            .field("levels", &self.levels.len())
            .field("root", &self.root())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    fn leaves(n: u64) -> Vec<Hash32> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn push_reports_every_completed_node() {
        let mut log = MemoryLog::new();
        let l = leaves(4);
        assert_eq!(log.push(l[0]), vec![(0, 0, l[0])]);
        let n01 = node_hash(&l[0], &l[1]);
        assert_eq!(log.push(l[1]), vec![(0, 1, l[1]), (1, 0, n01)]);
        assert_eq!(log.push(l[2]), vec![(0, 2, l[2])]);
        let n23 = node_hash(&l[2], &l[3]);
        let n03 = node_hash(&n01, &n23);
        assert_eq!(log.push(l[3]), vec![(0, 3, l[3]), (1, 1, n23), (2, 0, n03)]);
        assert_eq!(log.size(), TreeSize(4));
        assert_eq!(log.root(), n03);
        assert_eq!(log.node(2, 0), Some(n03));
        assert_eq!(log.node(2, 1), None);
        assert_eq!(log.node(200, 0), None);
        assert_eq!(log.node(0, u64::MAX), None);
    }

    #[test]
    fn root_matches_root_of_at_every_size() {
        let l = leaves(70);
        let mut log = MemoryLog::new();
        assert_eq!(log.root(), crate::empty_root());
        for (i, leaf) in l.iter().enumerate() {
            log.push(*leaf);
            assert_eq!(log.root(), root_of(&l[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn insert_node_rules() {
        let l = leaves(4);
        let mut log = MemoryLog::new();
        // A gap in the leaves.
        assert_eq!(
            log.insert_node(0, 1, l[1]),
            Err(MerkleError::OutOfOrderInsert {
                level: 0,
                index: 1,
                held: 0
            })
        );
        log.insert_node(0, 0, l[0]).unwrap();
        // A parent before its leaves.
        let n01 = node_hash(&l[0], &l[1]);
        assert_eq!(
            log.insert_node(1, 0, n01),
            Err(MerkleError::OutOfOrderInsert {
                level: 1,
                index: 0,
                held: 0
            })
        );
        log.insert_node(0, 1, l[1]).unwrap();
        // Now the parent exists: the right hash is accepted, a wrong one detected.
        log.insert_node(1, 0, n01).unwrap();
        assert_eq!(
            log.insert_node(1, 0, l[0]),
            Err(MerkleError::NodeMismatch { level: 1, index: 0 })
        );
        // A leaf re-inserted with a different hash is corruption too.
        assert_eq!(
            log.insert_node(0, 0, l[3]),
            Err(MerkleError::NodeMismatch { level: 0, index: 0 })
        );
        assert!(log.insert_node(u8::MAX, 0, n01).is_err());
        assert_eq!(log.root(), n01);
    }

    #[test]
    fn debug_is_a_summary() {
        let mut log = MemoryLog::new();
        log.push(leaf_hash(b""));
        let s = format!("{log:?}");
        assert!(s.contains("size: 1"), "{s}");
        assert!(s.contains("6e340b9c"), "{s}");
    }
}

impl MemoryLog {
    /// Drops every leaf from `size` on, and every node that covers one of them; the log
    /// is then exactly as it was when it held `size` leaves. Used to undo the leaves of a
    /// block that was executed but not committed. A `size` at or beyond the current size
    /// changes nothing.
    pub fn truncate(&mut self, size: TreeSize) {
        for (level, row) in self.levels.iter_mut().enumerate() {
            let keep = size.0.checked_shr(level as u32).unwrap_or(0);
            row.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        }
        while self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }
}

#[cfg(test)]
mod truncate_tests {
    use super::*;

    #[test]
    fn truncate_restores_an_earlier_log() {
        let leaves: Vec<Hash32> = (0u32..37).map(|i| Hash32::digest(&[&i.to_le_bytes()])).collect();
        let mut log = MemoryLog::new();
        let mut at_20 = None;
        for (i, l) in leaves.iter().enumerate() {
            if i == 20 {
                at_20 = Some(log.clone());
            }
            log.push(*l);
        }
        let at_20 = at_20.unwrap();
        log.truncate(TreeSize(20));
        assert_eq!(log.size(), TreeSize(20));
        assert_eq!(log.root(), at_20.root());
        assert_eq!(log.levels, at_20.levels);
        log.push(leaves[20]);
        assert_eq!(log.size(), TreeSize(21));
        log.truncate(TreeSize(100));
        assert_eq!(log.size(), TreeSize(21));
    }
}
