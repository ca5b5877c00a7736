//! Submitting transactions and asking about them.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_ledger::describe_outcome;
use medledger_node::{Accepted, CommittedTx, Node, SubmitError, TxStatus};
use medledger_types::codec::{Decode, Encode};
use medledger_types::tx::{MAX_TX_BYTES, decode_batch};
use medledger_types::{Hash32, SignedTx};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiQuery};

#[derive(Deserialize)]
pub struct SubmitQuery {
    /// Wait for the commit (default) or answer as soon as the mempool accepted.
    wait: Option<bool>,
    /// Batch only: answer with the counts and the first error, not one result per
    /// transaction (for load generators).
    summary: Option<bool>,
}

/// Reads the whole body, refusing more than `limit` bytes with a JSON 413.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn decode_hex_tx(s: &str) -> Result<(SignedTx, usize), ApiError> {
    let raw = hex::decode(s.trim()).map_err(|_| ApiError::bad_request("malformed", "transaction is not valid hex"))?;
    decode_tx(&raw)
}

fn decode_tx(raw: &[u8]) -> Result<(SignedTx, usize), ApiError> {
    if raw.len() > MAX_TX_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "tx_too_large",
            format!("a transaction may be at most {MAX_TX_BYTES} bytes"),
        ));
    }
    SignedTx::decode(raw)
        .map(|tx| (tx, raw.len()))
        .map_err(|e| ApiError::bad_request("malformed", format!("transaction does not decode: {e}")))
}

fn committed_json(hash: &Hash32, c: &CommittedTx) -> Value {
    json!({
        "hash": hash,
        "status": "committed",
        "height": c.height,
        "index_in_block": c.index_in_block,
        "leaf_index": c.leaf_index,
        "outcome": c.outcome.0,
        "outcome_name": describe_outcome(c.outcome),
    })
}

/// How long an answer without `wait` waits for another validator to hold the
/// transaction; after it the answer says `"replicated": false`.
const REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits, until `deadline`, for an accepted transaction; `Err` for a failure of that one
/// transaction.
async fn settle(deadline: tokio::time::Instant, accepted: Accepted) -> Result<Value, SubmitError> {
    let Some(rx) = accepted.committed else {
        // Not waiting for the commit: under consensus, the answer waits until another
        // validator holds the transaction, so that this node crashing loses nothing.
        let mut v = json!({ "hash": accepted.hash, "status": "pending" });
        if let Some(replicated) = accepted.replicated {
            let until = deadline.min(tokio::time::Instant::now() + REPLICATION_WAIT);
            let held = matches!(tokio::time::timeout_at(until, replicated).await, Ok(Ok(())));
            v["replicated"] = json!(held);
        }
        return Ok(v);
    };
    match tokio::time::timeout_at(deadline, rx).await {
        Err(_) => Err(SubmitError::Timeout),
        Ok(Err(_)) => Err(SubmitError::ShuttingDown),
        Ok(Ok(result)) => result.map(|c| committed_json(&accepted.hash, &c)),
    }
}

pub async fn submit_one(
    State(node): State<Node>,
    ApiQuery(q): ApiQuery<SubmitQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    node.admission([])?;
    let raw = read_body(body, MAX_TX_BYTES * 2 + 64).await?;
    let tx = if is_json(&headers) {
        #[derive(Deserialize)]
        struct One {
            tx: String,
        }
        let one: One = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::bad_request("malformed", format!("expected {{\"tx\": \"<hex>\"}}: {e}")))?;
        decode_hex_tx(&one.tx)?
    } else {
        decode_tx(&raw)?
    };
    node.admission([&tx.0.tx.signer])?;
    let wait = q.wait.unwrap_or(true);
    let accepted = node
        .submit_from_client(vec![tx], wait, true)
        .await
        .pop()
        .unwrap_or(Err(SubmitError::ShuttingDown))?;
    let deadline = tokio::time::Instant::now() + node.config().commit_timeout();
    let value = settle(deadline, accepted).await?;
    let status = if wait { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(value)).into_response())
}

pub async fn submit_batch(
    State(node): State<Node>,
    ApiQuery(q): ApiQuery<SubmitQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = node.config().api.max_body_bytes;
    let max_txs = node.config().api.max_batch_txs;
    node.admission([])?;
    let raw = read_body(body, limit).await?;
    let txs: Vec<(SignedTx, usize)> = if is_json(&headers) {
        #[derive(Deserialize)]
        struct Many {
            txs: Vec<String>,
        }
        let many: Many = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::bad_request("malformed", format!("expected {{\"txs\": [\"<hex>\", …]}}: {e}")))?;
        if many.txs.len() > max_txs {
            return Err(batch_too_large(max_txs));
        }
        many.txs.iter().map(|s| decode_hex_tx(s)).collect::<Result<_, _>>()?
    } else {
        let count = raw
            .get(..4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        if count > max_txs {
            return Err(batch_too_large(max_txs));
        }
        decode_batch(&raw, max_txs)
            .map_err(|e| ApiError::bad_request("malformed", format!("batch does not decode: {e}")))?
            .into_iter()
            .map(|tx| {
                let size = tx.encode().len();
                (tx, size)
            })
            .collect()
    };
    // Refused for load before any signature is checked.
    node.admission(txs.iter().map(|(t, _)| &t.tx.signer))?;
    let wait = q.wait.unwrap_or(true);
    let results = node.submit_from_client(txs, wait, true).await;
    let deadline = tokio::time::Instant::now() + node.config().commit_timeout();
    let summary = q.summary.unwrap_or(false);
    let mut out = Vec::with_capacity(if summary { 0 } else { results.len() });
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut first_error = None;
    // Refused for load (the signer's share or the pool is full): the client should back off.
    let mut busy = None;
    for r in results {
        let v = match r {
            Ok(accepted) => settle(deadline, accepted).await,
            Err(e) => Err(e),
        };
        let v = match v {
            Ok(v) => {
                ok += 1;
                v
            }
            Err(e) => {
                if matches!(e, SubmitError::SignerBusy(_) | SubmitError::MempoolFull(_)) {
                    busy = Some(StatusCode::TOO_MANY_REQUESTS);
                }
                failed += 1;
                let v = json!({ "error": { "reason": e.reason(), "message": e.to_string() } });
                first_error.get_or_insert_with(|| v.clone());
                v
            }
        };
        if !summary {
            out.push(v);
        }
    }
    let mut body = json!({ "accepted": ok, "failed": failed });
    if summary {
        body["first_error"] = first_error.unwrap_or(Value::Null);
    } else {
        body["results"] = Value::Array(out);
    }
    // Nothing accepted because of load: the batch as a whole is refused, so that plain
    // HTTP clients back off; otherwise the per-transaction results say which to resend.
    let status = match busy {
        Some(s) if ok == 0 => s,
        _ if wait => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    let mut r = (status, Json(body)).into_response();
    if busy.is_some() {
        r.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    Ok(r)
}

fn batch_too_large(max_txs: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch_too_large",
        format!("a batch may hold at most {max_txs} transactions"),
    )
}

/// Where a transaction is, with its receipt; with `show_tx`, the transaction itself.
fn describe(node: &Node, hash: &str, show_tx: bool) -> Result<Json<Value>, ApiError> {
    let hash: Hash32 = hash
        .parse()
        .map_err(|e| ApiError::bad_request("bad_hash", format!("transaction hash: {e}")))?;
    match node.tx_status(&hash)? {
        None => Err(ApiError::not_found(format!(
            "no transaction {hash} is known to this node"
        ))),
        Some(TxStatus::Pending) => Ok(Json(json!({ "hash": hash, "status": "pending" }))),
        Some(TxStatus::Committed { location, leaf, tx }) => {
            let mut v = committed_json(&hash, &location);
            if show_tx {
                let payload = medledger_ledger::Payload::decode(tx.tx.kind, &tx.tx.body).ok();
                v["tx"] = json!({
                    "signer": tx.tx.signer,
                    "nonce": tx.tx.nonce,
                    "kind": tx.tx.kind.0,
                    "kind_name": payload.as_ref().map(|p| p.name()),
                    "encoded": hex::encode(tx.encode()),
                });
            }
            v["receipt"] = serde_json::to_value(node.receipt_for(&location, &leaf)?).unwrap_or(Value::Null);
            Ok(Json(v))
        }
    }
}

/// `GET /v1/receipts/{hash}`: where a transaction is, its outcome and a receipt (inclusion
/// proof and certified tree head) — nothing of its contents. Public, so that anyone
/// holding a transaction hash can check its receipt.
pub async fn receipt(State(node): State<Node>, Path(hash): Path<String>) -> Result<Json<Value>, ApiError> {
    describe(&node, &hash, false)
}

/// `GET /v1/tx/{hash}`: the receipt and the transaction itself (members only, see
/// [`crate::access`]).
pub async fn status(
    _reader: crate::access::LedgerReader,
    State(node): State<Node>,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    describe(&node, &hash, true)
}
