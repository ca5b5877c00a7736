//! Who may read the ledger's contents over the API.
//!
//! Blocks, transactions, state values and log entries carry patient pseudonyms, record
//! ids and the audit trail: who accessed which patient's records. By default they are
//! served only to members of the consortium's organisations — a bearer token (see
//! [`crate::auth`]) of an active admin, practitioner, service or privacy officer, not of a
//! patient or a device. `api.public_ledger = true` opens them to outside auditors.
//! Tree heads, consistency proofs, inclusion proofs by hash and receipts stay public:
//! anyone holding a receipt can check it without an account.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use medledger_ledger::identity::MemberKind;
use medledger_store::StoreReader;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Why a request has no caller: the ledger cannot be read, or the bearer token is missing
/// or not valid (its message).
pub(crate) enum NoCaller {
    Unavailable,
    Token(String),
}

/// The caller behind the request's bearer token, checked against the ledger, and the
/// ledger it was checked against. Each API family answers the refusal in its own format.
pub(crate) fn token_caller(app: &AppState, headers: &HeaderMap) -> Result<(StoreReader, Caller), NoCaller> {
    let state = app.node.store().reader().map_err(|_| NoCaller::Unavailable)?;
    let caller = app
        .tokens
        .caller(headers, &state)
        .map_err(|p| NoCaller::Token(p.message().to_string()))?;
    Ok((state, caller))
}

/// [`token_caller`] with the ledger API's errors: 503 when the ledger cannot be read, 401
/// (prefixed with `who_is_served`) without a valid token.
pub(crate) fn member_caller(
    app: &AppState,
    headers: &HeaderMap,
    who_is_served: &str,
) -> Result<(StoreReader, Caller), ApiError> {
    token_caller(app, headers).map_err(|e| match e {
        NoCaller::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the ledger cannot be read",
        ),
        NoCaller::Token(message) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_required",
            format!("{who_is_served}: {message}"),
        ),
    })
}

/// An extractor that admits a request to the ledger's contents, or answers 401/403.
pub struct LedgerReader;

impl FromRequestParts<AppState> for LedgerReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if app.node.config().api.public_ledger {
            return Ok(LedgerReader);
        }
        let (_, caller) = member_caller(
            app,
            &parts.headers,
            "the ledger's contents are shown to members of the consortium",
        )?;
        match caller.actor.kind {
            MemberKind::Patient | MemberKind::Device => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the ledger's contents are shown to organisations' staff, not to patients or devices",
            )),
            _ => Ok(LedgerReader),
        }
    }
}
