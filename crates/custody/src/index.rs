//! What every node can know about records and accesses from the ledger alone, indexed
//! for search: record ids by type and by patient pseudonym, and audit entries by patient.
//!
//! Built by reading blocks (from 1 at start, then each new durable block); only
//! successful transactions count. Nothing here is secret: it is what the blocks say.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use medledger_ledger::Payload;
use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_ledger::consent::Purpose;
use medledger_types::{Block, Hash32, Height, LeafIndex, OrgId, PublicKey, TimestampMs};

/// An audit entry as found on the ledger: recorded by the node of `observer` (the reader's
/// node, or the custodian that served the record), or a break-glass declaration.
#[derive(Clone, Debug)]
pub struct AuditOnLedger {
    pub entry: AuditEntry,
    pub observer: OrgId,
    pub tx_hash: Hash32,
    pub height: Height,
    pub leaf_index: LeafIndex,
    pub block_time: TimestampMs,
}

#[derive(Default)]
pub struct Index {
    pub height: Height,
    pub by_type: BTreeMap<String, BTreeSet<String>>,
    pub by_patient: BTreeMap<String, BTreeSet<(String, String)>>,
    pub audits_by_patient: BTreeMap<String, Vec<AuditOnLedger>>,
    /// Per node service key, the next audit sequence number: a node that re-submits
    /// after a crash may repeat entries, and the ledger counts each once.
    pub audit_next: HashMap<PublicKey, u64>,
}

/// What applying a block to the index found that the node itself must act on.
#[derive(Default)]
pub struct Followed {
    /// Our own audit entries numbered below this are now in a block.
    pub our_audits_upto: Option<u64>,
}

impl Index {
    /// Adds one durable block. `ok(i)` tells whether transaction `i` succeeded.
    pub fn apply_block(
        &mut self,
        block: &Block,
        ok: impl Fn(usize) -> bool,
        our_service: Option<&PublicKey>,
    ) -> Followed {
        let mut followed = Followed::default();
        let first_leaf = block.header.log_size.0 - u64::from(block.header.tx_count);
        for (i, tx) in block.txs.iter().enumerate() {
            let t = &tx.tx;
            let interesting =
                matches!(t.kind.0 >> 8, 0x02 | 0x04) || t.kind == medledger_ledger::consent::break_glass::KIND;
            if !interesting || !ok(i) {
                continue;
            }
            let Ok(payload) = Payload::decode(t.kind, &t.body) else {
                continue;
            };
            match payload {
                Payload::RecordsAnchor(p) => {
                    for a in p.anchors {
                        if a.version == 1 {
                            self.by_type
                                .entry(a.resource_type.clone())
                                .or_default()
                                .insert(a.record_id.clone());
                            if let Some(patient) = a.patient {
                                self.by_patient
                                    .entry(patient)
                                    .or_default()
                                    .insert((a.resource_type, a.record_id));
                            }
                        }
                    }
                }
                Payload::AuditRecord(p) => {
                    let hash = tx.hash();
                    let next = self.audit_next.entry(t.signer).or_insert(0);
                    // The ledger accepted this run, so it starts at or below `next`.
                    let end = p.first_seq + p.entries.len() as u64;
                    if our_service == Some(&t.signer) {
                        followed.our_audits_upto = Some(end.max(followed.our_audits_upto.unwrap_or(0)));
                    }
                    let skip = next.saturating_sub(p.first_seq) as usize;
                    *next = (*next).max(end);
                    for entry in p.entries.into_iter().skip(skip) {
                        if let Some(patient) = entry.patient.clone() {
                            self.audits_by_patient.entry(patient).or_default().push(AuditOnLedger {
                                entry,
                                observer: p.node_org.clone(),
                                tx_hash: hash,
                                height: block.header.height,
                                leaf_index: LeafIndex(first_leaf + i as u64),
                                block_time: block.header.timestamp,
                            });
                        }
                    }
                }
                Payload::BreakGlass(p) => {
                    let hash = tx.hash();
                    let entry = AuditEntry {
                        id: hash,
                        at: block.header.timestamp,
                        actor_org: p.reader_org.clone(),
                        actor_member: p.reader_member,
                        action: AuditAction::BreakGlass,
                        outcome: AuditOutcome::Allowed,
                        purpose: Some(Purpose::Treatment),
                        break_glass: true,
                        patient: Some(p.patient.clone()),
                        resource_type: None,
                        record_id: None,
                        version: None,
                    };
                    self.audits_by_patient
                        .entry(p.patient)
                        .or_default()
                        .push(AuditOnLedger {
                            entry,
                            observer: p.reader_org,
                            tx_hash: hash,
                            height: block.header.height,
                            leaf_index: LeafIndex(first_leaf + i as u64),
                            block_time: block.header.timestamp,
                        });
                }
                _ => {}
            }
        }
        self.height = block.header.height;
        followed
    }
}
