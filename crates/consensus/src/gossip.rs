//! Transaction gossip between validators (ADR 013).
//!
//! A validator that accepts transactions from its clients sends them to the other
//! validators over their authenticated consensus connections (Malachite's libp2p, the
//! proposal-part channel), in numbered batches of its session. Each validator that has
//! admitted a batch into its mempool answers with an acknowledgement; a batch is sent
//! again, with growing pauses, until every other validator has acknowledged it or none
//! of its transactions is waiting any more (they were committed, and a validator that
//! missed them gets them in blocks). A transaction is reported replicated once one
//! other validator holds it: a client told so loses nothing if this validator crashes.
//!
//! [`Outbox`] is the sender's bookkeeping, free of I/O; the tasks in [`crate::run`]
//! carry its messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use malachitebft_app_channel::NetworkMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use medledger_ledger::Rejection;
use medledger_node::{Node, SubmitError};
use medledger_types::codec::Encode;
use medledger_types::tx::{decode_batch, encode_batch};
use medledger_types::{Hash32, SignedTx};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::context::LedgerContext;
use crate::types::{Address, ProposalPart};

/// Most transactions in one gossiped batch.
pub const MAX_BATCH_TXS: usize = 1000;
/// Most encoded bytes in one gossiped batch (well under a proposal part's limit).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// The first pause before a batch is sent again; it doubles with each attempt.
const FIRST_RETRY: Duration = Duration::from_millis(300);
const MAX_RETRY: Duration = Duration::from_secs(5);

struct OutBatch {
    txs: Vec<SignedTx>,
    hashes: Vec<Hash32>,
    acked: BTreeSet<Address>,
    due: Instant,
    attempts: u32,
}

/// What an acknowledgement changed: transactions now held by another validator for the
/// first time, and transactions now held by every validator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Acked {
    pub replicated: Vec<Hash32>,
    pub everywhere: Vec<Hash32>,
}

/// The batches this validator has sent and not yet seen held everywhere.
pub struct Outbox {
    session: u64,
    next_seq: u64,
    peers: BTreeSet<Address>,
    batches: BTreeMap<u64, OutBatch>,
}

/// A part to publish, and when the next retry is due.
pub type Parts = Vec<ProposalPart>;

impl Outbox {
    pub fn new(session: u64, peers: impl IntoIterator<Item = Address>) -> Outbox {
        Outbox {
            session,
            next_seq: 0,
            peers: peers.into_iter().collect(),
            batches: BTreeMap::new(),
        }
    }

    pub fn session(&self) -> u64 {
        self.session
    }

    /// Batches waiting for an acknowledgement.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    fn part(&self, seq: u64, b: &OutBatch) -> ProposalPart {
        ProposalPart::Txs {
            session: self.session,
            seq,
            batch: encode_batch(&b.txs),
        }
    }

    /// Takes transactions newly accepted from clients: returns the parts that send them.
    pub fn add(&mut self, txs: Vec<SignedTx>, now: Instant) -> Parts {
        use medledger_types::codec::Encode;
        let mut parts = Vec::new();
        let mut batch: Vec<SignedTx> = Vec::new();
        let mut bytes = 0;
        let mut flush = |batch: &mut Vec<SignedTx>, this: &mut Outbox| {
            if batch.is_empty() {
                return;
            }
            let txs = std::mem::take(batch);
            let seq = this.next_seq;
            this.next_seq += 1;
            let b = OutBatch {
                hashes: txs.iter().map(SignedTx::hash).collect(),
                txs,
                acked: BTreeSet::new(),
                due: now + FIRST_RETRY,
                attempts: 1,
            };
            parts.push(this.part(seq, &b));
            if !this.peers.is_empty() {
                this.batches.insert(seq, b);
            }
        };
        for tx in txs {
            let size = tx.encode().len();
            if !batch.is_empty() && (batch.len() >= MAX_BATCH_TXS || bytes + size > MAX_BATCH_BYTES) {
                flush(&mut batch, self);
                bytes = 0;
            }
            bytes += size;
            batch.push(tx);
        }
        flush(&mut batch, self);
        parts
    }

    /// `from` holds batch `seq` of `session`. Returns the batch's transactions the first
    /// time another validator holds them (they are replicated from then on), and again
    /// once every other validator does (a proposal may then name them by hash).
    pub fn ack(&mut self, from: Address, session: u64, seq: u64) -> Acked {
        let mut out = Acked::default();
        if session != self.session || !self.peers.contains(&from) {
            return out;
        }
        let Some(b) = self.batches.get_mut(&seq) else {
            return out;
        };
        let first = b.acked.is_empty();
        if !b.acked.insert(from) {
            return out;
        }
        if first {
            out.replicated = b.hashes.clone();
        }
        if b.acked.len() == self.peers.len()
            && let Some(b) = self.batches.remove(&seq)
        {
            out.everywhere = b.hashes;
        }
        out
    }

    /// Batches due to be sent again, oldest first. A batch none of whose transactions
    /// is `pending` any more is forgotten: they are in blocks, which every validator gets.
    pub fn due(&mut self, now: Instant, pending: impl Fn(&Hash32) -> bool) -> Parts {
        self.batches.retain(|_, b| b.hashes.iter().any(&pending));
        let mut parts = Vec::new();
        let due: Vec<u64> = self
            .batches
            .iter()
            .filter(|(_, b)| b.due <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            let Some(b) = self.batches.get_mut(&seq) else {
                continue;
            };
            let pause = FIRST_RETRY.saturating_mul(1 << b.attempts.min(8)).min(MAX_RETRY);
            b.attempts += 1;
            b.due = now + pause;
            let part = ProposalPart::Txs {
                session: self.session,
                seq,
                batch: encode_batch(&b.txs),
            };
            parts.push(part);
        }
        parts
    }

    /// When the next batch is due to be sent again.
    pub fn next_due(&self) -> Option<Instant> {
        self.batches.values().map(|b| b.due).min()
    }
}

/// A gossip message from another validator, handed over by the consensus host.
#[derive(Debug)]
pub enum Inbound {
    Txs {
        from: Address,
        session: u64,
        seq: u64,
        batch: Vec<u8>,
    },
    Ack {
        from: Address,
        session: u64,
        seqs: Vec<u64>,
    },
}

/// The stream id of gossip messages (proposal streams are named by height and round).
const STREAM: &[u8] = b"medledger/txs";

/// Whether a part belongs to the gossip, not to a proposal stream.
pub fn is_gossip(part: &ProposalPart) -> bool {
    matches!(part, ProposalPart::Txs { .. } | ProposalPart::TxsAck { .. })
}

async fn publish(network: &mpsc::Sender<NetworkMsg<LedgerContext>>, part: ProposalPart) -> bool {
    let msg = StreamMessage::new(StreamId::new(Bytes::from_static(STREAM)), 0, StreamContent::Data(part));
    network.send(NetworkMsg::PublishProposalPart(msg)).await.is_ok()
}

/// Runs the gossip of `node` until the network channel closes: one task sends this
/// validator's transactions and retries them, one admits what the others send.
pub fn spawn(
    node: Node,
    peers: Vec<Address>,
    network: mpsc::Sender<NetworkMsg<LedgerContext>>,
    inbound: mpsc::Receiver<Inbound>,
) -> Vec<tokio::task::JoinHandle<()>> {
    // A new session at each start: receivers tell a restarted sender's batches apart.
    let session = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let (acks_tx, acks_rx) = mpsc::unbounded_channel();
    vec![
        tokio::spawn(send_loop(
            node.clone(),
            Outbox::new(session, peers),
            network.clone(),
            acks_rx,
        )),
        tokio::spawn(receive_loop(node, network, inbound, acks_tx)),
    ]
}

async fn send_loop(
    node: Node,
    mut outbox: Outbox,
    network: mpsc::Sender<NetworkMsg<LedgerContext>>,
    mut acks: mpsc::UnboundedReceiver<(Address, u64, Vec<u64>)>,
) {
    loop {
        let next = outbox.next_due().map_or_else(
            || tokio::time::Instant::now() + MAX_RETRY,
            tokio::time::Instant::from_std,
        );
        let parts = tokio::select! {
            txs = node.next_to_forward() => outbox.add(txs, Instant::now()),
            ack = acks.recv() => {
                let Some((from, session, seqs)) = ack else { return };
                for seq in seqs {
                    let acked = outbox.ack(from, session, seq);
                    if !acked.replicated.is_empty() {
                        node.mark_replicated(&acked.replicated);
                    }
                    if !acked.everywhere.is_empty() {
                        node.mark_shared(&acked.everywhere);
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(next) => {
                let parts = outbox.due(Instant::now(), |h| node.is_pending(h));
                if !parts.is_empty() {
                    debug!(batches = parts.len(), waiting = outbox.len(), "sending unacknowledged transactions again");
                    medledger_node::metrics::Metrics::add(&node.metrics().gossip_batches_resent, parts.len() as u64);
                }
                parts
            }
        };
        for part in parts {
            if !publish(&network, part).await {
                return;
            }
        }
    }
}

/// Whether a refusal means this validator does not hold the transaction yet, and the
/// sender should try again later (rather than: holds it, or never will).
fn retry_later(e: &SubmitError) -> bool {
    matches!(
        e,
        SubmitError::Rejected(Rejection::NonceGap { .. })
            | SubmitError::MempoolFull(_)
            | SubmitError::SignerBusy(_)
            | SubmitError::ShuttingDown
    )
}

async fn receive_loop(
    node: Node,
    network: mpsc::Sender<NetworkMsg<LedgerContext>>,
    mut inbound: mpsc::Receiver<Inbound>,
    acks: mpsc::UnboundedSender<(Address, u64, Vec<u64>)>,
) {
    while let Some(first) = inbound.recv().await {
        // Everything already waiting is handled before acknowledging: the
        // acknowledgements of one sender's batches then go out as one message.
        let mut held: BTreeMap<(Address, u64), Vec<u64>> = BTreeMap::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Inbound::Ack { from, session, seqs } => {
                    if acks.send((from, session, seqs)).is_err() {
                        return;
                    }
                }
                Inbound::Txs {
                    from,
                    session,
                    seq,
                    batch,
                } => {
                    if admit(&node, from, seq, &batch).await {
                        held.entry((from, session)).or_default().push(seq);
                    }
                }
            }
            if held.values().map(Vec::len).sum::<usize>() < crate::codec::MAX_ACKS {
                next = inbound.try_recv().ok();
            }
        }
        for ((to, session), seqs) in held {
            if !publish(&network, ProposalPart::TxsAck { to, session, seqs }).await {
                return;
            }
        }
    }
}

/// Admits a gossiped batch; whether this validator now holds all of it (or never will:
/// a refusal that a retry would not change).
async fn admit(node: &Node, from: Address, seq: u64, batch: &[u8]) -> bool {
    let txs = match decode_batch(batch, MAX_BATCH_TXS) {
        Ok(txs) => txs,
        Err(e) => {
            warn!(peer = %from, "gossiped transactions do not decode: {e}");
            return false;
        }
    };
    let txs: Vec<(SignedTx, usize)> = txs
        .into_iter()
        .map(|t| {
            let size = t.encode().len();
            (t, size)
        })
        .collect();
    let results = node.submit(txs, false).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count() as u64;
    medledger_node::metrics::Metrics::add(&node.metrics().txs_gossip_received, admitted);
    match results.iter().filter_map(|r| r.as_ref().err()).find(|e| retry_later(e)) {
        Some(e) => {
            debug!(peer = %from, seq, "not acknowledging gossiped transactions yet: {e}");
            false
        }
        None => true,
    }
}

#[cfg(test)]
mod tests;
