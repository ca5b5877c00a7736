//! `medledger_contracts::abi::decode` (contract input, output, facts and state values) on
//! arbitrary bytes: never panics, stays within its limits, and whatever it accepts is the
//! canonical encoding (re-encodes to exactly the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_contracts::abi::{self, AbiLimits};

fuzz_target!(|data: &[u8]| {
    let limits = AbiLimits { max_bytes: 4096, max_depth: 4, max_values: 256 };
    if let Ok(values) = abi::decode(data, &limits) {
        assert!(data.len() <= limits.max_bytes);
        assert_eq!(abi::encode(&values), data, "accepted a non-canonical ABI encoding");
    }
});
