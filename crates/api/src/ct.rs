//! The transparency log in the shape of RFC 6962 §4 (Certificate Transparency v1 JSON),
//! so existing CT tooling can walk it. Hashes and byte strings are base64.
//!
//! Differences from a certificate log, by design:
//! - `leaf_input` is a medledger log leaf (`LogLeaf` encoding), `extra_data` the signed
//!   transaction it records;
//! - `tree_head_signature` is the node's raw Ed25519 signature over
//!   `TreeHead::sign_bytes` (not a TLS `DigitallySigned`); `signer` names the key.
//!
//! The hashing is exactly RFC 6962 / RFC 9162 (`0x00` leaf and `0x01` node prefixes), so
//! the proofs verify with any implementation of it.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_node::Node;
use medledger_types::codec::Encode;
use medledger_types::{Hash32, TreeSize};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiQuery};

/// Most entries one `get-entries` call returns.
pub const MAX_ENTRIES: u64 = 1000;

fn b64(h: &Hash32) -> String {
    B64.encode(h.as_bytes())
}

pub async fn get_sth(State(node): State<Node>) -> Json<Value> {
    let sth = node.signed_tree_head();
    Json(json!({
        "tree_size": sth.head.tree_size,
        "timestamp": sth.head.timestamp,
        "sha256_root_hash": b64(&sth.head.root_hash),
        "tree_head_signature": B64.encode(sth.signature.as_bytes()),
        "signer": sth.signer,
        "chain_id": sth.head.chain_id,
        // Not in RFC 6962: the block that produced this tree head and its commit
        // certificate, so the head is backed by the validator set, not by this node.
        "certificate": sth.certificate,
    }))
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    first: Option<u64>,
    second: Option<u64>,
}

fn current_size(node: &Node) -> u64 {
    node.head().log_size.0
}

pub async fn get_sth_consistency(
    State(node): State<Node>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let (Some(first), Some(second)) = (q.first, q.second) else {
        return Err(ApiError::bad_request("bad_params", "first and second are required"));
    };
    let size = current_size(&node);
    if first == 0 || first > second || second > size {
        return Err(ApiError::bad_request(
            "bad_params",
            format!("need 0 < first <= second <= {size} (the current tree size)"),
        ));
    }
    let proof = node.consistency_proof(TreeSize(first), TreeSize(second))?;
    Ok(Json(
        json!({ "consistency": proof.path.iter().map(b64).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
pub struct ProofByHashQuery {
    hash: Option<String>,
    tree_size: Option<u64>,
}

pub async fn get_proof_by_hash(
    State(node): State<Node>,
    ApiQuery(q): ApiQuery<ProofByHashQuery>,
) -> Result<Json<Value>, ApiError> {
    let (Some(hash), Some(tree_size)) = (q.hash, q.tree_size) else {
        return Err(ApiError::bad_request("bad_params", "hash and tree_size are required"));
    };
    let raw = B64
        .decode(hash.as_bytes())
        .map_err(|_| ApiError::bad_request("bad_params", "hash must be base64"))?;
    let hash = Hash32::from_slice(&raw).ok_or_else(|| ApiError::bad_request("bad_params", "hash must be 32 bytes"))?;
    let size = current_size(&node);
    if tree_size == 0 || tree_size > size {
        return Err(ApiError::bad_request(
            "bad_params",
            format!("need 0 < tree_size <= {size}"),
        ));
    }
    let index = node
        .leaf_index_of(&hash)
        .filter(|i| i.0 < tree_size)
        .ok_or_else(|| ApiError::not_found("no leaf with this hash in a tree of that size"))?;
    let proof = node.inclusion_proof(index, TreeSize(tree_size))?;
    Ok(Json(json!({
        "leaf_index": index,
        "audit_path": proof.path.iter().map(b64).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
pub struct EntriesQuery {
    start: Option<u64>,
    end: Option<u64>,
}

pub async fn get_entries(
    _reader: crate::access::LedgerReader,
    State(node): State<Node>,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let (Some(start), Some(end)) = (q.start, q.end) else {
        return Err(ApiError::bad_request("bad_params", "start and end are required"));
    };
    let size = current_size(&node);
    if start > end || start >= size {
        return Err(ApiError::bad_request(
            "bad_params",
            format!("need start <= end and start < {size}"),
        ));
    }
    let end = end.min(size - 1).min(start + MAX_ENTRIES - 1);
    let entries = node.entries(start, end)?;
    Ok(Json(json!({
        "entries": entries
            .iter()
            .map(|(leaf, tx)| json!({ "leaf_input": B64.encode(leaf), "extra_data": B64.encode(tx.encode()) }))
            .collect::<Vec<_>>(),
    })))
}
