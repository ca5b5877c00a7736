//! Per-call cost of the 10-rule coverage contract, and of an empty contract (the engine's
//! own floor: a fresh store and instance, fuel, the entry call).
//!
//! `cargo run --release -p medledger-contracts --example overhead [CALLS]`
//!
//! Builds `contracts/examples` with `contracts/build.sh` (run `npm ci --prefix contracts`
//! first), compiles each module once, then times CALLS calls on one thread and prints the
//! mean. It measures; it never fails because the machine is slow.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use medledger_contracts::{Amount, Engine, Limits, MemoryHost, Outcome, Value, abi};

fn main() -> anyhow::Result<()> {
    let calls: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let out = std::env::temp_dir().join("medledger-contracts-overhead");
    let status = Command::new("bash")
        .arg(contracts.join("build.sh"))
        .arg(&out)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "contracts/build.sh failed (run `npm ci --prefix contracts`)"
    );
    let coverage = std::fs::read(out.join("coverage.wasm"))?;

    let engine = Engine::new(Limits::default())?;
    let started = Instant::now();
    let checked = engine.check(&coverage)?;
    println!(
        "check+compile coverage.wasm ({} bytes): {:?}",
        coverage.len(),
        started.elapsed()
    );

    let mut host = MemoryHost::default();
    let int = |i: i64| abi::encode(&[Value::Int(i)]);
    host.facts.insert(
        b"coverage/m1".to_vec(),
        abi::encode(&[Value::Int(18_993), Value::Int(19_357)]),
    );
    host.state.insert(
        b"ded/m1/18993".to_vec(),
        abi::encode(&[Value::Amount(Amount::from_cents(50_000))]),
    );
    host.facts.insert(b"priorauth/m1/70553".to_vec(), int(19_100));
    let input = abi::encode(&[
        Value::Str("claim-1".into()),
        Value::Str("m1".into()),
        Value::Str("70553".into()),
        Value::Int(1),
        Value::Amount(Amount::from_cents(120_000)),
        Value::Int(19_000),
        Value::Int(19_010),
    ]);
    let Outcome::Ok { fuel_used, .. } = engine.call(&checked, "call", &input, &host) else {
        anyhow::bail!("the coverage call did not succeed");
    };
    let per_call = time(calls, || engine.call(&checked, "call", &input, &host));
    println!(
        "coverage call (approved MRI claim, 10 rules, 3 facts/state reads, 3 writes, 1 event): \
         {per_call:.1} µs/call over {calls} calls, {fuel_used} fuel"
    );

    let empty =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 0)))"#)?;
    let empty = engine.check(&empty)?;
    let floor = time(calls, || engine.call(&empty, "call", &[], &host));
    println!("empty contract call (engine floor): {floor:.1} µs/call over {calls} calls");
    Ok(())
}

fn time(calls: u32, mut f: impl FnMut() -> Outcome) -> f64 {
    for _ in 0..calls / 10 {
        std::hint::black_box(f());
    }
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(f());
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
}
