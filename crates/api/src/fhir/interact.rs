//! The interactions beyond create, read, update and search (R4 `http.html`): delete,
//! conditional update and delete, type- and system-level history, and what every read
//! and write says in HTTP: `ETag` and `Last-Modified`, `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `Prefer: return=…`, `_format` and `Accept`.
//!
//! A delete writes a new version that says the record is deleted (its tombstone: the
//! resource's type, id and `meta` with the tag `urn:medledger:record|deleted`, no
//! content), anchored on the ledger like any version, so history is kept; a read of it
//! answers `410 Gone`; an update brings the record back. Erasure (`$erase`), which
//! destroys every version, is separate.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medledger_custody::{NewVersion, Permit};
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::rest::{create_checked, store_as, update_checked};
use super::time::{http_date, instant, parse_http_date};
use super::{Ctx, FhirError, Prepared, base_url, check_id, fhir_json, parse_body, supported_type};
use crate::AppState;

/// The tag of a deleted version.
pub const DELETED_SYSTEM: &str = "urn:medledger:record";
pub const DELETED_CODE: &str = "deleted";

/// Whether a stored version is a delete's tombstone.
pub fn is_deleted(resource: &Value) -> bool {
    resource["meta"]["tag"].as_array().is_some_and(|tags| {
        tags.iter()
            .any(|t| t["system"] == DELETED_SYSTEM && t["code"] == DELETED_CODE)
    })
}

/// `ETag: W/"v"` and, when known, `Last-Modified`.
pub fn version_headers(h: &mut HeaderMap, version: u64, last_updated: Option<&str>) {
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        h.insert("etag", v);
    }
    let ms = last_updated.and_then(|lu| medledger_fhir::date::parse_fhir_date(lu).ok());
    if let Some(r) = ms
        && let Ok(v) = HeaderValue::from_str(&http_date(r.start.max(0) as u64))
    {
        h.insert("last-modified", v);
    }
}

/// The version an `ETag`-style header names (`W/"3"`, `"3"`, `3`).
fn named_version(v: &str) -> Option<u64> {
    v.trim().trim_start_matches("W/").trim_matches('"').parse().ok()
}

/// `If-Match`: the write goes ahead only on the version the client saw.
pub fn if_match(headers: &HeaderMap, current: u64) -> Result<(), FhirError> {
    let Some(m) = headers.get("if-match") else {
        return Ok(());
    };
    if m.to_str().ok().and_then(named_version) == Some(current) {
        return Ok(());
    }
    Err(FhirError::new(
        StatusCode::PRECONDITION_FAILED,
        "conflict",
        format!("If-Match names a version that is not the current one ({current})"),
    ))
}

/// Whether `If-None-Match` names this version, or `If-Modified-Since` is not before its
/// last update (`If-None-Match` wins when both are sent, RFC 9110 §13.1.3).
pub fn not_modified(headers: &HeaderMap, version: u64, last_updated: Option<&str>) -> bool {
    if let Some(v) = headers.get("if-none-match").and_then(|v| v.to_str().ok()) {
        return v.trim() == "*" || v.split(',').any(|one| named_version(one) == Some(version));
    }
    let since = headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let updated = last_updated.and_then(|lu| medledger_fhir::date::parse_fhir_date(lu).ok());
    match (since, updated) {
        // HTTP dates have whole seconds.
        (Some(since), Some(u)) => u.start.max(0) as u64 / 1000 <= since / 1000,
        _ => false,
    }
}

/// What `Prefer: return=` asks of a write's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    Minimal,
    Representation,
    OperationOutcome,
}

pub fn prefer(headers: &HeaderMap) -> Prefer {
    let asked = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .find_map(|p| p.trim().strip_prefix("return="));
    match asked.map(|a| a.trim_matches('"')) {
        Some("minimal") => Prefer::Minimal,
        Some("OperationOutcome") => Prefer::OperationOutcome,
        _ => Prefer::Representation,
    }
}

/// What `_format` and `Accept` may ask for: FHIR JSON (and NDJSON where an operation
/// offers it). FHIR XML and Turtle are not served: `406` with an OperationOutcome.
fn acceptable(media: &str) -> bool {
    let m = media.split(';').next().unwrap_or_default().trim();
    matches!(
        m,
        "" | "*/*"
            | "application/*"
            | "json"
            | "application/json"
            | "application/fhir+json"
            | "application/json+fhir"
            | "ndjson"
            | "application/ndjson"
            | "application/fhir+ndjson"
    )
}

/// Middleware for `/fhir`: refuses a `_format` or `Accept` this server cannot answer in,
/// before any work.
pub async fn formats(req: Request, next: Next) -> Response {
    let format = req.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "_format")
            .map(|(_, v)| v)
    });
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let refused = match (&format, &accept) {
        (Some(f), _) => !acceptable(f),
        (None, Some(a)) => !a.split(',').any(acceptable),
        (None, None) => false,
    };
    if refused {
        return FhirError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            "this server answers in FHIR JSON (application/fhir+json) only",
        )
        .into_response();
    }
    next.run(req).await
}

/// A history entry for one version: a deleted version has no resource and the request
/// that deleted it.
pub fn history_entry(base: &str, resource_type: &str, id: &str, version: u64, resource: Value) -> Value {
    let url = format!("{base}/{resource_type}/{id}");
    let last_modified = resource["meta"]["lastUpdated"].clone();
    if is_deleted(&resource) {
        return json!({
            "fullUrl": url,
            "request": {"method": "DELETE", "url": format!("{resource_type}/{id}")},
            "response": {"status": "204 No Content", "etag": format!("W/\"{version}\""), "lastModified": last_modified},
        });
    }
    let (method, request_url, status) = if version == 1 {
        ("POST", resource_type.to_string(), "201 Created")
    } else {
        ("PUT", format!("{resource_type}/{id}"), "200 OK")
    };
    json!({
        "fullUrl": url,
        "resource": resource,
        "request": {"method": method, "url": request_url},
        "response": {"status": status, "etag": format!("W/\"{version}\""), "lastModified": last_modified},
    })
}

/// Deletes a record: its tombstone becomes the next version.
async fn delete_checked(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, FhirError> {
    let target = Target {
        resource_type,
        id: Some(id),
        ..Target::default()
    };
    Guard::new(app, ctx).allow(Op::Delete, target).await?;
    let custody = app.custody()?;
    let current = custody
        .record_state(resource_type, id)?
        .ok_or_else(|| FhirError::not_found("no such resource"))?;
    if current.erased {
        return Err(FhirError::new(
            StatusCode::GONE,
            "deleted",
            "this record has been erased",
        ));
    }
    if_match(headers, current.latest)?;
    super::rx::check_delete(app, resource_type, id)?;
    let version = custody.reserve_version(resource_type, id, false)?;
    let now = medledger_node::node::now_ms().0;
    let last_updated = instant(now);
    let tombstone = json!({
        "resourceType": resource_type,
        "id": id,
        "meta": {
            "versionId": version.to_string(),
            "lastUpdated": last_updated,
            "tag": [{"system": DELETED_SYSTEM, "code": DELETED_CODE}],
        },
    });
    let plaintext = serde_json::to_vec(&tombstone).map_err(|e| FhirError::invalid(e.to_string()))?;
    let prepared = Prepared {
        resource_type,
        id: id.to_string(),
        version,
        patient: current.patient.clone(),
        last_updated: last_updated.clone(),
        resource: tombstone,
        new: NewVersion {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
            version,
            patient: current.patient.clone(),
            author: ctx.caller.actor.member.clone(),
            plaintext,
            last_updated_ms: now,
            identifiers: Vec::new(),
            // A deleted version has no search values: searches skip it unread.
            search: None,
        },
    };
    let w = store_as(app, ctx, prepared, Op::Delete).await?;
    let mut r = match prefer(headers) {
        Prefer::OperationOutcome | Prefer::Representation => fhir_json(
            StatusCode::OK,
            &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "deleted",
                "diagnostics": format!("{resource_type}/{id} deleted as version {version}; its history is kept")}]}),
        ),
        Prefer::Minimal => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
    };
    version_headers(r.headers_mut(), w.version, Some(&w.last_updated));
    Ok(r)
}

/// `DELETE /fhir/{type}/{id}`
pub async fn delete(
    State(app): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    delete_checked(&app, &ctx, resource_type, &id, &headers).await
}

/// The record a conditional create, update or delete names, among the records this
/// node's organisation holds (the caller is its staff: writes happen at the custodian),
/// looked up by its staff only and audited (`lookup`): `identifier=system|value` in the
/// identifier index, any other search criteria on the records' search values. `None`
/// when nothing matches; `412` when more than one does (R4 `http.html#cond-update`).
pub async fn conditional_target(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    raw: Option<&str>,
) -> Result<Option<String>, FhirError> {
    let raw = raw.filter(|q| !q.is_empty()).ok_or_else(|| {
        FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            "not-supported",
            "a conditional interaction needs search criteria",
        )
    })?;
    Guard::new(app, ctx)
        .allow(
            Op::Lookup,
            Target {
                resource_type,
                ..Target::default()
            },
        )
        .await?;
    let custody = app.custody()?;
    custody.caught_up().await;
    if let Some((system, value)) = super::bundle::parse_identifier_query(raw) {
        return Ok(custody.resolve_identifier(resource_type, system.as_deref(), &value)?);
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|_| FhirError::invalid("the query string does not parse"))?;
    let query = medledger_fhir::search::SearchQuery::parse(resource_type, &pairs)
        .map_err(|e| FhirError::new(StatusCode::PRECONDITION_FAILED, "invalid", e.to_string()))?;
    if query.clauses.is_empty() || query.clauses.iter().any(|c| c.chain.is_some()) {
        return Err(FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            "not-supported",
            "a conditional interaction names search criteria on the type itself (no chains)",
        ));
    }
    let mut found = None;
    for id in custody.ids_of_type(resource_type) {
        let Some(state) = custody.record_state(resource_type, &id)? else {
            continue;
        };
        if &state.custodian != custody.org() || state.erased {
            continue;
        }
        let Some(s) = custody.searchable(resource_type, &id) else {
            continue;
        };
        if s.version != state.latest || !s.values.as_ref().is_some_and(|v| query.matches(v)) {
            continue;
        }
        if found.is_some() {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                "multiple-matches",
                "more than one record matches the conditional criteria",
            ));
        }
        found = Some(id);
    }
    Ok(found)
}

/// `PUT /fhir/{type}?…`: updates the one record that matches, or creates one when none
/// does (`412` when several do).
pub async fn conditional_update(
    State(app): State<AppState>,
    Path(t): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    let ctx = app.ctx(&headers)?;
    let mut resource = parse_body(&headers, &body, app.node.config().fhir.max_resource_bytes)?;
    match conditional_target(&app, &ctx, resource_type, raw.as_deref()).await? {
        Some(id) => {
            match resource.get("id").and_then(Value::as_str) {
                Some(given) if given != id => {
                    return Err(FhirError::invalid(
                        "the body's id is not the id of the record the condition matches",
                    ));
                }
                _ => {}
            }
            resource["id"] = Value::String(id.clone());
            update_checked(&app, &ctx, resource_type, &id, resource, &headers).await
        }
        None => create_checked(&app, &ctx, resource_type, resource, &headers).await,
    }
}

/// `DELETE /fhir/{type}?…`: deletes the one record that matches (`404` when none does,
/// `412` when several do).
pub async fn conditional_delete(
    State(app): State<AppState>,
    Path(t): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    let ctx = app.ctx(&headers)?;
    match conditional_target(&app, &ctx, resource_type, raw.as_deref()).await? {
        Some(id) => delete_checked(&app, &ctx, resource_type, &id, &headers).await,
        None => Err(FhirError::not_found("no record matches the condition")),
    }
}

/// Type- or system-level history: every version of the records the caller may read,
/// newest first, since `_since`, at most `_count`.
async fn history_of(
    app: &AppState,
    ctx: &Ctx,
    types: Vec<&'static str>,
    raw: Option<&str>,
    self_url: String,
) -> Result<Response, FhirError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| FhirError::invalid("the query string does not parse"))?;
    let mut since: Option<i64> = None;
    let mut count = 50usize;
    for (k, v) in &pairs {
        match k.as_str() {
            "_since" => {
                let r = medledger_fhir::date::parse_fhir_date(v)
                    .map_err(|_| FhirError::invalid("_since expects an instant (YYYY-MM-DDThh:mm:ss[.fff]Z)"))?;
                since = Some(r.start);
            }
            "_count" => {
                count = v
                    .parse::<usize>()
                    .ok()
                    .filter(|c| *c <= app.node.config().fhir.max_page)
                    .ok_or_else(|| FhirError::invalid("_count expects a whole number up to the page limit"))?;
            }
            "_format" | "_pretty" => {}
            _ => {
                return Err(FhirError::invalid(format!(
                    "{k:.40} is not a history parameter (_since, _count)"
                )));
            }
        }
    }
    let guard = Guard::new(app, ctx);
    let custody = app.custody()?;
    custody.caught_up().await;
    // Every version in range, with its time on the ledger.
    let mut versions: Vec<(u64, &'static str, String, u64)> = Vec::new();
    let mut permits: std::collections::BTreeMap<(&'static str, String), Permit> = Default::default();
    for t in types {
        if !ctx
            .caller
            .scopes
            .allows(t, medledger_fhir::scope::Interaction::HistoryType)
        {
            continue;
        }
        for id in custody.ids_of_type(t) {
            let Some(permit) = guard.candidate(t, &id) else {
                continue;
            };
            for v in (1..=permit.record().latest).rev() {
                let Some(anchor) = custody.version_anchor(t, &id, v)? else {
                    continue;
                };
                if since.is_some_and(|s| (anchor.timestamp.0 as i64) < s) {
                    break;
                }
                versions.push((anchor.timestamp.0, t, id.clone(), v));
            }
            permits.insert((t, id), permit);
        }
    }
    versions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)).then_with(|| b.3.cmp(&a.3)));
    let total = versions.len();
    versions.truncate(count);
    let mut read = Vec::new();
    for (_, t, id, v) in &versions {
        let Some(permit) = permits.get(&(*t, id.clone())) else {
            continue;
        };
        match custody
            .read(permit, *v, Op::History.action(), ctx.break_glass.as_deref())
            .await
        {
            Ok(bytes) => {
                if let Ok(resource) = serde_json::from_slice::<Value>(&bytes) {
                    read.push((permit, *v, resource));
                }
            }
            Err(e) => tracing::warn!("history: a version could not be read: {e}"),
        }
    }
    let results: Vec<(&Permit, u64)> = read.iter().map(|(p, v, _)| (*p, *v)).collect();
    guard.audit_results(Op::History, &results, Vec::new()).await?;
    let base = base_url(app);
    let entries: Vec<Value> = read
        .into_iter()
        .map(|(p, v, resource)| history_entry(&base, p.resource_type(), p.id(), v, resource))
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": "history",
            "total": total,
            "link": [{"relation": "self", "url": self_url}],
            "entry": entries,
        }),
    ))
}

/// `GET /fhir/{type}/_history`
pub async fn type_history(
    State(app): State<AppState>,
    Path(t): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let resource_type = supported_type(&t)?;
    let ctx = app.ctx(&headers)?;
    let self_url = format!("{}/{resource_type}/_history", base_url(&app));
    history_of(&app, &ctx, vec![resource_type], raw.as_deref(), self_url).await
}

/// `GET /fhir/_history`
pub async fn system_history(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    let self_url = format!("{}/_history", base_url(&app));
    history_of(
        &app,
        &ctx,
        medledger_fhir::resource_types().to_vec(),
        raw.as_deref(),
        self_url,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn conditional_reads() {
        let lu = Some("2024-03-01T10:00:00.500Z");
        assert!(not_modified(&headers(&[("if-none-match", "W/\"3\"")]), 3, lu));
        assert!(not_modified(&headers(&[("if-none-match", "W/\"1\", W/\"3\"")]), 3, lu));
        assert!(!not_modified(&headers(&[("if-none-match", "W/\"2\"")]), 3, lu));
        assert!(not_modified(&headers(&[("if-none-match", "*")]), 3, lu));
        assert!(not_modified(
            &headers(&[("if-modified-since", "Fri, 01 Mar 2024 10:00:00 GMT")]),
            3,
            lu
        ));
        assert!(!not_modified(
            &headers(&[("if-modified-since", "Fri, 01 Mar 2024 09:59:59 GMT")]),
            3,
            lu
        ));
        assert!(!not_modified(&headers(&[("if-modified-since", "garbage")]), 3, lu));
        // If-None-Match wins.
        assert!(!not_modified(
            &headers(&[
                ("if-none-match", "W/\"2\""),
                ("if-modified-since", "Fri, 01 Mar 2030 10:00:00 GMT")
            ]),
            3,
            lu
        ));
        assert!(!not_modified(&headers(&[]), 3, lu));
    }

    #[test]
    fn if_match_names_the_current_version() {
        assert!(if_match(&headers(&[]), 4).is_ok());
        assert!(if_match(&headers(&[("if-match", "W/\"4\"")]), 4).is_ok());
        assert_eq!(
            if_match(&headers(&[("if-match", "W/\"3\"")]), 4).unwrap_err().status,
            StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn prefer_return() {
        assert_eq!(prefer(&headers(&[])), Prefer::Representation);
        assert_eq!(prefer(&headers(&[("prefer", "return=minimal")])), Prefer::Minimal);
        assert_eq!(
            prefer(&headers(&[("prefer", "respond-async, return=OperationOutcome")])),
            Prefer::OperationOutcome
        );
        assert_eq!(
            prefer(&headers(&[("prefer", "return=representation")])),
            Prefer::Representation
        );
    }

    #[test]
    fn formats() {
        for ok in [
            "json",
            "application/fhir+json",
            "application/json; charset=utf-8",
            "*/*",
            "application/fhir+ndjson",
        ] {
            assert!(acceptable(ok), "{ok}");
        }
        for no in ["xml", "application/fhir+xml", "text/turtle", "ttl"] {
            assert!(!acceptable(no), "{no}");
        }
    }

    #[test]
    fn tombstones_are_recognised() {
        let t = json!({"resourceType": "Observation", "id": "o", "meta": {"tag": [{"system": DELETED_SYSTEM, "code": DELETED_CODE}]}});
        assert!(is_deleted(&t));
        assert!(!is_deleted(
            &json!({"resourceType": "Observation", "meta": {"tag": [{"system": "x", "code": "deleted"}]}})
        ));
        let e = history_entry("https://n/fhir", "Observation", "o", 2, t);
        assert_eq!(e["request"]["method"], "DELETE");
        assert!(e.get("resource").is_none());
    }
}
