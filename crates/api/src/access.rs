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
use axum::http::StatusCode;
use axum::http::request::Parts;
use medledger_ledger::identity::MemberKind;

use crate::AppState;
use crate::error::ApiError;

/// An extractor that admits a request to the ledger's contents, or answers 401/403.
pub struct LedgerReader;

impl FromRequestParts<AppState> for LedgerReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if app.node.config().api.public_ledger {
            return Ok(LedgerReader);
        }
        let state = app.node.store().reader().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the ledger cannot be read",
            )
        })?;
        let caller = app.tokens.caller(&parts.headers, &state).map_err(|p| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_required",
                format!(
                    "the ledger's contents are shown to members of the consortium: {}",
                    p.message()
                ),
            )
        })?;
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
