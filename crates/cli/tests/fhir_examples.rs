//! HL7's official R4 examples (all 736, of 140 types; `crates/fhir/schema/examples.py`)
//! posted to a node in one transaction, with their references made resolvable, each come
//! back schema-valid and equal to what was posted apart from `id` and `meta`.
//!
//! References are made resolvable the way a loader would: a reference to another example
//! points at that example's entry; a reference to a record HL7 did not publish points at
//! an example of the same type; one to a type with no example keeps only its display.
//! References inside a stored Bundle's entries are the Bundle's own and stay as written.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use common::fhir::{fhir, register, token};
use common::net::Net;
use medledger_fhir::reference::{RefKind, classify};
use medledger_ledger::identity::MemberKind;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);

fn hl7_examples() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fhir/tests/data/r4-examples.ndjson.gz");
    let gz = std::fs::read(path).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn urn(i: usize) -> String {
    format!("urn:uuid:7e570000-0000-4000-8000-{i:012}")
}

/// Rewrites a resource's own references (not those inside a stored Bundle's entries):
/// `f` gives the new reference, or `None` to keep only the Reference's display.
fn remap(v: &mut Value, in_bundle_entries: bool, f: &dyn Fn(&str) -> Option<Option<String>>) {
    match v {
        Value::Object(o) => {
            if !in_bundle_entries && let Some(Value::String(r)) = o.get("reference").cloned() {
                match f(&r) {
                    Some(Some(new)) => {
                        o.insert("reference".into(), Value::String(new));
                    }
                    Some(None) => {
                        o.remove("reference");
                        o.entry("display").or_insert_with(|| json!("(not published by HL7)"));
                    }
                    None => {}
                }
            }
            let bundle = o.get("resourceType").and_then(Value::as_str) == Some("Bundle");
            for (k, c) in o.iter_mut() {
                remap(c, in_bundle_entries || (bundle && k == "entry"), f);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| remap(c, in_bundle_entries, f)),
        _ => {}
    }
}

fn without_id_and_meta(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("meta");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_official_example_comes_back_valid_and_equal() {
    let examples = hl7_examples();
    assert_eq!(examples.len(), 736);
    // Where each example will be: its entry's fullUrl.
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_of_type: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        let t = e["resourceType"].as_str().unwrap().to_string();
        by_key
            .entry(format!("{t}/{}", e["id"].as_str().unwrap_or_default()))
            .or_insert(i);
        first_of_type.entry(t).or_insert(i);
    }
    let resolve = |r: &str| -> Option<Option<String>> {
        match classify(r) {
            Ok(RefKind::Local { resource_type, id, .. }) => {
                if let Some(i) = by_key.get(&format!("{resource_type}/{id}")) {
                    return Some(Some(urn(*i)));
                }
                Some(first_of_type.get(resource_type).map(|i| urn(*i)))
            }
            Ok(RefKind::Urn(_) | RefKind::Conditional { .. }) => Some(None),
            Err(_) => Some(None),
            _ => None,
        }
    };
    let posted: Vec<Value> = examples
        .iter()
        .map(|e| {
            let mut e = e.clone();
            remap(&mut e, false, &resolve);
            e
        })
        .collect();
    let entries: Vec<Value> = posted
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let t = e["resourceType"].as_str().unwrap();
            json!({"fullUrl": urn(i), "resource": e, "request": {"method": "POST", "url": t}})
        })
        .collect();
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});

    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    // The examples make a 7 MB transaction; the default body limit is 8 MiB.
    let config = net.homes[0].join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("max_body_bytes = 8388608", "max_body_bytes = 33554432");
    assert!(text.contains("max_body_bytes = 33554432"), "{text}");
    std::fs::write(&config, text).unwrap();
    net.start_all();
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let dr = register(&net, 0, "hospital-a", "dr-examples", MemberKind::Practitioner).await;
    let tok = token(&net, 0, &dr, "user/*.cruds").await;

    let answer = fhir(&net, 0, "POST", "", Some(&tok), Some(&transaction), &[]).await;
    assert_eq!(answer.status, 200, "{}", &answer.text[..answer.text.len().min(4000)]);
    let locations: Vec<String> = answer.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["location"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(locations.len(), examples.len());
    // What the server does to urn:uuid references: the entry's new Type/id.
    let new_ids: BTreeMap<String, String> = locations
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut parts = l.split('/');
            (urn(i), format!("{}/{}", parts.next().unwrap(), parts.next().unwrap()))
        })
        .collect();

    let validator = medledger_fhir::Validator::new().unwrap();
    let mut types = std::collections::BTreeSet::new();
    for (i, location) in locations.iter().enumerate() {
        let path = location.split("/_history").next().unwrap();
        let got = fhir(&net, 0, "GET", &format!("/{path}"), Some(&tok), None, &[]).await;
        assert_eq!(got.status, 200, "{path}: {}", got.text);
        validator
            .validate(&got.body)
            .unwrap_or_else(|e| panic!("{path} is not valid: {:?}", e.issues()));
        let mut expected = posted[i].clone();
        medledger_fhir::reference::rewrite_uris(&mut expected, &new_ids);
        assert_eq!(
            without_id_and_meta(got.body.clone()),
            without_id_and_meta(expected),
            "{} (example {})",
            path,
            examples[i]["id"]
        );
        types.insert(got.body["resourceType"].as_str().unwrap().to_string());
    }
    assert_eq!(types.len(), 140);
    net.stop_all();
}
