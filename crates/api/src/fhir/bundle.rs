//! `POST /fhir` with a `transaction` or `batch` Bundle.
//!
//! A transaction is all or nothing: every entry is checked (ids assigned, `urn:uuid:`
//! fullUrls and `Type?identifier=system|value` conditional references resolved,
//! `ifNoneExist` honoured, each resource validated) before anything is written, and then
//! all its versions are anchored in one ledger transaction (about 400 entries fit; larger
//! Bundles are anchored in consecutive transactions). A batch runs each entry on its own.
//! This is how Synthea's hospital, practitioner and patient Bundles load.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medledger_fhir::reference::{self, RefKind};
use medledger_fhir::scope::Interaction;
use medledger_ledger::audit::{AuditAction, AuditOutcome};
use serde_json::{Value, json};

use super::rest::prepare;
use super::{Ctx, FhirError, Prepared, base_url, fhir_json, new_id, parse_body, supported_type};
use crate::AppState;

/// What one entry asks for, once understood.
enum Planned {
    /// Create or update this resource.
    Write {
        resource_type: &'static str,
        id: String,
        version: u64,
        create: bool,
        resource: Value,
    },
    /// `ifNoneExist` matched an existing record: nothing to write.
    Exists { resource_type: &'static str, id: String },
}

struct Plan {
    entries: Vec<Result<Planned, FhirError>>,
    /// fullUrl (`urn:uuid:…`) → `Type/id`
    urls: BTreeMap<String, String>,
    /// `Type|system|value` → id, for identifiers created in this Bundle
    identifiers: BTreeMap<String, String>,
    created: BTreeSet<(String, String)>,
}

fn ident_key(t: &str, system: Option<&str>, value: &str) -> String {
    format!("{t}|{}|{value}", system.unwrap_or(""))
}

/// Parses `identifier=system|value` (the only conditional form supported).
fn parse_identifier_query(q: &str) -> Option<(Option<String>, String)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
    let [(name, v)] = pairs.as_slice() else { return None };
    if name != "identifier" {
        return None;
    }
    match v.split_once('|') {
        Some((s, val)) if !val.is_empty() => Some(((!s.is_empty()).then(|| s.to_string()), val.to_string())),
        None if !v.is_empty() => Some((None, v.clone())),
        _ => None,
    }
}

fn resolve_conditional(app: &AppState, plan: &Plan, t: &str, q: &str) -> Result<Option<String>, FhirError> {
    let (system, value) = parse_identifier_query(q).ok_or_else(|| {
        FhirError::unprocessable("only identifier=system|value conditional references and ifNoneExist are supported")
    })?;
    if let Some(id) = plan.identifiers.get(&ident_key(t, system.as_deref(), &value)) {
        return Ok(Some(id.clone()));
    }
    Ok(app.custody()?.resolve_identifier(t, system.as_deref(), &value)?)
}

fn plan(app: &AppState, bundle_entries: &[Value], is_transaction: bool) -> Result<Plan, FhirError> {
    let custody = app.custody()?;
    let mut plan = Plan {
        entries: Vec::new(),
        urls: BTreeMap::new(),
        identifiers: BTreeMap::new(),
        created: BTreeSet::new(),
    };
    for (i, entry) in bundle_entries.iter().enumerate() {
        let one = (|| -> Result<Planned, FhirError> {
            let request = entry
                .get("request")
                .ok_or_else(|| FhirError::invalid(format!("entry {i} has no request")))?;
            let method = request.get("method").and_then(Value::as_str).unwrap_or("");
            let url = request.get("url").and_then(Value::as_str).unwrap_or("");
            let resource = entry
                .get("resource")
                .cloned()
                .ok_or_else(|| FhirError::invalid(format!("entry {i} has no resource")))?;
            let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("");
            match method {
                "POST" => {
                    let resource_type = supported_type(url.split('?').next().unwrap_or(""))?;
                    if rtype != resource_type {
                        return Err(FhirError::invalid(format!(
                            "entry {i}: request.url and resourceType differ"
                        )));
                    }
                    if let Some(cond) = request.get("ifNoneExist").and_then(Value::as_str)
                        && let Some(id) = resolve_conditional(app, &plan, resource_type, cond)?
                    {
                        if let Some(full) = entry.get("fullUrl").and_then(Value::as_str) {
                            plan.urls.insert(full.to_string(), format!("{resource_type}/{id}"));
                        }
                        return Ok(Planned::Exists { resource_type, id });
                    }
                    let id = new_id();
                    let version = custody.reserve_version(resource_type, &id, true)?;
                    if let Some(full) = entry.get("fullUrl").and_then(Value::as_str) {
                        plan.urls.insert(full.to_string(), format!("{resource_type}/{id}"));
                    }
                    for (system, value) in reference::identifiers(&resource) {
                        plan.identifiers
                            .insert(ident_key(resource_type, system.as_deref(), &value), id.clone());
                    }
                    plan.created.insert((resource_type.to_string(), id.clone()));
                    Ok(Planned::Write {
                        resource_type,
                        id,
                        version,
                        create: true,
                        resource,
                    })
                }
                "PUT" => {
                    let (t, id) = url
                        .split_once('/')
                        .ok_or_else(|| FhirError::invalid(format!("entry {i}: PUT needs Type/id")))?;
                    let resource_type = supported_type(t)?;
                    if rtype != resource_type || resource.get("id").and_then(Value::as_str) != Some(id) {
                        return Err(FhirError::invalid(format!(
                            "entry {i}: the resource must match request.url"
                        )));
                    }
                    let version = custody.reserve_version(resource_type, id, false)?;
                    Ok(Planned::Write {
                        resource_type,
                        id: id.to_string(),
                        version,
                        create: false,
                        resource,
                    })
                }
                other => Err(FhirError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "not-supported",
                    format!(
                        "entry {i}: request.method {:?} is not supported in Bundles (POST and PUT are)",
                        other.chars().take(16).collect::<String>()
                    ),
                )),
            }
        })();
        if is_transaction && let Err(e) = one {
            release(app, &plan);
            return Err(e);
        }
        plan.entries.push(one);
    }
    Ok(plan)
}

fn release(app: &AppState, plan: &Plan) {
    if let Ok(c) = app.custody() {
        for p in plan.entries.iter().flatten() {
            if let Planned::Write {
                resource_type,
                id,
                version,
                ..
            } = p
            {
                c.release_reserved(resource_type, id, *version);
            }
        }
    }
}

/// Rewrites `urn:uuid:` and conditional references in place.
fn resolve_refs(app: &AppState, plan: &Plan, resource: &mut Value) -> Result<(), FhirError> {
    let mut failure: Option<FhirError> = None;
    reference::rewrite_uris(resource, &plan.urls);
    reference::rewrite_references(resource, |r| {
        if let Some(to) = plan.urls.get(r) {
            return Some(to.clone());
        }
        match reference::classify(r) {
            Ok(RefKind::Conditional { resource_type, query }) => {
                match resolve_conditional(app, plan, resource_type, query) {
                    Ok(Some(id)) => Some(format!("{resource_type}/{id}")),
                    Ok(None) => {
                        failure.get_or_insert(FhirError::unprocessable(format!(
                            "a conditional reference to {resource_type} matches no record"
                        )));
                        None
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                        None
                    }
                }
            }
            Ok(RefKind::Urn(_)) => {
                failure.get_or_insert(FhirError::unprocessable(
                    "a urn reference names no entry of this Bundle",
                ));
                None
            }
            _ => None,
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn entry_response(status: &str, location: Option<String>, outcome: Option<Value>) -> Value {
    let mut r = json!({"status": status});
    if let Some(l) = location {
        r["location"] = json!(l);
    }
    if let Some(o) = outcome {
        r["outcome"] = o;
    }
    json!({"response": r})
}

/// `POST /fhir`
pub async fn transaction(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    let cfg = &app.node.config().fhir;
    let bundle = parse_body(&headers, &body, cfg.max_bundle_bytes)?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::invalid(
            "POST /fhir takes a Bundle of type transaction or batch",
        ));
    }
    let is_transaction = match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => true,
        Some("batch") => false,
        _ => return Err(FhirError::invalid("the Bundle's type must be transaction or batch")),
    };
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.len() > cfg.max_bundle_entries {
        return Err(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("a Bundle may hold at most {} entries", cfg.max_bundle_entries),
        ));
    }
    // Scopes are checked per entry, before anything is planned.
    for (i, e) in entries.iter().enumerate() {
        let t = e["resource"]["resourceType"].as_str().unwrap_or("");
        let method = e["request"]["method"].as_str().unwrap_or("");
        let i_kind = if method == "PUT" {
            Interaction::Update
        } else {
            Interaction::Create
        };
        if medledger_fhir::SUPPORTED_TYPES.contains(&t) && !ctx.caller.scopes.allows(t, i_kind) {
            let err = FhirError::forbidden(format!("entry {i}: the token's scopes do not allow writing {t}"));
            if is_transaction {
                super::audit(
                    &app,
                    &ctx,
                    AuditAction::Create,
                    AuditOutcome::Denied,
                    None,
                    Some(t),
                    None,
                    None,
                )
                .await?;
                return Err(err);
            }
        }
    }
    let mut plan = plan(&app, &entries, is_transaction)?;
    let created = plan.created.clone();
    let pending = |t: &str, id: &str| created.contains(&(t.to_string(), id.to_string()));
    // Check every write.
    let planned = std::mem::take(&mut plan.entries);
    let mut checked: Vec<Result<Option<Prepared>, FhirError>> = Vec::with_capacity(planned.len());
    let mut existing: Vec<Option<(String, String)>> = Vec::with_capacity(planned.len());
    for p in planned {
        match p {
            Err(e) => {
                checked.push(Err(e));
                existing.push(None);
            }
            Ok(Planned::Exists { resource_type, id }) => {
                checked.push(Ok(None));
                existing.push(Some((resource_type.to_string(), id)));
            }
            Ok(Planned::Write {
                resource_type,
                id,
                version,
                create,
                mut resource,
            }) => {
                existing.push(None);
                let r = resolve_refs(&app, &plan, &mut resource).and_then(|()| {
                    if !create && !ctx.caller.scopes.allows(resource_type, Interaction::Update) {
                        return Err(FhirError::forbidden("the token's scopes do not allow updates"));
                    }
                    prepare(&app, &ctx, resource, resource_type, id.clone(), version, &pending)
                });
                if r.is_err() {
                    app.custody()?.release_reserved(resource_type, &id, version);
                }
                checked.push(r.map(Some));
            }
        }
    }
    if is_transaction && let Some(pos) = checked.iter().position(Result::is_err) {
        for p in checked.iter().flatten().flatten() {
            app.custody()?.release_reserved(p.resource_type, &p.id, p.version);
        }
        let Some(Err(mut e)) = checked.into_iter().nth(pos) else {
            return Err(FhirError::invalid("transaction failed"));
        };
        e.message = format!("entry {pos}: {}", e.message);
        return Err(e);
    }
    write_all(&app, &ctx, &headers, checked, existing, is_transaction).await
}

async fn write_all(
    app: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    checked: Vec<Result<Option<Prepared>, FhirError>>,
    existing: Vec<Option<(String, String)>>,
    is_transaction: bool,
) -> Result<Response, FhirError> {
    let custody = app.custody()?;
    let base = base_url(headers);
    let mut writes = Vec::new();
    let mut slots = Vec::new();
    let mut responses: Vec<Option<Value>> = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        match c {
            Ok(Some(p)) => {
                slots.push((
                    i,
                    p.resource_type,
                    p.id.clone(),
                    p.version,
                    p.patient.clone(),
                    p.last_updated.clone(),
                ));
                writes.push(p.new);
                responses.push(None);
            }
            Ok(None) => {
                let (t, id) = existing[i].clone().unwrap_or_default();
                responses.push(Some(entry_response("200 OK", Some(format!("{t}/{id}")), None)));
            }
            Err(e) => responses.push(Some(entry_response(&format!("{}", e.status), None, Some(e.outcome())))),
        }
    }
    let results = custody.store_versions(writes).await;
    let mut audits = Vec::new();
    let mut failure = None;
    for ((i, t, id, version, patient, last_updated), r) in slots.into_iter().zip(results) {
        match r {
            Ok(_) => {
                let mut e = custody.audit_entry(
                    &ctx.caller.actor,
                    if version == 1 {
                        AuditAction::Create
                    } else {
                        AuditAction::Update
                    },
                );
                e.purpose = Some(ctx.purpose);
                e.patient = patient;
                e.resource_type = Some(t.to_string());
                e.record_id = Some(id.clone());
                e.version = Some(version);
                audits.push((e, None));
                let mut resp = entry_response(
                    if version == 1 { "201 Created" } else { "200 OK" },
                    Some(format!("{t}/{id}/_history/{version}")),
                    None,
                );
                resp["response"]["etag"] = json!(format!("W/\"{version}\""));
                resp["response"]["lastModified"] = json!(last_updated);
                resp["fullUrl"] = json!(format!("{base}/{t}/{id}"));
                responses[i] = Some(resp);
            }
            Err(e) => {
                let fe = FhirError::from(e);
                responses[i] = Some(entry_response(&fe.status.to_string(), None, Some(fe.outcome())));
                failure.get_or_insert(fe);
            }
        }
    }
    custody.audit(audits).await?;
    if is_transaction && let Some(e) = failure {
        return Err(e);
    }
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": if is_transaction { "transaction-response" } else { "batch-response" },
            "entry": responses.into_iter().map(Option::unwrap_or_default).collect::<Vec<_>>(),
        }),
    ))
}
