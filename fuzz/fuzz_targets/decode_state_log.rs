//! `LoggedWrites::decode` (a block's entry in the node's state log, read back from disk at
//! start) on arbitrary bytes: never panics, and whatever it accepts is the canonical
//! encoding (re-encodes to exactly the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_store::dirty::LoggedWrites;
use medledger_types::codec::{Decode, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(writes) = LoggedWrites::decode(data) {
        assert_eq!(writes.encode(), data, "accepted a non-canonical state log entry");
    }
});
