//! The HTTP API of a medledger node.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/tx` | submit one signed transaction (binary, or JSON `{"tx": hex}`); waits for commit unless `?wait=false` |
//! | `POST /v1/txs` | submit a batch (binary batch encoding, or JSON `{"txs": [hex…]}`) |
//! | `GET /v1/tx/{hash}` | status, block, outcome and a receipt with its inclusion proof |
//! | `GET /v1/blocks/{height}` | a block (`latest` for the newest); `?format=hex` for its canonical bytes |
//! | `GET /v1/state/{key}` | a state value (key in hex) with its proof against the state root |
//! | `GET /v1/status` | chain, height, roots, mempool, validator set |
//! | `GET /health` | liveness |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /ct/v1/…` | the transparency log in the RFC 6962 §4 JSON shape |
//!
//! Every error is JSON: `{"error": {"reason": "<machine name>", "message": "<for people>"}}`
//! with a 4xx status for bad input and a 5xx status for node trouble.
#![forbid(unsafe_code)]

mod chain;
mod ct;
mod error;
mod tx;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use medledger_node::Node;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;

/// The API's routes over a node.
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/v1/tx", post(tx::submit_one))
        .route("/v1/txs", post(tx::submit_batch))
        .route("/v1/tx/{hash}", get(tx::status))
        .route("/v1/blocks/{height}", get(chain::block))
        .route("/v1/state/{key}", get(chain::state))
        .route("/v1/status", get(chain::status))
        .route("/health", get(chain::health))
        .route("/metrics", get(chain::metrics))
        .route("/ct/v1/get-sth", get(ct::get_sth))
        .route("/ct/v1/get-sth-consistency", get(ct::get_sth_consistency))
        .route("/ct/v1/get-proof-by-hash", get(ct::get_proof_by_hash))
        .route("/ct/v1/get-entries", get(ct::get_entries))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // A backstop for stuck connections; handlers that wait for a commit give up with a
        // JSON 504 before this fires.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            node.config().commit_timeout() + Duration::from_secs(30),
        ))
        .with_state(node)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    node: Node,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await
}
