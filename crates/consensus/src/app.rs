//! The application side of Malachite: answers the engine's `AppMsg`s with our blocks.
//!
//! - **Proposing** (`GetValue`): wait briefly for transactions, execute a block on the
//!   committed head, reply with its hash, then stream the block in its compact form
//!   ([`crate::compact`]: transactions every validator holds named by hash) as proposal
//!   parts (`Init`, `Data`…, `Fin` with the proposer's signature over the bytes); answer
//!   a validator's `TxsWant` with the transactions it lacks (`TxsFill`).
//! - **Validating** (`ReceivedProposalPart`): reassemble a stream per publisher, check that
//!   its signer is the round's proposer, rebuild the block from the mempool (asking the
//!   proposer, and only the proposer, for what is missing), re-execute it (every
//!   signature, nonce, ledger rule and root); a block that fails is answered `Invalid`,
//!   so honest validators prevote nil at once.
//! - **Committing** (`Decided`): attach the 2f+1 precommit signatures as the block's
//!   commit certificate, make it the tip and hand it to the block writer; consensus moves
//!   on while it is written (ADR 006). Clients are answered only once it is durable.
//! - **Catching up** (`GetDecidedValues` / `ProcessSyncedValue`): serve stored blocks with
//!   their certificates; re-execute fetched ones before they are committed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::VoteExtensionVerdicts;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, LinearTimeouts, Round, ValidatorSet as _,
    Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use medledger_crypto::Keypair;
use medledger_node::{BlockError, Executed, Node};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{Block, Commit, CommitSig, Hash32, Height};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::compact::{Assembly, CompactBlock, FillBudget};
use crate::context::LedgerContext;
use crate::signing::proposal_parts_sign_bytes;
use crate::types::{Address, BlockHash, BlockValue, ConsensusHeight, ProposalPart, ValidatorSet};

/// Size of one `Data` part of a streamed block.
const CHUNK_BYTES: usize = 256 * 1024;
/// Most proposal streams being reassembled at once (two per validator per round is
/// plenty; the rest are hostile or stale).
const MAX_STREAMS: usize = 64;
/// Most bytes one stream may hold.
const MAX_STREAM_BYTES: usize = 48 << 20;
/// Most complete proposals kept for heights not started yet.
const MAX_FUTURE: usize = 32;
/// Most blocks served in one sync response.
const MAX_SYNC_BATCH: u64 = 50;
/// Most compact proposals of one height waiting for missing transactions (one per
/// round; the oldest rounds are given up first).
const MAX_ASSEMBLING: usize = 8;
/// The stream id of requests for, and answers with, a proposal's missing transactions.
const FILL_STREAM: &[u8] = b"medledger/fill";

/// A test-only misbehaviour of this validator when it proposes, for the fault tests:
/// set `MEDLEDGER_TEST_BYZANTINE_PROPOSER` to `forge-signature`, `replay-nonce`,
/// `future-timestamp` or `censor`. Only a build with the `test-faults` feature reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Proposes a block whose first transaction's signature is altered (the block hash
    /// stays the same: transaction hashes leave signatures out).
    ForgeSignature,
    /// Proposes a block with an already committed transaction appended.
    ReplayNonce,
    /// Proposes an otherwise valid block stamped a day ahead of its clock.
    FutureTimestamp,
    /// Proposes valid blocks without any transaction, however many wait.
    Censor,
}

impl Byzantine {
    #[cfg(feature = "test-faults")]
    pub fn from_env() -> Option<Byzantine> {
        match std::env::var("MEDLEDGER_TEST_BYZANTINE_PROPOSER").ok()?.as_str() {
            "forge-signature" => Some(Byzantine::ForgeSignature),
            "replay-nonce" => Some(Byzantine::ReplayNonce),
            "future-timestamp" => Some(Byzantine::FutureTimestamp),
            "censor" => Some(Byzantine::Censor),
            _ => None,
        }
    }

    #[cfg(not(feature = "test-faults"))]
    pub fn from_env() -> Option<Byzantine> {
        None
    }
}

/// Test mode, for the compact-proposal tests: with `MEDLEDGER_TEST_DROP_GOSSIP=1` a
/// validator ignores gossiped transactions, so it holds none of the others' and must ask
/// proposers for them. Only a build with the `test-faults` feature reads it.
fn drop_gossip_from_env() -> bool {
    #[cfg(feature = "test-faults")]
    return std::env::var("MEDLEDGER_TEST_DROP_GOSSIP").is_ok_and(|v| v == "1");
    #[cfg(not(feature = "test-faults"))]
    false
}

/// A proposal being reassembled.
#[derive(Default)]
struct PartStream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    bytes: usize,
    fin_at: Option<u64>,
    started: Option<Instant>,
}

/// A complete, signed proposal stream (a [`CompactBlock`]'s bytes).
struct Complete {
    height: ConsensusHeight,
    round: Round,
    pol_round: Round,
    proposer: Address,
    block_bytes: Vec<u8>,
    signature: medledger_types::Signature,
}

/// A signed compact proposal of the current height waiting for transactions this
/// validator lacks, asked of its proposer.
struct Assembling {
    round: Round,
    pol_round: Round,
    proposer: Address,
    assembly: Assembly,
}

pub struct Host {
    node: Node,
    /// Transaction gossip received, for the gossip task.
    gossip: mpsc::Sender<crate::gossip::Inbound>,
    /// The validators by network identity.
    peers: HashMap<PeerId, Address>,
    ctx: LedgerContext,
    key: Keypair,
    me: Address,
    validators: ValidatorSet,
    timeouts: LinearTimeouts,
    network: mpsc::Sender<NetworkMsg<LedgerContext>>,
    height: ConsensusHeight,
    round: Round,
    /// Blocks executed for the current height (proposed here or checked), by hash.
    candidates: HashMap<Hash32, Arc<Executed>>,
    /// What is known about each proposal of the current height, for `StartedRound`.
    proposed: Vec<ProposedValue<LedgerContext>>,
    /// This validator's own proposals of the current height, by round.
    own: HashMap<u32, Hash32>,
    streams: HashMap<(PeerId, StreamId), PartStream>,
    future: Vec<Complete>,
    /// Whether the last `Decided` was committed; `Finalized` restarts the height if not.
    last_commit_ok: bool,
    /// Blocks of the current height that arrived through sync (catching up).
    synced: std::collections::HashSet<Hash32>,
    /// Compact proposals of the current height waiting for missing transactions.
    assembling: Vec<Assembling>,
    /// How often each validator's requests for missing transactions were answered, by
    /// round, at the current height.
    fills_served: FillBudget,
    byzantine: Option<Byzantine>,
    /// Test mode: ignore the transactions other validators gossip.
    drop_gossip: bool,
}

impl Host {
    pub fn new(
        node: Node,
        key: Keypair,
        network: mpsc::Sender<NetworkMsg<LedgerContext>>,
        gossip: mpsc::Sender<crate::gossip::Inbound>,
        peers: HashMap<PeerId, Address>,
    ) -> Host {
        let ctx = LedgerContext::new(node.chain_id().clone());
        let validators = ValidatorSet::from_genesis(node.genesis());
        let byzantine = Byzantine::from_env();
        if let Some(b) = byzantine {
            warn!(mode = ?b, "TEST MODE: this validator proposes invalid blocks");
        }
        let drop_gossip = drop_gossip_from_env();
        if drop_gossip {
            warn!("TEST MODE: this validator ignores the transactions other validators gossip");
        }
        Host {
            me: Address(key.public()),
            node,
            gossip,
            peers,
            ctx,
            key,
            validators,
            timeouts: LinearTimeouts::default(),
            network,
            height: ConsensusHeight(0),
            round: Round::Nil,
            candidates: HashMap::new(),
            proposed: Vec::new(),
            own: HashMap::new(),
            streams: HashMap::new(),
            future: Vec::new(),
            last_commit_ok: true,
            synced: Default::default(),
            assembling: Vec::new(),
            fills_served: FillBudget::default(),
            byzantine,
            drop_gossip,
        }
    }

    fn params(&self) -> HeightParams<LedgerContext> {
        HeightParams::new(self.validators.clone(), self.timeouts, None)
    }

    fn next_height(&self) -> ConsensusHeight {
        ConsensusHeight(self.node.head().height.0 + 1)
    }

    /// Handles engine messages until the engine stops.
    pub async fn run(mut self, mut channels: Channels<LedgerContext>) {
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg).await;
        }
        info!("consensus engine stopped");
    }

    async fn handle(&mut self, msg: AppMsg<LedgerContext>) {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = self.next_height();
                info!(height = %start, validators = self.validators.count(), "consensus ready");
                let _ = reply.send((start, self.params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                reply_value,
                ..
            } => {
                self.start_round(height, round);
                debug!(%height, %round, %proposer, "started round");
                let mut known: Vec<_> = self.proposed.iter().filter(|p| p.round == round).cloned().collect();
                // Proposals for this height that arrived before it started.
                let early: Vec<Complete> = {
                    let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.future)
                        .into_iter()
                        .partition(|c| c.height == height);
                    self.future = later;
                    now
                };
                for c in early {
                    if let Some(pv) = self.accept_complete(c).await
                        && pv.round == round
                    {
                        known.push(pv);
                    }
                }
                let _ = reply_value.send(known);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                if let Some(value) = self.get_value(height, round, timeout).await {
                    let _ = reply.send(LocallyProposedValue::new(height, round, value));
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                let verdicts: VoteExtensionVerdicts<LedgerContext> =
                    extensions.into_iter().map(|(addr, _)| (addr, Ok(()))).collect();
                let _ = reply.send(verdicts);
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                if address == self.me
                    && height == self.height
                    && let Some(ex) = self.candidates.get(&value_id.0).cloned()
                {
                    self.stream(height, round, valid_round, &ex.block).await;
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(ConsensusHeight(1));
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let publisher = published_by.unwrap_or(from);
                if let StreamContent::Data(p) = &part.content
                    && crate::gossip::is_gossip(p)
                {
                    self.route_gossip(publisher, part);
                    let _ = reply.send(None);
                    return;
                }
                match part.content {
                    StreamContent::Data(ProposalPart::TxsWant {
                        to,
                        height,
                        round,
                        hashes,
                    }) => {
                        if to == self.me {
                            self.serve_want(publisher, height, round, hashes).await;
                        }
                        let _ = reply.send(None);
                        return;
                    }
                    StreamContent::Data(ProposalPart::TxsFill {
                        to,
                        height,
                        round,
                        batch,
                    }) => {
                        let pv = if to == self.me {
                            self.take_fill(publisher, height, round, &batch).await
                        } else {
                            None
                        };
                        let _ = reply.send(pv);
                        return;
                    }
                    _ => {}
                }
                let pv = match self.receive_part(publisher, part) {
                    Some(c) if c.height == self.height => self.accept_complete(c).await,
                    Some(c) if c.height > self.height => {
                        if self.future.len() < MAX_FUTURE {
                            self.future.push(c);
                        }
                        None
                    }
                    _ => None,
                };
                let _ = reply.send(pv);
            }
            AppMsg::Decided { certificate, reply, .. } => {
                self.last_commit_ok = self.commit(&certificate).await;
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, reply, .. } => {
                let next = if self.last_commit_ok {
                    Next::Start(ConsensusHeight(certificate.height.0 + 1), self.params())
                } else {
                    Next::Restart(self.next_height(), self.params())
                };
                let _ = reply.send(next);
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let _ = reply.send(self.decided_values(*range.start(), *range.end()));
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.synced_value(height, round, proposer, value_bytes).await;
                let _ = reply.send(outcome);
            }
        }
    }

    /// Hands a gossip message from a validator to the gossip task, without waiting: when
    /// it is busy the message is dropped, and its sender sends it again.
    fn route_gossip(&self, publisher: PeerId, msg: StreamMessage<ProposalPart>) {
        use crate::gossip::Inbound;
        let Some(&from) = self.peers.get(&publisher) else {
            warn!(peer = %publisher, "gossip from a peer that is not a validator");
            return;
        };
        let inbound = match msg.content {
            StreamContent::Data(ProposalPart::Txs { .. }) if self.drop_gossip => return,
            StreamContent::Data(ProposalPart::Txs { session, seq, batch }) => Inbound::Txs {
                from,
                session,
                seq,
                batch,
            },
            StreamContent::Data(ProposalPart::TxsAck { to, session, seqs }) if to == self.me => {
                Inbound::Ack { from, session, seqs }
            }
            _ => return,
        };
        if self.gossip.try_send(inbound).is_err() {
            debug!(peer = %from, "gossip inbox full; the sender will retry");
        }
    }

    fn start_round(&mut self, height: ConsensusHeight, round: Round) {
        if height != self.height {
            self.candidates.clear();
            self.proposed.clear();
            self.own.clear();
            self.future.retain(|c| c.height > height);
            self.streams.clear();
            self.synced.clear();
            self.assembling.clear();
            self.fills_served.clear();
        }
        self.height = height;
        self.round = round;
        self.node.update_consensus_status(|s| {
            s.height = Some(height.0);
            s.round = round.as_u32();
        });
    }

    async fn get_value(&mut self, height: ConsensusHeight, round: Round, timeout: Duration) -> Option<BlockValue> {
        let r = round.as_u32().unwrap_or(0);
        if let Some(hash) = self.own.get(&r).copied()
            && let Some(ex) = self.candidates.get(&hash).cloned()
        {
            self.stream(height, round, Round::Nil, &ex.block).await;
            return Some(BlockValue(hash));
        }
        // Give transactions a moment to arrive: on an idle chain up to two thirds of the
        // propose timeout for a first one (so that it makes few empty blocks), then the
        // block interval to let a started block fill. A busy chain (a transaction came in
        // within that idle wait) waits the block interval only: until this proposal is
        // answered, the engine hands this validator nothing else — not the other
        // validators' gossip either — so transactions on their way here would be held
        // back for the whole idle wait.
        let started = tokio::time::Instant::now();
        let cfg = self.node.config().block.clone();
        let idle = (timeout * 2 / 3).min(Duration::from_secs(2));
        if self.node.since_last_admitted().is_none_or(|d| d >= idle) {
            self.node.wait_for_txs(1, started + idle).await;
        }
        self.node
            .wait_for_txs(
                cfg.max_txs,
                tokio::time::Instant::now() + Duration::from_millis(cfg.interval_ms),
            )
            .await;
        let available = self.node.proposable();
        let node = self.node.clone();
        let mut timestamp = medledger_node::node::now_ms();
        if self.byzantine == Some(Byzantine::FutureTimestamp) {
            timestamp.0 += 24 * 60 * 60 * 1000;
            warn!("TEST MODE: proposing a block stamped a day ahead");
        }
        // A censoring proposer (test mode) leaves every transaction out.
        let max_txs = if self.byzantine == Some(Byzantine::Censor) {
            0
        } else {
            cfg.max_txs
        };
        let built = tokio::task::spawn_blocking(move || node.build_candidate(timestamp, max_txs)).await;
        let executed = match built {
            Ok(Ok(ex)) => Arc::new(ex),
            Ok(Err(e)) => {
                error!(%height, "cannot build a block: {e}");
                return None;
            }
            Err(e) => {
                error!(%height, "block building failed: {e}");
                return None;
            }
        };
        let hash = executed.block.hash();
        medledger_node::metrics::Metrics::add(&self.node.metrics().proposal_txs_available, available as u64);
        info!(%height, %round, txs = executed.block.txs.len(), available, block = %hash, "proposing");
        let mut block = executed.block.clone();
        if let Some(mode) = self.byzantine {
            self.misbehave(mode, &mut block);
        }
        let value_hash = block.hash();
        if value_hash == hash {
            self.candidates.insert(hash, executed);
        }
        self.own.insert(r, value_hash);
        self.stream(height, round, Round::Nil, &block).await;
        Some(BlockValue(value_hash))
    }

    fn misbehave(&self, mode: Byzantine, block: &mut Block) {
        let forge = |block: &mut Block| {
            if let Some(tx) = block.txs.first_mut() {
                let mut sig = *tx.signature.as_bytes();
                sig[0] ^= 0x01;
                tx.signature = medledger_types::Signature::from_slice(&sig).unwrap_or(tx.signature);
                warn!("TEST MODE: forged the signature of one transaction in the proposal");
            }
        };
        match mode {
            Byzantine::FutureTimestamp | Byzantine::Censor => {}
            Byzantine::ForgeSignature => forge(block),
            Byzantine::ReplayNonce => {
                let head = self.node.head().height.0;
                let old = (head.saturating_sub(100)..=head)
                    .rev()
                    .filter_map(|h| self.node.block(Height(h)).ok().flatten())
                    .find_map(|b| b.txs.first().cloned());
                match old {
                    Some(tx) => {
                        block.txs.push(tx);
                        let hashes: Vec<Hash32> = block.txs.iter().map(|t| t.hash()).collect();
                        block.header.tx_count = block.txs.len() as u32;
                        block.header.tx_root = medledger_node::executor::tx_root(&hashes);
                        warn!("TEST MODE: replayed a committed transaction in the proposal");
                    }
                    None => forge(block),
                }
            }
        }
    }

    /// Publishes a block as a stream of proposal parts, in its compact form: the
    /// transactions every validator holds are named by hash.
    async fn stream(&self, height: ConsensusHeight, round: Round, pol_round: Round, block: &Block) {
        let compact = CompactBlock::of(block, &self.node.held_everywhere(&block.txs));
        let named = compact.named();
        let m = self.node.metrics();
        medledger_node::metrics::Metrics::add(&m.proposal_txs_named, named as u64);
        medledger_node::metrics::Metrics::add(&m.proposal_txs_carried, (block.txs.len() - named) as u64);
        let bytes = compact.encode();
        debug!(%height, %round, txs = block.txs.len(), named, bytes = bytes.len(), "streaming the proposal");
        let block_bytes = bytes.as_slice();
        let mut id = height.0.to_be_bytes().to_vec();
        id.extend_from_slice(&round.as_u32().unwrap_or(u32::MAX).to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        let digest: [u8; 32] = Sha256::digest(block_bytes).into();
        let signature = self.key.sign(&proposal_parts_sign_bytes(
            &self.ctx.chain_id,
            height.0,
            round,
            &Hash32(digest),
        ));
        let mut parts = vec![ProposalPart::Init {
            height,
            round,
            proposer: self.me,
            pol_round,
        }];
        parts.extend(block_bytes.chunks(CHUNK_BYTES).map(|c| ProposalPart::Data(c.to_vec())));
        parts.push(ProposalPart::Fin(signature));
        let mut seq = 0u64;
        for part in parts {
            let msg = StreamMessage::new(stream_id.clone(), seq, StreamContent::Data(part));
            if self.network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
                return;
            }
            seq += 1;
        }
        let _ = self
            .network
            .send(NetworkMsg::PublishProposalPart(StreamMessage::new(
                stream_id,
                seq,
                StreamContent::Fin,
            )))
            .await;
    }

    /// Adds a part to its stream; returns the proposal once the stream is complete.
    fn receive_part(&mut self, publisher: PeerId, msg: StreamMessage<ProposalPart>) -> Option<Complete> {
        let key = (publisher, msg.stream_id.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            // Drop the oldest stream to make room.
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.streams.remove(&k);
            }
        }
        let stream = self.streams.entry(key.clone()).or_default();
        stream.started.get_or_insert_with(Instant::now);
        let size = match &msg.content {
            StreamContent::Data(ProposalPart::Data(d)) => d.len(),
            _ => 0,
        };
        if stream.bytes + size > MAX_STREAM_BYTES || stream.parts.len() > MAX_STREAM_BYTES / CHUNK_BYTES + 4 {
            warn!(peer = %publisher, "dropping an oversized proposal stream");
            self.streams.remove(&key);
            return None;
        }
        if matches!(msg.content, StreamContent::Fin) {
            stream.fin_at = Some(msg.sequence);
        }
        if stream.parts.insert(msg.sequence, msg.content).is_none() {
            stream.bytes += size;
        }
        let fin = stream.fin_at?;
        if stream.parts.len() as u64 != fin + 1 {
            return None;
        }
        let stream = self.streams.remove(&key)?;
        assemble(stream)
    }

    /// Checks a complete proposal for the current height and records what was found.
    async fn accept_complete(&mut self, c: Complete) -> Option<ProposedValue<LedgerContext>> {
        use malachitebft_app_channel::app::types::core::Context as _;
        let expected = self.ctx.select_proposer(&self.validators, c.height, c.round).address;
        if c.proposer != expected {
            warn!(height = %c.height, round = %c.round, "proposal stream from {} but the proposer is {expected}", c.proposer);
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(&c.block_bytes).into();
        let signed = proposal_parts_sign_bytes(&self.ctx.chain_id, c.height.0, c.round, &Hash32(digest));
        if medledger_crypto::verify(&c.proposer.0, &signed, &c.signature).is_err() {
            warn!(height = %c.height, round = %c.round, "proposal stream with a bad signature");
            return None;
        }
        let compact = match CompactBlock::decode(&c.block_bytes) {
            Ok(b) => b,
            Err(e) => {
                warn!(height = %c.height, round = %c.round, "proposed block does not decode: {e}");
                return None;
            }
        };
        if compact.header.height.0 != c.height.0 {
            warn!(height = %c.height, "proposed block is for height {}", compact.header.height);
            return None;
        }
        let assembly = Assembly::new(compact, |hashes| self.node.copies_of(hashes));
        let block = match assembly.block() {
            Ok(block) => block,
            Err(assembly) => {
                let hashes = assembly.missing();
                debug!(height = %c.height, round = %c.round, missing = hashes.len(), "asking the proposer for transactions this validator lacks");
                medledger_node::metrics::Metrics::add(&self.node.metrics().proposal_txs_wanted, hashes.len() as u64);
                self.assembling
                    .retain(|a| !(a.round == c.round && a.proposer == c.proposer));
                if self.assembling.len() >= MAX_ASSEMBLING {
                    self.assembling.remove(0);
                }
                self.assembling.push(Assembling {
                    round: c.round,
                    pol_round: c.pol_round,
                    proposer: c.proposer,
                    assembly: *assembly,
                });
                let want = ProposalPart::TxsWant {
                    to: c.proposer,
                    height: c.height,
                    round: c.round,
                    hashes,
                };
                self.publish_fill_part(want).await;
                return None;
            }
        };
        self.judge(c.height, c.round, c.pol_round, c.proposer, block).await
    }

    /// Decides on a complete proposed block of the current height: its timestamp, then
    /// every transaction and root; records what was found.
    async fn judge(
        &mut self,
        height: ConsensusHeight,
        round: Round,
        pol_round: Round,
        proposer: Address,
        block: Block,
    ) -> Option<ProposedValue<LedgerContext>> {
        let hash = block.hash();
        let drift = self.node.config().block.max_future_drift_ms;
        let now = medledger_node::node::now_ms().0;
        let validity = if block.header.timestamp.0 > now.saturating_add(drift) {
            warn!(
                %height,
                %round,
                ahead_ms = block.header.timestamp.0 - now,
                "rejecting a proposal stamped too far in the future"
            );
            Some(Validity::Invalid)
        } else {
            self.check(block).await
        };
        let pv = ProposedValue {
            height,
            round,
            valid_round: pol_round,
            proposer,
            value: BlockValue(hash),
            validity: validity.unwrap_or(Validity::Invalid),
        };
        if !self.proposed.contains(&pv) {
            self.proposed.push(pv.clone());
        }
        Some(pv)
    }

    async fn publish_fill_part(&self, part: ProposalPart) {
        let msg = StreamMessage::new(
            StreamId::new(Bytes::from_static(FILL_STREAM)),
            0,
            StreamContent::Data(part),
        );
        let _ = self.network.send(NetworkMsg::PublishProposalPart(msg)).await;
    }

    /// Answers a validator that lacks transactions of this validator's proposal at
    /// `height` and `round`, from the proposed block, in batches of a gossip batch's size.
    async fn serve_want(&mut self, publisher: PeerId, height: ConsensusHeight, round: Round, hashes: Vec<Hash32>) {
        let Some(&requester) = self.peers.get(&publisher) else {
            return;
        };
        let r = round.as_u32().unwrap_or(0);
        if height != self.height {
            return;
        }
        let Some(ex) = self.own.get(&r).and_then(|h| self.candidates.get(h)).cloned() else {
            return;
        };
        if !self.fills_served.allow(requester, r) {
            warn!(peer = %requester, %height, %round, "ignoring a repeated request for a proposal's transactions");
            return;
        }
        let wanted: std::collections::HashSet<Hash32> = hashes.into_iter().collect();
        let mut batch: Vec<medledger_types::SignedTx> = Vec::new();
        let mut bytes = 0;
        let mut seen = std::collections::HashSet::new();
        let found = ex
            .block
            .txs
            .iter()
            .filter(|tx| {
                let h = tx.hash();
                wanted.contains(&h) && seen.insert(h)
            })
            .cloned()
            .collect::<Vec<_>>();
        debug!(peer = %requester, %height, %round, asked = wanted.len(), found = found.len(), "sending a proposal's missing transactions");
        for tx in found {
            let size = tx.encode().len();
            if !batch.is_empty() && bytes + size > crate::gossip::MAX_BATCH_BYTES {
                let part = ProposalPart::TxsFill {
                    to: requester,
                    height,
                    round,
                    batch: medledger_types::tx::encode_batch(&std::mem::take(&mut batch)),
                };
                self.publish_fill_part(part).await;
                bytes = 0;
            }
            bytes += size;
            batch.push(tx);
        }
        if !batch.is_empty() {
            let part = ProposalPart::TxsFill {
                to: requester,
                height,
                round,
                batch: medledger_types::tx::encode_batch(&batch),
            };
            self.publish_fill_part(part).await;
        }
    }

    /// Places transactions sent by a proposer for its compact proposal; once the block
    /// is whole, decides on it.
    async fn take_fill(
        &mut self,
        publisher: PeerId,
        height: ConsensusHeight,
        round: Round,
        batch: &[u8],
    ) -> Option<ProposedValue<LedgerContext>> {
        let &from = self.peers.get(&publisher)?;
        if height != self.height {
            return None;
        }
        // Only the proposer answers for its block: a transaction's hash leaves its
        // signature out, so another validator could hand over a forged copy.
        let at = self
            .assembling
            .iter()
            .position(|a| a.round == round && a.proposer == from)?;
        let txs = match medledger_types::tx::decode_batch(batch, medledger_types::block::MAX_BLOCK_TXS) {
            Ok(txs) => txs,
            Err(e) => {
                warn!(peer = %from, "a proposal's transactions do not decode: {e}");
                return None;
            }
        };
        let placed = self.assembling[at].assembly.fill(txs);
        medledger_node::metrics::Metrics::add(&self.node.metrics().proposal_txs_filled, placed as u64);
        if !self.assembling[at].assembly.is_complete() {
            return None;
        }
        let a = self.assembling.swap_remove(at);
        let block = a.assembly.block().ok()?;
        self.judge(height, a.round, a.pol_round, a.proposer, block).await
    }

    /// Executes a block received from a peer; `None` for a local failure.
    async fn check(&mut self, block: Block) -> Option<Validity> {
        let hash = block.hash();
        // Same header is not enough: a byzantine proposer may have changed a signature,
        // which the hash does not cover. Only byte-identical blocks are the same block.
        if self.candidates.get(&hash).is_some_and(|ex| ex.block.txs == block.txs) {
            return Some(Validity::Valid);
        }
        let height = block.header.height;
        let txs = block.txs.len();
        let node = self.node.clone();
        let t0 = Instant::now();
        match tokio::task::spawn_blocking(move || node.check_candidate(block)).await {
            Ok(Ok(executed)) => {
                debug!(%height, txs, ms = t0.elapsed().as_millis() as u64, "proposal is valid");
                self.candidates.entry(hash).or_insert_with(|| Arc::new(executed));
                Some(Validity::Valid)
            }
            Ok(Err(BlockError::Store(e))) => {
                error!(%height, "cannot check a proposal: {e}");
                None
            }
            Ok(Err(e)) => {
                warn!(%height, block = %hash, "rejecting an invalid proposal: {e}");
                Some(Validity::Invalid)
            }
            Err(e) => {
                error!(%height, "proposal check failed: {e}");
                None
            }
        }
    }

    async fn commit(&mut self, cert: &CommitCertificate<LedgerContext>) -> bool {
        let hash = cert.value_id.0;
        let Some(executed) = self.candidates.get(&hash).cloned() else {
            error!(height = %cert.height, block = %hash, "decided a block this node does not hold; will fetch it from peers");
            return false;
        };
        let commit = Commit {
            round: cert.round.as_u32().unwrap_or(0),
            signatures: cert
                .commit_signatures
                .iter()
                .map(|s| CommitSig {
                    validator: s.address.0,
                    signature: s.signature,
                })
                .collect(),
        };
        let height = cert.height;
        let via_sync = self.synced.contains(&hash);
        match self.node.decide_candidate(executed, commit).await {
            Ok(()) => {
                self.node.update_consensus_status(|s| s.catching_up = via_sync);
                true
            }
            Err(e) => {
                error!(%height, "cannot commit the decided block: {e}");
                false
            }
        }
    }

    fn decided_values(&self, start: ConsensusHeight, end: ConsensusHeight) -> Vec<RawDecidedValue<LedgerContext>> {
        let mut out = Vec::new();
        let end = end.0.min(start.0.saturating_add(MAX_SYNC_BATCH - 1));
        for h in start.0..=end {
            let Ok(Some(mut block)) = self.node.decided_block(Height(h)) else {
                break;
            };
            let commit = std::mem::take(&mut block.commit);
            let certificate = ExtendedCommitCertificate {
                height: ConsensusHeight(h),
                round: Round::new(commit.round),
                value_id: BlockHash(block.hash()),
                commit_signatures: commit
                    .signatures
                    .into_iter()
                    .map(|s| ExtendedCommitSignature::new(Address(s.validator), s.signature, None))
                    .collect(),
            };
            out.push(RawDecidedValue::new(Bytes::from(block.encode()), certificate));
        }
        out
    }

    async fn synced_value(
        &mut self,
        height: ConsensusHeight,
        round: Round,
        proposer: Address,
        value_bytes: Bytes,
    ) -> SyncedValueOutcome<LedgerContext> {
        let block = match Block::decode(&value_bytes) {
            Ok(b) if b.header.height.0 == height.0 => b,
            Ok(b) => {
                warn!(%height, "a peer sent block {} for height {height}", b.header.height);
                return SyncedValueOutcome::PeerFault;
            }
            Err(e) => {
                warn!(%height, "a peer sent a block that does not decode: {e}");
                return SyncedValueOutcome::PeerFault;
            }
        };
        let hash = block.hash();
        self.synced.insert(hash);
        match self.check(block).await {
            None => SyncedValueOutcome::LocalTransientError,
            Some(validity) => SyncedValueOutcome::Verdict(ProposedValue {
                height,
                round,
                valid_round: Round::Nil,
                proposer,
                value: BlockValue(hash),
                validity,
            }),
        }
    }
}

fn assemble(stream: PartStream) -> Option<Complete> {
    let mut init = None;
    let mut bytes = Vec::with_capacity(stream.bytes);
    let mut signature = None;
    for (_, content) in stream.parts {
        match content {
            StreamContent::Data(ProposalPart::Init {
                height,
                round,
                proposer,
                pol_round,
            }) if init.is_none() => init = Some((height, round, proposer, pol_round)),
            StreamContent::Data(ProposalPart::Data(d)) if init.is_some() && signature.is_none() => {
                bytes.extend_from_slice(&d)
            }
            StreamContent::Data(ProposalPart::Fin(sig)) if init.is_some() && signature.is_none() => {
                signature = Some(sig)
            }
            StreamContent::Fin => {}
            _ => return None,
        }
    }
    let (height, round, proposer, pol_round) = init?;
    Some(Complete {
        height,
        round,
        pol_round,
        proposer,
        block_bytes: bytes,
        signature: signature?,
    })
}
