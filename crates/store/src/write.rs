//! Writing: genesis, then one atomic, fsync'd transaction per block.

use std::collections::BTreeMap;

use jmt::storage::TreeUpdateBatch;
use jmt::{JellyfishMerkleTree, KeyHash};
use medledger_ledger::{Genesis, Writes};
use medledger_types::codec::Encode;
use medledger_types::{Block, Hash32, Height, LogLeaf, TreeSize};
use redb::{Durability, ReadableTable, WriteTransaction};
use sha2::Sha256;

use crate::reader::{StoreReader, TxLocation};
use crate::tables::*;
use crate::view::StateView;
use crate::{ChainHead, Store, StoreError};

/// State writes of a block with the authenticated-state update they cause, computed
/// before the block is committed so the proposer can put the state root in the header.
pub struct StagedState {
    pub root: Hash32,
    pub version: Height,
    pub(crate) writes: Writes,
    /// The same writes keyed by JMT key hash, in hash order.
    pub(crate) by_hash: BTreeMap<[u8; 32], Option<Vec<u8>>>,
    pub(crate) batch: TreeUpdateBatch,
}

/// Everything a block adds to the store.
pub struct BlockCommit<'a> {
    pub block: &'a Block,
    pub staged: &'a StagedState,
    /// One leaf per transaction, in block order.
    pub leaves: &'a [LogLeaf],
    /// The transparency-log nodes completed by this block's leaves.
    pub log_nodes: &'a [(u8, u64, Hash32)],
}

/// Computes the state root after applying `writes` on top of `view`, as version `height`.
/// Writes nothing.
pub fn stage(view: &StateView<'_>, height: Height, writes: Writes) -> Result<StagedState, StoreError> {
    let by_hash: BTreeMap<[u8; 32], Option<Vec<u8>>> = writes
        .iter()
        .map(|(k, v)| (KeyHash::with::<Sha256>(k).0, v.clone()))
        .collect();
    let tree = JellyfishMerkleTree::<_, Sha256>::new(view);
    let has_deletes = by_hash.values().any(Option::is_none);
    let (root, batch) = if by_hash.is_empty() || has_deletes {
        // The general path: one key at a time, deletions allowed.
        let value_set = by_hash.iter().map(|(kh, v)| (KeyHash(*kh), v.clone()));
        tree.put_value_set(value_set, height.0)
    } else {
        // The fast path: jmt rebuilds each touched subtree once for the sorted batch.
        let value_set: Vec<(KeyHash, Vec<u8>)> = by_hash
            .iter()
            .filter_map(|(kh, v)| v.clone().map(|v| (KeyHash(*kh), v)))
            .collect();
        tree.batch_put_value_sets(vec![value_set], None, height.0)
            .map(|(roots, batch)| (roots.first().copied().unwrap_or(jmt::RootHash([0; 32])), batch))
    }
    .map_err(|e| StoreError::State(e.to_string()))?;
    Ok(StagedState {
        root: Hash32(root.0),
        version: height,
        writes,
        by_hash,
        batch,
    })
}

/// How often replaced state-tree nodes are deleted.
const PRUNE_EVERY_BLOCKS: u64 = 8;

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

impl Store {
    /// Computes the state root after applying `writes` on top of `reader`'s snapshot, as
    /// version `height`. Writes nothing.
    pub fn stage(&self, reader: &StoreReader, height: Height, writes: Writes) -> Result<StagedState, StoreError> {
        stage(&StateView::new(reader, None), height, writes)
    }

    /// Writes the genesis state, or checks that the stored chain has this genesis.
    pub fn init_genesis(&self, genesis: &Genesis) -> Result<ChainHead, StoreError> {
        let expected = genesis.hash();
        let reader = self.reader()?;
        if let Some(head) = reader.head()? {
            let stored = reader.genesis_hash()?.ok_or(StoreError::NotInitialised)?;
            if stored != expected {
                return Err(StoreError::GenesisMismatch { stored, expected });
            }
            return Ok(head);
        }
        let staged = self.stage(&reader, Height(0), genesis.initial_writes())?;
        drop(reader);
        let head = ChainHead {
            height: Height(0),
            block_hash: expected,
            state_root: staged.root,
            log_size: TreeSize(0),
            log_root: medledger_merkle::empty_root(),
            timestamp: genesis.genesis_time,
        };
        let txn = self.begin_durable()?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert("genesis", expected.as_bytes().as_slice()).map_err(db_err)?;
        }
        write_state(&txn, &staged)?;
        write_head(&txn, &head)?;
        txn.commit().map_err(db_err)?;
        Ok(head)
    }

    /// Commits a block atomically and durably; returns the new head.
    pub fn commit(&self, c: BlockCommit<'_>) -> Result<ChainHead, StoreError> {
        let header = &c.block.header;
        let txn = self.begin_durable()?;
        let prev = {
            let meta = txn.open_table(META).map_err(db_err)?;
            let raw = meta.get("head").map_err(db_err)?.ok_or(StoreError::NotInitialised)?;
            <ChainHead as medledger_types::Decode>::decode(raw.value())
                .map_err(|e| StoreError::Corrupt(format!("chain head: {e}")))?
        };
        if c.leaves.len() != c.block.txs.len() {
            return Err(StoreError::Corrupt(format!(
                "block {} has {} transactions but {} log leaves",
                header.height,
                c.block.txs.len(),
                c.leaves.len()
            )));
        }
        if header.height != prev.height.next() || c.staged.version != header.height {
            return Err(StoreError::NotNext {
                head: prev.height,
                got: header.height,
            });
        }
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(db_err)?;
            blocks
                .insert(header.height.0, c.block.encode().as_slice())
                .map_err(db_err)?;
            let mut index = txn.open_table(TX_INDEX).map_err(db_err)?;
            let mut entries: Vec<(Hash32, TxLocation)> = c
                .leaves
                .iter()
                .map(|leaf| {
                    (
                        leaf.tx_hash,
                        TxLocation {
                            height: header.height,
                            index_in_block: leaf.index_in_block,
                        },
                    )
                })
                .collect();
            entries.sort_unstable_by_key(|(h, _)| *h);
            for (hash, loc) in entries {
                index.insert(hash.as_bytes(), &loc.to_bytes()).map_err(db_err)?;
            }
            let mut leaves = txn.open_table(LEAVES).map_err(db_err)?;
            for (i, leaf) in c.leaves.iter().enumerate() {
                leaves
                    .insert(prev.log_size.0 + i as u64, leaf.encode().as_slice())
                    .map_err(db_err)?;
            }
            let mut nodes = txn.open_table(LOG_NODES).map_err(db_err)?;
            for (level, index, hash) in c.log_nodes.iter().filter(|(level, _, _)| *level > 0) {
                nodes.insert((*level, *index), hash.as_bytes()).map_err(db_err)?;
            }
        }
        write_state(&txn, c.staged)?;
        let head = ChainHead {
            height: header.height,
            block_hash: c.block.hash(),
            state_root: header.state_root,
            log_size: header.log_size,
            log_root: header.log_root,
            timestamp: header.timestamp,
        };
        write_head(&txn, &head)?;
        txn.commit().map_err(db_err)?;
        Ok(head)
    }

    fn begin_durable(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate).map_err(db_err)?;
        Ok(txn)
    }

    /// Creates every table, so that readers never meet a missing one.
    pub(crate) fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.begin_durable()?;
        txn.open_table(META).map_err(db_err)?;
        txn.open_table(BLOCKS).map_err(db_err)?;
        txn.open_table(TX_INDEX).map_err(db_err)?;
        txn.open_table(LEAVES).map_err(db_err)?;
        txn.open_table(LOG_NODES).map_err(db_err)?;
        txn.open_table(STATE).map_err(db_err)?;
        txn.open_table(JMT_NODES).map_err(db_err)?;
        txn.open_table(JMT_STALE).map_err(db_err)?;
        txn.commit().map_err(db_err)
    }

    /// Overwrites raw bytes of a stored block or log node. Exists so that tests can
    /// check that `verify` notices tampering; the node never calls it.
    #[doc(hidden)]
    pub fn tamper_for_tests(
        &self,
        block: Option<(Height, Vec<u8>)>,
        log_node: Option<(u8, u64, Hash32)>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_durable()?;
        {
            if let Some((h, bytes)) = block {
                txn.open_table(BLOCKS)
                    .map_err(db_err)?
                    .insert(h.0, bytes.as_slice())
                    .map_err(db_err)?;
            }
            if let Some((level, index, hash)) = log_node {
                txn.open_table(LOG_NODES)
                    .map_err(db_err)?
                    .insert((level, index), hash.as_bytes())
                    .map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }
}

fn write_head(txn: &WriteTransaction, head: &ChainHead) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(db_err)?;
    meta.insert("head", head.encode().as_slice()).map_err(db_err)?;
    Ok(())
}

fn write_state(txn: &WriteTransaction, staged: &StagedState) -> Result<(), StoreError> {
    let mut state = txn.open_table(STATE).map_err(db_err)?;
    // In key-hash order, which keeps redb's inserts local.
    for (kh, v) in &staged.by_hash {
        match v {
            Some(v) => state.insert(kh, v.as_slice()).map_err(db_err)?,
            None => state.remove(kh).map_err(db_err)?,
        };
    }
    tracing::debug!(
        state_writes = staged.writes.len(),
        jmt_new = staged.batch.node_batch.nodes().len(),
        jmt_stale = staged.batch.stale_node_index_batch.len(),
        "writing state"
    );
    let mut nodes = txn.open_table(JMT_NODES).map_err(db_err)?;
    for (key, node) in staged.batch.node_batch.nodes() {
        let key = jmt_node_key(key).map_err(db_err)?;
        let node = borsh::to_vec(node).map_err(db_err)?;
        nodes.insert(key.as_slice(), node.as_slice()).map_err(db_err)?;
    }
    // Replaced nodes are recorded now (an append) and deleted in sorted batches, which
    // touches far fewer pages than deleting them one block at a time.
    let mut stale = txn.open_table(JMT_STALE).map_err(db_err)?;
    for s in &staged.batch.stale_node_index_batch {
        let key = jmt_node_key(&s.node_key).map_err(db_err)?;
        stale
            .insert((staged.version.0, key.as_slice()), [].as_slice())
            .map_err(db_err)?;
    }
    if staged.version.0.is_multiple_of(PRUNE_EVERY_BLOCKS) {
        let mut batch: Vec<(u64, Vec<u8>)> = Vec::new();
        for entry in stale.iter().map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let (version, key) = k.value();
            batch.push((version, key.to_vec()));
        }
        let mut keys: Vec<&[u8]> = batch.iter().map(|(_, k)| k.as_slice()).collect();
        keys.sort_unstable();
        for key in keys {
            nodes.remove(key).map_err(db_err)?;
        }
        for (version, key) in &batch {
            stale.remove((*version, key.as_slice())).map_err(db_err)?;
        }
    }
    Ok(())
}
