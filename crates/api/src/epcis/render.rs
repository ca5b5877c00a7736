//! An event in EPCIS 2.0 JSON-LD (§10), whatever binding it was captured in, so that a
//! query answers one `EPCISQueryDocument` for events captured as JSON-LD, 2.0 XML or 1.2
//! XML.
//!
//! CBV words are written bare (the EPCIS 2.0 context expands them); user extensions and
//! ILMD elements are written `prefix:name`, with the prefixes declared in the event's own
//! `@context` (`cbvmda` for the CBV master-data namespace, `ext1`, `ext2`… for the others
//! in order of appearance), so that each event stands alone. An event without an `eventID`
//! gets its hash ID as one (the REST binding asks the server to fill it), which leaves the
//! hash ID unchanged.

use medledger_gs1::epcis::{CbvValue, Element, Event, Location, QuantityElement, SensorFields, SensorValue};
use serde_json::{Map, Value, json};

const CBVMDA: &str = "urn:epcglobal:cbv:mda:";

/// The `@context` of the documents the API writes.
pub fn context() -> Value {
    json!([
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"cbvmda": CBVMDA}
    ])
}

fn cbv(v: &CbvValue) -> Value {
    Value::String(v.word().map_or_else(|| v.to_uri(), str::to_owned))
}

/// Namespace → prefix, for one event.
type Prefixes = Vec<(String, String)>;

fn collect(list: &[Element], out: &mut Prefixes) {
    for e in list {
        if let Some(ns) = &e.name.namespace
            && !out.iter().any(|(n, _)| n == ns)
        {
            let prefix = if ns == CBVMDA {
                "cbvmda".to_owned()
            } else {
                format!("ext{}", out.iter().filter(|(n, _)| n != CBVMDA).count() + 1)
            };
            out.push((ns.clone(), prefix));
        }
        collect(&e.children, out);
    }
}

fn prefixes(e: &Event) -> Prefixes {
    let mut out = Prefixes::new();
    collect(&e.ilmd, &mut out);
    collect(&e.extensions, &mut out);
    for l in e.read_point.iter().chain(&e.biz_location) {
        collect(&l.extensions, &mut out);
    }
    if let Some(d) = &e.error_declaration {
        collect(&d.extensions, &mut out);
    }
    for s in &e.sensor_element_list {
        collect(&s.extensions, &mut out);
        for f in s.metadata.iter().chain(&s.reports) {
            collect(&f.extensions, &mut out);
            collect(&f.unknown, &mut out);
        }
    }
    out
}

fn key(e: &Element, p: &Prefixes) -> String {
    match &e.name.namespace {
        Some(ns) => match p.iter().find(|(n, _)| n == ns) {
            Some((_, prefix)) => format!("{prefix}:{}", e.name.local),
            None => format!("{ns}{}", e.name.local),
        },
        None => e.name.local.clone(),
    }
}

fn element_value(e: &Element, p: &Prefixes) -> Value {
    if e.children.is_empty() {
        return Value::String(e.value.clone());
    }
    Value::Object(elements(&e.children, p))
}

/// Elements as an object; repeated names become arrays.
fn elements(list: &[Element], p: &Prefixes) -> Map<String, Value> {
    let mut out = Map::new();
    for e in list {
        let k = key(e, p);
        let v = element_value(e, p);
        match out.get_mut(&k) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, v]);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

fn location(l: &Location, p: &Prefixes) -> Value {
    let mut m = elements(&l.extensions, p);
    m.insert("id".into(), Value::String(l.id.clone()));
    Value::Object(m)
}

fn quantities(list: &[QuantityElement]) -> Value {
    Value::Array(
        list.iter()
            .map(|q| {
                let mut m = Map::new();
                m.insert("epcClass".into(), Value::String(q.epc_class.0.clone()));
                if let Some(n) = q.quantity {
                    m.insert("quantity".into(), json!(n));
                }
                if let Some(u) = &q.uom {
                    m.insert("uom".into(), Value::String(u.clone()));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

fn sensor_fields(f: &SensorFields, p: &Prefixes) -> Value {
    let mut m = elements(&f.extensions, p);
    m.extend(elements(&f.unknown, p));
    for (name, v) in &f.fields {
        let v = match v {
            SensorValue::Time(t) => Value::String(t.to_string()),
            SensorValue::Number(n) => json!(n),
            SensorValue::Boolean(b) => Value::Bool(*b),
            SensorValue::Text(s) => Value::String(s.clone()),
        };
        m.insert((*name).to_owned(), v);
    }
    Value::Object(m)
}

fn strings<'a>(list: impl IntoIterator<Item = &'a String>) -> Value {
    Value::Array(list.into_iter().map(|s| Value::String(s.clone())).collect())
}

/// The event as an EPCIS 2.0 JSON-LD event object; `hash_id` fills a missing `eventID`.
pub fn event_json(e: &Event, hash_id: &str) -> Value {
    let p = &prefixes(e);
    let mut m = Map::new();
    if !p.is_empty() {
        let declared: Map<String, Value> = p
            .iter()
            .map(|(ns, prefix)| (prefix.clone(), Value::String(ns.clone())))
            .collect();
        m.insert("@context".into(), Value::Array(vec![Value::Object(declared)]));
    }
    m.insert("type".into(), Value::String(e.event_type.as_str().into()));
    m.insert("eventTime".into(), Value::String(e.event_time.to_string()));
    m.insert(
        "eventTimeZoneOffset".into(),
        Value::String(e.event_time_zone_offset.as_str().into()),
    );
    if let Some(t) = &e.record_time {
        m.insert("recordTime".into(), Value::String(t.to_string()));
    }
    let id = e.event_id.as_ref().map_or(hash_id, |i| i.0.as_str());
    m.insert("eventID".into(), Value::String(id.to_owned()));
    if let Some(d) = &e.error_declaration {
        let mut o = elements(&d.extensions, p);
        o.insert("declarationTime".into(), Value::String(d.declaration_time.to_string()));
        if let Some(r) = &d.reason {
            o.insert("reason".into(), cbv(r));
        }
        if !d.corrective_event_ids.is_empty() {
            o.insert(
                "correctiveEventIDs".into(),
                strings(d.corrective_event_ids.iter().map(|i| &i.0)),
            );
        }
        m.insert("errorDeclaration".into(), Value::Object(o));
    }
    if !e.certification_info.is_empty() {
        m.insert("certificationInfo".into(), strings(&e.certification_info));
    }
    if let Some(p) = &e.parent_id {
        m.insert("parentID".into(), Value::String(p.0.clone()));
    }
    for (name, list) in [
        ("epcList", &e.epc_list),
        ("childEPCs", &e.child_epcs),
        ("inputEPCList", &e.input_epc_list),
        ("outputEPCList", &e.output_epc_list),
    ] {
        if !list.is_empty() {
            m.insert(name.into(), strings(list.iter().map(|x| &x.0)));
        }
    }
    for (name, list) in [
        ("quantityList", &e.quantity_list),
        ("childQuantityList", &e.child_quantity_list),
        ("inputQuantityList", &e.input_quantity_list),
        ("outputQuantityList", &e.output_quantity_list),
    ] {
        if !list.is_empty() {
            m.insert(name.into(), quantities(list));
        }
    }
    if let Some(a) = e.action {
        m.insert("action".into(), Value::String(a.as_str().into()));
    }
    if let Some(t) = &e.transformation_id {
        m.insert("transformationID".into(), Value::String(t.clone()));
    }
    if let Some(b) = &e.biz_step {
        m.insert("bizStep".into(), cbv(b));
    }
    if let Some(d) = &e.disposition {
        m.insert("disposition".into(), cbv(d));
    }
    if let Some(p) = &e.persistent_disposition {
        let mut o = Map::new();
        if !p.set.is_empty() {
            o.insert("set".into(), Value::Array(p.set.iter().map(cbv).collect()));
        }
        if !p.unset.is_empty() {
            o.insert("unset".into(), Value::Array(p.unset.iter().map(cbv).collect()));
        }
        m.insert("persistentDisposition".into(), Value::Object(o));
    }
    if let Some(l) = &e.read_point {
        m.insert("readPoint".into(), location(l, p));
    }
    if let Some(l) = &e.biz_location {
        m.insert("bizLocation".into(), location(l, p));
    }
    if !e.biz_transaction_list.is_empty() {
        let list = e
            .biz_transaction_list
            .iter()
            .map(|b| {
                let mut o = Map::new();
                if let Some(k) = &b.kind {
                    o.insert("type".into(), cbv(k));
                }
                o.insert("bizTransaction".into(), Value::String(b.value.clone()));
                Value::Object(o)
            })
            .collect();
        m.insert("bizTransactionList".into(), Value::Array(list));
    }
    for (name, field, list) in [
        ("sourceList", "source", &e.source_list),
        ("destinationList", "destination", &e.destination_list),
    ] {
        if !list.is_empty() {
            let list = list
                .iter()
                .map(|s| json!({"type": cbv(&s.kind), field: s.value}))
                .collect();
            m.insert(name.into(), Value::Array(list));
        }
    }
    if !e.sensor_element_list.is_empty() {
        let list = e
            .sensor_element_list
            .iter()
            .map(|s| {
                let mut o = elements(&s.extensions, p);
                if let Some(md) = &s.metadata {
                    o.insert("sensorMetadata".into(), sensor_fields(md, p));
                }
                o.insert(
                    "sensorReport".into(),
                    Value::Array(s.reports.iter().map(|r| sensor_fields(r, p)).collect()),
                );
                Value::Object(o)
            })
            .collect();
        m.insert("sensorElementList".into(), Value::Array(list));
    }
    if !e.ilmd.is_empty() {
        m.insert("ilmd".into(), Value::Object(elements(&e.ilmd, p)));
    }
    for (k, v) in elements(&e.extensions, p) {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use medledger_gs1::epcis::{Format, parse_document};

    use super::*;

    /// The rendering of every event of the DSCSA documents reads back to the same hash ID.
    #[test]
    fn rendering_keeps_the_hash_id() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/tests/data");
        let mut seen = 0;
        for name in [
            "dscsa-1-manufacturer.jsonld",
            "dscsa-2-wholesaler.jsonld",
            "dscsa-3-pharmacy.jsonld",
        ] {
            let bytes = std::fs::read(dir.join(name)).expect("test document");
            let doc = parse_document(&bytes, Format::JsonLd).expect("parses");
            for e in &doc.events {
                let hash = e.hash_id();
                let doc2 = json!({"@context": context(), "type": "EPCISDocument", "schemaVersion": "2.0",
                    "creationDate": "2025-01-01T00:00:00Z", "epcisBody": {"eventList": [event_json(e, hash.as_str())]}});
                let back =
                    parse_document(&serde_json::to_vec(&doc2).expect("json"), Format::JsonLd).expect("reads back");
                assert_eq!(back.events[0].hash_id(), hash, "{name}");
                seen += 1;
            }
        }
        // Documents of the reference vectors with extensions, ILMD and sensors, in both
        // bindings.
        let mut failed = Vec::new();
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../gs1/tests/data/epcis/examples");
        for entry in std::fs::read_dir(&examples).expect("examples") {
            let path = entry.expect("entry").path();
            let format = match path.extension().and_then(|e| e.to_str()) {
                Some("xml") => Format::Xml,
                Some("jsonld" | "json") => Format::JsonLd,
                _ => continue,
            };
            let bytes = std::fs::read(&path).expect("example");
            let Ok(doc) = parse_document(&bytes, format) else {
                continue;
            };
            for e in &doc.events {
                let hash = e.hash_id();
                let doc2 = json!({"@context": context(), "type": "EPCISDocument", "schemaVersion": "2.0",
                    "creationDate": "2025-01-01T00:00:00Z", "epcisBody": {"eventList": [event_json(e, hash.as_str())]}});
                match parse_document(&serde_json::to_vec(&doc2).expect("json"), Format::JsonLd) {
                    Ok(back) => {
                        assert_eq!(back.events[0].hash_id(), hash, "{}: {doc2}", path.display());
                        seen += 1;
                    }
                    Err(err) => failed.push(format!("{}: {err}", path.display())),
                }
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
        assert!(seen >= 50, "{seen}");
    }
}
