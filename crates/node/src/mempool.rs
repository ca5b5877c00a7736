//! Transactions waiting for a block.
//!
//! Admission checks what can be checked before execution: size, duplicates, chain id, an
//! active signer and the signer's exact next nonce (counting the signer's transactions
//! already waiting), and a decodable body. Signatures are checked, in batches, before
//! [`Mempool::admit`] is called. A full mempool refuses new transactions rather than
//! evicting accepted ones.
//!
//! Two limits keep one party from starving the others: a signer may have at most
//! `max_per_signer` transactions waiting, and a share of the capacity
//! (`reserved_percent`) is kept for the node's own transactions — record anchors, audit
//! entries, erasure receipts — so that a flood of client transactions never stops the
//! audit trail.

use std::collections::{HashMap, HashSet, VecDeque};

use medledger_ledger::{Rejection, StateRead, VerifiedTx, check_envelope, next_nonce};
use medledger_types::{ChainId, Hash32, Nonce, PublicKey};
use thiserror::Error;

use crate::config::MempoolConfig;

/// Why a submitted transaction was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("transaction {0} is already waiting for a block")]
    Duplicate(Hash32),
    #[error("the mempool is full ({0}); try again later")]
    MempoolFull(&'static str),
    #[error("this signer has {0} transactions waiting, the most allowed; wait for some to commit")]
    SignerBusy(usize),
    #[error("transaction was dropped before it reached a block: {0}")]
    Dropped(Rejection),
    #[error("transaction did not commit within the time limit; it may still commit")]
    Timeout,
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl SubmitError {
    /// A short machine-readable name for API error bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::Rejected(r) => r.reason(),
            SubmitError::Duplicate(_) => "duplicate",
            SubmitError::MempoolFull(_) => "mempool_full",
            SubmitError::SignerBusy(_) => "signer_busy",
            SubmitError::Dropped(_) => "dropped",
            SubmitError::Timeout => "timeout",
            SubmitError::ShuttingDown => "shutting_down",
        }
    }
}

/// Why a client's transaction would be refused for load, before any work on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressure {
    /// The clients' share of the pool is full.
    Full,
    /// The pool is past its high-water mark and this signer holds its share of it.
    SignerShare,
}

impl Pressure {
    pub fn reason(self) -> &'static str {
        match self {
            Pressure::Full => "the mempool is full",
            Pressure::SignerShare => "the mempool is past its high-water mark and this signer has its share waiting",
        }
    }
}

struct Pending {
    tx: VerifiedTx,
    bytes: usize,
    /// Its place in the arrival order.
    seq: u64,
    /// Every validator holds it (it came from another validator, which sends it to all,
    /// or every other validator acknowledged it): a proposal may name it by hash.
    shared: bool,
}

/// Percent of the pool's shared part (all but the node's reserve) that only other
/// validators' gossip may fill.
const GOSSIP_HEADROOM_PERCENT: usize = 25;

/// Where an admitted transaction comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node.
    Client,
    /// Another validator's gossip.
    Peer,
    /// This node itself (audit anchors and the like).
    Own,
}

/// Per-signer bookkeeping while the signer has transactions waiting or in a block being built.
struct SignerQueue {
    next_nonce: Nonce,
    in_flight: usize,
}

/// One mode for a lone validator and for consensus (ADR 013): a transaction stays here
/// until a block that holds it is durable. While its block is decided and being written
/// it is not proposed again.
pub struct Mempool {
    limits: MempoolConfig,
    /// Waiting transactions by hash.
    txs: HashMap<Hash32, Pending>,
    /// Arrival order, as (place, hash); entries whose transaction left (or came back
    /// later, with a new place) are skipped and cleared lazily.
    order: VecDeque<(u64, Hash32)>,
    next_seq: u64,
    /// In a decided block that is being written.
    decided: HashSet<Hash32>,
    signers: HashMap<PublicKey, SignerQueue>,
    bytes: usize,
}

impl Mempool {
    pub fn new(limits: MempoolConfig) -> Self {
        Mempool {
            limits,
            txs: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            decided: HashSet::new(),
            signers: HashMap::new(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Transactions that may go into the next proposal (not in a decided block).
    pub fn proposable(&self) -> usize {
        self.txs.len() - self.decided.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a transaction is waiting for a block or in one not yet committed.
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.txs.contains_key(hash)
    }

    /// The nonce `signer`'s next transaction must carry, counting those pending here.
    pub fn next_nonce(&self, state: &dyn StateRead, signer: &PublicKey) -> Nonce {
        self.signers
            .get(signer)
            .map(|s| s.next_nonce)
            .unwrap_or_else(|| next_nonce(state, signer))
    }

    /// The pool's limits for transactions from `origin`, in count and bytes: the node's own
    /// may use all of it; other validators' gossip all but the node's reserve; clients
    /// all but the reserve and the last [`GOSSIP_HEADROOM_PERCENT`] of the rest, so that a
    /// transaction one validator admitted still fits in the others' pools when they are
    /// as loaded (and any proposer can include it, not only the one it came to).
    fn caps(&self, origin: Origin) -> (usize, usize) {
        let shared = |limit: usize| limit - limit * self.limits.reserved_percent / 100;
        let cap = |limit: usize| match origin {
            Origin::Own => limit,
            Origin::Peer => shared(limit),
            Origin::Client => shared(limit) - shared(limit) * GOSSIP_HEADROOM_PERCENT / 100,
        };
        (cap(self.limits.max_txs), cap(self.limits.max_bytes))
    }

    /// Whether the clients' share of the pool is full.
    pub fn full(&self) -> bool {
        let (cap_txs, cap_bytes) = self.caps(Origin::Client);
        self.txs.len() >= cap_txs || self.bytes >= cap_bytes
    }

    /// Whether a new client transaction from `signer` would be refused for load.
    pub fn pressure(&self, signer: &PublicKey) -> Option<Pressure> {
        if self.full() {
            return Some(Pressure::Full);
        }
        // The high-water mark is a share of the unreserved pool (what gossip may fill).
        let (cap_txs, cap_bytes) = self.caps(Origin::Peer);
        let high = |cap: usize| cap * self.limits.high_water_percent / 100;
        let (high_txs, high_bytes) = (high(cap_txs), high(cap_bytes));
        if self.txs.len() < high_txs && self.bytes < high_bytes {
            return None;
        }
        let waiting = self.signers.get(signer).map_or(0, |s| s.in_flight);
        let share = (high_txs / self.signers.len().max(1)).max(1);
        (waiting >= share).then_some(Pressure::SignerShare)
    }

    /// Accepts a signature-checked transaction of `size` encoded bytes from a client.
    pub fn admit(
        &mut self,
        state: &dyn StateRead,
        chain_id: &ChainId,
        tx: VerifiedTx,
        size: usize,
    ) -> Result<Hash32, SubmitError> {
        self.admit_from(state, chain_id, tx, size, Origin::Client)
    }

    /// Accepts a signature-checked transaction from `origin`: the node's own may use the
    /// reserved share; another validator's gossip is held by every validator.
    pub fn admit_from(
        &mut self,
        state: &dyn StateRead,
        chain_id: &ChainId,
        tx: VerifiedTx,
        size: usize,
        origin: Origin,
    ) -> Result<Hash32, SubmitError> {
        let hash = tx.hash();
        if self.txs.contains_key(&hash) {
            return Err(SubmitError::Duplicate(hash));
        }
        let (cap_txs, cap_bytes) = self.caps(origin);
        if self.txs.len() >= cap_txs {
            return Err(SubmitError::MempoolFull("transaction count limit"));
        }
        if self.bytes + size > cap_bytes {
            return Err(SubmitError::MempoolFull("byte limit"));
        }
        let signer = tx.signed().tx.signer;
        let waiting = self.signers.get(&signer).map_or(0, |s| s.in_flight);
        if waiting >= self.limits.max_per_signer {
            return Err(SubmitError::SignerBusy(waiting));
        }
        let expected = self.next_nonce(state, &signer);
        check_envelope(state, tx.signed(), chain_id, expected)?;
        let entry = self.signers.entry(signer).or_insert(SignerQueue {
            next_nonce: expected,
            in_flight: 0,
        });
        entry.next_nonce = Nonce(expected.0 + 1);
        entry.in_flight += 1;
        self.bytes += size;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.txs.insert(
            hash,
            Pending {
                tx,
                bytes: size,
                seq,
                shared: origin == Origin::Peer,
            },
        );
        self.order.push_back((seq, hash));
        Ok(hash)
    }

    /// The oldest `max` transactions that may go into a proposal, left in place: a
    /// proposal may not be decided, so transactions leave the mempool only when a block
    /// that holds them is durable ([`Mempool::remove_committed`]).
    pub fn peek(&self, max: usize) -> Vec<VerifiedTx> {
        self.order
            .iter()
            .filter(|(_, h)| !self.decided.contains(h))
            .filter_map(|(seq, h)| self.txs.get(h).filter(|p| p.seq == *seq))
            .take(max)
            .map(|p| p.tx.clone())
            .collect()
    }

    /// A decided block holds these transactions: they are not proposed again while it
    /// is written.
    pub fn mark_decided<'a>(&mut self, hashes: impl IntoIterator<Item = &'a Hash32>) {
        for h in hashes {
            if self.txs.contains_key(h) {
                self.decided.insert(*h);
            }
        }
    }

    /// The waiting transaction with this hash and exactly these bytes (signature
    /// included: the hash leaves the signature out), so a block's copy need not be
    /// verified again.
    pub fn verified_copy(&self, tx: &medledger_types::SignedTx, hash: &Hash32) -> Option<VerifiedTx> {
        self.txs
            .get(hash)
            .and_then(|p| (p.tx.signed() == tx).then(|| p.tx.clone()))
    }

    /// Every other validator holds these (they acknowledged their gossip).
    pub fn mark_shared<'a>(&mut self, hashes: impl IntoIterator<Item = &'a Hash32>) {
        for h in hashes {
            if let Some(p) = self.txs.get_mut(h) {
                p.shared = true;
            }
        }
    }

    /// Whether every validator holds exactly this transaction (so a proposal may name it
    /// by hash; the hash leaves the signature out, so the bytes must be these).
    pub fn held_everywhere(&self, tx: &medledger_types::SignedTx) -> bool {
        self.txs
            .get(&tx.hash())
            .is_some_and(|p| p.shared && p.tx.signed() == tx)
    }

    /// The waiting transaction with this hash, whatever its signature bytes.
    pub fn copy_of(&self, hash: &Hash32) -> Option<medledger_types::SignedTx> {
        self.txs.get(hash).map(|p| p.tx.signed().clone())
    }

    /// Removes transactions that a durable block included or dropped, wherever the
    /// block came from. Transactions this mempool never held are ignored.
    pub fn remove_committed<'a>(&mut self, done: impl IntoIterator<Item = (&'a Hash32, &'a PublicKey)>) {
        for (hash, signer) in done {
            let Some(p) = self.txs.remove(hash) else {
                continue;
            };
            self.decided.remove(hash);
            self.bytes -= p.bytes;
            if let Some(s) = self.signers.get_mut(signer) {
                s.in_flight = s.in_flight.saturating_sub(1);
                if s.in_flight == 0 {
                    self.signers.remove(signer);
                }
            }
        }
        // Forget the hashes of removed transactions: from the front, and all of them
        // once they are the larger part.
        let live = |txs: &HashMap<Hash32, Pending>, (seq, h): &(u64, Hash32)| txs.get(h).is_some_and(|p| p.seq == *seq);
        while self.order.front().is_some_and(|e| !live(&self.txs, e)) {
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.txs.len() + 1024 {
            let txs = &self.txs;
            self.order.retain(|e| live(txs, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use medledger_crypto::Keypair;
    use medledger_ledger::Genesis;
    use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
    use medledger_ledger::identity::OrgRole;
    use medledger_types::{MemberId, OrgId, TimestampMs, Tx, TxKind};

    fn setup() -> (BTreeMap<Vec<u8>, Vec<u8>>, ChainId, Keypair) {
        let admin = Keypair::from_seed([1; 32]);
        let g = Genesis {
            break_glass: None,
            contracts: None,
            suspend_quorum: None,
            chain_id: ChainId::new("t").unwrap(),
            genesis_time: TimestampMs(0),
            orgs: vec![GenesisOrg {
                gs1: None,
                id: OrgId::new("h").unwrap(),
                name: "H".into(),
                role: OrgRole::Hospital,
                admins: vec![GenesisAdmin {
                    member: MemberId::new("admin").unwrap(),
                    public_key: admin.public(),
                }],
                members: Vec::new(),
            }],
            validators: vec![GenesisValidator {
                org: OrgId::new("h").unwrap(),
                public_key: Keypair::from_seed([2; 32]).public(),
                power: 1,
            }],
        };
        let state = g.initial_writes().into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        (state, g.chain_id, admin)
    }

    fn tx(k: &Keypair, chain: &ChainId, nonce: u64, body_byte: u8) -> VerifiedTx {
        let body = medledger_ledger::Payload::RevokeMember(medledger_ledger::identity::revoke_member::RevokeMember {
            org: OrgId::new("h").unwrap(),
            member: MemberId::new(format!("m{body_byte}")).unwrap(),
        });
        VerifiedTx::verify(k.sign_tx(Tx {
            chain_id: chain.clone(),
            signer: k.public(),
            nonce: Nonce(nonce),
            kind: TxKind(0x0102),
            body: body.body(),
        }))
        .unwrap()
    }

    #[test]
    fn nonces_chain_through_pending_transactions() {
        let (state, chain, admin) = setup();
        let mut m = Mempool::new(MempoolConfig::default());
        m.admit(&state, &chain, tx(&admin, &chain, 0, 1), 100).unwrap();
        m.admit(&state, &chain, tx(&admin, &chain, 1, 1), 100).unwrap();
        let dup = m.admit(&state, &chain, tx(&admin, &chain, 1, 1), 100).unwrap_err();
        assert!(matches!(dup, SubmitError::Duplicate(_)));
        let gap = m.admit(&state, &chain, tx(&admin, &chain, 3, 1), 100).unwrap_err();
        assert_eq!(
            gap,
            SubmitError::Rejected(Rejection::NonceGap {
                expected: Nonce(2),
                got: Nonce(3)
            })
        );
        let replay = m.admit(&state, &chain, tx(&admin, &chain, 0, 2), 100).unwrap_err();
        assert_eq!(
            replay,
            SubmitError::Rejected(Rejection::ReplayedNonce {
                expected: Nonce(2),
                got: Nonce(0)
            })
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m.bytes(), 200);
    }

    #[test]
    fn limits_refuse_instead_of_evicting() {
        let (state, chain, admin) = setup();
        let mut m = Mempool::new(MempoolConfig {
            max_txs: 1,
            max_bytes: 1 << 20,
            reserved_percent: 0,
            ..MempoolConfig::default()
        });
        m.admit(&state, &chain, tx(&admin, &chain, 0, 1), 100).unwrap();
        let full = m.admit(&state, &chain, tx(&admin, &chain, 1, 1), 100).unwrap_err();
        assert!(matches!(full, SubmitError::MempoolFull(_)));
        let taken = m.peek(10);
        assert_eq!(taken.len(), 1);
        let h = taken[0].signed().hash();
        m.remove_committed([(&h, &admin.public())]);
        assert!(m.is_empty());
        assert!(m.signers.is_empty());
    }

    #[test]
    fn past_the_high_water_mark_the_heaviest_signer_is_pushed_back_first() {
        let (mut state, chain, admin) = setup();
        let light = Keypair::from_seed([7; 32]);
        let rec = medledger_ledger::identity::KeyRecord {
            org: OrgId::new("h").unwrap(),
            member: MemberId::new("light").unwrap(),
            kind: medledger_ledger::identity::MemberKind::Admin,
            status: medledger_ledger::identity::KeyStatus::Active,
        };
        state.insert(
            medledger_ledger::keys::key(&light.public()),
            medledger_types::codec::Encode::encode(&rec),
        );
        // 20 places, the last quarter for other validators' gossip: 15 for clients,
        // high water at 10.
        let mut m = Mempool::new(MempoolConfig {
            max_txs: 20,
            max_bytes: 1 << 20,
            reserved_percent: 0,
            high_water_percent: 50,
            ..MempoolConfig::default()
        });
        for n in 0..9 {
            assert_eq!(m.pressure(&admin.public()), None);
            m.admit(&state, &chain, tx(&admin, &chain, n, 1), 100).unwrap();
        }
        m.admit(&state, &chain, tx(&light, &chain, 0, 2), 100).unwrap();
        // At the mark: the heavy signer holds 9 of 10, more than its half; the light one
        // holds 1 and may still send.
        assert_eq!(m.pressure(&admin.public()), Some(Pressure::SignerShare));
        assert_eq!(m.pressure(&light.public()), None);
        let stranger = Keypair::from_seed([8; 32]).public();
        assert_eq!(m.pressure(&stranger), None);
        for n in 1..6 {
            m.admit(&state, &chain, tx(&light, &chain, n, 2), 100).unwrap();
        }
        // The clients' share is full: everyone is pushed back.
        assert_eq!(m.len(), 15);
        assert_eq!(m.pressure(&stranger), Some(Pressure::Full));
        assert!(matches!(
            m.admit(&state, &chain, tx(&light, &chain, 6, 2), 100),
            Err(SubmitError::MempoolFull(_))
        ));
        // Other validators' gossip still fits: what a peer admitted, every pool can hold.
        for n in 6..11 {
            m.admit_from(&state, &chain, tx(&light, &chain, n, 2), 100, Origin::Peer)
                .unwrap();
        }
        assert_eq!(m.len(), 20);
        // Once blocks drain it, signers are welcome again.
        let done: Vec<_> = m.peek(15).iter().map(|t| (t.hash(), t.signed().tx.signer)).collect();
        m.remove_committed(done.iter().map(|(h, s)| (h, s)));
        assert_eq!(m.pressure(&admin.public()), None);
        assert_eq!(m.pressure(&light.public()), None);
    }

    #[test]
    fn peeks_reuse_exact_copies_and_durable_blocks_remove() {
        let (state, chain, admin) = setup();
        let mut m = Mempool::new(MempoolConfig::default());
        let a = tx(&admin, &chain, 0, 1);
        let b = tx(&admin, &chain, 1, 2);
        m.admit(&state, &chain, a.clone(), 100).unwrap();
        m.admit(&state, &chain, b.clone(), 100).unwrap();
        // Peeking leaves everything in place.
        assert_eq!(m.peek(10).len(), 2);
        assert_eq!(m.len(), 2);
        // A byte-identical copy is reused; one with another signature (same hash) is not.
        assert!(m.verified_copy(a.signed(), &a.hash()).is_some());
        let mut forged = a.signed().clone();
        let mut sig = *forged.signature.as_bytes();
        sig[0] ^= 1;
        forged.signature = medledger_types::Signature::from_slice(&sig).unwrap();
        assert_eq!(forged.hash(), a.hash());
        assert!(m.verified_copy(&forged, &a.hash()).is_none());
        // A committed block removes what it holds, and ignores what this mempool never had.
        let stranger = Keypair::from_seed([9; 32]).public();
        let unknown = medledger_types::Hash32::digest(&[b"x"]);
        m.remove_committed([(&a.hash(), &admin.public()), (&unknown, &stranger)]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.bytes(), 100);
        assert!(!m.contains(&a.hash()));
        assert!(m.verified_copy(a.signed(), &a.hash()).is_none());
        assert_eq!(m.peek(10)[0].hash(), b.hash());
        m.remove_committed([(&b.hash(), &admin.public())]);
        assert!(m.is_empty() && m.signers.is_empty() && m.order.is_empty());
    }

    #[test]
    fn only_transactions_every_validator_holds_may_be_named() {
        let (state, chain, admin) = setup();
        let mut m = Mempool::new(MempoolConfig::default());
        let client = tx(&admin, &chain, 0, 1);
        let gossiped = tx(&admin, &chain, 1, 2);
        let own = tx(&admin, &chain, 2, 3);
        m.admit(&state, &chain, client.clone(), 100).unwrap();
        m.admit_from(&state, &chain, gossiped.clone(), 100, Origin::Peer)
            .unwrap();
        m.admit_from(&state, &chain, own.clone(), 100, Origin::Own).unwrap();
        // Gossiped by another validator (which sends to all): held everywhere.
        assert!(m.held_everywhere(gossiped.signed()));
        // From a client, or the node's own, until every validator acknowledged them.
        assert!(!m.held_everywhere(client.signed()));
        assert!(!m.held_everywhere(own.signed()));
        m.mark_shared([&client.hash(), &own.hash()]);
        assert!(m.held_everywhere(client.signed()));
        assert!(m.held_everywhere(own.signed()));
        // Only exactly these bytes: a copy with another signature would be rebuilt wrong.
        let mut forged = client.signed().clone();
        let mut sig = *forged.signature.as_bytes();
        sig[0] ^= 1;
        forged.signature = medledger_types::Signature::from_slice(&sig).unwrap();
        assert!(!m.held_everywhere(&forged));
        // Copies by hash, for rebuilding a proposal; none once committed.
        assert_eq!(m.copy_of(&gossiped.hash()).as_ref(), Some(gossiped.signed()));
        m.remove_committed([(&gossiped.hash(), &admin.public())]);
        assert!(m.copy_of(&gossiped.hash()).is_none());
        assert!(!m.held_everywhere(gossiped.signed()));
    }

    #[test]
    fn one_signer_cannot_fill_the_pool_and_the_node_keeps_a_reserve() {
        let (mut state, chain, admin) = setup();
        // A second signer: another admin of the same organisation.
        let other = Keypair::from_seed([5; 32]);
        let rec = medledger_ledger::identity::KeyRecord {
            org: OrgId::new("h").unwrap(),
            member: MemberId::new("admin2").unwrap(),
            kind: medledger_ledger::identity::MemberKind::Admin,
            status: medledger_ledger::identity::KeyStatus::Active,
        };
        state.insert(
            medledger_ledger::keys::key(&other.public()),
            medledger_types::codec::Encode::encode(&rec),
        );
        let mut m = Mempool::new(MempoolConfig {
            max_txs: 10,
            max_bytes: 1 << 20,
            max_per_signer: 3,
            reserved_percent: 20,
            ..MempoolConfig::default()
        });
        for n in 0..3 {
            m.admit(&state, &chain, tx(&admin, &chain, n, 1), 100).unwrap();
        }
        assert_eq!(
            m.admit(&state, &chain, tx(&admin, &chain, 3, 1), 100),
            Err(SubmitError::SignerBusy(3))
        );
        // Clients fill 6 of 10 places (2 are the node's reserve, the last quarter of the
        // other 8 is for other validators' gossip), and no more...
        for n in 0..3 {
            m.admit(&state, &chain, tx(&other, &chain, n, 2), 100).unwrap();
        }
        let third = Keypair::from_seed([6; 32]);
        let rec3 = medledger_ledger::identity::KeyRecord {
            member: MemberId::new("admin3").unwrap(),
            ..rec.clone()
        };
        state.insert(
            medledger_ledger::keys::key(&third.public()),
            medledger_types::codec::Encode::encode(&rec3),
        );
        assert_eq!(m.len(), 6);
        assert!(matches!(
            m.admit(&state, &chain, tx(&third, &chain, 0, 3), 100),
            Err(SubmitError::MempoolFull(_))
        ));
        // ...other validators' gossip fills the unreserved rest, and no more...
        for n in 0..2 {
            m.admit_from(&state, &chain, tx(&third, &chain, n, 3), 100, Origin::Peer)
                .unwrap();
        }
        assert_eq!(m.len(), 8);
        assert!(matches!(
            m.admit_from(&state, &chain, tx(&third, &chain, 2, 3), 100, Origin::Peer),
            Err(SubmitError::MempoolFull(_))
        ));
        // ...while the node's own transactions still get in.
        m.admit_from(&state, &chain, tx(&third, &chain, 2, 3), 100, Origin::Own)
            .unwrap();
        assert_eq!(m.len(), 9);
    }

    #[test]
    fn a_decided_block_being_written_is_not_proposed_again() {
        let (state, chain, admin) = setup();
        let mut m = Mempool::new(MempoolConfig::default());
        let txs: Vec<VerifiedTx> = (0..4).map(|n| tx(&admin, &chain, n, n as u8)).collect();
        for t in &txs {
            m.admit(&state, &chain, t.clone(), 100).unwrap();
        }
        let hashes: Vec<Hash32> = txs.iter().map(VerifiedTx::hash).collect();
        m.mark_decided(&hashes[..2]);
        assert_eq!(m.proposable(), 2);
        let next: Vec<Hash32> = m.peek(10).iter().map(VerifiedTx::hash).collect();
        assert_eq!(next, hashes[2..].to_vec());
        // Still known (duplicates, nonces) until the block is durable.
        assert!(m.contains(&hashes[0]));
        assert_eq!(m.next_nonce(&state, &admin.public()), Nonce(4));
        let signer = admin.public();
        m.remove_committed(hashes[..2].iter().map(|h| (h, &signer)));
        assert_eq!((m.len(), m.proposable()), (2, 2));
        // Arrival order is kept, and a place left behind is not taken twice.
        assert_eq!(m.peek(1)[0].hash(), hashes[2]);
    }
}
