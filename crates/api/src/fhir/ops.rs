//! `$everything` and NDJSON export, `$verify`, `$erase`, the CapabilityStatement and
//! SMART discovery.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use medledger_custody::{CustodyError, Permit};
use medledger_fhir::scope::Interaction;
use medledger_ledger::audit::AuditOutcome;
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::rest::read_checked;
use super::time::instant;
use super::{FhirError, base_url, check_id, fhir_json, supported_type};
use crate::AppState;

/// `GET /fhir/Patient/{id}/$everything`: every record of the patient the caller may
/// read, as a Bundle, or NDJSON with `_format=ndjson` / `Accept: application/fhir+ndjson`.
pub async fn everything(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let ndjson = raw
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "_format=ndjson"))
        || headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("ndjson"));
    let guard = Guard::new(&app, &ctx);
    // The Patient itself must be readable by the caller (guarded and audited).
    let (patient, _) = read_checked(&app, &ctx, Op::Everything, "Patient", &id, None).await?;
    let custody = app.custody()?;
    custody.caught_up().await;
    let base = base_url(&app);
    let mut read: Vec<(Permit, Value)> = Vec::new();
    let mut skipped = 0usize;
    for (t, rid) in custody.records_of_patient(&id) {
        if t == "Patient" || !ctx.caller.scopes.allows(&t, Interaction::Read) {
            continue;
        }
        let Some(permit) = guard.candidate(&t, &rid) else {
            skipped += 1;
            continue;
        };
        let latest = permit.record().latest;
        match custody
            .read(&permit, latest, Op::Everything.action(), ctx.break_glass.as_deref())
            .await
        {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(r) if super::interact::is_deleted(&r) => {}
                Ok(r) => read.push((permit, r)),
                Err(_) => skipped += 1,
            },
            Err(CustodyError::Denied(_) | CustodyError::Gone | CustodyError::NotFound) => skipped += 1,
            Err(e) => {
                guard.audit_failed_read(Op::Everything, &permit, latest).await?;
                return Err(e.into());
            }
        }
    }
    let results: Vec<(&Permit, u64)> = read.iter().map(|(p, _)| (p, p.record().latest)).collect();
    guard.audit_results(Op::Everything, &results, Vec::new()).await?;
    let mut resources = vec![patient];
    resources.extend(read.into_iter().map(|(_, r)| r));
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
            "code": "suppressed", "diagnostics": "some records are erased or not covered by consent"}]},
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
    let resource_type = supported_type(&t)?;
    check_id(&id)?;
    let version: u64 = vid
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| FhirError::not_found("version ids are positive integers"))?;
    let ctx = app.ctx(&headers)?;
    let custody = app.custody()?;
    let permit = Guard::new(&app, &ctx)
        .read(Op::Verify, resource_type, &id, Some(version))
        .await?;
    let record = permit.record();
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
        && let Ok(c) = custody.ciphertext(&permit, version).await
    {
        params.push(
            json!({"name": "ciphertext", "valueBase64Binary": base64::engine::general_purpose::STANDARD.encode(c)}),
        );
    }
    Ok(fhir_json(
        StatusCode::OK,
        &json!({"resourceType": "Parameters", "parameter": params}),
    ))
}

/// `POST /fhir/Patient/{id}/$erase`: the custodian destroys the data keys and
/// ciphertexts of every record of the patient it holds, with an erasure receipt on the
/// ledger first (crash-safe: see `medledger_custody`). Asked by the patient, or by
/// the custodian's privacy officer; the token needs the delete scope.
pub async fn erase(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    check_id(&id)?;
    let ctx = app.ctx(&headers)?;
    let custody = app.custody()?;
    let guard = Guard::new(&app, &ctx);
    let target = Target {
        resource_type: "Patient",
        id: Some(&id),
        version: None,
        patient: Some(&id),
    };
    guard.allow(Op::Erase, target).await?;
    let erased = match custody.erase_patient(&id).await {
        Ok(e) => e,
        Err(e) => {
            guard.audit(Op::Erase, AuditOutcome::Failed, target).await?;
            return Err(e.into());
        }
    };
    guard.audit(Op::Erase, AuditOutcome::Allowed, target).await?;
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

/// `GET /fhir/metadata`: generated from what is implemented: every R4 type, its
/// interactions, and the search parameters HL7 defines for it that medledger serves.
pub async fn metadata(State(app): State<AppState>) -> Response {
    let base = base_url(&app);
    let resources: Vec<Value> = medledger_fhir::defs::defs()
        .iter()
        .map(|t| {
            let params: Vec<Value> = t
                .params
                .values()
                .map(|p| {
                    json!({
                        "name": p.code,
                        "definition": format!("http://hl7.org/fhir/SearchParameter/{}-{}", t.name, p.code.trim_start_matches('_')),
                        "type": p.kind.as_str(),
                    })
                })
                .collect();
            let mut r = json!({
                "type": t.name,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{}", t.name),
                "interaction": [
                    {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "delete"},
                    {"code": "create"}, {"code": "history-instance"}, {"code": "history-type"},
                    {"code": "search-type"}
                ],
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "searchInclude": t.params.values().filter(|p| p.kind == medledger_fhir::defs::ParamKind::Reference).map(|p| format!("{}:{}", t.name, p.code)).collect::<Vec<_>>(),
                "searchParam": params,
            });
            if t.name == "Patient" {
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
                "description": "SMART Backend Services: a JWT client assertion signed with ES384 or RS384 under a key of the member's JWK Set registered on the ledger (identity.set_client_keys), or with EdDSA under the member's Ed25519 ledger key, exchanged at /auth/token for a bearer token."
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "searchParam": [
                {"name": "_count", "type": "number"}, {"name": "_offset", "type": "number"},
                {"name": "_sort", "type": "string"}, {"name": "_include", "type": "string"},
                {"name": "_revinclude", "type": "string"}, {"name": "_elements", "type": "string"},
                {"name": "_summary", "type": "token"}, {"name": "_total", "type": "token"}
            ],
        }],
    });
    fhir_json(StatusCode::OK, &body)
}

/// `GET /.well-known/smart-configuration`
pub async fn smart_configuration(State(app): State<AppState>) -> Response {
    let root = app.node.config().public_url();
    (
        StatusCode::OK,
        axum::Json(json!({
            "token_endpoint": format!("{root}/auth/token"),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384", "EdDSA"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["system/*.cruds", "user/*.cruds", "patient/*.rds", "system/*.read", "user/*.read", "patient/*.read"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        })),
    )
        .into_response()
}
