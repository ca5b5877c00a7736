//! Reading from a consistent snapshot of the store.

use std::sync::Arc;

use medledger_ledger::StateRead;
use medledger_merkle::NodeSource;
use medledger_types::codec::Decode;
use medledger_types::{Block, Hash32, Height, LeafIndex, LogLeaf};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};
use sha2::{Digest, Sha256};

use crate::dirty::{Dirty, LoggedWrites, RecentTxs};
use crate::tables::*;
use crate::tree::StateTree;
use crate::{ChainHead, SparseMerkleProof, StoreError, Trees};

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TxLocation {
    pub height: Height,
    pub index_in_block: u32,
}

impl TxLocation {
    pub(crate) fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.height.0.to_le_bytes());
        out[8..].copy_from_slice(&self.index_in_block.to_le_bytes());
        out
    }

    fn from_bytes(b: &[u8; 12]) -> Self {
        let mut h = [0u8; 8];
        h.copy_from_slice(&b[..8]);
        let mut i = [0u8; 4];
        i.copy_from_slice(&b[8..]);
        TxLocation {
            height: Height(u64::from_le_bytes(h)),
            index_in_block: u32::from_le_bytes(i),
        }
    }
}

/// A state entry as stored: (SHA-256 of the key, value).
pub type StateEntry = ([u8; 32], Vec<u8>);

/// A key's current value (or absence) with a proof against the state root.
pub struct StateProof {
    pub value: Option<Vec<u8>>,
    pub proof: SparseMerkleProof,
    pub height: Height,
    pub state_root: Hash32,
}

/// A read-only snapshot. Every read sees the store as it was when the snapshot was taken.
pub struct StoreReader {
    meta: ReadOnlyTable<&'static str, &'static [u8]>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    tx_index: ReadOnlyTable<&'static [u8; 32], &'static [u8; 12]>,
    leaves: ReadOnlyTable<u64, &'static [u8]>,
    log_nodes: ReadOnlyTable<(u8, u64), &'static [u8; 32]>,
    state: ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
    /// Absent in a store written before ADR 013 §8 and not opened for writing since.
    state_log: Option<ReadOnlyTable<u64, &'static [u8]>>,
    /// The state trees of recent heads (none in a read-only store).
    trees: Option<Arc<Trees>>,
    /// This snapshot's state values not yet in `state` (ADR 013 §8).
    dirty: Dirty,
    /// The state tree of this snapshot's head, when the store holds it.
    tree: Option<StateTree>,
    /// This snapshot's transactions not yet in `tx_index`.
    recent_txs: RecentTxs,
}

impl StoreReader {
    pub(crate) fn new(txn: ReadTransaction, trees: Option<Arc<Trees>>) -> Result<Self, StoreError> {
        let open_err = StoreError::db;
        Ok(StoreReader {
            meta: txn.open_table(META).map_err(open_err)?,
            blocks: txn.open_table(BLOCKS).map_err(open_err)?,
            tx_index: txn.open_table(TX_INDEX).map_err(open_err)?,
            leaves: txn.open_table(LEAVES).map_err(open_err)?,
            log_nodes: txn.open_table(LOG_NODES).map_err(open_err)?,
            state: txn.open_table(STATE).map_err(open_err)?,
            state_log: match txn.open_table(STATE_LOG) {
                Ok(t) => Some(t),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(open_err(e)),
            },
            trees,
            dirty: Dirty::new(),
            tree: None,
            recent_txs: RecentTxs::new(),
        })
    }

    /// Takes the held state of this snapshot's head.
    pub(crate) fn with_held(mut self, held: crate::HeldState) -> Self {
        self.dirty = held.dirty;
        self.tree = Some(held.tree);
        self.recent_txs = held.recent_txs;
        self
    }

    /// What this snapshot holds in memory, with its head's state tree.
    pub(crate) fn into_held(self, tree: StateTree) -> crate::HeldState {
        crate::HeldState {
            tree,
            dirty: self.dirty,
            recent_txs: self.recent_txs,
        }
    }

    /// Rebuilds what is not yet in the state table and the transaction index from the
    /// snapshot itself (a read-only store holds nothing in memory).
    pub(crate) fn with_logged(mut self) -> Result<Self, StoreError> {
        self.dirty = self.dirty_from_log()?;
        self.recent_txs = self.recent_txs_from_leaves()?;
        Ok(self)
    }

    /// The transactions of the last [`crate::dirty::SWEEP`] blocks, from their log leaves:
    /// every one not yet swept into the index is among them.
    pub(crate) fn recent_txs_from_leaves(&self) -> Result<RecentTxs, StoreError> {
        let mut recent = RecentTxs::new();
        let Some(head) = self.head()? else {
            return Ok(recent);
        };
        let oldest = head.height.0.saturating_sub(crate::dirty::SWEEP - 1).max(1);
        for entry in self.leaves.iter().map_err(StoreError::db)?.rev() {
            let (index, raw) = entry.map_err(StoreError::db)?;
            let leaf = LogLeaf::decode(raw.value())
                .map_err(|e| StoreError::corrupt(&format!("log leaf {}", index.value()), e))?;
            if leaf.height.0 < oldest {
                break;
            }
            let location = TxLocation {
                height: leaf.height,
                index_in_block: leaf.index_in_block,
            };
            recent.insert(leaf.tx_hash.0, location.to_bytes());
        }
        Ok(recent)
    }

    /// This snapshot's values not yet in the state table, rebuilt from its state log: every
    /// logged block's writes in height order (a read-only store holds no state in memory).
    pub(crate) fn dirty_from_log(&self) -> Result<Dirty, StoreError> {
        let mut dirty = Dirty::new();
        let Some(log) = &self.state_log else {
            return Ok(dirty);
        };
        for entry in log.iter().map_err(StoreError::db)? {
            let (height, raw) = entry.map_err(StoreError::db)?;
            let writes = LoggedWrites::decode(raw.value())
                .map_err(|e| StoreError::corrupt(&format!("state log of block {}", height.value()), e))?;
            for (kh, v) in writes.0 {
                dirty.insert(kh, v.map(Arc::from));
            }
        }
        Ok(dirty)
    }

    /// The value of the key with this hash: the newest write not yet in the table, else
    /// the table's.
    fn value_of(&self, kh: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.dirty.get(kh) {
            return Ok(v.as_deref().map(<[u8]>::to_vec));
        }
        if self.tree.as_ref().is_some_and(|t| !t.contains(kh)) {
            return Ok(None);
        }
        Ok(self.state.get(kh).map_err(StoreError::db)?.map(|v| v.value().to_vec()))
    }

    pub fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        match self.meta.get("head").map_err(StoreError::db)? {
            None => Ok(None),
            Some(raw) => ChainHead::decode(raw.value())
                .map(Some)
                .map_err(|e| StoreError::corrupt("chain head", e)),
        }
    }

    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StoreError> {
        Ok(self
            .meta
            .get("genesis")
            .map_err(StoreError::db)?
            .and_then(|raw| Hash32::from_slice(raw.value())))
    }

    pub fn block_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .blocks
            .get(height.0)
            .map_err(StoreError::db)?
            .map(|v| v.value().to_vec()))
    }

    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        self.block_bytes(height)?
            .map(|raw| Block::decode(&raw).map_err(|e| StoreError::corrupt(&format!("block {height}"), e)))
            .transpose()
    }

    pub fn tx_location(&self, tx_hash: &Hash32) -> Result<Option<TxLocation>, StoreError> {
        if let Some(location) = self.recent_txs.get(tx_hash.as_bytes()) {
            return Ok(Some(TxLocation::from_bytes(location)));
        }
        Ok(self
            .tx_index
            .get(tx_hash.as_bytes())
            .map_err(StoreError::db)?
            .map(|v| TxLocation::from_bytes(v.value())))
    }

    pub fn leaf_bytes(&self, index: LeafIndex) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .leaves
            .get(index.0)
            .map_err(StoreError::db)?
            .map(|v| v.value().to_vec()))
    }

    pub fn leaf(&self, index: LeafIndex) -> Result<Option<LogLeaf>, StoreError> {
        self.leaf_bytes(index)?
            .map(|raw| LogLeaf::decode(&raw).map_err(|e| StoreError::corrupt(&format!("log leaf {index}"), e)))
            .transpose()
    }

    /// One transparency-log node: a leaf's hash computed from the stored leaf (level 0),
    /// or a stored interior node.
    pub fn log_node(&self, level: u8, index: u64) -> Result<Option<Hash32>, StoreError> {
        if level == 0 {
            return Ok(self
                .leaf_bytes(LeafIndex(index))?
                .map(|raw| medledger_merkle::leaf_hash(&raw)));
        }
        Ok(self
            .log_nodes
            .get((level, index))
            .map_err(StoreError::db)?
            .map(|v| Hash32(*v.value())))
    }

    /// Every transparency-log node, in (level, index) order: the leaf hashes computed
    /// from the stored leaves, then the stored interior nodes.
    pub fn log_nodes(&self) -> Result<Vec<(u8, u64, Hash32)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.leaves.iter().map_err(StoreError::db)? {
            let (k, v) = entry.map_err(StoreError::db)?;
            out.push((0, k.value(), medledger_merkle::leaf_hash(v.value())));
        }
        for entry in self.log_nodes.iter().map_err(StoreError::db)? {
            let (k, v) = entry.map_err(StoreError::db)?;
            let (level, index) = k.value();
            out.push((level, index, Hash32(*v.value())));
        }
        Ok(out)
    }

    /// Every state entry as (key hash, value), in key-hash order: the table's, with the
    /// newer values not yet in it merged in.
    pub fn state_entries(&self) -> Result<Vec<StateEntry>, StoreError> {
        let mut out = Vec::new();
        self.for_each_state_entry(|kh, v| out.push((*kh, v.to_vec())))?;
        Ok(out)
    }

    /// Calls `f` with every state entry in key-hash order, without copying the values:
    /// the table's entries, with the values not yet swept into it merged in.
    pub(crate) fn for_each_state_entry(&self, mut f: impl FnMut(&[u8; 32], &[u8])) -> Result<(), StoreError> {
        let mut newer = self.dirty.iter().peekable();
        let mut take = |kh: &[u8; 32], v: Option<&[u8]>| {
            if let Some(v) = v {
                f(kh, v);
            }
        };
        for entry in self.state.iter().map_err(StoreError::db)? {
            let (k, v) = entry.map_err(StoreError::db)?;
            let kh = k.value();
            while let Some((dk, dv)) = newer.next_if(|(dk, _)| *dk < kh) {
                take(dk, dv.as_deref());
            }
            match newer.next_if(|(dk, _)| *dk == kh) {
                Some((dk, dv)) => take(dk, dv.as_deref()),
                None => take(kh, Some(v.value())),
            }
        }
        for (dk, dv) in newer {
            take(dk, dv.as_deref());
        }
        Ok(())
    }

    /// The state tree of this snapshot's head.
    pub(crate) fn tree(&self) -> Result<StateTree, StoreError> {
        let trees = self
            .trees
            .as_ref()
            .ok_or_else(|| StoreError::State("a read-only store holds no state tree".into()))?;
        if let Some(tree) = &self.tree {
            return Ok(tree.clone());
        }
        let Some(head) = self.head()? else {
            return Ok(StateTree::default());
        };
        trees.at(head.height).map(|held| held.tree).ok_or_else(|| {
            StoreError::State(format!(
                "the state tree of height {} is no longer held; take a new snapshot",
                head.height
            ))
        })
    }

    /// How many keys the state holds.
    pub fn state_keys(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let mut keys = self.state.len().map_err(StoreError::db)?;
        for (kh, v) in &self.dirty {
            let stored = self.state.get(kh).map_err(StoreError::db)?.is_some();
            match (stored, v.is_some()) {
                (false, true) => keys += 1,
                (true, false) => keys -= 1,
                _ => {}
            }
        }
        Ok(keys)
    }

    /// The current value of a state key and its proof against the head's state root.
    pub fn state_proof(&self, key: &[u8]) -> Result<StateProof, StoreError> {
        let head = self.head()?.ok_or(StoreError::NotInitialised)?;
        let tree = self.tree()?;
        let key_hash: [u8; 32] = Sha256::digest(key).into();
        let path = tree.path(&key_hash);
        let value = self.value_of(&key_hash)?;
        let proof: SparseMerkleProof = borsh::from_slice(&path.to_jmt_borsh())
            .map_err(|e| StoreError::State(format!("encoding a state proof: {e}")))?;
        Ok(StateProof {
            value,
            proof,
            height: head.height,
            state_root: head.state_root,
        })
    }
}

impl StateRead for StoreReader {
    /// A read failure here means the disk or the database is broken; the ledger cannot
    /// go on without its state, so it is treated like a missing key and the block that
    /// follows will not match its peers' state root, which stops the node.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let kh: [u8; 32] = Sha256::digest(key).into();
        self.value_of(&kh).ok().flatten()
    }
}

impl NodeSource for StoreReader {
    fn node(&self, level: u8, index: u64) -> Option<Hash32> {
        if level == 0 {
            return self
                .leaves
                .get(index)
                .ok()
                .flatten()
                .map(|v| medledger_merkle::leaf_hash(v.value()));
        }
        self.log_nodes
            .get((level, index))
            .ok()
            .flatten()
            .map(|v| Hash32(*v.value()))
    }
}
