//! The GS1 identifier parsers on arbitrary text: never panic, and whatever one accepts,
//! written back out and read again, is the same value (element strings in both their
//! scanned and bracketed forms, Digital Link URIs, EPC URNs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_gs1::ident::{DigitalLink, ElementString, EpcUri};

fn element_string_round_trips(parsed: &ElementString) {
    let scanned = parsed.to_gs(None);
    assert_eq!(
        ElementString::parse_gs(&scanned).as_ref(),
        Ok(parsed),
        "scanned form {scanned:?}"
    );
    let bracketed = parsed.to_bracketed();
    assert_eq!(
        ElementString::parse_bracketed(&bracketed).as_ref(),
        Ok(parsed),
        "bracketed form {bracketed:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = ElementString::parse_gs(text) {
        element_string_round_trips(&parsed);
    }
    if let Ok(parsed) = ElementString::parse_bracketed(text) {
        element_string_round_trips(&parsed);
    }
    if let Ok(link) = DigitalLink::parse(text) {
        let written = link.to_string();
        assert_eq!(
            DigitalLink::parse(&written).as_ref(),
            Ok(&link),
            "Digital Link {written:?}"
        );
    }
    if let Ok(uri) = EpcUri::parse(text) {
        let written = uri.to_string();
        assert_eq!(EpcUri::parse(&written).as_ref(), Ok(&uri), "EPC URI {written:?}");
    }
});
