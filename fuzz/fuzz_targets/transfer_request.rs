//! The custodian's parser of node-to-node transfer requests (`parse_request`), on the
//! claims of a request token: arbitrary bytes as JSON. Never panics; whatever it accepts
//! keeps the documented bounds (1 to `MAX_BATCH` items, valid types and ids, versions
//! from 1, notes of 1 to 500 bytes, one reader per item, issuer and readers of the form
//! `<org>/<member>`), and the accepted claims re-serialise to a value that parses to the
//! same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_custody::{MAX_BATCH, parse_request};

/// `transfer::MAX_NOTE` is private; the bound is documented on `FetchItem::note`.
const MAX_NOTE: usize = 500;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(req) = parse_request(value) else { return };
    let c = &req.claims;
    assert!((1..=MAX_BATCH).contains(&c.items.len()), "{} items", c.items.len());
    assert_eq!(req.readers.len(), c.items.len(), "one reader per item");
    assert!((1..=64).contains(&c.jti.len()));
    assert_eq!(
        c.iss,
        format!("{}/{}", req.issuer.0, req.issuer.1),
        "the issuer is exactly <org>/<member>"
    );
    // The key is the one the text names (hex digits of either case).
    assert_eq!(req.enc.to_string(), c.enc.to_ascii_lowercase());
    for (item, (org, member)) in c.items.iter().zip(&req.readers) {
        assert!(medledger_ledger::records::valid_type(&item.resource_type));
        assert!(medledger_ledger::records::valid_id(&item.id));
        assert!(item.version >= 1);
        if let Some(note) = &item.note {
            assert!((1..=MAX_NOTE).contains(&note.len()), "a {}-byte note", note.len());
        }
        assert_eq!(
            item.sub,
            format!("{org}/{member}"),
            "the reader is exactly <org>/<member>"
        );
    }
    let again = serde_json::to_value(c).expect("accepted claims serialise");
    let reparsed = parse_request(again).expect("re-serialised claims parse");
    assert_eq!(reparsed, req);
});
