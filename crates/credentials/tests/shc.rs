//! SMART Health Cards: the specification's example cards and issuer keys verify; each
//! malformed variant is refused with its reason.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use medledger_credentials::UnixTime;
use medledger_credentials::shc::{self, CardPayload, Crl, IssuerKey, Jwks, ShcError, card, jwk, minify, qr};
use serde_json::{Value, json};
use std::io::Write;

const EXAMPLE_ISSUER: &str = "https://spec.smarthealth.cards/examples/issuer";
const EXAMPLE_KID: &str = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s";
/// After the examples' nbf (2024-05-07), before example 3's exp (2025-05-07).
const NOW: UnixTime = UnixTime(1_730_000_000);

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/shc/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .trim()
        .to_owned()
}

fn jwks() -> Jwks {
    Jwks::from_json(&data("jwks.json")).unwrap()
}

fn example_key() -> IssuerKey {
    let private: Value = serde_json::from_str(&data("issuer.jwks.private.json")).unwrap();
    let k = private["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == EXAMPLE_KID)
        .unwrap();
    IssuerKey::from_jwk(k).unwrap()
}

fn spec_crl() -> Crl {
    Crl::from_json(&data(&format!("crl-{EXAMPLE_KID}.json"))).unwrap()
}

fn crl(rids: &[&str]) -> Crl {
    Crl::from_json(&json!({"kid": EXAMPLE_KID, "method": "rid", "ctr": 1, "rids": rids}).to_string()).unwrap()
}

/// Replaces one part of a compact JWS.
fn with_part(jws: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = jws.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

#[test]
fn the_example_issuer_keys_have_thumbprint_kids() {
    let v: Value = serde_json::from_str(&data("jwks.json")).unwrap();
    for k in v["keys"].as_array().unwrap() {
        let tp = jwk::thumbprint(k["x"].as_str().unwrap(), k["y"].as_str().unwrap());
        assert_eq!(tp, k["kid"].as_str().unwrap());
    }
    assert_eq!(example_key().kid(), EXAMPLE_KID);
    assert_eq!(
        example_key().public_jwk(Some(1)),
        v["keys"][0],
        "the public JWK written here is the published one"
    );
}

#[test]
fn the_specification_example_cards_verify() {
    for (n, kid) in [
        ("00", EXAMPLE_KID),
        ("01", "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"),
        ("02", EXAMPLE_KID),
        ("03", EXAMPLE_KID),
    ] {
        let jws = data(&format!("example-{n}-d-jws.txt"));
        let card = shc::verify(&jws, &jwks(), NOW, None).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(card.kid, kid);
        assert_eq!(card.payload.iss, EXAMPLE_ISSUER);
        assert!(!card.revocation_checked);
    }
    // Example 0's payload is the published minified payload.
    let card = shc::verify(&data("example-00-d-jws.txt"), &jwks(), NOW, None).unwrap();
    let minified: Value = serde_json::from_str(&data("example-00-c-jws-payload-minified.json")).unwrap();
    assert_eq!(card.payload.to_json(), minified);
    assert_eq!(card.payload.rid.as_deref(), Some("MKyCxh7p6uQ"));
    assert_eq!(card.crl_version, Some(1));
}

#[test]
fn the_specification_qr_numeric_values_decode_to_the_cards() {
    for n in ["00", "01", "03"] {
        let numeric = data(&format!("example-{n}-f-qr-code-numeric-value-0.txt"));
        let jws = qr::from_numeric(&numeric).unwrap();
        assert_eq!(jws, data(&format!("example-{n}-d-jws.txt")));
        assert_eq!(qr::to_numeric(&jws).unwrap(), numeric);
    }
}

#[test]
fn a_chunked_qr_is_refused() {
    // Example 2 is published as three chunks, shc:/1/3/…, shc:/2/3/…, shc:/3/3/….
    for i in 0..3 {
        let chunk = data(&format!("example-02-f-qr-code-numeric-value-{i}.txt"));
        assert!(chunk.starts_with(&format!("shc:/{}/3/", i + 1)));
        assert_eq!(qr::from_numeric(&chunk), Err(ShcError::Chunked));
    }
    // A card too long for one QR is not chunked on output either.
    assert!(matches!(
        qr::to_numeric(&data("example-02-d-jws.txt")),
        Err(ShcError::QrTooLong(_))
    ));
}

#[test]
fn malformed_qr_text_is_refused() {
    assert_eq!(
        qr::from_numeric("shc:/567"),
        Err(ShcError::QrDigits("an odd number of digits"))
    );
    assert_eq!(
        qr::from_numeric("shc:/5678"),
        Err(ShcError::QrDigits("a pair of digits above 77"))
    );
    assert!(qr::from_numeric("shc:/56a6").is_err());
    assert_eq!(qr::from_numeric("HC1:5676"), Err(ShcError::QrPrefix));
}

#[test]
fn a_tampered_signature_is_refused() {
    let jws = data("example-00-d-jws.txt");
    let sig = jws.rsplit('.').next().unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[10] ^= 1;
    let bad = with_part(&jws, 2, &URL_SAFE_NO_PAD.encode(&bytes));
    assert_eq!(shc::verify(&bad, &jwks(), NOW, None), Err(ShcError::BadSignature));
}

#[test]
fn a_tampered_payload_is_refused() {
    let (_, mut payload) = card::decode_unverified(&data("example-00-d-jws.txt")).unwrap();
    payload.bundle["entry"][0]["resource"]["birthDate"] = "1961-01-20".into();
    let jws = data("example-00-d-jws.txt");
    let forged = shc::issue(&payload, &IssuerKey::from_bytes(&[7; 32]).unwrap()).unwrap();
    // The forged payload under the real header and signature.
    let bad = with_part(&jws, 1, forged.split('.').nth(1).unwrap());
    assert_eq!(shc::verify(&bad, &jwks(), NOW, None), Err(ShcError::BadSignature));
}

#[test]
fn an_unknown_kid_is_refused() {
    let payload = CardPayload::new(
        EXAMPLE_ISSUER,
        UnixTime(1_700_000_000),
        json!({"resourceType": "Bundle"}),
    );
    let other = IssuerKey::from_bytes(&[9; 32]).unwrap();
    let jws = shc::issue(&payload, &other).unwrap();
    assert_eq!(
        shc::verify(&jws, &jwks(), NOW, None),
        Err(ShcError::UnknownKid(other.kid().to_owned()))
    );
}

#[test]
fn a_der_signature_is_refused() {
    let jws = data("example-00-d-jws.txt");
    let raw = URL_SAFE_NO_PAD.decode(jws.rsplit('.').next().unwrap()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    let der = sig.to_der();
    let bad = with_part(&jws, 2, &URL_SAFE_NO_PAD.encode(der.as_bytes()));
    assert_eq!(shc::verify(&bad, &jwks(), NOW, None), Err(ShcError::DerSignature));
}

#[test]
fn a_zlib_wrapped_payload_is_refused() {
    // A payload correctly signed by the example issuer's key, but compressed with a zlib
    // header: refused as not raw DEFLATE even though the signature is good.
    let key = example_key();
    let payload = CardPayload::new(
        EXAMPLE_ISSUER,
        UnixTime(1_700_000_000),
        json!({"resourceType": "Bundle"}),
    );
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&serde_json::to_vec(&payload.to_json()).unwrap()).unwrap();
    let zlib = z.finish().unwrap();
    let good = shc::issue(&payload, &key).unwrap();
    let header = good.split('.').next().unwrap();
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(zlib));
    use p256::ecdsa::signature::Signer;
    let private: Value = serde_json::from_str(&data("issuer.jwks.private.json")).unwrap();
    let d = URL_SAFE_NO_PAD
        .decode(private["keys"][0]["d"].as_str().unwrap())
        .unwrap();
    let signer = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
    let sig: p256::ecdsa::Signature = signer.sign(input.as_bytes());
    let jws = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    assert_eq!(shc::verify(&jws, &jwks(), NOW, None), Err(ShcError::NotRawDeflate));
}

#[test]
fn inflation_is_bounded() {
    // 8 MiB of spaces deflate to a few KiB; signed by the example issuer, still refused.
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    deflate.write_all(&vec![b' '; 8 << 20]).unwrap();
    let bomb = deflate.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "zip": "DEF", "kid": EXAMPLE_KID}).to_string());
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&bomb));
    use p256::ecdsa::signature::Signer;
    let private: Value = serde_json::from_str(&data("issuer.jwks.private.json")).unwrap();
    let d = URL_SAFE_NO_PAD
        .decode(private["keys"][0]["d"].as_str().unwrap())
        .unwrap();
    let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from_slice(&d).unwrap().sign(input.as_bytes());
    let jws = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    assert_eq!(
        shc::verify(&jws, &jwks(), NOW, None),
        Err(ShcError::PayloadTooLarge(shc::MAX_PAYLOAD_BYTES))
    );
    assert_eq!(
        card::decode_unverified(&jws).map(|_| ()),
        Err(ShcError::PayloadTooLarge(shc::MAX_PAYLOAD_BYTES))
    );
    // Not DEFLATE at all.
    let garbage = format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode([0xff; 40]),
        URL_SAFE_NO_PAD.encode([0; 64])
    );
    assert_eq!(card::decode_unverified(&garbage).map(|_| ()), Err(ShcError::Inflate));
    // Longer than any card.
    let long = "a".repeat(shc::MAX_JWS_CHARS + 1);
    assert_eq!(
        shc::verify(&long, &jwks(), NOW, None),
        Err(ShcError::TooLong(shc::MAX_JWS_CHARS))
    );
}

#[test]
fn expiry_and_not_before_are_checked_at_the_given_time() {
    let key = example_key();
    let mut payload = CardPayload::new(
        EXAMPLE_ISSUER,
        UnixTime(1_700_000_000),
        json!({"resourceType": "Bundle"}),
    );
    payload.exp = Some(1_710_000_000.0);
    let jws = shc::issue(&payload, &key).unwrap();
    assert!(shc::verify(&jws, &jwks(), UnixTime(1_705_000_000), None).is_ok());
    assert_eq!(
        shc::verify(&jws, &jwks(), UnixTime(1_710_000_001), None),
        Err(ShcError::Expired(1_710_000_000.0))
    );
    assert_eq!(
        shc::verify(&jws, &jwks(), UnixTime(1_699_999_999), None),
        Err(ShcError::NotYetValid(1_700_000_000.0))
    );
}

#[test]
fn revocation_by_rid_and_timestamp() {
    // Example 3 is the specification's revoked card (rid vwAjHdarZuc, nbf 1715107763.678).
    let jws = data("example-03-d-jws.txt");
    let card = shc::verify(&jws, &jwks(), NOW, None).unwrap();
    assert_eq!(card.payload.rid.as_deref(), Some("vwAjHdarZuc"));
    let nbf = card.payload.nbf;
    // It also carries an exp a year after its nbf.
    assert_eq!(card.payload.exp, Some(1_746_643_763.678));
    assert_eq!(
        shc::verify(&jws, &jwks(), UnixTime(1_750_000_000), None),
        Err(ShcError::Expired(1_746_643_763.678))
    );

    // A plain rid revokes.
    assert_eq!(
        shc::verify(&jws, &jwks(), NOW, Some(&crl(&["vwAjHdarZuc"]))),
        Err(ShcError::Revoked("vwAjHdarZuc".into()))
    );
    // A rid with a later timestamp revokes a card issued before it ...
    let later = format!("vwAjHdarZuc.{}", nbf as u64 + 1);
    assert!(matches!(
        shc::verify(&jws, &jwks(), NOW, Some(&crl(&[&later]))),
        Err(ShcError::Revoked(_))
    ));
    // ... an earlier one does not.
    let earlier = format!("vwAjHdarZuc.{}", nbf as u64 - 1);
    let ok = shc::verify(&jws, &jwks(), NOW, Some(&crl(&[&earlier]))).unwrap();
    assert!(ok.revocation_checked);
    // Other rids do not touch it.
    assert!(shc::verify(&jws, &jwks(), NOW, Some(&crl(&["FKDIxsTCGlU"]))).is_ok());

    // The specification's published list revokes vwAjHdarZuc only before 1664492124
    // (2022-09-29), and the example card was re-issued in 2024 (nbf 1715107763): by the
    // rule, that list does not revoke this copy of the card.
    let published = spec_crl();
    assert_eq!(published.ctr, 1);
    assert!(published.revokes("vwAjHdarZuc", 1_664_492_123.0));
    assert!(!published.revokes("vwAjHdarZuc", nbf));
    assert!(published.revokes("FKDIxsTCGlU", nbf));
    assert!(shc::verify(&jws, &jwks(), NOW, Some(&published)).is_ok());
}

#[test]
fn a_crl_for_another_key_or_older_than_the_jwks_is_refused() {
    let jws = data("example-00-d-jws.txt");
    let other = Crl::from_json(r#"{"kid":"abc","method":"rid","ctr":1,"rids":[]}"#).unwrap();
    assert!(matches!(
        shc::verify(&jws, &jwks(), NOW, Some(&other)),
        Err(ShcError::CrlKid { .. })
    ));
    let mut set: Value = serde_json::from_str(&data("jwks.json")).unwrap();
    set["keys"][0]["crlVersion"] = 2.into();
    let newer = Jwks::from_json(&set.to_string()).unwrap();
    assert_eq!(
        shc::verify(&jws, &newer, NOW, Some(&crl(&[]))),
        Err(ShcError::CrlStale { ctr: 1, crl_version: 2 })
    );
    for bad in [
        r#"{"kid":"k","method":"other","ctr":1,"rids":[]}"#,
        r#"{"kid":"k","method":"rid","ctr":1,"rids":["a.b"]}"#,
        r#"{"kid":"k","method":"rid","ctr":1,"rids":["has space"]}"#,
        r#"{"kid":"k","method":"rid","rids":[]}"#,
    ] {
        assert!(Crl::from_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn keys_that_break_the_rules_are_unusable() {
    let mut set: Value = serde_json::from_str(&data("jwks.json")).unwrap();
    set["keys"][0]["alg"] = "ES384".into();
    let jws = data("example-00-d-jws.txt");
    assert!(matches!(
        shc::verify(&jws, &Jwks::from_json(&set.to_string()).unwrap(), NOW, None),
        Err(ShcError::KeyUnusable {
            reason: "alg is not ES256",
            ..
        })
    ));
    let mut set: Value = serde_json::from_str(&data("jwks.json")).unwrap();
    set["keys"][0]["d"] = "FvOOk6hMixJ2o9zt4PCfan_UW7i4aOEnzj76ZaCI9Og".into();
    assert!(matches!(
        shc::verify(&jws, &Jwks::from_json(&set.to_string()).unwrap(), NOW, None),
        Err(ShcError::KeyUnusable { .. })
    ));
}

#[test]
fn header_rules() {
    let jws = data("example-00-d-jws.txt");
    let header = |h: Value| with_part(&jws, 0, &URL_SAFE_NO_PAD.encode(h.to_string()));
    assert_eq!(
        shc::verify(
            &header(json!({"alg": "ES384", "zip": "DEF", "kid": EXAMPLE_KID})),
            &jwks(),
            NOW,
            None
        ),
        Err(ShcError::Alg("ES384".into()))
    );
    assert_eq!(
        shc::verify(&header(json!({"alg": "ES256", "kid": EXAMPLE_KID})), &jwks(), NOW, None),
        Err(ShcError::Zip)
    );
    assert_eq!(
        shc::verify(&header(json!({"alg": "ES256", "zip": "DEF"})), &jwks(), NOW, None),
        Err(ShcError::Header("no kid"))
    );
    assert!(matches!(shc::verify("a.b", &jwks(), NOW, None), Err(ShcError::Jws(_))));
    assert!(matches!(
        shc::verify("a.b.c.d", &jwks(), NOW, None),
        Err(ShcError::Jws(_))
    ));
}

#[test]
fn issue_then_verify_round_trip_through_qr() {
    let key = example_key();
    let bundle: Value = serde_json::from_str(&data("example-00-a-fhirBundle.json")).unwrap();
    let mut payload = CardPayload::new(EXAMPLE_ISSUER, UnixTime(1_700_000_000), minify::minify_bundle(&bundle));
    payload.rid = Some("abc_DEF-123".into());
    let jws = shc::issue(&payload, &key).unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "ES256", "zip": "DEF", "kid": EXAMPLE_KID}));
    let numeric = qr::to_numeric(&jws).unwrap();
    let back = qr::from_numeric(&numeric).unwrap();
    let card = shc::verify(&back, &jwks(), NOW, None).unwrap();
    assert_eq!(card.payload, payload);
}

#[test]
fn what_verification_refuses_is_not_issued() {
    let key = example_key();
    let mut payload = CardPayload::new(
        EXAMPLE_ISSUER,
        UnixTime(1_700_000_000),
        json!({"resourceType": "Bundle"}),
    );
    payload.rid = Some("not a rid".into());
    assert!(matches!(shc::issue(&payload, &key), Err(ShcError::Payload(_))));
    let mut payload = CardPayload::new(
        "http://insecure.example",
        UnixTime(1_700_000_000),
        json!({"resourceType": "Bundle"}),
    );
    assert!(matches!(shc::issue(&payload, &key), Err(ShcError::Payload(_))));
    payload.iss = format!("{EXAMPLE_ISSUER}/");
    assert!(matches!(shc::issue(&payload, &key), Err(ShcError::Payload(_))));
}

#[test]
fn minification_follows_the_rules() {
    // The specification's example bundle is already minified: minifying it changes nothing.
    let bundle: Value = serde_json::from_str(&data("example-00-a-fhirBundle.json")).unwrap();
    let published: Value = serde_json::from_str(&data("example-00-c-jws-payload-minified.json")).unwrap();
    assert_eq!(
        minify::minify_bundle(&bundle),
        published["vc"]["credentialSubject"]["fhirBundle"]
    );

    let full = json!({
        "resourceType": "Bundle", "id": "b1", "type": "collection",
        "meta": {"lastUpdated": "2024-01-01T00:00:00Z"},
        "entry": [
            {"fullUrl": "https://ehr.example/fhir/Patient/p1",
             "resource": {"resourceType": "Patient", "id": "p1",
                          "meta": {"versionId": "3", "security": [{"code": "R"}]},
                          "text": {"status": "generated", "div": "<div>John</div>"},
                          "name": [{"family": "Anyperson", "text": "John Anyperson"}]}},
            {"fullUrl": "urn:uuid:0d0a1c2b-6a1e-4b9b-9c53-0c6e8f1f4e11",
             "search": {"mode": "match"},
             "resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "94558-4",
                                               "display": "SARS-CoV-2 Ag"}],
                                   "text": "COVID antigen"},
                          "valueCodeableConcept": {"text": "negative only as text"},
                          "subject": {"reference": "Patient/p1"},
                          "performer": [{"display": "ABC Lab", "reference": "Organization/elsewhere"}]}}
        ]
    });
    let expected = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "resource:0",
             "resource": {"resourceType": "Patient", "meta": {"security": [{"code": "R"}]},
                          "name": [{"family": "Anyperson", "text": "John Anyperson"}]}},
            {"fullUrl": "resource:1",
             "resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "94558-4"}]},
                          "valueCodeableConcept": {"text": "negative only as text"},
                          "subject": {"reference": "resource:0"},
                          "performer": [{"display": "ABC Lab", "reference": "Organization/elsewhere"}]}}
        ]
    });
    assert_eq!(minify::minify_bundle(&full), expected);
}

#[test]
fn qr_rendering_uses_byte_and_numeric_segments_at_level_l() {
    let jws = data("example-00-d-jws.txt");
    let code = qr::qr_code(&jws).unwrap();
    assert_eq!(code.error_correction_level(), qrcode::EcLevel::L);
    // 801 characters: 5 bytes + 1602 digits fit version 18 at level L (as in the spec's SVG).
    assert_eq!(code.version(), qrcode::Version::Normal(18));
    let (side, ours) = qr::modules(&code);
    assert_eq!(side, 97);
    // The specification's own rendering of example 0, read back module by module.
    let theirs = modules_of_spec_svg(&data("example-00-g-qr-code-0.svg"), side);
    let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "the same QR as the specification's example");

    let svg = qr::to_svg(&code);
    assert!(svg.starts_with("<svg") && svg.contains(r#"viewBox="0 0 97 97""#));
    let png = qr::to_png(&code, 4).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 97 * 4);
    assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    assert!(qr::to_png(&code, 0).is_err());
}

/// Reads the dark modules of the specification's SVG: one path of `M x y.5` moves,
/// `hN` dark runs and `mN 0` gaps, one unit per module, quiet zone included.
fn modules_of_spec_svg(svg: &str, side: usize) -> Vec<bool> {
    let d = svg.split(r##"stroke="#000000" d=""##).nth(1).unwrap();
    let d = &d[..d.find('"').unwrap()];
    let mut grid = vec![false; side * side];
    let (mut x, mut y) = (0f64, 0f64);
    let mut rest = d;
    while !rest.is_empty() {
        let cmd = rest.as_bytes()[0];
        rest = &rest[1..];
        let end = rest.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let args: Vec<f64> = rest[..end]
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        rest = &rest[end..];
        match cmd {
            b'M' => (x, y) = (args[0], args[1]),
            b'm' => (x, y) = (x + args[0], y + args[1]),
            b'h' => {
                for i in 0..args[0] as usize {
                    grid[(y - 0.5) as usize * side + x as usize + i] = true;
                }
                x += args[0];
            }
            other => panic!("unexpected path command {}", other as char),
        }
    }
    grid
}
