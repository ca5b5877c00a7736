//! `Block::decode` on arbitrary bytes: never panics, and whatever it accepts is the
//! canonical encoding (re-encodes to exactly the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_types::Block;
use medledger_types::codec::{Decode, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(
            block.encode(),
            data,
            "accepted a non-canonical block encoding"
        );
        assert_eq!(block.header.tx_count as usize, block.txs.len());
    }
});
