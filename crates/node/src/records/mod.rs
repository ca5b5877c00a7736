//! Custody of health records: this node's encrypted record versions, their anchors on the
//! ledger, consent checks, node-to-node transfer, the durable audit journal and erasure.
//!
//! - A version is encrypted with a fresh AES-256-GCM data key and stored in the blob store
//!   under the SHA-256 of its ciphertext. The data key is kept sealed under the node's
//!   key-encryption key; deleting it (and the ciphertext) erases the version.
//! - Versions are anchored by `records.anchor` transactions signed with the node's service
//!   key, many per transaction; a caller's write returns once its anchor is in a durable
//!   block.
//! - A reader at another organisation gets the ciphertext from the custodian with the data
//!   key re-wrapped (HPKE) to its own organisation key, after the custodian re-checks
//!   consent on its own copy of the ledger; the reader checks the ledger hash before it
//!   decrypts.
//! - Every access is written to the audit journal (fsync'd) before the caller answers,
//!   then anchored by `audit.record` transactions; entries still pending at a crash are
//!   anchored after restart.

pub mod blobs;
pub mod index;
pub mod journal;
pub mod replay;
mod transfer;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use medledger_crypto::envelope::{self, DataKey};
use medledger_ledger::StateRead;
use medledger_ledger::audit::AuditEntry;
use medledger_ledger::consent::Purpose;
use medledger_ledger::consent::policy::{self, AccessRequest, Basis, Denial};
use medledger_ledger::identity::MemberKind;
use medledger_ledger::records::{RecordState, VersionAnchor};
use medledger_types::{Hash32, Height, LeafIndex, MemberId, OrgId, TimestampMs};
use thiserror::Error;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::home::{Home, ServiceIdentity};
use crate::node::{CommittedTx, Node, now_ms};

pub use blobs::Blobs;
pub use index::{AuditOnLedger, Index};
pub use journal::{Journal, LocalVersion};
pub use transfer::{FetchResponse, refusal};

#[derive(Debug, Error, Clone)]
pub enum CustodyError {
    #[error("custody storage failed: {0}")]
    Storage(String),
    #[error("no such record version")]
    NotFound,
    #[error("this record has been erased")]
    Gone,
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the ledger did not accept the transaction: {0}")]
    Ledger(String),
    #[error("the custodian could not be reached or refused: {0}")]
    Custodian(String),
    #[error("the custodian returned data that does not match the ledger anchor")]
    Tampered,
    #[error("{0}")]
    BadRequest(String),
}

/// Who is reading, as authenticated by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub org: OrgId,
    pub member: MemberId,
    pub kind: MemberKind,
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

/// Anchors that go into one ledger transaction together (one write, or a whole
/// transaction Bundle that fits in [`MAX_BODY`]).
struct AnchorJob {
    anchors: Vec<medledger_ledger::records::anchor::Anchor>,
    done: tokio::sync::oneshot::Sender<Result<Anchored, CustodyError>>,
}

/// Most body bytes of one transaction the node signs: under the protocol's
/// `MAX_TX_BODY`, so that every validator decodes it (about 400 anchors or 350 audit
/// entries).
pub const MAX_BODY: usize = 60 * 1024;

/// Audit transactions submitted together before the audit anchorer waits for their
/// blocks: about 2,800 entries a round, so that a block interval's worth of reads at
/// several thousand a second is anchored in the next blocks.
const AUDIT_TXS_PER_ROUND: usize = 8;

fn anchor_len(a: &medledger_ledger::records::anchor::Anchor) -> usize {
    medledger_types::codec::Encode::encode(a).len()
}

/// Splits items into consecutive runs whose encodings fit in [`MAX_BODY`] together.
fn fit<T>(items: &[T], len: impl Fn(&T) -> usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = len(item);
        if i > start && bytes + n > MAX_BODY - 128 {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// The custody service of one node; cheap to clone.
#[derive(Clone)]
pub struct Custody {
    inner: Arc<Inner>,
}

struct Inner {
    node: Node,
    service: ServiceIdentity,
    blobs: Blobs,
    journal: Journal,
    index: RwLock<Index>,
    anchors: mpsc::Sender<AnchorJob>,
    anchor_rx: Mutex<Option<mpsc::Receiver<AnchorJob>>>,
    audit_ready: Notify,
    http: reqwest::Client,
    /// The API base URLs of each other organisation's nodes.
    peers_by_org: BTreeMap<OrgId, Vec<String>>,
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds a ciphertext to the record version it holds.
fn record_aad(org: &OrgId, resource_type: &str, id: &str, version: u64) -> Vec<u8> {
    format!("medledger/record/v1\0{org}\0{resource_type}\0{id}\0{version}").into_bytes()
}

impl Custody {
    /// Custody for a node whose home has a service identity; `None` otherwise.
    pub fn open(node: Node, home: &Home) -> Result<Option<Custody>, CustodyError> {
        let Some(service) = home.service.clone() else {
            return Ok(None);
        };
        std::fs::create_dir_all(home.data_dir()).map_err(|e| CustodyError::Storage(e.to_string()))?;
        let blobs = match &home.config.fhir.s3 {
            Some(s3) => Blobs::s3(s3)?,
            None if home.config.fhir.blob_dir.is_empty() => Blobs::local(&home.blob_dir())?,
            None => Blobs::local(std::path::Path::new(&home.config.fhir.blob_dir))?,
        };
        let journal = Journal::open(&home.custody_db_path())?;
        Ok(Some(Self::with_parts(node, service, blobs, journal)?))
    }

    pub fn with_parts(
        node: Node,
        service: ServiceIdentity,
        blobs: Blobs,
        journal: Journal,
    ) -> Result<Custody, CustodyError> {
        // Continue the audit numbering where the ledger is, even if the journal is new.
        let state = node
            .store()
            .reader()
            .map_err(|e| CustodyError::Storage(e.to_string()))?;
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
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
                http,
                peers_by_org,
                reserved: Mutex::new(HashMap::new()),
                seen_requests: Mutex::new(replay::ReplayCache::default()),
                dispatchers: Mutex::new(HashMap::new()),
                tamper: std::env::var("MEDLEDGER_TEST_TAMPER_CUSTODY").is_ok_and(|v| v == "1"),
                indexed: tokio::sync::watch::channel(None).0,
            }),
        })
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

    /// Starts the ledger follower, the anchor batcher and the audit anchorer.
    pub fn start(&self) {
        tokio::spawn(self.clone().follow());
        if let Some(rx) = lock(&self.inner.anchor_rx).take() {
            tokio::spawn(self.clone().anchor_loop(rx));
        }
        tokio::spawn(self.clone().audit_loop());
    }

    /// Checks that the blob store answers and accepts our credentials.
    pub async fn check_storage(&self) -> Result<(), CustodyError> {
        self.inner.blobs.check().await
    }

    /// Waits until the index has caught up with the blocks present at start.
    pub async fn ready(&self) {
        let mut rx = self.inner.indexed.subscribe();
        let _ = rx.wait_for(|r| r.is_some()).await;
    }

    fn state(&self) -> Result<medledger_store::StoreReader, CustodyError> {
        self.inner
            .node
            .store()
            .reader()
            .map_err(|e| CustodyError::Storage(e.to_string()))
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

    /// The consent decision for `actor` reading a record, on this node's committed state.
    pub fn decide(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
        record: &RecordState,
        purpose: Purpose,
        break_glass: bool,
    ) -> Result<Result<Basis, Denial>, CustodyError> {
        let state = self.state()?;
        Ok(decide_on(
            &state,
            actor,
            resource_type,
            id,
            record,
            purpose,
            break_glass,
        ))
    }

    /// Reserves the next version of a record this node holds (1 for a new record).
    pub fn reserve_version(&self, resource_type: &str, id: &str, create: bool) -> Result<u64, CustodyError> {
        let current = self.record_state(resource_type, id)?;
        let mut reserved = lock(&self.inner.reserved);
        let key = (resource_type.to_string(), id.to_string());
        let base = match (&current, create) {
            (Some(_), true) => return Err(CustodyError::Conflict("a record with this id already exists".into())),
            (None, true) => 0,
            (None, false) => reserved.get(&key).copied().ok_or(CustodyError::NotFound)?,
            (Some(r), false) => {
                if &r.custodian != self.org() {
                    return Err(CustodyError::Denied(
                        "only the custodian organisation may write new versions of a record".into(),
                    ));
                }
                if r.erased {
                    return Err(CustodyError::Gone);
                }
                r.latest
            }
        };
        let next = reserved.get(&key).copied().unwrap_or(0).max(base) + 1;
        reserved.insert(key, next);
        Ok(next)
    }

    /// Gives back a version reserved by [`Custody::reserve_version`] that will not be written.
    pub fn release_reserved(&self, resource_type: &str, id: &str, version: u64) {
        let mut reserved = lock(&self.inner.reserved);
        let key = (resource_type.to_string(), id.to_string());
        if reserved.get(&key) == Some(&version) {
            reserved.remove(&key);
        }
    }

    /// Encrypts, stores and anchors a version; returns once the anchor is durable.
    pub async fn store_version(&self, v: NewVersion) -> Result<Anchored, CustodyError> {
        self.store_versions(vec![v])
            .await
            .pop()
            .unwrap_or_else(|| Err(CustodyError::Storage("nothing stored".into())))
    }

    /// Encrypts and stores several versions, then anchors them together: in one ledger
    /// transaction when their anchors fit in [`MAX_BODY`] (about 400), otherwise in
    /// consecutive ones.
    pub async fn store_versions(&self, versions: Vec<NewVersion>) -> Vec<Result<Anchored, CustodyError>> {
        let sealed = futures::future::join_all(versions.iter().map(|v| self.seal_and_keep(v))).await;
        let mut results: Vec<Result<Anchored, CustodyError>> = Vec::with_capacity(versions.len());
        let mut ready = Vec::new();
        for (i, r) in sealed.into_iter().enumerate() {
            match r {
                Ok(anchor) => {
                    ready.push((i, anchor));
                    results.push(Err(CustodyError::Ledger("not anchored".into())));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        for range in fit(&ready, |(_, a)| anchor_len(a)) {
            let chunk = &ready[range];
            let (done, rx) = tokio::sync::oneshot::channel();
            let job = AnchorJob {
                anchors: chunk.iter().map(|(_, a)| a.clone()).collect(),
                done,
            };
            let r = match self.inner.anchors.send(job).await {
                Ok(()) => rx
                    .await
                    .unwrap_or_else(|_| Err(CustodyError::Ledger("the node is shutting down".into()))),
                Err(_) => Err(CustodyError::Ledger("the node is shutting down".into())),
            };
            for (i, _) in chunk {
                results[*i] = r.clone();
            }
        }
        for v in &versions {
            self.release_reserved(&v.resource_type, &v.id, v.version);
        }
        results
    }

    /// Encrypts a version, stores the ciphertext and the wrapped key durably; returns its
    /// anchor, not yet submitted.
    async fn seal_and_keep(&self, v: &NewVersion) -> Result<medledger_ledger::records::anchor::Anchor, CustodyError> {
        let org = self.org().clone();
        let aad = record_aad(&org, &v.resource_type, &v.id, v.version);
        let key = DataKey::generate();
        let sealed = envelope::seal(&key, &v.plaintext, &aad);
        let hash = Hash32::digest(&[&sealed]);
        let wrapped_key = envelope::seal(&self.inner.service.kek, key.as_bytes(), &aad);
        let identifiers = v
            .identifiers
            .iter()
            .map(|(system, value)| {
                (
                    journal::identifier_key(
                        self.inner.service.kek.as_bytes(),
                        &v.resource_type,
                        system.as_deref(),
                        value,
                    ),
                    v.id.clone(),
                )
            })
            .collect();
        // The ciphertext and the wrapped key are made durable side by side: nothing is
        // anchored until both are, and a crash in between leaves only unanchored leftovers.
        let keep_key = self.inner.journal.put_version(
            journal::version_key(&v.resource_type, &v.id, v.version),
            LocalVersion {
                wrapped_key,
                ciphertext: hash,
                patient: v.patient.clone(),
                last_updated_ms: v.last_updated_ms,
            },
            identifiers,
        );
        tokio::try_join!(self.inner.blobs.put(&hash, sealed), keep_key)?;
        Ok(medledger_ledger::records::anchor::Anchor {
            resource_type: v.resource_type.clone(),
            record_id: v.id.clone(),
            version: v.version,
            patient: v.patient.clone(),
            ciphertext: hash,
            author: v.author.clone(),
        })
    }

    /// The ciphertext of a version held here, checked against the ledger.
    pub async fn ciphertext(&self, resource_type: &str, id: &str, version: u64) -> Result<Vec<u8>, CustodyError> {
        Ok(self.local_ciphertext(resource_type, id, version).await?.0)
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
        let Some(block) = reader.block(height).map_err(|e| CustodyError::Storage(e.to_string()))? else {
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

    /// A version held here, decrypted after checking its ciphertext against the ledger.
    pub async fn read_local(&self, resource_type: &str, id: &str, version: u64) -> Result<Vec<u8>, CustodyError> {
        let (sealed, key) = self.local_ciphertext(resource_type, id, version).await?;
        let aad = record_aad(self.org(), resource_type, id, version);
        envelope::open(&key, &sealed, &aad)
            .map_err(|_| CustodyError::Storage("a stored version does not decrypt".into()))
    }

    /// The checked ciphertext of a version held here and its data key.
    async fn local_ciphertext(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<(Vec<u8>, DataKey), CustodyError> {
        let record = self.record_state(resource_type, id)?.ok_or(CustodyError::NotFound)?;
        if record.erased {
            return Err(CustodyError::Gone);
        }
        let anchor = self
            .version_anchor(resource_type, id, version)?
            .ok_or(CustodyError::NotFound)?;
        let local = self
            .inner
            .journal
            .version(&journal::version_key(resource_type, id, version))?
            .ok_or(CustodyError::Gone)?;
        if local.ciphertext != anchor.ciphertext {
            return Err(CustodyError::Storage(
                "local copy does not match the ledger anchor".into(),
            ));
        }
        let sealed = self
            .inner
            .blobs
            .get(&anchor.ciphertext)
            .await?
            .ok_or(CustodyError::Gone)?;
        if Hash32::digest(&[&sealed]) != anchor.ciphertext {
            return Err(CustodyError::Storage(
                "stored ciphertext does not match the ledger anchor".into(),
            ));
        }
        let aad = record_aad(self.org(), resource_type, id, version);
        let raw = envelope::open(&self.inner.service.kek, &local.wrapped_key, &aad)
            .map_err(|_| CustodyError::Storage("a data key does not unwrap".into()))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| CustodyError::Storage("a data key has the wrong length".into()))?;
        Ok((sealed, DataKey::from_bytes(bytes)))
    }

    /// Reads a version wherever it is held: here, or at its custodian through a signed
    /// node-to-node request. The caller has already checked consent.
    #[allow(clippy::too_many_arguments)]
    pub async fn read(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
        version: u64,
        record: &RecordState,
        purpose: Purpose,
        break_glass: bool,
    ) -> Result<Vec<u8>, CustodyError> {
        if &record.custodian == self.org() {
            self.read_local(resource_type, id, version).await
        } else {
            self.fetch_remote(actor, resource_type, id, version, record, purpose, break_glass)
                .await
        }
    }

    /// The id of a record this node holds with the given business identifier.
    pub fn resolve_identifier(
        &self,
        resource_type: &str,
        system: Option<&str>,
        value: &str,
    ) -> Result<Option<String>, CustodyError> {
        self.inner.journal.identifier(&journal::identifier_key(
            self.inner.service.kek.as_bytes(),
            resource_type,
            system,
            value,
        ))
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

    /// Ids of every record of a type on the ledger, in id order.
    pub fn ids_of_type(&self, resource_type: &str) -> Vec<String> {
        self.inner
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_type
            .get(resource_type)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every record of a patient on the ledger, as (type, id).
    pub fn records_of_patient(&self, patient: &str) -> Vec<(String, String)> {
        self.inner
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_patient
            .get(patient)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every anchored access to a patient's records.
    pub fn audits_of_patient(&self, patient: &str) -> Vec<AuditOnLedger> {
        self.inner
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .audits_by_patient
            .get(patient)
            .cloned()
            .unwrap_or_default()
    }

    pub fn audit_note(&self, id: &Hash32) -> Result<Option<String>, CustodyError> {
        self.inner.journal.audit_note(id)
    }

    fn report_pending_audit(&self) {
        self.inner.node.metrics().audit_pending.store(
            self.inner.journal.pending_audit_count(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Writes audit entries durably; the caller answers its client only after this.
    pub async fn audit(&self, entries: Vec<(AuditEntry, Option<String>)>) -> Result<(), CustodyError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.journal.append_audit(entries).await?;
        self.report_pending_audit();
        self.inner.audit_ready.notify_one();
        Ok(())
    }

    /// A fresh audit entry for `actor`, stamped now.
    pub fn audit_entry(&self, actor: &Actor, action: medledger_ledger::audit::AuditAction) -> AuditEntry {
        let mut id = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        AuditEntry {
            id: Hash32(id),
            at: now_ms(),
            actor_org: actor.org.clone(),
            actor_member: actor.member.clone(),
            action,
            outcome: medledger_ledger::audit::AuditOutcome::Allowed,
            purpose: None,
            break_glass: false,
            patient: None,
            resource_type: None,
            record_id: None,
            version: None,
        }
    }

    /// Erases every record of `patient` this node holds: destroys the data keys and
    /// ciphertexts, then commits a `records.erase` transaction (the signed receipt).
    pub async fn erase_patient(&self, patient: &str) -> Result<Erased, CustodyError> {
        let mine: Vec<(String, String, RecordState)> = self
            .records_of_patient(patient)
            .into_iter()
            .filter_map(|(t, id)| {
                let s = self.record_state(&t, &id).ok()??;
                (&s.custodian == self.org() && !s.erased).then_some((t, id, s))
            })
            .collect();
        if mine.is_empty() {
            return Err(CustodyError::NotFound);
        }
        let mut keys = Vec::new();
        for (t, id, s) in &mine {
            for v in 1..=s.latest {
                if let Some(anchor) = self.version_anchor(t, id, v)? {
                    self.inner.blobs.delete(&anchor.ciphertext).await?;
                }
                keys.push(journal::version_key(t, id, v));
            }
        }
        self.inner.journal.delete_versions(keys).await?;
        let body = medledger_ledger::records::erase::RecordsErase {
            custodian: self.org().clone(),
            patient: patient.to_string(),
            records: mine.iter().map(|(t, id, _)| (t.clone(), id.clone())).collect(),
        };
        let committed = self
            .submit(
                medledger_ledger::records::erase::KIND,
                medledger_types::codec::Encode::encode(&body),
            )
            .await?;
        info!(records = mine.len(), "erased a patient's records");
        Ok(Erased {
            tx_hash: committed.0,
            height: committed.1.height,
            records: mine.len(),
        })
    }

    /// Signs and submits one of the node's own transactions and waits for its block.
    async fn submit(
        &self,
        kind: medledger_types::TxKind,
        body: Vec<u8>,
    ) -> Result<(Hash32, CommittedTx), CustodyError> {
        let accepted = self
            .inner
            .node
            .submit_own(&self.inner.service.key, kind, body)
            .map_err(|e| CustodyError::Ledger(e.to_string()))?;
        let rx = accepted
            .committed
            .ok_or_else(|| CustodyError::Ledger("no commit receiver".into()))?;
        let committed = rx
            .await
            .map_err(|_| CustodyError::Ledger("the node stopped before the block".into()))?
            .map_err(|e| CustodyError::Ledger(e.to_string()))?;
        if !committed.outcome.is_ok() {
            return Err(CustodyError::Ledger(
                medledger_ledger::describe_outcome(committed.outcome).to_string(),
            ));
        }
        Ok((accepted.hash, committed))
    }

    async fn anchor_loop(self, mut rx: mpsc::Receiver<AnchorJob>) {
        let mut carry: Option<AnchorJob> = None;
        loop {
            let first = match carry.take() {
                Some(j) => j,
                None => match rx.recv().await {
                    Some(j) => j,
                    None => return,
                },
            };
            let mut bytes: usize = first.anchors.iter().map(anchor_len).sum();
            let mut jobs = vec![first];
            // Gather what arrives within a few milliseconds into one transaction; a job
            // is never split, so a Bundle's anchors stay together.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(5);
            while bytes < MAX_BODY - 128 {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(j)) if bytes + j.anchors.iter().map(anchor_len).sum::<usize>() <= MAX_BODY - 128 => {
                        bytes += j.anchors.iter().map(anchor_len).sum::<usize>();
                        jobs.push(j);
                    }
                    Ok(Some(j)) => {
                        carry = Some(j);
                        break;
                    }
                    _ => break,
                }
            }
            let body = medledger_ledger::records::anchor::RecordsAnchor {
                custodian: self.org().clone(),
                anchors: jobs.iter().flat_map(|j| j.anchors.iter().cloned()).collect(),
            };
            let accepted = self.inner.node.submit_own(
                &self.inner.service.key,
                medledger_ledger::records::anchor::KIND,
                medledger_types::codec::Encode::encode(&body),
            );
            tokio::spawn(async move {
                let result = match accepted {
                    Err(e) => Err(CustodyError::Ledger(e.to_string())),
                    Ok(a) => match a.committed {
                        None => Err(CustodyError::Ledger("no commit receiver".into())),
                        Some(rx) => match rx.await {
                            Err(_) => Err(CustodyError::Ledger("the node stopped before the block".into())),
                            Ok(Err(e)) => Err(CustodyError::Ledger(e.to_string())),
                            Ok(Ok(c)) if !c.outcome.is_ok() => Err(CustodyError::Ledger(
                                medledger_ledger::describe_outcome(c.outcome).to_string(),
                            )),
                            Ok(Ok(c)) => Ok(Anchored {
                                tx_hash: a.hash,
                                height: c.height,
                                leaf_index: c.leaf_index,
                            }),
                        },
                    },
                };
                for j in jobs {
                    let _ = j.done.send(result.clone());
                }
            });
        }
    }

    /// Anchors the audit journal: each round submits up to [`AUDIT_TXS_PER_ROUND`]
    /// `audit.record` transactions of pending entries, waits until the follower has seen
    /// their blocks (which removes those entries from the journal), and goes again.
    async fn audit_loop(self) {
        self.report_pending_audit();
        let mut in_flight: Vec<tokio::sync::oneshot::Receiver<Result<CommittedTx, crate::mempool::SubmitError>>> =
            Vec::new();
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
                let mut indexed = self.inner.indexed.subscribe();
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    indexed.wait_for(|h| h.is_some_and(|h| h >= target)),
                )
                .await;
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
            let chunks = fit(&pending, |(_, e)| medledger_types::codec::Encode::encode(e).len());
            for range in chunks.into_iter().take(AUDIT_TXS_PER_ROUND) {
                let body = medledger_ledger::audit::record::AuditRecord {
                    node_org: self.org().clone(),
                    first_seq: pending[range.start].0,
                    entries: pending[range].iter().map(|(_, e)| e.clone()).collect(),
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

    async fn follow(self) {
        let mut durable = self.inner.node.durable_height();
        let service = self.inner.service.key.public();
        let mut announced = false;
        loop {
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
                    self.report_pending_audit();
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
}

fn lock_index_height(index: &RwLock<Index>) -> Height {
    index.read().unwrap_or_else(|p| p.into_inner()).height
}

/// The access decision, on any state.
pub fn decide_on(
    state: &dyn StateRead,
    actor: &Actor,
    resource_type: &str,
    id: &str,
    record: &RecordState,
    purpose: Purpose,
    break_glass: bool,
) -> Result<Basis, Denial> {
    policy::decide(
        state,
        &AccessRequest {
            reader_org: &actor.org,
            reader_member: &actor.member,
            reader_kind: actor.kind,
            resource_type,
            record_id: id,
            patient: record.patient.as_deref(),
            custodian: &record.custodian,
            purpose,
            break_glass,
        },
        now_ms(),
    )
}

/// Milliseconds since the epoch, as a plain number.
pub fn now() -> TimestampMs {
    now_ms()
}
