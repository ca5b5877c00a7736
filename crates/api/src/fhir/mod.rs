//! FHIR R4 REST at `/fhir` (JSON, `application/fhir+json`).
//!
//! Every request needs a bearer token (see [`crate::auth`]); every answer that is not a
//! resource or Bundle is an `OperationOutcome`. Records are held encrypted by the node of
//! the organisation that wrote them and anchored on the ledger; reads of other
//! organisations' records go through consent and a node-to-node transfer. Every
//! interaction, allowed or denied, is written to the audit journal before the answer.

pub mod bundle;
pub mod consent;
pub mod export;
pub mod guard;
pub(crate) mod interact;
mod ops;
pub use ops::smart_configuration;
mod rest;
pub mod rx;
mod search;
pub(crate) mod time;
mod views;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_custody::{CustodyError, NewVersion};
use medledger_ledger::consent::Purpose;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, TokenProblem};

pub const FHIR_JSON: &str = "application/fhir+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/fhir/metadata", get(ops::metadata))
        .route("/fhir/.well-known/smart-configuration", get(ops::smart_configuration))
        .route("/fhir", post(bundle::transaction))
        .route("/fhir/_history", get(interact::system_history))
        .route("/fhir/$export", get(export::system))
        .route("/fhir/Patient/$export", get(export::patient))
        .route("/fhir/Group/{id}/$export", get(export::group))
        .route("/fhir/$export-status/{job}", get(export::status).delete(export::cancel))
        .route("/fhir/$export-file/{job}/{name}", get(export::file))
        .route(
            "/fhir/{type}",
            get(rest::search)
                .post(rest::create)
                .put(interact::conditional_update)
                .delete(interact::conditional_delete),
        )
        .route("/fhir/{type}/_history", get(interact::type_history))
        .route(
            "/fhir/{type}/{id}",
            get(rest::read).put(rest::update).delete(interact::delete),
        )
        .route("/fhir/{type}/{id}/_history", get(rest::history))
        .route("/fhir/{type}/{id}/_history/{vid}", get(rest::vread))
        .route("/fhir/{type}/{id}/_history/{vid}/$verify", get(ops::verify))
        .route("/fhir/Patient/{id}/$everything", get(ops::everything))
        .route("/fhir/Patient/{id}/$erase", post(ops::erase))
        .layer(axum::middleware::from_fn(interact::formats))
}

/// An error answered as an `OperationOutcome`.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    /// FHIR issue type (`invalid`, `forbidden`, `not-found`, …).
    pub code: &'static str,
    pub message: String,
    pub issues: Vec<medledger_fhir::Issue>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        FhirError {
            status,
            code,
            message: message.into(),
            issues: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "processing", message)
    }

    pub fn outcome(&self) -> Value {
        let mut issues: Vec<Value> = vec![json!({
            "severity": "error",
            "code": self.code,
            "diagnostics": self.message,
        })];
        if !self.issues.is_empty()
            && let Some(v) = medledger_fhir::operation_outcome(&self.issues)["issue"].as_array()
        {
            issues.extend(v.iter().cloned());
        }
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let mut r = fhir_json(self.status, &self.outcome());
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"medledger\""),
            );
        }
        r
    }
}

impl From<CustodyError> for FhirError {
    fn from(e: CustodyError) -> Self {
        match e {
            CustodyError::NotFound | CustodyError::NoMatch => FhirError::not_found("no such resource or version"),
            CustodyError::Gone => FhirError::new(StatusCode::GONE, "deleted", "this record has been erased"),
            CustodyError::Denied(r) => FhirError::forbidden(r.to_string()),
            CustodyError::Conflict(k) => FhirError::new(StatusCode::CONFLICT, "conflict", k.to_string()),
            CustodyError::BadRequest(r) => FhirError::invalid(r.to_string()),
            CustodyError::Replayed => FhirError::forbidden("this single-use request was already used"),
            CustodyError::Limit(k) => FhirError::new(StatusCode::TOO_MANY_REQUESTS, "throttled", k.to_string()),
            CustodyError::Tampered => FhirError::new(StatusCode::BAD_GATEWAY, "exception", e.to_string()),
            CustodyError::Behind { .. } => FhirError::new(StatusCode::SERVICE_UNAVAILABLE, "transient", e.to_string()),
            CustodyError::Custodian(p) if p.cause.is_local() => {
                tracing::error!("cannot call the custodian's node: {p}");
                FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "custody storage failed")
            }
            CustodyError::Custodian(p) => FhirError::new(
                StatusCode::BAD_GATEWAY,
                "transient",
                format!("the custodian organisation's node could not serve the record: {p}"),
            ),
            CustodyError::Ledger(l) => FhirError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                format!("the ledger did not anchor the write: {l}"),
            ),
            CustodyError::Storage(s) => {
                tracing::error!("custody storage: {s}");
                FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "custody storage failed")
            }
        }
    }
}

pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [("content-type", FHIR_JSON)], bytes).into_response()
}

/// Who is asking, why, and whether this is an emergency.
pub struct Ctx {
    pub caller: Caller,
    pub purpose: Purpose,
    /// A break-glass reason (`X-Medledger-Break-Glass`), kept off the ledger. Break-glass
    /// is for treatment: the purpose is then `treatment`.
    pub break_glass: Option<String>,
}

/// Checks an id from a URL against the FHIR id rule (`[A-Za-z0-9\-\.]{1,64}`) before
/// anything else is done with it: an id that is not one is refused and never reaches the
/// journal or the ledger.
pub fn check_id(id: &str) -> Result<(), FhirError> {
    if medledger_fhir::reference::valid_id(id) {
        Ok(())
    } else {
        Err(FhirError::invalid(
            "a resource id is 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'",
        ))
    }
}

impl AppState {
    pub fn custody(&self) -> Result<&medledger_custody::Custody, FhirError> {
        self.custody.as_ref().ok_or_else(|| {
            FhirError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-supported",
                "this node has no service identity (service_key.json), so it keeps no records; re-create the network with `medledger init`",
            )
        })
    }

    /// Authenticates a FHIR request.
    pub fn ctx(&self, headers: &HeaderMap) -> Result<Ctx, FhirError> {
        let state = self.node.store().reader().map_err(|_| {
            FhirError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the ledger cannot be read",
            )
        })?;
        let caller = self.tokens.caller(headers, &state).map_err(|p| {
            FhirError::new(
                StatusCode::UNAUTHORIZED,
                if p == TokenProblem::Expired { "expired" } else { "login" },
                p.message(),
            )
        })?;
        let purpose = match headers.get("x-medledger-purpose") {
            None => Purpose::Treatment,
            Some(v) => v.to_str().ok().and_then(|s| s.parse::<Purpose>().ok()).ok_or_else(|| {
                FhirError::invalid("X-Medledger-Purpose must be treatment, payment, operations or research")
            })?,
        };
        let break_glass = match headers.get("x-medledger-break-glass") {
            None => None,
            Some(v) => {
                let reason = v
                    .to_str()
                    .map_err(|_| FhirError::invalid("X-Medledger-Break-Glass must be plain text"))?
                    .trim();
                if reason.is_empty() || reason.len() > 500 {
                    return Err(FhirError::invalid(
                        "X-Medledger-Break-Glass needs a reason of 1 to 500 characters",
                    ));
                }
                if headers.contains_key("x-medledger-purpose") && purpose != Purpose::Treatment {
                    return Err(FhirError::invalid("break-glass access is for treatment"));
                }
                Some(reason.to_string())
            }
        };
        Ok(Ctx {
            caller,
            purpose,
            break_glass,
        })
    }
}

/// A new id for a created resource: 128 random bits in UUID form.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The FHIR base URL of this node, for absolute `fullUrl`s and links: from the node's
/// configured public URL, never from the request's `Host` header.
pub fn base_url(app: &AppState) -> String {
    format!("{}/fhir", app.node.config().public_url())
}

/// Parses a JSON resource body, checking its content type and size.
pub fn parse_body(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Value, FhirError> {
    let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if mime != FHIR_JSON && mime != "application/json" {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!("send {FHIR_JSON} (got {:?})", mime.chars().take(64).collect::<String>()),
        ));
    }
    if body.len() > max {
        return Err(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("the body is larger than {max} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        FhirError::invalid(format!(
            "the body is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Checks the type in the URL is an R4 resource type.
pub fn supported_type(t: &str) -> Result<&'static str, FhirError> {
    medledger_fhir::resource_type(t).ok_or_else(|| {
        FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!(
                "{:?} is not a FHIR R4 resource type",
                t.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// What a write produced.
pub struct Written {
    pub resource_type: &'static str,
    pub id: String,
    pub version: u64,
    pub last_updated: String,
    pub resource: Value,
    pub tx_hash: medledger_types::Hash32,
    pub height: medledger_types::Height,
}

/// A write checked and ready to store.
pub struct Prepared {
    pub resource_type: &'static str,
    pub id: String,
    pub version: u64,
    pub patient: Option<String>,
    pub last_updated: String,
    pub resource: Value,
    pub new: NewVersion,
}
