//! The EPCIS 2.0 event model (EPCIS 2.0 §7.3 and §7.4): one [`Event`] struct for the five
//! event types, with the fields each type may carry checked by the parser.

use std::fmt;

use super::cbv::CbvValue;
use super::time::{TimeZoneOffset, Timestamp};

/// EPCIS 2.0 §7.4: the five event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// §7.4.2.
    ObjectEvent,
    /// §7.4.3.
    AggregationEvent,
    /// §7.4.5 (TransactionEvent).
    TransactionEvent,
    /// §7.4.6.
    TransformationEvent,
    /// §7.4.7 (new in 2.0).
    AssociationEvent,
}

impl EventType {
    /// The element / `type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ObjectEvent => "ObjectEvent",
            EventType::AggregationEvent => "AggregationEvent",
            EventType::TransactionEvent => "TransactionEvent",
            EventType::TransformationEvent => "TransformationEvent",
            EventType::AssociationEvent => "AssociationEvent",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<EventType> {
        Some(match name {
            "ObjectEvent" => EventType::ObjectEvent,
            "AggregationEvent" => EventType::AggregationEvent,
            "TransactionEvent" => EventType::TransactionEvent,
            "TransformationEvent" => EventType::TransformationEvent,
            "AssociationEvent" => EventType::AssociationEvent,
            _ => return None,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// EPCIS 2.0 §7.3.2: `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `ADD`.
    Add,
    /// `OBSERVE`.
    Observe,
    /// `DELETE`.
    Delete,
}

impl Action {
    /// `ADD`, `OBSERVE` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "ADD",
            Action::Observe => "OBSERVE",
            Action::Delete => "DELETE",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Action> {
        match text {
            "ADD" => Some(Action::Add),
            "OBSERVE" => Some(Action::Observe),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// An EPC or other identifier URI as written (EPC URN, GS1 Digital Link, or any URI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epc(pub String);

impl Epc {
    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event ID (EPCIS 2.0 §7.3.1 `eventID`): a URI, often a UUID URN or a hash ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(pub String);

/// The name of an element: `{namespace}local` for an extension, `local` alone for a standard
/// EPCIS field (or a JSON key whose prefix the document did not declare).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementName {
    /// The namespace URI, for extension elements.
    pub namespace: Option<String>,
    /// The local name.
    pub local: String,
}

impl ElementName {
    pub(crate) fn standard(local: &str) -> ElementName {
        ElementName {
            namespace: None,
            local: local.to_owned(),
        }
    }

    /// Whether this is the un-namespaced name `local`.
    pub fn is(&self, local: &str) -> bool {
        self.namespace.is_none() && self.local == local
    }
}

impl fmt::Display for ElementName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// A generic element: a user extension, an ILMD element, or part of one. XML attributes
/// are kept as child elements, as the JSON-LD binding writes them as keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    /// Its name.
    pub name: ElementName,
    /// Its text, trimmed; empty for a pure container.
    pub value: String,
    /// Children (and attributes).
    pub children: Vec<Element>,
}

/// EPCIS 2.0 §7.3.3.3: a quantity element of a quantity list.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityElement {
    /// `epcClass`: an EPC class URI or Digital Link.
    pub epc_class: Epc,
    /// `quantity`.
    pub quantity: Option<f64>,
    /// `uom`: UN/CEFACT Rec. 20 code.
    pub uom: Option<String>,
}

/// EPCIS 2.0 §7.3.5: `readPoint` / `bizLocation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `id`.
    pub id: String,
    /// Extension elements inside the location.
    pub extensions: Vec<Element>,
}

/// EPCIS 2.0 §7.3.6.2: a business transaction reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BizTransaction {
    /// `type` (optional).
    pub kind: Option<CbvValue>,
    /// The transaction identifier.
    pub value: String,
}

/// EPCIS 2.0 §7.3.6.3: a source or destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDest {
    /// `type`, e.g. `owning_party`.
    pub kind: CbvValue,
    /// The party or location identifier.
    pub value: String,
}

/// EPCIS 2.0 §7.3.9: `persistentDisposition`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistentDisposition {
    /// Dispositions set by this event.
    pub set: Vec<CbvValue>,
    /// Dispositions unset by this event.
    pub unset: Vec<CbvValue>,
}

/// EPCIS 2.0 §7.3.1 / §7.4.1.2: `errorDeclaration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDeclaration {
    /// `declarationTime`.
    pub declaration_time: Timestamp,
    /// `reason` (CBV 2.0 §7.6).
    pub reason: Option<CbvValue>,
    /// `correctiveEventIDs`.
    pub corrective_event_ids: Vec<EventId>,
    /// Extension elements.
    pub extensions: Vec<Element>,
}

/// A field of `sensorMetadata` or `sensorReport` (EPCIS 2.0 §7.3.8), typed by what it holds.
#[derive(Debug, Clone, PartialEq)]
pub enum SensorValue {
    /// A time (`time`, `startTime`, `endTime`).
    Time(Timestamp),
    /// A number (`value`, `minValue`, `maxValue`, `meanValue`, `sDev`, `percRank`,
    /// `percValue`).
    Number(f64),
    /// `booleanValue`.
    Boolean(bool),
    /// Anything else: URIs, codes, strings.
    Text(String),
}

/// `sensorMetadata` or one `sensorReport`: the standard attributes in canonical order,
/// then extension attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorFields {
    /// Standard attributes: name and value.
    pub fields: Vec<(&'static str, SensorValue)>,
    /// Namespaced attributes.
    pub extensions: Vec<Element>,
    /// Un-namespaced attributes that EPCIS 2.0 does not define here (kept so that the hash
    /// covers them, as the reference implementation does).
    pub unknown: Vec<Element>,
}

impl SensorFields {
    /// The value of the standard attribute `name`.
    pub fn get(&self, name: &str) -> Option<&SensorValue> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// EPCIS 2.0 §7.3.8: one `sensorElement`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorElement {
    /// `sensorMetadata`.
    pub metadata: Option<SensorFields>,
    /// `sensorReport`s.
    pub reports: Vec<SensorFields>,
    /// Extension elements of the sensor element.
    pub extensions: Vec<Element>,
}

/// One EPCIS event (EPCIS 2.0 §7.4). Lists are empty when absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Which of the five types.
    pub event_type: EventType,
    /// `eventTime`.
    pub event_time: Timestamp,
    /// `eventTimeZoneOffset`.
    pub event_time_zone_offset: TimeZoneOffset,
    /// `recordTime` (not part of the hash).
    pub record_time: Option<Timestamp>,
    /// `eventID` (not part of the hash).
    pub event_id: Option<EventId>,
    /// `errorDeclaration` (not part of the hash).
    pub error_declaration: Option<ErrorDeclaration>,
    /// `certificationInfo`.
    pub certification_info: Vec<String>,
    /// `parentID` (Aggregation, Transaction, Association).
    pub parent_id: Option<Epc>,
    /// `epcList` (Object, Transaction).
    pub epc_list: Vec<Epc>,
    /// `childEPCs` (Aggregation, Association).
    pub child_epcs: Vec<Epc>,
    /// `inputEPCList` (Transformation).
    pub input_epc_list: Vec<Epc>,
    /// `outputEPCList` (Transformation).
    pub output_epc_list: Vec<Epc>,
    /// `quantityList` (Object, Transaction).
    pub quantity_list: Vec<QuantityElement>,
    /// `childQuantityList` (Aggregation, Association).
    pub child_quantity_list: Vec<QuantityElement>,
    /// `inputQuantityList` (Transformation).
    pub input_quantity_list: Vec<QuantityElement>,
    /// `outputQuantityList` (Transformation).
    pub output_quantity_list: Vec<QuantityElement>,
    /// `action` (all but Transformation).
    pub action: Option<Action>,
    /// `transformationID` (Transformation).
    pub transformation_id: Option<String>,
    /// `bizStep`.
    pub biz_step: Option<CbvValue>,
    /// `disposition`.
    pub disposition: Option<CbvValue>,
    /// `persistentDisposition`.
    pub persistent_disposition: Option<PersistentDisposition>,
    /// `readPoint`.
    pub read_point: Option<Location>,
    /// `bizLocation`.
    pub biz_location: Option<Location>,
    /// `bizTransactionList`.
    pub biz_transaction_list: Vec<BizTransaction>,
    /// `sourceList`.
    pub source_list: Vec<SourceDest>,
    /// `destinationList`.
    pub destination_list: Vec<SourceDest>,
    /// `sensorElementList`.
    pub sensor_element_list: Vec<SensorElement>,
    /// `ilmd` (Object with ADD, Transformation): its elements.
    pub ilmd: Vec<Element>,
    /// User extension elements at event level.
    pub extensions: Vec<Element>,
}

impl Event {
    /// The event type.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// `action`, absent for a TransformationEvent.
    pub fn action(&self) -> Option<Action> {
        self.action
    }

    /// `bizStep`.
    pub fn biz_step(&self) -> Option<&CbvValue> {
        self.biz_step.as_ref()
    }

    /// `disposition`.
    pub fn disposition(&self) -> Option<&CbvValue> {
        self.disposition.as_ref()
    }

    /// `parentID`.
    pub fn parent_id(&self) -> Option<&Epc> {
        self.parent_id.as_ref()
    }

    /// Every instance-level EPC the event names: `parentID`, `epcList`, `childEPCs`,
    /// `inputEPCList`, `outputEPCList`, in that order.
    pub fn epcs(&self) -> impl Iterator<Item = &Epc> {
        self.parent_id
            .iter()
            .chain(&self.epc_list)
            .chain(&self.child_epcs)
            .chain(&self.input_epc_list)
            .chain(&self.output_epc_list)
    }

    /// Every class-level identifier of the quantity lists.
    pub fn epc_classes(&self) -> impl Iterator<Item = &Epc> {
        self.quantity_list
            .iter()
            .chain(&self.child_quantity_list)
            .chain(&self.input_quantity_list)
            .chain(&self.output_quantity_list)
            .map(|q| &q.epc_class)
    }

    /// `bizTransactionList`.
    pub fn biz_transactions(&self) -> &[BizTransaction] {
        &self.biz_transaction_list
    }

    /// `sourceList`.
    pub fn sources(&self) -> &[SourceDest] {
        &self.source_list
    }

    /// `destinationList`.
    pub fn destinations(&self) -> &[SourceDest] {
        &self.destination_list
    }

    /// Sources of the standard type `word` (`owning_party`, `possessing_party`, `location`).
    pub fn sources_of_type<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.source_list
            .iter()
            .filter(move |s| s.kind.is(word))
            .map(|s| s.value.as_str())
    }

    /// Destinations of the standard type `word`.
    pub fn destinations_of_type<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.destination_list
            .iter()
            .filter(move |s| s.kind.is(word))
            .map(|s| s.value.as_str())
    }

    /// `errorDeclaration`'s `correctiveEventIDs` (empty without an error declaration).
    pub fn corrective_event_ids(&self) -> &[EventId] {
        self.error_declaration.as_ref().map_or(&[], |e| &e.corrective_event_ids)
    }

    /// Whether this event declares an earlier one erroneous (EPCIS 2.0 §7.4.1.2).
    pub fn is_error_declaration(&self) -> bool {
        self.error_declaration.is_some()
    }

    pub(crate) fn empty(event_type: EventType, event_time: Timestamp, offset: TimeZoneOffset) -> Event {
        Event {
            event_type,
            event_time,
            event_time_zone_offset: offset,
            record_time: None,
            event_id: None,
            error_declaration: None,
            certification_info: Vec::new(),
            parent_id: None,
            epc_list: Vec::new(),
            child_epcs: Vec::new(),
            input_epc_list: Vec::new(),
            output_epc_list: Vec::new(),
            quantity_list: Vec::new(),
            child_quantity_list: Vec::new(),
            input_quantity_list: Vec::new(),
            output_quantity_list: Vec::new(),
            action: None,
            transformation_id: None,
            biz_step: None,
            disposition: None,
            persistent_disposition: None,
            read_point: None,
            biz_location: None,
            biz_transaction_list: Vec::new(),
            source_list: Vec::new(),
            destination_list: Vec::new(),
            sensor_element_list: Vec::new(),
            ilmd: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

/// Which wrapper the events came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// `EPCISDocument` (EPCIS 2.0 §9.1 / §9.3).
    EpcisDocument,
    /// `EPCISQueryDocument` (a query result).
    EpcisQueryDocument,
    /// A bare list of events (or a single event).
    EventList,
}

/// EPCIS schema version of an XML document, by its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaVersion {
    /// `urn:epcglobal:epcis:xsd:1` (EPCIS 1.x), converted to the 2.0 model.
    V1,
    /// `urn:epcglobal:epcis:xsd:2`, or JSON-LD.
    V2,
}

/// A parsed EPCIS document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The wrapper.
    pub kind: DocumentKind,
    /// The binding's schema generation.
    pub schema_version: SchemaVersion,
    /// `creationDate`, as written.
    pub creation_date: Option<String>,
    /// Namespaced elements of the document header and of the query results (not events).
    pub extensions: Vec<Element>,
    /// The events, in document order.
    pub events: Vec<Event>,
}
