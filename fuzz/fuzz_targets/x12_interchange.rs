//! The X12 interchange reader on arbitrary bytes: never panics; the acknowledgement always
//! renders, and the rendered 999/TA1 is itself an interchange our reader accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_x12::syntax::Limits;
use medledger_x12::{ReplyControl, check, receive};

fuzz_target!(|data: &[u8]| {
    let receipt = receive(data, &Limits::default());
    if !receipt.ack.accepted() {
        assert!(receipt.claims.is_empty(), "claims from a rejected interchange");
    }
    let control = ReplyControl { interchange_control: 1, group_control: 1, date: "20260101".into(), time: "0000".into() };
    let reply = receipt.ack.to_x12(&control).expect("every acknowledgement renders");
    let reread = check(reply.as_bytes());
    assert!(reread.accepted(), "our reply does not read back: {reread}\n{reply}");
    let _ = receipt.ack.to_string();
});
