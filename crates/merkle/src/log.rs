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

/// In-memory append-only log holding every full-subtree node: `levels[l][j]` is node
/// `(l, base[l] + j)`. A log of `n` leaves holds fewer than `2n` hashes (64 bytes per
/// leaf).
///
/// Invariant: every full subtree of the current leaves is present, so all lookups for
/// sizes up to [`MemoryLog::size`] succeed — unless the log was pruned
/// ([`MemoryLog::prune_below`]): then the nodes below the pruned level that lie left of
/// the cut are gone, and a caller that needs them (proofs for older sizes) reads them
/// from where they are stored, through a [`NodeSource`] of its own. Appending and the
/// current root never need them.
#[derive(Clone, Default)]
pub struct MemoryLog {
    levels: Vec<Vec<Hash32>>,
    /// How many nodes were pruned from the front of each level (0 for a level never
    /// pruned, or beyond the vector).
    base: Vec<u64>,
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

    fn base_of(&self, level: usize) -> u64 {
        self.base.get(level).copied().unwrap_or(0)
    }

    fn level_len(&self, level: u8) -> u64 {
        let l = usize::from(level);
        self.levels.get(l).map_or(0, |row| self.base_of(l) + row.len() as u64)
    }

    /// Drops, at every level below `level`, the nodes left of leaf `cut` rounded down to a
    /// multiple of `2^level`: each lies under a node of `level`, which stays, as does
    /// everything to the right (the edge that appending and the current root use). With
    /// `level` 4 a log keeps about 4 bytes a leaf instead of 64. `cut` should be a size
    /// whose nodes are stored elsewhere (the durable log): [`MemoryLog::truncate`] never
    /// goes back below it.
    pub fn prune_below(&mut self, level: u8, cut: TreeSize) {
        let shift = u32::from(level).min(63);
        let cut = (cut.0.min(self.size().0) >> shift) << shift;
        for l in 0..usize::from(level).min(self.levels.len()) {
            if self.base.len() <= l {
                self.base.resize(l + 1, 0);
            }
            let keep_from = cut >> l;
            let (Some(row), Some(base)) = (self.levels.get_mut(l), self.base.get_mut(l)) else {
                continue;
            };
            if keep_from <= *base {
                continue;
            }
            let drop = usize::try_from(keep_from - *base).unwrap_or(usize::MAX).min(row.len());
            row.drain(..drop);
            *base += drop as u64;
            if row.capacity() > 4 * row.len().max(64) {
                row.shrink_to(2 * row.len().max(64));
            }
        }
    }

    /// The first node still held at `level` (0 unless pruned).
    pub fn first_held(&self, level: u8) -> u64 {
        self.base_of(usize::from(level))
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
            let base = self.base_of(slot);
            let Some(row) = self.levels.get_mut(slot) else {
                return;
            };
            let index = base + row.len() as u64;
            // The left sibling, if this node is a right child: then the parent is complete.
            // Pruning keeps it (it lies right of the cut).
            let left = if index % 2 == 1 { row.last().copied() } else { None };
            row.push(hash);
            completed(level, index, hash);
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
        let l = usize::from(level);
        let row = self.levels.get(l)?;
        let at = index.checked_sub(self.base_of(l))?;
        row.get(usize::try_from(at).ok()?).copied()
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
    ///
    /// A pruned log is never truncated below its cut: nodes left of it stay gone.
    pub fn truncate(&mut self, size: TreeSize) {
        for (level, row) in self.levels.iter_mut().enumerate() {
            let keep = size.0.checked_shr(level as u32).unwrap_or(0);
            let base = self.base.get(level).copied().unwrap_or(0);
            row.truncate(usize::try_from(keep.saturating_sub(base)).unwrap_or(usize::MAX));
        }
        while self.levels.last().is_some_and(Vec::is_empty) && self.base_of(self.levels.len() - 1) == 0 {
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

#[cfg(test)]
mod prune_tests {
    use super::*;
    use crate::{consistency_proof, inclusion_proof};
    use medledger_types::LeafIndex;

    /// What a node does after pruning: its memory first, then the full log on disk (here
    /// another, unpruned copy).
    struct Both<'a> {
        mem: &'a MemoryLog,
        disk: &'a MemoryLog,
    }

    impl NodeSource for Both<'_> {
        fn node(&self, level: u8, index: u64) -> Option<Hash32> {
            self.mem.node(level, index).or_else(|| self.disk.node(level, index))
        }
        fn leaf_count(&self) -> Option<TreeSize> {
            Some(self.mem.size())
        }
    }

    fn leaf(i: u64) -> Hash32 {
        crate::leaf_hash(&i.to_le_bytes())
    }

    #[test]
    fn a_pruned_log_appends_roots_and_proves_as_the_whole_one() {
        let mut full = MemoryLog::new();
        let mut pruned = MemoryLog::new();
        for i in 0..100 {
            full.push(leaf(i));
            pruned.push(leaf(i));
        }
        pruned.prune_below(4, TreeSize(70));
        // The cut is 64: below level 4, nodes left of it are gone; the rest stay.
        assert_eq!(pruned.node(0, 63), None);
        assert_eq!(pruned.node(0, 64), Some(leaf(64)));
        assert_eq!(pruned.node(3, 7), None);
        assert_eq!(pruned.node(3, 8), full.node(3, 8));
        assert_eq!(pruned.node(4, 0), full.node(4, 0));
        assert_eq!(pruned.first_held(0), 64);
        assert_eq!(pruned.first_held(4), 0);
        assert_eq!(pruned.size(), TreeSize(100));
        assert_eq!(pruned.root(), full.root());
        assert!(pruned.levels[0].len() <= 36);

        // Appending never needs what was pruned; neither does the current root.
        for i in 100..300 {
            assert_eq!(pruned.push(leaf(i)), full.push(leaf(i)), "leaf {i}");
            assert_eq!(pruned.root(), full.root());
        }
        // Pruning again moves the cut; an older cut changes nothing.
        pruned.prune_below(4, TreeSize(290));
        pruned.prune_below(4, TreeSize(10));
        assert_eq!(pruned.first_held(0), 288);

        // Proofs of any leaf at any size, with the disk behind the memory.
        let both = Both {
            mem: &pruned,
            disk: &full,
        };
        for size in [1u64, 63, 64, 65, 200, 288, 300] {
            for index in [0u64, 5, 62, 63, 64, 150, 287, 299] {
                if index >= size {
                    continue;
                }
                assert_eq!(
                    inclusion_proof(&both, LeafIndex(index), TreeSize(size)).unwrap(),
                    inclusion_proof(&full, LeafIndex(index), TreeSize(size)).unwrap(),
                    "leaf {index} at size {size}"
                );
            }
            assert_eq!(
                consistency_proof(&both, TreeSize(size), TreeSize(300)).unwrap(),
                consistency_proof(&full, TreeSize(size), TreeSize(300)).unwrap()
            );
        }
        // Without the disk, a proof that needs a pruned node fails instead of lying.
        assert!(inclusion_proof(&pruned, LeafIndex(5), TreeSize(300)).is_err());

        // Undoing a block's leaves above the cut restores the earlier log.
        let root_300 = pruned.root();
        pruned.push(leaf(300));
        pruned.push(leaf(301));
        pruned.truncate(TreeSize(300));
        assert_eq!(pruned.size(), TreeSize(300));
        assert_eq!(pruned.root(), root_300);
    }
}
