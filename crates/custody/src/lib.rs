//! Custody of health records: this node's encrypted record versions, their anchors on the
//! ledger, the access decision, node-to-node transfer, the durable audit journal and
//! erasure.
//!
//! - A version is encrypted with a fresh AES-256-GCM data key and stored in the blob store
//!   under the SHA-256 of its ciphertext. The data key is kept sealed under the node's
//!   key-encryption key; deleting it (and the ciphertext) erases the version
//!   ([`write`]).
//! - Versions are anchored by `records.anchor` transactions signed with the node's service
//!   key, many per transaction; a caller's write returns once its anchor is in a durable
//!   block.
//! - No record is read without a [`Permit`]: the access decision
//!   (`medledger_ledger::consent::policy`) taken on this node's copy of the ledger
//!   ([`access`]). A reader at another organisation gets the ciphertext from the custodian,
//!   which takes the decision again on its own copy, from the ledger alone, audits the
//!   access itself and seals the data key to the reader ([`transfer`]); the reader checks
//!   the ledger hash before it decrypts.
//! - Every access is written to the audit journal (fsync'd) before the caller gets data,
//!   then anchored by `audit.record` transactions; entries still pending at a crash are
//!   anchored after restart ([`audit`]).
//! - Erasure is decided durably first, then receipted on the ledger, then carried out; a
//!   crash at any step is finished at restart ([`erase`]).
#![forbid(unsafe_code)]

mod access;
mod audit;
pub mod blobs;
mod erase;
mod error;
pub mod index;
pub mod journal;
pub mod replay;
mod transfer;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use medledger_ledger::records::{RecordState, VersionAnchor};
use medledger_types::{Hash32, Height, LeafIndex, MemberId, OrgId, TimestampMs};
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use medledger_node::home::{Home, ServiceIdentity};
use medledger_node::node::{CommittedTx, Node, now_ms};

pub use access::{AccessError, Permit};
pub use blobs::{BlobStore, LocalBlobs, MemoryBlobs, S3Blobs};
pub use error::{
    ConflictKind, CustodyError, LedgerError, LimitKind, PeerCause, PeerError, Refusal, RemoteMessage, RequestError,
    StorageError,
};
pub use index::{AuditOnLedger, Index};
pub use journal::{Journal, LocalVersion};
pub use transfer::{
    BEHIND_REASON, FetchAnswer, FetchClaims, FetchItem, FetchRequest, FetchResponse, MAX_BATCH, MAX_REQUEST, Served,
    ServedVersion, parse_request,
};

/// Who is reading or writing, as authenticated by the API (from a token whose key is
/// re-checked against the ledger on every request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub org: OrgId,
    pub member: MemberId,
    pub kind: medledger_ledger::identity::MemberKind,
}

/// A new version to encrypt, store and anchor.
pub struct NewVersion {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub patient: Option<String>,
    pub author: MemberId,
    pub plaintext: Vec<u8>,
    pub last_updated_ms: u64,
    pub identifiers: Vec<(Option<String>, String)>,
    /// The version's search values; `None` for a deleted version (its tombstone).
    pub search: Option<medledger_fhir::index::Indexed>,
}

/// A version's search values as held in memory: the version, and the values' JSON
/// (empty for a deletion).
type CompactValues = (u64, Box<[u8]>);

fn compact(s: &Searchable) -> CompactValues {
    let json = s
        .values
        .as_ref()
        .and_then(|v| serde_json::to_vec(v).ok())
        .unwrap_or_default();
    (s.version, json.into_boxed_slice())
}

/// What a search knows of a record held here without decrypting it: the search values
/// of a version (`None` when that version is a deletion).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Searchable {
    pub version: u64,
    pub values: Option<medledger_fhir::index::Indexed>,
}

/// Where a version's anchor landed.
#[derive(Clone, Copy, Debug)]
pub struct Anchored {
    pub tx_hash: Hash32,
    pub height: Height,
    pub leaf_index: LeafIndex,
}

/// A signed erasure receipt: the `records.erase` transaction and where it landed.
#[derive(Clone, Debug)]
pub struct Erased {
    pub tx_hash: Hash32,
    pub height: Height,
    pub records: usize,
}

/// The custody service of one node; cheap to clone.
#[derive(Clone)]
pub struct Custody {
    inner: Arc<Inner>,
}

struct Inner {
    node: Node,
    service: ServiceIdentity,
    blobs: Arc<dyn BlobStore>,
    journal: Journal,
    index: RwLock<Index>,
    anchors: mpsc::Sender<write::AnchorJob>,
    anchor_rx: Mutex<Option<mpsc::Receiver<write::AnchorJob>>>,
    audit_ready: Notify,
    /// The API base URLs of each other organisation's nodes.
    peers_by_org: BTreeMap<OrgId, Vec<String>>,
    /// How this node calls other nodes (TLS pinned to their node keys when configured).
    peer_clients: transfer::PeerClients,
    /// Highest version reserved per record and not yet anchored.
    reserved: Mutex<HashMap<(String, String), u64>>,
    /// Node-request ids seen, with their expiry (replay protection).
    seen_requests: Mutex<replay::ReplayCache>,
    /// Reader side: a queue per custodian organisation, drained in batches.
    dispatchers: transfer::Dispatchers,
    /// Test mode: serve altered ciphertext to other nodes.
    tamper: bool,
    /// The height the index has absorbed (`None` until it caught up at start).
    indexed: tokio::sync::watch::Sender<Option<Height>>,
    /// The search values of the records held here, by (type, id): decrypted from the
    /// journal at start, kept with every new version. Held as their JSON (empty for a
    /// deleted version) and parsed when a search looks at one, which takes less memory
    /// than the parsed values (see `docs/performance.md`).
    search: RwLock<HashMap<(String, String), CompactValues>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A test-only crash point: with the `test-faults` feature, the process aborts here when
/// `MEDLEDGER_TEST_CRASH_AT` names it (no cleanup, like a SIGKILL). Compiled to nothing
/// otherwise.
pub(crate) fn crash_point(_name: &str) {
    #[cfg(feature = "test-faults")]
    if std::env::var("MEDLEDGER_TEST_CRASH_AT").is_ok_and(|v| v == _name) {
        tracing::error!(point = _name, "TEST MODE: crashing on purpose");
        std::process::abort();
    }
}

/// A test-only lag of the record index: with the `test-faults` feature, the follower waits
/// `MEDLEDGER_TEST_INDEX_LAG_MS` before absorbing new blocks, so tests can show that
/// reads wait for it. Nothing otherwise.
async fn test_index_lag() {
    #[cfg(feature = "test-faults")]
    if let Some(ms) = std::env::var("MEDLEDGER_TEST_INDEX_LAG_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl Custody {
    /// Custody for a node whose home has a service identity; `None` otherwise. `tls`: the
    /// node's TLS identity ([`Home::tls_identity`]), for calls to other nodes.
    pub fn open(
        node: Node,
        home: &Home,
        tls: Option<Arc<medledger_node::tls::TlsIdentity>>,
    ) -> Result<Option<Custody>, CustodyError> {
        let Some(service) = home.service.clone() else {
            return Ok(None);
        };
        std::fs::create_dir_all(home.data_dir()).map_err(StorageError::io(home.data_dir()))?;
        let blobs = blobs::open(home)?;
        let journal = Journal::open(&home.custody_db_path())?;
        let clients = transfer::PeerClients::new(node.clone(), tls);
        Ok(Some(Self::with_parts(node, service, blobs, journal, clients)?))
    }

    fn with_parts(
        node: Node,
        service: ServiceIdentity,
        blobs: Arc<dyn BlobStore>,
        journal: Journal,
        peer_clients: transfer::PeerClients,
    ) -> Result<Custody, CustodyError> {
        // Continue the audit numbering where the ledger is, even if the journal is new.
        let state = node.store().reader()?;
        journal.raise_next_seq(medledger_ledger::audit::record::next_seq(&state, &service.key.public()));
        let mut peers_by_org: BTreeMap<OrgId, Vec<String>> = BTreeMap::new();
        for peer in &node.config().p2p.peers {
            let Some(key) = peer.validator else { continue };
            if let Some(v) = node.genesis().validators.iter().find(|v| v.public_key == key) {
                peers_by_org
                    .entry(v.org.clone())
                    .or_default()
                    .push(peer.api.trim_end_matches('/').to_string());
            }
        }
        let (anchors, anchor_rx) = mpsc::channel(65_536);
        #[cfg(feature = "test-faults")]
        let tamper = std::env::var("MEDLEDGER_TEST_TAMPER_CUSTODY").is_ok_and(|v| v == "1");
        #[cfg(not(feature = "test-faults"))]
        let tamper = false;
        Ok(Custody {
            inner: Arc::new(Inner {
                node,
                service,
                blobs,
                journal,
                index: RwLock::new(Index::default()),
                anchors,
                anchor_rx: Mutex::new(Some(anchor_rx)),
                audit_ready: Notify::new(),
                peers_by_org,
                peer_clients,
                reserved: Mutex::new(HashMap::new()),
                seen_requests: Mutex::new(replay::ReplayCache::default()),
                dispatchers: Mutex::new(HashMap::new()),
                tamper,
                indexed: tokio::sync::watch::channel(None).0,
                search: RwLock::new(HashMap::new()),
            }),
        })
        .and_then(|c| {
            c.load_search_values()?;
            Ok(c)
        })
    }

    /// The AEAD context of a record's sealed search values.
    fn search_aad(&self, resource_type: &str, id: &str) -> Vec<u8> {
        medledger_crypto::bind::bind(
            medledger_crypto::bind::domains::SEARCH_VALUES,
            &[self.org().as_str().as_bytes(), resource_type.as_bytes(), id.as_bytes()],
        )
    }

    /// Seals a version's search values for the journal.
    fn seal_search(&self, resource_type: &str, id: &str, s: &Searchable) -> Result<Vec<u8>, CustodyError> {
        let bytes = serde_json::to_vec(s).map_err(StorageError::from)?;
        Ok(medledger_crypto::envelope::seal(
            &self.inner.service.kek,
            &bytes,
            &self.search_aad(resource_type, id),
        ))
    }

    /// Decrypts every record's search values into memory (at start).
    fn load_search_values(&self) -> Result<(), CustodyError> {
        let mut map = HashMap::new();
        for (key, sealed) in self.inner.journal.search_values()? {
            let Some((t, id)) = key.split_once('/') else { continue };
            let Ok(bytes) = medledger_crypto::envelope::open(&self.inner.service.kek, &sealed, &self.search_aad(t, id))
            else {
                warn!("the search values of a record do not decrypt; it is searched by reading it");
                continue;
            };
            if let Ok(s) = serde_json::from_slice::<Searchable>(&bytes) {
                map.insert((t.to_string(), id.to_string()), compact(&s));
            }
        }
        *self.inner.search.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// What a search knows of a record held here, without decrypting it.
    pub fn searchable(&self, resource_type: &str, id: &str) -> Option<Searchable> {
        let map = self.inner.search.read().unwrap_or_else(|p| p.into_inner());
        let (version, json) = map.get(&(resource_type.to_string(), id.to_string()))?;
        let values = if json.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(json).ok()?)
        };
        Some(Searchable {
            version: *version,
            values,
        })
    }

    fn keep_searchable(&self, resource_type: &str, id: &str, s: &Searchable) {
        let mut map = self.inner.search.write().unwrap_or_else(|p| p.into_inner());
        let key = (resource_type.to_string(), id.to_string());
        // Versions are kept concurrently: the newest wins.
        if map.get(&key).is_none_or(|(old, _)| *old <= s.version) {
            map.insert(key, compact(s));
        }
    }

    fn forget_searchable(&self, records: &[(String, String, u64)]) {
        let mut map = self.inner.search.write().unwrap_or_else(|p| p.into_inner());
        for (t, id, _) in records {
            map.remove(&(t.clone(), id.clone()));
        }
    }

    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    pub fn org(&self) -> &OrgId {
        &self.inner.service.org
    }

    pub fn service_member(&self) -> &MemberId {
        &self.inner.service.member
    }

    /// The node's service key, which signs the organisation's own transactions.
    pub fn service_key(&self) -> &medledger_crypto::Keypair {
        &self.inner.service.key
    }

    /// The other organisations' nodes this node knows (from `p2p.peers`), each with the
    /// base URLs of its API.
    pub fn peer_apis(&self) -> &BTreeMap<OrgId, Vec<String>> {
        &self.inner.peers_by_org
    }

    /// The HTTP client for calls to `org`'s node: over TLS it presents this node's
    /// certificate and accepts only a certificate holding a node key of `org`.
    pub fn peer_client(&self, org: &OrgId) -> Result<reqwest::Client, CustodyError> {
        self.inner.peer_clients.client_for(org)
    }

    /// Starts the ledger follower, the anchor batcher, the audit anchorer, and finishes
    /// erasures a crash interrupted.
    pub fn start(&self) {
        #[cfg(feature = "test-faults")]
        if std::env::var("MEDLEDGER_TEST_POISON_AUDIT").is_ok_and(|v| v == "1") {
            // A journal entry that no longer decodes, as a damaged disk would leave it.
            let journal = self.inner.journal.clone();
            tokio::spawn(async move {
                tracing::warn!("TEST MODE: writing an undecodable audit entry");
                let _ = journal
                    .append_raw_audit_for_test(b"\xffnot an audit entry".to_vec())
                    .await;
            });
        }
        tokio::spawn(self.clone().follow());
        if let Some(rx) = lock(&self.inner.anchor_rx).take() {
            tokio::spawn(self.clone().anchor_loop(rx));
        }
        tokio::spawn(self.clone().audit_loop());
        tokio::spawn(self.clone().resume_erasures());
    }

    /// Checks that the blob store answers and accepts our credentials.
    pub async fn check_storage(&self) -> Result<(), CustodyError> {
        Ok(self.inner.blobs.check().await?)
    }

    /// Waits until the index has caught up with the blocks present at start.
    pub async fn ready(&self) {
        let mut rx = self.inner.indexed.subscribe();
        let _ = rx.wait_for(|r| r.is_some()).await;
    }

    fn state(&self) -> Result<medledger_store::StoreReader, CustodyError> {
        Ok(self.inner.node.store().reader()?)
    }

    pub fn record_state(&self, resource_type: &str, id: &str) -> Result<Option<RecordState>, CustodyError> {
        Ok(medledger_ledger::records::record_state(
            &self.state()?,
            resource_type,
            id,
        ))
    }

    pub fn version_anchor(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<VersionAnchor>, CustodyError> {
        Ok(medledger_ledger::records::version_anchor(
            &self.state()?,
            resource_type,
            id,
            version,
        ))
    }

    /// Whether `actor` is the patient `pseudonym` (the whole identity, on this node's ledger).
    pub fn is_patient(&self, actor: &Actor, pseudonym: &str) -> Result<bool, CustodyError> {
        Ok(medledger_ledger::identity::is_patient(
            &self.state()?,
            &actor.org,
            &actor.member,
            pseudonym,
        ))
    }

    /// Whether this node's organisation holds any record of the patient (erased or not).
    pub fn holds_records_of(&self, patient: &str) -> Result<bool, CustodyError> {
        let state = self.state()?;
        Ok(self.records_of_patient(patient).into_iter().any(|(t, id)| {
            medledger_ledger::records::record_state(&state, &t, &id).is_some_and(|r| &r.custodian == self.org())
        }))
    }

    /// When this node last wrote the version (for `meta.lastUpdated` without decrypting).
    pub fn local_version(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<LocalVersion>, CustodyError> {
        self.inner
            .journal
            .version(&journal::version_key(resource_type, id, version))
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Ids of every record of a type on the ledger, in id order.
    pub fn ids_of_type(&self, resource_type: &str) -> Vec<String> {
        self.index()
            .by_type
            .get(resource_type)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every record of a patient on the ledger, as (type, id).
    pub fn records_of_patient(&self, patient: &str) -> Vec<(String, String)> {
        self.index()
            .by_patient
            .get(patient)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every anchored access to a patient's records, and every break-glass declaration.
    pub fn audits_of_patient(&self, patient: &str) -> Vec<AuditOnLedger> {
        self.index().audits_by_patient.get(patient).cloned().unwrap_or_default()
    }

    /// Other organisations that hold records of this patient (not erased).
    pub fn other_custodians(&self, patient: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .records_of_patient(patient)
            .into_iter()
            .filter_map(|(t, id)| self.record_state(&t, &id).ok().flatten())
            .filter(|s| !s.erased && &s.custodian != self.org())
            .map(|s| s.custodian.to_string())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The hash of the `records.anchor` transaction in block `height` that anchored a version.
    pub fn anchor_tx(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
        height: Height,
    ) -> Result<Option<Hash32>, CustodyError> {
        let reader = self.state()?;
        let Some(block) = reader.block(height)? else {
            return Ok(None);
        };
        for tx in &block.txs {
            if tx.tx.kind != medledger_ledger::records::anchor::KIND {
                continue;
            }
            if let Ok(medledger_ledger::Payload::RecordsAnchor(p)) =
                medledger_ledger::Payload::decode(tx.tx.kind, &tx.tx.body)
                && p.anchors
                    .iter()
                    .any(|a| a.resource_type == resource_type && a.record_id == id && a.version == version)
            {
                return Ok(Some(tx.hash()));
            }
        }
        Ok(None)
    }

    /// Signs and submits one of the node's own transactions and waits for its block.
    /// `Ok` carries the commit whatever its outcome; `Err` means it never reached a block.
    async fn submit_and_wait(
        &self,
        kind: medledger_types::TxKind,
        body: Vec<u8>,
    ) -> Result<(Hash32, CommittedTx), CustodyError> {
        let accepted = self
            .inner
            .node
            .submit_own(&self.inner.service.key, kind, body)
            .map_err(LedgerError::Submit)?;
        let rx = accepted.committed.ok_or(LedgerError::NoCommitReceiver)?;
        let committed = rx
            .await
            .map_err(|_| LedgerError::Stopped)?
            .map_err(LedgerError::Submit)?;
        Ok((accepted.hash, committed))
    }

    async fn follow(self) {
        let mut durable = self.inner.node.durable_height();
        let service = self.inner.service.key.public();
        let mut announced = false;
        loop {
            test_index_lag().await;
            let target = *durable.borrow_and_update();
            let from = lock_index_height(&self.inner.index).0 + 1;
            for h in from..=target.0 {
                let reader = match self.inner.node.store().reader() {
                    Ok(r) => r,
                    Err(e) => {
                        warn!("index: cannot read the store: {e}");
                        break;
                    }
                };
                let Ok(Some(block)) = reader.block(Height(h)) else {
                    warn!(height = h, "index: block is missing");
                    break;
                };
                let first_leaf = block.header.log_size.0 - u64::from(block.header.tx_count);
                let ok = |i: usize| {
                    reader
                        .leaf(LeafIndex(first_leaf + i as u64))
                        .ok()
                        .flatten()
                        .is_some_and(|l| l.outcome.is_ok())
                };
                let followed =
                    self.inner
                        .index
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .apply_block(&block, ok, Some(&service));
                if let Some(upto) = followed.our_audits_upto {
                    if let Err(e) = self.inner.journal.audit_anchored(upto).await {
                        warn!("cannot update the audit journal: {e}");
                    }
                    self.report_audit_metrics();
                }
            }
            let height = lock_index_height(&self.inner.index);
            if !announced {
                announced = true;
                info!(%height, "record index ready");
            }
            self.inner.indexed.send_replace(Some(height));
            if durable.changed().await.is_err() {
                return;
            }
        }
    }

    /// Spends a client assertion id (`jti`) until it expires: `Err(Replayed)` if it was
    /// used before. Durable, so a restart does not open a replay window.
    pub async fn use_assertion(&self, id: String, expires_s: u64, now_s: u64) -> Result<(), CustodyError> {
        self.inner.journal.use_assertion(id, expires_s, now_s).await
    }

    /// Waits (at most [`INDEX_CATCH_UP`]) until the record index has absorbed every block
    /// this node has committed, so that a search, a history, an export or a conditional
    /// write sees everything committed before it was asked (the index follows the
    /// ledger a moment behind). Past that it answers from the index as it is.
    pub async fn caught_up(&self) {
        self.wait_indexed(self.inner.node.head().height, INDEX_CATCH_UP).await
    }

    /// Waits (up to `timeout`) until the index has absorbed `height`.
    async fn wait_indexed(&self, height: Height, timeout: Duration) {
        let mut indexed = self.inner.indexed.subscribe();
        let _ = tokio::time::timeout(timeout, indexed.wait_for(|h| h.is_some_and(|h| h >= height))).await;
    }
}

/// Longest a read of the record index waits for it to absorb the blocks already committed.
const INDEX_CATCH_UP: Duration = Duration::from_secs(5);

fn lock_index_height(index: &RwLock<Index>) -> Height {
    index.read().unwrap_or_else(|p| p.into_inner()).height
}

/// Milliseconds since the epoch, as a plain number.
pub fn now() -> TimestampMs {
    now_ms()
}
