//! Builds the example contracts from source with the AssemblyScript compiler in
//! `contracts/node_modules`, once per test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use medledger_contracts::abi::{self, AbiLimits};
use medledger_contracts::{Amount, Value};

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

fn build_dir() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = contracts_dir();
        assert!(
            dir.join("node_modules/.bin/asc").exists(),
            "the AssemblyScript compiler is missing: run `npm ci --prefix contracts` \
             (or `scripts/test`, which does it for you)"
        );
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("contracts");
        let status = Command::new("bash")
            .arg(dir.join("build.sh"))
            .arg(&out)
            .status()
            .expect("run contracts/build.sh");
        assert!(status.success(), "contracts/build.sh failed");
        out
    })
}

/// The compiled bytes of `contracts/examples/<name>`.
pub fn example(name: &str) -> Vec<u8> {
    let path = build_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A WAT contract with every ABI v1 import, `memory` (1 page, at most `max_pages` when given)
/// and `call` whose body is `body`.
pub fn wat_contract(body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
          (import "medledger" "input_len" (func $input_len (result i32)))
          (import "medledger" "input_read" (func $input_read (param i32)))
          (import "medledger" "output_write" (func $output_write (param i32 i32)))
          (import "medledger" "state_get" (func $state_get (param i32 i32 i32 i32) (result i32)))
          (import "medledger" "state_set" (func $state_set (param i32 i32 i32 i32)))
          (import "medledger" "state_delete" (func $state_delete (param i32 i32)))
          (import "medledger" "fact_get" (func $fact_get (param i32 i32 i32 i32) (result i32)))
          (import "medledger" "emit_event" (func $emit_event (param i32 i32 i32 i32)))
          (import "medledger" "block_time" (func $block_time (result i64)))
          (import "medledger" "abort" (func $abort (param i32 i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "key-value-topic-data")
          (func (export "call") (result i32) {body}))"#
    );
    wat::parse_str(&text).expect("valid WAT")
}

pub fn decode(bytes: &[u8]) -> Vec<Value> {
    abi::decode(bytes, &AbiLimits::default()).expect("canonical output")
}

pub fn amount(s: &str) -> Value {
    Value::Amount(s.parse::<Amount>().expect("amount"))
}
