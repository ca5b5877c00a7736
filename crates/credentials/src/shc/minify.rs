//! Payload minification for QR codes (spec "Payload content minified for QR codes").
//!
//! The bundle in `.vc.credentialSubject.fhirBundle` is written
//! - without `Resource.id` (the `id` of the Bundle and of each entry's resource);
//! - without `Resource.meta`, or with only `meta.security` when that is present;
//! - without `DomainResource.text` (a resource's narrative);
//! - without `CodeableConcept.text` and without `Coding.display`;
//! - with `Bundle.entry.fullUrl` as `resource:N` (N the entry's index) and every
//!   `Reference.reference` that names an entry of the bundle rewritten to that
//!   `resource:N`.
//!
//! The element kinds are recognised by shape, without FHIR's type definitions: a
//! CodeableConcept is an object with a `coding` array, a Coding an object inside one, a
//! Reference an object with a string `reference`. A CodeableConcept with only `text` (no
//! `coding`) keeps it, since removing it would leave an empty concept. References that name
//! nothing in the bundle are kept as they are; entry members other than `fullUrl` and
//! `resource` (`search`, `request`, `response`) are dropped.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The minified copy of a FHIR Bundle.
pub fn minify_bundle(bundle: &Value) -> Value {
    let mut out = bundle.clone();
    let Some(obj) = out.as_object_mut() else {
        return out;
    };
    strip_resource_level(obj);
    let Some(Value::Array(entries)) = obj.get_mut("entry") else {
        return out;
    };
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let short = format!("resource:{i}");
        if let Some(url) = entry.get("fullUrl").and_then(Value::as_str) {
            names.insert(url.to_owned(), short.clone());
        }
        let resource = entry.get("resource");
        let rtype = resource.and_then(|r| r.get("resourceType")).and_then(Value::as_str);
        let id = resource.and_then(|r| r.get("id")).and_then(Value::as_str);
        if let (Some(t), Some(id)) = (rtype, id) {
            names.insert(format!("{t}/{id}"), short.clone());
        }
    }
    for (i, entry) in entries.iter_mut().enumerate() {
        let mut kept = Map::new();
        kept.insert("fullUrl".into(), format!("resource:{i}").into());
        if let Some(mut resource) = entry.get("resource").cloned() {
            if let Some(r) = resource.as_object_mut() {
                strip_resource_level(r);
                r.remove("text");
            }
            rewrite(&mut resource, &names, false);
            kept.insert("resource".into(), resource);
        }
        *entry = Value::Object(kept);
    }
    out
}

fn strip_resource_level(r: &mut Map<String, Value>) {
    r.remove("id");
    let security = r.get("meta").and_then(|m| m.get("security")).cloned();
    r.remove("meta");
    if let Some(security) = security {
        let mut meta = Map::new();
        meta.insert("security".into(), security);
        r.insert("meta".into(), Value::Object(meta));
    }
}

/// Applies the element rules below a resource; `in_coding` is true for the members of a
/// `coding` array.
fn rewrite(v: &mut Value, names: &BTreeMap<String, String>, in_coding: bool) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite(i, names, in_coding)),
        Value::Object(obj) => {
            if in_coding {
                obj.remove("display");
            }
            if obj.get("coding").is_some_and(Value::is_array) {
                obj.remove("text");
            }
            if let Some(Value::String(reference)) = obj.get_mut("reference")
                && let Some(short) = names.get(reference.as_str())
            {
                *reference = short.clone();
            }
            for (name, child) in obj.iter_mut() {
                rewrite(child, names, name == "coding");
            }
        }
        _ => {}
    }
}
