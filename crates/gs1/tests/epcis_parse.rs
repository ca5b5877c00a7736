//! Parsing EPCIS documents: the model the ledger reads, the two bindings agreeing, EPCIS 1.2
//! conversion, CBV validation, and hostile input (each refused with its own error).

use std::fs;
use std::path::Path;

use medledger_gs1::epcis::{
    Action, CbvValue, DocumentKind, EpcisError, EventType, Format, Limits, SchemaVersion, Vocabulary, parse_document,
    parse_document_with, validate_cbv,
};
use proptest::prelude::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/epcis/examples");

fn example(name: &str) -> Vec<u8> {
    fs::read(Path::new(EXAMPLES).join(name)).unwrap_or_default()
}

fn json_event(fields: &str) -> String {
    format!(
        r#"{{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
            "epcisBody": {{"eventList": [
              {{"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:4012345.011111.1"], "action": "OBSERVE"}},
              {{{fields}}}
            ]}}}}"#
    )
}

fn parse_json(text: &str) -> Result<medledger_gs1::epcis::Document, EpcisError> {
    parse_document(text.as_bytes(), Format::JsonLd)
}

#[test]
fn both_bindings_of_one_document_read_alike() {
    for name in [
        "ReferenceEventHashAlgorithm",
        "ReferenceEventHashAlgorithm3",
        "epcisDocWithVariousEventTypes",
        "epcisQueryDocument",
        "persistentDisposition",
        "epcisDocWithXMLstartTagAndErrorDeclaration",
    ] {
        let json = parse_document(&example(&format!("{name}.jsonld")), Format::JsonLd);
        let xml = parse_document(&example(&format!("{name}.xml")), Format::Xml);
        let (Ok(json), Ok(xml)) = (json, xml) else {
            panic!("{name} does not parse")
        };
        assert_eq!(json.events.len(), xml.events.len(), "{name}");
        for (j, x) in json.events.iter().zip(&xml.events) {
            assert_eq!(j.event_type, x.event_type, "{name}");
            assert_eq!(j.action, x.action, "{name}");
            assert_eq!(j.biz_step, x.biz_step, "{name}");
            assert_eq!(j.disposition, x.disposition, "{name}");
            assert_eq!(j.event_time, x.event_time, "{name}");
            assert_eq!(j.hash_id(), x.hash_id(), "{name}");
        }
    }
}

#[test]
fn accessors_give_what_the_ledger_needs() {
    let doc = parse_document(&example("ReferenceEventHashAlgorithm3.xml"), Format::Xml);
    let Ok(doc) = doc else { panic!("parse") };
    assert_eq!(doc.kind, DocumentKind::EpcisDocument);
    let e = &doc.events[0];
    assert_eq!(e.event_type(), EventType::ObjectEvent);
    assert_eq!(e.action(), Some(Action::Observe));
    assert!(e.biz_step().is_some_and(|b| b.is("departing")));
    assert!(e.disposition().is_some_and(|d| d.is("in_transit")));
    let epcs: Vec<&str> = e.epcs().map(|x| x.as_str()).collect();
    assert_eq!(epcs, ["urn:epc:id:sgtin:0614141.011111.987"]);
    assert_eq!(
        e.sources_of_type("owning_party").collect::<Vec<_>>(),
        ["urn:epc:id:pgln:4012345.00000"]
    );
    assert_eq!(
        e.destinations_of_type("owning_party").collect::<Vec<_>>(),
        ["urn:epc:id:pgln:0614141.00000"]
    );
    assert_eq!(e.biz_transactions().len(), 1);
    assert!(e.biz_transactions()[0].kind.as_ref().is_some_and(|k| k.is("po")));
    assert_eq!(e.extensions.len(), 1);
    assert_eq!(
        e.extensions[0].name.to_string(),
        "{https://ns.example.com/epcis/}userExt"
    );
    assert_eq!(e.read_point.as_ref().map(|r| r.extensions.len()), Some(1));

    let doc = parse_document(&example("epcisDocWithVariousEventTypes.jsonld"), Format::JsonLd);
    let Ok(doc) = doc else { panic!("parse") };
    let aggregation = doc.events.iter().find(|e| e.event_type == EventType::AggregationEvent);
    let Some(aggregation) = aggregation else {
        panic!("no aggregation")
    };
    assert!(aggregation.parent_id().is_some());
    assert_eq!(aggregation.epcs().count(), 1 + aggregation.child_epcs.len());
}

#[test]
fn error_declarations_are_read_but_not_hashed() {
    let doc = parse_document(&example("epcisDocWithXMLstartTagAndErrorDeclaration.xml"), Format::Xml);
    let Ok(doc) = doc else { panic!("parse") };
    let e = &doc.events[0];
    assert!(e.is_error_declaration());
    let decl = e.error_declaration.as_ref();
    assert!(decl.is_some_and(|d| d.reason.as_ref().is_some_and(|r| r.is("incorrect_data"))));
    assert!(!e.pre_hash_string().contains("errorDeclaration"));
    let mut without = e.clone();
    without.error_declaration = None;
    without.event_id = None;
    assert_eq!(without.hash_id(), e.hash_id());

    let text = json_event(
        r#""type": "ObjectEvent", "eventTime": "2024-01-02T00:00:00Z", "eventTimeZoneOffset": "+00:00",
           "action": "OBSERVE", "errorDeclaration": {"declarationTime": "2024-01-03T00:00:00Z",
             "reason": "did_not_occur", "correctiveEventIDs": ["urn:uuid:1", "urn:uuid:2"]}"#,
    );
    let Ok(doc) = parse_json(&text) else { panic!("parse") };
    let ids: Vec<&str> = doc.events[1]
        .corrective_event_ids()
        .iter()
        .map(|i| i.0.as_str())
        .collect();
    assert_eq!(ids, ["urn:uuid:1", "urn:uuid:2"]);
}

#[test]
fn epcis_1_2_xml_reads_into_the_2_0_model() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2019-01-01T00:00:00Z">
  <EPCISBody><EventList>
    <ObjectEvent>
      <eventTime>2019-10-21T11:00:30.000+01:00</eventTime>
      <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
      <baseExtension><eventID>urn:uuid:abc</eventID></baseExtension>
      <epcList/>
      <action>ADD</action>
      <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
      <disposition>urn:epcglobal:cbv:disp:active</disposition>
      <extension>
        <quantityList><quantityElement>
          <epcClass>urn:epc:class:lgtin:4012345.012345.LOT1</epcClass><quantity>10.0</quantity><uom>KGM</uom>
        </quantityElement></quantityList>
        <sourceList><source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:pgln:4012345.00000</source></sourceList>
      </extension>
    </ObjectEvent>
    <extension>
      <TransformationEvent>
        <eventTime>2019-10-21T12:00:00Z</eventTime>
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
        <inputEPCList><epc>urn:epc:id:sgtin:4012345.011111.1</epc></inputEPCList>
        <outputEPCList><epc>urn:epc:id:sgtin:4012345.011111.2</epc></outputEPCList>
        <bizStep>urn:epcglobal:cbv:bizstep:repackaging</bizStep>
      </TransformationEvent>
    </extension>
  </EventList></EPCISBody>
</epcis:EPCISDocument>"#;
    let Ok(doc) = parse_document(xml.as_bytes(), Format::Xml) else {
        panic!("parse")
    };
    assert_eq!(doc.schema_version, SchemaVersion::V1);
    assert_eq!(doc.events.len(), 2);
    let object = &doc.events[0];
    assert_eq!(object.event_id.as_ref().map(|i| i.0.as_str()), Some("urn:uuid:abc"));
    assert_eq!(
        object.biz_step,
        Some(CbvValue::Standard {
            vocabulary: Vocabulary::BizStep,
            word: "commissioning".into()
        })
    );
    assert_eq!(object.quantity_list.len(), 1);
    assert_eq!(object.sources_of_type("owning_party").count(), 1);
    assert!(
        object
            .pre_hash_string()
            .contains("bizStep=https://ref.gs1.org/cbv/BizStep-commissioning")
    );
    assert!(object.pre_hash_string().contains("quantity=10uom=KGM"));
    assert_eq!(doc.events[1].event_type, EventType::TransformationEvent);
    assert_eq!(doc.events[1].action, None);
}

#[test]
fn pre_hash_string_has_the_canonical_form() {
    let text = json_event(
        r#""type": "ObjectEvent", "eventTime": "2024-03-01T01:30:00.12345+02:00", "eventTimeZoneOffset": "+02:00",
           "epcList": ["urn:epc:id:sgtin:4012345.011111.2", "https://example.com/01/04012345111118/21/1?x=y"],
           "action": "OBSERVE", "bizStep": "shipping", "recordTime": "2024-03-01T02:00:00Z",
           "eventID": "urn:uuid:x""#,
    );
    let Ok(doc) = parse_json(&text) else { panic!("parse") };
    assert_eq!(
        doc.events[1].pre_hash_string(),
        "eventType=ObjectEventeventTime=2024-02-29T23:30:00.123ZeventTimeZoneOffset=+02:00\
         epcListepc=https://id.gs1.org/01/04012345111118/21/1epc=https://id.gs1.org/01/04012345111118/21/2\
         action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    );
    let id = doc.events[1].hash_id();
    assert!(id.as_str().starts_with("ni:///sha-256;") && id.as_str().ends_with("?ver=CBV2.0"));
    assert_eq!(id.as_str().len(), "ni:///sha-256;".len() + 64 + "?ver=CBV2.0".len());
    assert_ne!(id.digest(), [0u8; 32]);
}

#[test]
fn validate_cbv_refuses_unknown_standard_words_only() {
    for name in [
        "epcisDocWithVariousEventTypes.xml",
        "ReferenceEventHashAlgorithm3.xml",
        "persistentDisposition.xml",
    ] {
        let Ok(doc) = parse_document(&example(name), Format::Xml) else {
            panic!("{name}")
        };
        for e in &doc.events {
            assert_eq!(validate_cbv(e), Ok(()), "{name}");
        }
    }
    let cases = [
        (r#""bizStep": "shiping""#, "bizStep", "shiping"),
        (
            r#""bizStep": "urn:epcglobal:cbv:bizstep:shiping""#,
            "bizStep",
            "shiping",
        ),
        (
            r#""disposition": "https://ref.gs1.org/cbv/Disp-lost""#,
            "disposition",
            "lost",
        ),
        (
            r#""bizTransactionList": [{"type": "order", "bizTransaction": "urn:x"}]"#,
            "bizTransaction.type",
            "order",
        ),
        (
            r#""sourceList": [{"type": "owner", "source": "urn:x"}]"#,
            "source.type",
            "owner",
        ),
    ];
    for (field_json, field, term) in cases {
        let text = json_event(&format!(
            r#""type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
               "action": "OBSERVE", {field_json}"#
        ));
        let Ok(doc) = parse_json(&text) else {
            panic!("{field_json}")
        };
        assert_eq!(
            validate_cbv(&doc.events[1]),
            Err(EpcisError::UnknownCbvTerm {
                field,
                term: term.into()
            }),
            "{field_json}"
        );
    }
    let text = json_event(
        r#""type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
           "action": "OBSERVE", "bizStep": "https://example.com/vocab/bizstep/blessing""#,
    );
    let Ok(doc) = parse_json(&text) else { panic!("parse") };
    assert_eq!(validate_cbv(&doc.events[1]), Ok(()));
}

#[test]
fn sniffing_tells_the_bindings_apart() {
    assert_eq!(Format::sniff(b"  {\"a\":1}"), Some(Format::JsonLd));
    assert_eq!(Format::sniff(b"\xEF\xBB\xBF[]"), Some(Format::JsonLd));
    assert_eq!(Format::sniff(b"\n<?xml version=\"1.0\"?><a/>"), Some(Format::Xml));
    assert_eq!(Format::sniff(b"hello"), None);
    assert_eq!(Format::sniff(b""), None);
}

#[test]
fn a_bare_event_list_is_a_document_too() {
    let text = r#"[{"type": "AssociationEvent", "eventTime": "2024-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00", "parentID": "urn:epc:id:grai:4012345.55555.1",
        "childEPCs": ["urn:epc:id:giai:4000001.111"], "action": "ADD"}]"#;
    let Ok(doc) = parse_json(text) else { panic!("parse") };
    assert_eq!(doc.kind, DocumentKind::EventList);
    assert_eq!(doc.events[0].event_type, EventType::AssociationEvent);
    let xml = r#"<EventList><AggregationEvent><eventTime>2024-01-01T00:00:00Z</eventTime>
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset><parentID>urn:epc:id:sscc:4012345.0000000001</parentID>
        <childEPCs><epc>urn:epc:id:sgtin:4012345.011111.1</epc></childEPCs><action>ADD</action>
        </AggregationEvent></EventList>"#;
    let Ok(doc) = parse_document(xml.as_bytes(), Format::Xml) else {
        panic!("parse")
    };
    assert_eq!(doc.kind, DocumentKind::EventList);
    assert_eq!(doc.events[0].child_epcs.len(), 1);
}

// ---- hostile and invalid input: each its own error -------------------------------------

#[test]
fn oversize_input_is_refused_before_parsing() {
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let big = vec![b' '; 1001];
    assert_eq!(
        parse_document_with(&big, Format::JsonLd, &limits),
        Err(EpcisError::TooLarge {
            size: 1001,
            limit: 1000
        })
    );
    let default_limit = Limits::default().max_bytes;
    assert_eq!(default_limit, 16 << 20);
    let huge = vec![b' '; default_limit + 1];
    assert_eq!(
        parse_document(&huge, Format::Xml),
        Err(EpcisError::TooLarge {
            size: default_limit + 1,
            limit: default_limit
        })
    );
}

#[test]
fn deep_nesting_is_refused() {
    let limit = Limits::default().max_depth;
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse_json(&json), Err(EpcisError::TooDeep { limit }));
    let xml = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert_eq!(
        parse_document(xml.as_bytes(), Format::Xml),
        Err(EpcisError::TooDeep { limit })
    );
    // Brackets inside strings do not count.
    let quoted = format!("[\"{}\"]", "[".repeat(1000));
    assert!(matches!(parse_json(&quoted), Err(EpcisError::InvalidField { .. })));
}

#[test]
fn too_many_events_or_elements_are_refused() {
    let event = r#"{"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE"}"#;
    let list = format!("[{}]", [event; 11].join(","));
    let limits = Limits {
        max_events: 10,
        ..Limits::default()
    };
    assert_eq!(
        parse_document_with(list.as_bytes(), Format::JsonLd, &limits),
        Err(EpcisError::TooManyEvents { limit: 10 })
    );
    let limits = Limits {
        max_elements: 20,
        ..Limits::default()
    };
    assert_eq!(
        parse_document_with(list.as_bytes(), Format::JsonLd, &limits),
        Err(EpcisError::TooManyElements { limit: 20 })
    );
    let xml = format!("<EventList>{}</EventList>", "<x a='1' b='2'/>".repeat(10));
    assert_eq!(
        parse_document_with(xml.as_bytes(), Format::Xml, &limits),
        Err(EpcisError::TooManyElements { limit: 20 })
    );
}

#[test]
fn xml_entities_are_never_expanded() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<EventList><ObjectEvent><eventTime>&lol3;</eventTime></ObjectEvent></EventList>"#;
    assert_eq!(
        parse_document(bomb.as_bytes(), Format::Xml),
        Err(EpcisError::XmlDoctype)
    );
    let external = r#"<!DOCTYPE x SYSTEM "file:///etc/passwd"><EventList/>"#;
    assert_eq!(
        parse_document(external.as_bytes(), Format::Xml),
        Err(EpcisError::XmlDoctype)
    );
    let undeclared = "<EventList><ObjectEvent><eventTime>&xxe;</eventTime></ObjectEvent></EventList>";
    assert_eq!(
        parse_document(undeclared.as_bytes(), Format::Xml),
        Err(EpcisError::XmlEntity("xxe".into()))
    );
    let predefined = "<EventList><ObjectEvent><eventTime>2024-01-01T00:00:00Z</eventTime>\
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>ADD</action>\
        <x:note xmlns:x=\"https://x.example/\">a &amp; b &#x41;</x:note></ObjectEvent></EventList>";
    let Ok(doc) = parse_document(predefined.as_bytes(), Format::Xml) else {
        panic!("parse")
    };
    assert_eq!(doc.events[0].extensions[0].value, "a & b A");
}

#[test]
fn bad_timestamps_name_event_and_field() {
    let cases = [
        (
            "2024-01-01T00:00:00",
            "has no time zone (xsd:dateTimeStamp needs Z or ±hh:mm)",
        ),
        ("2024-02-30T00:00:00Z", "a field is out of range"),
        ("yesterday", "not of the form YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)"),
    ];
    for (time, problem) in cases {
        let text = json_event(&format!(
            r#""type": "ObjectEvent", "eventTime": "{time}", "eventTimeZoneOffset": "+00:00", "action": "ADD""#
        ));
        assert_eq!(
            parse_json(&text),
            Err(EpcisError::BadTimestamp {
                index: 1,
                field: "eventTime".into(),
                value: time.into(),
                problem
            }),
        );
    }
    let text = json_event(
        r#""type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+25:00", "action": "ADD""#,
    );
    assert!(matches!(
        parse_json(&text),
        Err(EpcisError::BadTimestamp { index: 1, ref field, .. }) if field == "eventTimeZoneOffset"
    ));
    let text = json_event(
        r#""type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "ADD",
           "sensorElementList": [{"sensorReport": [{"type": "Temperature", "time": "noon"}]}]"#,
    );
    assert!(matches!(
        parse_json(&text),
        Err(EpcisError::BadTimestamp { index: 1, ref field, .. }) if field == "sensorElementList[0].sensorReport.time"
    ));
}

#[test]
fn unknown_event_types_and_fields_are_refused() {
    let text = json_event(r#""type": "TeleportEvent", "eventTime": "2024-01-01T00:00:00Z""#);
    assert_eq!(
        parse_json(&text),
        Err(EpcisError::UnknownEventType {
            index: 1,
            name: "TeleportEvent".into()
        })
    );
    let xml = "<EventList><x:ObjectEvent xmlns:x='https://x.example/'/></EventList>";
    assert_eq!(
        parse_document(xml.as_bytes(), Format::Xml),
        Err(EpcisError::UnknownEventType {
            index: 0,
            name: "{https://x.example/}ObjectEvent".into()
        })
    );
    let base = r#""eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00""#;
    let cases = [
        (
            format!(r#""type": "ObjectEvent", {base}, "action": "ADD", "colour": "red""#),
            EpcisError::UnknownField {
                index: 1,
                field: "colour".into(),
            },
        ),
        (
            format!(r#""type": "ObjectEvent", {base}"#),
            EpcisError::MissingField {
                index: 1,
                field: "action".into(),
            },
        ),
        (
            format!(r#""type": "TransformationEvent", {base}, "action": "ADD""#),
            EpcisError::FieldNotAllowed {
                index: 1,
                event_type: EventType::TransformationEvent,
                field: "action".into(),
            },
        ),
        (
            format!(r#""type": "AggregationEvent", {base}, "action": "ADD", "ilmd": {{}}"#),
            EpcisError::FieldNotAllowed {
                index: 1,
                event_type: EventType::AggregationEvent,
                field: "ilmd".into(),
            },
        ),
        (
            format!(r#""type": "ObjectEvent", {base}, "action": "MOVE""#),
            EpcisError::InvalidField {
                index: 1,
                field: "action".into(),
                problem: "\"MOVE\" is not ADD, OBSERVE or DELETE".into(),
            },
        ),
        (
            format!(
                r#""type": "ObjectEvent", {base}, "action": "ADD", "quantityList": [{{"epcClass": "urn:x", "quantity": "lots"}}]"#
            ),
            EpcisError::InvalidField {
                index: 1,
                field: "quantityList[0].quantity".into(),
                problem: "\"lots\" is not a number".into(),
            },
        ),
        (
            format!(r#""type": "ObjectEvent", {base}, "action": "ADD", "sourceList": [{{"source": "urn:x"}}]"#),
            EpcisError::MissingField {
                index: 1,
                field: "source.type".into(),
            },
        ),
        (
            format!(r#""type": "ObjectEvent", {base}, "action": "ADD", "readPoint": {{"id": null}}"#),
            EpcisError::InvalidField {
                index: 1,
                field: "id".into(),
                problem: "null is not an EPCIS value".into(),
            },
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(parse_json(&json_event(&fields)), Err(want), "{fields}");
    }
    let xml = "<EventList><ObjectEvent><eventTime>2024-01-01T00:00:00Z</eventTime>\
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>ADD</action><action>ADD</action>\
        </ObjectEvent></EventList>";
    assert_eq!(
        parse_document(xml.as_bytes(), Format::Xml),
        Err(EpcisError::DuplicateField {
            index: 0,
            field: "action".into()
        })
    );
}

#[test]
fn malformed_input_is_a_syntax_error() {
    assert!(matches!(
        parse_json("{\"type\": "),
        Err(EpcisError::Json { line: 1, .. })
    ));
    assert!(matches!(
        parse_document(b"<EventList><a></b></EventList>", Format::Xml),
        Err(EpcisError::Xml { .. })
    ));
    assert!(matches!(
        parse_document(b"<EventList><a>", Format::Xml),
        Err(EpcisError::Xml { .. })
    ));
    assert!(matches!(
        parse_document(b"<p:EventList/>", Format::Xml),
        Err(EpcisError::XmlPrefix(_))
    ));
    assert_eq!(parse_document(b"\xff\xfe<a/>", Format::Xml), Err(EpcisError::NotUtf8));
    assert_eq!(
        parse_json("{\"type\": \"Something\"}"),
        Err(EpcisError::UnknownEventType {
            index: 0,
            name: "Something".into()
        })
    );
    assert!(matches!(parse_json("{\"eventTime\": 1}"), Err(EpcisError::NotEpcis(_))));
    assert!(matches!(
        parse_json("{\"type\": \"EPCISDocument\"}"),
        Err(EpcisError::NotEpcis(_))
    ));
    assert!(matches!(parse_json("42"), Err(EpcisError::NotEpcis(_))));
    assert!(matches!(
        parse_document(b"<html/>", Format::Xml),
        Err(EpcisError::NotEpcis(_))
    ));
    assert!(matches!(
        parse_document(b"<EventList/><EventList/>", Format::Xml),
        Err(EpcisError::NotEpcis(_))
    ));
}

fn corpus() -> Vec<(Vec<u8>, Format)> {
    let mut out = Vec::new();
    for name in [
        "SensorDataExamples.xml",
        "epcisDocWithVariousEventTypes.jsonld",
        "epcisDocWithVariousEventTypes.xml",
        "ReferenceEventHashAlgorithm2.jsonld",
    ] {
        let format = if name.ends_with(".xml") {
            Format::Xml
        } else {
            Format::JsonLd
        };
        out.push((example(name), format));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes never make the parser panic, in either binding.
    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_document(&bytes, Format::JsonLd);
        let _ = parse_document(&bytes, Format::Xml);
    }

    /// Real documents with bytes overwritten, cut short or spliced never panic either, and
    /// whatever parses can be hashed.
    #[test]
    fn mutated_documents_do_not_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let corpus = corpus();
        let (mut bytes, format) = corpus[which].clone();
        prop_assume!(!bytes.is_empty());
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
        if let Ok(doc) = parse_document(&bytes, format) {
            for event in &doc.events {
                let _ = event.hash_id();
                let _ = validate_cbv(event);
            }
        }
    }
}
