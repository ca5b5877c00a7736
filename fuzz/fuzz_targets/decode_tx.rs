//! `SignedTx::decode` on arbitrary bytes: never panics, and whatever it accepts is the
//! canonical encoding (re-encodes to exactly the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_types::SignedTx;
use medledger_types::codec::{Decode, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode(data) {
        assert_eq!(
            tx.encode(),
            data,
            "accepted a non-canonical transaction encoding"
        );
        // The hash is over the unsigned part and must not depend on the envelope.
        assert_eq!(tx.hash(), tx.tx.hash());
    }
});
