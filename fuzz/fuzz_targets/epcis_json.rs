//! `parse_document` on arbitrary bytes as EPCIS JSON-LD: never panics, and every event it
//! accepts has a hash ID, which is the hash of its pre-hash string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_gs1::epcis::{EventHashId, Format, parse_document};

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = parse_document(data, Format::JsonLd) {
        for event in &document.events {
            assert_eq!(event.hash_id(), EventHashId::from_pre_hash(&event.pre_hash_string()));
        }
    }
});
