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

/// hash ID (hex of the SHA-256) → sealed [`StoredEvent`] JSON.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("epcis_events");

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
    /// By digest (hex), in memory.
    events: RwLock<BTreeMap<String, Arc<StoredEvent>>>,
}

fn aad(digest: &str) -> Vec<u8> {
    [b"medledger epcis event ".as_slice(), digest.as_bytes()].concat()
}

impl EventStore {
    /// Opens (or creates) the store at `path` and reads every event into memory.
    pub fn open(path: &Path, kek: Arc<DataKey>) -> Result<EventStore, StoreError> {
        let db = redb::Database::create(path).map_err(err)?;
        let w = db.begin_write().map_err(err)?;
        w.open_table(EVENTS).map_err(err)?;
        w.commit().map_err(err)?;
        let mut events = BTreeMap::new();
        {
            let r = db.begin_read().map_err(err)?;
            let t = r.open_table(EVENTS).map_err(err)?;
            for row in t.iter().map_err(err)? {
                let (k, v) = row.map_err(err)?;
                let digest = k.value().to_owned();
                let plain = envelope::open(&kek, v.value(), &aad(&digest))
                    .map_err(|_| err(format!("event {digest} does not open with this node's key")))?;
                let e: StoredEvent = serde_json::from_slice(&plain).map_err(err)?;
                events.insert(digest, Arc::new(e));
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
        let w = self.db.begin_write().map_err(err)?;
        {
            let mut t = w.open_table(EVENTS).map_err(err)?;
            for e in &events {
                let plain = serde_json::to_vec(e).map_err(err)?;
                let sealed = envelope::seal(&self.kek, &plain, &aad(&e.digest));
                t.insert(e.digest.as_str(), sealed.as_slice()).map_err(err)?;
            }
        }
        w.commit().map_err(err)?;
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        for e in events {
            map.insert(e.digest.clone(), Arc::new(e));
        }
        Ok(())
    }

    /// Removes the events of a capture the ledger refused, unless a later capture of the
    /// same hash (by another job) now holds them.
    pub fn remove(&self, capture_id: &str, digests: &[String]) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(err)?;
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        {
            let mut t = w.open_table(EVENTS).map_err(err)?;
            for d in digests {
                if map.get(d).is_some_and(|e| e.capture_id == capture_id) {
                    t.remove(d.as_str()).map_err(err)?;
                    map.remove(d);
                }
            }
        }
        w.commit().map_err(err)?;
        Ok(())
    }

    /// Whether an event with this digest is held.
    pub fn contains(&self, digest: &str) -> bool {
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(digest)
    }

    /// Every event held, ordered by event time then digest.
    pub fn all(&self) -> Vec<Arc<StoredEvent>> {
        let mut v: Vec<Arc<StoredEvent>> = self
            .events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.index.event_time_ms, &a.digest).cmp(&(b.index.event_time_ms, &b.digest)));
        v
    }
}
