//! Fitting a Bundle from elsewhere (Synthea, an EHR export) to what this server holds.
//!
//! Real Bundles carry resource types medledger does not store (Claim,
//! ExplanationOfBenefit, CareTeam, CarePlan, Location, Medication, Device, ...). A
//! transaction with any of them fails as a whole, so a loader that wants the rest asks
//! for [`prune_unsupported`]: entries of unsupported types are dropped, and every
//! Reference to them (by `fullUrl`, `Type/id` or `Type?query`) keeps only its `display`
//! (one is added when missing), which is valid FHIR and no longer dangles.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::SUPPORTED_TYPES;
use crate::reference::{RefKind, classify};

/// What pruning dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Dropped entries by resource type.
    pub dropped: BTreeMap<String, usize>,
    /// References cut down to their `display`.
    pub references_cut: usize,
    /// Entries left.
    pub kept: usize,
}

/// Why a value cannot be pruned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PruneError {
    #[error("not a Bundle")]
    NotABundle,
    #[error("Bundle.entry[{0}] has no resource with a resourceType")]
    NoResource(usize),
}

fn supported(t: &str) -> bool {
    SUPPORTED_TYPES.contains(&t)
}

/// Drops the entries of unsupported types from `bundle` and cuts references to them.
pub fn prune_unsupported(bundle: &mut Value) -> Result<Pruned, PruneError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(PruneError::NotABundle);
    }
    let mut out = Pruned::default();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return Ok(out);
    };
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        let t = e
            .get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
            .ok_or(PruneError::NoResource(i))?;
        if !supported(t) {
            *out.dropped.entry(t.to_string()).or_default() += 1;
            if let Some(url) = e.get("fullUrl").and_then(Value::as_str) {
                gone.insert(url.to_string());
            }
        }
    }
    entries.retain(|e| {
        e.get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
            .is_some_and(supported)
    });
    out.kept = entries.len();
    for e in entries.iter_mut() {
        if let Some(r) = e.get_mut("resource") {
            out.references_cut += cut_references(r, &gone);
        }
    }
    Ok(out)
}

/// The type a reference points at, when it names one this server does not hold.
fn unsupported_target(reference: &str, gone: &BTreeSet<String>) -> Option<String> {
    if gone.contains(reference) {
        return Some("resource".into());
    }
    match classify(reference) {
        Ok(RefKind::Local { resource_type, .. } | RefKind::Conditional { resource_type, .. })
            if !supported(resource_type) =>
        {
            Some(resource_type.to_string())
        }
        _ => None,
    }
}

/// Walks `v` (iteratively: no depth exhausts the stack) and turns every Reference to an
/// unsupported target into a display-only Reference. Returns how many.
fn cut_references(v: &mut Value, gone: &BTreeSet<String>) -> usize {
    let mut cut = 0;
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                let target = o
                    .get("reference")
                    .and_then(Value::as_str)
                    .and_then(|r| unsupported_target(r, gone));
                if let Some(t) = target {
                    o.remove("reference");
                    o.remove("type");
                    if !o.contains_key("display") {
                        o.insert("display".into(), json!(format!("{t} not held by medledger")));
                    }
                    cut += 1;
                }
                stack.extend(o.values_mut());
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
    cut
}

#[cfg(test)]
mod tests;
