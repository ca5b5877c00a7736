//! `POST /epcis/capture` and `GET /epcis/capture/{id}` (EPCIS 2.0 REST binding, §12.2:
//! asynchronous capture with capture jobs).
//!
//! A capture is checked whole before anything is kept; the first problem refuses it with
//! `400` and an EPCIS `ValidationException` naming the event (numbered from 0 in document
//! order) and the field, and nothing is stored or submitted:
//!
//! 1. the caller: a member of this node's organisation allowed to capture ([`super`]);
//! 2. `Content-Type` `application/ld+json` or `application/json` (EPCIS 2.0 JSON-LD), or
//!    `application/xml` or `text/xml` (EPCIS 2.0 or 1.2 XML); the body at most
//!    [`MAX_CAPTURE_BYTES`] (`413` beyond), at most [`MAX_COMMITMENTS`] events;
//! 3. a JSON-LD document against GS1's EPCIS 2.0 JSON schema ([`super::schema`]); the
//!    document, read by `medledger_gs1::epcis::parse_document`; each event's CBV words
//!    (`validate_cbv`: bizStep, disposition, business transaction, source and destination
//!    types, error reasons);
//! 4. each event's commitment against the ledger's current state (`supply::commitments_of`:
//!    registered company prefixes and GLNs, check digits, tracked EPCs);
//! 5. the `supply.capture` transaction, applied to a copy of the current state: an
//!    impossible step (a clone, shipping what this organisation does not hold, dispensing
//!    a recalled pack) is refused here with the ledger's own reason.
//!
//! Then the events are stored ([`super::store`], durable before anything is submitted),
//! the node signs and submits `supply.capture` with its service key, and the answer is
//! `202 Accepted` with `Location: /epcis/capture/{id}`. The job finishes when the
//! transaction is in a block: `success: true` with its hash and height, or, should the
//! ledger refuse it after all (another transaction got there first), `success: false`
//! with the reason, and the stored events are deleted. Only `GS1-Capture-Error-Behaviour:
//! rollback` is offered: a capture is one ledger transaction, all or nothing.
//!
//! Jobs are durable, the newest [`MAX_JOBS`] (sealed in the event store: a job is written
//! with its events in one transaction, again with its ledger transaction's hash once
//! submitted, and when it finishes). A job a restart interrupted is finished from the
//! ledger after the restart ([`Epcis::resume`]): by its transaction's outcome, or, when the
//! node stopped before it knew the hash, by whether the ledger holds its events'
//! commitments as this organisation's; one still not committed [`RESUME_WAIT`] after the
//! restart fails, and its events are deleted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use medledger_crypto::Keypair;
use medledger_fhir::scope::Interaction;
use medledger_gs1::epcis::{Document, Event, Format, Limits, parse_document_with, validate_cbv};
use medledger_ledger::supply::capture::{KIND, MAX_COMMITMENTS, SupplyCapture};
use medledger_ledger::supply::from_epcis::{EventCommitment, commitments_of};
use medledger_node::home::ServiceIdentity;
use medledger_types::codec::Encode;
use medledger_types::{Hash32, Height, OrgId};
use serde_json::{Value, json};

use super::store::{EventIndex, EventStore, StoredEvent};
use super::{EpcisError, authenticate, render};
use crate::AppState;

/// The largest capture body.
pub const MAX_CAPTURE_BYTES: usize = 4 << 20;

/// How long after a restart a job left running may still be committed.
pub const RESUME_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Capture jobs kept.
pub const MAX_JOBS: usize = 10_000;

/// This node's EPCIS service: its events, the keys it signs captures with, its jobs.
pub struct Epcis {
    pub events: EventStore,
    service: ServiceIdentity,
    /// Member organisations without a node of their own that this node captures for
    /// (`api.epcis_hosted`), each with the service key it registered and gave to us.
    hosted: BTreeMap<OrgId, Keypair>,
    jobs: Mutex<Jobs>,
    /// The other nodes' asks already served ([`super::share`]).
    pub(super) seen_asks: super::share::SeenAsks,
}

impl Epcis {
    /// This node's EPCIS service over `events`, with the capture jobs it kept.
    pub fn new(events: EventStore, service: ServiceIdentity) -> Result<Epcis, super::store::StoreError> {
        let mut kept: Vec<(String, Job)> = Vec::new();
        for (id, json) in events.jobs()? {
            match serde_json::from_slice::<Job>(&json) {
                Ok(job) => kept.push((id, job)),
                Err(e) => tracing::warn!(capture = %id, "a kept capture job does not read: {e}"),
            }
        }
        kept.sort_by(|a, b| (a.1.created_ms, &a.0).cmp(&(b.1.created_ms, &b.0)));
        let mut jobs = Jobs::default();
        for (id, job) in kept {
            jobs.insert(id, job);
        }
        Ok(Epcis {
            events,
            service,
            hosted: BTreeMap::new(),
            jobs: Mutex::new(jobs),
            seen_asks: super::share::SeenAsks::default(),
        })
    }

    /// Finishes, from the ledger, the jobs an earlier run of the node left running.
    pub fn resume(self: &Arc<Self>, node: medledger_node::Node) {
        let left: Vec<String> = self
            .jobs()
            .by_id
            .iter()
            .filter(|(_, j)| j.finished_ms.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !left.is_empty() {
            tracing::info!(jobs = left.len(), "finishing the capture jobs a restart interrupted");
            tokio::spawn(finish_left(self.clone(), node, left));
        }
    }

    /// Also captures for `org`, signing with `key` (ADR 014 §13).
    pub fn hosting(mut self, org: OrgId, key: Keypair) -> Epcis {
        self.hosted.insert(org, key);
        self
    }

    /// The organisation this node captures for.
    pub fn org(&self) -> &OrgId {
        &self.service.org
    }

    /// The key that signs `org`'s captures here: this node's service key for its own
    /// organisation, a hosted member's key for that member; `None` for anyone else.
    pub fn signer_for(&self, org: &OrgId) -> Option<&Keypair> {
        if org == self.org() {
            Some(&self.service.key)
        } else {
            self.hosted.get(org)
        }
    }

    /// The organisations this node captures for.
    pub fn capturers(&self) -> impl Iterator<Item = &OrgId> {
        std::iter::once(self.org()).chain(self.hosted.keys())
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store keys of the events a capture stored.
    fn keys_of_capture(&self, capture_id: &str) -> Vec<String> {
        self.events
            .all()
            .iter()
            .filter(|e| e.capture_id == capture_id)
            .map(|e| super::store::key_of(e))
            .collect()
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Job {
    /// The capturing organisation: the job is shown to its members only.
    org: OrgId,
    created_ms: u64,
    finished_ms: Option<u64>,
    success: bool,
    errors: Vec<Value>,
    tx: Option<Hash32>,
    height: Option<Height>,
    event_ids: Vec<String>,
}

#[derive(Default)]
struct Jobs {
    by_id: BTreeMap<String, Job>,
    order: VecDeque<String>,
}

impl Jobs {
    /// Adds a job; returns the ids of the oldest ones it pushed out.
    fn insert(&mut self, id: String, job: Job) -> Vec<String> {
        let mut forgotten = Vec::new();
        while self.order.len() >= MAX_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
                forgotten.push(old);
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, job);
        forgotten
    }
}

/// Keeps a job durably (a failure is logged: the job still answers from memory).
fn keep_job(store: &EventStore, id: &str, job: &Job, forget: &[String]) {
    let json = serde_json::to_vec(job).unwrap_or_default();
    if let Err(e) = store.put_job(super::store::JobRow {
        id,
        json: &json,
        forget,
    }) {
        tracing::error!(capture = id, "the capture job could not be kept: {e}");
    }
}

fn job_json(id: &str, j: &Job) -> Value {
    let time = |ms: u64| crate::fhir::time::instant(ms);
    let mut v = json!({
        "captureID": id,
        "createdAt": time(j.created_ms),
        "running": j.finished_ms.is_none(),
        "success": j.success,
        "captureErrorBehaviour": "rollback",
        "errors": j.errors,
        "eventIDs": j.event_ids,
    });
    if let Some(f) = j.finished_ms {
        v["finishedAt"] = json!(time(f));
    }
    if j.tx.is_some() || j.height.is_some() {
        v["ledger"] = json!({"tx": j.tx, "height": j.height});
    }
    v
}

fn format_of(headers: &HeaderMap) -> Result<Format, EpcisError> {
    let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    match ctype.split(';').next().unwrap_or("").trim() {
        "application/ld+json" | "application/json" => Ok(Format::JsonLd),
        "application/xml" | "text/xml" => Ok(Format::Xml),
        other => Err(EpcisError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ValidationException",
            "Unsupported media type",
            format!(
                "send application/ld+json, application/json, application/xml or text/xml (got {:?})",
                other.chars().take(64).collect::<String>()
            ),
        )),
    }
}

fn too_large() -> EpcisError {
    EpcisError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "CaptureLimitExceededException",
        "Capture payload too large",
        format!("a capture body may be at most {MAX_CAPTURE_BYTES} bytes; split the document"),
    )
}

fn now_ms() -> u64 {
    medledger_node::node::now_ms().0
}

/// What the document holds, checked: the events, their hash IDs and their commitments.
struct Checked {
    document: Document,
    hash_ids: Vec<String>,
    commitments: Vec<EventCommitment>,
    body: Vec<u8>,
}

fn check(app: &AppState, epcis: &Epcis, signer: &Keypair, bytes: &[u8], format: Format) -> Result<Checked, EpcisError> {
    let limits = Limits {
        max_bytes: MAX_CAPTURE_BYTES,
        max_events: MAX_COMMITMENTS,
        ..Limits::default()
    };
    if format == Format::JsonLd {
        super::schema::check(bytes)?;
    }
    let document = parse_document_with(bytes, format, &limits).map_err(|e| EpcisError::validation(e.to_string()))?;
    if document.events.is_empty() {
        return Err(EpcisError::validation("the document holds no event"));
    }
    for (i, e) in document.events.iter().enumerate() {
        validate_cbv(e).map_err(|err| EpcisError::validation(format!("event {i}: {err}")))?;
    }
    let hash_ids: Vec<String> = document.events.iter().map(|e| e.hash_id().to_string()).collect();
    let state = app
        .node
        .store()
        .reader()
        .map_err(|_| EpcisError::unavailable("the ledger cannot be read"))?;
    let commitments = commitments_of(&document, &state).map_err(|e| EpcisError::validation(e.to_string()))?;
    for c in &commitments {
        if epcis.events.contains(&c.commitment.hash_id.to_hex())
            || medledger_ledger::supply::event(&state, &c.commitment.hash_id).is_some()
        {
            return Err(EpcisError::new(
                StatusCode::CONFLICT,
                "ValidationException",
                "Event already captured",
                format!("event {}: {} is already captured", c.index, hash_ids[c.index]),
            ));
        }
    }
    let payload = SupplyCapture {
        commitments: commitments.iter().map(|c| c.commitment.clone()).collect(),
    };
    let body = payload.encode();
    if body.len() > medledger_types::tx::MAX_TX_BODY {
        return Err(too_large());
    }
    // The ledger's own rules, on a copy of the current state: an impossible step is
    // refused now, with its reason, rather than after a block.
    match crate::dry_run::dry_run(&app.node, &state, signer, KIND, body.clone()) {
        Ok(None) => {}
        Ok(Some(e)) => {
            let at = commitment_event(&e.to_string(), &commitments);
            return Err(EpcisError::validation(format!("the ledger refuses it: {at}{e}")));
        }
        Err(e) => return Err(EpcisError::unavailable(e.to_string())),
    }
    Ok(Checked {
        document,
        hash_ids,
        commitments,
        body,
    })
}

/// "event N: " for a ledger error that names commitment M (its index among the
/// commitments, which skip error declarations), or nothing.
fn commitment_event(message: &str, commitments: &[EventCommitment]) -> String {
    let number = message
        .split("commitment ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    match number.and_then(|n| commitments.get(n)) {
        Some(c) => format!("event {}: ", c.index),
        None => String::new(),
    }
}

fn index_of(e: &Event, canonical: Vec<String>, record_time_ms: i64) -> EventIndex {
    let uri = |v: &medledger_gs1::epcis::CbvValue| v.to_uri();
    EventIndex {
        event_type: e.event_type.as_str().to_owned(),
        action: e.action.map(|a| a.as_str().to_owned()),
        biz_step: e.biz_step.as_ref().map(uri),
        disposition: e.disposition.as_ref().map(uri),
        epcs: e
            .epc_list
            .iter()
            .chain(&e.child_epcs)
            .chain(&e.input_epc_list)
            .chain(&e.output_epc_list)
            .map(|x| x.0.clone())
            .collect(),
        parent_id: e.parent_id.as_ref().map(|p| p.0.clone()),
        epc_classes: e.epc_classes().map(|x| x.0.clone()).collect(),
        canonical,
        event_time_ms: e.event_time.unix_millis_rounded(),
        record_time_ms,
        read_point: e.read_point.as_ref().map(|l| l.id.clone()),
        biz_location: e.biz_location.as_ref().map(|l| l.id.clone()),
        destinations: e.destinations_of_type("owning_party").map(str::to_owned).collect(),
    }
}

fn stored_events(checked: &Checked, capture_id: &str, capturer: &OrgId) -> Vec<StoredEvent> {
    let record_time_ms = now_ms() as i64;
    checked
        .document
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let hash_id = &checked.hash_ids[i];
            let digest = hex::encode(e.hash_id().digest());
            let canonical = checked
                .commitments
                .iter()
                .find(|c| c.index == i)
                .map(|c| {
                    let c = &c.commitment;
                    c.parent.iter().chain(&c.epcs).map(|x| x.to_string()).collect()
                })
                .unwrap_or_default();
            let mut event = render::event_json(e, hash_id);
            event["recordTime"] = json!(crate::fhir::time::instant(record_time_ms as u64));
            StoredEvent {
                hash_id: hash_id.clone(),
                digest,
                capture_id: capture_id.to_owned(),
                capturer: Some(capturer.clone()),
                event,
                index: index_of(e, canonical, record_time_ms),
            }
        })
        .collect()
}

/// `POST /epcis/capture`.
pub async fn capture(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, EpcisError> {
    let caller = authenticate(&app, &headers, Interaction::Create)?;
    let epcis = app.epcis()?.clone();
    let org = caller.actor.org.clone();
    let Some(signer) = epcis.signer_for(&org).cloned() else {
        let names: Vec<String> = epcis.capturers().map(OrgId::to_string).collect();
        return Err(EpcisError::forbidden(format!(
            "this node captures for {}: capture at your own organisation's node, or at the node that hosts it",
            names.join(", ")
        )));
    };
    if &org != epcis.org() {
        let state = app
            .node
            .store()
            .reader()
            .map_err(|_| EpcisError::unavailable("the ledger cannot be read"))?;
        let active = medledger_ledger::identity::active_key(&state, &signer.public()).is_some_and(|k| k.org == org);
        if !active {
            return Err(EpcisError::forbidden(format!(
                "the key this node holds to capture for {org} is not an active key of {org} on the ledger: {org}'s admin registers it as a service member ({})",
                signer.public()
            )));
        }
    }
    if let Some(b) = headers.get("gs1-capture-error-behaviour")
        && b.as_bytes() != b"rollback"
    {
        return Err(EpcisError::validation(
            "GS1-Capture-Error-Behaviour: only rollback is offered (a capture is one ledger transaction, all or nothing)",
        ));
    }
    let format = format_of(&headers)?;
    let bytes = axum::body::to_bytes(body, MAX_CAPTURE_BYTES)
        .await
        .map_err(|_| too_large())?;
    // Parsing, the schema and the dry run take a while for a large document: off the
    // async workers.
    let checked = {
        let (app, epcis, signer) = (app.clone(), epcis.clone(), signer.clone());
        tokio::task::spawn_blocking(move || check(&app, &epcis, &signer, &bytes, format))
            .await
            .map_err(|_| EpcisError::unavailable("the capture check stopped"))??
    };
    let capture_id = crate::fhir::new_id();
    let stored = stored_events(&checked, &capture_id, &org);
    let digests: Vec<String> = stored.iter().map(super::store::key_of).collect();
    let mut job = Job {
        org,
        created_ms: now_ms(),
        finished_ms: None,
        success: false,
        errors: Vec::new(),
        tx: None,
        height: None,
        event_ids: checked.hash_ids.clone(),
    };
    let forgotten = epcis.jobs().insert(capture_id.clone(), job.clone());
    let keep = {
        let (epcis, id, json) = (
            epcis.clone(),
            capture_id.clone(),
            serde_json::to_vec(&job).unwrap_or_default(),
        );
        tokio::task::spawn_blocking(move || {
            let row = super::store::JobRow {
                id: &id,
                json: &json,
                forget: &forgotten,
            };
            epcis.events.put_with_job(stored, Some(row))
        })
    };
    match keep.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!("{e}");
            epcis.jobs().by_id.remove(&capture_id);
            return Err(EpcisError::unavailable("the events could not be stored"));
        }
        Err(_) => {
            epcis.jobs().by_id.remove(&capture_id);
            return Err(EpcisError::unavailable("the events could not be stored"));
        }
    }
    let accepted = match app.node.submit_own(&signer, KIND, checked.body) {
        Ok(a) => a,
        Err(e) => {
            let reason = format!("the ledger did not take the capture: {e}");
            let failed = fail_job(&epcis, &capture_id, &digests, reason.clone()).await;
            if failed.is_none() {
                tracing::warn!(capture = %capture_id, "a refused capture's job was already gone");
            }
            return Err(EpcisError::unavailable(reason));
        }
    };
    job.tx = Some(accepted.hash);
    if let Some(j) = epcis.jobs().by_id.get_mut(&capture_id) {
        j.tx = Some(accepted.hash);
    }
    {
        let (epcis, id, job) = (epcis.clone(), capture_id.clone(), job.clone());
        let _ = tokio::task::spawn_blocking(move || keep_job(&epcis.events, &id, &job, &[])).await;
    }
    let answer = job_json(&capture_id, &job);
    tokio::spawn(finish(epcis, capture_id.clone(), digests, accepted));
    let mut r = (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        serde_json::to_vec(&answer).unwrap_or_default(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/epcis/capture/{capture_id}")) {
        r.headers_mut().insert("location", v);
    }
    if let Ok(v) = HeaderValue::from_str(&accepted_hash(&answer)) {
        r.headers_mut().insert("x-medledger-tx", v);
    }
    Ok(r)
}

fn accepted_hash(job: &Value) -> String {
    job["ledger"]["tx"].as_str().unwrap_or_default().to_owned()
}

/// Waits for the capture's block and finishes its job.
async fn finish(epcis: Arc<Epcis>, id: String, digests: Vec<String>, accepted: medledger_node::node::Accepted) {
    let outcome = match accepted.committed {
        None => Err("the node gave no commit receipt".to_owned()),
        Some(rx) => match rx.await {
            Err(_) => Err("the node stopped".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(c)) if !c.outcome.is_ok() => Err(format!(
                "the ledger refused the capture (outcome {}) at height {}",
                c.outcome.0, c.height
            )),
            Ok(Ok(c)) => Ok(c.height),
        },
    };
    match outcome {
        Ok(h) => succeed_job(&epcis, &id, h).await,
        Err(e) => {
            fail_job(&epcis, &id, &digests, e).await;
        }
    }
}

/// Marks the job committed at `height`, durably.
async fn succeed_job(epcis: &Arc<Epcis>, id: &str, height: Height) {
    let done = {
        let mut jobs = epcis.jobs();
        jobs.by_id.get_mut(id).map(|j| {
            j.finished_ms = Some(now_ms());
            j.success = true;
            j.height = Some(height);
            j.clone()
        })
    };
    if let Some(job) = done {
        let (epcis, id) = (epcis.clone(), id.to_owned());
        let _ = tokio::task::spawn_blocking(move || keep_job(&epcis.events, &id, &job, &[])).await;
    }
}

/// Marks the job refused with `reason` and deletes its events, durably; the job, if it
/// was still known.
async fn fail_job(epcis: &Arc<Epcis>, id: &str, digests: &[String], reason: String) -> Option<Job> {
    let done = {
        let mut jobs = epcis.jobs();
        jobs.by_id.get_mut(id).map(|j| {
            j.finished_ms = Some(now_ms());
            j.errors
                .push(EpcisError::new(StatusCode::CONFLICT, "ValidationException", "Capture refused", reason).body());
            j.clone()
        })
    };
    let (store, id, digests, job) = (epcis.clone(), id.to_owned(), digests.to_vec(), done.clone());
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = store.events.remove(&id, &digests) {
            tracing::error!(capture = %id, "a refused capture's events could not be deleted: {e}");
        }
        if let Some(job) = job {
            keep_job(&store.events, &id, &job, &[]);
        }
    })
    .await;
    done
}

/// What the ledger says of a job a restart interrupted: `Some(Ok(height))` committed,
/// `Some(Err(reason))` refused, `None` not (yet) in a block.
fn left_outcome(
    node: &medledger_node::Node,
    state: &dyn medledger_ledger::StateRead,
    job: &Job,
) -> Option<Result<Height, String>> {
    if let Some(tx) = &job.tx {
        return match node.tx_status(tx) {
            Ok(Some(medledger_node::node::TxStatus::Committed { location, .. })) if location.outcome.is_ok() => {
                Some(Ok(location.height))
            }
            Ok(Some(medledger_node::node::TxStatus::Committed { location, .. })) => Some(Err(format!(
                "the ledger refused the capture (outcome {}) at height {}",
                location.outcome.0, location.height
            ))),
            _ => None,
        };
    }
    // Stopped before the transaction's hash was kept: committed if the ledger holds every
    // event's commitment as this organisation's.
    let mut height = None;
    for id in &job.event_ids {
        let digest = id
            .strip_prefix("ni:///sha-256;")
            .and_then(|r| r.split('?').next())
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())?;
        let record = medledger_ledger::supply::event(state, &Hash32(digest)).filter(|r| r.capturer == job.org)?;
        height = height.max(Some(record.height));
    }
    height.map(Ok)
}

/// Follows the ledger until each job left running is committed or refused, failing those
/// still open [`RESUME_WAIT`] after the restart.
async fn finish_left(epcis: Arc<Epcis>, node: medledger_node::Node, mut left: Vec<String>) {
    let deadline = tokio::time::Instant::now() + RESUME_WAIT;
    let mut durable = node.durable_height();
    loop {
        let mut decided = Vec::new();
        if let Ok(state) = node.store().reader() {
            let jobs = epcis.jobs();
            for id in &left {
                if let Some(outcome) = jobs.by_id.get(id).and_then(|j| left_outcome(&node, &state, j)) {
                    decided.push((id.clone(), outcome));
                }
            }
        }
        for (id, outcome) in decided {
            left.retain(|l| *l != id);
            match outcome {
                Ok(h) => succeed_job(&epcis, &id, h).await,
                Err(e) => {
                    let digests = epcis.keys_of_capture(&id);
                    fail_job(&epcis, &id, &digests, e).await;
                }
            }
        }
        if left.is_empty() {
            return;
        }
        if tokio::time::timeout_at(deadline, durable.changed()).await.is_err() {
            break;
        }
    }
    for id in left {
        let digests = epcis.keys_of_capture(&id);
        fail_job(
            &epcis,
            &id,
            &digests,
            format!(
                "the node restarted before the capture was in a block, and it was not committed within {} s after: capture the document again",
                RESUME_WAIT.as_secs()
            ),
        )
        .await;
    }
}

/// `GET /epcis/capture/{id}`: the job, for members of this node's organisation.
pub async fn job(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, EpcisError> {
    let caller = authenticate(&app, &headers, Interaction::Search)?;
    let epcis = app.epcis()?;
    let job = epcis
        .jobs()
        .by_id
        .get(&id)
        .cloned()
        .filter(|j| j.org == caller.actor.org)
        .ok_or_else(|| {
            EpcisError::not_found(
                "NoSuchResourceException",
                "no such capture job of your organisation on this node",
            )
        })?;
    Ok((
        StatusCode::OK,
        [("content-type", "application/json")],
        serde_json::to_vec(&job_json(&id, &job)).unwrap_or_default(),
    )
        .into_response())
}
