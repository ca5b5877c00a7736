//! Writing: genesis, then one atomic, fsync'd transaction per block.

use std::collections::BTreeMap;

use medledger_ledger::{Genesis, Writes};
use medledger_types::codec::Encode;
use medledger_types::{Block, Hash32, Height, LogLeaf, TreeSize};
use redb::{Durability, ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};

use crate::dirty::{self, Dirty};
use crate::reader::{StoreReader, TxLocation};
use crate::tables::*;
use crate::tree::{StateTree, ValueHash, value_hash};
use crate::view::StateView;
use crate::{ChainHead, HeldState, Store, StoreError};

/// State writes of a block with the state tree they make, computed before the block is
/// committed so the proposer can put the state root in the header.
pub struct StagedState {
    pub root: Hash32,
    pub version: Height,
    pub(crate) writes: Writes,
    /// The same writes keyed by SHA-256 of the key, in that order.
    pub(crate) by_hash: BTreeMap<[u8; 32], Option<Vec<u8>>>,
    /// The state tree after these writes.
    pub(crate) tree: StateTree,
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
        .map(|(k, v)| (Sha256::digest(k).into(), v.clone()))
        .collect();
    let ups: Vec<([u8; 32], Option<ValueHash>)> = by_hash
        .iter()
        .map(|(kh, v)| (*kh, v.as_deref().map(value_hash)))
        .collect();
    let tree = view.tree()?.apply(&ups);
    Ok(StagedState {
        root: Hash32(tree.root_hash()),
        version: height,
        writes,
        by_hash,
        tree,
    })
}

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
        self.trees.publish(
            Height(0),
            HeldState {
                tree: staged.tree.clone(),
                dirty: Dirty::new(),
                recent_txs: dirty::RecentTxs::new(),
            },
        );
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
        // The block's writes go to the state log, and to the table only for the key range
        // this block sweeps (ADR 013 §8).
        let HeldState {
            dirty: mut unswept,
            recent_txs: mut recent,
            ..
        } = self
            .trees
            .at(prev.height)
            .ok_or_else(|| StoreError::State(format!("the state of the head at height {} is not held", prev.height)))?;
        let swept = dirty::apply_and_sweep(&mut unswept, c.staged.by_hash.iter(), header.height.0);
        // The transaction index, likewise: the log leaves hold what is not swept yet.
        let block_txs = c.leaves.iter().map(|leaf| {
            let location = TxLocation {
                height: header.height,
                index_in_block: leaf.index_in_block,
            };
            (leaf.tx_hash.0, location.to_bytes())
        });
        let swept_txs = dirty::add_and_sweep(&mut recent, block_txs, header.height.0);
        {
            let mut index = txn.open_table(TX_INDEX).map_err(db_err)?;
            for (hash, location) in &swept_txs {
                index.insert(hash, location).map_err(db_err)?;
            }
        }
        {
            let mut state = txn.open_table(STATE).map_err(db_err)?;
            for (kh, v) in &swept {
                match v {
                    Some(v) => state.insert(kh, &**v).map_err(db_err)?,
                    None => state.remove(kh).map_err(db_err)?,
                };
            }
            let mut log = txn.open_table(STATE_LOG).map_err(db_err)?;
            log.insert(
                header.height.0,
                dirty::LoggedWrites::encode_from(c.staged.by_hash.iter()).as_slice(),
            )
            .map_err(db_err)?;
            if let Some(old) = header.height.0.checked_sub(dirty::SWEEP) {
                log.remove(old).map_err(db_err)?;
            }
        }
        let head = ChainHead {
            height: header.height,
            block_hash: c.block.hash(),
            state_root: header.state_root,
            log_size: header.log_size,
            log_root: header.log_root,
            timestamp: header.timestamp,
        };
        write_head(&txn, &head)?;
        // Readers that see this head find its tree: it is published before the commit.
        self.trees.publish(
            header.height,
            HeldState {
                tree: c.staged.tree.clone(),
                dirty: unswept,
                recent_txs: recent,
            },
        );
        if let Err(e) = txn.commit() {
            self.trees.withdraw(header.height);
            return Err(db_err(e));
        }
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
        txn.open_table(STATE_LOG).map_err(db_err)?;
        // Stores written before ADR 013 kept the tree's nodes on disk; it is now rebuilt
        // from the state at start, so their tables are dropped.
        txn.delete_table(LEGACY_JMT_NODES).map_err(db_err)?;
        txn.delete_table(LEGACY_JMT_STALE).map_err(db_err)?;
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
    Ok(())
}
