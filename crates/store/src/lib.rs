//! Durable storage for a medledger node, on redb.
//!
//! One redb write transaction per block holds everything the block changed: the block
//! itself, its log leaves and the new full-subtree nodes of the transparency log, the
//! transaction index, the state values and the new chain head. The authenticated state
//! tree over the values is held in memory and rebuilt from them at start (ADR 013). It is committed with
//! `Durability::Immediate`, so when [`Store::commit`] returns the block is on disk (fsync);
//! a crash at any moment leaves either the whole block or none of it.
//!
//! The same code runs on a file or in memory (redb's in-memory backend), which `verify`
//! uses to replay a chain from genesis.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod dirty;
mod reader;
mod tables;
pub mod tree;
mod view;
mod write;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, Height, TimestampMs, TreeSize};
use redb::{Database, ReadableDatabase};
use thiserror::Error;

pub use reader::{StateProof, StoreReader, TxLocation};
pub use view::StateView;
pub use write::{BlockCommit, StagedState, stage};

/// The state proof type handed out by `GET /v1/state/{key}`: `jmt`'s, whose hashing the
/// state tree keeps.
pub type SparseMerkleProof = jmt::proof::SparseMerkleProof<sha2::Sha256>;
pub use jmt::{KeyHash, RootHash};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Db(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("authenticated state: {0}")]
    State(String),
    #[error("this data folder belongs to another chain (genesis {stored}, expected {expected})")]
    GenesisMismatch { stored: Hash32, expected: Hash32 },
    #[error("block {got} does not follow the head at height {head}")]
    NotNext { head: Height, got: Height },
    #[error("the store has not been initialised with a genesis")]
    NotInitialised,
}

impl StoreError {
    fn db(e: impl std::fmt::Display) -> Self {
        StoreError::Db(e.to_string())
    }

    fn corrupt(what: &str, e: DecodeError) -> Self {
        StoreError::Corrupt(format!("{what}: {e}"))
    }
}

/// Where the chain stands after the last committed block (height 0: genesis).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainHead {
    pub height: Height,
    pub block_hash: Hash32,
    pub state_root: Hash32,
    pub log_size: TreeSize,
    pub log_root: Hash32,
    pub timestamp: TimestampMs,
}

impl Encode for ChainHead {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, 1);
        self.height.encode_to(out);
        self.block_hash.encode_to(out);
        self.state_root.encode_to(out);
        self.log_size.encode_to(out);
        self.log_root.encode_to(out);
        self.timestamp.encode_to(out);
    }
}

impl Decode for ChainHead {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("head version")?;
        if version != 1 {
            return Err(DecodeError::UnsupportedVersion {
                what: "chain head",
                version,
            });
        }
        Ok(ChainHead {
            height: Height::decode_from(r)?,
            block_hash: Hash32::decode_from(r)?,
            state_root: Hash32::decode_from(r)?,
            log_size: TreeSize::decode_from(r)?,
            log_root: Hash32::decode_from(r)?,
            timestamp: TimestampMs::decode_from(r)?,
        })
    }
}

/// redb's page cache: hot state values, recent blocks and log nodes.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// State trees kept for the newest heads: a snapshot taken before a few more blocks
/// were committed still finds its own (older trees share most nodes with newer ones).
const KEEP_TREES: usize = 4;

/// The state of one of the newest heads held in memory: its tree, and its values not yet
/// in the state table.
#[derive(Clone)]
pub(crate) struct HeldState {
    pub(crate) tree: tree::StateTree,
    pub(crate) dirty: dirty::Dirty,
    pub(crate) recent_txs: dirty::RecentTxs,
}

/// The held states of the newest heads, by height.
#[derive(Default)]
pub(crate) struct Trees {
    versions: Mutex<VecDeque<(Height, HeldState)>>,
}

impl Trees {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Height, HeldState)>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `held` the state of `height`, before the head moves there.
    pub(crate) fn publish(&self, height: Height, held: HeldState) {
        let mut v = self.lock();
        v.retain(|(h, _)| *h != height);
        v.push_back((height, held));
        while v.len() > KEEP_TREES {
            v.pop_front();
        }
    }

    /// Forgets the state of a head that was not committed after all.
    pub(crate) fn withdraw(&self, height: Height) {
        self.lock().retain(|(h, _)| *h != height);
    }

    pub(crate) fn at(&self, height: Height) -> Option<HeldState> {
        Self::find(&self.lock(), height)
    }

    fn find(v: &VecDeque<(Height, HeldState)>, height: Height) -> Option<HeldState> {
        v.iter().rev().find(|(h, _)| *h == height).map(|(_, s)| s.clone())
    }
}

impl ChainHead {
    /// The head right after a block with this header.
    pub fn after(header: &medledger_types::BlockHeader) -> ChainHead {
        ChainHead {
            height: header.height,
            block_hash: header.hash(),
            state_root: header.state_root,
            log_size: header.log_size,
            log_root: header.log_root,
            timestamp: header.timestamp,
        }
    }
}

/// A node's database opened for reading only, as `medledger verify` does: nothing is
/// written to the file, not even table creation.
pub struct ReadOnlyStore {
    db: redb::ReadOnlyDatabase,
}

impl ReadOnlyStore {
    pub fn open(path: &Path) -> Result<ReadOnlyStore, StoreError> {
        let db = Database::builder().open_read_only(path).map_err(StoreError::db)?;
        Ok(ReadOnlyStore { db })
    }

    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::db)?;
        StoreReader::new(txn, None)?.with_logged()
    }
}

/// A node's database.
pub struct Store {
    db: Database,
    trees: Arc<Trees>,
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(StoreError::db)?;
        let store = Store {
            db,
            trees: Arc::default(),
        };
        store.create_tables()?;
        store.load_tree()?;
        Ok(store)
    }

    /// A store that lives in memory only.
    pub fn in_memory() -> Result<Store, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(StoreError::db)?;
        let store = Store {
            db,
            trees: Arc::default(),
        };
        store.create_tables()?;
        Ok(store)
    }

    /// Builds the state tree from the state table and the state log, and checks it
    /// against the head.
    fn load_tree(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::db)?;
        let reader = StoreReader::new(txn, None)?;
        let Some(head) = reader.head()? else {
            return Ok(());
        };
        let t0 = std::time::Instant::now();
        // The values not yet swept into the table and the recent transactions, from the
        // state log and the log leaves; then every entry, streamed (values hashed one by
        // one, not copied). Nothing writes while the store opens, so this snapshot holds
        // the head's state.
        let reader = reader.with_logged()?;
        let mut entries = Vec::new();
        reader.for_each_state_entry(|kh, v| entries.push((*kh, tree::value_hash(v))))?;
        let tree = tree::StateTree::from_sorted(&entries);
        let root = Hash32(tree.root_hash());
        if root != head.state_root {
            return Err(StoreError::Corrupt(format!(
                "the state gives root {root}, the head at height {} says {}",
                head.height, head.state_root
            )));
        }
        let held = reader.into_held(tree);
        tracing::info!(
            keys = entries.len(),
            unswept = held.dirty.len(),
            ms = t0.elapsed().as_millis() as u64,
            "built the state tree"
        );
        self.trees.publish(head.height, held);
        Ok(())
    }

    /// A consistent snapshot for reading; it does not see later commits.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        // The held states are locked while the snapshot is taken, so that the state of its
        // head cannot be dropped before the reader takes it.
        let held = self.trees.lock();
        let txn = self.db.begin_read().map_err(StoreError::db)?;
        let reader = StoreReader::new(txn, Some(self.trees.clone()))?;
        let state = match reader.head()? {
            Some(head) => Trees::find(&held, head.height),
            None => None,
        };
        drop(held);
        match state {
            Some(s) => Ok(reader.with_held(s)),
            None => reader.with_logged(),
        }
    }

    /// The current chain head, or `None` before genesis.
    pub fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.reader()?.head()
    }
}
