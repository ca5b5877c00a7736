//! Hostile and malformed input: each case gets its own precise error, and nothing panics.

use medledger_gs1::ident::{
    Cset, DigitalLink, ElementString, EpcUri, IdentError, MAX_ELEMENTS, MAX_INPUT_LEN, PairingRules,
};
use proptest::prelude::*;

fn bracketed(s: &str) -> Result<ElementString, IdentError> {
    ElementString::parse_bracketed(s)
}

fn gs(s: &str) -> Result<ElementString, IdentError> {
    ElementString::parse_gs(s)
}

fn ai(s: &str) -> String {
    s.to_string()
}

#[test]
fn truncated_values() {
    assert_eq!(
        bracketed("(01)0950600013435"),
        Err(IdentError::ValueTooShort {
            ai: ai("01"),
            len: 13,
            min: 14
        })
    );
    assert_eq!(
        gs("]d20109506000134352172012"),
        Err(IdentError::ValueTooShort {
            ai: ai("17"),
            len: 4,
            min: 6
        })
    );
    // A fixed-length but FNC1-terminated AI cut short by the next GS.
    assert_eq!(
        gs("010950600013435280060950600013435201\u{1d}10A"),
        Err(IdentError::ValueTooShort {
            ai: ai("8006"),
            len: 16,
            min: 18
        })
    );
    // Missing FNC1: the variable (10) swallows what follows.
    assert_eq!(
        gs("0109506000134352101234567890123456789012"),
        Err(IdentError::ValueTooLong {
            ai: ai("10"),
            len: 22,
            max: 20
        })
    );
    assert_eq!(
        bracketed("(01)09506000134352(10)"),
        Err(IdentError::EmptyValue {
            ai: ai("10"),
            position: 22
        })
    );
}

#[test]
fn bad_check_digits() {
    assert_eq!(
        bracketed("(01)09506000134353"),
        Err(IdentError::BadCheckDigit {
            ai: ai("01"),
            expected: '2',
            found: '3'
        })
    );
    assert_eq!(
        gs("00106141411234567898"),
        Err(IdentError::BadCheckDigit {
            ai: ai("00"),
            expected: '7',
            found: '8'
        })
    );
    assert!(matches!(
        bracketed("(414)0614141123453"),
        Err(IdentError::BadCheckDigit { ai, .. }) if ai == "414"
    ));
    assert!(matches!(
        bracketed("(01)09506000134352(8018)123456789012345676"),
        Err(IdentError::BadCheckDigit { ai, .. }) if ai == "8018"
    ));
}

#[test]
fn wrong_character_set() {
    assert_eq!(
        bracketed("(01)09506000134352(10)AB C"),
        Err(IdentError::BadCharacter {
            ai: ai("10"),
            position: 24,
            found: ' ',
            cset: Cset::Cset82
        })
    );
    assert_eq!(
        gs("010950600013435210AB C"),
        Err(IdentError::BadCharacter {
            ai: ai("10"),
            position: 20,
            found: ' ',
            cset: Cset::Cset82
        })
    );
    assert_eq!(
        bracketed("(01)09506000134352(17)2O1225"),
        Err(IdentError::BadCharacter {
            ai: ai("17"),
            position: 23,
            found: 'O',
            cset: Cset::Numeric
        })
    );
    // Positions stay in input coordinates after a `\(` escape.
    assert_eq!(
        bracketed("(01)09506000134352(10)\\(A~"),
        Err(IdentError::BadCharacter {
            ai: ai("10"),
            position: 25,
            found: '~',
            cset: Cset::Cset82
        })
    );
    assert!(matches!(
        bracketed("(01)09506000134352(10)Ä"),
        Err(IdentError::BadCharacter {
            found: 'Ä',
            position: 22,
            ..
        })
    ));
    // A multi-byte character cut by a predefined length.
    assert!(matches!(
        gs("010950600013435é"),
        Err(IdentError::BadCharacter {
            found: 'é',
            position: 15,
            ..
        })
    ));
    // The textual FNC1 stand-ins are not FNC1.
    assert_eq!(
        gs("0109506000134352^10ABC"),
        Err(IdentError::ExpectedAi { position: 16 })
    );
    assert!(matches!(
        gs("010950600013435210ABC^21X"),
        Err(IdentError::BadCharacter { found: '^', .. })
    ));
}

#[test]
fn bad_dates_and_components() {
    assert!(matches!(
        bracketed("(01)09506000134352(17)201332"),
        Err(IdentError::BadDateTime { ai, position: 22, .. }) if ai == "17"
    ));
    assert!(matches!(
        bracketed("(01)09506000134352(7003)2012252460"),
        Err(IdentError::BadDateTime { ai, position: 30, what: "time HHMI", .. }) if ai == "7003"
    ));
    assert!(matches!(
        bracketed("(8006)095060001343520302"),
        Err(IdentError::BadComponent { ai, position: 20, .. }) if ai == "8006"
    ));
}

#[test]
fn unknown_and_malformed_ais() {
    assert_eq!(
        bracketed("(99)ABC"),
        Err(IdentError::UnknownAi {
            ai: ai("99"),
            position: 1
        })
    );
    assert_eq!(
        gs("]d299ABC"),
        Err(IdentError::UnknownAi {
            ai: ai("99"),
            position: 3
        })
    );
    assert_eq!(
        gs("0109506000134352\u{1d}8200X"),
        Err(IdentError::UnknownAi {
            ai: ai("8200"),
            position: 17
        })
    );
    assert_eq!(gs("A"), Err(IdentError::ExpectedAi { position: 0 }));
    assert_eq!(bracketed("(1"), Err(IdentError::BadBracket { position: 0 }));
    assert_eq!(bracketed("x(10)A"), Err(IdentError::ExpectedAi { position: 0 }));
    assert_eq!(gs("]d1ABC"), Err(IdentError::UnknownSymbology { found: "]d1".into() }));
    assert_eq!(gs("]d2"), Err(IdentError::Empty));
    assert_eq!(gs(""), Err(IdentError::Empty));
    assert_eq!(
        gs("]d2\u{1d}0109506000134352"),
        Err(IdentError::UnexpectedSeparator { position: 3 })
    );
    assert_eq!(
        gs("10A\u{1d}\u{1d}0109506000134352"),
        Err(IdentError::UnexpectedSeparator { position: 4 })
    );
}

#[test]
fn pairing_rules() {
    assert_eq!(
        bracketed("(21)XYZ"),
        Err(IdentError::MissingRequiredAi {
            ai: ai("21"),
            requires: "one of (01), (03), (8006)".into()
        })
    );
    assert_eq!(
        bracketed("(02)09506000134352(37)5"),
        Err(IdentError::MissingRequiredAi {
            ai: ai("37"),
            requires: "one of (00+02), (00+8026)".into()
        })
    );
    // The same data read from one carrier among several.
    assert!(ElementString::parse_bracketed_with("(02)09506000134352(37)5", PairingRules::Skip).is_ok());
    assert_eq!(
        bracketed("(01)09506000134352(21)A(235)B"),
        Err(IdentError::ExcludedAiPair {
            ai: ai("21"),
            other: ai("235")
        })
    );
    assert_eq!(
        bracketed("(01)09506000134352(10)A(10)B"),
        Err(IdentError::ConflictingDuplicate { ai: ai("10") })
    );
}

#[test]
fn huge_inputs() {
    let long = format!("(10){}", "A".repeat(3000));
    let too_long = Err(IdentError::InputTooLong {
        len: long.len(),
        max: MAX_INPUT_LEN,
    });
    assert_eq!(bracketed(&long), too_long);
    assert_eq!(
        gs(&long).map_err(|e| matches!(e, IdentError::InputTooLong { .. })),
        Err(true)
    );
    let uri = format!("https://a/01/09506000134352?400={}", "A".repeat(3000));
    assert!(matches!(DigitalLink::parse(&uri), Err(IdentError::InputTooLong { .. })));
    let urn = format!("urn:epc:id:sgtin:0614141.112345.{}", "A".repeat(3000));
    assert!(matches!(EpcUri::parse(&urn), Err(IdentError::InputTooLong { .. })));
    // Many short elements within the byte limit.
    let many = "(400)A".repeat(MAX_ELEMENTS + 1);
    assert_eq!(bracketed(&many), Err(IdentError::TooManyElements { max: MAX_ELEMENTS }));
    let many = "400A\u{1d}".repeat(MAX_ELEMENTS + 1);
    assert_eq!(gs(&many), Err(IdentError::TooManyElements { max: MAX_ELEMENTS }));
}

#[test]
fn malformed_epc_uris() {
    let cases: &[(&str, IdentError)] = &[
        (
            "urn:epc:id:sgtin:0614141.112345",
            IdentError::EpcComponentCount { expected: 3, found: 2 },
        ),
        (
            "urn:epc:id:sgtin:061414.112345.1",
            IdentError::EpcDigitCount {
                position: 17,
                expected: 13,
                found: 12,
            },
        ),
        (
            "urn:epc:id:sgtin:06141.11234567.1",
            IdentError::CompanyPrefixLength { len: 5 },
        ),
        (
            "urn:epc:id:sgtin:0614141.11234a.1",
            IdentError::EpcNotDigits { position: 30 },
        ),
        (
            "urn:epc:id:sgtin:0614141.112345.a b",
            IdentError::BadCharacter {
                ai: ai("21"),
                position: 33,
                found: ' ',
                cset: Cset::Cset82,
            },
        ),
        (
            "urn:epc:id:sgtin:0614141.112345.%2",
            IdentError::BadPercentEncoding { position: 32 },
        ),
        (
            "urn:epc:id:sgtin:0614141.112345.",
            IdentError::EmptyValue {
                ai: ai("21"),
                position: 32,
            },
        ),
        (
            "urn:epc:id:sgtin:0614141.112345.123456789012345678901",
            IdentError::ValueTooLong {
                ai: ai("21"),
                len: 21,
                max: 20,
            },
        ),
        (
            "urn:epc:id:sscc:0614141.12345678901",
            IdentError::EpcDigitCount {
                position: 16,
                expected: 17,
                found: 18,
            },
        ),
        (
            "urn:epc:id:sscc:0614141.1234567890.1",
            IdentError::EpcComponentCount { expected: 2, found: 3 },
        ),
        (
            "urn:epc:id:sgln:0614141.12345.a b",
            IdentError::BadCharacter {
                ai: ai("254"),
                position: 31,
                found: ' ',
                cset: Cset::Cset82,
            },
        ),
        (
            "urn:epc:id:grai:0614141.12345.400",
            IdentError::UnsupportedEpcUri {
                found: "urn:epc:id:grai:0614141.12345.400".into(),
            },
        ),
        (
            "URN:EPC:ID:SGTIN:0614141.112345.400",
            IdentError::UnsupportedEpcUri {
                found: "URN:EPC:ID:SGTIN:0614141.112345.400".into(),
            },
        ),
        ("", IdentError::Empty),
    ];
    for (uri, expected) in cases {
        assert_eq!(EpcUri::parse(uri).as_ref(), Err(expected), "{uri}");
    }
}

/// Characters that reach deep into the parsers.
fn gs1ish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![
            '0', '1', '2', '4', '7', '8', '9', '(', ')', '\\', '\u{1d}', ']', 'd', 'A', '%', '/', '?', '&', '=', '.',
            ':', '#', '+', 'é', 'h', 't', 'p', 's', 'u', 'r', 'n', 'e', 'c', 'i', 'g',
        ]),
        0..80,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn prefixed() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "",
            "]d2",
            "(01)09506000134352",
            "https://a/01/09506000134352",
            "https://a/",
            "urn:epc:id:sgtin:",
            "urn:epc:id:sgln:0614141.",
            "urn:epc:class:lgtin:",
            "urn:epc:idpat:sgtin:0614141.",
        ]),
        gs1ish(),
    )
        .prop_map(|(p, s)| format!("{p}{s}"))
}

proptest! {
    #[test]
    fn parsers_never_panic(s in prefixed()) {
        let _ = ElementString::parse_gs(&s);
        let _ = ElementString::parse_bracketed(&s);
        let _ = DigitalLink::parse(&s);
        let _ = EpcUri::parse(&s);
    }

    #[test]
    fn parsers_never_panic_on_any_text(s in any::<String>()) {
        let _ = ElementString::parse_gs(&s);
        let _ = ElementString::parse_bracketed(&s);
        let _ = DigitalLink::parse(&s);
        let _ = EpcUri::parse(&s);
    }

    #[test]
    fn what_parses_writes_back_and_reparses(s in prefixed()) {
        if let Ok(es) = ElementString::parse_bracketed_with(&s, PairingRules::Skip) {
            prop_assert_eq!(
                ElementString::parse_bracketed_with(&es.to_bracketed(), PairingRules::Skip),
                Ok(es.clone())
            );
            prop_assert_eq!(
                ElementString::parse_gs_with(&es.to_gs(None), PairingRules::Skip),
                Ok(es)
            );
        }
        if let Ok(dl) = DigitalLink::parse(&s) {
            prop_assert_eq!(DigitalLink::parse(&dl.to_string()), Ok(dl));
        }
        if let Ok(epc) = EpcUri::parse(&s) {
            prop_assert_eq!(EpcUri::parse(&epc.to_string()), Ok(epc));
        }
    }
}
