//! Node-to-node record transfer, in batches.
//!
//! The reading node sends the custodian a compact JWS signed with its node key naming one
//! or more record versions (up to [`MAX_BATCH`]), and for each who reads (a member of the
//! reading node's own organisation), why, and what for (read, search, export...), plus the
//! X25519 key to wrap the data keys to. Concurrent reads of the same custodian's records
//! go out together: a dispatcher per custodian keeps at most [`BATCHES_IN_FLIGHT`]
//! requests open and puts everything that queued meanwhile into the next one.
//!
//! The custodian decides and audits; it trusts nothing in the request that its own ledger
//! cannot confirm:
//! - the signing key must be a node key of the claimed organisation (named in genesis or
//!   added by the consortium's vote, `identity::node_key`), not any service key; over TLS
//!   the connection's client certificate must hold a node key of the same organisation;
//! - each reader must be a member of that organisation; the reader's kind, standing and
//!   organisation role, the patient's consents, the purposes the role may claim and any
//!   break-glass declaration are all read from the custodian's ledger
//!   (`consent::policy::decide`): the request only says what is asked;
//! - every item, served or refused, is written to the custodian's own audit journal
//!   before the answer, so the access reaches the patient's log even if the reading node
//!   never records it.
//!
//! It answers each item on its own (a refused item does not spoil the others): the
//! ciphertext and the data key sealed under a batch key that HPKE derives for the reader's
//! key (one setup, RFC 9180 §5.1.1, and a secret export, §5.3, per batch). The reader
//! checks each ciphertext against the ledger anchor before it unwraps and decrypts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_crypto::bind::{bind, domains};
use medledger_crypto::envelope::{self, DataKey};
use medledger_crypto::jws::{self, JwsHeader};
use medledger_crypto::wrap::{self, EncryptionPublicKey};
use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_ledger::consent::Purpose;
use medledger_ledger::consent::policy::Basis;
use medledger_ledger::identity::KeyRecord;
use medledger_ledger::records::{RecordState, VersionAnchor};
use medledger_types::{Hash32, MemberId, OrgId, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::access::{Permit, decide_on, record_aad};
use super::{Custody, CustodyError, PeerCause, PeerError, Refusal, RemoteMessage, RequestError, StorageError, lock};
use medledger_node::node::{Node, now_ms};

/// Most record versions in one request.
pub const MAX_BATCH: usize = 128;
/// Requests one node keeps open to one custodian organisation at a time.
pub const BATCHES_IN_FLIGHT: usize = 4;
/// Longest request token accepted (a full batch is about 40 KiB).
pub const MAX_REQUEST: usize = 128 * 1024;
/// How far in the future a request may expire.
const MAX_LIFETIME_SECS: u64 = 120;
/// Longest break-glass reason passed to the custodian.
pub const MAX_NOTE: usize = 500;
/// The status of a served item in a [`FetchAnswer`].
const SERVED: u16 = 200;
/// HPKE `info` of the batch key.
const TRANSFER_INFO: &[u8] = b"medledger/transfer/v2";
/// How long the custodian waits for its ledger to reach the height the reader decided at
/// (a consent or break-glass declaration the reader has just seen). Within the reader's
/// 10 s request timeout; a validator busy with a burst of blocks can be seconds behind.
const CATCH_UP: Duration = Duration::from_secs(8);
/// A request claiming a height further ahead of the custodian's than this is not waited
/// for (it would only make the custodian wait).
const MAX_HEIGHT_AHEAD: u64 = 100;
/// The reason code of a custodian's `503` when its ledger stayed behind the reader's.
pub const BEHIND_REASON: &str = "behind";
/// How long a reader keeps asking a custodian whose ledger is behind its own (each ask
/// waits up to [`CATCH_UP`] at the custodian).
const BEHIND_RETRY_FOR: Duration = Duration::from_secs(25);
/// The pause before asking such a custodian again.
const BEHIND_PAUSE: Duration = Duration::from_millis(500);

/// What a custodian does with a request whose items it has decided on its ledger at
/// height `mine`, the reader having decided at `claimed`.
#[derive(Debug, PartialEq, Eq)]
enum AfterDecision {
    /// Answer with these decisions.
    Answer,
    /// Wait for the reader's height (at most [`CATCH_UP`]), then decide again.
    WaitFor(u64),
    /// Tell the reader to ask again: nothing decided, served or audited.
    Behind,
}

/// A refusal on a ledger behind the reader's may be the lag, not the policy (a consent or
/// break-glass declaration the reader has seen committed). The custodian waits once for a
/// height close ahead of its own; if its ledger is still behind, it answers "behind" rather
/// than a refusal. A claim further ahead than [`MAX_HEIGHT_AHEAD`] is not believed: the
/// refusal stands and is audited, so a node cannot keep its probes out of the audit log by
/// claiming heights no one has reached.
fn after_decision(refused: bool, mine: u64, claimed: u64, waited: bool) -> AfterDecision {
    if !refused || claimed <= mine || claimed > mine.saturating_add(MAX_HEIGHT_AHEAD) {
        AfterDecision::Answer
    } else if waited {
        AfterDecision::Behind
    } else {
        AfterDecision::WaitFor(claimed)
    }
}

/// One version asked for, by whom, why and what for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchItem {
    /// The reader, `<org>/<member>`, a member of the requesting node's organisation.
    pub sub: String,
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub purpose: Purpose,
    /// The reader asks for break-glass access (opens records only with a declaration on
    /// the custodian's ledger).
    #[serde(default)]
    pub emergency: bool,
    /// What the reader is doing, for the custodian's audit entry.
    pub action: AuditAction,
    /// The break-glass reason, kept in the custodian's journal (never on the ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A search the version must match to be served (a type-level FHIR query string):
    /// the custodian matches it on its search values and answers "no match" (204, no
    /// ciphertext, no audit entry) for a version the reader may read that does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_if: Option<String>,
}

/// The claims of a transfer request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchClaims {
    pub iss: String,
    pub aud: String,
    pub enc: String,
    pub exp: u64,
    pub jti: String,
    /// The reader's committed height when it decided to ask: before refusing an item, the
    /// custodian waits (briefly) until its own ledger has it, so that a consent or a
    /// break-glass declaration the reader has just seen is there too. The custodian still
    /// decides on its own ledger.
    pub height: u64,
    pub items: Vec<FetchItem>,
}

/// A transfer request's claims, checked for shape (not yet for who may ask).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    pub claims: FetchClaims,
    pub issuer: (OrgId, MemberId),
    pub enc: EncryptionPublicKey,
    /// Each item's reader.
    pub readers: Vec<(OrgId, MemberId)>,
}

fn split_member(s: &str) -> Option<(OrgId, MemberId)> {
    let (org, member) = s.split_once('/')?;
    Some((OrgId::new(org).ok()?, MemberId::new(member).ok()?))
}

/// Parses and checks the shape of a transfer request's claims: every field present and of
/// the right type, 1 to [`MAX_BATCH`] items, types and ids valid, notes bounded. Pure, for
/// the fuzzer and for the custodian.
pub fn parse_request(claims: Value) -> Result<FetchRequest, RequestError> {
    let claims: FetchClaims = serde_json::from_value(claims).map_err(|_| RequestError::MalformedClaims)?;
    if claims.items.is_empty() || claims.items.len() > MAX_BATCH {
        return Err(RequestError::ItemCount);
    }
    if claims.jti.is_empty() || claims.jti.len() > 64 {
        return Err(RequestError::Jti);
    }
    let issuer = split_member(&claims.iss).ok_or(RequestError::Issuer)?;
    let enc: EncryptionPublicKey = claims.enc.parse().map_err(|_| RequestError::EncryptionKey)?;
    let mut readers = Vec::with_capacity(claims.items.len());
    for item in &claims.items {
        if !medledger_ledger::records::valid_type(&item.resource_type) || !medledger_ledger::records::valid_id(&item.id)
        {
            return Err(RequestError::TypeOrId);
        }
        if item.version == 0 {
            return Err(RequestError::VersionZero);
        }
        if item.note.as_ref().is_some_and(|n| n.is_empty() || n.len() > MAX_NOTE) {
            return Err(RequestError::Note);
        }
        // The custodian journals the action in its own name: only the reads a transfer
        // serves may be named.
        if !matches!(
            item.action,
            AuditAction::Read
                | AuditAction::Vread
                | AuditAction::History
                | AuditAction::Search
                | AuditAction::Export
                | AuditAction::Verify
        ) {
            return Err(RequestError::Action);
        }
        readers.push(split_member(&item.sub).ok_or(RequestError::Reader)?);
    }
    Ok(FetchRequest {
        claims,
        issuer,
        enc,
        readers,
    })
}

/// The custodian's answer: the HPKE encapsulated key of the batch, and one answer per
/// item, in the order asked.
#[derive(Serialize, Deserialize)]
pub struct FetchResponse {
    pub enc: String,
    pub items: Vec<FetchAnswer>,
}

/// One item's answer: `status` 200 with the ciphertext and the sealed data key, or the
/// HTTP status the refusal would have had on its own (400, 403, 404, 410, 500) and why.
#[derive(Serialize, Deserialize)]
pub struct FetchAnswer {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The custodian's answer to a transfer request before it is put on the wire: the
/// batch's HPKE encapsulated key, and per item, in the order asked, the version and its
/// sealed data key, or why not.
pub struct Served {
    pub enc: Vec<u8>,
    pub items: Vec<Result<ServedVersion, CustodyError>>,
}

/// One version served: its ciphertext, and its data key sealed under the batch key.
pub struct ServedVersion {
    pub ciphertext: Vec<u8>,
    pub wrapped_key: Vec<u8>,
}

impl Served {
    /// The wire answer. `status_of` gives the HTTP status of each refused item (the API
    /// decides statuses); a reader takes 403, 404 and 410 as a refusal, a missing and an
    /// erased version (`error_of`), and anything else as the custodian's failure.
    pub fn into_response(self, status_of: impl Fn(&CustodyError) -> u16) -> FetchResponse {
        let items = self
            .items
            .into_iter()
            .map(|item| match item {
                Ok(v) => FetchAnswer {
                    status: SERVED,
                    ciphertext: Some(B64.encode(v.ciphertext)),
                    wrapped_key: Some(B64.encode(v.wrapped_key)),
                    error: None,
                },
                Err(e) => FetchAnswer {
                    status: status_of(&e),
                    ciphertext: None,
                    wrapped_key: None,
                    error: Some(match &e {
                        CustodyError::Denied(r) => r.to_string(),
                        CustodyError::BadRequest(r) => r.to_string(),
                        other => other.to_string(),
                    }),
                },
            })
            .collect();
        FetchResponse {
            enc: B64.encode(self.enc),
            items,
        }
    }
}

/// The error a reader takes from the status and reason the custodian refused with.
fn error_of(custodian: &OrgId, status: u16, message: String) -> CustodyError {
    let message = RemoteMessage(message);
    match status {
        403 => Refusal::ByCustodian(message).into(),
        204 => CustodyError::NoMatch,
        404 => CustodyError::NotFound,
        410 => CustodyError::Gone,
        _ => peer(custodian, PeerCause::Refused { status, message }),
    }
}

/// The custodian answered that its ledger is behind this node's.
fn is_behind<T>(result: &Result<T, CustodyError>) -> bool {
    matches!(
        result,
        Err(CustodyError::Custodian(PeerError {
            cause: PeerCause::Behind,
            ..
        }))
    )
}

fn peer(custodian: &OrgId, cause: PeerCause) -> CustodyError {
    PeerError {
        org: custodian.clone(),
        cause,
    }
    .into()
}

/// Binds a sealed data key to the version and the reader organisation.
fn transfer_key_aad(resource_type: &str, id: &str, version: u64, reader_org: &OrgId) -> Vec<u8> {
    bind(
        domains::TRANSFER_KEY,
        &[
            resource_type.as_bytes(),
            id.as_bytes(),
            &version.to_le_bytes(),
            reader_org.as_str().as_bytes(),
        ],
    )
}

/// How this node calls other organisations' nodes: over TLS, a client presenting this
/// node's certificate and accepting only a server whose certificate holds a node key of
/// the organisation called; over plain HTTP (a loopback dev network), a plain client.
pub(super) struct PeerClients {
    tls: Option<Arc<medledger_node::tls::TlsIdentity>>,
    node: Node,
    clients: Mutex<HashMap<OrgId, reqwest::Client>>,
}

impl PeerClients {
    pub(super) fn new(node: Node, tls: Option<Arc<medledger_node::tls::TlsIdentity>>) -> PeerClients {
        PeerClients {
            tls,
            node,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn client_for(&self, org: &OrgId) -> Result<reqwest::Client, CustodyError> {
        if let Some(c) = lock(&self.clients).get(org) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64);
        if let Some(tls) = &self.tls {
            let pin = medledger_node::tls::node_pin(self.node.clone(), Some(org.clone()));
            let config =
                medledger_node::tls::client_config(tls, pin).map_err(|e| peer(org, PeerCause::Tls(Arc::new(e))))?;
            builder = builder.use_preconfigured_tls(config);
        }
        let client = builder.build().map_err(|e| peer(org, PeerCause::Client(Arc::new(e))))?;
        lock(&self.clients).insert(org.clone(), client.clone());
        Ok(client)
    }
}

/// A read waiting for its custodian's answer.
pub(super) struct FetchJob {
    item: FetchItem,
    /// The ciphertext hash the ledger anchored.
    expect: Hash32,
    done: oneshot::Sender<Result<Vec<u8>, CustodyError>>,
}

/// The custodian's decision on one requested item.
struct Decided {
    /// The record's state, when this node is its custodian.
    record: Option<RecordState>,
    /// The version's anchor, when the item is allowed.
    anchor: Option<VersionAnchor>,
    basis: Result<Basis, CustodyError>,
}

/// The reader side's per-custodian queues.
pub(super) type Dispatchers = std::sync::Mutex<HashMap<OrgId, mpsc::Sender<FetchJob>>>;

impl Custody {
    /// Reads a version from its custodian; the caller holds a permit from this node's
    /// ledger and has audited the read.
    pub(super) async fn fetch_remote(
        &self,
        permit: &Permit,
        version: u64,
        action: AuditAction,
        note: Option<&str>,
        only_if: Option<&str>,
    ) -> Result<Vec<u8>, CustodyError> {
        let anchor = self
            .version_anchor(permit.resource_type(), permit.id(), version)?
            .ok_or(CustodyError::NotFound)?;
        let actor = permit.actor();
        let custodian = permit.record().custodian.clone();
        let (done, rx) = oneshot::channel();
        let job = FetchJob {
            item: FetchItem {
                sub: format!("{}/{}", actor.org, actor.member),
                resource_type: permit.resource_type().to_string(),
                id: permit.id().to_string(),
                version,
                purpose: permit.purpose(),
                emergency: permit.break_glass(),
                action,
                note: if permit.break_glass() {
                    note.map(|n| n.chars().take(MAX_NOTE / 4).collect())
                } else {
                    None
                },
                only_if: only_if.map(str::to_string),
            },
            expect: anchor.ciphertext,
            done,
        };
        let queue = {
            let mut queues = lock(&self.inner.dispatchers);
            queues
                .entry(custodian.clone())
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(16 * 1024);
                    tokio::spawn(self.clone().dispatch(custodian, rx));
                    tx
                })
                .clone()
        };
        queue
            .send(job)
            .await
            .map_err(|_| peer(&permit.record().custodian, PeerCause::QueueStopped))?;
        rx.await
            .map_err(|_| peer(&permit.record().custodian, PeerCause::Dropped))?
    }

    /// Sends the reads queued for one custodian, batched while earlier batches are out.
    async fn dispatch(self, custodian: OrgId, mut rx: mpsc::Receiver<FetchJob>) {
        let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        while let Some(first) = rx.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let this = self.clone();
            let custodian = custodian.clone();
            tokio::spawn(async move {
                this.fetch_batch(&custodian, jobs).await;
                drop(slot);
            });
        }
    }

    /// One request to the custodian for `jobs`; answers every job.
    async fn fetch_batch(&self, custodian: &OrgId, jobs: Vec<FetchJob>) {
        let deadline = tokio::time::Instant::now() + BEHIND_RETRY_FOR;
        let mut result = self.request_batch(custodian, &jobs).await;
        // A custodian whose ledger is behind this node's decided nothing: ask again (a new
        // request, with this node's height then) until it catches up or time is out.
        while is_behind(&result) && tokio::time::Instant::now() + BEHIND_PAUSE < deadline {
            tokio::time::sleep(BEHIND_PAUSE).await;
            result = self.request_batch(custodian, &jobs).await;
        }
        let mut answers = match result {
            Ok(a) => a.into_iter(),
            Err(e) => {
                for j in jobs {
                    let _ = j.done.send(Err(e.clone()));
                }
                return;
            }
        };
        for job in jobs {
            let result = answers
                .next()
                .unwrap_or_else(|| Err(peer(custodian, PeerCause::MalformedAnswer)));
            let _ = job.done.send(result);
        }
    }

    /// Asks the custodian for `jobs` and opens each answer; the outer error is for the
    /// whole request, the inner ones per item.
    async fn request_batch(
        &self,
        custodian: &OrgId,
        jobs: &[FetchJob],
    ) -> Result<Vec<Result<Vec<u8>, CustodyError>>, CustodyError> {
        let urls = self.inner.peers_by_org.get(custodian).cloned().unwrap_or_default();
        if urls.is_empty() {
            return Err(peer(custodian, PeerCause::NotConfigured));
        }
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
        let claims = FetchClaims {
            iss: format!("{}/{}", self.org(), self.service_member()),
            aud: custodian.to_string(),
            enc: self.inner.service.encryption.public().to_string(),
            exp: now_ms().0 / 1000 + 60,
            jti: hex::encode(jti),
            height: self.inner.node.head().height.0,
            items: jobs.iter().map(|j| j.item.clone()).collect(),
        };
        let claims = serde_json::to_value(&claims).map_err(StorageError::from)?;
        let header = json!({"typ": "JWT", "kid": self.inner.service.key.public().to_string()});
        let token = jws::sign_compact(&header, &claims, &self.inner.service.key);
        let client = self.inner.peer_clients.client_for(custodian)?;
        let mut last = peer(custodian, PeerCause::NoAnswer);
        for url in urls {
            let resp = match client
                .post(format!("{url}/node/v1/records/fetch"))
                .header("content-type", "application/jose")
                .body(token.clone())
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last = peer(
                        custodian,
                        PeerCause::Unreachable {
                            url,
                            source: Arc::new(e),
                        },
                    );
                    continue;
                }
            };
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            if !status.is_success() {
                let error = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .map(|mut v| v["error"].take());
                let reason = error.as_ref().and_then(|e| e["reason"].as_str());
                if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && reason == Some(BEHIND_REASON) {
                    return Err(peer(custodian, PeerCause::Behind));
                }
                let message = error
                    .as_ref()
                    .and_then(|e| e["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| status.to_string());
                return Err(error_of(custodian, status.as_u16(), message));
            }
            let answer: FetchResponse =
                serde_json::from_slice(&body).map_err(|_| peer(custodian, PeerCause::MalformedAnswer))?;
            if answer.items.len() != jobs.len() {
                return Err(peer(custodian, PeerCause::AnswerMismatch));
            }
            let batch_key = B64
                .decode(&answer.enc)
                .ok()
                .and_then(|enc| wrap::batch_key_from(&self.inner.service.encryption, &enc, TRANSFER_INFO).ok());
            return Ok(jobs
                .iter()
                .zip(answer.items)
                .map(|(job, a)| self.open_answer(custodian, job, a, batch_key.as_ref()))
                .collect());
        }
        Err(last)
    }

    /// Checks one answered item against the ledger anchor and decrypts it.
    fn open_answer(
        &self,
        custodian: &OrgId,
        job: &FetchJob,
        a: FetchAnswer,
        batch_key: Option<&DataKey>,
    ) -> Result<Vec<u8>, CustodyError> {
        if a.status != SERVED {
            return Err(error_of(
                custodian,
                a.status,
                a.error.unwrap_or_else(|| format!("status {}", a.status)),
            ));
        }
        let sealed = a
            .ciphertext
            .and_then(|c| B64.decode(c).ok())
            .ok_or_else(|| peer(custodian, PeerCause::MalformedCiphertext))?;
        if Hash32::digest(&[&sealed]) != job.expect {
            return Err(CustodyError::Tampered);
        }
        let wrapped = a
            .wrapped_key
            .and_then(|w| B64.decode(w).ok())
            .ok_or_else(|| peer(custodian, PeerCause::MalformedWrappedKey))?;
        let batch_key = batch_key.ok_or(CustodyError::Tampered)?;
        let i = &job.item;
        let raw = envelope::open(
            batch_key,
            &wrapped,
            &transfer_key_aad(&i.resource_type, &i.id, i.version, self.org()),
        )
        .map_err(|_| CustodyError::Tampered)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| CustodyError::Tampered)?;
        let aad = record_aad(custodian, &i.resource_type, &i.id, i.version);
        medledger_node::metrics::Metrics::add(&self.inner.node.metrics().records_decrypted, 1);
        envelope::open(&DataKey::from_bytes(key), &sealed, &aad).map_err(|_| CustodyError::Tampered)
    }

    /// The custodian's side of a transfer: checks everything against its own ledger,
    /// audits every item, then answers. `peer`: the Ed25519 key of the connection's client
    /// certificate (TLS); `require_peer`: this node serves TLS, so node-to-node requests
    /// must come over a mutually authenticated connection.
    pub async fn serve_fetch(
        &self,
        token: &str,
        peer: Option<PublicKey>,
        require_peer: bool,
    ) -> Result<Served, CustodyError> {
        let (req, signer) = self.check_fetch(token, peer, require_peer)?;
        let claimed = req.claims.height;
        let mut waited = false;
        loop {
            // The height is read before the state the items are decided on, so a block
            // written in between makes `mine` too low, never too high.
            let mine = self.inner.node.head().height.0;
            let decided = self.decide_all(&req, &signer)?;
            let refused = decided.iter().any(|d| d.basis.is_err());
            match after_decision(refused, mine, claimed, waited) {
                AfterDecision::Answer => return self.answer_fetch(req, signer, decided).await,
                AfterDecision::WaitFor(height) => {
                    let mut durable = self.inner.node.durable_height();
                    let target = medledger_types::Height(height);
                    let _ = tokio::time::timeout(CATCH_UP, durable.wait_for(|h| *h >= target)).await;
                    waited = true;
                }
                AfterDecision::Behind => {
                    tracing::warn!(reader = %signer.org, mine, claimed, "a transfer request is ahead of this ledger");
                    return Err(CustodyError::Behind { mine, claimed });
                }
            }
        }
    }

    /// Everything about a transfer request that does not depend on the items: signature,
    /// node key, connection, shape, address, freshness, replay.
    fn check_fetch(
        &self,
        token: &str,
        peer: Option<PublicKey>,
        require_peer: bool,
    ) -> Result<(FetchRequest, KeyRecord), CustodyError> {
        let state = self.state()?;
        let mut signer: Option<KeyRecord> = None;
        let (_, claims) = jws::verify_compact(token, MAX_REQUEST, |h: &JwsHeader| {
            let key: PublicKey = h.kid.as_deref()?.parse().ok()?;
            signer = Some(medledger_ledger::identity::node_key(&state, &key)?);
            Some(key)
        })
        .map_err(Refusal::Signature)?;
        let signer = signer.ok_or(Refusal::NotNodeKey)?;
        match peer {
            Some(k) if medledger_ledger::identity::node_key(&state, &k).is_some_and(|r| r.org == signer.org) => {}
            Some(_) => {
                return Err(Refusal::CertificateOfAnotherOrg.into());
            }
            None if require_peer => {
                return Err(Refusal::NoClientCertificate.into());
            }
            None => {}
        }
        let req = parse_request(claims)?;
        if req.issuer != (signer.org.clone(), signer.member.clone()) {
            return Err(Refusal::IssuerNotSigner.into());
        }
        let c = &req.claims;
        if c.aud != self.org().as_str() {
            return Err(Refusal::OtherAudience.into());
        }
        let now = now_ms().0 / 1000;
        if c.exp <= now || c.exp > now + MAX_LIFETIME_SECS {
            return Err(Refusal::Expired.into());
        }
        if !lock(&self.inner.seen_requests).first_use(format!("{}|{}", c.iss, c.jti), c.exp, now) {
            return Err(CustodyError::Replayed);
        }
        Ok((req, signer))
    }

    /// Decides every item of a checked request on this node's ledger.
    fn decide_all(&self, req: &FetchRequest, signer: &KeyRecord) -> Result<Vec<Decided>, CustodyError> {
        let state = self.state()?;
        Ok(req
            .claims
            .items
            .iter()
            .zip(&req.readers)
            .map(|(item, (org, member))| self.decide_item(&state, &signer.org, org, member, item))
            .collect())
    }

    /// Audits every decided item, then answers: no ciphertext leaves before its entry is
    /// durable.
    async fn answer_fetch(
        &self,
        req: FetchRequest,
        signer: KeyRecord,
        decided: Vec<Decided>,
    ) -> Result<Served, CustodyError> {
        let c = &req.claims;
        let (encapped, batch_key) =
            wrap::batch_key_to(&req.enc, TRANSFER_INFO).map_err(|_| RequestError::UnusableEncryptionKey)?;
        let audits = c
            .items
            .iter()
            .zip(&req.readers)
            .zip(&decided)
            // A version that does not match the reader's search was not accessed: no
            // entry (the reader's node audits the search itself).
            .filter(|(_, d)| !matches!(d.basis, Err(CustodyError::NoMatch)))
            .map(|((item, (org, member)), d)| {
                // The patient is named only when the record is this node's.
                let patient = d.record.as_ref().and_then(|r| r.patient.clone());
                self.custodian_audit(org, member, item, patient, &d.basis)
            })
            .collect();
        self.audit(audits).await?;
        let (batch_key, reader_org) = (&batch_key, &signer.org);
        let items = futures::future::join_all(c.items.iter().zip(decided).map(|(item, d)| async move {
            let (mut sealed, key) = match (d.basis, d.record, d.anchor) {
                (Ok(_), Some(record), Some(anchor)) => {
                    self.held_ciphertext(&record, &anchor, &item.resource_type, &item.id, item.version)
                        .await?
                }
                (Ok(_), _, _) => return Err(CustodyError::NotFound),
                (Err(e), _, _) => return Err(e),
            };
            if self.inner.tamper
                && let Some(b) = sealed.last_mut()
            {
                *b ^= 1;
            }
            let wrapped_key = envelope::seal(
                batch_key,
                key.as_bytes(),
                &transfer_key_aad(&item.resource_type, &item.id, item.version, reader_org),
            );
            Ok(ServedVersion {
                ciphertext: sealed,
                wrapped_key,
            })
        }))
        .await;
        Ok(Served { enc: encapped, items })
    }

    /// Whether a version held here may match `query` (a type-level FHIR query string),
    /// from its search values. Unknown or stale values, or a query this node cannot
    /// parse, match: the reader then decides on the record itself.
    fn matches_search(&self, resource_type: &str, id: &str, version: u64, query: &str) -> bool {
        if query.len() > 8192 {
            return true;
        }
        let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
            return true;
        };
        let Ok(q) = medledger_fhir::search::SearchQuery::parse(resource_type, &pairs) else {
            return true;
        };
        if q.clauses.iter().any(|c| c.chain.is_some()) {
            return true;
        }
        match self.searchable(resource_type, id) {
            Some(s) if s.version == version => s.values.is_some_and(|v| q.matches(&v)),
            _ => true,
        }
    }

    /// The custodian's decision on one item, from its ledger: why it is allowed, or why
    /// not, with the record's state when this node holds it.
    fn decide_item(
        &self,
        state: &medledger_store::StoreReader,
        signer_org: &OrgId,
        org: &OrgId,
        member: &MemberId,
        item: &FetchItem,
    ) -> Decided {
        let record = medledger_ledger::records::record_state(state, &item.resource_type, &item.id)
            .filter(|r| &r.custodian == self.org());
        let basis = (|| {
            if org != signer_org {
                return Err(Refusal::ReaderOfAnotherOrg.into());
            }
            let record = record.as_ref().ok_or(CustodyError::NotFound)?;
            if record.erased || self.being_erased(record.patient.as_deref()) {
                return Err(CustodyError::Gone);
            }
            if item.version > record.latest {
                return Err(CustodyError::NotFound);
            }
            decide_on(
                state,
                org,
                member,
                &item.resource_type,
                &item.id,
                record,
                item.purpose,
                item.emergency,
                now_ms(),
            )
            .map_err(|d| Refusal::Policy(d).into())
            .and_then(|basis| match &item.only_if {
                Some(q) if !self.matches_search(&item.resource_type, &item.id, item.version, q) => {
                    Err(CustodyError::NoMatch)
                }
                _ => Ok(basis),
            })
        })();
        let anchor = basis
            .is_ok()
            .then(|| medledger_ledger::records::version_anchor(state, &item.resource_type, &item.id, item.version));
        Decided {
            record,
            anchor: anchor.flatten(),
            basis,
        }
    }

    /// The custodian's own audit entry for one item it was asked for.
    fn custodian_audit(
        &self,
        org: &OrgId,
        member: &MemberId,
        item: &FetchItem,
        patient: Option<String>,
        decided: &Result<Basis, CustodyError>,
    ) -> (AuditEntry, Option<String>) {
        let mut e = AuditEntry {
            purpose: Some(item.purpose),
            patient,
            resource_type: Some(item.resource_type.clone()),
            record_id: Some(item.id.clone()),
            version: Some(item.version),
            ..super::audit::fresh_entry(org, member, item.action)
        };
        let mut note = None;
        match decided {
            Ok(Basis::BreakGlass) => {
                e.break_glass = true;
                note = item.note.clone();
            }
            Ok(_) => {}
            Err(CustodyError::Denied(_)) => e.outcome = AuditOutcome::Denied,
            Err(_) => e.outcome = AuditOutcome::Failed,
        }
        (e, note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case of the custodian's choice after deciding a request's items.
    #[test]
    fn a_refusal_behind_the_reader_waits_once_then_says_behind() {
        use AfterDecision::*;
        let far = 10 + MAX_HEIGHT_AHEAD;
        let cases = [
            // (refused, mine, claimed, waited) -> what the custodian does
            ((false, 10, 12, false), Answer),       // allowed: no wait
            ((true, 10, 10, false), Answer),        // same height: the refusal is the policy
            ((true, 10, 9, false), Answer),         // the reader is behind: the refusal stands
            ((true, 10, 12, false), WaitFor(12)),   // close ahead: wait for the reader's height
            ((true, 10, 12, true), Behind),         // still behind after the wait: ask again
            ((true, 12, 12, true), Answer),         // caught up, still refused: the policy
            ((false, 10, 12, true), Answer),        // allowed after the wait
            ((true, 10, far, false), WaitFor(far)), // at the limit: waited for
            ((true, 10, far + 1, false), Answer),   // beyond it: not believed, refused and audited
            ((true, 10, far + 1, true), Answer),
            ((true, u64::MAX - 1, u64::MAX, false), WaitFor(u64::MAX)), // no overflow
        ];
        for ((refused, mine, claimed, waited), expected) in cases {
            assert_eq!(
                after_decision(refused, mine, claimed, waited),
                expected,
                "refused {refused}, mine {mine}, claimed {claimed}, waited {waited}"
            );
        }
    }

    #[test]
    fn only_a_behind_answer_is_asked_again() {
        let org = OrgId::new("hospital-a").expect("org");
        assert!(is_behind::<()>(&Err(peer(&org, PeerCause::Behind))));
        assert!(!is_behind::<()>(&Err(peer(&org, PeerCause::NoAnswer))));
        assert!(!is_behind::<()>(&Err(CustodyError::Behind { mine: 1, claimed: 2 })));
        assert!(!is_behind(&Ok(())));
    }
}
