//! The GS1 standards' own examples, read and written through `medledger_gs1::ident`.
//!
//! Sources are named at each case: GS1 General Specifications (GenSpecs), GS1 EPC Tag Data
//! Standard (TDS), GS1 Digital Link URI Syntax (DL), and the test suites of the GS1 Syntax
//! Engine (github.com/gs1/gs1-syntax-engine, `src/c-lib/dl.c`, `ai.c`; Apache-2.0) whose
//! cases often reproduce the standards' examples. Cases from the Syntax Engine that use
//! AIs outside this crate's table ((99), (3103), (253)…) are carried over with an AI that
//! is in it, or left out.

use medledger_gs1::ident::{
    CompanyPrefixLen, DigitalLink, Element, ElementString, EpcUri, Gln, GlnExtension, Gtin, IdentError, Lot,
    PairingRules, Serial, Sscc, Symbology, check_digit,
};

fn cp(len: usize) -> CompanyPrefixLen {
    CompanyPrefixLen::new(len).expect("6..=12")
}

fn bracketed(s: &str) -> ElementString {
    ElementString::parse_bracketed(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

// --- Check digits -------------------------------------------------------------------------

#[test]
fn genspecs_check_digit_example() {
    // GenSpecs §7.9.1, Figure 7.9.1-2: GTIN-13 with data 629104150021 has check digit 3.
    assert_eq!(check_digit("629104150021"), Some('3'));
    // TDS §6.3.1 / §6.3.2 / §6.3.3 keys.
    assert_eq!(check_digit("8061414112345"), Some('8'));
    assert_eq!(check_digit("10614141123456789"), Some('7'));
    assert_eq!(check_digit("061414112345"), Some('2'));
}

// --- Element strings ----------------------------------------------------------------------

#[test]
fn pharma_pack_in_every_form() {
    // The DataMatrix of a medicine pack (GS1 Healthcare GTIN Allocation / DL examples:
    // GTIN 09506000134352, expiry 2020-12-25, batch ABC123, serial XYZ).
    let es = bracketed("(01)09506000134352(17)201225(10)ABC123(21)XYZ");
    assert_eq!(es.get("17"), Some("201225"));
    let scanned = es.to_gs(Some(Symbology::DataMatrix));
    // FNC1 only after (10), the one variable field that is not last.
    assert_eq!(
        scanned,
        "]d2010950600013435217201225".to_owned() + "10ABC123\u{1d}21XYZ"
    );
    assert_eq!(ElementString::parse_gs(&scanned), Ok(es.clone()));
    for symbology in ["]C1", "]e0", "]Q3", "]J1", ""] {
        let input = format!("{symbology}{}", es.to_gs(None));
        assert_eq!(ElementString::parse_gs(&input), Ok(es.clone()), "{symbology}");
    }
    assert_eq!(
        es.to_digital_link(DigitalLink::DEFAULT_STEM),
        Ok("https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225".into())
    );
}

#[test]
fn logistic_label_fixed_length_fnc1_rules() {
    // GenSpecs §7.8.5: (8006) and (7003) are fixed length but not "predefined", so they are
    // followed by FNC1; (00) and (02) are predefined and never are.
    let es = bracketed("(00)106141411234567897(02)80614141123458(37)25(17)201200(10)L1");
    assert_eq!(
        es.to_gs(Some(Symbology::Gs1_128)),
        "]C1001061414112345678970280614141123458".to_owned() + "3725\u{1d}1720120010L1"
    );
    let input = "(01)09506000134352(7003)2012251030(10)B(8006)095060001343520102";
    let es = ElementString::parse_bracketed_with(input, PairingRules::Skip).expect("valid");
    assert_eq!(
        es.to_gs(None),
        "0109506000134352".to_owned() + "70032012251030\u{1d}10B\u{1d}8006095060001343520102"
    );
    // (8006) excludes (01): refused when pairings are enforced.
    assert_eq!(
        ElementString::parse_bracketed(input),
        Err(IdentError::ExcludedAiPair {
            ai: "8006".into(),
            other: "01".into()
        })
    );
}

#[test]
fn syntax_engine_bracketed_and_scanned_examples() {
    // Syntax Engine scandata.c test_scandata_generateScanData, with (99) as (400).
    let es = bracketed("(01)12312312312333(10)ABC123(400)TESTING");
    assert_eq!(
        es.to_gs(Some(Symbology::QrCode)),
        "]Q3011231231231233310ABC123\u{1d}400TESTING"
    );
    assert_eq!(
        es.to_gs(Some(Symbology::DotCode)),
        "]J1011231231231233310ABC123\u{1d}400TESTING"
    );
    // A trailing FNC1 is tolerated on input.
    assert_eq!(
        ElementString::parse_gs("]d2011231231231233310ABC123\u{1d}400TESTING\u{1d}"),
        Ok(es)
    );
}

#[test]
fn healthcare_reimbursement_numbers() {
    // (710)-(715) national healthcare reimbursement numbers require (01).
    let es = bracketed("(01)09506000134352(714)AIM123(21)S1");
    assert_eq!(es.get("714"), Some("AIM123"));
    assert!(matches!(
        ElementString::parse_bracketed("(710)PZN123"),
        Err(IdentError::MissingRequiredAi { ai, .. }) if ai == "710"
    ));
}

// --- GS1 Digital Link ---------------------------------------------------------------------

#[test]
fn digital_link_standard_examples() {
    // DL URI Syntax 1.2 examples, as reproduced in Syntax Engine dl.c test_dl_parseDLuri.
    let cases = [
        ("https://id.gs1.org/01/09520123456788", "(01)09520123456788"),
        ("https://id.gs1.org/01/09520123456788/22/2A", "(01)09520123456788(22)2A"),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC123",
            "(01)09520123456788(10)ABC123",
        ),
        (
            "https://id.gs1.org/01/09520123456788/21/12345",
            "(01)09520123456788(21)12345",
        ),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426",
            "(01)09520123456788(10)ABC1(21)12345(17)180426",
        ),
        ("https://id.gs1.org/00/952012345678912345", "(00)952012345678912345"),
        (
            "https://id.gs1.org/00/952012345678912345?02=09520123456788&37=25&10=ABC123",
            "(00)952012345678912345(02)09520123456788(37)25(10)ABC123",
        ),
        ("https://id.gs1.org/414/9520123456788", "(414)9520123456788"),
        (
            "https://id.gs1.org/414/9520123456788/254/32a%2Fb",
            "(414)9520123456788(254)32a/b",
        ),
        (
            "https://example.com/8004/9520614141234567?01=09520123456788",
            "(8004)9520614141234567(01)09520123456788",
        ),
        (
            "https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123",
            "(01)09520123456788(235)XYZ(10)ABC123",
        ),
        (
            "https://a/8018/123456789012345675/8019/123",
            "(8018)123456789012345675(8019)123",
        ),
    ];
    for (uri, expected) in cases {
        let dl = DigitalLink::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(dl.elements().to_bracketed(), expected, "{uri}");
        assert_eq!(dl.to_string(), uri, "{uri} written back");
    }
}

#[test]
fn digital_link_brief_example() {
    // The form the medicines issue names: an expiry date as a query attribute.
    let dl = DigitalLink::parse("https://id.gs1.org/01/09506000134352/10/ABC/21/123456?17=201225").expect("valid");
    assert_eq!(
        dl.elements().to_gs(None),
        "010950600013435210ABC\u{1d}21123456\u{1d}17201225"
    );
    assert_eq!(dl.primary_key().value(), "09506000134352");
    assert_eq!(dl.qualifiers().len(), 2);
    assert_eq!(dl.attributes()[0].ai().code(), "17");
}

#[test]
fn digital_link_domains_stems_and_query_shapes() {
    // Syntax Engine dl.c test_dl_parseDLuri: accepted shapes.
    let ok = [
        ("http://a/00/006141411234567890", "(00)006141411234567890"),
        ("HTTP://a/00/006141411234567890", "(00)006141411234567890"),
        ("HTTPS://a/00/006141411234567890", "(00)006141411234567890"),
        ("https://xn--fsq.xn--0zwm56d/01/12312312312333", "(01)12312312312333"),
        ("https://a./01/12312312312333", "(01)12312312312333"),
        ("https://a:65535/01/12312312312333", "(01)12312312312333"),
        ("https://192.0.2.1/01/12312312312333", "(01)12312312312333"),
        ("https://[2001:db8::1]/01/12312312312333", "(01)12312312312333"),
        ("https://a/stem/00/006141411234567890", "(00)006141411234567890"),
        ("https://a/more/stem/00/006141411234567890", "(00)006141411234567890"),
        ("https://a/00/faux/00/006141411234567890", "(00)006141411234567890"),
        (
            "https://a/01/12312312312333/22/TEST/10/ABC/21/XYZ",
            "(01)12312312312333(22)TEST(10)ABC(21)XYZ",
        ),
        ("https://a/01/12312312312333/235/TEST", "(01)12312312312333(235)TEST"),
        ("https://a/stem/00/006141411234567890?", "(00)006141411234567890"),
        (
            "https://a/stem/00/006141411234567890?400=ABC",
            "(00)006141411234567890(400)ABC",
        ),
        (
            "https://a/01/12312312312333?&&&400=ABC&&&&&&17=201225&&&",
            "(01)12312312312333(400)ABC(17)201225",
        ),
        (
            "https://a/01/12312312312333?singleton1&unknown1=555&400=ABC&singleton2&17=201225&x=7",
            "(01)12312312312333(400)ABC(17)201225",
        ),
        (
            "https://a/01/12312312312333/22/ABC%2d123?400=ABC&240=XYZ%2f987",
            "(01)12312312312333(22)ABC-123(400)ABC(240)XYZ/987",
        ),
        (
            "https://a/01/12312312312333/22/ABC+123?400=ABC",
            "(01)12312312312333(22)ABC+123(400)ABC",
        ),
        (
            "https://a/01/12312312312333/22/test/10/abc/21/xyz#fragment",
            "(01)12312312312333(22)test(10)abc(21)xyz",
        ),
        (
            "https://a/stem/00/006141411234567890?400=ABC#",
            "(00)006141411234567890(400)ABC",
        ),
        // Zero-suppressed GTINs (DL 1.1 examples such as
        // https://brand.example.com/01/9520123456788) are padded to GTIN-14.
        ("https://a/01/2112345678900", "(01)02112345678900"),
        ("https://a/01/416000336108", "(01)00416000336108"),
        ("https://a/01/02345673", "(01)00000002345673"),
        (
            "https://brand.example.com/some-extra/pathinfo/01/9520123456788",
            "(01)09520123456788",
        ),
    ];
    for (uri, expected) in ok {
        let dl = DigitalLink::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(dl.elements().to_bracketed(), expected, "{uri}");
    }
    let dl = DigitalLink::parse("https://a/more/stem/00/006141411234567890?linkType=gs1:pip&x").expect("valid");
    assert_eq!(dl.stem(), "https://a/more/stem");
    assert_eq!(dl.param("linkType"), Some("gs1:pip"));
    assert_eq!(dl.param("x"), Some(""));
    assert_eq!(
        dl.to_string(),
        "https://a/more/stem/00/006141411234567890?linkType=gs1:pip&x"
    );
}

#[test]
fn digital_link_refusals() {
    // Syntax Engine dl.c test_dl_parseDLuri: refused shapes ((99) written as (400)).
    type Expect = fn(&IdentError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("", |e| *e == IdentError::Empty),
        ("ftp://", |e| *e == IdentError::BadScheme),
        ("HtTp://a/b/00/006141411234567890", |e| *e == IdentError::BadScheme),
        ("http:///", |e| matches!(e, IdentError::BadDomain { .. })),
        ("http://a", |e| *e == IdentError::NoPrimaryKey),
        ("http://a/", |e| *e == IdentError::NoPrimaryKey),
        ("http://a/b", |e| *e == IdentError::NoPrimaryKey),
        ("https://00/006141411234567890", |e| *e == IdentError::NoPrimaryKey),
        ("https://[fe80::1%25lo]/01/12312312312333", |e| {
            matches!(e, IdentError::BadDomain { found: '%', .. })
        }),
        ("https://$a/006141411234567890", |e| {
            matches!(e, IdentError::BadDomain { position: 8, .. })
        }),
        ("https://a/01/12312312312333<bad", |e| {
            matches!(e, IdentError::BadUriCharacter { found: '<', .. })
        }),
        ("https://a/01/12312312312333{bad", |e| {
            matches!(e, IdentError::BadUriCharacter { .. })
        }),
        ("https://a/01/12312312312333^bad", |e| {
            matches!(e, IdentError::BadUriCharacter { .. })
        }),
        ("https://a/01/12312312312333`bad", |e| {
            matches!(e, IdentError::BadUriCharacter { .. })
        }),
        ("https://a/stem/00/006141411234567890/", |e| {
            *e == IdentError::TrailingSlash
        }),
        ("https://a/01/12312312312333/10/", |e| *e == IdentError::TrailingSlash),
        (
            "https://a/01/12312312312333?400=",
            |e| matches!(e, IdentError::EmptyValue { ai, .. } if ai == "400"),
        ),
        (
            "https://a/01/12312312312333?400=ABC&999=faux",
            |e| matches!(e, IdentError::UnknownAi { ai, .. } if ai == "999"),
        ),
        (
            "https://a/01/12312312312333/22/ABC%2d123?400=ABC&240=XYZ+987",
            |e| matches!(e, IdentError::BadCharacter { ai, found: ' ', .. } if ai == "240"),
        ),
        (
            "https://example.com/01/09520123456788?10=ABC123",
            |e| matches!(e, IdentError::BelongsInPath { ai } if ai == "10"),
        ),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC123?400=XYZ789&01=09520123456788",
            |e| matches!(e, IdentError::DuplicateAi { ai } if ai == "01"),
        ),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC123?400=XYZ789&400=XYZ789",
            |e| matches!(e, IdentError::DuplicateAi { ai } if ai == "400"),
        ),
        (
            "https://example.com/01/09520123456788/89/ABC123?400=XYZ",
            |e| matches!(e, IdentError::UnknownAi { ai, .. } if ai == "89"),
        ),
        (
            "https://example.com/01/09520123456788?400=XYZ&89=ABC123",
            |e| matches!(e, IdentError::UnknownAi { ai, .. } if ai == "89"),
        ),
        ("https://a/01//12312312312333", |e| *e == IdentError::NoPrimaryKey),
        (
            "https://a/01/1231231231233%003",
            |e| matches!(e, IdentError::ValueTooLong { ai, len: 15, .. } if ai == "01"),
        ),
        (
            "https://a/01/123123123123%003",
            |e| matches!(e, IdentError::BadCharacter { ai, found: '\0', position: 25, .. } if ai == "01"),
        ),
        ("https://a/01/12312312312333?400=ABC%00DEF", |e| {
            matches!(e, IdentError::BadCharacter { found: '\0', .. })
        }),
        (
            "https://a/01/12312312312333/10/A/22/B",
            |e| matches!(e, IdentError::BadKeyQualifierSequence { ai, position: 33, .. } if ai == "22"),
        ),
        (
            "https://a/01/12312312312333?21=S",
            |e| matches!(e, IdentError::NotDataAttribute { ai } if ai == "21"),
        ),
        ("https://a/01/12312312312334", |e| {
            matches!(
                e,
                IdentError::BadCheckDigit {
                    expected: '3',
                    found: '4',
                    ..
                }
            )
        }),
    ];
    for (uri, expect) in cases {
        match DigitalLink::parse(uri) {
            Ok(dl) => panic!("{uri} parsed as {dl}"),
            Err(e) => assert!(expect(&e), "{uri}: unexpected {e:?}"),
        }
    }
}

#[test]
fn digital_link_generation() {
    // Syntax Engine dl.c test_dl_generateDLuri, (99)/(95) written as (400)/(240).
    let cases = [
        (
            DigitalLink::DEFAULT_STEM,
            "(01)12312312312326(21)abc123",
            "https://id.gs1.org/01/12312312312326/21/abc123",
        ),
        (
            "https://example.com",
            "(01)12312312312326(22)ABC(10)DEF(21)GHI",
            "https://example.com/01/12312312312326/22/ABC/10/DEF/21/GHI",
        ),
        (
            "https://example.com",
            "(01)12312312312326(22)ABC(10)DEF(21)GHI(240)INT",
            "https://example.com/01/12312312312326/22/ABC/10/DEF/21/GHI?240=INT",
        ),
        (
            "https://example.com",
            "(21)XYZ(01)12312312312333(10)ABC123(400)XYZ",
            "https://example.com/01/12312312312333/10/ABC123/21/XYZ?400=XYZ",
        ),
        (
            "https://example.com",
            "(01)12312312312333(10)ABC+123(400)XYZ+QWERTY",
            "https://example.com/01/12312312312333/10/ABC%2B123?400=XYZ%2BQWERTY",
        ),
        (
            "https://example.com",
            "(8018)795260646688514634(400)000001(8003)01234567890128",
            "https://example.com/8018/795260646688514634?400=000001&8003=01234567890128",
        ),
        (
            "https://example.com",
            "(01)12312312312326(01)12312312312326(10)ABC123(400)XYZ789",
            "https://example.com/01/12312312312326/10/ABC123?400=XYZ789",
        ),
        (
            "https://example.com/",
            "(01)12312312312326",
            "https://example.com/01/12312312312326",
        ),
        (
            "https://example.com/some/prefix",
            "(414)9520123456788(254)32a/b",
            "https://example.com/some/prefix/414/9520123456788/254/32a%2Fb",
        ),
    ];
    for (stem, es, expected) in cases {
        let es = ElementString::parse_bracketed(es).unwrap_or_else(|e| panic!("{es}: {e}"));
        assert_eq!(es.to_digital_link(stem).as_deref(), Ok(expected), "{es}");
    }
    // The Syntax Engine asserts only that these fail. On a tie between qualifier lists the
    // first, (22) (10) (21), wins, as in the engine's sorted search, so (235) is the misfit.
    for (es, ai) in [
        ("(01)12312312312326(235)TPX9526064(400)000001(22)ABC(240)INT", "235"),
        ("(01)12312312312326(22)ABC(10)DEF(400)000001(235)TPX9526064", "235"),
        ("(01)12312312312326(235)ABC(10)DEF", "235"),
    ] {
        let es = ElementString::parse_bracketed(es).unwrap_or_else(|e| panic!("{es}: {e}"));
        assert_eq!(
            es.to_digital_link("https://example.com"),
            Err(IdentError::NotDataAttribute { ai: ai.into() }),
            "{es}"
        );
    }
    // No primary key.
    let es = bracketed("(400)XYZ789");
    assert_eq!(es.to_digital_link("https://example.com"), Err(IdentError::NoPrimaryKey));
    // A parsed URI keeps its chosen path even where generation would choose otherwise.
    let uri = "https://example.com/01/12312312312326/235/ABC?10=DEF";
    assert_eq!(DigitalLink::parse(uri).map(|d| d.to_string()), Ok(uri.into()));
    // Stems.
    for stem in ["example.com", "ftp://x", "https://", "https://a?b", "https://a b"] {
        assert!(
            matches!(es.to_digital_link(stem), Err(IdentError::BadStem { .. })),
            "{stem}"
        );
    }
    let dl = DigitalLink::from_elements(&bracketed("(01)09506000134352"), DigitalLink::DEFAULT_STEM)
        .and_then(|d| d.with_param("linkType", "gs1:pip"));
    assert_eq!(
        dl.map(|d| d.to_string()),
        Ok("https://id.gs1.org/01/09506000134352?linkType=gs1:pip".into())
    );
}

// --- EPC URIs -----------------------------------------------------------------------------

#[test]
fn tds_sgtin_examples() {
    // TDS §7 (SGTIN) worked example: (01)80614141123458 (21)6789AB with a 7-digit company
    // prefix is urn:epc:id:sgtin:0614141.812345.6789AB (the indicator digit 8 moves behind
    // the company prefix, the check digit goes).
    let uri = EpcUri::parse("urn:epc:id:sgtin:0614141.812345.6789AB").expect("valid");
    let expected = EpcUri::Sgtin {
        gtin: Gtin::parse("80614141123458").expect("valid"),
        serial: Serial::parse("6789AB").expect("valid"),
        company_prefix_len: cp(7),
    };
    assert_eq!(uri, expected);
    assert_eq!(
        uri.to_elements().map(|e| e.to_bracketed()),
        Ok("(01)80614141123458(21)6789AB".into())
    );
    let es = bracketed("(01)80614141123458(21)6789AB");
    assert_eq!(EpcUri::instance_from_elements(&es, cp(7)), Ok(uri.clone()));
    assert_eq!(uri.company_prefix(), "0614141");

    // TDS §6.3.1 example URI urn:epc:id:sgtin:0614141.112345.400: indicator 1, so GTIN
    // 10614141123459. (The medicines issue paired this URI with 80614141123458, which is the
    // §7 GTIN above; the check digit arithmetic settles it.)
    let uri = EpcUri::parse("urn:epc:id:sgtin:0614141.112345.400").expect("valid");
    assert_eq!(
        uri.to_elements().map(|e| e.to_bracketed()),
        Ok("(01)10614141123459(21)400".into())
    );
    assert_eq!(uri.to_string(), "urn:epc:id:sgtin:0614141.112345.400");
}

#[test]
fn tds_sgtin_escaped_serial() {
    // TDS §6.3.1: serial 32a/b is written 32a%2Fb.
    let uri = EpcUri::parse("urn:epc:id:sgtin:0614141.112345.32a%2Fb").expect("valid");
    let EpcUri::Sgtin { serial, .. } = &uri else {
        panic!("{uri:?}")
    };
    assert_eq!(serial.as_str(), "32a/b");
    assert_eq!(uri.to_string(), "urn:epc:id:sgtin:0614141.112345.32a%2Fb");
    // Serials may contain dots and the other legal punctuation, unescaped.
    let uri = EpcUri::Sgtin {
        gtin: Gtin::parse("10614141123459").expect("valid"),
        serial: Serial::parse("b!'()*+,-.:;=_\"%&<>?").expect("valid"),
        company_prefix_len: cp(7),
    };
    let text = uri.to_string();
    assert_eq!(text, "urn:epc:id:sgtin:0614141.112345.b!'()*+,-.:;=_%22%25%26%3C%3E%3F");
    assert_eq!(EpcUri::parse(&text), Ok(uri));
}

#[test]
fn tds_sscc_examples() {
    // TDS §7 (SSCC) worked example: (00)106141411234567897 with a 7-digit company prefix is
    // urn:epc:id:sscc:0614141.1123456789 (extension digit 1 leads the serial reference).
    let uri = EpcUri::parse("urn:epc:id:sscc:0614141.1123456789").expect("valid");
    assert_eq!(
        uri,
        EpcUri::Sscc {
            sscc: Sscc::parse("106141411234567897").expect("valid"),
            company_prefix_len: cp(7),
        }
    );
    // TDS §6.3.2 example URI urn:epc:id:sscc:0614141.1234567890 is SSCC 106141412345678908.
    let uri = EpcUri::parse("urn:epc:id:sscc:0614141.1234567890").expect("valid");
    assert_eq!(
        uri.to_elements().map(|e| e.to_bracketed()),
        Ok("(00)106141412345678908".into())
    );
    assert_eq!(uri.to_string(), "urn:epc:id:sscc:0614141.1234567890");
}

#[test]
fn tds_sgln_examples() {
    // TDS §6.3.3: urn:epc:id:sgln:0614141.12345.400 is GLN 0614141123452 with extension 400;
    // extension 0 means none.
    let uri = EpcUri::parse("urn:epc:id:sgln:0614141.12345.400").expect("valid");
    assert_eq!(
        uri,
        EpcUri::Sgln {
            gln: Gln::parse("0614141123452").expect("valid"),
            extension: Some(GlnExtension::parse("400").expect("valid")),
            company_prefix_len: cp(7),
        }
    );
    assert_eq!(
        uri.to_elements().map(|e| e.to_bracketed()),
        Ok("(414)0614141123452(254)400".into())
    );
    let plain = EpcUri::parse("urn:epc:id:sgln:0614141.12345.0").expect("valid");
    assert_eq!(
        plain.to_elements().map(|e| e.to_bracketed()),
        Ok("(414)0614141123452".into())
    );
    assert_eq!(plain.to_string(), "urn:epc:id:sgln:0614141.12345.0");
    // A 12-digit company prefix leaves an empty location reference.
    let long = EpcUri::parse("urn:epc:id:sgln:061414112345..0").expect("valid");
    assert_eq!(long.to_string(), "urn:epc:id:sgln:061414112345..0");
}

#[test]
fn tds_class_uris() {
    // TDS §6.4.1 (EPC Class): urn:epc:class:lgtin:4012345.012345.998877 is GTIN
    // 04012345123456, lot 998877; and the SGTIN pattern of the same GTIN.
    let lgtin = EpcUri::parse("urn:epc:class:lgtin:4012345.012345.998877").expect("valid");
    assert_eq!(
        lgtin,
        EpcUri::Lgtin {
            gtin: Gtin::parse("04012345123456").expect("valid"),
            lot: Lot::parse("998877").expect("valid"),
            company_prefix_len: cp(7),
        }
    );
    let es = bracketed("(01)04012345123456(10)998877(17)261231");
    assert_eq!(EpcUri::class_from_elements(&es, cp(7)), Ok(lgtin));
    let pattern = EpcUri::parse("urn:epc:idpat:sgtin:4012345.012345.*").expect("valid");
    assert_eq!(
        EpcUri::class_from_elements(&bracketed("(01)04012345123456"), cp(7)),
        Ok(pattern.clone())
    );
    assert_eq!(pattern.to_string(), "urn:epc:idpat:sgtin:4012345.012345.*");
    assert!(matches!(
        EpcUri::parse("urn:epc:idpat:sgtin:4012345.*.*"),
        Err(IdentError::EpcNotDigits { .. })
    ));
}

#[test]
fn epc_and_digital_link_via_the_element_string() {
    // github.com/RalphTro/gs1-epc-digitallink-translator README:
    // urn:epc:id:sgtin:4012345.011111.987 <-> https://id.gs1.org/01/04012345111118/21/987.
    let dl = DigitalLink::parse("https://id.gs1.org/01/04012345111118/21/987").expect("valid");
    let epc = EpcUri::from_digital_link(&dl, cp(7)).expect("sgtin");
    assert_eq!(epc.to_string(), "urn:epc:id:sgtin:4012345.011111.987");
    assert_eq!(
        epc.to_digital_link(DigitalLink::DEFAULT_STEM).map(|d| d.to_string()),
        Ok("https://id.gs1.org/01/04012345111118/21/987".into())
    );
    // SSCC and SGLN the same way.
    let dl = DigitalLink::parse("https://id.gs1.org/00/106141411234567897").expect("valid");
    assert_eq!(
        EpcUri::from_digital_link(&dl, cp(7)).map(|e| e.to_string()),
        Ok("urn:epc:id:sscc:0614141.1123456789".into())
    );
    let dl = DigitalLink::parse("https://id.gs1.org/414/0614141123452/254/400").expect("valid");
    assert_eq!(
        EpcUri::from_digital_link(&dl, cp(7)).map(|e| e.to_string()),
        Ok("urn:epc:id:sgln:0614141.12345.400".into())
    );
    // A GTIN without a serial names no instance.
    let dl = DigitalLink::parse("https://id.gs1.org/01/04012345111118/10/L1").expect("valid");
    assert!(matches!(
        EpcUri::from_digital_link(&dl, cp(7)),
        Err(IdentError::MissingKey { .. })
    ));
}

#[test]
fn epc_uri_serde_is_the_uri_text() {
    let uri = EpcUri::parse("urn:epc:id:sgtin:0614141.112345.400").expect("valid");
    let json = serde_json::to_string(&uri).expect("serialises");
    assert_eq!(json, "\"urn:epc:id:sgtin:0614141.112345.400\"");
    assert_eq!(serde_json::from_str::<EpcUri>(&json).ok(), Some(uri));
    assert!(serde_json::from_str::<EpcUri>("\"urn:epc:id:sgtin:0614141.112345.\"").is_err());
}

#[test]
fn element_constructors_check_values() {
    assert!(Element::parse("17", "201225").is_ok());
    assert!(matches!(
        Element::parse("17", "201332"),
        Err(IdentError::BadDateTime { .. })
    ));
    assert!(matches!(Element::parse("99", "X"), Err(IdentError::UnknownAi { .. })));
}
