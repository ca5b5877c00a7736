//! The audit journal and its anchoring.
//!
//! Every access is appended to the journal (fsync'd, group commit) before the caller gets
//! an answer; a background task anchors pending entries in `audit.record` transactions,
//! numbered per node (ADR 009). An entry that cannot be encoded for the ledger is refused
//! when written; one that no longer decodes (a damaged journal) is quarantined and a
//! placeholder naming the loss is anchored in its place, so nothing stops anchoring.

use std::time::Duration;

use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_types::{Hash32, Height, MemberId, OrgId};
use tracing::warn;

use super::journal::PendingAudit;
use super::write::fit;
use super::{Actor, Custody, CustodyError};
use medledger_node::node::{CommittedTx, now_ms};

/// Audit transactions submitted together before the audit anchorer waits for their
/// blocks: about 2,800 entries a round, so that a block interval's worth of reads at
/// several thousand a second is anchored in the next blocks.
const AUDIT_TXS_PER_ROUND: usize = 8;

impl Custody {
    pub fn audit_note(&self, id: &Hash32) -> Result<Option<String>, CustodyError> {
        self.inner.journal.audit_note(id)
    }

    pub(super) fn report_audit_metrics(&self) {
        let m = self.inner.node.metrics();
        m.audit_pending.store(
            self.inner.journal.pending_audit_count(),
            std::sync::atomic::Ordering::Relaxed,
        );
        m.audit_quarantined.store(
            self.inner.journal.quarantined_count(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Writes audit entries durably; the caller answers its client only after this. An
    /// entry the ledger could not decode is refused, and nothing is written.
    pub async fn audit(&self, entries: Vec<(AuditEntry, Option<String>)>) -> Result<(), CustodyError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.journal.append_audit(entries).await?;
        self.report_audit_metrics();
        self.inner.audit_ready.notify_one();
        Ok(())
    }

    /// A fresh audit entry for `actor`, stamped now.
    pub fn audit_entry(&self, actor: &Actor, action: AuditAction) -> AuditEntry {
        fresh_entry(&actor.org, &actor.member, action)
    }

    /// What is anchored in place of an entry that no longer decodes: it says, in the
    /// node's own name, that entry number `seq` was lost.
    fn placeholder(&self, raw: &[u8]) -> AuditEntry {
        AuditEntry {
            id: Hash32::digest(&[b"medledger/audit/unreadable/v1\0", raw]),
            outcome: AuditOutcome::Failed,
            ..fresh_entry(self.org(), self.service_member(), AuditAction::Unreadable)
        }
    }

    /// Anchors the audit journal: each round submits up to [`AUDIT_TXS_PER_ROUND`]
    /// `audit.record` transactions of pending entries, waits until the follower has seen
    /// their blocks (which removes those entries from the journal), and goes again.
    pub(super) async fn audit_loop(self) {
        self.report_audit_metrics();
        let mut in_flight: Vec<
            tokio::sync::oneshot::Receiver<Result<CommittedTx, medledger_node::mempool::SubmitError>>,
        > = Vec::new();
        loop {
            if !in_flight.is_empty() {
                let mut target = Height(0);
                for rx in in_flight.drain(..) {
                    target = target.max(match rx.await {
                        Ok(Ok(c)) => c.height,
                        other => {
                            warn!("an audit transaction did not commit ({other:?}); retrying");
                            self.inner.node.head().height
                        }
                    });
                }
                // Wait until the follower has absorbed those blocks: the next round must
                // not repeat entries already in them.
                self.wait_indexed(target, Duration::from_secs(5)).await;
            }
            let pending = match self.inner.journal.pending_audit(AUDIT_TXS_PER_ROUND * 400) {
                Ok(p) => p,
                Err(e) => {
                    warn!("cannot read the audit journal: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if pending.is_empty() {
                let _ = tokio::time::timeout(Duration::from_millis(500), self.inner.audit_ready.notified()).await;
                continue;
            }
            let mut entries = Vec::with_capacity(pending.len());
            for (seq, p) in pending {
                match p {
                    PendingAudit::Entry(e) => entries.push((seq, e)),
                    PendingAudit::Unreadable(raw) => {
                        warn!(
                            seq,
                            "an audit journal entry does not decode; quarantined, a placeholder is anchored"
                        );
                        if let Err(e) = self.inner.journal.quarantine(seq, raw.clone()).await {
                            warn!("cannot quarantine an audit entry: {e}");
                        }
                        self.report_audit_metrics();
                        entries.push((seq, self.placeholder(&raw)));
                    }
                }
            }
            let chunks = fit(&entries, |(_, e)| medledger_types::codec::Encode::encode(e).len());
            for range in chunks.into_iter().take(AUDIT_TXS_PER_ROUND) {
                let body = medledger_ledger::audit::record::AuditRecord {
                    node_org: self.org().clone(),
                    first_seq: entries[range.start].0,
                    entries: entries[range].iter().map(|(_, e)| e.clone()).collect(),
                };
                match self.inner.node.submit_own(
                    &self.inner.service.key,
                    medledger_ledger::audit::record::KIND,
                    medledger_types::codec::Encode::encode(&body),
                ) {
                    Ok(a) => in_flight.extend(a.committed),
                    Err(e) => {
                        warn!("cannot submit audit entries: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }
}

/// A fresh audit entry for `org/member`, with a random id, stamped now; the caller fills
/// in what the access touched.
pub(super) fn fresh_entry(org: &OrgId, member: &MemberId, action: AuditAction) -> AuditEntry {
    let mut id = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    AuditEntry {
        id: Hash32(id),
        at: now_ms(),
        actor_org: org.clone(),
        actor_member: member.clone(),
        action,
        outcome: AuditOutcome::Allowed,
        purpose: None,
        break_glass: false,
        patient: None,
        resource_type: None,
        record_id: None,
        version: None,
    }
}
