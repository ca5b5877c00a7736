//! The custodian's own durable bookkeeping, in `data/custody.redb`:
//!
//! - `versions`: per record version, its data key wrapped under the node's key-encryption
//!   key, its ciphertext hash and the few facts search needs without decrypting;
//! - `identifiers_v2`: HMAC-SHA-256, under the node's dedicated identifier key, of the
//!   binding of `(type, system, value)` → record id, for conditional creates and
//!   references; `identifiers_by_record` lists each record's keys so that erasure purges
//!   them. No identifier is kept in the clear, and without the key a stolen journal does
//!   not tell whether it holds a given SSN;
//! - `audit_queue`: audit entries written before a response and not yet seen in a block,
//!   by the node's audit sequence number (see `audit.record`); `audit_notes`: what stays
//!   off the ledger about an access (a break-glass reason); `audit_quarantine`: entries
//!   that no longer decode, kept for inspection (a placeholder is anchored in their place
//!   so that numbering goes on);
//! - `erasures`: erasures decided and not yet finished (see [`ErasurePlan`]);
//! - `assertions`: client assertion ids (`jti`) already exchanged for a token, until they
//!   expire, so that a restart does not open a replay window.
//!
//! All writes go through one writer thread that commits many callers' operations in one
//! fsync'd redb transaction (group commit): a caller's `await` returns once its write is
//! durable.

use std::collections::HashSet;
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

use super::{CustodyError, RequestError, StorageError};

const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("versions");
const IDENTIFIERS: TableDefinition<&[u8], &str> = TableDefinition::new("identifiers_v2");
const IDENTIFIERS_BY_RECORD: TableDefinition<&str, &[u8]> = TableDefinition::new("identifiers_by_record");
const AUDIT_PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_queue");
const AUDIT_NOTES: TableDefinition<&[u8], &str> = TableDefinition::new("audit_notes");
const AUDIT_QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_quarantine");
const ERASURES: TableDefinition<&str, &[u8]> = TableDefinition::new("erasures");
/// A record's search values (`medledger_fhir::index`), sealed under the node's
/// key-encryption key, by record key: what a search matches without decrypting records.
/// redb's page cache for the journal (its default is 1 GiB, which a custodian of 100,000
/// records filled: the journal is written once per version and read by key).
const JOURNAL_CACHE_BYTES: usize = 64 * 1024 * 1024;
const SEARCH_VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("search_values");
const ASSERTIONS: TableDefinition<&str, u64> = TableDefinition::new("assertions");
const ASSERTIONS_BY_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("assertions_by_expiry");

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

/// An erasure decided and not yet finished. Written before anything is deleted; from
/// then on the records are not served. The ledger receipt (`records.erase`) is committed
/// next, and only then are the keys and ciphertexts destroyed; a node that restarts
/// finishes what it finds here (see `Custody::resume_erasures`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErasurePlan {
    /// `(type, id, latest version)` of every record erased.
    pub records: Vec<(String, String, u64)>,
    /// The ciphertexts to delete.
    pub ciphertexts: Vec<Hash32>,
}

pub fn version_key(resource_type: &str, id: &str, version: u64) -> String {
    format!("{resource_type}/{id}/{version:020}")
}

fn record_key(resource_type: &str, id: &str) -> String {
    format!("{resource_type}/{id}")
}

/// The keyed hash of a business identifier (an MRN, an NPI, an SSN): HMAC-SHA-256 under
/// the node's identifier key of the unambiguous binding of type, whether a system is
/// given, the system and the value (a missing system and an empty one differ).
pub fn identifier_key(secret: &[u8; 32], resource_type: &str, system: Option<&str>, value: &str) -> [u8; 32] {
    let (present, system): (&[u8], &str) = match system {
        Some(s) => (&[1], s),
        None => (&[0], ""),
    };
    medledger_crypto::bind::keyed_hash(
        secret,
        medledger_crypto::bind::domains::IDENTIFIER,
        &[resource_type.as_bytes(), present, system.as_bytes(), value.as_bytes()],
    )
}

/// An audit entry waiting for a block, as found in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingAudit {
    Entry(AuditEntry),
    /// Stored bytes that no longer decode (a damaged or foreign journal).
    Unreadable(Vec<u8>),
}

enum Op {
    PutVersion(String, LocalVersion),
    /// A record's sealed search values.
    PutSearch(String, Vec<u8>),
    PutIdentifiers(String, Vec<([u8; 32], String)>),
    AuditAppend(Vec<u8>, Hash32, Option<String>),
    /// Entries numbered below this are in a block.
    AuditAnchored(u64),
    Quarantine(u64, Vec<u8>),
    ErasureBegin(String, ErasurePlan),
    /// Deletes the plan's wrapped keys, identifiers and search values, and the plan itself.
    ErasureEnd(String),
    /// Forgets a plan the ledger refused, destroying nothing.
    ErasureCancel(String),
    /// Records an assertion id until it expires; the job fails with `Replayed` if the id
    /// is already recorded and unexpired.
    UseAssertion {
        id: String,
        expires: u64,
        now: u64,
    },
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
    /// The patients whose erasure is decided and unfinished: a copy of the `erasures`
    /// table's keys, asked on every read. A patient is added before the plan is written
    /// and removed only after it is forgotten, so the set never says less than the table.
    erasing: Arc<std::sync::RwLock<HashSet<String>>>,
}

fn storage(e: impl Into<redb::Error>) -> CustodyError {
    StorageError::journal(e).into()
}

fn encoding(e: serde_json::Error) -> CustodyError {
    StorageError::from(e).into()
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, CustodyError> {
        let db = Arc::new(
            Database::builder()
                .set_cache_size(JOURNAL_CACHE_BYTES)
                .create(path)
                .map_err(storage)?,
        );
        {
            let w = db.begin_write().map_err(storage)?;
            w.open_table(VERSIONS).map_err(storage)?;
            w.open_table(IDENTIFIERS).map_err(storage)?;
            w.open_table(IDENTIFIERS_BY_RECORD).map_err(storage)?;
            w.open_table(AUDIT_PENDING).map_err(storage)?;
            w.open_table(AUDIT_NOTES).map_err(storage)?;
            w.open_table(AUDIT_QUARANTINE).map_err(storage)?;
            w.open_table(ERASURES).map_err(storage)?;
            w.open_table(ASSERTIONS).map_err(storage)?;
            w.open_table(ASSERTIONS_BY_EXPIRY).map_err(storage)?;
            w.commit().map_err(storage)?;
        }
        let counters = {
            let r = db.begin_read().map_err(storage)?;
            let t = r.open_table(AUDIT_PENDING).map_err(storage)?;
            let next = t.last().map_err(storage)?.map_or(0, |(k, _)| k.value() + 1);
            let q = r.open_table(AUDIT_QUARANTINE).map_err(storage)?;
            Arc::new(Counters {
                pending: AtomicU64::new(t.len().map_err(storage)?),
                next_seq: AtomicU64::new(next),
                quarantined: AtomicU64::new(q.len().map_err(storage)?),
            })
        };
        let erasing = {
            let r = db.begin_read().map_err(storage)?;
            let t = r.open_table(ERASURES).map_err(storage)?;
            let mut set = HashSet::new();
            for item in t.iter().map_err(storage)? {
                set.insert(item.map_err(storage)?.0.value().to_string());
            }
            Arc::new(std::sync::RwLock::new(set))
        };
        let (writer, jobs) = std_mpsc::channel::<Job>();
        let (db2, counters2) = (db.clone(), counters.clone());
        std::thread::Builder::new()
            .name("custody-journal".into())
            .spawn(move || write_loop(&db2, &jobs, &counters2))
            .map_err(StorageError::io(path))?;
        Ok(Journal {
            db,
            writer,
            counters,
            erasing,
        })
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
            .map_err(|_| StorageError::JournalStopped)?;
        rx.await.map_err(|_| StorageError::JournalStopped)?
    }

    /// Keeps a version's wrapped key and its identifiers' keyed hashes.
    pub async fn put_version(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
        local: LocalVersion,
        identifiers: Vec<[u8; 32]>,
        search: Vec<u8>,
    ) -> Result<(), CustodyError> {
        let mut ops = vec![
            Op::PutVersion(version_key(resource_type, id, version), local),
            Op::PutSearch(record_key(resource_type, id), search),
        ];
        if !identifiers.is_empty() {
            ops.push(Op::PutIdentifiers(
                record_key(resource_type, id),
                identifiers.into_iter().map(|k| (k, id.to_string())).collect(),
            ));
        }
        self.write(ops).await
    }

    /// Durably records audit entries; returns once they survive a crash. Every entry must
    /// encode to bytes the ledger decodes: one that does not is refused here, with
    /// nothing written, so that it can never stop the anchoring of the others.
    pub async fn append_audit(&self, entries: Vec<(AuditEntry, Option<String>)>) -> Result<(), CustodyError> {
        let mut ops = Vec::with_capacity(entries.len());
        for (e, note) in entries {
            let bytes = e.encode();
            if AuditEntry::decode(&bytes).as_ref() != Ok(&e) {
                return Err(RequestError::UnencodableAudit.into());
            }
            ops.push(Op::AuditAppend(bytes, e.id, note));
        }
        self.write(ops).await
    }

    /// Forgets pending entries numbered below `upto`: a block now holds them.
    pub async fn audit_anchored(&self, upto: u64) -> Result<(), CustodyError> {
        self.write(vec![Op::AuditAnchored(upto)]).await
    }

    /// Keeps a copy of an entry that does not decode, for inspection.
    pub async fn quarantine(&self, seq: u64, raw: Vec<u8>) -> Result<(), CustodyError> {
        self.write(vec![Op::Quarantine(seq, raw)]).await
    }

    /// Records an erasure decision: from now on the records are not served.
    pub async fn begin_erasure(&self, patient: &str, plan: ErasurePlan) -> Result<(), CustodyError> {
        let added = self.erasing_set().insert(patient.to_string());
        let written = self.write(vec![Op::ErasureBegin(patient.to_string(), plan)]).await;
        if written.is_err() && added {
            self.erasing_set().remove(patient);
        }
        written
    }

    fn erasing_set(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<String>> {
        self.erasing.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Destroys the wrapped keys and identifier hashes of an erasure whose receipt is
    /// committed, and forgets the plan.
    pub async fn finish_erasure(&self, patient: &str) -> Result<(), CustodyError> {
        self.write(vec![Op::ErasureEnd(patient.to_string())]).await?;
        self.erasing_set().remove(patient);
        Ok(())
    }

    /// Forgets an erasure plan the ledger refused: the records are served again.
    pub async fn finish_erasure_without_destroying(&self, patient: &str) -> Result<(), CustodyError> {
        self.write(vec![Op::ErasureCancel(patient.to_string())]).await?;
        self.erasing_set().remove(patient);
        Ok(())
    }

    /// Erasures decided and not finished.
    pub fn erasures(&self) -> Result<Vec<(String, ErasurePlan)>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(ERASURES).map_err(storage)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            out.push((
                k.value().to_string(),
                serde_json::from_slice(v.value()).map_err(encoding)?,
            ));
        }
        Ok(out)
    }

    /// Whether an erasure of this patient's records is decided and not finished. Asked on
    /// every read, so answered from memory.
    pub fn erasing(&self, patient: &str) -> bool {
        self.erasing
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(patient)
    }

    /// Records a client assertion id until `expires` (seconds); `Err(Replayed)` if it was
    /// already used and has not expired. Durable before it returns.
    pub async fn use_assertion(&self, id: String, expires: u64, now: u64) -> Result<(), CustodyError> {
        self.write(vec![Op::UseAssertion { id, expires, now }]).await
    }

    pub fn version(&self, key: &str) -> Result<Option<LocalVersion>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(VERSIONS).map_err(storage)?;
        match t.get(key).map_err(storage)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(encoding),
            None => Ok(None),
        }
    }

    /// Every record's sealed search values, by record key (`{type}/{id}`).
    pub fn search_values(&self) -> Result<Vec<(String, Vec<u8>)>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = match r.open_table(SEARCH_VALUES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(storage(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn identifier(&self, key: &[u8; 32]) -> Result<Option<String>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(IDENTIFIERS).map_err(storage)?;
        Ok(t.get(key.as_slice()).map_err(storage)?.map(|v| v.value().to_string()))
    }

    /// Up to `max` audit entries not yet seen in a block, with their sequence numbers,
    /// oldest first. The numbers are consecutive: entries leave the journal oldest first.
    pub fn pending_audit(&self, max: usize) -> Result<Vec<(u64, PendingAudit)>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(AUDIT_PENDING).map_err(storage)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let entry = match AuditEntry::decode(v.value()) {
                Ok(e) => PendingAudit::Entry(e),
                Err(_) => PendingAudit::Unreadable(v.value().to_vec()),
            };
            out.push((k.value(), entry));
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

    /// Entries that did not decode and were quarantined.
    pub fn quarantined_count(&self) -> u64 {
        self.counters.quarantined.load(Ordering::Relaxed)
    }

    pub fn audit_note(&self, id: &Hash32) -> Result<Option<String>, CustodyError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(AUDIT_NOTES).map_err(storage)?;
        Ok(t.get(id.as_bytes().as_slice())
            .map_err(storage)?
            .map(|v| v.value().to_string()))
    }

    /// Writes raw bytes as the next audit entry, bypassing the encoding check: only for
    /// tests of the quarantine.
    #[cfg(any(test, feature = "test-faults"))]
    pub async fn append_raw_audit_for_test(&self, raw: Vec<u8>) -> Result<(), CustodyError> {
        self.write(vec![Op::AuditAppend(raw, Hash32::ZERO, None)]).await
    }
}

struct Counters {
    /// Entries in `audit_queue`, kept by the writer.
    pending: AtomicU64,
    /// The sequence number the next audit entry gets; only the writer takes numbers.
    next_seq: AtomicU64,
    quarantined: AtomicU64,
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
        match apply(db, &batch, first_seq) {
            Ok(done) => {
                counters.next_seq.store(done.next_seq, Ordering::SeqCst);
                if done.pending_delta >= 0 {
                    counters.pending.fetch_add(done.pending_delta as u64, Ordering::Relaxed);
                } else {
                    counters
                        .pending
                        .fetch_sub(done.pending_delta.unsigned_abs(), Ordering::Relaxed);
                }
                counters.quarantined.fetch_add(done.quarantined, Ordering::Relaxed);
                for (job, replayed) in batch.into_iter().zip(done.replayed) {
                    let _ = job
                        .done
                        .send(if replayed { Err(CustodyError::Replayed) } else { Ok(()) });
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// What a committed batch changed.
struct Applied {
    pending_delta: i64,
    next_seq: u64,
    quarantined: u64,
    /// Per job: its assertion id was already used.
    replayed: Vec<bool>,
}

/// Commits a batch, numbering its audit entries from `next_seq`. Numbers are only taken
/// when the commit succeeds, so the sequence has no holes.
fn apply(db: &Database, batch: &[Job], mut next_seq: u64) -> Result<Applied, CustodyError> {
    let w = db.begin_write().map_err(storage)?;
    let mut delta = 0i64;
    let mut quarantined = 0u64;
    let mut replayed = vec![false; batch.len()];
    {
        let mut versions = w.open_table(VERSIONS).map_err(storage)?;
        let mut identifiers = w.open_table(IDENTIFIERS).map_err(storage)?;
        let mut by_record = w.open_table(IDENTIFIERS_BY_RECORD).map_err(storage)?;
        let mut pending = w.open_table(AUDIT_PENDING).map_err(storage)?;
        let mut notes = w.open_table(AUDIT_NOTES).map_err(storage)?;
        let mut quarantine = w.open_table(AUDIT_QUARANTINE).map_err(storage)?;
        let mut erasures = w.open_table(ERASURES).map_err(storage)?;
        let mut assertions = w.open_table(ASSERTIONS).map_err(storage)?;
        let mut by_expiry = w.open_table(ASSERTIONS_BY_EXPIRY).map_err(storage)?;
        let mut search = w.open_table(SEARCH_VALUES).map_err(storage)?;
        for (j, job) in batch.iter().enumerate() {
            for op in &job.ops {
                match op {
                    Op::PutVersion(k, v) => {
                        let bytes = serde_json::to_vec(v).map_err(encoding)?;
                        versions.insert(k.as_str(), bytes.as_slice()).map_err(storage)?;
                    }
                    Op::PutSearch(record, sealed) => {
                        search.insert(record.as_str(), sealed.as_slice()).map_err(storage)?;
                    }
                    Op::PutIdentifiers(record, keys) => {
                        let mut all: Vec<u8> = by_record
                            .get(record.as_str())
                            .map_err(storage)?
                            .map(|v| v.value().to_vec())
                            .unwrap_or_default();
                        for (k, id) in keys {
                            identifiers.insert(k.as_slice(), id.as_str()).map_err(storage)?;
                            if !all.chunks(32).any(|c| c == k.as_slice()) {
                                all.extend_from_slice(k);
                            }
                        }
                        by_record.insert(record.as_str(), all.as_slice()).map_err(storage)?;
                    }
                    Op::AuditAppend(bytes, id, note) => {
                        pending.insert(next_seq, bytes.as_slice()).map_err(storage)?;
                        next_seq += 1;
                        delta += 1;
                        if let Some(n) = note {
                            notes.insert(id.as_bytes().as_slice(), n.as_str()).map_err(storage)?;
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
                    Op::Quarantine(seq, raw) => {
                        if quarantine.insert(*seq, raw.as_slice()).map_err(storage)?.is_none() {
                            quarantined += 1;
                        }
                    }
                    Op::ErasureBegin(patient, plan) => {
                        let bytes = serde_json::to_vec(plan).map_err(encoding)?;
                        erasures.insert(patient.as_str(), bytes.as_slice()).map_err(storage)?;
                    }
                    Op::ErasureEnd(patient) => {
                        let plan: Option<ErasurePlan> = erasures
                            .remove(patient.as_str())
                            .map_err(storage)?
                            .map(|v| serde_json::from_slice(v.value()))
                            .transpose()
                            .map_err(encoding)?;
                        for (t, id, _) in plan.map(|p| p.records).unwrap_or_default() {
                            // Every version kept, also those anchored after the plan was
                            // made (while the decision was being taken).
                            let (first, last) = (version_key(&t, &id, 0), version_key(&t, &id, u64::MAX));
                            let kept = versions
                                .range(first.as_str()..=last.as_str())
                                .map_err(storage)?
                                .map(|e| e.map(|(k, _)| k.value().to_string()))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(storage)?;
                            for k in kept {
                                versions.remove(k.as_str()).map_err(storage)?;
                            }
                            let keys = by_record
                                .remove(record_key(&t, &id).as_str())
                                .map_err(storage)?
                                .map(|v| v.value().to_vec())
                                .unwrap_or_default();
                            for k in keys.chunks(32) {
                                identifiers.remove(k).map_err(storage)?;
                            }
                            search.remove(record_key(&t, &id).as_str()).map_err(storage)?;
                        }
                    }
                    Op::ErasureCancel(patient) => {
                        erasures.remove(patient.as_str()).map_err(storage)?;
                    }
                    Op::UseAssertion { id, expires, now } => {
                        // Sweep what has expired, oldest first.
                        loop {
                            let first = by_expiry
                                .first()
                                .map_err(storage)?
                                .map(|(k, _)| (k.value().0, k.value().1.to_string()));
                            match first {
                                Some((exp, old)) if exp <= *now => {
                                    by_expiry.remove((exp, old.as_str())).map_err(storage)?;
                                    assertions.remove(old.as_str()).map_err(storage)?;
                                }
                                _ => break,
                            }
                        }
                        let seen = assertions.get(id.as_str()).map_err(storage)?.map(|v| v.value());
                        match seen {
                            Some(exp) if exp > *now => replayed[j] = true,
                            _ => {
                                assertions.insert(id.as_str(), *expires).map_err(storage)?;
                                by_expiry.insert((*expires, id.as_str()), ()).map_err(storage)?;
                            }
                        }
                    }
                }
            }
        }
    }
    w.commit().map_err(storage)?;
    Ok(Applied {
        pending_delta: delta,
        next_seq,
        quarantined,
        replayed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_ledger::audit::{AuditAction, AuditOutcome};
    use medledger_types::{MemberId, OrgId, TimestampMs};

    fn entry(record: &str) -> AuditEntry {
        AuditEntry {
            id: Hash32::digest(&[record.as_bytes()]),
            at: TimestampMs(1),
            actor_org: OrgId::new("org").unwrap(),
            actor_member: MemberId::new("m").unwrap(),
            action: AuditAction::Read,
            outcome: AuditOutcome::Allowed,
            purpose: None,
            break_glass: false,
            patient: None,
            resource_type: Some("Patient".into()),
            record_id: Some(record.into()),
            version: None,
        }
    }

    #[tokio::test]
    async fn an_entry_the_ledger_cannot_decode_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("c.redb")).unwrap();
        let long = "a".repeat(65);
        let err = j
            .append_audit(vec![(entry("ok"), None), (entry(&long), None)])
            .await
            .unwrap_err();
        assert!(
            matches!(err, CustodyError::BadRequest(RequestError::UnencodableAudit)),
            "{err:?}"
        );
        assert!(j.append_audit(vec![(entry("has space"), None)]).await.is_err());
        assert_eq!(j.pending_audit_count(), 0);
        assert!(j.pending_audit(10).unwrap().is_empty());
        j.append_audit(vec![(entry("ok"), None)]).await.unwrap();
        assert_eq!(j.pending_audit(10).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unreadable_stored_entry_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("c.redb")).unwrap();
        j.append_audit(vec![(entry("a"), None)]).await.unwrap();
        j.append_raw_audit_for_test(b"garbage".to_vec()).await.unwrap();
        j.append_audit(vec![(entry("b"), None)]).await.unwrap();
        let pending = j.pending_audit(10).unwrap();
        assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(matches!(pending[0].1, PendingAudit::Entry(_)));
        assert_eq!(pending[1].1, PendingAudit::Unreadable(b"garbage".to_vec()));
        assert!(matches!(pending[2].1, PendingAudit::Entry(_)));
        j.quarantine(1, b"garbage".to_vec()).await.unwrap();
        j.quarantine(1, b"garbage".to_vec()).await.unwrap();
        assert_eq!(j.quarantined_count(), 1);
    }

    #[tokio::test]
    async fn assertion_ids_are_single_use_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        {
            let j = Journal::open(&path).unwrap();
            j.use_assertion("c|1".into(), 100, 10).await.unwrap();
            assert!(matches!(
                j.use_assertion("c|1".into(), 100, 20).await,
                Err(CustodyError::Replayed)
            ));
            j.use_assertion("c|2".into(), 100, 20).await.unwrap();
        }
        // The writer thread holds the database until its channel closes.
        let j = loop {
            match Journal::open(&path) {
                Ok(j) => break j,
                Err(_) => std::thread::yield_now(),
            }
        };
        assert!(matches!(
            j.use_assertion("c|1".into(), 100, 30).await,
            Err(CustodyError::Replayed)
        ));
        // Expired ids may be used again (and are swept).
        j.use_assertion("c|1".into(), 300, 150).await.unwrap();
    }

    #[tokio::test]
    async fn erasure_purges_keys_identifier_hashes_and_search_values() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("c.redb")).unwrap();
        let secret = [7u8; 32];
        let k = identifier_key(&secret, "Patient", Some("urn:ssn"), "123-45-6789");
        let local = LocalVersion {
            wrapped_key: vec![1, 2, 3],
            ciphertext: Hash32::ZERO,
            patient: Some("p1".into()),
            last_updated_ms: 1,
        };
        j.put_version("Patient", "p1", 1, local.clone(), vec![k], b"sealed".to_vec())
            .await
            .unwrap();
        j.put_version("Patient", "p1", 2, local, vec![k], b"sealed".to_vec())
            .await
            .unwrap();
        assert_eq!(j.identifier(&k).unwrap().as_deref(), Some("p1"));
        assert_eq!(
            j.search_values().unwrap(),
            vec![("Patient/p1".to_string(), b"sealed".to_vec())]
        );
        let plan = ErasurePlan {
            records: vec![("Patient".into(), "p1".into(), 2)],
            ciphertexts: vec![Hash32::ZERO],
        };
        j.begin_erasure("p1", plan.clone()).await.unwrap();
        assert!(j.erasing("p1"));
        assert_eq!(j.erasures().unwrap(), vec![("p1".to_string(), plan)]);
        j.finish_erasure("p1").await.unwrap();
        assert!(!j.erasing("p1"));
        assert_eq!(j.identifier(&k).unwrap(), None);
        assert_eq!(j.version(&version_key("Patient", "p1", 1)).unwrap(), None);
        assert_eq!(j.version(&version_key("Patient", "p1", 2)).unwrap(), None);
        assert!(
            j.search_values().unwrap().is_empty(),
            "search values go with the record"
        );
    }

    #[tokio::test]
    async fn erasure_purges_versions_kept_after_the_plan_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("c.redb")).unwrap();
        let local = LocalVersion {
            wrapped_key: vec![1, 2, 3],
            ciphertext: Hash32::ZERO,
            patient: Some("p1".into()),
            last_updated_ms: 1,
        };
        for (id, v) in [("o1", 1), ("o1", 2), ("o10", 1)] {
            j.put_version("Observation", id, v, local.clone(), vec![], Vec::new())
                .await
                .unwrap();
        }
        let plan = ErasurePlan {
            records: vec![("Observation".into(), "o1".into(), 1)],
            ciphertexts: vec![Hash32::ZERO],
        };
        j.begin_erasure("p1", plan).await.unwrap();
        j.put_version("Observation", "o1", 3, local, vec![], Vec::new())
            .await
            .unwrap();
        j.finish_erasure("p1").await.unwrap();
        for v in 1..=3 {
            assert_eq!(
                j.version(&version_key("Observation", "o1", v)).unwrap(),
                None,
                "version {v}"
            );
        }
        // Another record whose id starts alike is untouched.
        assert!(j.version(&version_key("Observation", "o10", 1)).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_decided_erasure_is_still_refusing_reads_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        let plan = ErasurePlan {
            records: vec![("Patient".into(), "p1".into(), 1)],
            ciphertexts: vec![Hash32::ZERO],
        };
        {
            let j = Journal::open(&path).unwrap();
            j.begin_erasure("p1", plan.clone()).await.unwrap();
            j.begin_erasure("p2", plan).await.unwrap();
            j.finish_erasure_without_destroying("p2").await.unwrap();
        }
        let j = loop {
            match Journal::open(&path) {
                Ok(j) => break j,
                Err(_) => std::thread::yield_now(),
            }
        };
        assert!(j.erasing("p1"));
        assert!(!j.erasing("p2"));
        assert!(!j.erasing("p3"));
    }

    #[test]
    fn identifier_keys_are_unambiguous_and_keyed() {
        let s = [1u8; 32];
        assert_ne!(
            identifier_key(&s, "Patient", Some("a|b"), "c"),
            identifier_key(&s, "Patient", Some("a"), "b|c")
        );
        assert_ne!(
            identifier_key(&s, "Patient", None, "x"),
            identifier_key(&[2u8; 32], "Patient", None, "x")
        );
        assert_ne!(
            identifier_key(&s, "Patient", None, "x"),
            identifier_key(&s, "Patient", Some(""), "x")
        );
    }
}
