//! `jws::verify_compact` on arbitrary tokens (client assertions and node-to-node requests
//! come from outside): never panics, and never accepts a token not signed by the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_crypto::{Keypair, jws};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let key = Keypair::from_seed([9; 32]);
    let result = jws::verify_compact(token, 64 * 1024, |_| Some(key.public()));
    // Without the secret key the fuzzer cannot produce a valid signature.
    assert!(result.is_err());
});
