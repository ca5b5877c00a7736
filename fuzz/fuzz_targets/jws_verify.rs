//! `jws::verify_compact` and `jws::verify_compact_any` on arbitrary tokens (client
//! assertions and node-to-node requests come from outside): never panic, and never
//! accept a token not signed by the key (Ed25519, P-384 or RSA).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_crypto::jws::{self, VerifyingKey};
use medledger_crypto::Keypair;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let key = Keypair::from_seed([9; 32]);
    let result = jws::verify_compact(token, 64 * 1024, |_| Some(key.public()));
    // Without the secret key the fuzzer cannot produce a valid signature.
    assert!(result.is_err());
    for k in [
        VerifyingKey::Ed25519(key.public()),
        VerifyingKey::EcP384 { x: vec![3; 48], y: vec![5; 48] },
        VerifyingKey::Rsa { n: vec![0xc5; 256], e: vec![1, 0, 1] },
    ] {
        assert!(jws::verify_compact_any(token, 64 * 1024, |_| Some(k.clone())).is_err());
    }
});
