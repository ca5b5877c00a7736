//! `POST /node/v1/records/fetch`: the custodian's side of node-to-node record transfer,
//! and the statuses it answers with. Custody decides and seals; this maps its errors to
//! HTTP statuses, for the whole request and for each refused item. The reading node's
//! custody takes 403, 404 and 410 back as a refusal, a missing and an erased version;
//! any other status as the custodian's failure.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use medledger_custody::{CustodyError, FetchResponse};

use crate::{ApiError, AppState, serve};

/// Another organisation's node asks for record versions. Over TLS the connection must
/// carry that node's client certificate.
pub async fn node_fetch(
    State(app): State<AppState>,
    peer: Option<Extension<serve::PeerNode>>,
    body: Bytes,
) -> Result<Json<FetchResponse>, ApiError> {
    let custody = app.custody.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_custody",
            "this node keeps no records",
        )
    })?;
    let token = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("bad_request", "the request must be a compact JWS"))?;
    let peer = peer.map(|Extension(p)| p.0);
    let tls = app.node.config().api.tls.is_some();
    match custody.serve_fetch(token.trim(), peer, tls).await {
        Ok(served) => Ok(Json(served.into_response(|e| refusal(e).0.as_u16()))),
        Err(e) => {
            let (status, reason) = refusal(&e);
            Err(ApiError::new(status, reason, e.to_string()))
        }
    }
}

/// The reason a custodian gives when its ledger is behind the reader's (the reader asks again).
const BEHIND: &str = medledger_custody::BEHIND_REASON;

/// The status and reason code a custodian refuses with.
fn refusal(e: &CustodyError) -> (StatusCode, &'static str) {
    match e {
        CustodyError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        CustodyError::Gone => (StatusCode::GONE, "erased"),
        CustodyError::Denied(_) | CustodyError::Replayed => (StatusCode::FORBIDDEN, "denied"),
        CustodyError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        CustodyError::Limit(_) => (StatusCode::TOO_MANY_REQUESTS, "limit"),
        CustodyError::NoMatch => (StatusCode::NO_CONTENT, "no_match"),
        CustodyError::Behind { .. } => (StatusCode::SERVICE_UNAVAILABLE, BEHIND),
        CustodyError::Storage(_)
        | CustodyError::Conflict(_)
        | CustodyError::Ledger(_)
        | CustodyError::Custodian(_)
        | CustodyError::Tampered => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[cfg(test)]
mod tests {
    use medledger_custody::{Refusal, RequestError, ServedVersion, StorageError};
    use medledger_ledger::consent::policy::Denial;

    use super::*;

    /// Each refused item carries the status it would have had alone, and its reason
    /// without the "access denied" prefix; a served one carries its bytes.
    #[test]
    fn items_are_answered_with_their_own_status() {
        let served = medledger_custody::Served {
            enc: vec![1, 2, 3],
            items: vec![
                Ok(ServedVersion {
                    ciphertext: b"sealed".to_vec(),
                    wrapped_key: b"key".to_vec(),
                }),
                Err(Refusal::Policy(Denial::NoConsent).into()),
                Err(CustodyError::NotFound),
                Err(CustodyError::Gone),
                Err(RequestError::VersionZero.into()),
                Err(StorageError::CiphertextMismatch.into()),
            ],
        };
        let answer = served.into_response(|e| refusal(e).0.as_u16());
        let statuses: Vec<u16> = answer.items.iter().map(|a| a.status).collect();
        assert_eq!(statuses, vec![200, 403, 404, 410, 400, 500]);
        assert_eq!(answer.enc, "AQID");
        assert_eq!(answer.items[0].ciphertext.as_deref(), Some("c2VhbGVk"));
        assert_eq!(answer.items[0].wrapped_key.as_deref(), Some("a2V5"));
        assert_eq!(
            answer.items[1].error.as_deref(),
            Some("the patient has not consented to this access")
        );
        assert_eq!(answer.items[4].error.as_deref(), Some("versions start at 1"));
        assert!(
            answer.items[1..]
                .iter()
                .all(|a| a.ciphertext.is_none() && a.wrapped_key.is_none())
        );
    }
}
