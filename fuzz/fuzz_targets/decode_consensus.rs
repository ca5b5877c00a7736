//! Every consensus decoder (network messages, proposal streams, compact proposals, sync
//! requests and responses, WAL entries) on arbitrary bytes: never panics, and whatever it accepts
//! re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_consensus::codec::{Wire, decode, encode};
use medledger_consensus::LedgerContext;

fn roundtrip<T: Wire>(data: &[u8]) {
    if let Ok(v) = decode::<T>(data) {
        assert_eq!(encode(&v), data, "accepted a non-canonical encoding");
    }
}

fuzz_target!(|data: &[u8]| {
    use malachitebft_app_channel::app::consensus::LivenessMsg;
    use malachitebft_app_channel::app::streaming::StreamMessage;
    use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
    use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
    use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 10 {
        0 => roundtrip::<SignedConsensusMsg<LedgerContext>>(rest),
        1 => roundtrip::<LivenessMsg<LedgerContext>>(rest),
        2 => roundtrip::<StreamMessage<medledger_consensus::ProposalPart>>(rest),
        3 => roundtrip::<ValidatorProof<LedgerContext>>(rest),
        4 => roundtrip::<Status<LedgerContext>>(rest),
        5 => roundtrip::<Request<LedgerContext>>(rest),
        6 => roundtrip::<Response<LedgerContext>>(rest),
        7 => roundtrip::<ProposedValue<LedgerContext>>(rest),
        8 => roundtrip::<medledger_consensus::compact::CompactBlock>(rest),
        _ => roundtrip::<PolkaCertificate<LedgerContext>>(rest),
    }
});
