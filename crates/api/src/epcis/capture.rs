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
//! Jobs are kept in memory, the newest [`MAX_JOBS`]; a restart forgets them (the events
//! and their commitments are durable; a job's outcome can be read from the ledger by its
//! transaction hash).

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

/// Capture jobs kept in memory.
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
    pub fn new(events: EventStore, service: ServiceIdentity) -> Epcis {
        Epcis {
            events,
            service,
            hosted: BTreeMap::new(),
            jobs: Mutex::default(),
            seen_asks: super::share::SeenAsks::default(),
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
}

#[derive(Clone, Debug)]
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
    fn insert(&mut self, id: String, job: Job) {
        while self.order.len() >= MAX_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, job);
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
    if let Some(tx) = &j.tx {
        v["ledger"] = json!({"tx": tx, "height": j.height});
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
    let keep = {
        let epcis = epcis.clone();
        tokio::task::spawn_blocking(move || epcis.events.put(stored))
    };
    match keep.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!("{e}");
            return Err(EpcisError::unavailable("the events could not be stored"));
        }
        Err(_) => return Err(EpcisError::unavailable("the events could not be stored")),
    }
    let accepted = match app.node.submit_own(&signer, KIND, checked.body) {
        Ok(a) => a,
        Err(e) => {
            let _ = epcis.events.remove(&capture_id, &digests);
            return Err(EpcisError::unavailable(format!(
                "the ledger did not take the capture: {e}"
            )));
        }
    };
    let job = Job {
        org,
        created_ms: now_ms(),
        finished_ms: None,
        success: false,
        errors: Vec::new(),
        tx: Some(accepted.hash),
        height: None,
        event_ids: checked.hash_ids.clone(),
    };
    epcis.jobs().insert(capture_id.clone(), job.clone());
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
    if outcome.is_err() {
        let store = epcis.clone();
        let (id2, d2) = (id.clone(), digests);
        let _ = tokio::task::spawn_blocking(move || store.events.remove(&id2, &d2)).await;
    }
    let mut jobs = epcis.jobs();
    if let Some(j) = jobs.by_id.get_mut(&id) {
        j.finished_ms = Some(now_ms());
        match outcome {
            Ok(h) => {
                j.success = true;
                j.height = Some(h);
            }
            Err(e) => j
                .errors
                .push(EpcisError::new(StatusCode::CONFLICT, "ValidationException", "Capture refused", e).body()),
        }
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
