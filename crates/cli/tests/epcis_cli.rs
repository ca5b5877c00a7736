//! `medledger epcis hash` and `medledger gs1 convert`, run as the built binary.
//!
//! The event hash IDs are those the reference implementation publishes for its examples
//! (`crates/gs1/tests/data/epcis/`, see its README); the identifier forms are worked out by
//! hand from the GS1 standards in the test that uses them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gs1/tests/data/epcis/examples")
}

fn medledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(args)
        .output()
        .expect("run medledger")
}

fn medledger_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run medledger");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for medledger")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "medledger failed ({}):\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn expected_hashes(document: &str) -> Vec<String> {
    let path = examples().join(Path::new(document).with_extension("hashes"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn assert_hashes(document: &str, printed: &str) {
    let printed: Vec<&str> = printed.lines().collect();
    let expected = expected_hashes(document);
    assert_eq!(printed.len(), expected.len(), "{document}: one line per event");
    for (i, (got, want)) in printed.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "{document}: event {i}");
    }
}

fn hash_file(document: &str) -> String {
    let path = examples().join(document);
    stdout_of(&medledger(&["epcis", "hash", path.to_str().expect("UTF-8 path")]))
}

/// Thirteen events of every type, JSON-LD.
#[test]
fn hashes_every_event_of_a_json_ld_document() {
    assert_hashes(
        "epcisDocWithVariousEventTypes.jsonld",
        &hash_file("epcisDocWithVariousEventTypes.jsonld"),
    );
}

/// An EPCIS 2.0 XML query document.
#[test]
fn hashes_every_event_of_an_epcis_2_xml_query_document() {
    assert_hashes("epcisQueryDocument.xml", &hash_file("epcisQueryDocument.xml"));
}

/// EPCIS 1.2 XML, with its `extension` wrappers around transformation events.
#[test]
fn hashes_every_event_of_an_epcis_1_2_xml_document() {
    assert_hashes(
        "epcisDocWith2DifferentTransformationEvents.xml",
        &hash_file("epcisDocWith2DifferentTransformationEvents.xml"),
    );
}

#[test]
fn reads_stdin_with_a_given_format() {
    let document = "epcisDocWithVariousEventTypes.xml";
    let bytes = std::fs::read(examples().join(document)).expect("read example");
    let out = medledger_with_stdin(&["epcis", "hash", "--format", "xml", "-"], &bytes);
    assert_hashes(document, &stdout_of(&out));
}

/// Each hash is followed by its pre-hash string, indented, and is the SHA-256 of it.
#[test]
fn prehash_prints_what_each_hash_is_of() {
    let document = "epcisDocWithShippingAndTransportingEvent.jsonld";
    let path = examples().join(document);
    let out = stdout_of(&medledger(&[
        "epcis",
        "hash",
        "--prehash",
        path.to_str().expect("UTF-8 path"),
    ]));
    let lines: Vec<&str> = out.lines().collect();
    let expected = expected_hashes(document);
    assert_eq!(
        lines.len(),
        2 * expected.len(),
        "a hash line and a pre-hash line per event"
    );
    for (i, (pair, want)) in lines.chunks(2).zip(&expected).enumerate() {
        assert_eq!(pair[0], want, "event {i}");
        let pre_hash = pair[1].strip_prefix("    ").expect("indented pre-hash string");
        assert!(pre_hash.starts_with("eventType="), "event {i}: {pre_hash}");
        let digest = hex::encode(Sha256::digest(pre_hash.as_bytes()));
        assert_eq!(pair[0], format!("ni:///sha-256;{digest}?ver=CBV2.0"), "event {i}");
    }
}

fn assert_bad_input(out: &Output, names: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one-line message: {stderr}");
    for name in names {
        assert!(stderr.contains(name), "{stderr:?} does not name {name:?}");
    }
}

/// A document whose second event has no `eventTime`: nothing is printed for the first.
#[test]
fn a_malformed_document_is_refused_naming_the_event_and_field() {
    let document = br#"{
      "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
      "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
      "epcisBody": { "eventList": [
        { "type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
          "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:9506000.013435.1"],
          "action": "OBSERVE" },
        { "type": "ObjectEvent", "eventTimeZoneOffset": "+00:00",
          "epcList": ["urn:epc:id:sgtin:9506000.013435.2"], "action": "OBSERVE" }
      ] }
    }"#;
    let out = medledger_with_stdin(&["epcis", "hash", "-"], document);
    assert_bad_input(&out, &["event 1", "eventTime"]);
}

#[test]
fn a_document_of_no_known_format_is_refused() {
    let out = medledger_with_stdin(&["epcis", "hash", "-"], b"eventType=ObjectEvent");
    assert_bad_input(&out, &["--format"]);
}

/// Refused from the file's size, before it is read (the file is sparse).
#[test]
fn a_document_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.json");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len((16 << 20) + 1).expect("grow");
    let out = medledger(&["epcis", "hash", path.to_str().expect("UTF-8 path")]);
    assert_bad_input(&out, &["16777217 bytes", "16777216"]);
}

/// `medledger gs1 convert` with `args` prints exactly the `expected` lines.
fn assert_converts(args: &[&str], expected: &[&str]) {
    let out = stdout_of(&medledger(&[&["gs1", "convert"], args].concat()));
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "gs1 convert {args:?}");
}

/// GS1 General Specifications' example GTIN 09506000134352, company prefix 9506000 (7
/// digits): the Digital Link puts (10) then (21) after (01) in its path (URI Syntax 1.2,
/// the `dlpkey` qualifiers of (01) are (22), (10), (21)); the SGTIN moves the indicator
/// digit 0 before the item reference 13435 and drops the check digit 2 (TDS §6.3.1); the
/// LGTIN does the same with the lot (TDS §6.4.1).
#[test]
fn gs1_convert_prints_every_form_of_a_bracketed_element_string() {
    assert_converts(
        &["(01)09506000134352(10)ABC(21)123456", "--company-prefix-length", "7"],
        &[
            "bracketed     (01)09506000134352(10)ABC(21)123456",
            "digital-link  https://id.gs1.org/01/09506000134352/10/ABC/21/123456",
            "epc           urn:epc:id:sgtin:9506000.013435.123456",
            "epc-class     urn:epc:class:lgtin:9506000.013435.ABC",
        ],
    );
}

/// The same data as a DataMatrix reports it: `]d2`, GS after the variable-length lot.
#[test]
fn gs1_convert_reads_scanned_data_and_a_custom_stem() {
    assert_converts(
        &[
            "]d20109506000134352\u{1d}10ABC\u{1d}21123456",
            "--stem",
            "https://example.com/p",
        ],
        &[
            "bracketed     (01)09506000134352(10)ABC(21)123456",
            "digital-link  https://example.com/p/01/09506000134352/10/ABC/21/123456",
        ],
    );
}

/// An EPC URN carries its company prefix length; without a lot, the class is the GTIN's
/// SGTIN pattern.
#[test]
fn gs1_convert_reads_an_epc_urn() {
    assert_converts(
        &["urn:epc:id:sgtin:9506000.013435.123456"],
        &[
            "bracketed     (01)09506000134352(21)123456",
            "digital-link  https://id.gs1.org/01/09506000134352/21/123456",
            "epc           urn:epc:id:sgtin:9506000.013435.123456",
            "epc-class     urn:epc:idpat:sgtin:9506000.013435.*",
        ],
    );
}

/// A wrong GTIN check digit (…4353 for …4352).
#[test]
fn gs1_convert_refuses_a_bad_check_digit() {
    let out = medledger(&["gs1", "convert", "(01)09506000134353"]);
    assert_bad_input(&out, &["(01)", "check digit"]);
}
