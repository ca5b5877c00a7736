//! References inside resources and Bundles: classifying, visiting and rewriting them,
//! and finding the Patient a resource belongs to.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind<'a> {
    /// `Type/id` or `Type/id/_history/vid`.
    Local {
        resource_type: &'a str,
        id: &'a str,
        version: Option<&'a str>,
    },
    /// `urn:uuid:…` or `urn:oid:…` (a Bundle entry's fullUrl).
    Urn(&'a str),
    /// `Type?query` (resolved once, in a transaction).
    Conditional { resource_type: &'a str, query: &'a str },
    /// `#id`: a contained resource.
    Contained(&'a str),
    /// `http(s)://…`
    Absolute(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a valid reference")]
pub struct ReferenceError;

fn valid_type(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphabetic()) && t.as_bytes()[0].is_ascii_uppercase()
}

/// FHIR ids: 1 to 64 of `A-Z a-z 0-9 - .`
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

pub fn classify(r: &str) -> Result<RefKind<'_>, ReferenceError> {
    if r.len() > 4096 || r.is_empty() {
        return Err(ReferenceError);
    }
    if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
        return Ok(RefKind::Urn(r));
    }
    if let Some(id) = r.strip_prefix('#') {
        return Ok(RefKind::Contained(id));
    }
    if r.starts_with("http://") || r.starts_with("https://") {
        return Ok(RefKind::Absolute(r));
    }
    if let Some((t, q)) = r.split_once('?') {
        if valid_type(t) && !q.is_empty() {
            return Ok(RefKind::Conditional {
                resource_type: t,
                query: q,
            });
        }
        return Err(ReferenceError);
    }
    let parts: Vec<&str> = r.split('/').collect();
    match parts.as_slice() {
        [t, id] if valid_type(t) && valid_id(id) => Ok(RefKind::Local {
            resource_type: t,
            id,
            version: None,
        }),
        [t, id, "_history", v] if valid_type(t) && valid_id(id) && valid_id(v) => Ok(RefKind::Local {
            resource_type: t,
            id,
            version: Some(v),
        }),
        _ => Err(ReferenceError),
    }
}

fn visit(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let len = path.len();
                path.push('/');
                path.push_str(k);
                if k == "reference"
                    && let Value::String(s) = child
                {
                    f(path, s);
                } else {
                    visit(child, path, f);
                }
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                visit(child, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Calls `f(json pointer, reference)` for every `reference` string in `v`.
pub fn visit_references(v: &Value, mut f: impl FnMut(&str, &str)) {
    visit(v, &mut String::new(), &mut f);
}

/// Replaces every `reference` string for which `f` returns a new value; returns how many.
pub fn rewrite_references(v: &mut Value, mut f: impl FnMut(&str) -> Option<String>) -> usize {
    fn walk(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) -> usize {
        match v {
            Value::Object(o) => {
                let mut n = 0;
                for (k, child) in o.iter_mut() {
                    if k == "reference"
                        && let Value::String(s) = child
                    {
                        if let Some(new) = f(s) {
                            *s = new;
                            n += 1;
                        }
                    } else {
                        n += walk(child, f);
                    }
                }
                n
            }
            Value::Array(a) => a.iter_mut().map(|c| walk(c, f)).sum(),
            _ => 0,
        }
    }
    walk(v, &mut f)
}

/// Replaces string values that equal a key of `map` exactly (`urn:uuid:` fullUrls in
/// `uri`/`url` elements, which FHIR also requires to be rewritten); returns how many.
pub fn rewrite_uris(v: &mut Value, map: &BTreeMap<String, String>) -> usize {
    match v {
        Value::String(s) => match map.get(s.as_str()) {
            Some(new) if s.starts_with("urn:") => {
                *s = new.clone();
                1
            }
            _ => 0,
        },
        Value::Object(o) => o.values_mut().map(|c| rewrite_uris(c, map)).sum(),
        Value::Array(a) => a.iter_mut().map(|c| rewrite_uris(c, map)).sum(),
        _ => 0,
    }
}

/// The raw reference at the element naming a resource's patient, for each supported type.
pub fn subject_reference(resource: &Value) -> Option<&str> {
    let t = resource.get("resourceType")?.as_str()?;
    fn patient_ref(v: &Value) -> Option<&str> {
        let r = v.get("reference")?.as_str()?;
        match classify(r) {
            Ok(RefKind::Local {
                resource_type: "Patient",
                ..
            })
            | Ok(RefKind::Urn(_)) => Some(r),
            Ok(RefKind::Conditional {
                resource_type: "Patient",
                ..
            }) => Some(r),
            _ => None,
        }
    }
    match t {
        "Observation" | "Condition" | "Encounter" | "MedicationRequest" | "DiagnosticReport" | "Procedure"
        | "DocumentReference" => patient_ref(resource.get("subject")?),
        "AllergyIntolerance" | "Immunization" | "Consent" => patient_ref(resource.get("patient")?),
        "Provenance" => resource.get("target")?.as_array()?.iter().find_map(patient_ref),
        "AuditEvent" => resource
            .get("entity")?
            .as_array()?
            .iter()
            .find_map(|e| e.get("what").and_then(patient_ref)),
        _ => None,
    }
}

/// The logical id of the Patient whose compartment holds `resource`: its own id for a
/// Patient, the referenced Patient for clinical types, `None` otherwise (and for
/// references that are not `Patient/{id}`).
pub fn patient_of(resource: &Value) -> Option<String> {
    if resource.get("resourceType")?.as_str()? == "Patient" {
        return resource.get("id")?.as_str().map(str::to_string);
    }
    match classify(subject_reference(resource)?) {
        Ok(RefKind::Local {
            resource_type: "Patient",
            id,
            ..
        }) => Some(id.to_string()),
        _ => None,
    }
}

/// Top-level business identifiers as (system, value).
pub fn identifiers(resource: &Value) -> Vec<(Option<String>, String)> {
    let one = |i: &Value| -> Option<(Option<String>, String)> {
        let value = i.get("value")?.as_str()?.to_string();
        Some((i.get("system").and_then(Value::as_str).map(str::to_string), value))
    };
    match resource.get("identifier") {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(o @ Value::Object(_)) => one(o).into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            classify("Patient/abc-1").unwrap(),
            RefKind::Local {
                resource_type: "Patient",
                id: "abc-1",
                version: None
            }
        );
        assert!(matches!(
            classify("Patient/a/_history/2").unwrap(),
            RefKind::Local { version: Some("2"), .. }
        ));
        assert!(matches!(classify("urn:uuid:1234").unwrap(), RefKind::Urn(_)));
        assert!(matches!(
            classify("Organization?identifier=sys|1").unwrap(),
            RefKind::Conditional {
                resource_type: "Organization",
                ..
            }
        ));
        assert!(matches!(classify("#c1").unwrap(), RefKind::Contained("c1")));
        assert!(matches!(
            classify("https://x.org/fhir/Patient/1").unwrap(),
            RefKind::Absolute(_)
        ));
        for bad in [
            "",
            "patient/1",
            "Patient/",
            "Patient/a b",
            "Patient/1/2",
            "?x",
            "Patient?",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn visits_and_rewrites() {
        let mut v = json!({"subject": {"reference": "urn:uuid:1"}, "x": [{"reference": "Practitioner/2"}],
                           "contained": [{"who": {"reference": "urn:uuid:1"}}], "url": "urn:uuid:1"});
        let mut seen = Vec::new();
        visit_references(&v, |p, r| seen.push((p.to_string(), r.to_string())));
        assert_eq!(seen.len(), 3);
        assert!(seen.contains(&("/x/0/reference".into(), "Practitioner/2".into())));
        let n = rewrite_references(&mut v, |r| (r == "urn:uuid:1").then(|| "Patient/p".to_string()));
        assert_eq!(n, 2);
        assert_eq!(v["contained"][0]["who"]["reference"], "Patient/p");
        let map = BTreeMap::from([("urn:uuid:1".to_string(), "Patient/p".to_string())]);
        assert_eq!(rewrite_uris(&mut v, &map), 1);
        assert_eq!(v["url"], "Patient/p");
    }

    #[test]
    fn finds_the_patient() {
        assert_eq!(
            patient_of(&json!({"resourceType": "Patient", "id": "p1"})).as_deref(),
            Some("p1")
        );
        assert_eq!(
            patient_of(&json!({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}})).as_deref(),
            Some("p2")
        );
        assert_eq!(
            patient_of(&json!({"resourceType": "Immunization", "patient": {"reference": "Patient/p3"}})).as_deref(),
            Some("p3")
        );
        assert_eq!(
            patient_of(&json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}})),
            None
        );
        assert_eq!(patient_of(&json!({"resourceType": "Practitioner", "id": "x"})), None);
        assert_eq!(
            identifiers(&json!({"identifier": [{"system": "s", "value": "v"}, {"value": "w"}]})),
            vec![(Some("s".into()), "v".into()), (None, "w".into())]
        );
    }
}
