//! Search paging, the ledger's views (access log, consents), `$everything` and NDJSON
//! export, `$verify`, `$erase`, the CapabilityStatement and SMART discovery.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use medledger_fhir::scope::Interaction;
use medledger_fhir::search::SearchQuery;
use medledger_ledger::audit::{AuditAction, AuditOutcome};
use medledger_ledger::consent::Purpose;
use medledger_ledger::consent::policy::Basis;
use medledger_ledger::identity::MemberKind;
use medledger_node::records::AuditOnLedger;
use serde_json::{Value, json};

use super::rest::{audit_read, check_read, read_checked};
use super::time::instant;
use super::{Ctx, FhirError, audit, base_url, fhir_json, require_scope, supported_type};
use crate::AppState;

const DEFAULT_PAGE: usize = 50;

/// One page of a search, every result consent-checked and audited.
pub async fn search_page(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    query: &SearchQuery,
    base: &str,
) -> Result<Value, FhirError> {
    let custody = app.custody()?;
    let mut ledger_entries = Vec::new();
    if resource_type == "AuditEvent"
        && let Some(patient) = &query.patient
    {
        ledger_entries = access_log(app, ctx, patient, base)?;
    }
    if resource_type == "Consent"
        && let Some(patient) = &query.patient
    {
        ledger_entries = ledger_consents(app, ctx, patient, base)?;
    }
    let candidates: Vec<String> = if let Some(ids) = &query.id {
        ids.clone()
    } else if let Some(p) = &query.patient {
        if resource_type == "Patient" {
            vec![p.clone()]
        } else {
            custody
                .records_of_patient(p)
                .into_iter()
                .filter(|(t, _)| t == resource_type)
                .map(|(_, id)| id)
                .collect()
        }
    } else {
        custody.ids_of_type(resource_type)
    };
    let count = query.count.unwrap_or(DEFAULT_PAGE).min(app.node.config().fhir.max_page);
    let count_only = query.count == Some(0);
    let mut matched = Vec::new();
    let mut total = 0usize;
    let mut more = false;
    let mut unavailable = 0usize;
    for id in candidates {
        let Some(record) = custody.record_state(resource_type, &id)? else {
            continue;
        };
        if record.erased {
            continue;
        }
        let Ok(basis) = custody.decide(
            &ctx.caller.actor,
            resource_type,
            &id,
            &record,
            ctx.purpose,
            ctx.break_glass.is_some(),
        )?
        else {
            continue;
        };
        let bytes = match custody
            .read(
                &ctx.caller.actor,
                resource_type,
                &id,
                record.latest,
                &record,
                ctx.purpose,
                matches!(basis, Basis::BreakGlass),
            )
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("search: a record could not be read: {e}");
                unavailable += 1;
                continue;
            }
        };
        let Ok(resource) = serde_json::from_slice::<Value>(&bytes) else {
            unavailable += 1;
            continue;
        };
        if !query.matches(&resource) {
            continue;
        }
        total += 1;
        if count_only || total <= query.offset {
            continue;
        }
        if matched.len() == count {
            more = true;
            break;
        }
        matched.push((record, basis, id, resource));
    }
    audit(
        app,
        ctx,
        AuditAction::Search,
        AuditOutcome::Allowed,
        query.patient.as_deref(),
        Some(resource_type),
        None,
        None,
    )
    .await?;
    let mut entries = ledger_entries;
    for (record, basis, id, resource) in &matched {
        audit_read(
            app,
            ctx,
            AuditAction::Search,
            record,
            basis,
            resource_type,
            id,
            record.latest,
        )
        .await?;
        entries.push(json!({
            "fullUrl": format!("{base}/{resource_type}/{id}"),
            "resource": resource,
            "search": {"mode": "match"},
        }));
    }
    if unavailable > 0 {
        entries.push(json!({
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "incomplete",
                           "diagnostics": format!("{unavailable} matching record(s) could not be fetched from their custodian")}]
            },
            "search": {"mode": "outcome"},
        }));
    }
    let mut q = query.clone();
    let mut links = vec![json!({"relation": "self", "url": format!("{base}/{resource_type}?{}", q.self_query())})];
    if more {
        q.offset = query.offset + count;
        links.push(json!({"relation": "next", "url": format!("{base}/{resource_type}?{}", q.self_query())}));
    }
    if query.offset > 0 {
        q.offset = query.offset.saturating_sub(count);
        links.push(json!({"relation": "previous", "url": format!("{base}/{resource_type}?{}", q.self_query())}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries,
    });
    if count_only || !more {
        bundle["total"] = json!(total);
    }
    Ok(bundle)
}

/// What the ledger says about a patient (access log, consents) is shown to the patient
/// and to organisations' admins and services (auditors), not to practitioners.
fn patient_or_auditor(ctx: &Ctx, patient: &str, what: &str) -> Result<(), FhirError> {
    let actor = &ctx.caller.actor;
    let allowed = match actor.kind {
        MemberKind::Patient => actor.member.as_str() == patient,
        MemberKind::Admin | MemberKind::Service => true,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(FhirError::forbidden(format!(
            "a patient's {what}: shown only to the patient and to organisation auditors"
        )))
    }
}

/// The patient's access log from the ledger: who looked at their records, each entry
/// with a receipt proving its inclusion. Shown to the patient and to organisations'
/// admins and services (auditors); not to practitioners.
fn access_log(app: &AppState, ctx: &Ctx, patient: &str, base: &str) -> Result<Vec<Value>, FhirError> {
    patient_or_auditor(ctx, patient, "access log")?;
    let custody = app.custody()?;
    let mut out = Vec::new();
    for a in custody.audits_of_patient(patient) {
        let receipt = app.node.receipt(&a.tx_hash).ok().flatten();
        let note = custody.audit_note(&a.entry.id).ok().flatten();
        out.push(json!({
            "fullUrl": format!("{base}/AuditEvent/ledger-{}", a.entry.id.to_hex()),
            "resource": audit_event(&a, receipt.as_ref(), note.as_deref()),
            "search": {"mode": "match"},
        }));
    }
    Ok(out)
}

/// The patient's active consents on the ledger, as FHIR Consent resources (`ledger-<id>`).
/// Shown to the patient and to organisation auditors, like the access log.
fn ledger_consents(app: &AppState, ctx: &Ctx, patient: &str, base: &str) -> Result<Vec<Value>, FhirError> {
    patient_or_auditor(ctx, patient, "consents")?;
    let state = app.node.store().reader().map_err(|_| {
        FhirError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the ledger cannot be read",
        )
    })?;
    let now = medledger_node::node::now_ms();
    Ok(medledger_ledger::consent::active(&state, patient)
        .into_iter()
        .map(|(id, c)| {
            json!({
                "fullUrl": format!("{base}/Consent/{}{id}", super::consent::ID_PREFIX),
                "resource": super::consent::to_fhir(&id, &c, now),
                "search": {"mode": "match"},
            })
        })
        .collect())
}

fn purpose_code(p: Purpose, break_glass: bool) -> &'static str {
    if break_glass {
        "ETREAT"
    } else {
        super::consent::purpose_code(p)
    }
}

/// A ledger audit entry as a FHIR AuditEvent.
fn audit_event(a: &AuditOnLedger, receipt: Option<&medledger_node::Receipt>, note: Option<&str>) -> Value {
    let e = &a.entry;
    let (action, subtype) = match e.action {
        AuditAction::Create => ("C", "create"),
        AuditAction::Update => ("U", "update"),
        AuditAction::Read => ("R", "read"),
        AuditAction::Vread => ("R", "vread"),
        AuditAction::Search => ("E", "search-type"),
        AuditAction::History => ("R", "history-instance"),
        AuditAction::Export => ("E", "operation"),
        AuditAction::Erase => ("D", "delete"),
        _ => ("E", "operation"),
    };
    let outcome = match e.outcome {
        AuditOutcome::Allowed => "0",
        AuditOutcome::Denied => "4",
        AuditOutcome::Failed => "8",
    };
    let mut entity = Vec::new();
    if let Some(p) = &e.patient {
        entity
            .push(json!({"what": {"reference": format!("Patient/{p}")}, "role": {"code": "1", "display": "Patient"}}));
    }
    if let (Some(t), Some(id)) = (&e.resource_type, &e.record_id) {
        let r = match e.version {
            Some(v) => format!("{t}/{id}/_history/{v}"),
            None => format!("{t}/{id}"),
        };
        entity.push(json!({"what": {"reference": r}}));
    }
    let mut ext = vec![
        json!({"url": "tx", "valueString": a.tx_hash.to_hex()}),
        json!({"url": "height", "valueString": a.height.0.to_string()}),
        json!({"url": "leafIndex", "valueString": a.leaf_index.0.to_string()}),
    ];
    if e.break_glass {
        ext.push(json!({"url": "breakGlass", "valueBoolean": true}));
    }
    if let Some(r) = receipt.and_then(|r| serde_json::to_string(r).ok()) {
        ext.push(json!({"url": "receipt", "valueString": r}));
    }
    let mut purpose = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
        "code": purpose_code(e.purpose.unwrap_or(Purpose::Treatment), e.break_glass)}]}]);
    if let Some(n) = note {
        purpose[0]["text"] = json!(n);
    }
    json!({
        "resourceType": "AuditEvent",
        "id": format!("ledger-{}", &e.id.to_hex()[..32]),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": subtype}],
        "action": action,
        "recorded": instant(e.at.0),
        "outcome": outcome,
        "purposeOfEvent": purpose,
        "agent": [{"who": {"identifier": {"system": "urn:medledger:member", "value": format!("{}/{}", e.actor_org, e.actor_member)}}, "requestor": true}],
        "source": {"observer": {"identifier": {"system": "urn:medledger:org", "value": e.actor_org.to_string()}}},
        "entity": entity,
        "extension": [{"url": "https://medledger.dev/fhir/StructureDefinition/ledger-anchor", "extension": ext}],
    })
}

/// `GET /fhir/Patient/{id}/$everything`: every record of the patient the caller may
/// read, as a Bundle, or NDJSON with `_format=ndjson` / `Accept: application/fhir+ndjson`.
pub async fn everything(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    require_scope(&app, &ctx, "Patient", Interaction::Read).await?;
    let ndjson = raw
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "_format=ndjson"))
        || headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("ndjson"));
    // The Patient itself must be readable by the caller.
    let (patient, _) = read_checked(&app, &ctx, AuditAction::Export, "Patient", &id, None).await?;
    let custody = app.custody()?;
    let base = base_url(&headers);
    let mut resources = vec![patient];
    let mut skipped = 0usize;
    for (t, rid) in custody.records_of_patient(&id) {
        if t == "Patient" || !ctx.caller.scopes.allows(&t, Interaction::Read) {
            continue;
        }
        match read_checked(&app, &ctx, AuditAction::Export, &t, &rid, None).await {
            Ok((r, _)) => resources.push(r),
            Err(e) if e.status == StatusCode::GONE || e.status == StatusCode::FORBIDDEN => skipped += 1,
            Err(e) => return Err(e),
        }
    }
    if ndjson {
        let mut body = String::new();
        for r in &resources {
            body.push_str(&serde_json::to_string(r).unwrap_or_default());
            body.push('\n');
        }
        return Ok((StatusCode::OK, [("content-type", "application/fhir+ndjson")], body).into_response());
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            json!({"fullUrl": url, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/Patient/{id}/$everything")}],
        "entry": entries,
    });
    if skipped > 0
        && let Some(v) = bundle["entry"].as_array_mut()
    {
        v.push(
            json!({"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "information",
            "code": "suppressed", "diagnostics": format!("{skipped} record(s) are erased or not covered by consent")}]},
            "search": {"mode": "outcome"}}),
        );
    }
    Ok(fhir_json(StatusCode::OK, &bundle))
}

/// `GET /fhir/{type}/{id}/_history/{vid}/$verify`: the ledger anchor of this version,
/// the receipt (inclusion proof and certified tree head) of the transaction that
/// anchored it, and — at the custodian — the ciphertext, so that anyone can check it.
pub async fn verify(
    State(app): State<AppState>,
    Path((t, id, vid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    let resource_type = supported_type(&t)?;
    require_scope(&app, &ctx, resource_type, Interaction::Vread).await?;
    let version: u64 = vid
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| FhirError::not_found("version ids are positive integers"))?;
    let custody = app.custody()?;
    let (record, basis) = check_read(&app, &ctx, AuditAction::Verify, resource_type, &id).await?;
    let anchor = custody
        .version_anchor(resource_type, &id, version)?
        .ok_or_else(|| FhirError::not_found("no such version"))?;
    let tx_hash = custody
        .anchor_tx(resource_type, &id, version, anchor.height)
        .map_err(FhirError::from)?
        .ok_or_else(|| FhirError::not_found("the anchoring transaction was not found"))?;
    let receipt = app
        .node
        .receipt(&tx_hash)
        .map_err(|e| FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", e.to_string()))?
        .ok_or_else(|| FhirError::not_found("no receipt yet"))?;
    let mut params = vec![
        json!({"name": "resourceType", "valueString": resource_type}),
        json!({"name": "id", "valueString": id}),
        json!({"name": "version", "valueString": version.to_string()}),
        json!({"name": "custodian", "valueString": record.custodian.to_string()}),
        json!({"name": "author", "valueString": anchor.author.to_string()}),
        json!({"name": "ciphertextSha256", "valueString": anchor.ciphertext.to_hex()}),
        json!({"name": "height", "valueString": anchor.height.0.to_string()}),
        json!({"name": "tx", "valueString": tx_hash.to_hex()}),
        json!({"name": "receipt", "valueString": serde_json::to_string(&receipt).unwrap_or_default()}),
    ];
    if &record.custodian == custody.org()
        && let Ok(c) = custody.ciphertext(resource_type, &id, version).await
    {
        params.push(
            json!({"name": "ciphertext", "valueBase64Binary": base64::engine::general_purpose::STANDARD.encode(c)}),
        );
    }
    audit_read(
        &app,
        &ctx,
        AuditAction::Verify,
        &record,
        &basis,
        resource_type,
        &id,
        version,
    )
    .await?;
    Ok(fhir_json(
        StatusCode::OK,
        &json!({"resourceType": "Parameters", "parameter": params}),
    ))
}

/// `POST /fhir/Patient/{id}/$erase`: the custodian destroys the data keys and
/// ciphertexts of every record of the patient it holds and commits an erasure receipt.
/// Asked by the patient themselves or by an admin of the custodian organisation.
pub async fn erase(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let ctx = app.ctx(&headers)?;
    let custody = app.custody()?;
    let actor = &ctx.caller.actor;
    let is_patient = actor.kind == MemberKind::Patient && actor.member.as_str() == id;
    let is_admin = actor.kind == MemberKind::Admin && &actor.org == custody.org();
    if !is_patient && !is_admin {
        audit(
            &app,
            &ctx,
            AuditAction::Erase,
            AuditOutcome::Denied,
            Some(&id),
            Some("Patient"),
            Some(&id),
            None,
        )
        .await?;
        return Err(FhirError::forbidden(
            "erasure is asked by the patient or by an admin of the custodian organisation",
        ));
    }
    let erased = custody.erase_patient(&id).await?;
    audit(
        &app,
        &ctx,
        AuditAction::Erase,
        AuditOutcome::Allowed,
        Some(&id),
        Some("Patient"),
        Some(&id),
        None,
    )
    .await?;
    let others = custody.other_custodians(&id);
    Ok(fhir_json(
        StatusCode::OK,
        &json!({"resourceType": "Parameters", "parameter": [
            {"name": "erasedRecords", "valueInteger": erased.records},
            {"name": "receiptTx", "valueString": erased.tx_hash.to_hex()},
            {"name": "height", "valueString": erased.height.0.to_string()},
            {"name": "otherCustodians", "valueString": others.join(",")},
        ]}),
    ))
}

/// `GET /fhir/metadata`
pub async fn metadata(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let resources: Vec<Value> = medledger_fhir::SUPPORTED_TYPES
        .iter()
        .map(|t| {
            let params: Vec<Value> = SearchQuery::supported_params(t)
                .iter()
                .map(|p| json!({"name": p, "type": param_type(p)}))
                .collect();
            let mut r = json!({
                "type": t,
                "interaction": [
                    {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "create"},
                    {"code": "history-instance"}, {"code": "search-type"}
                ],
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": true,
                "searchParam": params,
            });
            if *t == "Patient" {
                r["operation"] = json!([
                    {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
                    {"name": "erase", "definition": format!("{base}/OperationDefinition/erase")}
                ]);
            }
            r
        })
        .collect();
    let body = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(app.node.genesis().genesis_time.0),
        "kind": "instance",
        "software": {"name": "medledger", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": format!("medledger node of {}", app.custody.as_ref().map(|c| c.org().to_string()).unwrap_or_default()), "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                "description": "SMART Backend Services-style: a JWT client assertion signed with EdDSA (Ed25519) by a member key registered on the ledger, exchanged at /auth/token for a bearer token. RS384/ES384 are not accepted."
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    });
    fhir_json(StatusCode::OK, &body)
}

fn param_type(p: &str) -> &'static str {
    match p {
        "_lastUpdated" | "date" => "date",
        "patient" | "subject" => "reference",
        "_id" => "token",
        _ => "token",
    }
}

/// `GET /.well-known/smart-configuration`
pub async fn smart_configuration(headers: HeaderMap) -> Response {
    let host = base_url(&headers);
    let root = host.trim_end_matches("/fhir");
    (
        StatusCode::OK,
        axum::Json(json!({
            "token_endpoint": format!("{root}/auth/token"),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["system/*.cruds", "user/*.cruds", "patient/*.rs", "system/*.read", "user/*.read", "patient/*.read"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        })),
    )
        .into_response()
}
