//! Merkle proofs from the wire: `InclusionProof` and `ConsistencyProof` decoding never
//! panics, and neither does verifying whatever decodes against hashes taken from the
//! input. Input layout: two 32-byte hashes, then the encoded proof.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_merkle::{ConsistencyProof, InclusionProof};
use medledger_types::Hash32;
use medledger_types::codec::{Decode, Encode};

fn hash_at(data: &[u8], at: usize) -> Hash32 {
    let mut h = [0u8; 32];
    if let Some(src) = data.get(at..at + 32) {
        h.copy_from_slice(src);
    }
    Hash32(h)
}

fuzz_target!(|data: &[u8]| {
    let a = hash_at(data, 0);
    let b = hash_at(data, 32);
    let proof = data.get(64..).unwrap_or_default();

    if let Ok(p) = InclusionProof::decode(proof) {
        assert_eq!(
            p.encode(),
            proof,
            "accepted a non-canonical inclusion proof"
        );
        // `a` as the leaf hash, `b` as the root; the result does not matter, a panic does.
        let _ = p.verify(&a, &b);
        let _ = p.verify(&a, &a);
    }
    if let Ok(p) = ConsistencyProof::decode(proof) {
        assert_eq!(
            p.encode(),
            proof,
            "accepted a non-canonical consistency proof"
        );
        let _ = p.verify(&a, &b);
        let _ = p.verify(&b, &b);
    }
    // The whole input as a proof too, so the fuzzer need not learn the 64-byte prefix.
    if let Ok(p) = InclusionProof::decode(data) {
        let _ = p.verify(&a, &b);
    }
    if let Ok(p) = ConsistencyProof::decode(data) {
        let _ = p.verify(&a, &b);
    }
});
