//! FHIR Bulk Data Access (HL7 Bulk Data IG v2): `$export` at system, `Patient` and
//! `Group/[id]` level.
//!
//! 1. Kick-off (`GET /fhir/$export`, `/fhir/Patient/$export`, `/fhir/Group/{id}/$export`)
//!    with `Prefer: respond-async`; parameters `_outputFormat` (NDJSON), `_since`, `_type`.
//!    It needs a `system/` scope that reads the types asked for. Answer: `202 Accepted`
//!    with `Content-Location`, the status URL.
//! 2. Status (`GET /fhir/$export-status/{job}`): `202` with `X-Progress` and
//!    `Retry-After` while it runs, `200` with the manifest when done, `500` with an
//!    OperationOutcome if it failed. `DELETE` cancels it and deletes its files (`202`).
//! 3. Files (`GET /fhir/$export-file/{job}/{name}`): NDJSON, one type per file, at most
//!    [`LINES_PER_FILE`] resources each, with the same bearer token's client.
//!
//! Every record exported passes the guard's consent check and is audited (action
//! `export`) before its file is announced. Files are sealed (AES-256-GCM) under a key
//! made for the job and held only in memory, written to `data/exports/` and deleted after
//! `fhir.export_retention_secs`; a restart leaves them unreadable, so start-up deletes
//! what is left. Only the client that asked may poll, download or cancel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use medledger_crypto::envelope::{self, DataKey};
use medledger_custody::{CustodyError, Permit};
use medledger_fhir::scope::{Context, Interaction};
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::time::instant;
use super::{Ctx, FhirError, base_url, check_id, fhir_json};
use crate::AppState;

/// Most resources in one NDJSON file.
pub const LINES_PER_FILE: usize = 10_000;
/// Records audited in one durable write while an export runs.
const AUDIT_BATCH: usize = 1_000;

/// What an export covers.
#[derive(Clone, Debug)]
enum Level {
    System,
    Patient,
    Group(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Done,
    Failed(String),
}

struct Output {
    resource_type: &'static str,
    name: String,
    count: usize,
}

struct Job {
    client: (String, String),
    request: String,
    key: DataKey,
    dir: PathBuf,
    started_ms: u64,
    status: Mutex<Status>,
    outputs: Mutex<Vec<Output>>,
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

/// The exports of this node.
pub struct Exports {
    dir: PathBuf,
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
}

impl Exports {
    /// Exports under `dir`; files left by an earlier run are deleted (their keys died
    /// with it).
    pub fn new(dir: PathBuf) -> Exports {
        let _ = std::fs::remove_dir_all(&dir);
        Exports {
            dir,
            jobs: Mutex::default(),
        }
    }

    fn job(&self, id: &str, ctx: &Ctx) -> Result<Arc<Job>, FhirError> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let job = jobs.get(id).cloned();
        let client = (ctx.caller.actor.org.to_string(), ctx.caller.actor.member.to_string());
        // Another client's job is as good as none.
        job.filter(|j| j.client == client)
            .ok_or_else(|| FhirError::not_found("no such export (or it has expired)"))
    }

    fn remove(&self, id: &str) {
        let job = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        if let Some(j) = job {
            j.cancelled.store(true, Ordering::SeqCst);
            let _ = std::fs::remove_dir_all(&j.dir);
        }
    }
}

fn exports(app: &AppState) -> Result<&Arc<Exports>, FhirError> {
    app.exports.as_ref().ok_or_else(|| {
        FhirError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not-supported",
            "bulk export is not set up on this node",
        )
    })
}

/// The kick-off's parameters.
struct Asked {
    types: Vec<&'static str>,
    since: Option<i64>,
}

fn parse_kickoff(raw: Option<&str>, headers: &HeaderMap) -> Result<Asked, FhirError> {
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split([',', ';']).any(|p| p.trim() == "respond-async"));
    if !respond_async {
        return Err(FhirError::invalid("a bulk export is asked with Prefer: respond-async"));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| FhirError::invalid("the query string does not parse"))?;
    let mut asked = Asked {
        types: medledger_fhir::resource_types().to_vec(),
        since: None,
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "_outputFormat" => {
                if !matches!(v.as_str(), "application/fhir+ndjson" | "application/ndjson" | "ndjson") {
                    return Err(FhirError::invalid(
                        "_outputFormat: only application/fhir+ndjson is produced",
                    ));
                }
            }
            "_since" => {
                let r = medledger_fhir::date::parse_fhir_date(v)
                    .map_err(|_| FhirError::invalid("_since expects an instant (YYYY-MM-DDThh:mm:ss[.fff]Z)"))?;
                asked.since = Some(r.start);
            }
            "_type" => {
                let mut types = Vec::new();
                for t in v.split(',') {
                    types.push(medledger_fhir::resource_type(t.trim()).ok_or_else(|| {
                        FhirError::invalid(format!(
                            "_type: {:?} is not a FHIR R4 resource type",
                            t.chars().take(64).collect::<String>()
                        ))
                    })?);
                }
                asked.types = types;
            }
            _ => {
                return Err(FhirError::invalid(format!(
                    "{:.40} is not supported by this server's $export (_outputFormat, _since, _type)",
                    k
                )));
            }
        }
    }
    Ok(asked)
}

/// The types a caller's `system/` scopes let it export.
fn exportable(ctx: &Ctx, types: Vec<&'static str>) -> Result<Vec<&'static str>, FhirError> {
    if !ctx.caller.scopes.contexts().contains(&Context::System) {
        return Err(FhirError::forbidden(
            "a bulk export needs a system/ scope (SMART Backend Services)",
        ));
    }
    let allowed: Vec<&'static str> = types
        .into_iter()
        .filter(|t| ctx.caller.scopes.allows_in(Context::System, t, Interaction::Read))
        .collect();
    if allowed.is_empty() {
        return Err(FhirError::forbidden(
            "the token's system/ scopes read none of the types asked for",
        ));
    }
    Ok(allowed)
}

async fn kickoff(
    app: AppState,
    headers: HeaderMap,
    raw: Option<String>,
    level: Level,
    request: String,
) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    let asked = parse_kickoff(raw.as_deref(), &headers)?;
    let types = exportable(&ctx, asked.types)?;
    let exports = exports(&app)?.clone();
    // The kick-off itself is guarded and audited (scope, role) like a search.
    Guard::new(&app, &ctx)
        .allow(
            Op::Everything,
            Target {
                resource_type: match &level {
                    Level::Group(_) => "Group",
                    Level::Patient => "Patient",
                    Level::System => types.first().copied().unwrap_or("Patient"),
                },
                ..Target::default()
            },
        )
        .await?;
    let running = exports
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter(|j| *j.status.lock().unwrap_or_else(|e| e.into_inner()) == Status::Running)
        .count();
    if running >= app.node.config().fhir.max_exports {
        let mut r = FhirError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many exports are running; try again later",
        )
        .into_response();
        r.headers_mut().insert("retry-after", HeaderValue::from_static("30"));
        return Ok(r);
    }
    let id = super::new_id();
    let job = Arc::new(Job {
        client: (ctx.caller.actor.org.to_string(), ctx.caller.actor.member.to_string()),
        request,
        key: DataKey::generate(),
        dir: exports.dir.join(&id),
        started_ms: medledger_node::node::now_ms().0,
        status: Mutex::new(Status::Running),
        outputs: Mutex::default(),
        done: AtomicU64::new(0),
        total: AtomicU64::new(0),
        cancelled: AtomicBool::new(false),
    });
    exports
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), job.clone());
    let task_app = app.clone();
    let task_id = id.clone();
    tokio::spawn(async move {
        let outcome = run(&task_app, &ctx, &job, &task_id, level, types, asked.since).await;
        let status = match outcome {
            Ok(()) => Status::Done,
            Err(e) => {
                tracing::warn!("export {task_id} failed: {}", e.message);
                Status::Failed(e.message)
            }
        };
        *job.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        // Files live for the retention time, then go.
        let retention = Duration::from_secs(task_app.node.config().fhir.export_retention_secs);
        tokio::time::sleep(retention).await;
        exports.remove(&task_id);
    });
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    if let Ok(v) = HeaderValue::from_str(&format!("{}/$export-status/{id}", base_url(&app))) {
        r.headers_mut().insert("content-location", v);
    }
    Ok(r)
}

/// The records of one type to export, in a stable order.
fn candidates(app: &AppState, level: &Level, patients: &[String], t: &'static str) -> Result<Vec<String>, FhirError> {
    let custody = app.custody()?;
    Ok(match level {
        Level::System => custody.ids_of_type(t),
        Level::Patient | Level::Group(_) => {
            let mut ids: Vec<String> = patients
                .iter()
                .flat_map(|p| custody.records_of_patient(p))
                .filter(|(rt, _)| rt == t)
                .map(|(_, id)| id)
                .collect();
            if t == "Patient" {
                ids.extend(patients.iter().cloned());
            }
            ids.sort();
            ids.dedup();
            ids
        }
    })
}

/// The patients a Patient- or Group-level export covers: every patient whose records
/// this node knows (Patient level), or the Group's members (read under the guard).
async fn patients_of(app: &AppState, ctx: &Ctx, level: &Level) -> Result<Vec<String>, FhirError> {
    match level {
        Level::System => Ok(Vec::new()),
        Level::Patient => Ok(app.custody()?.ids_of_type("Patient")),
        Level::Group(id) => {
            let (group, _) = super::rest::read_checked(app, ctx, Op::Everything, "Group", id, None).await?;
            let mut members: Vec<String> = group["member"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["entity"]["reference"].as_str())
                .filter_map(|r| r.strip_prefix("Patient/"))
                .map(|p| p.split('/').next().unwrap_or(p).to_string())
                .collect();
            members.sort();
            members.dedup();
            Ok(members)
        }
    }
}

/// Writes one sealed file; returns its name.
fn seal_file(job: &Job, job_id: &str, t: &str, part: usize, lines: &[u8]) -> Result<String, FhirError> {
    let name = format!("{t}-{part}.ndjson");
    let sealed = envelope::seal(&job.key, lines, format!("medledger export {job_id}/{name}").as_bytes());
    std::fs::create_dir_all(&job.dir).map_err(|e| storage(&e))?;
    let path = job.dir.join(&name);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&sealed)?;
        f.sync_all()
    };
    write().map_err(|e| storage(&e))?;
    Ok(name)
}

fn storage(e: &std::io::Error) -> FhirError {
    FhirError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "exception",
        format!("export storage: {e}"),
    )
}

async fn run(
    app: &AppState,
    ctx: &Ctx,
    job: &Job,
    job_id: &str,
    level: Level,
    types: Vec<&'static str>,
    since: Option<i64>,
) -> Result<(), FhirError> {
    let custody = app.custody()?;
    custody.caught_up().await;
    let guard = Guard::new(app, ctx);
    let patients = patients_of(app, ctx, &level).await?;
    let mut work: Vec<(&'static str, Vec<String>)> = Vec::new();
    for t in types {
        let ids = candidates(app, &level, &patients, t)?;
        if !ids.is_empty() {
            job.total.fetch_add(ids.len() as u64, Ordering::Relaxed);
            work.push((t, ids));
        }
    }
    let mut unaudited: Vec<(Permit, u64)> = Vec::new();
    for (t, ids) in work {
        let mut lines: Vec<u8> = Vec::new();
        let (mut count, mut part) = (0usize, 0usize);
        for id in ids {
            if job.cancelled.load(Ordering::SeqCst) {
                return Ok(());
            }
            job.done.fetch_add(1, Ordering::Relaxed);
            let Some(permit) = guard.candidate(t, &id) else {
                continue;
            };
            let latest = permit.record().latest;
            if let Some(s) = since
                && custody
                    .version_anchor(t, &id, latest)?
                    .is_none_or(|a| (a.timestamp.0 as i64) < s)
            {
                continue;
            }
            let bytes = match custody.read(&permit, latest, Op::Everything.action(), None).await {
                Ok(b) => b,
                Err(CustodyError::Denied(_) | CustodyError::Gone | CustodyError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            let Ok(resource) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            if super::interact::is_deleted(&resource) {
                continue;
            }
            lines.extend_from_slice(&serde_json::to_vec(&resource).unwrap_or_default());
            lines.push(b'\n');
            count += 1;
            unaudited.push((permit, latest));
            if unaudited.len() >= AUDIT_BATCH {
                audit(&guard, &mut unaudited).await?;
            }
            if count == LINES_PER_FILE {
                audit(&guard, &mut unaudited).await?;
                announce(job, job_id, t, part, &lines, count)?;
                lines.clear();
                count = 0;
                part += 1;
            }
        }
        if count > 0 {
            audit(&guard, &mut unaudited).await?;
            announce(job, job_id, t, part, &lines, count)?;
        }
    }
    audit(&guard, &mut unaudited).await
}

/// Seals a file and lists it in the manifest; its records are audited already.
fn announce(
    job: &Job,
    job_id: &str,
    t: &'static str,
    part: usize,
    lines: &[u8],
    count: usize,
) -> Result<(), FhirError> {
    let name = seal_file(job, job_id, t, part, lines)?;
    job.outputs.lock().unwrap_or_else(|e| e.into_inner()).push(Output {
        resource_type: t,
        name,
        count,
    });
    Ok(())
}

async fn audit(guard: &Guard<'_>, pending: &mut Vec<(Permit, u64)>) -> Result<(), FhirError> {
    let results: Vec<(&Permit, u64)> = pending.iter().map(|(p, v)| (p, *v)).collect();
    guard.audit_results(Op::Everything, &results, Vec::new()).await?;
    pending.clear();
    Ok(())
}

/// The kick-off request as the manifest repeats it.
fn request_url(app: &AppState, path: &str, raw: Option<&str>) -> String {
    let query = raw.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{path}{query}", base_url(app))
}

/// `GET /fhir/$export`
pub async fn system(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let request = request_url(&app, "$export", raw.as_deref());
    kickoff(app, headers, raw, Level::System, request).await
}

/// `GET /fhir/Patient/$export`
pub async fn patient(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let request = request_url(&app, "Patient/$export", raw.as_deref());
    kickoff(app, headers, raw, Level::Patient, request).await
}

/// `GET /fhir/Group/{id}/$export`
pub async fn group(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let request = request_url(&app, &format!("Group/{id}/$export"), raw.as_deref());
    kickoff(app, headers, raw, Level::Group(id), request).await
}

/// `GET /fhir/$export-status/{job}`
pub async fn status(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let job = exports(&app)?.job(&id, &ctx)?;
    let status = job.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match status {
        Status::Running => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::ACCEPTED;
            let progress = format!(
                "{} of {} records",
                job.done.load(Ordering::Relaxed),
                job.total.load(Ordering::Relaxed)
            );
            if let Ok(v) = HeaderValue::from_str(&progress) {
                r.headers_mut().insert("x-progress", v);
            }
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            Ok(r)
        }
        Status::Failed(why) => Err(FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", why)),
        Status::Done => {
            let base = base_url(&app);
            let outputs = job.outputs.lock().unwrap_or_else(|e| e.into_inner());
            let output: Vec<Value> = outputs
                .iter()
                .map(|o| json!({"type": o.resource_type, "url": format!("{base}/$export-file/{id}/{}", o.name), "count": o.count}))
                .collect();
            let mut r = fhir_json(
                StatusCode::OK,
                &json!({
                    "transactionTime": instant(job.started_ms),
                    "request": job.request,
                    "requiresAccessToken": true,
                    "output": output,
                    "error": [],
                }),
            );
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            let expires = job.started_ms / 1000 + app.node.config().fhir.export_retention_secs;
            if let Ok(v) = HeaderValue::from_str(&super::time::http_date(expires * 1000)) {
                r.headers_mut().insert("expires", v);
            }
            Ok(r)
        }
    }
}

/// `DELETE /fhir/$export-status/{job}`: cancels the export and deletes its files.
pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let exports = exports(&app)?;
    exports.job(&id, &ctx)?;
    exports.remove(&id);
    Ok(fhir_json(
        StatusCode::ACCEPTED,
        &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
            "diagnostics": "the export is cancelled and its files are deleted"}]}),
    ))
}

/// `GET /fhir/$export-file/{job}/{name}`
pub async fn file(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let job = exports(&app)?.job(&id, &ctx)?;
    let known = job
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|o| o.name == name);
    if !known {
        return Err(FhirError::not_found("no such file in this export"));
    }
    let sealed = std::fs::read(job.dir.join(&name)).map_err(|_| FhirError::not_found("the file has expired"))?;
    let lines =
        envelope::open(&job.key, &sealed, format!("medledger export {id}/{name}").as_bytes()).map_err(|_| {
            FhirError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "the export file does not open",
            )
        })?;
    Ok((StatusCode::OK, [("content-type", "application/fhir+ndjson")], lines).into_response())
}
