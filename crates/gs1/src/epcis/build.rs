//! Builds an [`Event`] from the generic elements either reader produced, checking the
//! fields against EPCIS 2.0 §7.3 (types of values) and §7.4 (which event type has which
//! field).

use super::EpcisError;
use super::cbv::{CbvValue, Vocabulary};
use super::model::{
    Action, BizTransaction, Element, Epc, ErrorDeclaration, Event, EventId, EventType, Location, PersistentDisposition,
    QuantityElement, SensorElement, SensorFields, SensorValue, SourceDest,
};
use super::time::{TimeZoneOffset, Timestamp};

/// `sensorMetadata` attributes in canonical (hash) order, EPCIS 2.0 §7.3.8.
pub(crate) const SENSOR_METADATA_FIELDS: [&str; 8] = [
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
];

/// `sensorReport` attributes in canonical (hash) order, EPCIS 2.0 §7.3.8.
pub(crate) const SENSOR_REPORT_FIELDS: [&str; 23] = [
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
];

const SENSOR_TIME_FIELDS: [&str; 3] = ["time", "startTime", "endTime"];
const SENSOR_NUMBER_FIELDS: [&str; 7] = [
    "value",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
];

struct Ctx {
    index: usize,
}

impl Ctx {
    fn invalid(&self, field: &str, problem: impl Into<String>) -> EpcisError {
        EpcisError::InvalidField {
            index: self.index,
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    fn missing(&self, field: &str) -> EpcisError {
        EpcisError::MissingField {
            index: self.index,
            field: field.to_owned(),
        }
    }

    fn unknown(&self, field: String) -> EpcisError {
        EpcisError::UnknownField {
            index: self.index,
            field,
        }
    }

    fn duplicate(&self, field: &str) -> EpcisError {
        EpcisError::DuplicateField {
            index: self.index,
            field: field.to_owned(),
        }
    }

    fn time(&self, field: &str, text: &str) -> Result<Timestamp, EpcisError> {
        Timestamp::parse(text).map_err(|p| EpcisError::BadTimestamp {
            index: self.index,
            field: field.to_owned(),
            value: text.to_owned(),
            problem: p.describe(),
        })
    }

    fn number(&self, field: &str, text: &str) -> Result<f64, EpcisError> {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.invalid(field, format!("{text:?} is not a number"))),
        }
    }

    /// A leaf: no children allowed.
    fn leaf<'e>(&self, field: &str, e: &'e Element) -> Result<&'e str, EpcisError> {
        match e.children.first() {
            Some(c) => Err(self.unknown(format!("{field}.{}", c.name))),
            None => Ok(e.value.as_str()),
        }
    }
}

fn set_once<T>(ctx: &Ctx, slot: &mut Option<T>, field: &str, value: T) -> Result<(), EpcisError> {
    if slot.is_some() {
        return Err(ctx.duplicate(field));
    }
    *slot = Some(value);
    Ok(())
}

/// Whether `event_type` has `field` (EPCIS 2.0 §7.4.2–§7.4.7); fields common to all types
/// are not listed.
fn allowed(event_type: EventType, field: &str) -> bool {
    use EventType::*;
    match field {
        "epcList" | "quantityList" => matches!(event_type, ObjectEvent | TransactionEvent),
        "parentID" => matches!(event_type, AggregationEvent | TransactionEvent | AssociationEvent),
        "childEPCs" | "childQuantityList" => matches!(event_type, AggregationEvent | AssociationEvent),
        "inputEPCList" | "outputEPCList" | "inputQuantityList" | "outputQuantityList" | "transformationID" => {
            event_type == TransformationEvent
        }
        "action" => event_type != TransformationEvent,
        "ilmd" => matches!(event_type, ObjectEvent | TransformationEvent),
        _ => true,
    }
}

pub(crate) fn event(index: usize, element: &Element) -> Result<Event, EpcisError> {
    let ctx = Ctx { index };
    let event_type = match (&element.name.namespace, EventType::from_name(&element.name.local)) {
        (None, Some(t)) => t,
        _ => {
            return Err(EpcisError::UnknownEventType {
                index,
                name: element.name.to_string(),
            });
        }
    };
    let mut event_time = None;
    let mut offset = None;
    for c in &element.children {
        if c.name.is("eventTime") {
            set_once(
                &ctx,
                &mut event_time,
                "eventTime",
                ctx.time("eventTime", ctx.leaf("eventTime", c)?)?,
            )?;
        } else if c.name.is("eventTimeZoneOffset") {
            let text = ctx.leaf("eventTimeZoneOffset", c)?;
            let parsed = TimeZoneOffset::parse(text).map_err(|p| EpcisError::BadTimestamp {
                index,
                field: "eventTimeZoneOffset".into(),
                value: text.to_owned(),
                problem: p.describe(),
            })?;
            set_once(&ctx, &mut offset, "eventTimeZoneOffset", parsed)?;
        }
    }
    let event_time = event_time.ok_or_else(|| ctx.missing("eventTime"))?;
    let offset = offset.ok_or_else(|| ctx.missing("eventTimeZoneOffset"))?;
    let mut ev = Event::empty(event_type, event_time, offset);
    let mut seen_lists: Vec<&str> = Vec::new();

    for c in &element.children {
        if c.name.namespace.is_some() {
            ev.extensions.push(c.clone());
            continue;
        }
        let field = c.name.local.as_str();
        if !allowed(event_type, field) {
            return Err(EpcisError::FieldNotAllowed {
                index,
                event_type,
                field: field.to_owned(),
            });
        }
        let is_list = field.ends_with("List") || field == "childEPCs" || field == "ilmd";
        if is_list {
            if seen_lists.contains(&field) {
                return Err(ctx.duplicate(field));
            }
            seen_lists.push(field);
        }
        set_field(&ctx, &mut ev, field, c)?;
    }
    if event_type != EventType::TransformationEvent && ev.action.is_none() {
        return Err(ctx.missing("action"));
    }
    if event_type == EventType::AssociationEvent && ev.parent_id.is_none() {
        return Err(ctx.missing("parentID"));
    }
    Ok(ev)
}

/// Reads one standard event-level field into `ev`.
fn set_field(ctx: &Ctx, ev: &mut Event, field: &str, c: &Element) -> Result<(), EpcisError> {
    match field {
        "eventTime" | "eventTimeZoneOffset" => {}
        "recordTime" => {
            let t = ctx.time(field, ctx.leaf(field, c)?)?;
            set_once(ctx, &mut ev.record_time, field, t)?;
        }
        "eventID" => {
            let id = EventId(ctx.leaf(field, c)?.to_owned());
            set_once(ctx, &mut ev.event_id, field, id)?;
        }
        "errorDeclaration" => {
            let e = error_declaration(ctx, c)?;
            set_once(ctx, &mut ev.error_declaration, field, e)?;
        }
        "certificationInfo" => ev.certification_info.push(ctx.leaf(field, c)?.to_owned()),
        "parentID" => {
            let id = Epc(ctx.leaf(field, c)?.to_owned());
            set_once(ctx, &mut ev.parent_id, field, id)?;
        }
        "epcList" => ev.epc_list = epcs(ctx, field, c)?,
        "childEPCs" => ev.child_epcs = epcs(ctx, field, c)?,
        "inputEPCList" => ev.input_epc_list = epcs(ctx, field, c)?,
        "outputEPCList" => ev.output_epc_list = epcs(ctx, field, c)?,
        "quantityList" => ev.quantity_list = quantities(ctx, field, c)?,
        "childQuantityList" => ev.child_quantity_list = quantities(ctx, field, c)?,
        "inputQuantityList" => ev.input_quantity_list = quantities(ctx, field, c)?,
        "outputQuantityList" => ev.output_quantity_list = quantities(ctx, field, c)?,
        "action" => {
            let text = ctx.leaf(field, c)?;
            let action = Action::parse(text)
                .ok_or_else(|| ctx.invalid(field, format!("{text:?} is not ADD, OBSERVE or DELETE")))?;
            set_once(ctx, &mut ev.action, field, action)?;
        }
        "transformationID" => {
            let id = ctx.leaf(field, c)?.to_owned();
            set_once(ctx, &mut ev.transformation_id, field, id)?;
        }
        "bizStep" => {
            let v = cbv(ctx, field, c, Vocabulary::BizStep)?;
            set_once(ctx, &mut ev.biz_step, field, v)?;
        }
        "disposition" => {
            let v = cbv(ctx, field, c, Vocabulary::Disposition)?;
            set_once(ctx, &mut ev.disposition, field, v)?;
        }
        "persistentDisposition" => {
            let p = persistent_disposition(ctx, c)?;
            set_once(ctx, &mut ev.persistent_disposition, field, p)?;
        }
        "readPoint" => {
            let l = location(ctx, field, c)?;
            set_once(ctx, &mut ev.read_point, field, l)?;
        }
        "bizLocation" => {
            let l = location(ctx, field, c)?;
            set_once(ctx, &mut ev.biz_location, field, l)?;
        }
        "bizTransactionList" => ev.biz_transaction_list = biz_transactions(ctx, c)?,
        "sourceList" => ev.source_list = source_dests(ctx, field, "source", c)?,
        "destinationList" => ev.destination_list = source_dests(ctx, field, "destination", c)?,
        "sensorElementList" => ev.sensor_element_list = sensor_elements(ctx, c)?,
        "ilmd" => ev.ilmd = c.children.clone(),
        _ => return Err(ctx.unknown(field.to_owned())),
    }
    Ok(())
}

fn cbv(ctx: &Ctx, field: &str, e: &Element, vocabulary: Vocabulary) -> Result<CbvValue, EpcisError> {
    let text = ctx.leaf(field, e)?;
    if text.is_empty() {
        return Err(ctx.invalid(field, "empty"));
    }
    Ok(CbvValue::parse(vocabulary, text))
}

fn epcs(ctx: &Ctx, field: &str, list: &Element) -> Result<Vec<Epc>, EpcisError> {
    list.children
        .iter()
        .map(|c| {
            if !c.name.is("epc") {
                return Err(ctx.unknown(format!("{field}.{}", c.name)));
            }
            Ok(Epc(ctx.leaf(field, c)?.to_owned()))
        })
        .collect()
}

fn quantities(ctx: &Ctx, field: &str, list: &Element) -> Result<Vec<QuantityElement>, EpcisError> {
    let mut out = Vec::with_capacity(list.children.len());
    for (i, q) in list.children.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if !q.name.is("quantityElement") {
            return Err(ctx.unknown(format!("{field}.{}", q.name)));
        }
        let (mut class, mut quantity, mut uom) = (None, None, None);
        for c in &q.children {
            let sub = format!("{path}.{}", c.name);
            let text = ctx.leaf(&sub, c)?;
            match c.name.local.as_str() {
                _ if c.name.namespace.is_some() => return Err(ctx.unknown(sub)),
                "epcClass" => set_once(ctx, &mut class, &sub, Epc(text.to_owned()))?,
                "quantity" => set_once(ctx, &mut quantity, &sub, ctx.number(&sub, text)?)?,
                "uom" => set_once(ctx, &mut uom, &sub, text.to_owned())?,
                _ => return Err(ctx.unknown(sub)),
            }
        }
        let epc_class = class.ok_or_else(|| ctx.missing(&format!("{path}.epcClass")))?;
        out.push(QuantityElement {
            epc_class,
            quantity,
            uom,
        });
    }
    Ok(out)
}

fn location(ctx: &Ctx, field: &str, e: &Element) -> Result<Location, EpcisError> {
    let mut id = None;
    let mut extensions = Vec::new();
    for c in &e.children {
        if c.name.namespace.is_some() {
            extensions.push(c.clone());
        } else if c.name.is("id") {
            set_once(ctx, &mut id, &format!("{field}.id"), ctx.leaf(field, c)?.to_owned())?;
        } else {
            return Err(ctx.unknown(format!("{field}.{}", c.name)));
        }
    }
    let id = id.ok_or_else(|| ctx.missing(&format!("{field}.id")))?;
    Ok(Location { id, extensions })
}

fn persistent_disposition(ctx: &Ctx, e: &Element) -> Result<PersistentDisposition, EpcisError> {
    let mut p = PersistentDisposition::default();
    for c in &e.children {
        let field = format!("persistentDisposition.{}", c.name);
        let v = cbv(ctx, &field, c, Vocabulary::Disposition)?;
        match c.name.local.as_str() {
            _ if c.name.namespace.is_some() => return Err(ctx.unknown(field)),
            "set" => p.set.push(v),
            "unset" => p.unset.push(v),
            _ => return Err(ctx.unknown(field)),
        }
    }
    Ok(p)
}

fn biz_transactions(ctx: &Ctx, list: &Element) -> Result<Vec<BizTransaction>, EpcisError> {
    let mut out = Vec::new();
    for t in &list.children {
        if !t.name.is("bizTransaction") {
            return Err(ctx.unknown(format!("bizTransactionList.{}", t.name)));
        }
        let mut kind = None;
        for c in &t.children {
            if c.name.is("type") {
                let v = cbv(ctx, "bizTransaction.type", c, Vocabulary::BizTransactionType)?;
                set_once(ctx, &mut kind, "bizTransaction.type", v)?;
            } else {
                return Err(ctx.unknown(format!("bizTransaction.{}", c.name)));
            }
        }
        if t.value.is_empty() {
            return Err(ctx.invalid("bizTransaction", "empty"));
        }
        out.push(BizTransaction {
            kind,
            value: t.value.clone(),
        });
    }
    Ok(out)
}

fn source_dests(ctx: &Ctx, field: &str, item: &str, list: &Element) -> Result<Vec<SourceDest>, EpcisError> {
    let mut out = Vec::new();
    for s in &list.children {
        if !s.name.is(item) {
            return Err(ctx.unknown(format!("{field}.{}", s.name)));
        }
        let mut kind = None;
        for c in &s.children {
            if c.name.is("type") {
                let v = cbv(ctx, &format!("{item}.type"), c, Vocabulary::SourceDestinationType)?;
                set_once(ctx, &mut kind, &format!("{item}.type"), v)?;
            } else {
                return Err(ctx.unknown(format!("{item}.{}", c.name)));
            }
        }
        let kind = kind.ok_or_else(|| ctx.missing(&format!("{item}.type")))?;
        if s.value.is_empty() {
            return Err(ctx.invalid(item, "empty"));
        }
        out.push(SourceDest {
            kind,
            value: s.value.clone(),
        });
    }
    Ok(out)
}

fn error_declaration(ctx: &Ctx, e: &Element) -> Result<ErrorDeclaration, EpcisError> {
    let mut time = None;
    let mut reason = None;
    let mut corrective = Vec::new();
    let mut extensions = Vec::new();
    for c in &e.children {
        let field = format!("errorDeclaration.{}", c.name);
        match c.name.local.as_str() {
            _ if c.name.namespace.is_some() => extensions.push(c.clone()),
            "declarationTime" => {
                let t = ctx.time(&field, ctx.leaf(&field, c)?)?;
                set_once(ctx, &mut time, &field, t)?;
            }
            "reason" => {
                let v = cbv(ctx, &field, c, Vocabulary::ErrorReason)?;
                set_once(ctx, &mut reason, &field, v)?;
            }
            "correctiveEventIDs" => {
                for id in &c.children {
                    if !id.name.is("correctiveEventID") {
                        return Err(ctx.unknown(format!("{field}.{}", id.name)));
                    }
                    corrective.push(EventId(ctx.leaf(&field, id)?.to_owned()));
                }
            }
            _ => return Err(ctx.unknown(field)),
        }
    }
    let declaration_time = time.ok_or_else(|| ctx.missing("errorDeclaration.declarationTime"))?;
    Ok(ErrorDeclaration {
        declaration_time,
        reason,
        corrective_event_ids: corrective,
        extensions,
    })
}

fn sensor_elements(ctx: &Ctx, list: &Element) -> Result<Vec<SensorElement>, EpcisError> {
    let mut out = Vec::new();
    for (i, s) in list.children.iter().enumerate() {
        let path = format!("sensorElementList[{i}]");
        if !s.name.is("sensorElement") {
            return Err(ctx.unknown(format!("sensorElementList.{}", s.name)));
        }
        let mut element = SensorElement::default();
        for c in &s.children {
            match c.name.local.as_str() {
                _ if c.name.namespace.is_some() => element.extensions.push(c.clone()),
                "sensorMetadata" => {
                    let m = sensor_fields(ctx, &format!("{path}.sensorMetadata"), c, &SENSOR_METADATA_FIELDS)?;
                    set_once(ctx, &mut element.metadata, &format!("{path}.sensorMetadata"), m)?;
                }
                "sensorReport" => {
                    let r = sensor_fields(ctx, &format!("{path}.sensorReport"), c, &SENSOR_REPORT_FIELDS)?;
                    element.reports.push(r);
                }
                other => return Err(ctx.unknown(format!("{path}.{other}"))),
            }
        }
        out.push(element);
    }
    Ok(out)
}

fn sensor_fields(ctx: &Ctx, path: &str, e: &Element, known: &[&'static str]) -> Result<SensorFields, EpcisError> {
    let mut out = SensorFields::default();
    for c in &e.children {
        if c.name.namespace.is_some() {
            out.extensions.push(c.clone());
            continue;
        }
        let Some(&name) = known.iter().find(|k| c.name.is(k)) else {
            // Not an attribute EPCIS 2.0 defines here; kept for the hash, see `SensorFields`.
            out.unknown.push(c.clone());
            continue;
        };
        let field = format!("{path}.{name}");
        if out.get(name).is_some() {
            return Err(ctx.duplicate(&field));
        }
        let text = ctx.leaf(&field, c)?;
        let value = if SENSOR_TIME_FIELDS.contains(&name) {
            SensorValue::Time(ctx.time(&field, text)?)
        } else if SENSOR_NUMBER_FIELDS.contains(&name) {
            SensorValue::Number(ctx.number(&field, text)?)
        } else if name == "booleanValue" {
            SensorValue::Boolean(match text {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ctx.invalid(&field, format!("{text:?} is not a boolean"))),
            })
        } else {
            SensorValue::Text(sensor_text(name, text))
        };
        out.fields.push((name, value));
    }
    out.fields.sort_by_key(|(name, _)| known.iter().position(|k| k == name));
    Ok(out)
}

/// Expands the JSON-LD vocabulary terms of `type`, `exception` (GS1 Web vocabulary) and
/// `component` (CBV 2.0 §7.8) to URIs, as the EPCIS 2.0 JSON-LD context does.
fn sensor_text(name: &str, text: &str) -> String {
    let bare = !text.contains(':') && !text.is_empty();
    match name {
        "type" | "exception" if bare => format!("https://gs1.org/voc/{text}"),
        "component" if bare => format!("https://ref.gs1.org/cbv/Comp-{text}"),
        "type" | "exception" | "component" => {
            if let Some(rest) = text.strip_prefix("gs1:") {
                format!("https://gs1.org/voc/{rest}")
            } else if let Some(rest) = text.strip_prefix("cbv:") {
                format!("https://ref.gs1.org/cbv/{rest}")
            } else {
                text.to_owned()
            }
        }
        _ => text.to_owned(),
    }
}
