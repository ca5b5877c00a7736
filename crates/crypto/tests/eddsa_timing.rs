//! Per-signature cost of verification: ed25519-dalek's `verify_batch` (the batch path before
//! the one rule) against ours, and the single checks. Prints figures, asserts only that the
//! signatures verify. Run in release:
//! `cargo test --release -p medledger-crypto --test eddsa_timing -- --ignored --nocapture`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use medledger_crypto::{Keypair, SigItem, verify, verify_batch};
use medledger_types::{PublicKey, Signature};

const SIGNATURES: usize = 1000;
const RUNS: usize = 7;

/// The fastest of `RUNS` runs, per signature.
fn per_signature(mut run: impl FnMut() -> bool) -> Duration {
    let best = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            assert!(black_box(run()));
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    best / SIGNATURES as u32
}

/// The old `verify_batch`: each distinct key decompressed once, then ed25519-dalek's batch.
fn dalek_batch(items: &[SigItem<'_>]) -> bool {
    let mut decompressed = BTreeMap::new();
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        let key = *decompressed
            .entry(item.key)
            .or_insert_with(|| ed25519_dalek::VerifyingKey::from_bytes(item.key.as_bytes()).unwrap());
        assert!(!key.is_weak());
        keys.push(key);
    }
    let msgs: Vec<&[u8]> = items.iter().map(|i| i.msg).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.sig.0))
        .collect();
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

fn measure(label: &str, signers: usize) {
    let keys: Vec<Keypair> = (0..signers)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let msgs: Vec<Vec<u8>> = (0..SIGNATURES)
        .map(|i| format!("transaction {i:>120}").into_bytes())
        .collect();
    let signed: Vec<(PublicKey, Signature)> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (keys[i % signers].public(), keys[i % signers].sign(m)))
        .collect();
    let items: Vec<SigItem<'_>> = signed
        .iter()
        .zip(&msgs)
        .map(|((key, sig), msg)| SigItem { key, msg, sig })
        .collect();

    let dalek = per_signature(|| dalek_batch(&items));
    let ours = per_signature(|| verify_batch(&items).is_ok());
    let single = per_signature(|| items.iter().all(|i| verify(i.key, i.msg, i.sig).is_ok()));
    let strict = per_signature(|| {
        items.iter().all(|i| {
            let key = ed25519_dalek::VerifyingKey::from_bytes(i.key.as_bytes()).unwrap();
            key.verify_strict(i.msg, &ed25519_dalek::Signature::from_bytes(&i.sig.0))
                .is_ok()
        })
    });
    println!(
        "{label}: {SIGNATURES} signatures, best of {RUNS} runs, per signature: \
         ed25519-dalek verify_batch {dalek:?}, ours verify_batch {ours:?} ({:.2}x), \
         ours verify {single:?}, ed25519-dalek verify_strict {strict:?}",
        ours.as_secs_f64() / dalek.as_secs_f64()
    );
}

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn batch_verification_cost() {
    measure("every signer distinct", SIGNATURES);
    measure("10 signers", 10);
}
