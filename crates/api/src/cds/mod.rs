//! A CDS Hooks 2.0 service for drug-monitoring alerts (issue 14, ADR 014 §14): the alerts
//! the ledger raises at each `rx.dispense` ([`medledger_ledger::rx::monitor`]), shown to
//! the prescriber while signing or selecting an order, and to the pharmacist before a
//! fill.
//!
//! | route | what |
//! |---|---|
//! | `GET /cds-services` | the discovery document: one service for `order-sign`, one for `order-select` |
//! | `POST /cds-services/{id}` | a hook call: `{"cards": […]}`, one card per alert of each checked draft order |
//!
//! A call is answered in this order:
//!
//! 1. **401** without a valid bearer token from this node's `POST /auth/token` (SMART
//!    Backend Services; see "Authentication" below);
//! 2. **404** for a service id not in the discovery document;
//! 3. **400** for a body over 1 MiB or a request that does not parse ([`request`]): not
//!    JSON, a `hook` other than the service's, `context.draftOrders` not a Bundle, a draft
//!    order naming another patient, …;
//! 4. **403** unless the token's scopes allow searching `MedicationDispense` and the caller
//!    may see the patient's monitoring view ([`medledger_ledger::rx::view`]: staff of a
//!    hospital, clinic or pharmacy that treats the patient, or of the regulator) — audited;
//! 5. **200**: each RxNorm-coded draft `MedicationRequest` (for `order-select`, each
//!    selected one) is read ([`order`]) and previewed against the patient's monitoring
//!    window and the thresholds in force ([`medledger_ledger::rx::monitor::preview`]),
//!    the drafts counted together; one card per alert ([`cards`]), an `info` card for an
//!    order that cannot be read or counted. The view is audited on the ledger before the
//!    answer leaves.
//!
//! Errors are the API's JSON (`{"error": {"reason", "message"}}`) and never name the
//! patient; nothing logged names the patient.
//!
//! **Audit.** Every decision, allowed or refused, is one entry in the node's audit journal
//! (anchored by `audit.record`, ADR 009): action `ledger-view` — the monitoring window is
//! the ledger's own view of the patient, as the access log and consents are — of
//! `MedicationDispense` (the view is made of the patient's dispenses), naming the patient,
//! for treatment (the regulator's: operations). It shows in the patient's access log.
//!
//! **Authentication.** CDS Hooks 2.0 has the EHR sign a JWT for each call with a key the
//! service trusts (`jku`/JWKS); this service takes instead the node's own bearer tokens
//! (`POST /auth/token`, a SMART Backend Services client assertion signed with a member's
//! ledger key or registered client key). The decision needs a member of the consortium
//! whose organisation and kind the ledger holds, which the token names; an EHR's JWT names
//! only the EHR. An EHR that is a member's backend service obtains a token as any other
//! backend client does.
//!
//! **Who prescribes, who dispenses.** A draft counts its prescriber as the caller when the
//! caller is a practitioner of a hospital or clinic, its pharmacy as the caller's
//! organisation when that is a pharmacy, and the prescription a `MedicationRequest` names
//! under [`order::PRESCRIPTION_SYSTEM`] (a repeat, or a prescription a pharmacy holds);
//! what is not known is counted as the patient's latest prescriber or pharmacy.

pub mod cards;
pub mod order;
pub mod request;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use medledger_custody::Custody;
use medledger_fhir::scope::Interaction;
use medledger_ledger::StateRead;
use medledger_ledger::audit::{AuditAction, AuditOutcome};
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::{MemberKind, OrgRole, org_record};
use medledger_ledger::rx::monitor::{Draft, preview};
use medledger_ledger::rx::view::{VIEW_TYPE, ViewBasis, may_view};
use medledger_ledger::rx::{self, day_of};
use medledger_types::{Hash32, MemberId, OrgId};
use serde_json::{Value, json};

use crate::AppState;
use crate::access::member_caller;
use crate::auth::Caller;
use crate::error::ApiError;
use cards::{Ordered, alert_cards, unchecked_card};
use request::{Hook, HookRequest, MAX_BODY, RequestError, parse_request};

/// One service of the discovery document.
pub struct Service {
    pub id: &'static str,
    pub hook: Hook,
    pub title: &'static str,
    pub description: &'static str,
}

pub const SERVICES: [Service; 2] = [
    Service {
        id: "medledger-rx-monitor-sign",
        hook: Hook::OrderSign,
        title: "medledger drug monitoring (order-sign)",
        description: "Opioid and benzodiazepine alerts across every organisation's dispenses, for the draft \
                      medication orders about to be signed: daily MME at or above 50 and 90, an opioid with a \
                      benzodiazepine, the same drug under two prescriptions, multiple prescribers and \
                      pharmacies, early refills.",
    },
    Service {
        id: "medledger-rx-monitor-select",
        hook: Hook::OrderSelect,
        title: "medledger drug monitoring (order-select)",
        description: "The same alerts as medledger-rx-monitor-sign, for the medication orders just selected.",
    },
];

/// How a caller obtains what the services require.
const USAGE: &str = "A bearer token from this node's POST /auth/token (SMART Backend Services client \
                     assertion), of a practitioner, admin or service of an organisation that treats the \
                     patient, or of the regulator.";

pub fn routes() -> axum::Router<AppState> {
    Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call))
}

/// `GET /cds-services`: public, as EHRs read it when the service is registered.
pub async fn discovery() -> Json<Value> {
    let services: Vec<Value> = SERVICES
        .iter()
        .map(|s| {
            json!({
                "hook": s.hook.name(),
                "id": s.id,
                "title": s.title,
                "description": s.description,
                "usageRequirements": USAGE,
            })
        })
        .collect();
    Json(json!({ "services": services }))
}

fn bad_request(e: RequestError) -> ApiError {
    ApiError::bad_request("invalid_request", e.to_string())
}

/// `POST /cds-services/{id}`
pub async fn call(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (state, caller) = member_caller(&app, &headers, "CDS services answer members of the consortium")?;
    let service = id
        .ok()
        .and_then(|Path(id)| SERVICES.iter().find(|s| s.id == id))
        .ok_or_else(|| ApiError::not_found("no CDS service with this id; see GET /cds-services"))?;
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| bad_request(RequestError::TooLarge))?;
    let req = parse_request(service.hook, &bytes).map_err(bad_request)?;
    let custody = app.custody.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this node has no service identity, so it cannot audit a view of the monitoring",
        )
    })?;
    let now = medledger_node::node::now_ms();
    let named: Vec<Hash32> = req.orders.iter().filter_map(|o| o.prescription).collect();
    let decision = if caller.scopes.allows(VIEW_TYPE, Interaction::Search) {
        may_view(
            &state,
            &caller.actor.org,
            &caller.actor.member,
            &req.patient,
            &named,
            now,
        )
        .map_err(|d| d.to_string())
    } else {
        Err(format!(
            "the token's scopes ({}) do not allow searching {VIEW_TYPE}",
            caller.scopes
        ))
    };
    let basis = match decision {
        Ok(basis) => basis,
        Err(why) => {
            audit_view(custody, &caller, &req.patient, AuditOutcome::Denied, Purpose::Treatment).await?;
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why));
        }
    };
    let cards = cards_for(&state, &caller, &req, day_of(now));
    let purpose = match basis {
        ViewBasis::Regulator => Purpose::Operations,
        _ => Purpose::Treatment,
    };
    audit_view(custody, &caller, &req.patient, AuditOutcome::Allowed, purpose).await?;
    tracing::debug!(
        hook = service.hook.name(),
        orders = req.orders.len(),
        cards = cards.len(),
        "cds hook answered"
    );
    Ok(Json(json!({ "cards": cards })))
}

/// Writes the audit entry of one decision on a patient's monitoring view durably.
pub(crate) async fn audit_view(
    custody: &Custody,
    caller: &Caller,
    patient: &str,
    outcome: AuditOutcome,
    purpose: Purpose,
) -> Result<(), ApiError> {
    let mut e = custody.audit_entry(&caller.actor, AuditAction::LedgerView);
    e.outcome = outcome;
    e.purpose = Some(purpose);
    e.patient = Some(patient.to_string());
    e.resource_type = Some(VIEW_TYPE.to_string());
    custody.audit(vec![(e, None)]).await.map_err(|err| {
        tracing::error!("a CDS view could not be audited: {err}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the access could not be recorded; nothing is shown",
        )
    })
}

/// The cards of every checked order, in the order of the Bundle.
fn cards_for(state: &dyn StateRead, caller: &Caller, req: &HookRequest, today: u32) -> Vec<Value> {
    let role = org_record(state, &caller.actor.org).map(|o| o.role);
    let prescriber = (caller.actor.kind == MemberKind::Practitioner
        && matches!(role, Some(OrgRole::Hospital | OrgRole::Clinic)))
    .then(|| (caller.actor.org.clone(), caller.actor.member.clone()));
    let pharmacy = (role == Some(OrgRole::Pharmacy)).then(|| caller.actor.org.clone());
    let requester: (OrgId, MemberId) = (caller.actor.org.clone(), caller.actor.member.clone());
    let drafts: Vec<Draft> = req
        .orders
        .iter()
        .filter_map(|o| {
            let (medication, quantity, days_supply) = o.reading.as_ref().ok()?;
            Some(Draft {
                medication: *medication,
                quantity: *quantity,
                days_supply: *days_supply,
                prescription: o.prescription,
                prescriber: prescriber.clone(),
                pharmacy: pharmacy.clone(),
                requester: requester.clone(),
            })
        })
        .collect();
    let mut previews = preview(state, &req.patient, &drafts, today).into_iter();
    let params = rx::params(state);
    let mut cards = Vec::new();
    for order in &req.orders {
        let (medication, quantity, days_supply) = match &order.reading {
            Ok(r) => r,
            Err(why) => {
                cards.push(unchecked_card(order.entry, why));
                continue;
            }
        };
        match previews.next() {
            Some(Ok(p)) => cards.extend(alert_cards(
                &Ordered {
                    medication,
                    quantity: *quantity,
                    days_supply: *days_supply,
                },
                &p,
                &params,
            )),
            Some(Err(e)) => cards.push(unchecked_card(order.entry, &e.to_string())),
            None => {}
        }
    }
    cards
}
