//! Node-to-node record transfer, in batches.
//!
//! The reading node sends the custodian a compact JWS signed with its service key naming
//! one or more record versions (up to [`MAX_BATCH`]), and for each who reads (a member of
//! the reading node's own organisation) and why, plus the X25519 key to wrap the data keys
//! to. Concurrent reads of the same custodian's records go out together: a dispatcher per
//! custodian keeps at most [`BATCHES_IN_FLIGHT`] requests open and puts everything that
//! queued meanwhile into the next one, so a quiet node sends batches of one and a busy
//! node pays one signature, one HTTP exchange and one HPKE setup for many reads.
//!
//! The custodian trusts nothing in the request that its own ledger cannot confirm: the
//! signing key must be an active service key of the claimed organisation, each reader an
//! active member of it, and consent must allow each read on the custodian's copy of the
//! ledger. It answers each item on its own (a refused item does not spoil the others):
//! the ciphertext and the data key sealed under a batch key that HPKE derives for the
//! reader's key (one setup, §5.1.1, and a secret export, §5.3, per batch). The reader
//! checks each ciphertext against the ledger anchor before it unwraps and decrypts.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_crypto::envelope::{self, DataKey};
use medledger_crypto::jws::{self, JwsHeader};
use medledger_crypto::wrap::{self, EncryptionPublicKey};
use medledger_ledger::StateRead;
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::{KeyRecord, KeyStatus, MemberKind, MemberRecord};
use medledger_ledger::keys;
use medledger_types::codec::Decode;
use medledger_types::{Hash32, MemberId, OrgId, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Actor, Custody, CustodyError, decide_on, lock, record_aad};
use crate::node::now_ms;

/// Most record versions in one request.
pub const MAX_BATCH: usize = 128;
/// Requests one node keeps open to one custodian organisation at a time.
pub const BATCHES_IN_FLIGHT: usize = 4;
/// Longest request token accepted (a full batch is about 40 KiB).
const MAX_REQUEST: usize = 128 * 1024;
/// How far in the future a request may expire.
const MAX_LIFETIME_SECS: u64 = 120;
/// HPKE `info` of the batch key.
const TRANSFER_INFO: &[u8] = b"medledger/transfer/v2";

/// One version asked for, and by whom.
#[derive(Clone, Serialize, Deserialize)]
struct FetchItem {
    sub: String,
    kind: MemberKind,
    resource_type: String,
    id: String,
    version: u64,
    purpose: Purpose,
    break_glass: bool,
}

#[derive(Serialize, Deserialize)]
struct FetchClaims {
    iss: String,
    aud: String,
    enc: String,
    exp: u64,
    jti: String,
    items: Vec<FetchItem>,
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

impl FetchAnswer {
    fn refused(e: &CustodyError) -> FetchAnswer {
        FetchAnswer {
            status: refusal(e).0,
            ciphertext: None,
            wrapped_key: None,
            error: Some(match e {
                CustodyError::Denied(m) | CustodyError::BadRequest(m) => m.clone(),
                other => other.to_string(),
            }),
        }
    }
}

/// The HTTP status and reason code a custodian answers for an error.
pub fn refusal(e: &CustodyError) -> (u16, &'static str) {
    match e {
        CustodyError::NotFound => (404, "not_found"),
        CustodyError::Gone => (410, "erased"),
        CustodyError::Denied(_) => (403, "denied"),
        CustodyError::BadRequest(_) => (400, "bad_request"),
        _ => (500, "internal"),
    }
}

fn error_of(status: u16, message: String) -> CustodyError {
    match status {
        403 => CustodyError::Denied(format!("the custodian refused: {message}")),
        404 => CustodyError::NotFound,
        410 => CustodyError::Gone,
        _ => CustodyError::Custodian(message),
    }
}

/// Binds a sealed data key to the version and the reader organisation.
fn rewrap_aad(resource_type: &str, id: &str, version: u64, reader_org: &OrgId) -> Vec<u8> {
    format!("{resource_type}/{id}/{version}/{reader_org}").into_bytes()
}

fn split_member(s: &str) -> Option<(OrgId, MemberId)> {
    let (org, member) = s.split_once('/')?;
    Some((OrgId::new(org).ok()?, MemberId::new(member).ok()?))
}

/// A read waiting for its custodian's answer.
pub(super) struct FetchJob {
    item: FetchItem,
    /// The ciphertext hash the ledger anchored.
    expect: Hash32,
    /// The custodian organisation, for the record's own binding.
    custodian: OrgId,
    done: oneshot::Sender<Result<Vec<u8>, CustodyError>>,
}

/// The reader side's per-custodian queues.
pub(super) type Dispatchers = std::sync::Mutex<HashMap<OrgId, mpsc::Sender<FetchJob>>>;

impl Custody {
    /// Reads a version from its custodian; the caller has checked consent here.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_remote(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
        version: u64,
        record: &medledger_ledger::records::RecordState,
        purpose: Purpose,
        break_glass: bool,
    ) -> Result<Vec<u8>, CustodyError> {
        let anchor = self
            .version_anchor(resource_type, id, version)?
            .ok_or(CustodyError::NotFound)?;
        let (done, rx) = oneshot::channel();
        let job = FetchJob {
            item: FetchItem {
                sub: format!("{}/{}", actor.org, actor.member),
                kind: actor.kind,
                resource_type: resource_type.to_string(),
                id: id.to_string(),
                version,
                purpose,
                break_glass,
            },
            expect: anchor.ciphertext,
            custodian: record.custodian.clone(),
            done,
        };
        let queue = {
            let mut queues = lock(&self.inner.dispatchers);
            queues
                .entry(record.custodian.clone())
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(16 * 1024);
                    tokio::spawn(self.clone().dispatch(record.custodian.clone(), rx));
                    tx
                })
                .clone()
        };
        queue
            .send(job)
            .await
            .map_err(|_| CustodyError::Custodian("the transfer queue has stopped".into()))?;
        rx.await
            .map_err(|_| CustodyError::Custodian("the transfer was dropped".into()))?
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
        let mut answers = match self.request_batch(custodian, &jobs).await {
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
                .unwrap_or_else(|| Err(CustodyError::Custodian("malformed answer".into())));
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
            return Err(CustodyError::Custodian(format!(
                "no node of {custodian} is configured as a peer"
            )));
        }
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
        let claims = FetchClaims {
            iss: format!("{}/{}", self.org(), self.service_member()),
            aud: custodian.to_string(),
            enc: self.inner.service.encryption.public().to_string(),
            exp: now_ms().0 / 1000 + 60,
            jti: hex::encode(jti),
            items: jobs.iter().map(|j| j.item.clone()).collect(),
        };
        let claims = serde_json::to_value(&claims).map_err(|e| CustodyError::Storage(e.to_string()))?;
        let header = json!({"typ": "JWT", "kid": self.inner.service.key.public().to_string()});
        let token = jws::sign_compact(&header, &claims, &self.inner.service.key);
        let mut last = CustodyError::Custodian("no custodian node answered".into());
        for url in urls {
            let resp = match self
                .inner
                .http
                .post(format!("{url}/node/v1/records/fetch"))
                .header("content-type", "application/jose")
                .body(token.clone())
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last = CustodyError::Custodian(format!("{url}: {e}"));
                    continue;
                }
            };
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            if !status.is_success() {
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| status.to_string());
                return Err(error_of(status.as_u16(), message));
            }
            let answer: FetchResponse =
                serde_json::from_slice(&body).map_err(|_| CustodyError::Custodian("malformed answer".into()))?;
            if answer.items.len() != jobs.len() {
                return Err(CustodyError::Custodian("the answer does not match the request".into()));
            }
            let batch_key = B64
                .decode(&answer.enc)
                .ok()
                .and_then(|enc| wrap::batch_key_from(&self.inner.service.encryption, &enc, TRANSFER_INFO).ok());
            return Ok(jobs
                .iter()
                .zip(answer.items)
                .map(|(job, a)| self.open_answer(job, a, batch_key.as_ref()))
                .collect());
        }
        Err(last)
    }

    /// Checks one answered item against the ledger anchor and decrypts it.
    fn open_answer(
        &self,
        job: &FetchJob,
        a: FetchAnswer,
        batch_key: Option<&DataKey>,
    ) -> Result<Vec<u8>, CustodyError> {
        if a.status != 200 {
            return Err(error_of(
                a.status,
                a.error.unwrap_or_else(|| format!("status {}", a.status)),
            ));
        }
        let sealed = a
            .ciphertext
            .and_then(|c| B64.decode(c).ok())
            .ok_or_else(|| CustodyError::Custodian("malformed ciphertext".into()))?;
        if Hash32::digest(&[&sealed]) != job.expect {
            return Err(CustodyError::Tampered);
        }
        let wrapped = a
            .wrapped_key
            .and_then(|w| B64.decode(w).ok())
            .ok_or_else(|| CustodyError::Custodian("malformed wrapped key".into()))?;
        let batch_key = batch_key.ok_or(CustodyError::Tampered)?;
        let i = &job.item;
        let raw = envelope::open(
            batch_key,
            &wrapped,
            &rewrap_aad(&i.resource_type, &i.id, i.version, self.org()),
        )
        .map_err(|_| CustodyError::Tampered)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| CustodyError::Tampered)?;
        let aad = record_aad(&job.custodian, &i.resource_type, &i.id, i.version);
        envelope::open(&DataKey::from_bytes(key), &sealed, &aad).map_err(|_| CustodyError::Tampered)
    }

    /// The custodian's side of a transfer: checks everything against its own ledger.
    pub async fn serve_fetch(&self, token: &str) -> Result<FetchResponse, CustodyError> {
        let state = self.state()?;
        let mut signer: Option<KeyRecord> = None;
        let (_, claims) = jws::verify_compact(token, MAX_REQUEST, |h: &JwsHeader| {
            let key: PublicKey = h.kid.as_deref()?.parse().ok()?;
            let rec = state
                .get(&keys::key(&key))
                .and_then(|raw| KeyRecord::decode(&raw).ok())?;
            if rec.status != KeyStatus::Active || rec.kind != MemberKind::Service {
                return None;
            }
            signer = Some(rec);
            Some(key)
        })
        .map_err(|e| CustodyError::Denied(format!("request signature: {e}")))?;
        let signer = signer.ok_or_else(|| CustodyError::Denied("unknown signing key".into()))?;
        if medledger_ledger::identity::vote_org::is_suspended(&state, &signer.org) {
            return Err(CustodyError::Denied(
                "the requesting organisation is suspended by the consortium".into(),
            ));
        }
        let c: FetchClaims =
            serde_json::from_value(claims).map_err(|_| CustodyError::BadRequest("malformed request claims".into()))?;
        if c.iss != format!("{}/{}", signer.org, signer.member) {
            return Err(CustodyError::Denied("issuer does not own the signing key".into()));
        }
        if c.aud != self.org().as_str() {
            return Err(CustodyError::Denied(
                "request is addressed to another organisation".into(),
            ));
        }
        let now = now_ms().0 / 1000;
        if c.exp <= now || c.exp > now + MAX_LIFETIME_SECS {
            return Err(CustodyError::Denied("request expired or lives too long".into()));
        }
        if c.items.is_empty() || c.items.len() > MAX_BATCH {
            return Err(CustodyError::BadRequest(format!(
                "a request names 1 to {MAX_BATCH} record versions"
            )));
        }
        if !lock(&self.inner.seen_requests).first_use(format!("{}|{}", c.iss, c.jti), c.exp, now) {
            return Err(CustodyError::Denied("request replayed".into()));
        }
        let enc: EncryptionPublicKey = c
            .enc
            .parse()
            .map_err(|_| CustodyError::BadRequest("malformed encryption key".into()))?;
        let (encapped, batch_key) = wrap::batch_key_to(&enc, TRANSFER_INFO)
            .map_err(|_| CustodyError::BadRequest("unusable encryption key".into()))?;
        let answers = futures::future::join_all(c.items.iter().map(|item| async {
            match self.serve_item(&state, &signer.org, item).await {
                Ok((mut sealed, key)) => {
                    if self.inner.tamper
                        && let Some(b) = sealed.last_mut()
                    {
                        *b ^= 1;
                    }
                    let wrapped = envelope::seal(
                        &batch_key,
                        key.as_bytes(),
                        &rewrap_aad(&item.resource_type, &item.id, item.version, &signer.org),
                    );
                    FetchAnswer {
                        status: 200,
                        ciphertext: Some(B64.encode(sealed)),
                        wrapped_key: Some(B64.encode(wrapped)),
                        error: None,
                    }
                }
                Err(e) => FetchAnswer::refused(&e),
            }
        }))
        .await;
        Ok(FetchResponse {
            enc: B64.encode(encapped),
            items: answers,
        })
    }

    /// One item of a request: the reader, the record and consent, on this node's ledger.
    async fn serve_item(
        &self,
        state: &medledger_store::StoreReader,
        reader_org: &OrgId,
        item: &FetchItem,
    ) -> Result<(Vec<u8>, DataKey), CustodyError> {
        let (org, member) =
            split_member(&item.sub).ok_or_else(|| CustodyError::BadRequest("malformed reader".into()))?;
        if &org != reader_org {
            return Err(CustodyError::Denied(
                "a node may only speak for its own organisation".into(),
            ));
        }
        let rec = state
            .get(&keys::member(&org, &member))
            .and_then(|raw| MemberRecord::decode(&raw).ok())
            .ok_or_else(|| CustodyError::Denied("reader is not a registered member".into()))?;
        if !rec.active || rec.kind != item.kind {
            return Err(CustodyError::Denied(
                "reader is revoked or not of the stated kind".into(),
            ));
        }
        let record = medledger_ledger::records::record_state(state, &item.resource_type, &item.id)
            .filter(|r| &r.custodian == self.org())
            .ok_or(CustodyError::NotFound)?;
        if record.erased {
            return Err(CustodyError::Gone);
        }
        let actor = Actor {
            org,
            member,
            kind: item.kind,
        };
        decide_on(
            state,
            &actor,
            &item.resource_type,
            &item.id,
            &record,
            item.purpose,
            item.break_glass,
        )
        .map_err(|d| CustodyError::Denied(d.to_string()))?;
        self.local_ciphertext(&item.resource_type, &item.id, item.version).await
    }
}
