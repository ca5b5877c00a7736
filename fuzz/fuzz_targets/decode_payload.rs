//! `Payload::decode` on arbitrary bytes: the first two bytes (little endian) are the
//! transaction kind, the rest is the body. Never panics; whatever decodes has the kind
//! it was decoded as, and `body()` re-encodes to exactly the input body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_ledger::Payload;
use medledger_types::TxKind;

fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let kind = TxKind(u16::from_le_bytes(*kind));
    if let Ok(payload) = Payload::decode(kind, body) {
        assert_eq!(payload.kind(), kind);
        assert_eq!(payload.body(), body, "accepted a non-canonical body");
    }
});
