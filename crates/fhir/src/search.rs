//! FHIR search for the supported types: parsing a query and matching it against a
//! decrypted resource.

use serde_json::Value;
use thiserror::Error;

use crate::date::{DateParam, DateRange, parse_fhir_date};
use crate::reference::patient_of;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("search parameter {param:?} is not supported for {resource_type}; supported: {supported}")]
    Unsupported {
        param: String,
        resource_type: String,
        supported: String,
    },
    #[error("search parameter {param}: {reason}")]
    Invalid { param: String, reason: &'static str },
}

/// A token value: `system|code`, `|code` (no system), `system|` (any code), `code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// `None`: any system; `Some(None)`: no system.
    pub system: Option<Option<String>>,
    pub code: Option<String>,
}

impl Token {
    fn parse(s: &str) -> Token {
        match s.split_once('|') {
            None => Token {
                system: None,
                code: Some(s.to_string()),
            },
            Some((sys, code)) => Token {
                system: Some((!sys.is_empty()).then(|| sys.to_string())),
                code: (!code.is_empty()).then(|| code.to_string()),
            },
        }
    }

    fn render(&self) -> String {
        match &self.system {
            None => self.code.clone().unwrap_or_default(),
            Some(sys) => format!(
                "{}|{}",
                sys.clone().unwrap_or_default(),
                self.code.clone().unwrap_or_default()
            ),
        }
    }

    fn matches(&self, system: Option<&str>, code: Option<&str>) -> bool {
        let sys_ok = match &self.system {
            None => true,
            Some(None) => system.is_none(),
            Some(Some(s)) => system == Some(s.as_str()),
        };
        let code_ok = match &self.code {
            None => true,
            Some(c) => code == Some(c.as_str()),
        };
        sys_ok && code_ok
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub resource_type: String,
    pub id: Option<Vec<String>>,
    pub patient: Option<String>,
    pub last_updated: Vec<DateParam>,
    pub date: Vec<DateParam>,
    pub code: Option<Vec<Token>>,
    pub identifier: Option<Vec<Token>>,
    pub count: Option<usize>,
    pub offset: usize,
    raw_dates: Vec<(String, String)>,
}

const SUBJECT_TYPES: [&str; 7] = [
    "Observation",
    "Condition",
    "Encounter",
    "MedicationRequest",
    "DiagnosticReport",
    "Procedure",
    "DocumentReference",
];

/// The element holding a type's `code` CodeableConcept.
fn code_path(t: &str) -> Option<&'static str> {
    Some(match t {
        "Observation" | "Condition" | "AllergyIntolerance" | "DiagnosticReport" | "Procedure" => "code",
        "MedicationRequest" => "medicationCodeableConcept",
        "Immunization" => "vaccineCode",
        _ => return None,
    })
}

/// The elements holding a type's `date`: (element, kind).
fn date_paths(t: &str) -> &'static [&'static str] {
    match t {
        "Observation" | "DiagnosticReport" => &["effectiveDateTime", "effectiveInstant", "effectivePeriod"],
        "Encounter" => &["period"],
        "Immunization" => &["occurrenceDateTime"],
        "Procedure" => &["performedDateTime", "performedPeriod"],
        "AllergyIntolerance" | "Condition" => &["recordedDate"],
        "DocumentReference" => &["date"],
        "Consent" => &["dateTime"],
        "AuditEvent" | "Provenance" => &["recorded"],
        _ => &[],
    }
}

const ALL: [&str; 11] = [
    "_id",
    "_lastUpdated",
    "_count",
    "patient",
    "subject",
    "code",
    "date",
    "identifier",
    "_offset",
    "_format",
    "_pretty",
];

impl SearchQuery {
    /// The parameters a type supports (for errors and the CapabilityStatement).
    pub fn supported_params(t: &str) -> &'static [&'static str] {
        let has_patient = !matches!(t, "Patient" | "Practitioner" | "Organization");
        let has_subject = SUBJECT_TYPES.contains(&t);
        let has_code = code_path(t).is_some();
        let has_date = !date_paths(t).is_empty();
        let has_ident = !matches!(t, "AuditEvent" | "Provenance");
        // Every combination that occurs among the supported types.
        match (has_patient, has_subject, has_code, has_date, has_ident) {
            (false, _, _, _, _) => &["_id", "_lastUpdated", "identifier"],
            (true, true, true, true, true) => &[
                "_id",
                "_lastUpdated",
                "patient",
                "subject",
                "code",
                "date",
                "identifier",
            ],
            (true, true, false, true, true) => &["_id", "_lastUpdated", "patient", "subject", "date", "identifier"],
            (true, false, true, true, true) => &["_id", "_lastUpdated", "patient", "code", "date", "identifier"],
            (true, true, true, false, true) => &["_id", "_lastUpdated", "patient", "subject", "code", "identifier"],
            (true, false, false, true, true) => &["_id", "_lastUpdated", "patient", "date", "identifier"],
            (true, false, false, true, false) => &["_id", "_lastUpdated", "patient", "date"],
            _ => &["_id", "_lastUpdated", "patient"],
        }
    }

    pub fn parse(resource_type: &str, params: &[(String, String)]) -> Result<SearchQuery, SearchError> {
        let supported = Self::supported_params(resource_type);
        let mut q = SearchQuery {
            resource_type: resource_type.to_string(),
            id: None,
            patient: None,
            last_updated: Vec::new(),
            date: Vec::new(),
            code: None,
            identifier: None,
            count: None,
            offset: 0,
            raw_dates: Vec::new(),
        };
        let invalid = |param: &str, reason| SearchError::Invalid {
            param: param.chars().take(40).collect(),
            reason,
        };
        for (name, value) in params {
            let known = ALL.contains(&name.as_str());
            let allowed = matches!(name.as_str(), "_count" | "_offset" | "_format" | "_pretty")
                || supported.contains(&name.as_str());
            if !known || !allowed {
                return Err(SearchError::Unsupported {
                    param: name.chars().take(40).collect(),
                    resource_type: resource_type.to_string(),
                    supported: supported.join(", "),
                });
            }
            if value.len() > 1024 {
                return Err(invalid(name, "value too long"));
            }
            match name.as_str() {
                "_id" => {
                    let ids: Vec<String> = value.split(',').map(str::to_string).collect();
                    if ids.len() > 100 || ids.iter().any(|i| !crate::reference::valid_id(i)) {
                        return Err(invalid(name, "ids are 1 to 64 of A-Z a-z 0-9 - ."));
                    }
                    q.id = Some(ids);
                }
                "patient" | "subject" => {
                    let id = value.strip_prefix("Patient/").unwrap_or(value);
                    if !crate::reference::valid_id(id) {
                        return Err(invalid(name, "expects Patient/{id} or {id}"));
                    }
                    if q.patient.as_deref().is_some_and(|p| p != id) {
                        return Err(invalid(name, "two different patients"));
                    }
                    q.patient = Some(id.to_string());
                }
                "_lastUpdated" | "date" => {
                    let p = DateParam::parse(value)
                        .map_err(|_| invalid(name, "expects [prefix]YYYY[-MM[-DD[Thh:mm[:ss]]]]"))?;
                    if name == "date" {
                        q.date.push(p);
                    } else {
                        q.last_updated.push(p);
                    }
                    q.raw_dates.push((name.clone(), value.clone()));
                }
                "code" => q.code = Some(value.split(',').map(Token::parse).collect()),
                "identifier" => q.identifier = Some(value.split(',').map(Token::parse).collect()),
                "_count" => {
                    let n: usize = value.parse().map_err(|_| invalid(name, "expects 0 to 1000"))?;
                    if n > 1000 {
                        return Err(invalid(name, "expects 0 to 1000"));
                    }
                    q.count = Some(n);
                }
                "_offset" => q.offset = value.parse().map_err(|_| invalid(name, "expects a number"))?,
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether a resource matches everything but paging.
    pub fn matches(&self, r: &Value) -> bool {
        if let Some(ids) = &self.id
            && !r
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| ids.iter().any(|i| i == id))
        {
            return false;
        }
        if let Some(p) = &self.patient
            && patient_of(r).as_deref() != Some(p.as_str())
        {
            return false;
        }
        if !self.last_updated.is_empty() {
            let Some(lu) = r
                .pointer("/meta/lastUpdated")
                .and_then(Value::as_str)
                .and_then(|s| parse_fhir_date(s).ok())
            else {
                return false;
            };
            if !self.last_updated.iter().all(|p| p.matches(lu)) {
                return false;
            }
        }
        if !self.date.is_empty() {
            let Some(range) = date_of(&self.resource_type, r) else {
                return false;
            };
            if !self.date.iter().all(|p| p.matches(range)) {
                return false;
            }
        }
        if let Some(tokens) = &self.code {
            let Some(cc) = code_path(&self.resource_type).and_then(|p| r.get(p)) else {
                return false;
            };
            let codings = cc.get("coding").and_then(Value::as_array).cloned().unwrap_or_default();
            let hit = codings.iter().any(|c| {
                let sys = c.get("system").and_then(Value::as_str);
                let code = c.get("code").and_then(Value::as_str);
                tokens.iter().any(|t| t.matches(sys, code))
            });
            if !hit {
                return false;
            }
        }
        if let Some(tokens) = &self.identifier {
            let ids = crate::reference::identifiers(r);
            if !ids
                .iter()
                .any(|(s, v)| tokens.iter().any(|t| t.matches(s.as_deref(), Some(v))))
            {
                return false;
            }
        }
        true
    }

    /// The query as a canonical string (for `self` and paging links).
    pub fn self_query(&self) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(ids) = &self.id {
            pairs.push(("_id".into(), ids.join(",")));
        }
        if let Some(p) = &self.patient {
            pairs.push(("patient".into(), p.clone()));
        }
        pairs.extend(self.raw_dates.iter().cloned());
        if let Some(t) = &self.code {
            pairs.push(("code".into(), t.iter().map(Token::render).collect::<Vec<_>>().join(",")));
        }
        if let Some(t) = &self.identifier {
            pairs.push((
                "identifier".into(),
                t.iter().map(Token::render).collect::<Vec<_>>().join(","),
            ));
        }
        if let Some(c) = self.count {
            pairs.push(("_count".into(), c.to_string()));
        }
        if self.offset > 0 {
            pairs.push(("_offset".into(), self.offset.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'|' | b',' | b':' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The date range a resource's `date` parameter covers.
fn date_of(t: &str, r: &Value) -> Option<DateRange> {
    for p in date_paths(t) {
        let Some(v) = r.get(*p) else { continue };
        if p.ends_with("Period") || *p == "period" {
            let bound = |k: &str| v.get(k).and_then(Value::as_str).and_then(|s| parse_fhir_date(s).ok());
            let start = bound("start").map_or(i64::MIN, |d| d.start);
            let end = bound("end").map_or(i64::MAX, |d| d.end);
            return Some(DateRange { start, end });
        }
        if let Some(d) = v.as_str().and_then(|s| parse_fhir_date(s).ok()) {
            return Some(d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn q(t: &str, params: &[(&str, &str)]) -> Result<SearchQuery, SearchError> {
        let p: Vec<(String, String)> = params.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        SearchQuery::parse(t, &p)
    }

    fn obs() -> Value {
        json!({"resourceType": "Observation", "id": "o1", "meta": {"lastUpdated": "2024-05-01T10:00:00.000Z"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-05T10:00:00Z",
               "identifier": [{"system": "urn:x", "value": "42"}]})
    }

    #[test]
    fn matches_each_parameter() {
        let o = obs();
        assert!(q("Observation", &[("patient", "Patient/p1")]).unwrap().matches(&o));
        assert!(!q("Observation", &[("subject", "p2")]).unwrap().matches(&o));
        assert!(
            q("Observation", &[("code", "http://loinc.org|8867-4")])
                .unwrap()
                .matches(&o)
        );
        assert!(q("Observation", &[("code", "8867-4")]).unwrap().matches(&o));
        assert!(!q("Observation", &[("code", "|8867-4")]).unwrap().matches(&o));
        assert!(q("Observation", &[("code", "http://loinc.org|")]).unwrap().matches(&o));
        assert!(q("Observation", &[("date", "2024-03")]).unwrap().matches(&o));
        assert!(!q("Observation", &[("date", "ge2024-04")]).unwrap().matches(&o));
        assert!(
            q(
                "Observation",
                &[("_lastUpdated", "ge2024-05-01"), ("_lastUpdated", "lt2024-05-02")]
            )
            .unwrap()
            .matches(&o)
        );
        assert!(q("Observation", &[("_id", "x,o1")]).unwrap().matches(&o));
        assert!(q("Observation", &[("identifier", "urn:x|42")]).unwrap().matches(&o));
        assert!(!q("Observation", &[("identifier", "urn:y|42")]).unwrap().matches(&o));
        let enc = json!({"resourceType": "Encounter", "period": {"start": "2024-01-01"}, "subject": {"reference": "Patient/p1"}});
        assert!(
            q("Encounter", &[("date", "ge2025-01-01")]).unwrap().matches(&enc),
            "open-ended period"
        );
    }

    #[test]
    fn refuses_unknown_and_inapplicable() {
        assert!(matches!(
            q("Observation", &[("name", "x")]),
            Err(SearchError::Unsupported { .. })
        ));
        assert!(matches!(
            q("Observation", &[("code:text", "x")]),
            Err(SearchError::Unsupported { .. })
        ));
        assert!(matches!(
            q("Patient", &[("code", "x")]),
            Err(SearchError::Unsupported { .. })
        ));
        assert!(matches!(
            q("Observation", &[("date", "yesterday")]),
            Err(SearchError::Invalid { .. })
        ));
        assert!(matches!(
            q("Observation", &[("_count", "5000")]),
            Err(SearchError::Invalid { .. })
        ));
        assert!(matches!(
            q("Observation", &[("patient", "Patient/a b")]),
            Err(SearchError::Invalid { .. })
        ));
    }

    #[test]
    fn self_query_round_trips() {
        let mut s = q(
            "Observation",
            &[
                ("patient", "p1"),
                ("code", "http://loinc.org|8867-4"),
                ("date", "ge2024-01-01"),
                ("_count", "10"),
            ],
        )
        .unwrap();
        s.offset = 20;
        let text = s.self_query();
        let pairs: Vec<(String, String)> = text
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.replace("%7C", "|"))
            })
            .collect();
        assert_eq!(SearchQuery::parse("Observation", &pairs).unwrap(), s);
    }
}
