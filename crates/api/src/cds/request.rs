//! Reading a CDS Hooks 2.0 request for `order-sign` or `order-select`: pure and bounded,
//! for the handler and the tests. Every refusal names the field, never a value from it
//! (the patient id least of all).
//!
//! ```json
//! {"hook": "order-sign", "hookInstance": "d1577c69-…",
//!  "context": {"userId": "Practitioner/123", "patientId": "pt-1",
//!              "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {…MedicationRequest…}}]},
//!              "selections": ["MedicationRequest/abc"]}}
//! ```
//!
//! `selections` is required for `order-select` (the orders just selected are checked, the
//! others are context) and ignored for `order-sign` (every draft is checked). Entries that
//! are not `MedicationRequest`s, or are not RxNorm-coded, are not drug monitoring's
//! business and are skipped. A `MedicationRequest` whose `subject` names another patient
//! than `context.patientId` is refused. `prefetch`, `fhirServer` and `fhirAuthorization`
//! are ignored: everything comes from the ledger.

use medledger_ledger::rx::Medication;
use medledger_types::Hash32;
use serde_json::Value;
use thiserror::Error;

use super::order::{is_rxnorm_coded, medication_of, prescription_of};

/// Largest request body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// Most orders checked in one request.
pub const MAX_ORDERS: usize = 64;
/// Longest `hookInstance` and `userId`.
const MAX_TEXT: usize = 256;

/// The hooks this service answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    OrderSign,
    OrderSelect,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::OrderSign => "order-sign",
            Hook::OrderSelect => "order-select",
        }
    }
}

/// Why a request is refused (400).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("the body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("hook must be {0} for this service")]
    WrongHook(&'static str),
    #[error("{0} is missing or not valid")]
    Field(&'static str),
    #[error("context.draftOrders must be a FHIR Bundle")]
    NotABundle,
    #[error("more than {MAX_ORDERS} medication orders to check")]
    TooManyOrders,
    #[error("draft order {0} is for another patient than context.patientId")]
    OtherPatient(usize),
}

/// One RxNorm-coded draft `MedicationRequest`, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftOrder {
    /// Its position among the Bundle's entries (from 0).
    pub entry: usize,
    /// Its medication, units per fill and days supply, or why they cannot be read.
    pub reading: Result<(Medication, u32, u32), String>,
    /// The ledger prescription it names, if any.
    pub prescription: Option<Hash32>,
}

/// A checked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRequest {
    pub hook_instance: String,
    pub patient: String,
    pub orders: Vec<DraftOrder>,
}

fn text<'a>(v: &'a Value, field: &'static str) -> Result<&'a str, RequestError> {
    v.as_str()
        .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
        .ok_or(RequestError::Field(field))
}

/// Parses a request sent to the service for `hook`.
pub fn parse_request(hook: Hook, body: &[u8]) -> Result<HookRequest, RequestError> {
    if body.len() > MAX_BODY {
        return Err(RequestError::TooLarge);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| RequestError::NotJson)?;
    if !v.is_object() {
        return Err(RequestError::NotJson);
    }
    if v["hook"].as_str() != Some(hook.name()) {
        return Err(RequestError::WrongHook(hook.name()));
    }
    let hook_instance = text(&v["hookInstance"], "hookInstance")?.to_string();
    let context = &v["context"];
    if !context.is_object() {
        return Err(RequestError::Field("context"));
    }
    text(&context["userId"], "context.userId")?;
    let patient = context["patientId"]
        .as_str()
        .filter(|p| medledger_ledger::records::valid_id(p))
        .ok_or(RequestError::Field("context.patientId"))?
        .to_string();
    let bundle = &context["draftOrders"];
    if bundle["resourceType"] != "Bundle" {
        return Err(RequestError::NotABundle);
    }
    let entries: &[Value] = match &bundle["entry"] {
        Value::Null => &[],
        Value::Array(entries) => entries,
        _ => return Err(RequestError::NotABundle),
    };
    let selected: Option<Vec<&str>> = match hook {
        Hook::OrderSign => None,
        Hook::OrderSelect => Some(
            context["selections"]
                .as_array()
                .and_then(|s| s.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                .ok_or(RequestError::Field("context.selections"))?,
        ),
    };
    let subject = format!("Patient/{patient}");
    let mut orders = Vec::new();
    for (entry, e) in entries.iter().enumerate() {
        let resource = &e["resource"];
        if !resource.is_object() {
            return Err(RequestError::NotABundle);
        }
        if resource["resourceType"] != "MedicationRequest" || !is_rxnorm_coded(resource) {
            continue;
        }
        if resource["subject"]["reference"].as_str().is_some_and(|s| s != subject) {
            return Err(RequestError::OtherPatient(entry));
        }
        if let Some(selected) = &selected {
            let name = resource["id"].as_str().map(|id| format!("MedicationRequest/{id}"));
            if !name.is_some_and(|n| selected.contains(&n.as_str())) {
                continue;
            }
        }
        if orders.len() == MAX_ORDERS {
            return Err(RequestError::TooManyOrders);
        }
        let (reading, prescription) = match prescription_of(resource) {
            Ok(p) => (medication_of(resource), p),
            Err(e) => (Err(e), None),
        };
        orders.push(DraftOrder {
            entry,
            reading,
            prescription,
        });
    }
    Ok(HookRequest {
        hook_instance,
        patient,
        orders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cds::order::{RXNORM, UCUM};
    use serde_json::json;

    fn order(id: &str, patient: &str) -> Value {
        json!({
            "resourceType": "MedicationRequest",
            "id": id,
            "subject": {"reference": format!("Patient/{patient}")},
            "contained": [{"resourceType": "Medication", "id": "m",
                "code": {"coding": [{"system": RXNORM, "code": "1049621"}]},
                "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "7804"}]},
                    "strength": {"numerator": {"value": 5, "system": UCUM, "code": "mg"}, "denominator": {"value": 1}}}]}],
            "medicationReference": {"reference": "#m"},
            "dispenseRequest": {"quantity": {"value": 60},
                "expectedSupplyDuration": {"value": 30, "system": UCUM, "code": "d"}}
        })
    }

    fn request(hook: &str, entries: Vec<Value>, selections: Option<Vec<&str>>) -> Value {
        let mut v = json!({
            "hook": hook,
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {
                "userId": "Practitioner/example",
                "patientId": "pt-1",
                "draftOrders": {"resourceType": "Bundle", "entry": entries.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()}
            }
        });
        if let Some(s) = selections {
            v["context"]["selections"] = json!(s);
        }
        v
    }

    fn parse(hook: Hook, v: &Value) -> Result<HookRequest, RequestError> {
        parse_request(hook, &serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn order_sign_checks_every_rxnorm_medication_request() {
        let other = json!({"resourceType": "ServiceRequest", "id": "s"});
        let snomed = json!({"resourceType": "MedicationRequest", "id": "x",
            "medicationCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}});
        let v = request(
            "order-sign",
            vec![order("a", "pt-1"), other, snomed, order("b", "pt-1")],
            None,
        );
        let r = parse(Hook::OrderSign, &v).unwrap();
        assert_eq!(r.patient, "pt-1");
        assert_eq!(r.orders.iter().map(|o| o.entry).collect::<Vec<_>>(), vec![0, 3]);
        assert!(r.orders.iter().all(|o| o.reading.is_ok()));
    }

    #[test]
    fn order_select_checks_the_selected_orders_only() {
        let v = request(
            "order-select",
            vec![order("a", "pt-1"), order("b", "pt-1")],
            Some(vec!["MedicationRequest/b"]),
        );
        let r = parse(Hook::OrderSelect, &v).unwrap();
        assert_eq!(r.orders.iter().map(|o| o.entry).collect::<Vec<_>>(), vec![1]);
        let mut no_selections = v.clone();
        no_selections["context"]["selections"] = Value::Null;
        assert_eq!(
            parse(Hook::OrderSelect, &no_selections),
            Err(RequestError::Field("context.selections"))
        );
    }

    #[test]
    fn hostile_requests_are_refused_by_name() {
        let ok = request("order-sign", vec![order("a", "pt-1")], None);
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = ok.clone();
            f(&mut v);
            v
        };
        let cases: Vec<(Vec<u8>, Hook, RequestError)> = vec![
            (b"not json".to_vec(), Hook::OrderSign, RequestError::NotJson),
            (b"[1, 2]".to_vec(), Hook::OrderSign, RequestError::NotJson),
            ("[".repeat(100_000).into_bytes(), Hook::OrderSign, RequestError::NotJson),
            (vec![b' '; MAX_BODY + 1], Hook::OrderSign, RequestError::TooLarge),
            (
                serde_json::to_vec(&ok).unwrap(),
                Hook::OrderSelect,
                RequestError::WrongHook("order-select"),
            ),
            (
                serde_json::to_vec(&edit(&|v| v["hookInstance"] = json!(7))).unwrap(),
                Hook::OrderSign,
                RequestError::Field("hookInstance"),
            ),
            (
                serde_json::to_vec(&edit(&|v| v["context"]["userId"] = Value::Null)).unwrap(),
                Hook::OrderSign,
                RequestError::Field("context.userId"),
            ),
            (
                serde_json::to_vec(&edit(&|v| v["context"]["patientId"] = json!("Jane Doe"))).unwrap(),
                Hook::OrderSign,
                RequestError::Field("context.patientId"),
            ),
            (
                serde_json::to_vec(&edit(&|v| v["context"]["draftOrders"] = json!([order("a", "pt-1")]))).unwrap(),
                Hook::OrderSign,
                RequestError::NotABundle,
            ),
            (
                serde_json::to_vec(&edit(&|v| v["context"]["draftOrders"]["entry"] = json!({"a": 1}))).unwrap(),
                Hook::OrderSign,
                RequestError::NotABundle,
            ),
            (
                serde_json::to_vec(&edit(&|v| v["context"]["draftOrders"]["entry"] = json!([1]))).unwrap(),
                Hook::OrderSign,
                RequestError::NotABundle,
            ),
            (
                serde_json::to_vec(&request(
                    "order-sign",
                    vec![order("a", "pt-1"), order("b", "pt-2")],
                    None,
                ))
                .unwrap(),
                Hook::OrderSign,
                RequestError::OtherPatient(1),
            ),
            (
                serde_json::to_vec(&request(
                    "order-sign",
                    (0..=MAX_ORDERS).map(|i| order(&i.to_string(), "pt-1")).collect(),
                    None,
                ))
                .unwrap(),
                Hook::OrderSign,
                RequestError::TooManyOrders,
            ),
        ];
        for (body, hook, want) in cases {
            let got = parse_request(hook, &body);
            assert_eq!(got, Err(want.clone()), "{want}");
            assert!(!want.to_string().contains("pt-"), "no patient id in {want}");
        }
    }

    #[test]
    fn an_unreadable_order_is_kept_with_its_reason() {
        let mut bad = order("a", "pt-1");
        bad["dispenseRequest"] = Value::Null;
        let r = parse(Hook::OrderSign, &request("order-sign", vec![bad], None)).unwrap();
        assert!(r.orders[0].reading.as_ref().unwrap_err().contains("quantity"));
    }
}
