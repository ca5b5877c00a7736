//! A running validator: the store, the in-memory transparency log, the mempool, and the
//! block pipeline (build → check → decide → write, [`crate::pipeline`]) that turns waiting
//! transactions into committed blocks — driven by consensus in a network, or by
//! [`Node::run`] for a lone validator, which decides its own blocks (1 of 1).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use medledger_crypto::Keypair;
use medledger_ledger::{Genesis, Rejection, VerifiedTx};
use medledger_merkle::{ConsistencyProof, InclusionProof, MemoryLog, NodeSource};
use medledger_store::{ChainHead, StateProof, StateView, Store, StoreError, TxLocation};
use medledger_types::codec::Encode;
use medledger_types::{
    Block, ChainId, Commit, CommitSig, Hash32, Height, LeafIndex, LogLeaf, OutcomeCode, PublicKey, SignedTx,
    TimestampMs, TreeHead, TreeSize, commit_sign_bytes,
};
use thiserror::Error;
use tokio::sync::{Notify, oneshot};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::executor::{self, BlockError, Executed};
use crate::home::Home;
use crate::mempool::{Mempool, Origin, Pressure, SubmitError};
use crate::metrics::{Gauges, Metrics};
use crate::pipeline::{Command, Event, Handoff, Pipeline};
use crate::receipt::{HeadCertificate, Receipt, SignedTreeHead};

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block {height}: {source}")]
    Block { height: Height, source: BlockError },
    #[error("{0}")]
    Io(String),
    #[error("the stored transparency log is inconsistent: {0}")]
    Log(String),
}

/// Where and how a transaction was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommittedTx {
    pub height: Height,
    pub index_in_block: u32,
    pub leaf_index: LeafIndex,
    pub outcome: OutcomeCode,
}

type Waiter = oneshot::Sender<Result<CommittedTx, SubmitError>>;

/// A client request refused for load before any work was done on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    pub pressure: Pressure,
    /// When the client should try again: about how long the waiting transactions take
    /// to commit at the recent rate.
    pub retry_after_secs: u64,
}

/// Transactions committed per second, smoothed over recent blocks.
struct DrainRate {
    last: Option<Instant>,
    per_sec: f64,
}

/// An accepted transaction, and a way to wait for its commit.
pub struct Accepted {
    pub hash: Hash32,
    pub committed: Option<oneshot::Receiver<Result<CommittedTx, SubmitError>>>,
    /// Under consensus, when not waiting for the commit: resolves once another
    /// validator holds the transaction (or it committed).
    pub replicated: Option<oneshot::Receiver<()>>,
}

/// What `GET /v1/tx/{hash}` reports.
pub enum TxStatus {
    Pending,
    Committed {
        location: CommittedTx,
        leaf: LogLeaf,
        tx: Box<SignedTx>,
    },
}

struct Inner {
    config: Config,
    genesis: Genesis,
    key: Keypair,
    store: Store,
    log: RwLock<MemoryLog>,
    /// leaf hash → leaf index, for `get-proof-by-hash`; rebuilt from the log at start.
    leaf_index: RwLock<crate::leaves::LeafLookup>,
    head: RwLock<ChainHead>,
    /// The head block's header and commit certificate, for certified tree heads.
    head_cert: RwLock<Option<HeadCertificate>>,
    /// Where the block pipeline stands.
    pipeline: Mutex<Pipeline>,
    /// The decided block being written, if any: the tip the next block builds on.
    decided: Mutex<Option<Arc<DecidedBlock>>>,
    /// A decided block waiting for the one being written, and the pipeline's order to
    /// write it: they may come in either order (see [`Handoff`]).
    waiting: Mutex<Handoff<Arc<DecidedBlock>>>,
    decided_written: Notify,
    to_committer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Arc<DecidedBlock>>>>,
    fatal: tokio::sync::watch::Sender<Option<String>>,
    mempool: Mutex<Mempool>,
    waiters: Mutex<HashMap<Hash32, Vec<Waiter>>>,
    txs_ready: Notify,
    /// When the mempool last admitted a transaction (from a client, a peer or this node).
    last_admitted: Mutex<Option<Instant>>,
    metrics: Metrics,
    started: Instant,
    consensus: RwLock<ConsensusStatus>,
    /// Transactions accepted from clients, waiting to be gossiped to the other validators.
    outbox: Mutex<Vec<SignedTx>>,
    /// Clients waiting until another validator holds their transaction.
    replicas: Mutex<HashMap<Hash32, Vec<oneshot::Sender<()>>>>,
    outbox_ready: Notify,
    verify_slots: tokio::sync::Semaphore,
    /// The height of the newest durable block; followers (record and audit indexes) watch it.
    durable: tokio::sync::watch::Sender<Height>,
    drain: Mutex<DrainRate>,
}

/// A block consensus decided, with its commit certificate, on its way to disk.
pub struct DecidedBlock {
    executed: Arc<Executed>,
    block: Block,
}

/// What consensus reports about itself, for `GET /v1/status`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConsensusStatus {
    /// `solo` (one validator, no consensus needed) or `bft`.
    pub mode: &'static str,
    /// The height being agreed on, and its round.
    pub height: Option<u64>,
    pub round: Option<u32>,
    /// Validators currently connected.
    pub peers: usize,
    /// True while this node is behind the others and fetching blocks.
    pub catching_up: bool,
}

/// Below this level the in-memory log keeps only the nodes right of the last durable
/// multiple of 16 leaves; the rest are read from the store when a proof needs them. The
/// log then holds about 4 bytes a leaf instead of 64 (ADR 013 §10).
const LOG_PRUNE_LEVEL: u8 = 4;

/// The transparency log as proofs see it: the in-memory log first, then the store for the
/// nodes pruned from memory.
struct StoredLog<'a> {
    memory: &'a MemoryLog,
    reader: &'a medledger_store::StoreReader,
}

impl NodeSource for StoredLog<'_> {
    fn node(&self, level: u8, index: u64) -> Option<Hash32> {
        if index >= self.memory.first_held(level) {
            return self.memory.node(level, index);
        }
        self.reader.log_node(level, index).ok().flatten()
    }

    fn leaf_count(&self) -> Option<TreeSize> {
        Some(self.memory.size())
    }
}

/// A handle to a running node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

pub fn now_ms() -> TimestampMs {
    TimestampMs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

impl Node {
    /// Opens the node's database (creating it from genesis on first start) and loads the
    /// transparency log into memory.
    pub fn open(home: &Home) -> Result<Node, NodeError> {
        std::fs::create_dir_all(home.data_dir())
            .map_err(|e| NodeError::Io(format!("{}: {e}", home.data_dir().display())))?;
        let store = Store::open(&home.db_path())?;
        Self::with_store(home.config.clone(), home.genesis.clone(), home.key.clone(), store)
    }

    pub fn with_store(config: Config, genesis: Genesis, key: Keypair, store: Store) -> Result<Node, NodeError> {
        let genesis_validators = genesis.validators.len();
        let head = store.init_genesis(&genesis)?;
        let mut log = MemoryLog::new();
        for (level, index, hash) in store.reader()?.log_nodes()? {
            log.insert_node(level, index, hash)
                .map_err(|e| NodeError::Log(e.to_string()))?;
        }
        if log.size() != head.log_size || log.root() != head.log_root {
            return Err(NodeError::Log(format!(
                "head says {} leaves with root {}, stored nodes give {} leaves with root {}",
                head.log_size,
                head.log_root,
                log.size(),
                log.root()
            )));
        }
        let mut leaf_index = crate::leaves::LeafLookup::with_capacity(log.size().0 as usize);
        for i in 0..log.size().0 {
            if let Some(h) = log.node(0, i) {
                leaf_index.insert(&h, i);
            }
        }
        log.prune_below(LOG_PRUNE_LEVEL, head.log_size);
        let head_cert = if head.height.0 == 0 {
            None
        } else {
            store.reader()?.block(head.height)?.map(|b| HeadCertificate {
                header: b.header,
                commit: b.commit,
            })
        };
        info!(height = %head.height, log_size = %head.log_size, "opened ledger");
        let head_height = head.height;
        Ok(Node {
            inner: Arc::new(Inner {
                mempool: Mutex::new(Mempool::new(config.mempool.clone())),
                pipeline: Mutex::new(Pipeline::new(head_height, genesis_validators == 1)),
                config,
                genesis,
                key,
                store,
                log: RwLock::new(log),
                leaf_index: RwLock::new(leaf_index),
                head: RwLock::new(head),
                head_cert: RwLock::new(head_cert),
                decided: Mutex::new(None),
                waiting: Mutex::new(Handoff::default()),
                decided_written: Notify::new(),
                to_committer: Mutex::new(None),
                fatal: tokio::sync::watch::channel(None).0,
                waiters: Mutex::new(HashMap::new()),
                txs_ready: Notify::new(),
                last_admitted: Mutex::new(None),
                metrics: Metrics::default(),
                started: Instant::now(),
                // A node of a multi-validator network says "starting" until its
                // consensus engine runs (the API answers from the moment it binds).
                consensus: RwLock::new(ConsensusStatus {
                    mode: if genesis_validators > 1 { "starting" } else { "solo" },
                    ..Default::default()
                }),
                outbox: Mutex::new(Vec::new()),
                replicas: Mutex::new(HashMap::new()),
                outbox_ready: Notify::new(),
                verify_slots: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
                durable: tokio::sync::watch::channel(head_height).0,
                drain: Mutex::new(DrainRate {
                    last: None,
                    per_sec: 0.0,
                }),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn genesis(&self) -> &Genesis {
        &self.inner.genesis
    }

    pub fn chain_id(&self) -> &ChainId {
        &self.inner.genesis.chain_id
    }

    pub fn public_key(&self) -> PublicKey {
        self.inner.key.public()
    }

    pub fn head(&self) -> ChainHead {
        read(&self.inner.head).clone()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The nonce `signer`'s next transaction must carry, counting those waiting here.
    pub fn next_nonce(&self, signer: &PublicKey) -> Result<medledger_types::Nonce, NodeError> {
        let reader = self.inner.store.reader()?;
        Ok(lock(&self.inner.mempool).next_nonce(&reader, signer))
    }

    pub fn mempool_len(&self) -> usize {
        lock(&self.inner.mempool).len()
    }

    /// Admission control, before any work is done on a client's request: `Err` when the
    /// clients' share of the mempool is full, or when it is past its high-water mark and
    /// one of `signers` holds its share of it (no signers: only the first is asked).
    /// Cheap: one lock, no state read.
    pub fn admission<'a>(&self, signers: impl IntoIterator<Item = &'a PublicKey>) -> Result<(), Busy> {
        let inner = &self.inner;
        let (pressure, waiting) = {
            let mempool = lock(&inner.mempool);
            let mut seen = std::collections::HashSet::new();
            let pressure = if mempool.full() {
                Some(Pressure::Full)
            } else {
                signers
                    .into_iter()
                    .filter(|s| seen.insert(**s))
                    .find_map(|s| mempool.pressure(s))
            };
            (pressure, mempool.len())
        };
        let Some(pressure) = pressure else {
            return Ok(());
        };
        Metrics::add(&inner.metrics.requests_throttled, 1);
        let rate = lock(&inner.drain).per_sec.max(100.0);
        let retry_after_secs = ((waiting as f64 / rate).ceil() as u64).clamp(1, 30);
        Err(Busy {
            pressure,
            retry_after_secs,
        })
    }

    /// Checks signatures (batched, off the async threads), then admits each transaction
    /// another validator gossiped (it sends them to every validator, so a proposal may
    /// name them by hash). With `wait`, each accepted transaction comes with a receiver
    /// for its commit.
    pub async fn submit(&self, txs: Vec<(SignedTx, usize)>, wait: bool) -> Vec<Result<Accepted, SubmitError>> {
        self.admit_checked(txs, wait, false, true).await
    }

    /// [`Node::submit`] for transactions from a client; with `forward`, accepted
    /// transactions are also queued for the other validators, and without `wait` each
    /// comes with a receiver that resolves once another validator holds it.
    pub async fn submit_from_client(
        &self,
        txs: Vec<(SignedTx, usize)>,
        wait: bool,
        forward: bool,
    ) -> Vec<Result<Accepted, SubmitError>> {
        self.admit_checked(txs, wait, forward, false).await
    }

    async fn admit_checked(
        &self,
        txs: Vec<(SignedTx, usize)>,
        wait: bool,
        forward: bool,
        from_peer: bool,
    ) -> Vec<Result<Accepted, SubmitError>> {
        let forward = forward && !self.inner.config.p2p.peers.is_empty();
        // What can be refused without checking a signature is refused first: a
        // transaction already waiting here (gossip sent again, a client resending), or
        // any while the pool is full. Under load this keeps signature checks for new work.
        let early: Vec<Option<SubmitError>> = {
            let mempool = lock(&self.inner.mempool);
            let full = mempool.full();
            txs.iter()
                .map(|(tx, _)| {
                    let hash = tx.hash();
                    if mempool.contains(&hash) {
                        Some(SubmitError::Duplicate(hash))
                    } else if full {
                        Some(SubmitError::MempoolFull("transaction count or byte limit"))
                    } else {
                        None
                    }
                })
                .collect()
        };
        let (txs, sizes): (Vec<SignedTx>, Vec<usize>) = txs
            .into_iter()
            .zip(&early)
            .filter(|(_, e)| e.is_none())
            .map(|(t, _)| t)
            .unzip();
        // Signature checks run on at most as many threads as there are cores: under
        // overload, requests wait here instead of piling up blocking threads.
        let Ok(_permit) = self.inner.verify_slots.acquire().await else {
            return early.iter().map(|_| Err(SubmitError::ShuttingDown)).collect();
        };
        let verified = match tokio::task::spawn_blocking(move || verify_parallel(txs)).await {
            Ok(v) => v,
            Err(_) => return early.iter().map(|_| Err(SubmitError::ShuttingDown)).collect(),
        };
        let mut verified = verified.into_iter().zip(sizes);
        let inner = &self.inner;
        let mut results = Vec::with_capacity(early.len());
        {
            let mut mempool = lock(&inner.mempool);
            let reader = match inner.store.reader() {
                Ok(r) => r,
                Err(e) => {
                    error!("cannot read state: {e}");
                    return early.iter().map(|_| Err(SubmitError::ShuttingDown)).collect();
                }
            };
            let mut waiters = lock(&inner.waiters);
            let mut replicas = lock(&inner.replicas);
            let mut to_forward = Vec::new();
            for refused in early {
                if let Some(e) = refused {
                    results.push(Err(e));
                    continue;
                }
                let Some((v, size)) = verified.next() else {
                    results.push(Err(SubmitError::ShuttingDown));
                    continue;
                };
                let r = v.map_err(SubmitError::Rejected).and_then(|tx| {
                    let copy = forward.then(|| tx.signed().clone());
                    let origin = if from_peer { Origin::Peer } else { Origin::Client };
                    let r = mempool.admit_from(&reader, self.chain_id(), tx, size, origin);
                    if let (Ok(_), Some(copy)) = (&r, copy) {
                        to_forward.push(copy);
                    }
                    r
                });
                results.push(r.map(|hash| {
                    let committed = wait.then(|| {
                        let (tx, rx) = oneshot::channel();
                        waiters.entry(hash).or_default().push(tx);
                        rx
                    });
                    let replicated = (forward && !wait).then(|| {
                        let (tx, rx) = oneshot::channel();
                        replicas.entry(hash).or_default().push(tx);
                        rx
                    });
                    Accepted {
                        hash,
                        committed,
                        replicated,
                    }
                }));
            }
            drop(replicas);
            drop(waiters);
            drop(mempool);
            self.forward(to_forward);
        }
        let accepted = results.iter().filter(|r| r.is_ok()).count() as u64;
        Metrics::add(&inner.metrics.txs_submitted, accepted);
        Metrics::add(&inner.metrics.txs_rejected, results.len() as u64 - accepted);
        if accepted > 0 {
            self.admitted();
        }
        results
    }

    /// Follows the height of the newest durable block.
    pub fn durable_height(&self) -> tokio::sync::watch::Receiver<Height> {
        self.inner.durable.subscribe()
    }

    /// Builds, signs and admits one of this node's own transactions. `build` gets the
    /// signer's next nonce (after everything it has pending), so the node's transactions
    /// are admitted in order without a round trip. The signature is the node's own and is
    /// not re-checked. Returns a receiver for the commit.
    pub fn submit_own(
        &self,
        signer: &Keypair,
        kind: medledger_types::TxKind,
        body: Vec<u8>,
    ) -> Result<Accepted, SubmitError> {
        let inner = &self.inner;
        if body.len() > medledger_types::tx::MAX_TX_BODY {
            return Err(SubmitError::Rejected(Rejection::MalformedBody(
                medledger_types::DecodeError::TooLong {
                    what: "tx body",
                    len: body.len(),
                    max: medledger_types::tx::MAX_TX_BODY,
                },
            )));
        }
        let reader = inner.store.reader().map_err(|_| SubmitError::ShuttingDown)?;
        let mut mempool = lock(&inner.mempool);
        let nonce = mempool.next_nonce(&reader, &signer.public());
        let tx = medledger_types::Tx {
            chain_id: self.chain_id().clone(),
            signer: signer.public(),
            nonce,
            kind,
            body,
        };
        let signed = signer.sign_tx(tx);
        let size = signed.encode().len();
        let verified = VerifiedTx::verify(signed.clone()).map_err(SubmitError::Rejected)?;
        let hash = mempool.admit_from(&reader, self.chain_id(), verified, size, Origin::Own)?;
        let (tx, rx) = oneshot::channel();
        lock(&inner.waiters).entry(hash).or_default().push(tx);
        drop(mempool);
        if !inner.config.p2p.peers.is_empty() {
            self.forward([signed]);
        }
        Metrics::add(&inner.metrics.txs_submitted, 1);
        self.admitted();
        Ok(Accepted {
            hash,
            committed: Some(rx),
            replicated: None,
        })
    }

    /// Runs a lone validator's block production until `shutdown` resolves. Returns an
    /// error only for a fatal condition (the disk failed), after which the node must stop.
    ///
    /// The same pipeline as under consensus, with a quorum of one: build a block from the
    /// mempool on the tip, sign its commit certificate, decide it, write it. The next block
    /// is built while one is written; nothing is acknowledged before its block is durable.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
        let committer = self.start_committer();
        let result = self.produce_alone(shutdown).await;
        drop(committer);
        self.wait_written().await;
        // Nobody will commit what is still waiting; tell the callers now rather than
        // letting them time out.
        self.fail_waiters();
        match self.inner.fatal.borrow().clone() {
            Some(reason) => Err(NodeError::Io(reason)),
            None => result,
        }
    }

    async fn produce_alone(&self, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
        tokio::pin!(shutdown);
        let interval = self.inner.config.block_interval();
        let max = self.inner.config.block.max_txs;
        let mut last_block = Instant::now();
        loop {
            while self.proposable() == 0 {
                let ready = self.inner.txs_ready.notified();
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    reason = self.fatal() => return Err(NodeError::Io(reason)),
                    _ = ready => {}
                }
            }
            let deadline = tokio::time::Instant::from_std(last_block + interval);
            while self.proposable() < max && tokio::time::Instant::now() < deadline {
                let ready = self.inner.txs_ready.notified();
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = ready => {}
                }
            }
            // One decision may wait for the block being written; no more.
            while lock(&self.inner.pipeline).has_waiting_decision() {
                let written = self.inner.decided_written.notified();
                if !lock(&self.inner.pipeline).has_waiting_decision() {
                    break;
                }
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    reason = self.fatal() => return Err(NodeError::Io(reason)),
                    _ = written => {}
                }
            }
            let node = self.clone();
            let built = tokio::task::spawn_blocking(move || node.build(now_ms(), max))
                .await
                .map_err(|e| NodeError::Io(format!("block production task failed: {e}")))?;
            match built {
                Ok((executed, commands)) => self.decide_alone(executed, commands)?,
                Err(NodeError::Block {
                    source: BlockError::Store(e),
                    ..
                }) => return Err(e.into()),
                Err(e) => warn!("cannot build a block: {e}"),
            }
            last_block = Instant::now();
        }
    }

    /// A lone validator's block, which the pipeline decided as it was built: signs its
    /// commit certificate (1 of 1) and writes it, now or after the block being written.
    fn decide_alone(&self, executed: Executed, commands: Vec<Command>) -> Result<(), NodeError> {
        let inner = &self.inner;
        let height = executed.block.header.height;
        let hash = executed.block.hash();
        let mut block = executed.block.clone();
        block.commit = Commit {
            round: 0,
            signatures: vec![CommitSig {
                validator: self.public_key(),
                signature: inner.key.sign(&commit_sign_bytes(self.chain_id(), height, 0, &hash)),
            }],
        };
        let decided = Arc::new(DecidedBlock {
            executed: Arc::new(executed),
            block,
        });
        if !commands.iter().any(|c| matches!(c, Command::Write { .. })) {
            return self.hand_over(decided);
        }
        self.carry_out(commands, Some(decided))
    }

    /// Hands a decided block to the pipeline: it is written now, or right after the block
    /// being written.
    fn decide(&self, decided: Arc<DecidedBlock>) -> Result<(), NodeError> {
        let height = decided.block.header.height;
        let hash = decided.block.hash();
        let commands = lock(&self.inner.pipeline).handle(Event::Decided { height, block: hash });
        if commands.iter().any(|c| matches!(c, Command::Write { .. })) {
            return self.carry_out(commands, Some(decided));
        }
        self.hand_over(decided)?;
        self.carry_out(commands, None)
    }

    /// Leaves a decided block for the writer, which asks for it once the block before is
    /// written — or, if the writer already asked (it finished while this block was being
    /// decided), writes it now.
    fn hand_over(&self, decided: Arc<DecidedBlock>) -> Result<(), NodeError> {
        let key = (decided.block.header.height, decided.block.hash());
        let due = lock(&self.inner.waiting).leave(key, decided);
        match due {
            Some(d) => self.start_write(d),
            None => Ok(()),
        }
    }

    /// Carries out what the pipeline asks of the node.
    fn carry_out(&self, commands: Vec<Command>, mut block: Option<Arc<DecidedBlock>>) -> Result<(), NodeError> {
        for command in commands {
            match command {
                Command::Write { height, block: hash } => {
                    let matches = |d: &Arc<DecidedBlock>| d.block.header.height == height && d.block.hash() == hash;
                    let d = match block.take().filter(matches) {
                        Some(d) => d,
                        // Not handed over yet: whoever decided it writes it when it does.
                        None => match lock(&self.inner.waiting).take((height, hash)) {
                            Some(d) => d,
                            None => continue,
                        },
                    };
                    self.start_write(d)?;
                }
                Command::Stop(reason) => {
                    error!("stopping: {reason}");
                    self.inner.fatal.send_replace(Some(reason));
                }
                Command::Fetch(height) => {
                    return Err(NodeError::Block {
                        height,
                        source: BlockError::NotExecuted,
                    });
                }
                Command::Build(_)
                | Command::Offer { .. }
                | Command::Check { .. }
                | Command::Verdict { .. }
                | Command::SignAlone { .. } => {}
            }
        }
        Ok(())
    }

    /// Makes a decided block the tip and hands it to the writer: its leaves join the
    /// in-memory log, its transactions are no longer proposed.
    fn start_write(&self, d: Arc<DecidedBlock>) -> Result<(), NodeError> {
        let inner = &self.inner;
        let height = d.block.header.height;
        {
            let mut log = write(&inner.log);
            let size_before = log.size();
            for (level, i, hash) in &d.executed.log_nodes {
                if *level == 0 {
                    log.insert_node(0, *i, *hash)
                        .map_err(|e| NodeError::Log(e.to_string()))?;
                }
            }
            if log.size() != d.block.header.log_size || log.root() != d.block.header.log_root {
                let (size, root) = (log.size(), log.root());
                executor::abort(&mut log, size_before);
                return Err(NodeError::Log(format!(
                    "block {height} gives a log of {size} leaves and root {root}, its header says {} and {}",
                    d.block.header.log_size, d.block.header.log_root
                )));
            }
        }
        lock(&inner.mempool).mark_decided(d.executed.leaves.iter().map(|l| &l.tx_hash));
        *lock(&inner.decided) = Some(d.clone());
        let sent = lock(&inner.to_committer).as_ref().is_some_and(|tx| tx.send(d).is_ok());
        if !sent {
            return Err(NodeError::Io("the block writer is not running".into()));
        }
        Ok(())
    }

    /// Transactions that may go into the next block.
    pub fn proposable(&self) -> usize {
        lock(&self.inner.mempool).proposable()
    }

    /// Writes `block` (the executed block with its final commit certificate), then
    /// answers everyone waiting for its transactions.
    fn write_block(&self, executed: &Executed, block: &Block) -> Result<(), NodeError> {
        let inner = &self.inner;
        let t0 = Instant::now();
        let head = inner.store.commit(medledger_store::BlockCommit {
            block,
            staged: &executed.staged,
            leaves: &executed.leaves,
            log_nodes: &executed.log_nodes,
        })?;
        let commit_time = t0.elapsed();
        // The block's log nodes are durable now: below level 4 the memory keeps only the
        // right edge (ADR 013 §10).
        write(&inner.log).prune_below(LOG_PRUNE_LEVEL, head.log_size);
        let height = head.height;
        let first_leaf = head.log_size.0 - executed.leaves.len() as u64;
        {
            // The block's leaf hashes are its level-0 log nodes, already computed.
            let mut index = write(&inner.leaf_index);
            for (level, i, hash) in &executed.log_nodes {
                if *level == 0 {
                    index.insert(hash, *i);
                }
            }
        }
        *write(&inner.head) = head;
        inner.durable.send_replace(height);
        *write(&inner.head_cert) = Some(HeadCertificate {
            header: block.header.clone(),
            commit: block.commit.clone(),
        });

        {
            let mut drain = lock(&inner.drain);
            let now = Instant::now();
            if let Some(last) = drain.last {
                let secs = now.duration_since(last).as_secs_f64().max(0.001);
                let rate = executed.leaves.len() as f64 / secs;
                drain.per_sec = if drain.per_sec == 0.0 {
                    rate
                } else {
                    0.8 * drain.per_sec + 0.2 * rate
                };
            }
            drain.last = Some(now);
        }
        let m = &inner.metrics;
        let failed = executed.leaves.iter().filter(|l| !l.outcome.is_ok()).count() as u64;
        Metrics::add(&m.blocks_committed, 1);
        Metrics::add(&m.txs_committed, executed.leaves.len() as u64);
        Metrics::add(&m.txs_failed, failed);
        Metrics::add(&m.txs_dropped, executed.dropped.len() as u64);
        Metrics::add(&m.block_commit_micros_total, commit_time.as_micros() as u64);

        {
            let mut waiters = lock(&inner.waiters);
            for (i, leaf) in executed.leaves.iter().enumerate() {
                for w in waiters.remove(&leaf.tx_hash).unwrap_or_default() {
                    let _ = w.send(Ok(CommittedTx {
                        height,
                        index_in_block: i as u32,
                        leaf_index: LeafIndex(first_leaf + i as u64),
                        outcome: leaf.outcome,
                    }));
                }
            }
            for (h, _, reason) in &executed.dropped {
                warn!(tx = %h, %reason, "dropped transaction");
                for w in waiters.remove(h).unwrap_or_default() {
                    let _ = w.send(Err(SubmitError::Dropped(reason.clone())));
                }
            }
        }
        {
            // In a block, a transaction is everywhere.
            let mut replicas = lock(&inner.replicas);
            if !replicas.is_empty() {
                for h in executed
                    .leaves
                    .iter()
                    .map(|l| &l.tx_hash)
                    .chain(executed.dropped.iter().map(|(h, _, _)| h))
                {
                    for w in replicas.remove(h).unwrap_or_default() {
                        let _ = w.send(());
                    }
                }
            }
        }
        let included = executed
            .leaves
            .iter()
            .zip(&executed.block.txs)
            .map(|(l, t)| (&l.tx_hash, &t.tx.signer));
        let dropped = executed.dropped.iter().map(|(h, s, _)| (h, s));
        lock(&inner.mempool).remove_committed(included.chain(dropped));
        info!(
            %height,
            txs = block.txs.len(),
            commit_ms = commit_time.as_millis() as u64,
            "committed block"
        );
        Ok(())
    }

    pub fn consensus_status(&self) -> ConsensusStatus {
        read(&self.inner.consensus).clone()
    }

    pub fn update_consensus_status(&self, f: impl FnOnce(&mut ConsensusStatus)) {
        f(&mut write(&self.inner.consensus));
    }

    /// Another validator holds these transactions: clients waiting for that are answered.
    pub fn mark_replicated(&self, hashes: &[Hash32]) {
        let mut replicas = lock(&self.inner.replicas);
        for h in hashes {
            for w in replicas.remove(h).unwrap_or_default() {
                let _ = w.send(());
            }
        }
    }

    /// Every other validator acknowledged these transactions: proposals may name them by
    /// hash.
    pub fn mark_shared(&self, hashes: &[Hash32]) {
        lock(&self.inner.mempool).mark_shared(hashes);
    }

    /// For each transaction, whether every validator holds exactly it.
    pub fn held_everywhere(&self, txs: &[SignedTx]) -> Vec<bool> {
        let mempool = lock(&self.inner.mempool);
        txs.iter().map(|tx| mempool.held_everywhere(tx)).collect()
    }

    /// This node's copies of the transactions with these hashes (`None` for those it does
    /// not hold).
    pub fn copies_of(&self, hashes: &[Hash32]) -> Vec<Option<SignedTx>> {
        let mempool = lock(&self.inner.mempool);
        hashes.iter().map(|h| mempool.copy_of(h)).collect()
    }

    /// Whether a transaction waits in the mempool (or in a block not yet written).
    pub fn is_pending(&self, hash: &Hash32) -> bool {
        lock(&self.inner.mempool).contains(hash)
    }

    /// Queues transactions accepted from a client for gossip to the other validators.
    pub fn forward(&self, txs: impl IntoIterator<Item = SignedTx>) {
        let mut outbox = lock(&self.inner.outbox);
        let before = outbox.len();
        outbox.extend(txs);
        if outbox.len() > before {
            self.inner.outbox_ready.notify_one();
        }
    }

    /// Waits for transactions to forward and takes them all.
    pub async fn next_to_forward(&self) -> Vec<SignedTx> {
        loop {
            let notified = self.inner.outbox_ready.notified();
            {
                let mut outbox = lock(&self.inner.outbox);
                if !outbox.is_empty() {
                    return std::mem::take(&mut *outbox);
                }
            }
            notified.await;
        }
    }

    /// The mempool has admitted transactions: stamps the time and wakes block building.
    fn admitted(&self) {
        *lock(&self.inner.last_admitted) = Some(Instant::now());
        self.inner.txs_ready.notify_one();
    }

    /// How long ago the mempool last admitted a transaction (from a client, another
    /// validator or this node); `None` if it has admitted none since the node started.
    pub fn since_last_admitted(&self) -> Option<Duration> {
        lock(&self.inner.last_admitted).map(|t| t.elapsed())
    }

    /// Waits until the mempool holds at least `min` transactions or `deadline` passes.
    pub async fn wait_for_txs(&self, min: usize, deadline: tokio::time::Instant) {
        loop {
            let notified = self.inner.txs_ready.notified();
            if self.mempool_len() >= min || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// The tip consensus builds on: a store snapshot, and the decided block still being
    /// written on top of it, if any. Read in this order, a block that finishes writing
    /// in between is seen in the snapshot.
    fn decided_tip(&self) -> Result<(medledger_store::StoreReader, ChainHead, Option<Arc<DecidedBlock>>), StoreError> {
        let decided = lock(&self.inner.decided).clone();
        let reader = self.inner.store.reader()?;
        let committed = reader.head()?.ok_or(StoreError::NotInitialised)?;
        let decided = decided.filter(|d| d.block.header.height == committed.height.next());
        let head = decided
            .as_ref()
            .map_or(committed, |d| ChainHead::after(&d.block.header));
        Ok((reader, head, decided))
    }

    /// Builds a block proposal on the committed head from the oldest waiting
    /// transactions, which stay in the mempool until a block holding them commits. The
    /// in-memory log is left as it was; [`Node::decide_candidate`] appends the leaves.
    pub fn build_candidate(&self, timestamp: TimestampMs, max_txs: usize) -> Result<Executed, NodeError> {
        self.build(timestamp, max_txs).map(|(executed, _)| executed)
    }

    /// [`Node::build_candidate`], with what the pipeline asks next (alone: sign and write).
    fn build(&self, timestamp: TimestampMs, max_txs: usize) -> Result<(Executed, Vec<Command>), NodeError> {
        let inner = &self.inner;
        let (reader, head, decided) = self.decided_tip()?;
        let height = head.height.next();
        if lock(&inner.pipeline).handle(Event::ProposeAt(height)) != [Command::Build(height)] {
            return Err(NodeError::Block {
                height,
                source: BlockError::NotNow,
            });
        }
        // After the tip is read: a block decided meanwhile leaves out its transactions,
        // and this candidate, built on the older tip, is then refused as stale.
        let batch = lock(&inner.mempool).peek(max_txs.min(inner.config.block.max_txs));
        let view = StateView::new(&reader, decided.as_ref().map(|d| &d.executed.staged));
        let t0 = Instant::now();
        let mut log = write(&inner.log);
        let size_before = log.size();
        let executed = executor::propose(
            &view,
            &mut log,
            &head,
            self.chain_id(),
            self.public_key(),
            timestamp,
            batch,
        );
        executor::abort(&mut log, size_before);
        drop(log);
        Metrics::add(
            &inner.metrics.block_execute_micros_total,
            t0.elapsed().as_micros() as u64,
        );
        let mut pipeline = lock(&inner.pipeline);
        match executed {
            Ok(ex) => {
                let commands = pipeline.handle(Event::Built {
                    height,
                    block: ex.block.hash(),
                });
                if commands.is_empty() {
                    return Err(NodeError::Block {
                        height,
                        source: BlockError::NotNow,
                    });
                }
                Ok((ex, commands))
            }
            Err(source) => {
                pipeline.handle(Event::BuildFailed {
                    height,
                    reason: source.to_string(),
                });
                Err(NodeError::Block { height, source })
            }
        }
    }

    /// Checks a block proposed by another validator (or fetched while catching up) by
    /// executing it on the decided head: every signature, nonce, ledger rule and root.
    /// Signatures of transactions already verified into this node's mempool, byte for
    /// byte, are not checked twice.
    pub fn check_candidate(&self, block: Block) -> Result<Executed, BlockError> {
        let inner = &self.inner;
        let known: Vec<Option<VerifiedTx>> = {
            let mempool = lock(&inner.mempool);
            block
                .txs
                .iter()
                .map(|tx| mempool.verified_copy(tx, &tx.hash()))
                .collect()
        };
        let (reader, head, decided) = self.decided_tip()?;
        let (height, hash) = (block.header.height, block.hash());
        lock(&inner.pipeline).handle(Event::Proposed { height, block: hash });
        let view = StateView::new(&reader, decided.as_ref().map(|d| &d.executed.staged));
        let t0 = Instant::now();
        let mut log = write(&inner.log);
        let size_before = log.size();
        let executed = executor::replay_with(&view, &mut log, &head, self.chain_id(), block, known);
        executor::abort(&mut log, size_before);
        drop(log);
        Metrics::add(
            &inner.metrics.block_execute_micros_total,
            t0.elapsed().as_micros() as u64,
        );
        lock(&inner.pipeline).handle(Event::Checked {
            height,
            block: hash,
            valid: executed.is_ok(),
        });
        executed
    }

    /// Starts the task that writes decided blocks, one at a time, in order. Must run
    /// before [`Node::decide_candidate`] is called.
    pub fn start_committer(&self) -> tokio::task::JoinHandle<()> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<DecidedBlock>>();
        *lock(&self.inner.to_committer) = Some(tx);
        let node = self.clone();
        tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                let n = node.clone();
                let height = d.block.header.height;
                let d2 = d.clone();
                let result = tokio::task::spawn_blocking(move || n.write_block(&d2.executed, &d2.block))
                    .await
                    .map_err(|e| NodeError::Io(format!("commit task failed: {e}")))
                    .and_then(|r| r);
                if let Err(e) = result {
                    error!(%height, "cannot write the decided block; stopping: {e}");
                    let commands = lock(&node.inner.pipeline).handle(Event::WriteFailed {
                        height,
                        reason: e.to_string(),
                    });
                    let _ = node.carry_out(commands, None);
                    node.inner.decided_written.notify_waiters();
                    return;
                }
                {
                    let mut decided = lock(&node.inner.decided);
                    if decided.as_ref().is_some_and(|x| Arc::ptr_eq(x, &d)) {
                        *decided = None;
                    }
                }
                // The next decided block, if one waited, goes to the writer now.
                let commands = lock(&node.inner.pipeline).handle(Event::Written(height));
                if let Err(e) = node.carry_out(commands, None) {
                    error!("stopping: {e}");
                    node.inner.fatal.send_replace(Some(e.to_string()));
                }
                node.inner.decided_written.notify_waiters();
            }
        })
    }

    /// Waits until no decided block is waiting to be written (or the writer failed).
    pub async fn wait_written(&self) {
        loop {
            let written = self.inner.decided_written.notified();
            let idle = {
                let p = lock(&self.inner.pipeline);
                !p.is_writing() && !p.has_waiting_decision()
            };
            if idle || self.inner.fatal.borrow().is_some() {
                return;
            }
            written.await;
        }
    }

    /// Resolves with a reason when the node can no longer go on (its disk failed).
    pub async fn fatal(&self) -> String {
        let mut rx = self.inner.fatal.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "the node stopped".into();
            }
        }
    }

    /// Takes a block consensus decided, with its commit certificate, into the pipeline:
    /// its leaves join the log and it goes to the writer. Returns once the block is the
    /// new tip, before it is durable, so consensus moves to the next height while the disk
    /// works; everyone waiting for its transactions is answered once it is durable. At
    /// most one block is between decision and disk: this waits for the previous one.
    pub async fn decide_candidate(&self, executed: Arc<Executed>, commit: Commit) -> Result<(), NodeError> {
        let inner = &self.inner;
        loop {
            let written = inner.decided_written.notified();
            if !lock(&inner.pipeline).is_writing() {
                break;
            }
            if let Some(reason) = inner.fatal.borrow().clone() {
                return Err(NodeError::Io(reason));
            }
            written.await;
        }
        if let Some(reason) = inner.fatal.borrow().clone() {
            return Err(NodeError::Io(reason));
        }
        let head = self.head();
        let height = executed.block.header.height;
        if height != head.height.next() || executed.block.header.parent_hash != head.block_hash {
            return Err(NodeError::Block {
                height,
                source: BlockError::WrongHeight {
                    head: head.height,
                    got: height,
                },
            });
        }
        let mut block = executed.block.clone();
        block.commit = commit;
        self.decide(Arc::new(DecidedBlock { executed, block }))
    }

    fn fail_waiters(&self) {
        for (_, ws) in lock(&self.inner.waiters).drain() {
            for w in ws {
                let _ = w.send(Err(SubmitError::ShuttingDown));
            }
        }
    }

    /// Where a transaction stands.
    pub fn tx_status(&self, hash: &Hash32) -> Result<Option<TxStatus>, NodeError> {
        let reader = self.inner.store.reader()?;
        let Some(TxLocation { height, index_in_block }) = reader.tx_location(hash)? else {
            let pending = lock(&self.inner.mempool).contains(hash);
            return Ok(pending.then_some(TxStatus::Pending));
        };
        let block = reader
            .block(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} is indexed but missing")))?;
        let first_leaf = block.header.log_size.0 - u64::from(block.header.tx_count);
        let leaf_index = LeafIndex(first_leaf + u64::from(index_in_block));
        let leaf = reader
            .leaf(leaf_index)?
            .ok_or_else(|| StoreError::Corrupt(format!("leaf {leaf_index} is missing")))?;
        let tx = block
            .txs
            .get(index_in_block as usize)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} has no transaction {index_in_block}")))?;
        Ok(Some(TxStatus::Committed {
            location: CommittedTx {
                height,
                index_in_block,
                leaf_index,
                outcome: leaf.outcome,
            },
            leaf,
            tx: Box::new(tx),
        }))
    }

    /// The current tree head, certified by the commit certificate of the block that
    /// produced it, and signed by this node.
    pub fn signed_tree_head(&self) -> SignedTreeHead {
        let certificate = read(&self.inner.head_cert).clone();
        let tree_head = match &certificate {
            Some(c) => TreeHead {
                chain_id: self.chain_id().clone(),
                tree_size: c.header.log_size,
                timestamp: c.header.timestamp,
                root_hash: c.header.log_root,
            },
            None => {
                let head = self.head();
                TreeHead {
                    chain_id: self.chain_id().clone(),
                    tree_size: head.log_size,
                    timestamp: head.timestamp,
                    root_hash: head.log_root,
                }
            }
        };
        SignedTreeHead {
            signature: self.inner.key.sign(&tree_head.sign_bytes()),
            signer: self.public_key(),
            head: tree_head,
            certificate,
        }
    }

    /// A receipt for a committed transaction against the current tree head.
    pub fn receipt(&self, hash: &Hash32) -> Result<Option<Receipt>, NodeError> {
        match self.tx_status(hash)? {
            Some(TxStatus::Committed { location, leaf, .. }) => self.receipt_for(&location, &leaf).map(Some),
            _ => Ok(None),
        }
    }

    /// A receipt for a transaction already looked up with [`Node::tx_status`].
    pub fn receipt_for(&self, location: &CommittedTx, leaf: &LogLeaf) -> Result<Receipt, NodeError> {
        let sth = self.signed_tree_head();
        let proof = self.inclusion_proof(location.leaf_index, sth.head.tree_size)?;
        Ok(Receipt {
            tx_hash: leaf.tx_hash,
            leaf_index: location.leaf_index.0,
            leaf: hex::encode(leaf.encode()),
            inclusion_proof: proof,
            tree_head: sth,
        })
    }

    fn committed_size(&self, size: TreeSize) -> Result<(), NodeError> {
        let head = self.head().log_size;
        if size > head {
            return Err(NodeError::Log(format!(
                "tree size {size} is beyond the current size {head}"
            )));
        }
        Ok(())
    }

    pub fn inclusion_proof(&self, index: LeafIndex, size: TreeSize) -> Result<InclusionProof, NodeError> {
        self.committed_size(size)?;
        let reader = self.inner.store.reader()?;
        let log = read(&self.inner.log);
        medledger_merkle::inclusion_proof(
            &StoredLog {
                memory: &log,
                reader: &reader,
            },
            index,
            size,
        )
        .map_err(|e| NodeError::Log(e.to_string()))
    }

    pub fn consistency_proof(&self, first: TreeSize, second: TreeSize) -> Result<ConsistencyProof, NodeError> {
        self.committed_size(second)?;
        let reader = self.inner.store.reader()?;
        let log = read(&self.inner.log);
        medledger_merkle::consistency_proof(
            &StoredLog {
                memory: &log,
                reader: &reader,
            },
            first,
            second,
        )
        .map_err(|e| NodeError::Log(e.to_string()))
    }

    /// The index of the leaf with this hash, if it is in the committed log.
    pub fn leaf_index_of(&self, leaf_hash: &Hash32) -> Option<LeafIndex> {
        let i = {
            let reader = self.inner.store.reader().ok()?;
            let log = read(&self.inner.log);
            let stored = StoredLog {
                memory: &log,
                reader: &reader,
            };
            read(&self.inner.leaf_index).find(leaf_hash, |i| stored.node(0, i))?
        };
        (i < self.head().log_size.0).then_some(LeafIndex(i))
    }

    /// Committed leaves `[start, end]` with their transactions.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<(Vec<u8>, SignedTx)>, NodeError> {
        let reader = self.inner.store.reader()?;
        let mut out = Vec::new();
        let mut block: Option<Block> = None;
        for i in start..=end {
            let Some(raw) = reader.leaf_bytes(LeafIndex(i))? else {
                break;
            };
            let leaf = <LogLeaf as medledger_types::Decode>::decode(&raw)
                .map_err(|e| StoreError::Corrupt(format!("log leaf {i}: {e}")))?;
            if block.as_ref().map(|b| b.header.height) != Some(leaf.height) {
                block = reader.block(leaf.height)?;
            }
            let tx = block
                .as_ref()
                .and_then(|b| b.txs.get(leaf.index_in_block as usize))
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("leaf {i} names a missing transaction")))?;
            out.push((raw, tx));
        }
        Ok(out)
    }

    /// A decided block: from the store, or the one decided and still being written (so
    /// that peers catching up can be served as soon as consensus has decided).
    pub fn decided_block(&self, height: Height) -> Result<Option<Block>, NodeError> {
        if let Some(d) = lock(&self.inner.decided).as_ref()
            && d.block.header.height == height
        {
            return Ok(Some(d.block.clone()));
        }
        self.block(height)
    }

    pub fn block(&self, height: Height) -> Result<Option<Block>, NodeError> {
        Ok(self.inner.store.reader()?.block(height)?)
    }

    pub fn state_proof(&self, key: &[u8]) -> Result<StateProof, NodeError> {
        Ok(self.inner.store.reader()?.state_proof(key)?)
    }

    /// The node's counters, for components that report their own (record custody).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn metrics_text(&self) -> String {
        let head = self.head();
        let mempool = lock(&self.inner.mempool);
        self.inner.metrics.render(&Gauges {
            height: head.height.0,
            log_size: head.log_size.0,
            mempool_txs: mempool.len(),
            mempool_bytes: mempool.bytes(),
            uptime_seconds: self.inner.started.elapsed().as_secs(),
        })
    }
}

/// Verifies signatures on both cores for large batches.
fn verify_parallel(txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, Rejection>> {
    const SPLIT_AT: usize = 512;
    if txs.len() < SPLIT_AT {
        return medledger_ledger::verify_txs(txs);
    }
    let mut txs = txs;
    let second = txs.split_off(txs.len() / 2);
    let second_len = second.len();
    std::thread::scope(|s| {
        let h = s.spawn(|| medledger_ledger::verify_txs(second));
        let mut out = medledger_ledger::verify_txs(txs);
        // A panicking verifier thread must not turn into accepted transactions.
        let rest = h
            .join()
            .unwrap_or_else(|_| vec![Err(Rejection::BadSignature); second_len]);
        out.extend(rest);
        out
    })
}
