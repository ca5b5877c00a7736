//! DSCSA verification of product identifiers: a responder speaking the GS1 Lightweight
//! Messaging Standard for Verification of Product Identifiers (GS1 US implementation
//! guideline for DSCSA, release 1.3, as far as it could be checked; `docs/api.md` lists
//! what could not).
//!
//! `GET /dscsa/verify/01/{gtin}/10/{lot}/21/{serial}?17=YYMMDD&linkType=gs1:verificationService&context=…&reqGLN=…&corrUUID=…`
//! answers
//!
//! ```json
//! {"verificationTimestamp": "2026-12-05T21:40:00.123Z", "responderGLN": "0614141000012",
//!  "corrUUID": "…", "data": {"verified": false,
//!  "verificationFailureReason": "No_match_GTIN_Serial_Lot", "additionalInfo": "Recalled"}}
//! ```
//!
//! Rules, in the order they are checked:
//!
//! 1. **401** without a valid bearer token from `POST /auth/token` (the requester must be
//!    a member of the consortium).
//! 2. **400** for a request that does not parse ([`request`]: GTIN check digit, lot and
//!    serial of 1–20 CSET 82 characters, `17` a GS1 date, `linkType` the verification
//!    service, `context`, `reqGLN` with its check digit, `corrUUID` a UUID).
//! 3. **403** unless the token is an admin's, a service's (a backend system) or a
//!    practitioner's of an organisation whose role trades medicines or regulates them
//!    (manufacturer, distributor, pharmacy, hospital, clinic, regulator), and `reqGLN` is
//!    registered on the ledger to that organisation.
//! 4. **404** unless the GTIN's company prefix is registered on the ledger to an
//!    organisation this node answers for: its own (its record custody's) or one named in
//!    `api.dscsa_answer_for` — in DSCSA the manufacturer is the responder, and a node
//!    answering for a manufacturer is its verification service. The standard answers 404
//!    for a GTIN its lookup directory does not know; redirecting to another responder is
//!    not done.
//! 5. **200** with the decision of [`decide`] on the pack's record
//!    (`supply/item/{sgtin}`, the SGTIN written under the registered prefix length) and
//!    its lot's recall; `responderGLN` is the first GLN genesis gave the GTIN's owner
//!    that is still registered to it.
//!
//! Nothing is written: a verification is a read of the node's committed state, counted in
//! `medledger_dscsa_verifications_total` (and `…_not_verified_total`) and logged without
//! identifiers. So answers are not audited on the ledger, and a node operator could
//! answer falsely (`docs/threat-model.md`).

pub mod decide;
pub mod request;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use medledger_gs1::ident::{CompanyPrefixLen, EpcUri};
use medledger_ledger::StateRead;
use medledger_ledger::identity::{MemberKind, org_record};
use medledger_ledger::supply::{self, SupplyRights};
use medledger_node::metrics::Metrics;
use medledger_types::OrgId;
use serde::Serialize;

use crate::AppState;
use crate::access::member_caller;
use crate::error::ApiError;
use crate::fhir::time;
pub use decide::{AdditionalInfo, Claim, Facts, FailureReason, Verification, decide};
pub use request::{Expiry, MAX_QUERY, RequestError, VerifyRequest, parse_request};

/// The response message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationResponse {
    pub verification_timestamp: String,
    #[serde(rename = "responderGLN")]
    pub responder_gln: String,
    #[serde(rename = "corrUUID")]
    pub corr_uuid: String,
    pub data: Verification,
}

/// Today's date (UTC) for milliseconds since the Unix epoch.
pub fn today(ms: u64) -> Expiry {
    let (y, m, d) = time::civil_from_days((ms / 86_400_000) as i64);
    Expiry::from_ymd(y, m, d)
}

/// `GET /dscsa/verify/01/{gtin}/10/{lot}/21/{serial}`
pub async fn verify(
    State(app): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<VerificationResponse>, ApiError> {
    let (state, caller) = member_caller(&app, &headers, "verification answers members of the consortium")?;
    let Path((gtin, lot, serial)) = path.map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            "the path's GTIN, lot or serial is not valid UTF-8 after percent-decoding",
        )
    })?;
    let now = medledger_node::node::now_ms().0;
    let req = parse_request(&gtin, &lot, &serial, query.as_deref().unwrap_or(""), today(now))
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    if !may_verify(&state, &caller.actor.org, caller.actor.kind) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verification is for the admins, services and practitioners of organisations that trade or regulate medicines",
        ));
    }
    if supply::gln_owner(&state, req.req_gln.as_str()).as_ref() != Some(&caller.actor.org) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "reqGLN is not registered on the ledger to the requester's organisation",
        ));
    }
    let (owner, prefix_len) = registered_prefix(&state, req.gtin.as_str())
        .filter(|(owner, _)| answers_for(&app, owner))
        .ok_or_else(|| ApiError::not_found("this responder does not answer for the GTIN"))?;
    let responder_gln = responder_gln(&app, &state, &owner).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_responder_gln",
            "the GTIN's owner has no GLN registered on the ledger",
        )
    })?;
    let epc = EpcUri::Sgtin {
        gtin: req.gtin.clone(),
        serial: req.serial.clone(),
        company_prefix_len: prefix_len,
    }
    .to_string();
    let item = supply::item(&state, &epc);
    let lot_recalled = item
        .as_ref()
        .and_then(|i| i.lot.as_deref())
        .is_some_and(|lot| supply::recall_of(&state, req.gtin.as_str(), lot).is_some());
    let data = decide(
        &Claim {
            lot: req.lot.as_str(),
            expiry: req.expiry,
        },
        &Facts {
            item: item.as_ref(),
            lot_recalled,
            today: today(now),
        },
    );
    let metrics = app.node.metrics();
    Metrics::add(&metrics.dscsa_verifications, 1);
    if !data.verified {
        Metrics::add(&metrics.dscsa_not_verified, 1);
    }
    tracing::debug!(verified = data.verified, "dscsa verification answered");
    Ok(Json(VerificationResponse {
        verification_timestamp: time::instant(now),
        responder_gln,
        corr_uuid: req.corr_uuid,
        data,
    }))
}

/// An admin, service or practitioner of an organisation that trades medicines or
/// regulates them.
fn may_verify(state: &dyn StateRead, org: &OrgId, kind: MemberKind) -> bool {
    matches!(kind, MemberKind::Admin | MemberKind::Service | MemberKind::Practitioner)
        && org_record(state, org).is_some_and(|o| supply::rights(o.role) != SupplyRights::None)
}

/// The organisation a GTIN-14's company prefix is registered to, and the prefix's length.
fn registered_prefix(state: &dyn StateRead, gtin: &str) -> Option<(OrgId, CompanyPrefixLen)> {
    let digits = gtin.get(1..)?;
    (6..=12).find_map(|len| {
        let owner = supply::prefix_owner(state, digits.get(..len)?)?;
        Some((owner, CompanyPrefixLen::new(len).ok()?))
    })
}

fn answers_for(app: &AppState, owner: &OrgId) -> bool {
    app.custody.as_ref().is_some_and(|c| c.org() == owner) || app.node.config().api.dscsa_answer_for.contains(owner)
}

/// The first GLN genesis gave `owner` that the ledger still registers to it.
fn responder_gln(app: &AppState, state: &dyn StateRead, owner: &OrgId) -> Option<String> {
    let org = app.node.genesis().orgs.iter().find(|o| &o.id == owner)?;
    org.gs1
        .as_ref()?
        .glns
        .iter()
        .find(|g| supply::gln_owner(state, g).as_ref() == Some(owner))
        .cloned()
}
