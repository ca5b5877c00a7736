//! Blocks, state, status, health and metrics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use medledger_ledger::audit::AuditOutcome;
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::{MemberKind, OrgRole, org_record};
use medledger_ledger::records::valid_id;
use medledger_node::Node;
use medledger_types::Height;
use medledger_types::codec::Encode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::{LedgerReader, member_caller};
use crate::error::{ApiError, ApiQuery};

#[derive(Deserialize)]
pub struct BlockQuery {
    format: Option<String>,
}

pub async fn block(
    _reader: LedgerReader,
    State(node): State<Node>,
    Path(height): Path<String>,
    ApiQuery(q): ApiQuery<BlockQuery>,
) -> Result<Json<Value>, ApiError> {
    let height = if height == "latest" {
        node.head().height
    } else {
        Height(
            height
                .parse()
                .map_err(|_| ApiError::bad_request("bad_height", "height must be a number or `latest`"))?,
        )
    };
    let block = node
        .block(height)?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    match q.format.as_deref() {
        Some("hex") => Ok(Json(
            json!({ "height": height, "hash": block.hash(), "encoded": hex::encode(block.encode()) }),
        )),
        None | Some("json") => Ok(Json(json!({
            "hash": block.hash(),
            "header": block.header,
            "txs": block.txs.iter().map(|t| t.hash()).collect::<Vec<_>>(),
            "commit": block.commit,
        }))),
        Some(other) => Err(ApiError::bad_request(
            "bad_format",
            format!("unknown format {other:?}; use json or hex"),
        )),
    }
}

pub async fn state(
    _reader: LedgerReader,
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = hex::decode(&key).map_err(|_| ApiError::bad_request("bad_key", "the state key must be hex"))?;
    if key.is_empty() || key.len() > 1024 {
        return Err(ApiError::bad_request(
            "bad_key",
            "the state key must be 1 to 1024 bytes",
        ));
    }
    if let Some(patient) = key.strip_prefix(MONITORING_WINDOW) {
        monitoring_window_reader(&app, &headers, patient).await?;
    }
    let p = app.node.state_proof(&key)?;
    Ok(Json(json!({
        "key": hex::encode(&key),
        "value": p.value.as_ref().map(hex::encode),
        "height": p.height,
        "state_root": p.state_root,
        "proof": p.proof,
    })))
}

/// The prefix of the patients' monitoring windows (`rx/patient/{pseudonym}`).
const MONITORING_WINDOW: &[u8] = b"rx/patient/";

/// A patient's monitoring window is served here only to the regulator's staff and to this
/// node's own service (its tools), even on a public ledger, and the read is audited as a
/// view of the monitoring (ADR 014 §14); practitioners and pharmacists see the alerts
/// through the CDS service, which checks that they treat the patient.
async fn monitoring_window_reader(app: &AppState, headers: &HeaderMap, patient: &[u8]) -> Result<(), ApiError> {
    let (state, caller) = member_caller(app, headers, "a patient's monitoring window is shown to the regulator")?;
    let custody = app.custody.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this node keeps no audit journal, so it serves no monitoring window",
        )
    })?;
    let own_service = caller.actor.kind == MemberKind::Service && &caller.actor.org == custody.org();
    let regulator = caller.actor.kind.is_staff()
        && org_record(&state, &caller.actor.org).is_some_and(|o| o.role == OrgRole::Regulator);
    let allowed = own_service || regulator;
    // A pseudonym the ledger could not hold names no window, and no one to audit it for.
    if let Some(p) = std::str::from_utf8(patient).ok().filter(|p| valid_id(p)) {
        let outcome = if allowed {
            AuditOutcome::Allowed
        } else {
            AuditOutcome::Denied
        };
        crate::cds::audit_view(custody, &caller, p, outcome, Purpose::Operations).await?;
    }
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a patient's monitoring window is served here to the regulator and this node's own service; \
             those who treat the patient see its alerts through POST /cds-services/{id}",
        ))
    }
}

pub async fn status(State(node): State<Node>) -> Json<Value> {
    let head = node.head();
    let g = node.genesis();
    let c = node.consensus_status();
    let total_power: u64 = g.validators.iter().map(|v| v.power).sum();
    Json(json!({
        "chain_id": g.chain_id,
        "moniker": node.config().moniker,
        "node_key": node.public_key(),
        "height": head.height,
        "block_hash": head.block_hash,
        "state_root": head.state_root,
        "log_size": head.log_size,
        "log_root": head.log_root,
        "timestamp": head.timestamp,
        "mempool_txs": node.mempool_len(),
        "consensus": {
            "mode": c.mode,
            "height": c.height,
            "round": c.round,
        },
        "round": c.round,
        "catching_up": c.catching_up,
        "peers": {
            "connected": c.peers,
            "configured": node.config().p2p.peers.iter().map(|p| json!({ "p2p": p.p2p, "api": p.api })).collect::<Vec<_>>(),
        },
        "validators": g.validators,
        "total_voting_power": total_power,
    }))
}

/// `GET /v1/nonce/{public_key}`: the nonce the key's next transaction must carry
/// (counting those waiting for a block). Public: clients need it to sign.
pub async fn nonce(State(node): State<Node>, Path(key): Path<String>) -> Result<Json<Value>, ApiError> {
    let key: medledger_types::PublicKey = key
        .parse()
        .map_err(|e| ApiError::bad_request("bad_key", format!("public key: {e}")))?;
    let nonce = node.next_nonce(&key)?;
    Ok(Json(json!({ "public_key": key, "next_nonce": nonce })))
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn metrics(State(node): State<Node>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics_text(),
    )
}
