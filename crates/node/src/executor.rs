//! Turning transactions into blocks, and blocks into committed state.
//!
//! The same two steps serve every way a block arrives:
//! - [`propose`]: the proposer executes mempool transactions, drops those that may not be
//!   in a block, and fills the header with the roots that executing them produced;
//! - [`replay`]: anyone else (a validator checking a proposal, a node catching up,
//!   `medledger verify`) re-executes a block and refuses it unless every root matches;
//! - [`commit`]: writes an executed block in one durable transaction.
//!
//! The transparency log is held in memory for fast proofs. Executing a block appends its
//! leaves to the in-memory log; a block that is not committed must be undone with
//! [`abort`].

use medledger_ledger::{Applied, BlockContext, Rejection, VerifiedTx, apply_tx, describe_outcome};
use medledger_merkle::MemoryLog;
use medledger_store::{BlockCommit, ChainHead, StagedState, StateView, Store, StoreError};
use medledger_types::{
    Block, BlockHeader, ChainId, Commit, Hash32, Height, LogLeaf, PublicKey, SignedTx, TimestampMs, TreeSize,
};
use thiserror::Error;

/// A block executed against the current head, ready to commit.
pub struct Executed {
    pub block: Block,
    pub staged: StagedState,
    pub leaves: Vec<LogLeaf>,
    pub log_nodes: Vec<(u8, u64, Hash32)>,
    pub applied: Vec<Applied>,
    /// Transactions left out of a proposal, with why.
    pub dropped: Vec<(Hash32, PublicKey, Rejection)>,
}

/// Why a block was refused.
#[derive(Debug, Error)]
pub enum BlockError {
    #[error("block is for chain {got}, expected {expected}")]
    WrongChain { expected: ChainId, got: ChainId },
    #[error("block height {got} does not follow {head}")]
    WrongHeight { head: Height, got: Height },
    #[error("parent hash {got} is not the head's hash {expected}")]
    WrongParent { expected: Hash32, got: Hash32 },
    #[error("timestamp {got} is before the parent's {parent}")]
    TimeWentBack { parent: TimestampMs, got: TimestampMs },
    #[error("transaction {index}: bad signature")]
    BadSignature { index: usize },
    #[error("transaction {index}: {reason}")]
    InvalidTx { index: usize, reason: Rejection },
    #[error("{what} in the header is {header}, executing the block gives {computed}")]
    RootMismatch {
        what: &'static str,
        header: String,
        computed: String,
    },
    #[error("this node has not executed the decided block; it fetches it from its peers")]
    NotExecuted,
    #[error("the pipeline is not ready for a block at this height (a decision waits, or the tip moved)")]
    NotNow,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn context(chain_id: &ChainId, height: Height, timestamp: TimestampMs) -> BlockContext {
    BlockContext {
        chain_id: chain_id.clone(),
        height,
        timestamp,
    }
}

/// Appends leaves to the log; returns the nodes they completed.
fn append_leaves(log: &mut MemoryLog, leaves: &[LogLeaf]) -> Vec<(u8, u64, Hash32)> {
    use medledger_types::codec::Encode;
    let mut nodes = Vec::with_capacity(leaves.len() * 2);
    for leaf in leaves {
        nodes.extend(log.push(medledger_merkle::leaf_hash(&leaf.encode())));
    }
    nodes
}

fn leaves_for(height: Height, tx_hashes: &[Hash32], applied: &[Applied]) -> Vec<LogLeaf> {
    tx_hashes
        .iter()
        .zip(applied)
        .enumerate()
        .map(|(i, (tx_hash, a))| LogLeaf {
            height,
            index_in_block: i as u32,
            tx_hash: *tx_hash,
            outcome: a.outcome,
        })
        .collect()
}

/// The RFC 9162 root over the block's transaction hashes.
pub fn tx_root(tx_hashes: &[Hash32]) -> Hash32 {
    let leaves: Vec<Hash32> = tx_hashes
        .iter()
        .map(|h| medledger_merkle::leaf_hash(h.as_bytes()))
        .collect();
    medledger_merkle::root_of(&leaves)
}

/// Builds the next block from signature-checked transactions, leaving out any that may
/// not be in a block. Appends the block's leaves to `log`.
pub fn propose(
    view: &StateView<'_>,
    log: &mut MemoryLog,
    head: &ChainHead,
    chain_id: &ChainId,
    proposer: PublicKey,
    timestamp: TimestampMs,
    txs: Vec<VerifiedTx>,
) -> Result<Executed, BlockError> {
    let height = head.height.next();
    let timestamp = timestamp.max(head.timestamp);
    let ctx = context(chain_id, height, timestamp);
    let mut overlay = medledger_ledger::Overlay::new(view);
    let mut included = Vec::with_capacity(txs.len());
    let mut hashes = Vec::with_capacity(txs.len());
    let mut applied = Vec::with_capacity(txs.len());
    let mut dropped = Vec::new();
    for tx in txs {
        match apply_tx(&mut overlay, &tx, &ctx) {
            Ok(a) => {
                applied.push(a);
                hashes.push(tx.hash());
                included.push(tx.into_signed());
            }
            Err(reason) => dropped.push((tx.hash(), tx.signed().tx.signer, reason)),
        }
    }
    let t_apply = std::time::Instant::now();
    let staged = medledger_store::stage(view, height, overlay.into_writes())?;
    let t_stage = std::time::Instant::now();
    let leaves = leaves_for(height, &hashes, &applied);
    let log_nodes = append_leaves(log, &leaves);
    tracing::debug!(
        stage_ms = (t_stage - t_apply).as_millis() as u64,
        log_ms = t_stage.elapsed().as_millis() as u64,
        "proposal executed"
    );
    let header = BlockHeader {
        chain_id: chain_id.clone(),
        height,
        parent_hash: head.block_hash,
        proposer,
        timestamp,
        tx_count: included.len() as u32,
        tx_root: tx_root(&hashes),
        state_root: staged.root,
        log_size: log.size(),
        log_root: log.root(),
    };
    Ok(Executed {
        block: Block {
            header,
            txs: included,
            commit: Commit::default(),
        },
        staged,
        leaves,
        log_nodes,
        applied,
        dropped,
    })
}

/// Re-executes a block received from elsewhere and checks every root in its header.
/// On success the block's leaves have been appended to `log`; on failure `log` is as it was.
pub fn replay(
    view: &StateView<'_>,
    log: &mut MemoryLog,
    head: &ChainHead,
    chain_id: &ChainId,
    block: Block,
) -> Result<Executed, BlockError> {
    replay_with(view, log, head, chain_id, block, Vec::new())
}

/// [`replay`], given already-verified copies of some of the block's transactions
/// (`known[i]` for `block.txs[i]`, byte-for-byte equal, signature included); the rest
/// are verified here, in one batch.
pub fn replay_with(
    view: &StateView<'_>,
    log: &mut MemoryLog,
    head: &ChainHead,
    chain_id: &ChainId,
    block: Block,
    mut known: Vec<Option<VerifiedTx>>,
) -> Result<Executed, BlockError> {
    let h = &block.header;
    if &h.chain_id != chain_id {
        return Err(BlockError::WrongChain {
            expected: chain_id.clone(),
            got: h.chain_id.clone(),
        });
    }
    if h.height != head.height.next() {
        return Err(BlockError::WrongHeight {
            head: head.height,
            got: h.height,
        });
    }
    if h.parent_hash != head.block_hash {
        return Err(BlockError::WrongParent {
            expected: head.block_hash,
            got: h.parent_hash,
        });
    }
    if h.timestamp < head.timestamp {
        return Err(BlockError::TimeWentBack {
            parent: head.timestamp,
            got: h.timestamp,
        });
    }
    known.resize(block.txs.len(), None);
    let unknown: Vec<(usize, SignedTx)> = block
        .txs
        .iter()
        .zip(&known)
        .enumerate()
        .filter(|(_, (tx, k))| k.as_ref().is_none_or(|k| k.signed() != *tx))
        .map(|(i, (tx, _))| (i, tx.clone()))
        .collect();
    let (indexes, to_check): (Vec<usize>, Vec<SignedTx>) = unknown.into_iter().unzip();
    for (index, r) in indexes.into_iter().zip(medledger_ledger::verify_txs(to_check)) {
        let tx = r.map_err(|_| BlockError::BadSignature { index })?;
        known[index] = Some(tx);
    }
    let verified: Vec<VerifiedTx> = known.into_iter().flatten().collect();
    if verified.len() != block.txs.len() {
        return Err(BlockError::BadSignature { index: verified.len() });
    }
    let hashes: Vec<Hash32> = verified.iter().map(VerifiedTx::hash).collect();
    check_root("tx_root", &h.tx_root, &tx_root(&hashes))?;
    let ctx = context(chain_id, h.height, h.timestamp);
    let out = medledger_ledger::execute_block(view, &verified, &ctx).map_err(|e| BlockError::InvalidTx {
        index: e.index,
        reason: e.reason,
    })?;
    let staged = medledger_store::stage(view, h.height, out.writes)?;
    check_root("state_root", &h.state_root, &staged.root)?;
    let leaves = leaves_for(h.height, &hashes, &out.applied);
    let size_before = log.size();
    let log_nodes = append_leaves(log, &leaves);
    let checked = check_root("log_root", &h.log_root, &log.root()).and_then(|()| {
        if h.log_size == log.size() {
            Ok(())
        } else {
            Err(BlockError::RootMismatch {
                what: "log_size",
                header: h.log_size.to_string(),
                computed: log.size().to_string(),
            })
        }
    });
    if let Err(e) = checked {
        abort(log, size_before);
        return Err(e);
    }
    Ok(Executed {
        block,
        staged,
        leaves,
        log_nodes,
        applied: out.applied,
        dropped: Vec::new(),
    })
}

fn check_root(what: &'static str, header: &Hash32, computed: &Hash32) -> Result<(), BlockError> {
    if header == computed {
        Ok(())
    } else {
        Err(BlockError::RootMismatch {
            what,
            header: header.to_string(),
            computed: computed.to_string(),
        })
    }
}

/// Undoes the leaves of a block that will not be committed.
pub fn abort(log: &mut MemoryLog, size_before: TreeSize) {
    log.truncate(size_before);
}

/// Writes an executed block, with the commit certificate it carries, durably; returns
/// the new head.
pub fn commit(store: &Store, executed: &Executed) -> Result<ChainHead, StoreError> {
    store.commit(BlockCommit {
        block: &executed.block,
        staged: &executed.staged,
        leaves: &executed.leaves,
        log_nodes: &executed.log_nodes,
    })
}

/// A readable name for a transaction's outcome.
pub fn outcome_name(leaf: &LogLeaf) -> &'static str {
    describe_outcome(leaf.outcome)
}
