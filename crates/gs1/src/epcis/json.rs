//! The JSON-LD binding (EPCIS 2.0 §10) read into the same generic [`Element`]s as the XML
//! binding, so that one builder serves both.
//!
//! The JSON form leaves out the XML form's item elements; they are put back here: the
//! strings of `epcList` become `epc` elements, the objects of `quantityList` become
//! `quantityElement`s, `bizTransactionList` items become `bizTransaction` elements whose
//! value is the `bizTransaction` key (the `type` key stays a child, as the XML attribute
//! does), likewise `source`/`destination`, `sensorElement` and `correctiveEventID`.
//! Other arrays become repeated elements. Keys `prefix:local` whose prefix the `@context`
//! declares become `{namespace}local`; string values `prefix:rest` with such a prefix are
//! expanded the same way.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{DocumentKind, Element, ElementName, SchemaVersion};
use super::normalise::format_double;
use super::{EpcisError, Limits, RawDocument};

type Prefixes = BTreeMap<String, String>;

/// JSON lists whose items the XML binding wraps in an element of this name.
fn item_name(list: &str) -> Option<&'static str> {
    Some(match list {
        "epcList" | "childEPCs" | "inputEPCList" | "outputEPCList" => "epc",
        "quantityList" | "childQuantityList" | "inputQuantityList" | "outputQuantityList" => "quantityElement",
        "bizTransactionList" => "bizTransaction",
        "sourceList" => "source",
        "destinationList" => "destination",
        "sensorElementList" => "sensorElement",
        "correctiveEventIDs" => "correctiveEventID",
        _ => return None,
    })
}

/// Checks nesting depth on the raw text before `serde_json` recurses into it.
fn check_depth(text: &str, limit: usize) -> Result<(), EpcisError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(EpcisError::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn read(text: &str, limits: &Limits) -> Result<RawDocument, EpcisError> {
    check_depth(text, limits.max_depth)?;
    let value: Value = serde_json::from_str(text).map_err(|e| EpcisError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut count = 0usize;
    let mut reader = Reader {
        limits,
        count: &mut count,
    };
    match &value {
        Value::Array(events) => {
            let prefixes = Prefixes::new();
            let events = reader.events(events.iter(), &prefixes)?;
            Ok(raw(DocumentKind::EventList, None, Vec::new(), events))
        }
        Value::Object(top) => {
            let mut prefixes = Prefixes::new();
            collect_prefixes(top.get("@context"), &mut prefixes);
            let kind = match top.get("type").and_then(Value::as_str) {
                Some("EPCISDocument") => DocumentKind::EpcisDocument,
                Some("EPCISQueryDocument") => DocumentKind::EpcisQueryDocument,
                Some(_) => {
                    let events = reader.events(std::iter::once(&value), &prefixes)?;
                    return Ok(raw(DocumentKind::EventList, None, Vec::new(), events));
                }
                None => return Err(EpcisError::NotEpcis("top-level object has no type".into())),
            };
            let creation_date = top.get("creationDate").and_then(Value::as_str).map(str::to_owned);
            let body = top
                .get("epcisBody")
                .ok_or_else(|| EpcisError::NotEpcis("no epcisBody".into()))?;
            let events: Vec<&Value> = if let Some(list) = body.get("eventList") {
                list.as_array()
                    .ok_or_else(|| EpcisError::NotEpcis("eventList is not an array".into()))?
                    .iter()
                    .collect()
            } else if let Some(results) = body.get("queryResults") {
                results
                    .get("resultsBody")
                    .and_then(|b| b.get("eventList"))
                    .and_then(Value::as_array)
                    .ok_or_else(|| EpcisError::NotEpcis("no queryResults.resultsBody.eventList".into()))?
                    .iter()
                    .collect()
            } else if let Some(event) = body.get("event") {
                vec![event]
            } else {
                return Err(EpcisError::NotEpcis("epcisBody has no eventList".into()));
            };
            if events.len() > limits.max_events {
                return Err(EpcisError::TooManyEvents {
                    limit: limits.max_events,
                });
            }
            let events = reader.events(events.into_iter(), &prefixes)?;
            let mut extensions = reader.extensions(top, &prefixes)?;
            if let Some(Value::Object(results)) = body.get("queryResults") {
                extensions.extend(reader.extensions(results, &prefixes)?);
            }
            Ok(raw(kind, creation_date, extensions, events))
        }
        _ => Err(EpcisError::NotEpcis(
            "top level is neither an object nor an array".into(),
        )),
    }
}

fn raw(
    kind: DocumentKind,
    creation_date: Option<String>,
    extensions: Vec<Element>,
    events: Vec<Element>,
) -> RawDocument {
    RawDocument {
        kind,
        schema_version: SchemaVersion::V2,
        creation_date,
        extensions,
        events,
    }
}

/// Namespace prefixes declared by the objects of a `@context` (strings name remote
/// contexts, which are not fetched; the standard EPCIS context declares no extension
/// namespaces).
fn collect_prefixes(context: Option<&Value>, into: &mut Prefixes) {
    let mut add = |object: &serde_json::Map<String, Value>| {
        for (prefix, iri) in object {
            if let Some(iri) = iri.as_str()
                && !prefix.starts_with('@')
            {
                into.insert(prefix.clone(), iri.to_owned());
            }
        }
    };
    match context {
        Some(Value::Object(o)) => add(o),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(o) = item {
                    add(o);
                }
            }
        }
        _ => {}
    }
}

struct Reader<'a> {
    limits: &'a Limits,
    count: &'a mut usize,
}

fn is_comment(key: &str) -> bool {
    matches!(key, "rdfs:comment" | "comment" | "@context")
}

impl Reader<'_> {
    fn events<'v>(
        &mut self,
        events: impl Iterator<Item = &'v Value>,
        prefixes: &Prefixes,
    ) -> Result<Vec<Element>, EpcisError> {
        let mut out = Vec::new();
        for (index, event) in events.enumerate() {
            let Value::Object(fields) = event else {
                return Err(EpcisError::InvalidField {
                    index,
                    field: "event".into(),
                    problem: "an event must be a JSON object".into(),
                });
            };
            let mut local = prefixes.clone();
            collect_prefixes(fields.get("@context"), &mut local);
            let name = match fields.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(_) => {
                    return Err(EpcisError::InvalidField {
                        index,
                        field: "type".into(),
                        problem: "not a string".into(),
                    });
                }
                None => {
                    return Err(EpcisError::MissingField {
                        index,
                        field: "type".into(),
                    });
                }
            };
            let mut element = Element {
                name: ElementName::standard(&name),
                value: String::new(),
                children: Vec::new(),
            };
            for (key, value) in fields {
                if key == "type" || is_comment(key) {
                    continue;
                }
                self.push(&mut element.children, key, value, &local, index)?;
            }
            out.push(element);
        }
        Ok(out)
    }

    /// The keys of `object` in a declared namespace, as elements (document-level
    /// extensions; no event index applies, errors name event 0).
    fn extensions(
        &mut self,
        object: &serde_json::Map<String, Value>,
        prefixes: &Prefixes,
    ) -> Result<Vec<Element>, EpcisError> {
        let mut out = Vec::new();
        for (key, value) in object {
            if element_name(key, prefixes).namespace.is_some() {
                self.push(&mut out, key, value, prefixes, 0)?;
            }
        }
        Ok(out)
    }

    fn tick(&mut self) -> Result<(), EpcisError> {
        *self.count += 1;
        if *self.count > self.limits.max_elements {
            return Err(EpcisError::TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        Ok(())
    }

    /// Appends the element(s) for `key: value` to `into`.
    fn push(
        &mut self,
        into: &mut Vec<Element>,
        key: &str,
        value: &Value,
        prefixes: &Prefixes,
        index: usize,
    ) -> Result<(), EpcisError> {
        let name = element_name(key, prefixes);
        match value {
            Value::Array(items) => {
                if let Some(item) = item_name(key).filter(|_| name.namespace.is_none()) {
                    self.tick()?;
                    let mut list = Element {
                        name,
                        value: String::new(),
                        children: Vec::with_capacity(items.len()),
                    };
                    for v in items {
                        let element = self.item(item, v, prefixes, index)?;
                        list.children.push(element);
                    }
                    into.push(list);
                } else {
                    for v in items {
                        self.push(into, key, v, prefixes, index)?;
                    }
                }
            }
            _ => {
                let element = self.element(name, value, prefixes, index)?;
                into.push(element);
            }
        }
        Ok(())
    }

    /// An item of a list the XML binding wraps: `bizTransaction`, `source` and
    /// `destination` objects take their value from the key of their own name.
    fn item(
        &mut self,
        item: &'static str,
        value: &Value,
        prefixes: &Prefixes,
        index: usize,
    ) -> Result<Element, EpcisError> {
        let mut element = self.element(ElementName::standard(item), value, prefixes, index)?;
        if matches!(item, "bizTransaction" | "source" | "destination")
            && let Some(pos) = element.children.iter().position(|c| c.name.is(item))
        {
            let own = element.children.remove(pos);
            element.value = own.value;
        }
        Ok(element)
    }

    fn element(
        &mut self,
        name: ElementName,
        value: &Value,
        prefixes: &Prefixes,
        index: usize,
    ) -> Result<Element, EpcisError> {
        self.tick()?;
        let mut element = Element {
            name,
            value: String::new(),
            children: Vec::new(),
        };
        match value {
            Value::Object(fields) => {
                for (key, v) in fields {
                    if is_comment(key) {
                        continue;
                    }
                    self.push(&mut element.children, key, v, prefixes, index)?;
                }
            }
            Value::String(s) => element.value = expand_curie(s.trim(), prefixes),
            Value::Number(n) => element.value = number_text(n),
            Value::Bool(b) => element.value = b.to_string(),
            Value::Null => {
                return Err(EpcisError::InvalidField {
                    index,
                    field: element.name.to_string(),
                    problem: "null is not an EPCIS value".into(),
                });
            }
            Value::Array(_) => {
                return Err(EpcisError::InvalidField {
                    index,
                    field: element.name.to_string(),
                    problem: "nested array".into(),
                });
            }
        }
        Ok(element)
    }
}

fn element_name(key: &str, prefixes: &Prefixes) -> ElementName {
    if let Some((prefix, local)) = key.split_once(':')
        && let Some(ns) = prefixes.get(prefix)
    {
        return ElementName {
            namespace: Some(ns.clone()),
            local: local.to_owned(),
        };
    }
    ElementName::standard(key)
}

fn expand_curie(text: &str, prefixes: &Prefixes) -> String {
    if let Some((prefix, rest)) = text.split_once(':')
        && let Some(ns) = prefixes.get(prefix)
    {
        return format!("{ns}{rest}");
    }
    text.to_owned()
}

fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    n.as_f64().and_then(format_double).unwrap_or_else(|| n.to_string())
}
