//! Ledger consents as FHIR R4 Consent resources, and FHIR Consent resources as ledger
//! transactions (`medledger tx consent-import`).
//!
//! The two directions are inverses: a Consent read from `GET /fhir/Consent?patient=`
//! imports to the same grant, and with `status` set to `inactive` it imports to the
//! revocation of that grant.
//!
//! Importing refuses anything the ledger cannot express instead of dropping it: a
//! provision that narrows access (actions, security labels, data periods, nested
//! exceptions, a later start) would otherwise grant more than the document says.

use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentRecord, ConsentScope, Grantee, Purpose};
use medledger_types::{MemberId, OrgId, TimestampMs};
use serde_json::{Value, json};

use super::time::instant;

const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";
const ORG_SYSTEM: &str = "urn:medledger:org";
const MEMBER_SYSTEM: &str = "urn:medledger:member";
const STUDY_SYSTEM: &str = "urn:medledger:study";
/// Ledger consents appear under this id prefix in FHIR.
pub const ID_PREFIX: &str = "ledger-";

/// The HL7 v3 ActReason code of a purpose.
pub fn purpose_code(p: Purpose) -> &'static str {
    match p {
        Purpose::Treatment => "TREAT",
        Purpose::Payment => "HPAYMT",
        Purpose::Operations => "HOPERAT",
        Purpose::Research => "HRESCH",
    }
}

fn purpose_from_code(code: &str) -> Option<Purpose> {
    [
        Purpose::Treatment,
        Purpose::Payment,
        Purpose::Operations,
        Purpose::Research,
    ]
    .into_iter()
    .find(|p| purpose_code(*p) == code)
}

/// The Consent resource for ledger consent `id` of `patient`.
pub fn to_fhir(id: &str, c: &ConsentRecord, now: TimestampMs) -> Value {
    let who = match &c.grantee {
        Grantee::Org(o) => json!({"identifier": {"system": ORG_SYSTEM, "value": o.to_string()}}),
        Grantee::Practitioner { org, member } => {
            json!({"identifier": {"system": MEMBER_SYSTEM, "value": format!("{org}/{member}")}})
        }
        Grantee::Study(s) => json!({"identifier": {"system": STUDY_SYSTEM, "value": s}}),
    };
    let mut provision = json!({
        "type": "permit",
        "actor": [{
            "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
            "reference": who,
        }],
        "purpose": c.purposes.iter().map(|p| json!({"system": ACT_REASON, "code": purpose_code(*p)})).collect::<Vec<_>>(),
    });
    match &c.scope {
        ConsentScope::Types(ts) if !ts.iter().any(|t| t == "*") => {
            provision["class"] = ts
                .iter()
                .map(|t| json!({"system": RESOURCE_TYPES, "code": t}))
                .collect();
        }
        ConsentScope::Types(_) => {}
        ConsentScope::Records(rs) => {
            provision["data"] = rs
                .iter()
                .map(|(t, i)| json!({"meaning": "instance", "reference": {"reference": format!("{t}/{i}")}}))
                .collect();
        }
    }
    if let Some(e) = c.expires {
        provision["period"] = json!({"end": instant(e.0)});
    }
    let expired = c.expires.is_some_and(|e| e <= now);
    json!({
        "resourceType": "Consent",
        "id": format!("{ID_PREFIX}{id}"),
        "status": if expired { "inactive" } else { "active" },
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{}", c.patient)},
        "dateTime": instant(c.granted_at.0),
        "policyRule": {"text": "signed on the ledger by the patient's own key"},
        "provision": provision,
    })
}

/// What a FHIR Consent resource asks the ledger to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Imported {
    /// A grant; `consent_id` is empty when the resource had no id (the caller picks one).
    Grant(ConsentGrant),
    Revoke(ConsentRevoke),
}

/// Maps a FHIR Consent (already valid against the R4 schema) to a ledger transaction.
/// Errors name the element that cannot be honoured.
pub fn from_fhir(r: &Value, now: TimestampMs) -> Result<Imported, String> {
    if r["resourceType"] != "Consent" {
        return Err("resourceType: expected Consent".into());
    }
    let patient = r["patient"]["reference"]
        .as_str()
        .and_then(|s| s.strip_prefix("Patient/"))
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .ok_or("patient.reference: expected Patient/<id>, the patient's pseudonym")?
        .to_string();
    let consent_id = r["id"]
        .as_str()
        .map(|s| s.strip_prefix(ID_PREFIX).unwrap_or(s).to_string())
        .unwrap_or_default();
    match r["status"].as_str() {
        Some("active") => {}
        Some("inactive" | "rejected" | "entered-in-error") => {
            if consent_id.is_empty() {
                return Err("id: a consent to withdraw needs the id of the ledger consent (ledger-<id>)".into());
            }
            return Ok(Imported::Revoke(ConsentRevoke { patient, consent_id }));
        }
        other => {
            return Err(format!(
                "status: {} consents are not signed; only active (grant) or inactive (withdraw)",
                other.unwrap_or("missing")
            ));
        }
    }
    let p = r
        .get("provision")
        .and_then(Value::as_object)
        .ok_or("provision: an active consent needs a provision saying who may read what")?;
    for unsupported in ["action", "securityLabel", "dataPeriod", "code", "provision"] {
        if p.contains_key(unsupported) {
            return Err(format!(
                "provision.{unsupported} is not supported: the ledger would grant more than the document says"
            ));
        }
    }
    if p.get("type").and_then(Value::as_str) != Some("permit") {
        return Err("provision.type: only permit is supported (without a consent, access is already denied)".into());
    }
    let grantee = grantee(p.get("actor"))?;
    let purposes = purposes(p.get("purpose"))?;
    let scope = scope(p.get("class"), p.get("data"))?;
    let expires = expires(p.get("period"), now)?;
    Ok(Imported::Grant(ConsentGrant {
        consent_id,
        patient,
        grantee,
        scope,
        purposes,
        expires,
    }))
}

fn grantee(actors: Option<&Value>) -> Result<Grantee, String> {
    let actors = actors.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let [actor] = actors else {
        return Err(format!(
            "provision.actor: exactly one grantee per consent (found {}); write one Consent per grantee",
            actors.len()
        ));
    };
    let reference = &actor["reference"];
    let bad = |what: &str| format!("provision.actor[0].reference: {what}");
    if let Some(id) = reference.get("identifier") {
        let value = id["value"].as_str().ok_or_else(|| bad("identifier.value is missing"))?;
        return match id["system"].as_str() {
            Some(ORG_SYSTEM) => Ok(Grantee::Org(OrgId::new(value).map_err(|e| bad(&e.to_string()))?)),
            Some(MEMBER_SYSTEM) => practitioner(value).ok_or_else(|| bad("expected <org>/<member>")),
            Some(STUDY_SYSTEM) if !value.is_empty() => Ok(Grantee::Study(value.to_string())),
            _ => Err(bad(&format!(
                "identifier.system must be {ORG_SYSTEM}, {MEMBER_SYSTEM} or {STUDY_SYSTEM}"
            ))),
        };
    }
    match reference["reference"].as_str().and_then(|s| s.split_once('/')) {
        Some(("Organization", org)) => Ok(Grantee::Org(OrgId::new(org).map_err(|e| bad(&e.to_string()))?)),
        Some(("ResearchStudy", s)) if !s.is_empty() && !s.contains('/') => Ok(Grantee::Study(s.to_string())),
        _ => Err(bad(
            "expected Organization/<org>, ResearchStudy/<id>, or an identifier in urn:medledger:member for a practitioner",
        )),
    }
}

fn practitioner(value: &str) -> Option<Grantee> {
    let (org, member) = value.split_once('/')?;
    Some(Grantee::Practitioner {
        org: OrgId::new(org).ok()?,
        member: MemberId::new(member).ok()?,
    })
}

fn purposes(v: Option<&Value>) -> Result<Vec<Purpose>, String> {
    let codings = v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if codings.is_empty() {
        return Err("provision.purpose: name the purposes (v3-ActReason TREAT, HPAYMT, HOPERAT, HRESCH)".into());
    }
    let mut out = Vec::new();
    for c in codings {
        let code = c["code"].as_str().unwrap_or_default();
        match (c["system"].as_str(), purpose_from_code(code)) {
            (Some(ACT_REASON), Some(p)) => out.push(p),
            _ => {
                return Err(format!(
                    "provision.purpose: {code:?} is not one of {ACT_REASON} TREAT, HPAYMT, HOPERAT, HRESCH"
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn scope(class: Option<&Value>, data: Option<&Value>) -> Result<ConsentScope, String> {
    let class = class.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let data = data.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if !class.is_empty() && !data.is_empty() {
        return Err("provision: class and data together are not supported; write one Consent for each".into());
    }
    if !data.is_empty() {
        let mut records = Vec::new();
        for d in data {
            if d["meaning"] != "instance" {
                return Err("provision.data.meaning: only instance is supported".into());
            }
            let (t, id) = d["reference"]["reference"]
                .as_str()
                .and_then(|s| s.split_once('/'))
                .filter(|(t, id)| !t.is_empty() && !id.is_empty() && !id.contains('/'))
                .ok_or("provision.data.reference: expected Type/id")?;
            records.push((t.to_string(), id.to_string()));
        }
        records.sort();
        records.dedup();
        return Ok(ConsentScope::Records(records));
    }
    if class.is_empty() {
        return Ok(ConsentScope::Types(vec!["*".into()]));
    }
    let mut types = Vec::new();
    for c in class {
        match (c["system"].as_str(), c["code"].as_str()) {
            (Some(RESOURCE_TYPES), Some(t)) if medledger_fhir::resource_type(t).is_some() => types.push(t.to_string()),
            _ => {
                return Err(format!(
                    "provision.class: {} is not a supported resource type in {RESOURCE_TYPES}",
                    c["code"]
                ));
            }
        }
    }
    types.sort();
    types.dedup();
    Ok(ConsentScope::Types(types))
}

fn expires(period: Option<&Value>, now: TimestampMs) -> Result<Option<TimestampMs>, String> {
    let Some(period) = period else { return Ok(None) };
    let parse = |field: &str| -> Result<Option<medledger_fhir::date::DateRange>, String> {
        period
            .get(field)
            .map(|v| {
                v.as_str()
                    .ok_or(format!("provision.period.{field}: expected a dateTime"))
                    .and_then(|s| {
                        medledger_fhir::date::parse_fhir_date(s).map_err(|e| format!("provision.period.{field}: {e}"))
                    })
            })
            .transpose()
    };
    if let Some(start) = parse("start")?
        && start.start > now.0 as i64
    {
        return Err("provision.period.start: consents that begin later are not supported; import it then".into());
    }
    let Some(end) = parse("end")? else { return Ok(None) };
    // An instant ends there; a date (or month, year) lasts through its last millisecond.
    let at = if end.end - end.start <= 1_000 {
        end.start
    } else {
        end.end
    };
    if at <= now.0 as i64 {
        return Err("provision.period.end: the consent has already ended".into());
    }
    Ok(Some(TimestampMs(at as u64)))
}

#[cfg(test)]
mod tests;
