//! `POST /fhir` with a `transaction` or `batch` Bundle.
//!
//! 1. **Parse** ([`parse_bundle`], pure): each entry's method, type, id, `fullUrl`,
//!    `ifNoneExist` and the types its conditional references name.
//! 2. **Guard**: every entry goes through the access guard like a single request — create
//!    or update (scope and role), then an identifier lookup for its `ifNoneExist` and for
//!    each conditional reference (audited as `lookup`) — whether the Bundle is a
//!    transaction or a batch. A refusal is audited (a caller who may not write is refused
//!    at the write, before any lookup); it fails a transaction, and only that entry of a
//!    batch.
//! 3. **Plan**: ids assigned, `urn:uuid:` fullUrls and `Type?identifier=system|value`
//!    conditional references resolved, `ifNoneExist` honoured, each resource validated.
//! 4. **Write**: a transaction is all or nothing, its versions anchored in one ledger
//!    transaction (about 400 entries fit; larger Bundles in consecutive ones); a batch
//!    runs each entry on its own.
//!
//! This is how Synthea's hospital, practitioner and patient Bundles load.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medledger_custody::{Anchored, CustodyError, NewVersion};
use medledger_fhir::reference::{self, RefKind};
use medledger_ledger::audit::{AuditEntry, AuditOutcome};
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::rest::prepare;
use super::{Ctx, FhirError, Prepared, base_url, fhir_json, new_id, parse_body, supported_type};
use crate::AppState;

/// What an entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// One entry of a Bundle, as asked, checked for shape.
#[derive(Clone, Debug)]
pub struct EntryRequest {
    pub method: Method,
    pub resource_type: &'static str,
    /// The id a `PUT` names.
    pub id: Option<String>,
    pub full_url: Option<String>,
    /// `ifNoneExist: identifier=system|value`, parsed.
    pub if_none_exist: Option<(Option<String>, String)>,
    /// The resource types its conditional references (`Type?identifier=…`) name.
    pub lookups: BTreeSet<&'static str>,
    pub resource: Value,
}

/// A Bundle's request, checked for shape.
#[derive(Debug)]
pub struct BundleRequest {
    pub is_transaction: bool,
    pub entries: Vec<Result<EntryRequest, FhirError>>,
}

/// Parses `identifier=system|value` (the only conditional form supported).
pub fn parse_identifier_query(q: &str) -> Option<(Option<String>, String)> {
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

fn parse_entry(i: usize, entry: &Value) -> Result<EntryRequest, FhirError> {
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
    let full_url = entry.get("fullUrl").and_then(Value::as_str).map(str::to_string);
    let (method, resource_type, id) = match method {
        "POST" => {
            let resource_type = supported_type(url.split('?').next().unwrap_or(""))?;
            if rtype != resource_type {
                return Err(FhirError::invalid(format!(
                    "entry {i}: request.url and resourceType differ"
                )));
            }
            (Method::Post, resource_type, None)
        }
        "PUT" => {
            let (t, id) = url
                .split_once('/')
                .ok_or_else(|| FhirError::invalid(format!("entry {i}: PUT needs Type/id")))?;
            let resource_type = supported_type(t)?;
            super::check_id(id)?;
            if rtype != resource_type || resource.get("id").and_then(Value::as_str) != Some(id) {
                return Err(FhirError::invalid(format!(
                    "entry {i}: the resource must match request.url"
                )));
            }
            (Method::Put, resource_type, Some(id.to_string()))
        }
        other => {
            return Err(FhirError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                format!(
                    "entry {i}: request.method {:?} is not supported in Bundles (POST and PUT are)",
                    other.chars().take(16).collect::<String>()
                ),
            ));
        }
    };
    let if_none_exist = match request.get("ifNoneExist") {
        None => None,
        Some(v) => Some(v.as_str().and_then(parse_identifier_query).ok_or_else(|| {
            FhirError::unprocessable(format!(
                "entry {i}: only ifNoneExist=identifier=system|value is supported"
            ))
        })?),
    };
    let mut lookups = BTreeSet::new();
    let mut bad = None;
    reference::visit_references(&resource, |pointer, r| {
        if !reference::own_reference(&resource, pointer) {
            return;
        }
        if let Ok(RefKind::Conditional { resource_type, .. }) = reference::classify(r) {
            match supported_type(resource_type) {
                Ok(t) => {
                    lookups.insert(t);
                }
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = bad {
        return Err(e);
    }
    Ok(EntryRequest {
        method,
        resource_type,
        id,
        full_url,
        if_none_exist,
        lookups,
        resource,
    })
}

/// Parses a `transaction` or `batch` Bundle: its type, at most `max_entries` entries, each
/// entry's shape. Pure: no ledger, no custody, no audit.
pub fn parse_bundle(bundle: &Value, max_entries: usize) -> Result<BundleRequest, FhirError> {
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
    let empty = Vec::new();
    let entries = bundle.get("entry").and_then(Value::as_array).unwrap_or(&empty);
    if entries.len() > max_entries {
        return Err(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("a Bundle may hold at most {max_entries} entries"),
        ));
    }
    Ok(BundleRequest {
        is_transaction,
        entries: entries.iter().enumerate().map(|(i, e)| parse_entry(i, e)).collect(),
    })
}

/// What one entry will do, once planned.
enum Planned {
    /// Create or update this resource.
    Write {
        resource_type: &'static str,
        id: String,
        version: u64,
        resource: Value,
    },
    /// `ifNoneExist` matched an existing record: nothing to write.
    Exists { resource_type: &'static str, id: String },
}

type IdentKey = (String, Option<String>, String);

struct Plan {
    entries: Vec<Result<Planned, FhirError>>,
    /// fullUrl (`urn:uuid:…`) → `Type/id`
    urls: BTreeMap<String, String>,
    /// identifiers created in this Bundle → id
    identifiers: BTreeMap<IdentKey, String>,
    created: BTreeSet<(String, String)>,
}

fn ident_key(t: &str, system: Option<&str>, value: &str) -> IdentKey {
    (t.to_string(), system.map(str::to_string), value.to_string())
}

/// Resolves a business identifier: first among this Bundle's creations, then in the
/// custodian's index. The guard has allowed (and audited) the lookup.
fn resolve_identifier(
    app: &AppState,
    plan: &Plan,
    t: &str,
    system: Option<&str>,
    value: &str,
) -> Result<Option<String>, FhirError> {
    if let Some(id) = plan.identifiers.get(&ident_key(t, system, value)) {
        return Ok(Some(id.clone()));
    }
    Ok(app.custody()?.resolve_identifier(t, system, value)?)
}

/// Guards one entry: the write, its `ifNoneExist` lookup and its conditional references.
/// The allowed lookups' audit entries are added to `lookups`, for the caller to write in
/// one go.
async fn guard_entry(
    guard: &Guard<'_>,
    i: usize,
    e: &EntryRequest,
    lookups: &mut Vec<AuditEntry>,
) -> Result<(), FhirError> {
    let op = match e.method {
        Method::Post => Op::Create,
        Method::Put => Op::Update,
    };
    let prefixed = |mut err: FhirError| {
        err.message = format!("entry {i}: {}", err.message);
        err
    };
    guard
        .allow(
            op,
            Target {
                resource_type: e.resource_type,
                id: e.id.as_deref(),
                ..Target::default()
            },
        )
        .await
        .map_err(prefixed)?;
    let types = e
        .if_none_exist
        .iter()
        .map(|_| e.resource_type)
        .chain(e.lookups.iter().copied());
    for t in types.collect::<BTreeSet<_>>() {
        let allowed = guard
            .allow_unwritten(
                Op::Lookup,
                Target {
                    resource_type: t,
                    ..Target::default()
                },
            )
            .await
            .map_err(prefixed)?;
        lookups.extend(allowed);
    }
    Ok(())
}

fn plan(
    app: &AppState,
    entries: Vec<Result<EntryRequest, FhirError>>,
    is_transaction: bool,
) -> Result<Plan, FhirError> {
    let custody = app.custody()?;
    let mut plan = Plan {
        entries: Vec::new(),
        urls: BTreeMap::new(),
        identifiers: BTreeMap::new(),
        created: BTreeSet::new(),
    };
    for entry in entries {
        let one = entry.and_then(|e| -> Result<Planned, FhirError> {
            match e.method {
                Method::Post => {
                    let resource_type = e.resource_type;
                    if let Some((system, value)) = &e.if_none_exist
                        && let Some(id) = resolve_identifier(app, &plan, resource_type, system.as_deref(), value)?
                    {
                        if let Some(full) = &e.full_url {
                            plan.urls.insert(full.clone(), format!("{resource_type}/{id}"));
                        }
                        return Ok(Planned::Exists { resource_type, id });
                    }
                    let id = new_id();
                    let version = custody.reserve_version(resource_type, &id, true)?;
                    if let Some(full) = &e.full_url {
                        plan.urls.insert(full.clone(), format!("{resource_type}/{id}"));
                    }
                    for (system, value) in reference::identifiers(&e.resource) {
                        plan.identifiers
                            .insert(ident_key(resource_type, system.as_deref(), &value), id.clone());
                    }
                    plan.created.insert((resource_type.to_string(), id.clone()));
                    Ok(Planned::Write {
                        resource_type,
                        id,
                        version,
                        resource: e.resource,
                    })
                }
                Method::Put => {
                    let id = e.id.unwrap_or_default();
                    let version = custody.reserve_version(e.resource_type, &id, false)?;
                    Ok(Planned::Write {
                        resource_type: e.resource_type,
                        id,
                        version,
                        resource: e.resource,
                    })
                }
            }
        });
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
    // A stored Bundle's own entries keep the references their author wrote.
    let nested = match resource.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => resource.as_object_mut().and_then(|o| o.remove("entry")),
        _ => None,
    };
    let resolved = resolve_own_refs(app, plan, resource);
    if let (Some(entries), Some(o)) = (nested, resource.as_object_mut()) {
        o.insert("entry".into(), entries);
    }
    resolved
}

fn resolve_own_refs(app: &AppState, plan: &Plan, resource: &mut Value) -> Result<(), FhirError> {
    let mut failure: Option<FhirError> = None;
    reference::rewrite_uris(resource, &plan.urls);
    reference::rewrite_references(resource, |r| {
        if let Some(to) = plan.urls.get(r) {
            return Some(to.clone());
        }
        match reference::classify(r) {
            Ok(RefKind::Conditional { resource_type, query }) => {
                let Some((system, value)) = parse_identifier_query(query) else {
                    failure.get_or_insert(FhirError::unprocessable(
                        "only identifier=system|value conditional references are supported",
                    ));
                    return None;
                };
                match resolve_identifier(app, plan, resource_type, system.as_deref(), &value) {
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
    let BundleRequest {
        is_transaction,
        entries,
    } = parse_bundle(&bundle, cfg.max_bundle_entries)?;
    if is_transaction && let Some(pos) = entries.iter().position(Result::is_err) {
        let Some(Err(mut e)) = entries.into_iter().nth(pos) else {
            return Err(FhirError::invalid("transaction failed"));
        };
        e.message = format!("entry {pos}: {}", e.message);
        return Err(e);
    }
    // Every entry through the guard before anything is planned.
    // The allowed lookups are audited in one durable write, before any is resolved.
    let guard = Guard::new(&app, &ctx);
    let mut guarded = Vec::with_capacity(entries.len());
    let mut lookups = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let e = match e {
            Ok(e) => guard_entry(&guard, i, &e, &mut lookups).await.map(|()| e),
            Err(err) => Err(err),
        };
        if is_transaction && let Err(err) = e {
            guard.write(lookups).await?;
            return Err(err);
        }
        guarded.push(e);
    }
    guard.write(lookups).await?;
    let mut plan = plan(&app, guarded, is_transaction)?;
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
                mut resource,
            }) => {
                existing.push(None);
                let r = resolve_refs(&app, &plan, &mut resource)
                    .and_then(|()| super::rx::refuse_ledger_record_in_bundle(&app, resource_type, &id))
                    .and_then(|()| prepare(&app, &ctx, resource, resource_type, id.clone(), version, &pending));
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
    write_all(&app, &ctx, checked, existing, is_transaction).await
}

async fn write_all(
    app: &AppState,
    ctx: &Ctx,
    checked: Vec<Result<Option<Prepared>, FhirError>>,
    existing: Vec<Option<(String, String)>>,
    is_transaction: bool,
) -> Result<Response, FhirError> {
    let custody = app.custody()?;
    let base = base_url(app);
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
    // Patients first: the ledger takes a record that names a patient only once that
    // patient's record is anchored (in the same ledger transaction or before), and a big
    // Bundle is anchored in several transactions, in this order.
    let mut order: Vec<usize> = (0..writes.len()).collect();
    order.sort_by_key(|k| writes[*k].resource_type != "Patient");
    let mut writes: Vec<Option<NewVersion>> = writes.into_iter().map(Some).collect();
    let sorted: Vec<NewVersion> = order.iter().filter_map(|k| writes[*k].take()).collect();
    let mut results: Vec<Option<Result<Anchored, CustodyError>>> = (0..order.len()).map(|_| None).collect();
    for (k, r) in order.into_iter().zip(custody.store_versions(sorted).await) {
        results[k] = Some(r);
    }
    let results = results.into_iter().flatten();
    let guard = Guard::new(app, ctx);
    let mut audits = Vec::new();
    let mut failure = None;
    for ((i, t, id, version, patient, last_updated), r) in slots.into_iter().zip(results) {
        let target = Target {
            resource_type: t,
            id: Some(&id),
            version: Some(version),
            patient: patient.as_deref(),
        };
        let mut e = guard.entry(Op::write(version), AuditOutcome::Allowed, &target)?;
        match r {
            Ok(_) => {
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
            Err(err) => {
                e.outcome = AuditOutcome::Failed;
                audits.push((e, None));
                let fe = FhirError::from(err);
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
