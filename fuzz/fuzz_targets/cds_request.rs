//! `POST /cds-services/{id}` from outside: `cds::request::parse_request` on arbitrary bytes
//! for both hooks, and `cds::order::medication_of` on every resource of an accepted
//! request. Never panics; an accepted request has a valid patient id, at most
//! `MAX_ORDERS` orders, each an entry of the Bundle in order, and every reading within the
//! ledger's bounds (1 to 100,000 units, 1 to 366 days).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::cds::order::medication_of;
use medledger_api::cds::request::{Hook, MAX_ORDERS, parse_request};

fuzz_target!(|data: &[u8]| {
    for hook in [Hook::OrderSign, Hook::OrderSelect] {
        let Ok(req) = parse_request(hook, data) else { continue };
        assert!(medledger_ledger::records::valid_id(&req.patient));
        assert!(req.orders.len() <= MAX_ORDERS);
        assert!(req.orders.windows(2).all(|w| w[0].entry < w[1].entry));
        for o in &req.orders {
            if let Ok((_, quantity, days)) = &o.reading {
                assert!((1..=100_000).contains(quantity));
                assert!((1..=366).contains(days));
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = medication_of(&v);
    }
});
