//! EPCIS documents and calls for the `/epcis` tests.
//!
//! The test networks have no manufacturer node (`maker-m` is a member without one), so
//! [`give_company_prefix`] moves the manufacturer's company prefix `0614141` to an
//! organisation that runs a node, in every copy of genesis, before the nodes first start.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use medledger_gs1::ident::EpcUri;
use medledger_ledger::supply::capture::{Commitment, Step};
use medledger_types::Hash32;
use serde_json::{Value, json};

use super::fhir::{Answer, answer};
use super::net::Net;

pub const PREFIX: &str = "0614141";
pub const MAKER_SGLN: &str = "urn:epc:id:sgln:0614141.00001.0";

/// Moves the company prefix `0614141` from `maker-m` to `org` in `net/genesis.json` and
/// every node's copy.
pub fn give_company_prefix(net: &Net, org: &str) {
    let mut paths = vec![net.dir.join("genesis.json")];
    paths.extend(net.homes.iter().map(|h| h.join("genesis.json")));
    for path in paths {
        let mut g: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for o in g["orgs"].as_array_mut().unwrap() {
            let id = o["id"].as_str().unwrap().to_owned();
            if id == "maker-m" {
                o["gs1"]["company_prefixes"] = json!([]);
            }
            if id == org {
                o["gs1"]["company_prefixes"] = json!([PREFIX]);
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&g).unwrap()).unwrap();
    }
}

/// The first GLN genesis registers to `org`.
pub fn gln_of(net: &Net, org: &str) -> String {
    let g: Value = serde_json::from_slice(&std::fs::read(net.dir.join("genesis.json")).unwrap()).unwrap();
    g["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == org)
        .and_then(|o| o["gs1"]["glns"][0].as_str())
        .unwrap_or_else(|| panic!("{org} has no GLN in genesis"))
        .to_owned()
}

/// The SGLN URN of a GLN under a 7-digit company prefix, extension 0.
pub fn sgln(gln: &str) -> String {
    format!("urn:epc:id:sgln:{}.{}.0", &gln[..7], &gln[7..12])
}

pub fn sgtin(serial: &str) -> String {
    format!("urn:epc:id:sgtin:{PREFIX}.012345.{serial}")
}

pub fn sscc(serial_ref: &str) -> String {
    format!("urn:epc:id:sscc:{PREFIX}.{serial_ref}")
}

fn json_document(events: Vec<Value>) -> String {
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"cbvmda": "urn:epcglobal:cbv:mda:"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-03-03T09:00:00.000Z",
        "epcisBody": {"eventList": events}
    })
    .to_string()
}

/// An ObjectEvent of `epcs` at `at` (read point), the fields every one here has.
fn object_event(epcs: Vec<String>, action: &str, biz_step: &str, disposition: &str, at: &str, time: &str) -> Value {
    json!({
        "type": "ObjectEvent",
        "eventTime": time,
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": action,
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": {"id": at}
    })
}

/// JSON-LD: commissioning of `serials` (lot `lot`) at `time`.
pub fn commission(serials: &[&str], lot: &str, time: &str) -> String {
    let epcs = serials.iter().map(|s| sgtin(s)).collect();
    let mut e = object_event(epcs, "ADD", "commissioning", "active", MAKER_SGLN, time);
    e["bizLocation"] = json!({"id": MAKER_SGLN});
    e["ilmd"] = json!({"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": "2027-06-30"});
    json_document(vec![e])
}

/// JSON-LD: packing `serials` into the case `case`.
pub fn pack(case: &str, serials: &[&str], time: &str) -> String {
    json_document(vec![json!({
        "type": "AggregationEvent",
        "eventTime": time,
        "eventTimeZoneOffset": "+00:00",
        "parentID": sscc(case),
        "childEPCs": serials.iter().map(|s| sgtin(s)).collect::<Vec<_>>(),
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "in_progress",
        "readPoint": {"id": MAKER_SGLN}
    })])
}

/// EPCIS 2.0 XML: shipping the case from `from` to `to` (SGLNs) with a purchase order, a
/// despatch advice and the DSCSA transaction statement (GS1 US guideline extension).
pub fn ship_xml(case: &str, from: &str, to: &str, time: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:gs1ushc="http://epcis.gs1us.org/hc/ns" schemaVersion="2.0" creationDate="2025-03-03T11:00:00.000Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>{time}</eventTime>
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
        <epcList><epc>{epc}</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint><id>{from}</id></readPoint>
        <bizTransactionList>
          <bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:0614141000012:PO-{case}</bizTransaction>
          <bizTransaction type="urn:epcglobal:cbv:btt:desadv">urn:epcglobal:cbv:bt:0614141000012:ASN-{case}</bizTransaction>
        </bizTransactionList>
        <sourceList><source type="urn:epcglobal:cbv:sdt:owning_party">{from}</source></sourceList>
        <destinationList><destination type="urn:epcglobal:cbv:sdt:owning_party">{to}</destination></destinationList>
        <gs1ushc:dscsaTransactionStatement>
          <gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement>
        </gs1ushc:dscsaTransactionStatement>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>"#,
        epc = sscc(case)
    )
}

/// EPCIS 1.2 XML (as DSCSA partners exchange it): receiving the case at `at`, shipped
/// from `from`.
pub fn receive_xml12(case: &str, from: &str, at: &str, time: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2025-03-04T09:00:00.000Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>{time}</eventTime>
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
        <epcList><epc>{epc}</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:receiving</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_progress</disposition>
        <readPoint><id>{at}</id></readPoint>
        <extension>
          <sourceList><source type="urn:epcglobal:cbv:sdt:owning_party">{from}</source></sourceList>
          <destinationList><destination type="urn:epcglobal:cbv:sdt:owning_party">{at}</destination></destinationList>
        </extension>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>"#,
        epc = sscc(case)
    )
}

/// JSON-LD: shipping the case from `from` to `to`.
pub fn ship_json(case: &str, from: &str, to: &str, time: &str) -> String {
    let mut e = object_event(vec![sscc(case)], "OBSERVE", "shipping", "in_transit", from, time);
    e["bizTransactionList"] =
        json!([{"type": "desadv", "bizTransaction": format!("urn:epcglobal:cbv:bt:4012345000122:ASN-{case}")}]);
    e["sourceList"] = json!([{"type": "owning_party", "source": from}]);
    e["destinationList"] = json!([{"type": "owning_party", "destination": to}]);
    json_document(vec![e])
}

/// JSON-LD: receiving the case at `at`.
pub fn receive_json(case: &str, at: &str, time: &str) -> String {
    json_document(vec![object_event(
        vec![sscc(case)],
        "OBSERVE",
        "receiving",
        "in_progress",
        at,
        time,
    )])
}

/// JSON-LD: dispensing one pack at `at`.
pub fn dispense(serial: &str, at: &str, time: &str) -> String {
    json_document(vec![object_event(
        vec![sgtin(serial)],
        "OBSERVE",
        "dispensing",
        "dispensed",
        at,
        time,
    )])
}

/// The hash IDs of a document's events, computed here.
pub fn hash_ids(doc: &str) -> Vec<String> {
    let format = medledger_gs1::epcis::Format::sniff(doc.as_bytes()).unwrap();
    medledger_gs1::epcis::parse_document(doc.as_bytes(), format)
        .unwrap()
        .events
        .iter()
        .map(|e| e.hash_id().to_string())
        .collect()
}

/// `POST /epcis/capture` to node `i`.
pub async fn post_capture(net: &Net, i: usize, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Answer {
    let mut req = net
        .http
        .post(format!("{}/epcis/capture", net.urls[i]))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

/// A GET of an `/epcis` path on node `i`.
pub async fn epcis_get(net: &Net, i: usize, token: Option<&str>, path: &str) -> Answer {
    let mut req = net.http.get(format!("{}{path}", net.urls[i]));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

/// Captures a document and waits for its job; returns the finished job.
pub async fn capture_ok(net: &Net, i: usize, token: &str, content_type: &str, doc: &str) -> Value {
    let a = post_capture(net, i, Some(token), content_type, doc.as_bytes().to_vec()).await;
    assert_eq!(a.status, 202, "capture refused: {}", a.text);
    let location = a.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/epcis/capture/"), "{location}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = epcis_get(net, i, Some(token), &location).await;
        assert_eq!(job.status, 200, "{}", job.text);
        if job.body["running"] == false {
            assert_eq!(job.body["success"], true, "the capture job failed: {}", job.body);
            return job.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job is still running: {}",
            job.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `eventID`s of an `EPCISQueryDocument`.
pub fn event_ids(doc: &Value) -> Vec<String> {
    doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["eventID"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` exists (for the store file).
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// A `supply.capture` commitment of `step` on `epcs` with a random hash ID and nothing
/// else set (for tests that sign captures with an admin key).
pub fn commitment(step: Step, epcs: Vec<EpcUri>) -> Commitment {
    Commitment {
        hash_id: Hash32::digest(&[&rand::random::<[u8; 16]>()]),
        step,
        epcs,
        parent: None,
        destination: None,
        lot: None,
        expiry: None,
        corrects: Vec::new(),
    }
}
