//! `GET /dscsa/verify/01/{gtin}/10/{lot}/21/{serial}?…` from outside: `parse_request` on
//! arbitrary path segments and query strings. Never panics; an accepted request has a
//! GTIN-14, a lot and a serial as the path gave them, a UUID to echo, and an expiry that
//! is a real calendar date.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::dscsa::{Expiry, MAX_QUERY, parse_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Four parts separated by NUL: GTIN, lot, serial, query.
    let mut parts = text.splitn(4, '\0');
    let (gtin, lot, serial) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let query = parts.next().unwrap_or("");
    let today = Expiry::from_ymd(2026, 12, 5);
    let Ok(req) = parse_request(gtin, lot, serial, query, today) else { return };
    assert!(query.len() <= MAX_QUERY);
    assert_eq!(req.gtin.as_str().len(), 14);
    assert!(req.gtin.as_str().ends_with(gtin));
    assert_eq!(req.lot.as_str(), lot);
    assert_eq!(req.serial.as_str(), serial);
    assert_eq!(req.corr_uuid.len(), 36);
    assert!(!req.context.is_empty() && req.context.len() <= 64);
    let (lo, hi) = (Expiry::from_ymd(1976, 1, 1), Expiry::from_ymd(2076, 12, 31));
    assert!(lo <= req.expiry && req.expiry <= hi, "{:?}", req.expiry);
});
