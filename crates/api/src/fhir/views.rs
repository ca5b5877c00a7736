//! The ledger's views of a patient: who accessed their records (`AuditEvent?patient=`)
//! and their consents (`Consent?patient=`). Shown to the patient, and to the privacy
//! officer of an organisation that holds the patient's records (the guard's role step);
//! break-glass reasons, which stay off the ledger, are shown from this node's journal.

use axum::http::StatusCode;
use medledger_custody::AuditOnLedger;
use medledger_ledger::audit::{AuditAction, AuditOutcome};
use medledger_ledger::consent::Purpose;
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::time::instant;
use super::{Ctx, FhirError};
use crate::AppState;

/// The patient's access log from the ledger: who looked at their records (reads as the
/// custodian that served them recorded them, refusals as the node that refused) and every
/// break-glass declaration, each entry with a receipt proving its inclusion.
pub async fn access_log(app: &AppState, ctx: &Ctx, patient: &str, base: &str) -> Result<Vec<Value>, FhirError> {
    Guard::new(app, ctx)
        .allow(
            Op::AccessLog,
            Target {
                resource_type: "AuditEvent",
                patient: Some(patient),
                ..Target::default()
            },
        )
        .await?;
    let custody = app.custody()?;
    let mut out = Vec::new();
    for a in custody.audits_of_patient(patient) {
        let receipt = app.node.receipt(&a.tx_hash).ok().flatten();
        let note = custody.audit_note(&a.entry.id).ok().flatten();
        out.push(json!({
            "fullUrl": format!("{base}/AuditEvent/ledger-{}", &a.entry.id.to_hex()[..32]),
            "resource": audit_event(&a, receipt.as_ref(), note.as_deref()),
            "search": {"mode": "match"},
        }));
    }
    Ok(out)
}

/// The patient's active consents on the ledger, as FHIR Consent resources (`ledger-<id>`).
pub async fn ledger_consents(app: &AppState, ctx: &Ctx, patient: &str, base: &str) -> Result<Vec<Value>, FhirError> {
    Guard::new(app, ctx)
        .allow(
            Op::Consents,
            Target {
                resource_type: "Consent",
                patient: Some(patient),
                ..Target::default()
            },
        )
        .await?;
    let state = app.node.store().reader().map_err(|_| {
        FhirError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the ledger cannot be read",
        )
    })?;
    let now = medledger_node::node::now_ms();
    Ok(medledger_ledger::consent::active(&state, patient)
        .into_iter()
        .map(|(id, c)| {
            json!({
                "fullUrl": format!("{base}/Consent/{}{id}", super::consent::ID_PREFIX),
                "resource": super::consent::to_fhir(&id, &c, now),
                "search": {"mode": "match"},
            })
        })
        .collect())
}

fn purpose_code(p: Purpose, break_glass: bool) -> &'static str {
    if break_glass {
        "ETREAT"
    } else {
        super::consent::purpose_code(p)
    }
}

/// A ledger audit entry as a FHIR AuditEvent.
fn audit_event(a: &AuditOnLedger, receipt: Option<&medledger_node::Receipt>, note: Option<&str>) -> Value {
    let e = &a.entry;
    let (action, subtype) = match e.action {
        AuditAction::Create => ("C", "create"),
        AuditAction::Update => ("U", "update"),
        AuditAction::Read => ("R", "read"),
        AuditAction::Vread => ("R", "vread"),
        AuditAction::Search => ("E", "search-type"),
        AuditAction::History => ("R", "history-instance"),
        AuditAction::Export => ("E", "operation"),
        AuditAction::Erase => ("D", "delete"),
        AuditAction::Delete => ("D", "delete"),
        _ => ("E", "operation"),
    };
    let outcome = match e.outcome {
        AuditOutcome::Allowed => "0",
        AuditOutcome::Denied => "4",
        AuditOutcome::Failed => "8",
    };
    let mut entity = Vec::new();
    if let Some(p) = &e.patient {
        entity
            .push(json!({"what": {"reference": format!("Patient/{p}")}, "role": {"code": "1", "display": "Patient"}}));
    }
    if let (Some(t), Some(id)) = (&e.resource_type, &e.record_id) {
        let r = match e.version {
            Some(v) => format!("{t}/{id}/_history/{v}"),
            None => format!("{t}/{id}"),
        };
        entity.push(json!({"what": {"reference": r}}));
    }
    let mut ext = vec![
        json!({"url": "tx", "valueString": a.tx_hash.to_hex()}),
        json!({"url": "height", "valueString": a.height.0.to_string()}),
        json!({"url": "leafIndex", "valueString": a.leaf_index.0.to_string()}),
        json!({"url": "action", "valueString": e.action.name()}),
    ];
    if e.break_glass {
        ext.push(json!({"url": "breakGlass", "valueBoolean": true}));
    }
    if let Some(r) = receipt.and_then(|r| serde_json::to_string(r).ok()) {
        ext.push(json!({"url": "receipt", "valueString": r}));
    }
    let mut purpose = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
        "code": purpose_code(e.purpose.unwrap_or(Purpose::Treatment), e.break_glass)}]}]);
    if let Some(n) = note {
        purpose[0]["text"] = json!(n);
    }
    json!({
        "resourceType": "AuditEvent",
        "id": format!("ledger-{}", &e.id.to_hex()[..32]),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": subtype}],
        "action": action,
        "recorded": instant(e.at.0),
        "outcome": outcome,
        "purposeOfEvent": purpose,
        "agent": [{"who": {"identifier": {"system": "urn:medledger:member", "value": format!("{}/{}", e.actor_org, e.actor_member)}}, "requestor": true}],
        "source": {"observer": {"identifier": {"system": "urn:medledger:org", "value": a.observer.to_string()}}},
        "entity": entity,
        "extension": [{"url": "https://medledger.dev/fhir/StructureDefinition/ledger-anchor", "extension": ext}],
    })
}
