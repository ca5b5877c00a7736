//! Instance and type interactions: create, read, vread, update, history, search.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medledger_custody::{NewVersion, Permit};
use medledger_fhir::compartment;
use medledger_fhir::reference::{self, RefKind};
use medledger_fhir::search::SearchQuery;
use medledger_ledger::audit::AuditOutcome;
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::rx;
use super::time::instant;
use super::{
    Ctx, FhirError, Prepared, Written, base_url, check_id, fhir_json, interact, new_id, parse_body, supported_type,
};
use crate::AppState;

/// Checks and completes a resource for writing as `id`/`version`. `pending` says whether
/// a record is being created in the same Bundle (and so is not on the ledger yet). The
/// guard has already allowed the write (scope and role).
pub fn prepare(
    app: &AppState,
    ctx: &Ctx,
    mut resource: Value,
    resource_type: &'static str,
    id: String,
    version: u64,
    pending: &dyn Fn(&str, &str) -> bool,
) -> Result<Prepared, FhirError> {
    let custody = app.custody()?;
    let actor = &ctx.caller.actor;
    let Some(obj) = resource.as_object_mut() else {
        return Err(FhirError::invalid("the body must be a JSON object"));
    };
    match obj.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        Some(_) => {
            return Err(FhirError::invalid(format!(
                "the body's resourceType must be {resource_type}"
            )));
        }
        None => return Err(FhirError::invalid("the body has no resourceType")),
    }
    let last_updated = instant(medledger_node::node::now_ms().0);
    obj.insert("id".into(), Value::String(id.clone()));
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        return Err(FhirError::invalid("meta must be an object"));
    }
    meta["versionId"] = Value::String(version.to_string());
    meta["lastUpdated"] = Value::String(last_updated.clone());
    app.validator.validate(&resource).map_err(|e| {
        let mut err = FhirError::invalid(e.to_string());
        err.issues = e.issues();
        err
    })?;
    // References: local ones must name records on the ledger (or in this Bundle).
    let mut problems = Vec::new();
    reference::visit_references(&resource, |pointer, r| match reference::classify(r) {
        _ if !reference::own_reference(&resource, pointer) => {}
        Ok(RefKind::Local {
            resource_type: t,
            id: rid,
            ..
        }) => {
            if medledger_fhir::resource_type(t).is_none() {
                problems.push(format!(
                    "{pointer}: references a type that is not a FHIR R4 resource type"
                ));
            } else if !pending(t, rid) {
                match custody.record_state(t, rid) {
                    Ok(Some(s)) if !s.erased => {}
                    Ok(Some(_)) => problems.push(format!("{pointer}: references an erased record")),
                    _ => problems.push(format!("{pointer}: references a record that does not exist")),
                }
            }
        }
        Ok(RefKind::Contained(_)) | Ok(RefKind::Absolute(_)) => {}
        Ok(RefKind::Urn(_)) => problems.push(format!("{pointer}: urn references resolve only inside a Bundle")),
        Ok(RefKind::Conditional { .. }) => problems.push(format!(
            "{pointer}: conditional references resolve only inside a transaction Bundle"
        )),
        Err(_) => problems.push(format!("{pointer}: not a valid reference")),
    });
    if !problems.is_empty() {
        let mut err = FhirError::unprocessable(format!("{} bad reference(s)", problems.len()));
        err.issues = problems
            .into_iter()
            .take(medledger_fhir::MAX_ISSUES)
            .map(|m| medledger_fhir::Issue {
                code: "invalid",
                location: String::new(),
                message: m,
            })
            .collect();
        return Err(err);
    }
    // The Patient compartment, from HL7's definition: a record names one patient (and is
    // shared under that patient's consent), or none (reference data of a type outside the
    // compartment is shared with every member; a compartment record that names no
    // patient, or several, stays with the custodian's staff: the ledger's policy).
    let placed = compartment::compartment(&resource);
    if placed == compartment::Compartment::Several && !compartment::is_compartment_type(resource_type) {
        return Err(FhirError::unprocessable(format!(
            "this {resource_type} names more than one patient; medledger keeps one patient per record so that consent can protect it"
        )));
    }
    let patient = placed.patient().map(str::to_string);
    let plaintext = serde_json::to_vec(&resource).map_err(|e| FhirError::invalid(e.to_string()))?;
    let identifiers = reference::identifiers(&resource);
    let search = medledger_fhir::index::extract(&resource);
    Ok(Prepared {
        resource_type,
        id: id.clone(),
        version,
        patient: patient.clone(),
        last_updated: last_updated.clone(),
        resource,
        new: NewVersion {
            resource_type: resource_type.to_string(),
            id,
            version,
            patient,
            author: actor.member.clone(),
            plaintext,
            last_updated_ms: medledger_node::node::now_ms().0,
            identifiers,
            search: Some(search),
        },
    })
}

/// Stores a prepared write and audits it.
pub async fn store(app: &AppState, ctx: &Ctx, p: Prepared) -> Result<Written, FhirError> {
    let op = Op::write(p.version);
    store_as(app, ctx, p, op).await
}

/// Stores a prepared write and audits it as `op` (a write, or a delete's tombstone).
pub async fn store_as(app: &AppState, ctx: &Ctx, p: Prepared, op: Op) -> Result<Written, FhirError> {
    let custody = app.custody()?;
    let guard = Guard::new(app, ctx);
    // The access is audited while the version is stored and anchored (both must be
    // durable before the answer); a write that then fails is audited again as failed.
    let target = Target {
        resource_type: p.resource_type,
        id: Some(&p.id),
        version: Some(p.version),
        patient: p.patient.as_deref(),
    };
    let audited = |outcome| guard.audit(op, outcome, target);
    let (anchored, audited_ok) = tokio::join!(custody.store_version(p.new), audited(AuditOutcome::Allowed));
    audited_ok?;
    let anchored = match anchored {
        Ok(a) => a,
        Err(e) => {
            audited(AuditOutcome::Failed).await?;
            return Err(e.into());
        }
    };
    Ok(Written {
        resource_type: p.resource_type,
        id: p.id,
        version: p.version,
        last_updated: p.last_updated,
        resource: p.resource,
        tx_hash: anchored.tx_hash,
        height: anchored.height,
    })
}

/// The answer to a write: `Prefer: return=` decides the body (R4 `http.html#ops`).
pub fn written_response(status: StatusCode, app: &AppState, w: &Written, headers: &HeaderMap) -> Response {
    let mut r = match interact::prefer(headers) {
        interact::Prefer::Representation => fhir_json(status, &w.resource),
        interact::Prefer::Minimal => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = status;
            r
        }
        interact::Prefer::OperationOutcome => fhir_json(
            status,
            &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                "diagnostics": format!("{} {}/{} version {} stored", if w.version == 1 { "created" } else { "updated" }, w.resource_type, w.id, w.version)}]}),
        ),
    };
    let h = r.headers_mut();
    let location = format!("{}/{}/{}/_history/{}", base_url(app), w.resource_type, w.id, w.version);
    if let Ok(v) = location.parse() {
        h.insert("location", v);
    }
    interact::version_headers(h, w.version, Some(&w.last_updated));
    if let Ok(v) = w.tx_hash.to_hex().parse() {
        h.insert("x-medledger-tx", v);
    }
    r
}

/// `POST /fhir/{type}`
pub async fn create(
    State(app): State<AppState>,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    let ctx = app.ctx(&headers)?;
    let resource = parse_body(&headers, &body, app.node.config().fhir.max_resource_bytes)?;
    // Conditional create: `If-None-Exist: <criteria>` names a record that may exist.
    if let Some(criteria) = headers.get("if-none-exist") {
        let criteria = criteria
            .to_str()
            .map_err(|_| FhirError::invalid("If-None-Exist is not text"))?
            .trim_start_matches('?')
            .to_string();
        if let Some(id) = interact::conditional_target(&app, &ctx, resource_type, Some(&criteria)).await? {
            let (existing, version) = read_checked(&app, &ctx, Op::Read, resource_type, &id, None).await?;
            let mut r = fhir_json(StatusCode::OK, &existing);
            let location = format!("{}/{resource_type}/{id}/_history/{version}", base_url(&app));
            if let Ok(v) = location.parse() {
                r.headers_mut().insert("location", v);
            }
            interact::version_headers(r.headers_mut(), version, existing["meta"]["lastUpdated"].as_str());
            return Ok(r);
        }
    }
    create_checked(&app, &ctx, resource_type, resource, &headers).await
}

/// Guards and creates a record with a new id.
pub async fn create_checked(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    resource: Value,
    headers: &HeaderMap,
) -> Result<Response, FhirError> {
    Guard::new(app, ctx)
        .allow(
            Op::Create,
            Target {
                resource_type,
                ..Target::default()
            },
        )
        .await?;
    let custody = app.custody()?;
    let id = new_id();
    let mut resource = resource;
    let step = rx::plan_write(app, ctx, resource_type, &id, &mut resource)?;
    let version = custody.reserve_version(resource_type, &id, true)?;
    let prepared = match prepare_with_ledger(app, ctx, resource, resource_type, &id, version, step).await {
        Ok(p) => p,
        Err(e) => {
            custody.release_reserved(resource_type, &id, version);
            return Err(e);
        }
    };
    let w = store(app, ctx, prepared).await?;
    Ok(written_response(StatusCode::CREATED, app, &w, headers))
}

/// Prepares a write; for a prescription, a dispense or a cancellation, commits its ledger
/// step first ([`rx`]): the record is stored only once the ledger has taken it, with the
/// alerts a fill raised.
async fn prepare_with_ledger(
    app: &AppState,
    ctx: &Ctx,
    resource: Value,
    resource_type: &'static str,
    id: &str,
    version: u64,
    step: Option<rx::LedgerStep>,
) -> Result<Prepared, FhirError> {
    let prepared = prepare(app, ctx, resource, resource_type, id.to_string(), version, &|_, _| {
        false
    })?;
    let Some(step) = step else {
        return Ok(prepared);
    };
    rx::commit(app, &step).await?;
    let rx::LedgerStep::Dispense(fill) = &step else {
        return Ok(prepared);
    };
    let mut resource = prepared.resource.clone();
    rx::add_alerts(app, &fill.id, &mut resource)?;
    if resource == prepared.resource {
        return Ok(prepared);
    }
    prepare(app, ctx, resource, resource_type, id.to_string(), version, &|_, _| {
        false
    })
}

/// `PUT /fhir/{type}/{id}`
pub async fn update(
    State(app): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let resource = parse_body(&headers, &body, app.node.config().fhir.max_resource_bytes)?;
    if resource.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(FhirError::invalid("the body's id must equal the id in the URL"));
    }
    update_checked(&app, &ctx, resource_type, &id, resource, &headers).await
}

/// Guards and writes a new version of an existing record (a deleted one comes back).
pub async fn update_checked(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    id: &str,
    resource: Value,
    headers: &HeaderMap,
) -> Result<Response, FhirError> {
    Guard::new(app, ctx)
        .allow(
            Op::Update,
            Target {
                resource_type,
                id: Some(id),
                ..Target::default()
            },
        )
        .await?;
    let custody = app.custody()?;
    let current = custody
        .record_state(resource_type, id)?
        .ok_or_else(|| FhirError::not_found("no such resource (this server assigns ids on create)"))?;
    interact::if_match(headers, current.latest)?;
    let mut resource = resource;
    let step = rx::plan_write(app, ctx, resource_type, id, &mut resource)?;
    let version = custody.reserve_version(resource_type, id, false)?;
    let moved = |r: &Value| {
        let placed = compartment::compartment(r);
        placed.patient() != current.patient.as_deref()
    };
    if moved(&resource) {
        custody.release_reserved(resource_type, id, version);
        return Err(FhirError::unprocessable(
            "an update may not move a record to another patient",
        ));
    }
    let prepared = match prepare_with_ledger(app, ctx, resource, resource_type, id, version, step).await {
        Ok(p) => p,
        Err(e) => {
            custody.release_reserved(resource_type, id, version);
            return Err(e);
        }
    };
    let w = store(app, ctx, prepared).await?;
    Ok(written_response(StatusCode::OK, app, &w, headers))
}

/// Reads one version under a permit the guard gave (and audited); a read that then fails
/// is audited again as failed.
pub async fn read_permitted(
    app: &AppState,
    ctx: &Ctx,
    op: Op,
    permit: &Permit,
    version: u64,
) -> Result<Value, FhirError> {
    let custody = app.custody()?;
    let bytes = match custody
        .read(permit, version, op.action(), ctx.break_glass.as_deref())
        .await
    {
        Ok(b) => b,
        Err(e) => {
            Guard::new(app, ctx).audit_failed_read(op, permit, version).await?;
            return Err(e.into());
        }
    };
    serde_json::from_slice(&bytes).map_err(|_| FhirError::invalid("a stored version is not JSON"))
}

/// Guards, audits and reads one record (the current version, or `version`).
pub async fn read_checked(
    app: &AppState,
    ctx: &Ctx,
    op: Op,
    resource_type: &str,
    id: &str,
    version: Option<u64>,
) -> Result<(Value, u64), FhirError> {
    let permit = Guard::new(app, ctx).read(op, resource_type, id, version).await?;
    let version = version.unwrap_or(permit.record().latest);
    if version == 0 || version > permit.record().latest {
        return Err(FhirError::not_found("no such version"));
    }
    let resource = read_permitted(app, ctx, op, &permit, version).await?;
    Ok((resource, version))
}

/// The answer to a read: `410 Gone` for a deleted version, `304 Not Modified` when the
/// client's `If-None-Match` / `If-Modified-Since` say it has this version, else the
/// resource with `ETag` and `Last-Modified`.
fn read_response(resource: &Value, version: u64, headers: &HeaderMap) -> Result<Response, FhirError> {
    if interact::is_deleted(resource) {
        return Err(FhirError::new(
            StatusCode::GONE,
            "deleted",
            "this resource has been deleted",
        ));
    }
    let last_updated = resource["meta"]["lastUpdated"].as_str();
    if interact::not_modified(headers, version, last_updated) {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        interact::version_headers(r.headers_mut(), version, last_updated);
        return Ok(r);
    }
    let mut r = fhir_json(StatusCode::OK, resource);
    interact::version_headers(r.headers_mut(), version, last_updated);
    Ok(r)
}

/// `GET /fhir/{type}/{id}`
pub async fn read(
    State(app): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let (resource, version) = read_checked(&app, &ctx, Op::Read, resource_type, &id, None).await?;
    read_response(&resource, version, &headers)
}

fn parse_version(vid: &str) -> Result<u64, FhirError> {
    vid.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| FhirError::not_found("version ids are positive integers"))
}

/// `GET /fhir/{type}/{id}/_history/{vid}`
pub async fn vread(
    State(app): State<AppState>,
    Path((t, id, vid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let version = parse_version(&vid)?;
    let ctx = app.ctx(&headers)?;
    let (resource, version) = read_checked(&app, &ctx, Op::Vread, resource_type, &id, Some(version)).await?;
    read_response(&resource, version, &headers)
}

/// `GET /fhir/{type}/{id}/_history`: every version, newest first.
pub async fn history(
    State(app): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let permit = Guard::new(&app, &ctx)
        .read(Op::History, resource_type, &id, None)
        .await?;
    let base = base_url(&app);
    let mut entries = Vec::new();
    for v in (1..=permit.record().latest).rev() {
        let resource = read_permitted(&app, &ctx, Op::History, &permit, v).await?;
        entries.push(interact::history_entry(&base, resource_type, &id, v, resource));
    }
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": "history",
            "total": entries.len(),
            "link": [{"relation": "self", "url": format!("{base}/{resource_type}/{id}/_history")}],
            "entry": entries,
        }),
    ))
}

fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, FhirError> {
    let raw = raw.unwrap_or("");
    if raw.len() > 8192 {
        return Err(FhirError::new(
            StatusCode::URI_TOO_LONG,
            "too-costly",
            "the query is too long",
        ));
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|_| FhirError::invalid("the query string does not parse"))
}

/// `GET /fhir/{type}?…`
pub async fn search(
    State(app): State<AppState>,
    Path(t): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    let pairs = query_pairs(raw.as_deref())?;
    let query = SearchQuery::parse(resource_type, &pairs).map_err(|e| FhirError::invalid(e.to_string()))?;
    let ctx = app.ctx(&headers)?;
    let base = base_url(&app);
    let page = super::search::search_page(&app, &ctx, resource_type, &query, &base).await?;
    Ok(fhir_json(StatusCode::OK, &page))
}
