use super::*;
use crate::Validator;

const PAT: &str = "urn:uuid:11111111-1111-4111-8111-111111111111";
const ENC: &str = "urn:uuid:22222222-2222-4222-8222-222222222222";
const CLAIM: &str = "urn:uuid:33333333-3333-4333-8333-333333333333";
const MED: &str = "urn:uuid:44444444-4444-4444-8444-444444444444";
const OBS: &str = "urn:uuid:55555555-5555-4555-8555-555555555555";

fn entry(full_url: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": t}})
}

/// Shaped like a Synthea patient Bundle: supported and unsupported types, references by
/// fullUrl and by conditional query to types this server does not hold.
fn synthea_like() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(PAT, json!({"resourceType": "Patient", "gender": "female"})),
            entry(ENC, json!({
                "resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": PAT},
                "location": [{"location": {"reference": "Location?identifier=https://github.com/synthetichealth/synthea|abc", "display": "Clinic room"}}],
                "serviceProvider": {"reference": "Organization?identifier=https://github.com/synthetichealth/synthea|org1"},
            })),
            entry(MED, json!({"resourceType": "Medication", "status": "active"})),
            entry("urn:uuid:66666666-6666-4666-8666-666666666666", json!({
                "resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "subject": {"reference": PAT}, "encounter": {"reference": ENC},
                "medicationReference": {"reference": MED},
            })),
            entry(OBS, json!({
                "resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": PAT}, "encounter": {"reference": ENC},
            })),
            entry(CLAIM, json!({"resourceType": "Claim", "status": "active", "patient": {"reference": PAT}})),
            entry("urn:uuid:77777777-7777-4777-8777-777777777777", json!({"resourceType": "ExplanationOfBenefit", "claim": {"reference": CLAIM}})),
            entry("urn:uuid:88888888-8888-4888-8888-888888888888", json!({
                "resourceType": "Provenance", "recorded": "2024-01-01T00:00:00Z",
                "target": [{"reference": PAT}, {"reference": CLAIM}, {"reference": OBS}],
                "agent": [{"who": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"}}],
            })),
        ]
    })
}

#[test]
fn unsupported_entries_go_and_references_to_them_keep_their_display() {
    let mut b = synthea_like();
    let p = prune_unsupported(&mut b).unwrap();
    assert_eq!(
        p.dropped,
        BTreeMap::from([
            ("Claim".to_string(), 1),
            ("ExplanationOfBenefit".to_string(), 1),
            ("Medication".to_string(), 1)
        ])
    );
    assert_eq!(p.kept, 5);
    // Encounter.location, MedicationRequest.medicationReference, Provenance.target[1].
    assert_eq!(p.references_cut, 3);
    let entries = b["entry"].as_array().unwrap();
    let enc = &entries[1]["resource"];
    assert_eq!(enc["location"][0]["location"], json!({"display": "Clinic room"}));
    assert_eq!(
        enc["serviceProvider"]["reference"].as_str().unwrap().split('?').next(),
        Some("Organization")
    );
    let mr = &entries[2]["resource"];
    assert_eq!(
        mr["medicationReference"],
        json!({"display": "resource not held by medledger"})
    );
    let prov = &entries[4]["resource"];
    assert_eq!(prov["target"][0]["reference"], PAT);
    assert!(prov["target"][1].get("reference").is_none());
    assert_eq!(prov["target"][2]["reference"], OBS);
    assert!(prov["agent"][0]["who"]["reference"].is_string(), "Practitioner is held");
    // What is left is valid R4, entry by entry.
    let v = Validator::new().unwrap();
    for e in entries {
        v.validate(&e["resource"])
            .unwrap_or_else(|err| panic!("{err}: {}", e["resource"]));
    }
}

#[test]
fn a_bundle_of_only_supported_types_is_unchanged() {
    let mut b = synthea_like();
    b["entry"]
        .as_array_mut()
        .unwrap()
        .retain(|e| supported(e["resource"]["resourceType"].as_str().unwrap()));
    b["entry"][1]["resource"].as_object_mut().unwrap().remove("location");
    b["entry"][2]["resource"]["medicationReference"] = json!({"display": "x"});
    b["entry"][4]["resource"]["target"].as_array_mut().unwrap().remove(1);
    let before = b.clone();
    let p = prune_unsupported(&mut b).unwrap();
    assert_eq!(
        p,
        Pruned {
            dropped: BTreeMap::new(),
            references_cut: 0,
            kept: 5
        }
    );
    assert_eq!(b, before);
}

#[test]
fn not_a_bundle_or_an_entry_without_a_resource_is_refused() {
    assert_eq!(
        prune_unsupported(&mut json!({"resourceType": "Patient"})),
        Err(PruneError::NotABundle)
    );
    assert_eq!(prune_unsupported(&mut json!([])), Err(PruneError::NotABundle));
    let mut b = json!({"resourceType": "Bundle", "entry": [{"fullUrl": PAT}]});
    assert_eq!(prune_unsupported(&mut b), Err(PruneError::NoResource(0)));
    let mut empty = json!({"resourceType": "Bundle", "type": "batch"});
    assert_eq!(prune_unsupported(&mut empty).unwrap().kept, 0);
}

#[test]
fn nesting_as_deep_as_the_json_parser_allows_is_handled() {
    // serde_json refuses input nested deeper than 128, so parsed Bundles stop there.
    let depth = 120;
    let text = format!(
        r#"{{"resourceType":"Bundle","entry":[{{"resource":{{"resourceType":"Patient","extension":{}{{"reference":"Location/x"}}{}}}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let mut b: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(prune_unsupported(&mut b).unwrap().references_cut, 1);
    let too_deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    assert!(serde_json::from_str::<Value>(&too_deep).is_err());
}
