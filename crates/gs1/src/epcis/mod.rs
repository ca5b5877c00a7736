//! EPCIS 2.0 documents and the CBV 2.0 event hash ID.
//!
//! # What is read
//!
//! [`parse_document`] reads an `EPCISDocument` or `EPCISQueryDocument`, or a bare event list,
//! in either binding of EPCIS 2.0 (GS1 EPCIS 2.0, June 2022):
//!
//! * **JSON-LD** (§10): events under `epcisBody.eventList`,
//!   `epcisBody.queryResults.resultsBody.eventList` or `epcisBody.event`; a bare JSON array
//!   of events, or a single event object. Namespace prefixes of user extensions come from
//!   the document's `@context` objects (`"example": "https://ns.example.com/epcis/"` makes
//!   `example:myField` the element `{https://ns.example.com/epcis/}myField`), and a value
//!   written as a CURIE with such a prefix is expanded. `rdfs:comment` is a comment and is
//!   dropped.
//! * **XML** (§9): the 2.0 schema (`urn:epcglobal:epcis:xsd:2`) and the 1.2 schema
//!   (`urn:epcglobal:epcis:xsd:1`). 1.2 wraps the fields it added after 1.0 in `extension` /
//!   `baseExtension` elements (and `TransformationEvent` in an `extension` of `EventList`);
//!   those wrappers are dissolved, which yields the 2.0 model. CBV 1.x URNs
//!   (`urn:epcglobal:cbv:bizstep:shipping`) and 2.0 Web URIs or `cbv:` CURIEs read into the
//!   same [`CbvValue`]. Value CURIEs with the prefixes `gs1:` and `cbv:` are expanded (as the
//!   reference implementation does; other prefixes stay as written).
//!
//! The five event types of §7.4 share one [`Event`]; a field that the event's type does not
//! have (§7.4.2–§7.4.7: `ilmd` only on Object and Transformation events, `action` on all but
//! Transformation events, …) is an error, as is any un-namespaced field EPCIS does not define.
//! Namespaced elements are user extensions (§6.4) and are kept as generic [`Element`]s.
//!
//! Input is hostile: [`Limits`] bound the size (16 MiB), the nesting depth, the number of
//! elements and the number of events; XML with a document type declaration is refused (no
//! entity can be declared, so none is expanded: no "billion laughs"), and only the five
//! predefined entities and character references are read. Every error names the event (its
//! index in document order) and the field.
//!
//! # Event hash ID
//!
//! [`Event::hash_id`] implements the EPCIS event hash ID of CBV 2.0 §8.9: a pre-hash string
//! ([`Event::pre_hash_string`]) hashed with SHA-256 and written
//! `ni:///sha-256;<hex>?ver=CBV2.0` (RFC 6920). See [`hash`] for the rules and the canonical
//! order. The JSON-LD and XML forms of one event give the same ID. Conformance is checked
//! against the test vectors of the reference implementation
//! (github.com/RalphTro/epcis-event-hash-generator), under `tests/data/epcis/`.
//!
//! # Vocabularies
//!
//! [`validate_cbv`] refuses CBV-namespace values that are not CBV 2.0 terms ([`cbv`]).

mod build;
pub mod cbv;
pub mod hash;
mod json;
mod model;
mod normalise;
mod time;
mod xml;

pub use cbv::{CbvValue, Vocabulary, validate_cbv};

/// GS1's EPCIS 2.0 JSON Schema (draft-07), as published with the standard; provenance in
/// `crates/gs1/schema/README.md`. Only the text: a caller compiles it with its own schema
/// engine.
pub const JSON_SCHEMA: &str = include_str!("../../schema/EPCIS-JSON-Schema.json");
pub use hash::EventHashId;
pub use model::{
    Action, BizTransaction, Document, DocumentKind, Element, ElementName, Epc, ErrorDeclaration, Event, EventId,
    EventType, Location, PersistentDisposition, QuantityElement, SchemaVersion, SensorElement, SensorFields,
    SensorValue, SourceDest,
};
pub use time::{TimeZoneOffset, Timestamp};

/// Everything that can go wrong reading or checking EPCIS data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcisError {
    /// The input is larger than [`Limits::max_bytes`].
    #[error("input is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Elements or JSON values nest deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More elements than [`Limits::max_elements`].
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// More events than [`Limits::max_events`].
    #[error("more than {limit} events")]
    TooManyEvents {
        /// The limit.
        limit: usize,
    },
    /// The input is not UTF-8.
    #[error("input is not UTF-8")]
    NotUtf8,
    /// JSON syntax error.
    #[error("JSON syntax error at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// XML syntax error.
    #[error("XML syntax error at byte {position}: {message}")]
    Xml {
        /// Byte offset.
        position: u64,
        /// What the XML parser said.
        message: String,
    },
    /// An XML document type declaration (refused: it could declare entities).
    #[error("XML document type declarations are refused (no entity is expanded)")]
    XmlDoctype,
    /// An XML entity reference other than the five predefined ones.
    #[error("unknown XML entity &{0};")]
    XmlEntity(String),
    /// An XML namespace prefix that is not declared.
    #[error("undeclared XML namespace prefix {0}")]
    XmlPrefix(String),
    /// The input parsed but is not an EPCIS document or event list.
    #[error("not an EPCIS document: {0}")]
    NotEpcis(String),
    /// An event of a type EPCIS 2.0 does not define.
    #[error("event {index}: unknown event type {name}")]
    UnknownEventType {
        /// Event index in document order.
        index: usize,
        /// The name found.
        name: String,
    },
    /// A required field is missing.
    #[error("event {index}: missing {field}")]
    MissingField {
        /// Event index.
        index: usize,
        /// Field path.
        field: String,
    },
    /// An un-namespaced field EPCIS does not define at this place.
    #[error("event {index}: unknown field {field}")]
    UnknownField {
        /// Event index.
        index: usize,
        /// Field path.
        field: String,
    },
    /// A field the event type does not have (EPCIS 2.0 §7.4).
    #[error("event {index}: {event_type} has no field {field}")]
    FieldNotAllowed {
        /// Event index.
        index: usize,
        /// The event type.
        event_type: EventType,
        /// The field.
        field: String,
    },
    /// A single-valued field given twice.
    #[error("event {index}: {field} given more than once")]
    DuplicateField {
        /// Event index.
        index: usize,
        /// Field path.
        field: String,
    },
    /// A timestamp that is not an `xsd:dateTimeStamp`.
    #[error("event {index}: {field}: bad timestamp {value:?}: {problem}")]
    BadTimestamp {
        /// Event index.
        index: usize,
        /// Field path.
        field: String,
        /// The text.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Any other bad value.
    #[error("event {index}: {field}: {problem}")]
    InvalidField {
        /// Event index.
        index: usize,
        /// Field path.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A CBV-namespace value that is not a CBV 2.0 term ([`validate_cbv`]).
    #[error("{field}: {term:?} is not a CBV 2.0 term")]
    UnknownCbvTerm {
        /// The field.
        field: &'static str,
        /// The bare word.
        term: String,
    },
}

/// Bounds on what a parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Input size in bytes.
    pub max_bytes: usize,
    /// Nesting depth of elements (XML) or values (JSON).
    pub max_depth: usize,
    /// Elements (XML elements and attributes, JSON values).
    pub max_elements: usize,
    /// Events.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 20,
            max_depth: 32,
            max_elements: 1 << 20,
            max_events: 100_000,
        }
    }
}

/// The binding a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON / JSON-LD (EPCIS 2.0 §10).
    JsonLd,
    /// XML (EPCIS 2.0 §9; EPCIS 1.2).
    Xml,
}

impl Format {
    /// Guesses the format from the first significant byte: `{` or `[` is JSON, `<` is XML.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => Some(Format::JsonLd),
            Some(b'<') => Some(Format::Xml),
            _ => None,
        }
    }
}

/// Parses a document with the default [`Limits`].
pub fn parse_document(bytes: &[u8], format: Format) -> Result<Document, EpcisError> {
    parse_document_with(bytes, format, &Limits::default())
}

/// Parses a document within `limits`.
pub fn parse_document_with(bytes: &[u8], format: Format, limits: &Limits) -> Result<Document, EpcisError> {
    if bytes.len() > limits.max_bytes {
        return Err(EpcisError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| EpcisError::NotUtf8)?;
    let raw = match format {
        Format::JsonLd => json::read(text, limits)?,
        Format::Xml => xml::read(text, limits)?,
    };
    if raw.events.len() > limits.max_events {
        return Err(EpcisError::TooManyEvents {
            limit: limits.max_events,
        });
    }
    let events = raw
        .events
        .iter()
        .enumerate()
        .map(|(index, element)| build::event(index, element))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Document {
        kind: raw.kind,
        schema_version: raw.schema_version,
        creation_date: raw.creation_date,
        extensions: raw.extensions,
        events,
    })
}

/// Parses a document and returns its events.
pub fn parse_events(bytes: &[u8], format: Format) -> Result<Vec<Event>, EpcisError> {
    parse_document(bytes, format).map(|d| d.events)
}

/// What the two readers hand the event builder: events as generic elements.
pub(crate) struct RawDocument {
    pub(crate) kind: DocumentKind,
    pub(crate) schema_version: SchemaVersion,
    pub(crate) creation_date: Option<String>,
    pub(crate) extensions: Vec<Element>,
    pub(crate) events: Vec<Element>,
}
