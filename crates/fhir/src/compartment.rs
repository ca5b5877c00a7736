//! Which Patient's compartment a resource belongs to, from HL7's
//! `CompartmentDefinition-patient` (R4): a resource of type T is in Patient P's
//! compartment when one of T's compartment search parameters (Observation: `subject`,
//! `performer`; Coverage: `policy-holder`, `subscriber`, `beneficiary`, `payor` …) holds
//! a reference to `Patient/P`. The parameters' paths come from HL7's SearchParameter
//! definitions ([`crate::defs`]); nothing here is a hand-kept list.
//!
//! medledger keeps one patient per record (consent is the patient's), so a resource that
//! names two patients is not shared under either one's consent: it stays with its
//! custodian, like a compartment resource that names none.
//!
//! One step beyond HL7's definition, towards privacy: a resource of a type outside the
//! compartment that still names a patient through the type's `patient` search parameter
//! (a Device's `patient`, a Task's `for`, a Contract's or GuidanceResponse's `subject`
//! when it is a Patient) is treated as that patient's, so that it is shared under
//! consent and not with every member.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::defs::{ParamKind, defs, values_at};
use crate::reference::{RefKind, classify, valid_id};

/// Where a resource stands with respect to the Patient compartment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compartment {
    /// In this Patient's compartment (a Patient is in its own).
    Patient(String),
    /// Of a compartment type, but naming no patient by a local `Patient/{id}`
    /// reference: held for the custodian's staff only.
    Unassigned,
    /// Naming more than one patient: held for the custodian's staff only (a resource of
    /// a type outside the compartment that names several is refused by the server).
    Several,
    /// Of a type outside the compartment (Organization, Location, Medication …): shared
    /// reference data.
    Shared,
}

impl Compartment {
    /// The patient, when exactly one.
    pub fn patient(&self) -> Option<&str> {
        match self {
            Compartment::Patient(p) => Some(p),
            _ => None,
        }
    }
}

/// Whether resources of `resource_type` can be in a Patient's compartment (R4's
/// definition lists search parameters for it, or it is Patient).
pub fn is_compartment_type(resource_type: &str) -> bool {
    defs().get(resource_type).is_some_and(|t| t.in_compartment())
}

/// The resource types of the Patient compartment, sorted.
pub fn compartment_types() -> Vec<&'static str> {
    defs().iter().filter(|t| t.in_compartment()).map(|t| t.name).collect()
}

/// The local Patient ids `resource` names at its type's compartment parameters, in the
/// order the definition lists the parameters.
pub fn patients_named(resource: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let Some(def) = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|t| defs().get(t))
    else {
        return found;
    };
    let params: Vec<&crate::defs::ParamDef> = if def.in_compartment() {
        def.compartment.iter().filter_map(|c| def.param(c)).collect()
    } else {
        def.param("patient").into_iter().collect()
    };
    for param in params {
        if param.kind != ParamKind::Reference {
            continue;
        }
        for path in &param.paths {
            if path.target.as_deref().is_some_and(|t| t != "Patient") {
                continue;
            }
            for v in values_at(resource, &path.steps) {
                if let Some(id) = v.get("reference").and_then(Value::as_str).and_then(local_patient) {
                    found.insert(id.to_string());
                }
            }
        }
    }
    found
}

/// The logical id in a `Patient/{id}[/_history/{vid}]` reference.
fn local_patient(r: &str) -> Option<&str> {
    match classify(r) {
        Ok(RefKind::Local {
            resource_type: "Patient",
            id,
            ..
        }) => Some(id),
        _ => None,
    }
}

/// Where `resource` stands; a non-resource or unknown type is [`Compartment::Shared`]
/// only if R4 knows the type, else [`Compartment::Unassigned`] (never shared).
pub fn compartment(resource: &Value) -> Compartment {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
        return Compartment::Unassigned;
    };
    if t == "Patient" {
        return match resource.get("id").and_then(Value::as_str) {
            Some(id) if valid_id(id) => Compartment::Patient(id.to_string()),
            _ => Compartment::Unassigned,
        };
    }
    let Some(def) = defs().get(t) else {
        return Compartment::Unassigned;
    };
    let mut named = patients_named(resource).into_iter();
    match (named.next(), named.next()) {
        (Some(p), None) => Compartment::Patient(p),
        (Some(_), Some(_)) => Compartment::Several,
        (None, _) if def.in_compartment() => Compartment::Unassigned,
        (None, _) => Compartment::Shared,
    }
}

/// The logical id of the one Patient whose compartment holds `resource`, if exactly one.
pub fn patient_of(resource: &Value) -> Option<String> {
    match compartment(resource) {
        Compartment::Patient(p) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_the_patient_by_hl7s_parameters() {
        let p1 = json!({"reference": "Patient/p1"});
        let cases = [
            json!({"resourceType": "Patient", "id": "p1"}),
            json!({"resourceType": "Observation", "subject": p1}),
            json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}, "performer": [p1]}),
            json!({"resourceType": "DocumentReference", "subject": {"reference": "Patient/p1/_history/3"}}),
            json!({"resourceType": "AllergyIntolerance", "patient": p1}),
            json!({"resourceType": "Claim", "patient": p1, "provider": {"reference": "Organization/o"}}),
            json!({"resourceType": "ExplanationOfBenefit", "patient": p1}),
            json!({"resourceType": "Coverage", "beneficiary": p1, "payor": [{"reference": "Organization/o"}]}),
            json!({"resourceType": "CareTeam", "subject": p1}),
            json!({"resourceType": "ImagingStudy", "subject": p1}),
            json!({"resourceType": "Specimen", "subject": p1}),
            json!({"resourceType": "Provenance", "target": [{"reference": "Encounter/e"}, p1]}),
            json!({"resourceType": "AuditEvent", "entity": [{"what": {"reference": "Device/d"}}, {"what": p1}]}),
            json!({"resourceType": "Appointment", "participant": [{"actor": {"reference": "Practitioner/x"}}, {"actor": p1}]}),
        ];
        for c in &cases {
            assert_eq!(compartment(c), Compartment::Patient("p1".into()), "{c}");
        }
    }

    #[test]
    fn shared_unassigned_and_several() {
        for t in [
            "Organization",
            "Location",
            "Medication",
            "Practitioner",
            "Device",
            "Substance",
        ] {
            assert_eq!(
                compartment(&json!({"resourceType": t, "id": "x"})),
                Compartment::Shared,
                "{t}"
            );
        }
        let unassigned = [
            json!({"resourceType": "Observation", "subject": {"reference": "Device/d"}}),
            json!({"resourceType": "Observation", "subject": {"reference": "urn:uuid:4b2a1c3e-0000-4000-8000-000000000001"}}),
            json!({"resourceType": "Observation", "subject": {"reference": "Patient?identifier=a|b"}}),
            json!({"resourceType": "Observation", "subject": {"reference": "https://x.org/Patient/p1"}}),
            json!({"resourceType": "Observation", "subject": {"display": "Jane"}}),
            // Not a compartment parameter of the type.
            json!({"resourceType": "Observation", "patient": {"reference": "Patient/p1"}}),
            json!({"resourceType": "Observation", "focus": [{"reference": "Patient/p1"}]}),
            json!({"resourceType": "Patient", "id": "not valid"}),
            json!({"resourceType": "NoSuchType", "subject": {"reference": "Patient/p1"}}),
            json!({"subject": {"reference": "Patient/p1"}}),
            json!(null),
        ];
        for c in &unassigned {
            assert_eq!(compartment(c), Compartment::Unassigned, "{c}");
        }
        let two = json!({"resourceType": "Coverage", "subscriber": {"reference": "Patient/a"}, "beneficiary": {"reference": "Patient/b"}});
        assert_eq!(compartment(&two), Compartment::Several);
        // Outside HL7's compartment, a resource that names a patient is still theirs.
        let device = json!({"resourceType": "Device", "patient": {"reference": "Patient/a"}});
        assert_eq!(compartment(&device), Compartment::Patient("a".into()));
        let task =
            json!({"resourceType": "Task", "status": "ready", "intent": "order", "for": {"reference": "Patient/a"}});
        assert_eq!(compartment(&task), Compartment::Patient("a".into()));
        let group = json!({"resourceType": "Group", "member": [{"entity": {"reference": "Patient/a"}}, {"entity": {"reference": "Patient/b"}}]});
        assert_eq!(compartment(&group), Compartment::Several);
        // The same patient twice is one.
        let same = json!({"resourceType": "Observation", "subject": {"reference": "Patient/a"}, "performer": [{"reference": "Patient/a"}]});
        assert_eq!(compartment(&same), Compartment::Patient("a".into()));
    }

    #[test]
    fn the_compartment_has_hl7s_types() {
        let types = compartment_types();
        assert_eq!(types.len(), 66, "Patient among them");
        for t in [
            "Observation",
            "Claim",
            "Coverage",
            "Group",
            "Patient",
            "Person",
            "RelatedPerson",
        ] {
            assert!(is_compartment_type(t), "{t}");
        }
        for t in [
            "Organization",
            "Location",
            "Medication",
            "Practitioner",
            "Device",
            "Task",
        ] {
            assert!(!is_compartment_type(t), "{t}");
        }
    }
}
