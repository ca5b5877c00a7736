//! Blocks, state, status, health and metrics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use medledger_node::Node;
use medledger_types::Height;
use medledger_types::codec::Encode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::LedgerReader;
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
    State(node): State<Node>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = hex::decode(&key).map_err(|_| ApiError::bad_request("bad_key", "the state key must be hex"))?;
    if key.is_empty() || key.len() > 1024 {
        return Err(ApiError::bad_request(
            "bad_key",
            "the state key must be 1 to 1024 bytes",
        ));
    }
    let p = node.state_proof(&key)?;
    Ok(Json(json!({
        "key": hex::encode(&key),
        "value": p.value.as_ref().map(hex::encode),
        "height": p.height,
        "state_root": p.state_root,
        "proof": p.proof,
    })))
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
