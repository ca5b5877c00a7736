//! EPCIS 2.0 REST at `/epcis` (GS1 EPCIS 2.0 §12, the REST binding), for the supply
//! chain of medicines (ADR 014).
//!
//! | route | what |
//! |---|---|
//! | `POST /epcis/capture` | capture a document (JSON-LD, 2.0 XML or 1.2 XML): `202` and a capture job ([`capture`]) |
//! | `GET /epcis/capture/{id}` | the capture job |
//! | `GET /epcis/events` | the events this node holds, filtered by the EPCIS query parameters ([`query`]) |
//! | `GET /epcis/epcs/{epc}/events` | the events of one EPC (URN, Digital Link or element string) |
//! | `POST /node/v1/epcis/events` | another node asks the events its organisation may see ([`share`]) |
//!
//! The full events stay with the organisation that captured them: this node keeps the
//! events its own organisation captured, sealed at rest ([`store`]); the ledger gets their
//! commitments in a `supply.capture` signed with the node's service key. A query also
//! asks the other organisations' nodes, for the organisations this node signs for
//! ([`share`]).
//!
//! **Who may call.** A bearer token (`POST /auth/token`) of an active admin, practitioner
//! or service member; patients, devices and privacy officers are refused. EPCIS has no
//! SMART resource type, so the routes take the wildcard resource scopes: capturing needs
//! `c` on `*` (`system/*.c`, `user/*.cruds`, …), querying needs `s` on `*`. Capturing is
//! for members of this node's organisation (the node signs for it). Reading an event is
//! for this node's organisation, the regulator, and the trading partners on the path: an
//! organisation that holds, or is shipped, an EPC the event names (ledger state), or that
//! the event names as an `owning_party` destination.
//!
//! Errors are EPCIS problem documents (`application/problem+json`, RFC 7807 as §12.6 of
//! the standard uses): `{"type": "epcisException:ValidationException", "title", "status",
//! "detail"}`.

pub mod capture;
pub mod query;
pub mod render;
pub mod schema;
pub mod share;
pub mod store;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_fhir::scope::Interaction;
use medledger_ledger::identity::MemberKind;
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;

/// What the EPCIS routes answer with (GS1's JSON-LD media type for documents).
pub const EPCIS_JSON: &str = "application/ld+json";

/// The pseudo resource type the scope check uses: only wildcard scopes cover it.
const SCOPE_TYPE: &str = "EPCISEvent";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/epcis/capture", post(capture::capture))
        .route("/epcis/capture/{id}", get(capture::job))
        .route("/epcis/events", get(query::events))
        .route("/epcis/epcs/{epc}/events", get(query::epc_events))
        .route(share::ROUTE, post(share::node_events))
}

/// An EPCIS exception (EPCIS 2.0 §12.6: the REST binding's RFC 7807 problem details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcisError {
    pub status: StatusCode,
    /// The exception's name, e.g. `ValidationException`.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
}

impl EpcisError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        EpcisError {
            status,
            kind,
            title,
            detail: detail.into(),
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Invalid EPCIS document",
            detail,
        )
    }

    pub fn query_parameter(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "QueryParameterException",
            "Invalid query parameter",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "SecurityException", "Forbidden", detail)
    }

    pub fn not_found(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, "Not found", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ImplementationException",
            "Unavailable",
            detail,
        )
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "type": format!("epcisException:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        })
    }
}

impl IntoResponse for EpcisError {
    fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut r = (self.status, [("content-type", "application/problem+json")], bytes).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"medledger\""),
            );
        }
        r
    }
}

/// Authenticates a request and checks the member kind and the scope for `interaction`
/// (`Create` to capture, `Search` to query).
pub fn authenticate(app: &AppState, headers: &HeaderMap, interaction: Interaction) -> Result<Caller, EpcisError> {
    let (_, caller) = crate::access::token_caller(app, headers).map_err(|e| match e {
        crate::access::NoCaller::Unavailable => EpcisError::unavailable("the ledger cannot be read"),
        crate::access::NoCaller::Token(message) => {
            EpcisError::new(StatusCode::UNAUTHORIZED, "SecurityException", "Unauthorized", message)
        }
    })?;
    if !matches!(
        caller.actor.kind,
        MemberKind::Admin | MemberKind::Practitioner | MemberKind::Service
    ) {
        return Err(EpcisError::forbidden(
            "EPCIS is for organisations' admins, staff and services",
        ));
    }
    if !caller.scopes.allows(SCOPE_TYPE, interaction) {
        let letter = if interaction == Interaction::Create { "c" } else { "s" };
        return Err(EpcisError::forbidden(format!(
            "the token's scopes do not grant {letter} on every resource type (e.g. system/*.{letter})"
        )));
    }
    Ok(caller)
}

impl AppState {
    /// This node's EPCIS event store, or 503 on a node without a service identity.
    pub fn epcis(&self) -> Result<&std::sync::Arc<capture::Epcis>, EpcisError> {
        self.epcis.as_ref().ok_or_else(|| {
            EpcisError::unavailable("this node has no service identity (service_key.json), so it keeps no EPCIS events")
        })
    }
}
