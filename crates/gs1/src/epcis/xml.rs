//! The XML binding (EPCIS 2.0 §9, and EPCIS 1.2) read into generic [`Element`]s.
//!
//! Elements in no namespace or in an EPCIS schema namespace are standard fields; any other
//! namespace marks a user extension. Attributes become child elements (the JSON-LD binding
//! writes them as keys). `extension` and `baseExtension` wrappers of EPCIS 1.x are dissolved
//! into their parent. A DTD is refused outright; of entity references only the five
//! predefined ones and character references are read.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::model::{DocumentKind, Element, ElementName, SchemaVersion};
use super::{EpcisError, Limits, RawDocument};

const EPCIS_V1: &str = "urn:epcglobal:epcis:xsd:1";
const EPCIS_V2: &str = "urn:epcglobal:epcis:xsd:2";
/// Namespaces whose elements are the standard's own (document, query and header schemas).
const STANDARD_NAMESPACES: [&str; 6] = [
    EPCIS_V1,
    EPCIS_V2,
    "urn:epcglobal:epcis-query:xsd:1",
    "urn:epcglobal:epcis-query:xsd:2",
    "urn:epcglobal:epcis-masterdata:xsd:1",
    "urn:epcglobal:epcis-masterdata:xsd:2",
];

/// Value CURIE prefixes expanded in the XML binding.
const VALUE_PREFIXES: [(&str, &str); 2] = [("gs1:", "https://gs1.org/voc/"), ("cbv:", "https://ref.gs1.org/cbv/")];

struct Open {
    element: Element,
    text: String,
}

fn xml_error(reader: &NsReader<&[u8]>, e: &quick_xml::Error) -> EpcisError {
    EpcisError::Xml {
        position: reader.error_position(),
        message: e.to_string(),
    }
}

pub(crate) fn read(text: &str, limits: &Limits) -> Result<RawDocument, EpcisError> {
    let (root, schema_version) = read_tree(text, limits)?;
    let creation_date = root
        .children
        .iter()
        .find(|c| c.name.is("creationDate"))
        .map(|c| c.value.clone());
    let kind = match root.name.local.as_str() {
        _ if root.name.namespace.is_some() => {
            return Err(EpcisError::NotEpcis(format!("root element {}", root.name)));
        }
        "EPCISDocument" => DocumentKind::EpcisDocument,
        "EPCISQueryDocument" => DocumentKind::EpcisQueryDocument,
        "EventList" => DocumentKind::EventList,
        other => return Err(EpcisError::NotEpcis(format!("root element {other}"))),
    };
    let mut extensions: Vec<Element> = root
        .children
        .iter()
        .filter(|c| c.name.namespace.is_some())
        .cloned()
        .collect();
    let event_list = match kind {
        DocumentKind::EventList => root,
        _ => {
            if let Some(results) = find(&root, "QueryResults", 3) {
                extensions.extend(results.children.iter().filter(|c| c.name.namespace.is_some()).cloned());
            }
            find(&root, "EventList", 4)
                .cloned()
                .ok_or_else(|| EpcisError::NotEpcis(format!("{} has no EventList", root.name)))?
        }
    };
    Ok(RawDocument {
        kind,
        schema_version,
        creation_date,
        extensions,
        events: event_list.children,
    })
}

/// The first standard element `local` at most `depth` levels below `parent`, breadth first
/// (`EPCISBody/EventList`, `EPCISBody/QueryResults/resultsBody/EventList`, and the
/// body-less query documents some tools write).
fn find<'e>(parent: &'e Element, local: &str, depth: usize) -> Option<&'e Element> {
    let mut level: Vec<&Element> = vec![parent];
    for _ in 0..depth {
        let next: Vec<&Element> = level
            .iter()
            .flat_map(|e| e.children.iter())
            .filter(|c| c.name.namespace.is_none())
            .collect();
        if let Some(found) = next.iter().find(|c| c.name.is(local)) {
            return Some(found);
        }
        level = next;
    }
    None
}

fn read_tree(text: &str, limits: &Limits) -> Result<(Element, SchemaVersion), EpcisError> {
    let mut reader = NsReader::from_reader(text.as_bytes());
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut version = SchemaVersion::V2;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(xml_error(&reader, &e)),
        };
        match event {
            XmlEvent::Start(start) => {
                if root.is_some() {
                    return Err(EpcisError::NotEpcis("content after the root element".into()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(EpcisError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                if stack.is_empty() {
                    version = root_version(&reader, &start);
                }
                let element = open_element(&reader, &start, &mut count)?;
                count += 1;
                if count > limits.max_elements {
                    return Err(EpcisError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                stack.push(Open {
                    element,
                    text: String::new(),
                });
            }
            XmlEvent::End(_) => {
                let Some(Open { mut element, text }) = stack.pop() else {
                    return Err(EpcisError::NotEpcis("unbalanced end tag".into()));
                };
                element.value = expand_value(text.trim());
                match stack.last_mut() {
                    Some(parent) if is_wrapper(&element.name) => {
                        parent.element.children.extend(element.children);
                    }
                    Some(parent) => parent.element.children.push(element),
                    None => root = Some(element),
                }
            }
            XmlEvent::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    let content = t.xml10_content().map_err(|e| xml_error(&reader, &e.into()))?;
                    open.text.push_str(&content);
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(EpcisError::NotEpcis("text outside the root element".into()));
                }
            }
            XmlEvent::CData(t) => {
                if let Some(open) = stack.last_mut() {
                    let content = t.decode().map_err(|e| xml_error(&reader, &e.into()))?;
                    open.text.push_str(&content);
                }
            }
            XmlEvent::GeneralRef(r) => {
                let resolved_char = r.resolve_char_ref().map_err(|e| xml_error(&reader, &e))?;
                let name = r.decode().map_err(|e| xml_error(&reader, &e.into()))?;
                let replacement = match resolved_char {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| EpcisError::XmlEntity(name.to_string()))?
                        .to_owned(),
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&replacement);
                }
            }
            XmlEvent::DocType(_) => return Err(EpcisError::XmlDoctype),
            XmlEvent::Eof => break,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Empty(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(EpcisError::Xml {
            position: reader.buffer_position(),
            message: "document ends inside an element".into(),
        });
    }
    let root = root.ok_or_else(|| EpcisError::NotEpcis("no root element".into()))?;
    Ok((root, version))
}

/// An element for a start tag, its attributes as children; counts them in `count`.
fn open_element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>, count: &mut usize) -> Result<Element, EpcisError> {
    let name = element_name(reader.resolver().resolve_element(start.name()).0, start)?;
    let mut element = Element {
        name,
        value: String::new(),
        children: Vec::new(),
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| xml_error(reader, &e.into()))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        *count += 1;
        let (ns, local) = reader.resolver().resolve_attribute(key);
        let name = ElementName {
            namespace: namespace_of(ns)?,
            local: String::from_utf8_lossy(local.as_ref()).into_owned(),
        };
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| xml_error(reader, &e))?;
        element.children.push(Element {
            name,
            value: expand_value(value.trim()),
            children: Vec::new(),
        });
    }
    Ok(element)
}

/// The schema generation from the namespace bound to the root element's prefix.
fn root_version(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> SchemaVersion {
    match reader.resolver().resolve_element(start.name()).0 {
        ResolveResult::Bound(ns) if ns.as_ref() == EPCIS_V1.as_bytes() => SchemaVersion::V1,
        _ => SchemaVersion::V2,
    }
}

fn namespace_of(ns: ResolveResult<'_>) -> Result<Option<String>, EpcisError> {
    match ns {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => {
            let ns = String::from_utf8_lossy(ns.as_ref()).into_owned();
            Ok((!STANDARD_NAMESPACES.contains(&ns.as_str())).then_some(ns))
        }
        ResolveResult::Unknown(prefix) => Err(EpcisError::XmlPrefix(String::from_utf8_lossy(&prefix).into_owned())),
    }
}

fn element_name(ns: ResolveResult<'_>, start: &BytesStart<'_>) -> Result<ElementName, EpcisError> {
    Ok(ElementName {
        namespace: namespace_of(ns)?,
        local: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
    })
}

fn is_wrapper(name: &ElementName) -> bool {
    name.is("extension") || name.is("baseExtension")
}

fn expand_value(text: &str) -> String {
    for (prefix, iri) in VALUE_PREFIXES {
        if let Some(rest) = text.strip_prefix(prefix) {
            return format!("{iri}{rest}");
        }
    }
    text.to_owned()
}
