//! SMART Health Card verifications per second on one thread.
//!
//! `cargo run --release -p medledger-credentials --example verify_bench`
//!
//! Verifies the specification's example card 0 (801-character JWS, four FHIR resources)
//! against the example issuer's key set and a revocation list, over and over on this one
//! thread for about three seconds: each verification does the whole work (header, key
//! lookup, ES256 signature, raw inflate, payload parse, time and revocation checks).
//! It prints the rate; it never fails because the machine is slow.

use medledger_credentials::UnixTime;
use medledger_credentials::shc::{self, Crl, Jwks};
use std::time::{Duration, Instant};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/shc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_owned()
}

fn main() {
    let jws = data("example-00-d-jws.txt");
    let jwks = Jwks::from_json(&data("jwks.json")).expect("key set");
    let crl = Crl::from_json(&data("crl-3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s.json")).expect("revocation list");
    let at = UnixTime(1_730_000_000);
    // Warm up, and make sure the card verifies at all.
    for _ in 0..200 {
        shc::verify(&jws, &jwks, at, Some(&crl)).expect("the example card verifies");
    }
    let budget = Duration::from_secs(3);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            let card = shc::verify(&jws, &jwks, at, Some(&crl));
            std::hint::black_box(&card);
        }
        n += 100;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "SMART Health Card verification: {n} cards in {secs:.2} s on one thread = {:.0} cards/s ({:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
    println!("(example card 0 of the specification, ES256 + raw inflate + payload parse + CRL check)");
}
