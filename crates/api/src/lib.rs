//! The HTTP API of a medledger node.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/tx` | submit one signed transaction (binary, or JSON `{"tx": hex}`); waits for commit unless `?wait=false` |
//! | `POST /v1/txs` | submit a batch (binary batch encoding, or JSON `{"txs": [hex…]}`) |
//! | `GET /v1/tx/{hash}` | status, block, outcome, a receipt with its inclusion proof, and the transaction (members) |
//! | `GET /v1/receipts/{hash}` | status, block, outcome and the receipt only (public) |
//! | `GET /v1/nonce/{public_key}` | the key's next nonce (public) |
//! | `GET /v1/blocks/{height}` | a block (`latest` for the newest); `?format=hex` for its canonical bytes (members) |
//! | `GET /v1/state/{key}` | a state value (key in hex) with its proof against the state root (members; a patient's monitoring window `rx/patient/…` only to the regulator and this node's own service) |
//! | `GET /v1/status` | chain, height, roots, mempool, validator set |
//! | `GET /health` | liveness |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /ct/v1/…` | the transparency log in the RFC 6962 §4 JSON shape (`get-entries`: members) |
//! | `GET /dscsa/verify/01/{gtin}/10/{lot}/21/{serial}` | DSCSA product identifier verification (GS1 Lightweight Messaging): see [`dscsa`] |
//! | `GET /cds-services`, `POST /cds-services/{id}` | CDS Hooks 2.0 drug-monitoring alerts for `order-sign` and `order-select`: see [`cds`] |
//! | `POST /auth/token` | SMART Backend Services-style token exchange (EdDSA client assertion) |
//! | `/fhir/…` | FHIR R4 REST: see [`fhir`] and `docs/fhir.md` |
//! | `/epcis/…` | EPCIS 2.0 capture and query of the supply chain's events: see [`epcis`] and `docs/api.md` |
//! | `POST /node/v1/records/fetch` | node-to-node record transfer (signed request, mutual TLS, HPKE re-wrap) |
//!
//! "Members" routes need a member's bearer token unless `api.public_ledger` is set (see
//! [`access`]).
//!
//! Every error is JSON: `{"error": {"reason": "<machine name>", "message": "<for people>"}}`
//! with a 4xx status for bad input and a 5xx status for node trouble.
#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod cds;
mod chain;
mod ct;
pub mod dry_run;
pub mod dscsa;
pub mod epcis;
mod error;
pub mod fhir;
pub mod serve;
mod transfer;
mod tx;

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use medledger_custody::Custody;
use medledger_node::Node;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    /// The node's record custody; `None` on a node without a service identity.
    pub custody: Option<Custody>,
    pub tokens: Arc<auth::Tokens>,
    pub validator: Arc<medledger_fhir::Validator>,
    /// Bulk exports (`$export`); `None` until [`AppState::with_exports`] names a folder.
    pub exports: Option<Arc<fhir::export::Exports>>,
    /// EPCIS events captured here; `None` on a node without a service identity.
    pub epcis: Option<Arc<epcis::capture::Epcis>>,
}

impl FromRef<AppState> for Node {
    fn from_ref(s: &AppState) -> Node {
        s.node.clone()
    }
}

impl AppState {
    /// Builds the shared state; compiles the FHIR validators (a fraction of a second).
    pub fn new(node: Node, custody: Option<Custody>) -> Result<AppState, medledger_fhir::SchemaError> {
        Ok(AppState {
            node,
            custody,
            tokens: Arc::new(auth::Tokens::default()),
            validator: Arc::new(medledger_fhir::Validator::new()?),
            exports: None,
            epcis: None,
        })
    }

    /// Captures EPCIS events for `service`'s organisation, and for the `hosted` members
    /// with their keys, keeping them in `path`; finishes (in the background, on a Tokio
    /// runtime) the capture jobs a restart interrupted.
    pub fn with_epcis(
        mut self,
        path: &std::path::Path,
        service: medledger_node::home::ServiceIdentity,
        hosted: Vec<(medledger_types::OrgId, medledger_crypto::Keypair)>,
    ) -> Result<AppState, epcis::store::StoreError> {
        let events = epcis::store::EventStore::open(path, service.kek.clone())?;
        let epcis = hosted
            .into_iter()
            .fold(epcis::capture::Epcis::new(events, service)?, |e, (org, key)| {
                e.hosting(org, key)
            });
        let epcis = Arc::new(epcis);
        if tokio::runtime::Handle::try_current().is_ok() {
            epcis.resume(self.node.clone());
        }
        self.epcis = Some(epcis);
        Ok(self)
    }

    /// Keeps bulk export files, sealed, in `dir` (deleting what an earlier run left).
    pub fn with_exports(mut self, dir: std::path::PathBuf) -> AppState {
        self.exports = Some(Arc::new(fhir::export::Exports::new(dir)));
        self
    }
}

/// The API's routes over a node without record custody.
pub fn router(node: Node) -> Router {
    match AppState::new(node.clone(), None) {
        Ok(state) => router_with(state),
        Err(e) => {
            tracing::error!("{e}");
            Router::new()
        }
    }
}

/// The API's routes.
pub fn router_with(state: AppState) -> Router {
    let node = state.node.clone();
    let fhir_limit = node.config().fhir.max_bundle_bytes;
    Router::new()
        .merge(fhir::routes().layer(axum::extract::DefaultBodyLimit::max(fhir_limit)))
        .merge(epcis::routes())
        .merge(cds::routes())
        .route("/auth/token", post(auth::token))
        .route("/dscsa/verify/01/{gtin}/10/{lot}/21/{serial}", get(dscsa::verify))
        .route("/.well-known/smart-configuration", get(fhir::smart_configuration))
        .route("/node/v1/records/fetch", post(transfer::node_fetch))
        .route("/v1/tx", post(tx::submit_one))
        .route("/v1/txs", post(tx::submit_batch))
        .route("/v1/tx/{hash}", get(tx::status))
        .route("/v1/receipts/{hash}", get(tx::receipt))
        .route("/v1/nonce/{key}", get(chain::nonce))
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
        .with_state(state)
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

/// Serves the API with record custody until `shutdown` resolves.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router_with(state))
        .with_graceful_shutdown(shutdown)
        .await
}
