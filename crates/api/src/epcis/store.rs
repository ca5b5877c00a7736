//! The EPCIS events this node's organisation captured, kept durably and sealed at rest.
//!
//! - Each event is kept as its JSON-LD rendering ([`super::render`]) with the fields the
//!   query filters on ([`EventIndex`]), sealed with AES-256-GCM under the node's
//!   key-encryption key (the one custody seals records' data keys with), the event's hash
//!   ID as associated data, in `epcis.redb` in the node's data folder. redb commits each
//!   write transaction durably (fsync) before it returns.
//! - Events are written before their `supply.capture` is submitted, and deleted again if
//!   the ledger refuses it; a query serves an event only once the ledger says this
//!   organisation captured it (`supply/event/{hash ID}`), so an event left behind by a
//!   crash between the two is never shown.
//! - Every event is held in memory (decrypted at start) and queries filter there: fine
//!   for one organisation's events on one node up to a few hundred thousand; a larger
//!   repository needs an on-disk index.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use medledger_crypto::envelope::{self, DataKey};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// [`key_of`] (the hex SHA-256 of the hash ID) → sealed [`StoredEvent`] JSON.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("epcis_events");
/// Capture id → the sealed capture job (its JSON, which the capture module defines).
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("epcis_jobs");

/// The fields a query filters on, taken from the parsed event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventIndex {
    pub event_type: String,
    pub action: Option<String>,
    /// Full URIs (CBV words as their CBV 2.0 Web URI).
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// `epcList`, `childEPCs`, `inputEPCList`, `outputEPCList`, as written.
    pub epcs: Vec<String>,
    /// `parentID`, as written.
    pub parent_id: Option<String>,
    /// The class-level identifiers of the quantity lists.
    pub epc_classes: Vec<String>,
    /// The instance EPCs as canonical URNs (what the ledger tracks), parent included.
    pub canonical: Vec<String>,
    /// `eventTime` in milliseconds since 1970.
    pub event_time_ms: i64,
    /// When this node stored it, in milliseconds since 1970.
    pub record_time_ms: i64,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    /// `owning_party` destinations, as written.
    pub destinations: Vec<String>,
}

/// One event held here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// `ni:///sha-256;…?ver=CBV2.0`.
    pub hash_id: String,
    /// The hex SHA-256 inside the hash ID: the ledger's key of the event.
    pub digest: String,
    pub capture_id: String,
    /// The organisation that captured it: a member this node hosts, or (`None`, as
    /// events stored before hosting existed) this node's own organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capturer: Option<medledger_types::OrgId>,
    /// The event in EPCIS 2.0 JSON-LD.
    pub event: Value,
    pub index: EventIndex,
}

#[derive(Debug, thiserror::Error)]
#[error("EPCIS event store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub struct EventStore {
    db: redb::Database,
    kek: Arc<DataKey>,
    /// By [`key_of`], in memory.
    events: RwLock<BTreeMap<String, Arc<StoredEvent>>>,
}

/// Where an event is kept: its digest, or for an error declaration (which has the declared
/// event's hash ID, CBV 2.0 leaving `errorDeclaration` out of the hash) the digest and
/// `/declaration`, so that it never replaces the event it declares erroneous.
pub fn key_of(e: &StoredEvent) -> String {
    if e.event.get("errorDeclaration").is_some() {
        format!("{}/declaration", e.digest)
    } else {
        e.digest.clone()
    }
}

fn aad(digest: &str) -> Vec<u8> {
    [b"medledger epcis event ".as_slice(), digest.as_bytes()].concat()
}

fn job_aad(id: &str) -> Vec<u8> {
    [b"medledger epcis job ".as_slice(), id.as_bytes()].concat()
}

/// A capture job to keep: its id, its JSON, and older jobs' ids to forget with it.
#[derive(Clone, Copy)]
pub struct JobRow<'a> {
    pub id: &'a str,
    pub json: &'a [u8],
    pub forget: &'a [String],
}

impl EventStore {
    /// Opens (or creates) the store at `path` and reads every event into memory.
    pub fn open(path: &Path, kek: Arc<DataKey>) -> Result<EventStore, StoreError> {
        let db = redb::Database::create(path).map_err(err)?;
        let w = db.begin_write().map_err(err)?;
        w.open_table(EVENTS).map_err(err)?;
        w.open_table(JOBS).map_err(err)?;
        w.commit().map_err(err)?;
        let mut events = BTreeMap::new();
        {
            let r = db.begin_read().map_err(err)?;
            let t = r.open_table(EVENTS).map_err(err)?;
            for row in t.iter().map_err(err)? {
                let (k, v) = row.map_err(err)?;
                let key = k.value().to_owned();
                let plain = envelope::open(&kek, v.value(), &aad(&key))
                    .map_err(|_| err(format!("event {key} does not open with this node's key")))?;
                let e: StoredEvent = serde_json::from_slice(&plain).map_err(err)?;
                events.insert(key, Arc::new(e));
            }
        }
        Ok(EventStore {
            db,
            kek,
            events: RwLock::new(events),
        })
    }

    /// Keeps `events` durably (one fsync'd transaction), replacing any with the same hash.
    pub fn put(&self, events: Vec<StoredEvent>) -> Result<(), StoreError> {
        self.put_with_job(events, None)
    }

    /// Keeps `events` and, in the same fsync'd transaction, a capture job (`(id, JSON)`,
    /// see [`EventStore::put_job`]).
    pub fn put_with_job(&self, events: Vec<StoredEvent>, job: Option<JobRow<'_>>) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(err)?;
        {
            let mut t = w.open_table(EVENTS).map_err(err)?;
            for e in &events {
                let plain = serde_json::to_vec(e).map_err(err)?;
                let key = key_of(e);
                let sealed = envelope::seal(&self.kek, &plain, &aad(&key));
                t.insert(key.as_str(), sealed.as_slice()).map_err(err)?;
            }
            if let Some(job) = job {
                self.write_job(&mut w.open_table(JOBS).map_err(err)?, job)?;
            }
        }
        w.commit().map_err(err)?;
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        for e in events {
            map.insert(key_of(&e), Arc::new(e));
        }
        Ok(())
    }

    /// Removes the events of a capture the ledger refused (by [`key_of`]), unless a later
    /// capture (another job) now holds them.
    pub fn remove(&self, capture_id: &str, keys: &[String]) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(err)?;
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        {
            let mut t = w.open_table(EVENTS).map_err(err)?;
            for d in keys {
                if map.get(d).is_some_and(|e| e.capture_id == capture_id) {
                    t.remove(d.as_str()).map_err(err)?;
                    map.remove(d);
                }
            }
        }
        w.commit().map_err(err)?;
        Ok(())
    }

    /// Keeps a capture job durably (one fsync'd transaction), replacing the one with its
    /// id, and forgets the jobs `job.forget` names.
    pub fn put_job(&self, job: JobRow<'_>) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(err)?;
        self.write_job(&mut w.open_table(JOBS).map_err(err)?, job)?;
        w.commit().map_err(err)
    }

    fn write_job(&self, t: &mut redb::Table<'_, &str, &[u8]>, job: JobRow<'_>) -> Result<(), StoreError> {
        let sealed = envelope::seal(&self.kek, job.json, &job_aad(job.id));
        t.insert(job.id, sealed.as_slice()).map_err(err)?;
        for old in job.forget {
            t.remove(old.as_str()).map_err(err)?;
        }
        Ok(())
    }

    /// Every capture job kept, as `(id, JSON)`, in no particular order.
    pub fn jobs(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let r = self.db.begin_read().map_err(err)?;
        let t = r.open_table(JOBS).map_err(err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let id = k.value().to_owned();
            let plain = envelope::open(&self.kek, v.value(), &job_aad(&id))
                .map_err(|_| err(format!("capture job {id} does not open with this node's key")))?;
            out.push((id, plain));
        }
        Ok(out)
    }

    /// Whether an event (not a declaration) with this digest is held.
    pub fn contains(&self, digest: &str) -> bool {
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(digest)
    }

    /// Every event held, ordered by event time then [`key_of`] (the order queries page in,
    /// on every node).
    pub fn all(&self) -> Vec<Arc<StoredEvent>> {
        let mut v: Vec<(i64, String, Arc<StoredEvent>)> = self
            .events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, e)| (e.index.event_time_ms, k.clone(), e.clone()))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v.into_iter().map(|(_, _, e)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(digest: &str, capture_id: &str, event: Value) -> StoredEvent {
        StoredEvent {
            hash_id: format!("ni:///sha-256;{digest}?ver=CBV2.0"),
            digest: digest.to_owned(),
            capture_id: capture_id.to_owned(),
            capturer: None,
            event,
            index: EventIndex {
                event_type: "ObjectEvent".into(),
                action: None,
                biz_step: None,
                disposition: None,
                epcs: Vec::new(),
                parent_id: None,
                epc_classes: Vec::new(),
                canonical: Vec::new(),
                event_time_ms: 0,
                record_time_ms: 0,
                read_point: None,
                biz_location: None,
                destinations: Vec::new(),
            },
        }
    }

    /// Events survive a reopen, sealed (the file holds no plaintext); an error declaration
    /// is kept beside the event it declares, and removing a refused capture's keys leaves
    /// the other capture's event.
    #[test]
    fn events_are_sealed_durable_and_declarations_kept_apart() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("epcis.redb");
        let kek = Arc::new(DataKey::generate());
        let d = "ab".repeat(32);
        let original = stored(
            &d,
            "job-1",
            serde_json::json!({"type": "ObjectEvent", "marker": "plain-text-marker"}),
        );
        let declared = stored(
            &d,
            "job-2",
            serde_json::json!({"type": "ObjectEvent", "errorDeclaration": {}}),
        );
        {
            let s = EventStore::open(&path, kek.clone()).expect("open");
            s.put(vec![original.clone()]).expect("put");
            s.put(vec![declared.clone()]).expect("put");
            assert_eq!(s.all().len(), 2);
            s.remove("job-2", &[key_of(&declared)]).expect("remove");
            assert_eq!(s.all().len(), 1);
        }
        let raw = std::fs::read(&path).expect("file");
        assert!(!raw.windows(17).any(|w| w == b"plain-text-marker"), "sealed at rest");
        let s = EventStore::open(&path, kek).expect("reopen");
        assert_eq!(s.all().as_slice(), [Arc::new(original)].as_slice());
        assert!(s.contains(&d));
        assert!(
            EventStore::open(&path, Arc::new(DataKey::generate())).is_err(),
            "another key opens nothing"
        );
    }

    /// A job is kept with its events in one transaction, replaced by id, forgotten when a
    /// newer one pushes it out, sealed at rest, and read back after a reopen.
    #[test]
    fn capture_jobs_are_sealed_durable_and_forgotten_when_pushed_out() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("epcis.redb");
        let kek = Arc::new(DataKey::generate());
        let row = |id: &'static str, json: &'static [u8], forget: &'static [String]| JobRow { id, json, forget };
        {
            let s = EventStore::open(&path, kek.clone()).expect("open");
            let e = stored(&"cd".repeat(32), "job-1", serde_json::json!({"type": "ObjectEvent"}));
            s.put_with_job(vec![e], Some(row("job-1", b"{\"job-marker\": 1}", &[])))
                .expect("put");
            s.put_job(row("job-1", b"{\"job-marker\": 2}", &[])).expect("replace");
            s.put_job(row("job-2", b"{}", &[])).expect("second");
        }
        let raw = std::fs::read(&path).expect("file");
        assert!(!raw.windows(10).any(|w| w == b"job-marker"), "sealed at rest");
        let s = EventStore::open(&path, kek).expect("reopen");
        let mut jobs = s.jobs().expect("jobs");
        jobs.sort();
        assert_eq!(
            jobs,
            vec![
                ("job-1".to_owned(), b"{\"job-marker\": 2}".to_vec()),
                ("job-2".to_owned(), b"{}".to_vec())
            ]
        );
        assert_eq!(s.all().len(), 1);
        static FORGET: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["job-1".to_owned()]);
        s.put_job(JobRow {
            id: "job-3",
            json: b"{}",
            forget: &FORGET,
        })
        .expect("third");
        let ids: Vec<String> = s.jobs().expect("jobs").into_iter().map(|(id, _)| id).collect();
        assert!(!ids.contains(&"job-1".to_owned()) && ids.len() == 2, "{ids:?}");
    }
}
