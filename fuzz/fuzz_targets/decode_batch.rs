//! `decode_batch` on arbitrary bytes: never panics, never returns more than `max`
//! transactions, and whatever it accepts re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_types::tx::{decode_batch, encode_batch};

const MAX: usize = 10_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(txs) = decode_batch(data, MAX) {
        assert!(txs.len() <= MAX);
        assert_eq!(
            encode_batch(&txs),
            data,
            "accepted a non-canonical batch encoding"
        );
    }
});
