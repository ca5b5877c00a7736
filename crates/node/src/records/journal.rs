//! The custodian's own durable bookkeeping, in `data/custody.redb`:
//!
//! - `versions`: per record version, its data key wrapped under the node's key-encryption
//!   key, its ciphertext hash and the few facts search needs without decrypting;
//! - `identifiers`: keyed hash of `Type|system|value` → id, for conditional creates and
//!   references;
//! - `audit_queue`: audit entries written before a response and not yet seen in a block,
//!   by the node's audit sequence number (see `audit.record`);
//! - `audit_notes`: what stays off the ledger about an access (a break-glass reason).
//!
//! All writes go through one writer thread that commits many callers' operations in one
//! fsync'd redb transaction (group commit): a caller's `await` returns once its write is
//! durable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;

use medledger_ledger::audit::AuditEntry;
use medledger_types::Hash32;
use medledger_types::codec::{Decode, Encode};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::CustodyError;

const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("versions");
const IDENTIFIERS: TableDefinition<&str, &str> = TableDefinition::new("identifiers");
const AUDIT_PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_queue");
const AUDIT_NOTES: TableDefinition<&[u8], &str> = TableDefinition::new("audit_notes");

/// What the custodian keeps about one version it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalVersion {
    /// The data key, sealed with the node's key-encryption key. Deleting it erases the
    /// version for good.
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Hash32,
    pub patient: Option<String>,
    pub last_updated_ms: u64,
}

pub fn version_key(resource_type: &str, id: &str, version: u64) -> String {
    format!("{resource_type}/{id}/{version:020}")
}

/// Identifiers are business numbers (an MRN, an NPI): they are kept only as a keyed hash,
/// so the journal holds no identifier in the clear.
pub fn identifier_key(secret: &[u8; 32], resource_type: &str, system: Option<&str>, value: &str) -> String {
    let text = format!("{resource_type}|{}|{value}", system.unwrap_or(""));
    Hash32::digest(&[b"medledger/identifier/v1\0", secret, text.as_bytes()]).to_hex()
}

enum Op {
    PutVersion(String, LocalVersion),
    PutIdentifier(String, String),
    AuditAppend(AuditEntry, Option<String>),
    /// Entries numbered below this are in a block.
    AuditAnchored(u64),
    DeleteVersions(Vec<String>),
}

struct Job {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), CustodyError>>,
}

#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
    writer: std_mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

fn storage<E: std::fmt::Display>(e: E) -> CustodyError {
    CustodyError::Storage(e.to_string())
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, CustodyError> {
        let db = Arc::new(Database::create(path).map_err(storage)?);
        {
            let w = db.begin_write().map_err(storage)?;
            w.open_table(VERSIONS).map_err(storage)?;
            w.open_table(IDENTIFIERS).map_err(storage)?;
            w.open_table(AUDIT_PENDING).map_err(storage)?;
            w.open_table(AUDIT_NOTES).map_err(storage)?;
            w.commit().map_err(storage)?;
        }
        let counters = {
            let r = db.begin_read().map_err(storage)?;
            let t = r.open_table(AUDIT_PENDING).map_err(storage)?;
            let next = t.last().map_err(storage)?.map_or(0, |(k, _)| k.value() + 1);
            Arc::new(Counters {
                pending: AtomicU64::new(t.len().map_err(storage)?),
                next_seq: AtomicU64::new(next),
            })
        };
        let (writer, jobs) = std_mpsc::channel::<Job>();
        let (db2, counters2) = (db.clone(), counters.clone());
        std::thread::Builder::new()
            .name("custody-journal".into())
            .spawn(move || write_loop(&db2, &jobs, &counters2))
            .map_err(storage)?;
        Ok(Journal { db, writer, counters })
    }

    /// Makes the next audit entry's number at least `next` (the ledger's next expected
    /// number for this node): a node whose journal was lost must not reuse numbers the
    /// ledger has already counted.
    pub fn raise_next_seq(&self, next: u64) {
        self.counters.next_seq.fetch_max(next, Ordering::SeqCst);
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), CustodyError> {
        let (done, rx) = oneshot::channel();
        self.writer
            .send(Job { ops, done })
            .map_err(|_| CustodyError::Storage("the custody journal has stopped".into()))?;
        rx.await
            .map_err(|_| CustodyError::Storage("the custody journal has stopped".into()))?
    }

    pub async fn put_version(
        &self,
        key: String,
        version: LocalVersion,
        identifiers: Vec<(String, String)>,
    ) -> Result<(), CustodyError> {
        let mut ops = vec![Op::PutVersion(key, version)];
        ops.extend(identifiers.into_iter().map(|(k, id)| Op::PutIdentifier(k, id)));
        self.write(ops).await
    }

    /// Durably records audit entries; returns once they survive a crash.
    pub async fn append_audit(&self, entries: Vec<(AuditEntry, Option<String>)>) -> Result<(), CustodyError> {
        self.write(entries.into_iter().map(|(e, note)| Op::AuditAppend(e, note)).collect())
            .await
    }

    /// Forgets pending entries numbered below `upto`: a block now holds them.
    pub async fn audit_anchored(&self, upto: u64) -> Result<(), CustodyError> {
        self.write(vec![Op::AuditAnchored(upto)]).await
    }

    /// Deletes wrapped data keys: the versions can never be decrypted again.
    pub async fn delete_versions(&self, keys: Vec<String>) -> Result<(), CustodyError> {
        self.write(vec![Op::DeleteVersions(keys)]).await
    }

    pub fn version(&self, key: &str) -> Result<Option<LocalVersion>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(VERSIONS).map_err(storage)?;
        match t.get(key).map_err(storage)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(storage),
            None => Ok(None),
        }
    }

    pub fn identifier(&self, key: &str) -> Result<Option<String>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(IDENTIFIERS).map_err(storage)?;
        Ok(t.get(key).map_err(storage)?.map(|v| v.value().to_string()))
    }

    /// Up to `max` audit entries not yet seen in a block, with their sequence numbers,
    /// oldest first. The numbers are consecutive: entries leave the journal oldest first.
    pub fn pending_audit(&self, max: usize) -> Result<Vec<(u64, AuditEntry)>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(AUDIT_PENDING).map_err(storage)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            out.push((k.value(), AuditEntry::decode(v.value()).map_err(storage)?));
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Audit entries written and not yet seen in a block.
    pub fn pending_audit_count(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    pub fn audit_note(&self, id: &Hash32) -> Result<Option<String>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(AUDIT_NOTES).map_err(storage)?;
        Ok(t.get(id.as_bytes().as_slice())
            .map_err(storage)?
            .map(|v| v.value().to_string()))
    }
}

struct Counters {
    /// Entries in `audit_queue`, kept by the writer.
    pending: AtomicU64,
    /// The sequence number the next audit entry gets; only the writer takes numbers.
    next_seq: AtomicU64,
}

fn write_loop(db: &Database, jobs: &std_mpsc::Receiver<Job>, counters: &Counters) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let first_seq = counters.next_seq.load(Ordering::SeqCst);
        let result = apply(db, &batch, first_seq).map(|(delta, next_seq)| {
            counters.next_seq.store(next_seq, Ordering::SeqCst);
            if delta >= 0 {
                counters.pending.fetch_add(delta as u64, Ordering::Relaxed);
            } else {
                counters.pending.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
            }
        });
        for job in batch {
            let _ = job.done.send(result.clone());
        }
    }
}

/// Commits a batch, numbering its audit entries from `next_seq`; returns how the number
/// of pending audit entries changed and the next number. Numbers are only taken when the
/// commit succeeds, so the sequence has no holes.
fn apply(db: &Database, batch: &[Job], mut next_seq: u64) -> Result<(i64, u64), CustodyError> {
    let w = db.begin_write().map_err(storage)?;
    let mut delta = 0i64;
    {
        let mut versions = w.open_table(VERSIONS).map_err(storage)?;
        let mut identifiers = w.open_table(IDENTIFIERS).map_err(storage)?;
        let mut pending = w.open_table(AUDIT_PENDING).map_err(storage)?;
        let mut notes = w.open_table(AUDIT_NOTES).map_err(storage)?;
        for op in batch.iter().flat_map(|j| &j.ops) {
            match op {
                Op::PutVersion(k, v) => {
                    let bytes = serde_json::to_vec(v).map_err(storage)?;
                    versions.insert(k.as_str(), bytes.as_slice()).map_err(storage)?;
                }
                Op::PutIdentifier(k, id) => {
                    identifiers.insert(k.as_str(), id.as_str()).map_err(storage)?;
                }
                Op::AuditAppend(e, note) => {
                    pending.insert(next_seq, e.encode().as_slice()).map_err(storage)?;
                    next_seq += 1;
                    delta += 1;
                    if let Some(n) = note {
                        notes.insert(e.id.as_bytes().as_slice(), n.as_str()).map_err(storage)?;
                    }
                }
                Op::AuditAnchored(upto) => loop {
                    let first = pending.first().map_err(storage)?.map(|(k, _)| k.value());
                    match first {
                        Some(k) if k < *upto => {
                            pending.remove(k).map_err(storage)?;
                            delta -= 1;
                        }
                        _ => break,
                    }
                },
                Op::DeleteVersions(keys) => {
                    for k in keys {
                        versions.remove(k.as_str()).map_err(storage)?;
                    }
                }
            }
        }
    }
    w.commit().map_err(storage)?;
    Ok((delta, next_seq))
}
