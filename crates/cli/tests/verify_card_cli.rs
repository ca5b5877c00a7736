//! `medledger verify-card`, run as the built binary on the SMART Health Cards
//! specification's example cards, issuer keys and QR codes
//! (`crates/credentials/tests/data/shc/`), and broken copies of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use medledger_credentials::shc::qr;
use serde_json::{Value, json};

const EXAMPLE_KID: &str = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s";
/// After the examples' nbf (2024-05-07), before example 3's exp (2025-05-07).
const WITHIN: &str = "2024-10-27T00:00:00Z";

fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../credentials/tests/data/shc")
        .join(name)
}

fn data(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap().trim().to_owned()
}

fn jwks() -> String {
    data_path("jwks.json").to_str().unwrap().to_owned()
}

fn medledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(args)
        .output()
        .expect("run medledger")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `verify-card` on `input` with the example issuer's keys at `WITHIN`, plus `extra`.
fn verify(input: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let jwks = jwks();
    let mut args = vec!["verify-card", input, "--jwks", &jwks, "--at", WITHIN];
    args.extend_from_slice(extra);
    let o = medledger(&args);
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Refused: exit 2, the refusal and its reason on stdout, and nothing valid.
fn assert_refused(result: &(Option<i32>, String, String), reason: &str) {
    let (code, out, err) = result;
    assert_eq!(*code, Some(2), "{out}\n{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("card 1: refused: ") && l.contains(reason)),
        "expected a refusal with {reason:?}: {out}\n{err}"
    );
    assert!(!out.contains("valid\n"), "{out}");
    assert!(err.contains("refused"), "{err}");
}

/// Example 0 is valid with its issuer's keys within its validity: the issuer, key, times
/// and resource counts are printed, and nothing that identifies the patient.
#[test]
fn an_example_card_is_valid_with_its_issuers_keys() {
    let path = data_path("example-00-d-jws.txt");
    let (code, out, err) = verify(path.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("card 1: valid\n"), "{out}");
    assert!(
        out.contains("  issuer: https://spec.smarthealth.cards/examples/issuer\n"),
        "{out}"
    );
    assert!(out.contains(&format!("  key: {EXAMPLE_KID}\n")), "{out}");
    assert!(out.contains("  nbf: 2024-05-07T"), "{out}");
    assert!(out.contains("  exp: none\n"), "{out}");
    assert!(out.contains("  resources: Immunization 3, Patient 1\n"), "{out}");
    // The key publishes a revocation list (crlVersion 1) that was not given.
    assert!(
        out.contains("revocation: not checked") && out.contains("--crl"),
        "{out}"
    );
    for private in ["Anyperson", "John", "1951-01-20"] {
        assert!(
            !out.contains(private) && !err.contains(private),
            "{private} printed: {out}{err}"
        );
    }
}

/// `--show-payload` adds the minified bundle (with the patient) as one line of JSON.
#[test]
fn the_payload_is_printed_only_on_request() {
    let path = data_path("example-00-d-jws.txt");
    let (code, out, _) = verify(path.to_str().unwrap(), &["--show-payload"]);
    assert_eq!(code, Some(0), "{out}");
    let bundle: Value = out
        .lines()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("a JSON line");
    let minified: Value = serde_json::from_str(&data("example-00-c-jws-payload-minified.json")).unwrap();
    assert_eq!(bundle, minified["vc"]["credentialSubject"]["fhirBundle"]);
}

/// Every card of a `.smart-health-card` file is checked; one JWS from stdin too.
#[test]
fn a_card_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let cards = json!({"verifiableCredential": [
        data("example-00-d-jws.txt"), data("example-01-d-jws.txt"), data("example-03-d-jws.txt"),
    ]});
    let file = write(dir.path(), "cards.smart-health-card", cards.to_string());
    let (code, out, err) = verify(&file, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for n in 1..=3 {
        assert!(out.contains(&format!("card {n}: valid\n")), "{out}");
    }
    assert!(
        out.contains("  key: EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw\n"),
        "{out}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["verify-card", "-", "--jwks", &jwks(), "--at", WITHIN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data("example-01-d-jws.txt").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.starts_with("card 1: valid\n"), "{out}");

    // A file that is not a card file at all is malformed input: exit 2, no card line.
    let bad = write(dir.path(), "bad.smart-health-card", r#"{"cards": []}"#);
    let (code, out, err) = verify(&bad, &[]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(out.is_empty() && err.contains("verifiableCredential"), "{out}\n{err}");
}

/// The `shc:/` numeric form, in a file or as the argument itself.
#[test]
fn qr_text_in_a_file_or_as_the_argument() {
    let path = data_path("example-00-f-qr-code-numeric-value-0.txt");
    let (code, out, err) = verify(path.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("card 1: valid\n"), "{out}");
    let numeric = data("example-03-f-qr-code-numeric-value-0.txt");
    let (code, out, err) = verify(&numeric, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("  exp: 2025-05-07T"), "{out}");
}

/// A PNG of the card's QR code, drawn by the credentials crate, is read back.
#[test]
fn a_qr_image() {
    let dir = tempfile::tempdir().unwrap();
    let qr_code = qr::qr_code(&data("example-00-d-jws.txt")).unwrap();
    let png = write(dir.path(), "card.png", qr::to_png(&qr_code, 4).unwrap());
    let (code, out, err) = verify(&png, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("card 1: valid\n"), "{out}");
    assert!(out.contains("  resources: Immunization 3, Patient 1\n"), "{out}");

    // A PNG cut off after its header is malformed input.
    let mut cut = qr::to_png(&qr_code, 4).unwrap();
    cut.truncate(40);
    let broken = write(dir.path(), "broken.png", cut);
    let (code, out, err) = verify(&broken, &[]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(out.is_empty() && err.contains("PNG"), "{out}\n{err}");
}

/// A card whose payload was changed after signing.
#[test]
fn a_tampered_card_is_refused() {
    let jws = data("example-00-d-jws.txt");
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let mut payload = parts[1].clone().into_bytes();
    payload[40] = if payload[40] == b'A' { b'B' } else { b'A' };
    parts[1] = String::from_utf8(payload).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tampered.jws", parts.join("."));
    assert_refused(&verify(&file, &[]), "the signature does not verify");
}

/// A key set without the card's key.
#[test]
fn a_card_with_a_key_not_in_the_given_set_is_refused() {
    let mut set: Value = serde_json::from_str(&data("jwks.json")).unwrap();
    set["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != EXAMPLE_KID);
    let dir = tempfile::tempdir().unwrap();
    let other = write(dir.path(), "other.jwks.json", set.to_string());
    let path = data_path("example-00-d-jws.txt");
    let o = medledger(&["verify-card", path.to_str().unwrap(), "--jwks", &other, "--at", WITHIN]);
    let (out, err) = text(&o);
    assert_refused(
        &(o.status.code(), out, err),
        &format!("no ES256 signing key with kid \"{EXAMPLE_KID}\""),
    );
}

/// The specification publishes example 2 as three chunks; chunked QRs are refused.
#[test]
fn a_chunked_qr_is_refused() {
    let chunk = data_path("example-02-f-qr-code-numeric-value-0.txt");
    assert_refused(&verify(chunk.to_str().unwrap(), &[]), "chunked QR");
    // All three chunks in one file: each is refused.
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<String> = (0..3)
        .map(|i| data(&format!("example-02-f-qr-code-numeric-value-{i}.txt")))
        .collect();
    let file = write(dir.path(), "chunks.txt", all.join("\n"));
    let (code, out, _) = verify(&file, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("refused: chunked QR")).count(),
        3,
        "{out}"
    );
}

/// Example 3 expires 2025-05-07.
#[test]
fn an_expired_card_is_refused() {
    let path = data_path("example-03-d-jws.txt");
    let jwks = jwks();
    let o = medledger(&[
        "verify-card",
        path.to_str().unwrap(),
        "--jwks",
        &jwks,
        "--at",
        "2025-06-01T00:00:00Z",
    ]);
    let (out, err) = text(&o);
    assert_refused(&(o.status.code(), out.clone(), err), "expired");
    assert!(out.contains("2025-05-07T"), "{out}");
}

/// Example 3 (rid vwAjHdarZuc) against a list that revokes its rid; a list that revokes
/// other rids leaves it valid and says it was checked.
#[test]
fn a_revoked_card_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let revoking = json!({"kid": EXAMPLE_KID, "method": "rid", "ctr": 1, "rids": ["vwAjHdarZuc"]});
    let crl = write(dir.path(), "crl.json", revoking.to_string());
    let path = data_path("example-03-d-jws.txt");
    assert_refused(
        &verify(path.to_str().unwrap(), &["--crl", &crl]),
        "the card is revoked (rid \"vwAjHdarZuc\")",
    );
    // The specification's published list revokes that rid only for cards issued before
    // 2022; this copy was issued in 2024.
    let published = data_path(&format!("crl-{EXAMPLE_KID}.json"));
    let (code, out, err) = verify(path.to_str().unwrap(), &["--crl", published.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("  revocation: checked, not revoked\n"), "{out}");
}

/// `--issuer` refuses a card from another `iss`.
#[test]
fn a_card_from_another_issuer_than_expected_is_refused() {
    let path = data_path("example-00-d-jws.txt");
    assert_refused(
        &verify(path.to_str().unwrap(), &["--issuer", "https://issuer.example"]),
        "not by --issuer",
    );
}

/// Without `--jwks` the card would need the consortium's issuer directory, which the
/// ledger does not have yet: exit 2, saying so.
#[test]
fn without_jwks_the_missing_issuer_directory_is_named() {
    let path = data_path("example-00-d-jws.txt");
    let o = medledger(&["verify-card", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("issuer directory") && err.contains("not built yet") && err.contains("--jwks"),
        "{err}"
    );
}
