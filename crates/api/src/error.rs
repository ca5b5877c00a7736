//! JSON errors.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medledger_node::{Busy, NodeError, SubmitError};
use serde_json::json;

/// An error answer: status, a machine-readable reason and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` on a 429 or 503 (1 when not set).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            reason,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "reason": self.reason, "message": self.message } });
        let mut r = (self.status, Json(body)).into_response();
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            let secs = self.retry_after_secs.unwrap_or(1).max(1);
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from(secs));
        }
        r
    }
}

impl From<Busy> for ApiError {
    fn from(b: Busy) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!("{}; try again in {} s", b.pressure.reason(), b.retry_after_secs),
        );
        e.retry_after_secs = Some(b.retry_after_secs);
        e
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        tracing::error!("request failed: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let status = match &e {
            SubmitError::Rejected(_) => StatusCode::BAD_REQUEST,
            SubmitError::Duplicate(_) => StatusCode::CONFLICT,
            SubmitError::Dropped(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SubmitError::SignerBusy(_) | SubmitError::MempoolFull(_) => StatusCode::TOO_MANY_REQUESTS,
            SubmitError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            SubmitError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        };
        ApiError::new(status, e.reason(), e.to_string())
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see GET /v1/status and the README for the API")
}

/// Query parameters whose parse errors answer in the API's JSON error shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request("bad_params", e.body_text()))
    }
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}
