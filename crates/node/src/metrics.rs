//! Counters and gauges, rendered in the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub txs_submitted: AtomicU64,
    pub txs_rejected: AtomicU64,
    pub txs_committed: AtomicU64,
    pub txs_failed: AtomicU64,
    pub txs_dropped: AtomicU64,
    pub blocks_committed: AtomicU64,
    pub block_commit_micros_total: AtomicU64,
    pub block_execute_micros_total: AtomicU64,
    /// Audit entries written durably by this node and not yet seen in a block (set by
    /// record custody).
    pub audit_pending: AtomicU64,
    /// Audit journal entries that no longer decode, quarantined (a placeholder was
    /// anchored in each one's place).
    pub audit_quarantined: AtomicU64,
    /// Record versions decrypted on this node (read here, or fetched from their
    /// custodian): a search decrypts only what it returns.
    pub records_decrypted: AtomicU64,
    /// Client requests answered `429` for load before any work was done on them.
    pub requests_throttled: AtomicU64,
    /// Transactions admitted from other validators' gossip.
    pub txs_gossip_received: AtomicU64,
    /// Gossiped batches sent again because not every validator acknowledged them.
    pub gossip_batches_resent: AtomicU64,
    /// Transactions this validator's proposals named by hash (every validator held them).
    pub proposal_txs_named: AtomicU64,
    /// Transactions this validator's proposals carried in full.
    pub proposal_txs_carried: AtomicU64,
    /// Transactions of others' compact proposals this validator lacked and asked for.
    pub proposal_txs_wanted: AtomicU64,
    /// Transactions asked for that the proposer sent.
    pub proposal_txs_filled: AtomicU64,
    /// Summed over this validator's proposals: transactions its pool could have
    /// proposed when it built each one (compare with named + carried).
    pub proposal_txs_available: AtomicU64,
    /// DSCSA verification requests answered (200).
    pub dscsa_verifications: AtomicU64,
    /// Of those, answered `verified: false`.
    pub dscsa_not_verified: AtomicU64,
}

pub struct Gauges {
    pub height: u64,
    pub log_size: u64,
    pub mempool_txs: usize,
    pub mempool_bytes: usize,
    pub uptime_seconds: u64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP medledger_{name} {help}");
            let _ = writeln!(out, "# TYPE medledger_{name} {kind}");
            let _ = writeln!(out, "medledger_{name} {value}");
        };
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        line(
            "txs_submitted_total",
            "counter",
            "Transactions accepted into the mempool.",
            c(&self.txs_submitted),
        );
        line(
            "requests_throttled_total",
            "counter",
            "Client requests refused for load (429) before any work was done on them.",
            c(&self.requests_throttled),
        );
        line(
            "dscsa_verifications_total",
            "counter",
            "DSCSA verification requests answered.",
            c(&self.dscsa_verifications),
        );
        line(
            "dscsa_not_verified_total",
            "counter",
            "DSCSA verification requests answered verified: false.",
            c(&self.dscsa_not_verified),
        );
        line(
            "txs_gossip_received_total",
            "counter",
            "Transactions admitted from other validators' gossip.",
            c(&self.txs_gossip_received),
        );
        line(
            "gossip_batches_resent_total",
            "counter",
            "Gossiped transaction batches sent again because a validator had not acknowledged them.",
            c(&self.gossip_batches_resent),
        );
        line(
            "proposal_txs_named_total",
            "counter",
            "Transactions this validator's proposals named by hash, since every validator held them.",
            c(&self.proposal_txs_named),
        );
        line(
            "proposal_txs_available_total",
            "counter",
            "Summed over this validator's proposals: transactions its mempool could have proposed when it built each.",
            c(&self.proposal_txs_available),
        );
        line(
            "proposal_txs_carried_total",
            "counter",
            "Transactions this validator's proposals carried in full.",
            c(&self.proposal_txs_carried),
        );
        line(
            "proposal_txs_wanted_total",
            "counter",
            "Transactions of other validators' proposals this validator lacked and asked the proposer for.",
            c(&self.proposal_txs_wanted),
        );
        line(
            "proposal_txs_filled_total",
            "counter",
            "Transactions asked for that the proposer sent.",
            c(&self.proposal_txs_filled),
        );
        line(
            "txs_rejected_total",
            "counter",
            "Transactions refused at submission.",
            c(&self.txs_rejected),
        );
        line(
            "txs_committed_total",
            "counter",
            "Transactions committed in blocks (any outcome).",
            c(&self.txs_committed),
        );
        line(
            "txs_failed_total",
            "counter",
            "Committed transactions whose outcome was a ledger error.",
            c(&self.txs_failed),
        );
        line(
            "txs_dropped_total",
            "counter",
            "Accepted transactions left out of every block.",
            c(&self.txs_dropped),
        );
        line(
            "records_decrypted_total",
            "counter",
            "Record versions decrypted on this node (searches decrypt only what they return).",
            c(&self.records_decrypted),
        );
        line(
            "blocks_committed_total",
            "counter",
            "Blocks committed.",
            c(&self.blocks_committed),
        );
        line(
            "block_execute_seconds_total",
            "counter",
            "Time spent executing blocks.",
            format!(
                "{:.6}",
                self.block_execute_micros_total.load(Ordering::Relaxed) as f64 / 1e6
            ),
        );
        line(
            "block_commit_seconds_total",
            "counter",
            "Time spent writing blocks durably (including fsync).",
            format!(
                "{:.6}",
                self.block_commit_micros_total.load(Ordering::Relaxed) as f64 / 1e6
            ),
        );
        line(
            "height",
            "gauge",
            "Height of the last committed block.",
            g.height.to_string(),
        );
        line(
            "log_size",
            "gauge",
            "Leaves in the transparency log.",
            g.log_size.to_string(),
        );
        line(
            "mempool_txs",
            "gauge",
            "Transactions waiting for a block.",
            g.mempool_txs.to_string(),
        );
        line(
            "mempool_bytes",
            "gauge",
            "Bytes of transactions waiting for a block.",
            g.mempool_bytes.to_string(),
        );
        line(
            "audit_pending",
            "gauge",
            "Audit entries written durably and not yet anchored in a block.",
            c(&self.audit_pending),
        );
        line(
            "audit_quarantined",
            "gauge",
            "Audit journal entries that no longer decode, set aside (a placeholder is anchored for each).",
            c(&self.audit_quarantined),
        );
        line(
            "uptime_seconds",
            "gauge",
            "Seconds since the node started.",
            g.uptime_seconds.to_string(),
        );
        out
    }
}
