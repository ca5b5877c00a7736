//! The engine's guarantees: checks at deploy, metering and limits per call, determinism,
//! and old code versions staying callable.

mod common;

use common::{decode, example, wat_contract};
use medledger_contracts::abi::{self, AbiLimits};
use medledger_contracts::{
    CodeCache, CodeError, Engine, Event, LimitKind, Limits, MemoryHost, Outcome, TrapReason, Value, Write,
};
use proptest::prelude::*;

fn engine() -> Engine {
    Engine::new(Limits::default()).expect("default limits are valid")
}

fn counter_call(engine: &Engine, code: &[u8], host: &MemoryHost, step: i64) -> Outcome {
    let checked = engine.check(code).expect("counter passes check");
    engine.call(&checked, "call", &abi::encode(&[Value::Int(step)]), host)
}

#[test]
fn counter_example_counts_and_emits() {
    let engine = engine();
    let code = example("counter");
    let mut host = MemoryHost::default();
    for expected in [5, 10] {
        let Outcome::Ok {
            output,
            writes,
            events,
            fuel_used,
        } = counter_call(&engine, &code, &host, 5)
        else {
            panic!("counter call failed");
        };
        assert_eq!(decode(&output), vec![Value::Int(expected)]);
        let stored = abi::encode(&[Value::Int(expected)]);
        assert_eq!(
            writes,
            vec![Write {
                key: b"count".to_vec(),
                value: Some(stored.clone())
            }]
        );
        assert_eq!(
            events,
            vec![Event {
                topic: b"counter.incremented".to_vec(),
                data: stored
            }]
        );
        assert!(fuel_used > 0);
        host.apply(&writes);
    }
}

#[test]
fn two_engines_give_byte_identical_outcomes() {
    let code = example("coverage");
    let (a, b) = (engine(), engine());
    let mut host = coverage_host();
    let input = claim("C1", "97110", 3, "135.00", 19_000, 19_010);
    let (ca, cb) = (a.check(&code).expect("check"), b.check(&code).expect("check"));
    assert_eq!(ca.id(), cb.id());
    let first = a.call(&ca, "call", &input, &host);
    assert_eq!(first, b.call(&cb, "call", &input, &host));
    let Outcome::Ok { writes, .. } = &first else {
        panic!("{first:?}")
    };
    assert!(!writes.is_empty());
    // And the same again on the next state.
    host.apply(writes);
    let next = claim("C2", "97110", 1, "45.00", 19_000, 19_010);
    assert_eq!(a.call(&ca, "call", &next, &host), b.call(&cb, "call", &next, &host));
}

#[test]
fn running_out_of_fuel_is_an_outcome_and_the_engine_goes_on() {
    let engine = engine();
    let spin = engine
        .check(&wat_contract("(loop $l (br $l)) (i32.const 0)"))
        .expect("check");
    let host = MemoryHost::default();
    assert_eq!(engine.call(&spin, "call", &[], &host), Outcome::OutOfFuel);
    assert_eq!(engine.call_with_fuel(&spin, "call", &[], &host, 10), Outcome::OutOfFuel);
    assert!(matches!(
        counter_call(&engine, &example("counter"), &host, 1),
        Outcome::Ok { .. }
    ));
}

#[test]
fn host_calls_are_metered_and_bounded() {
    let engine = engine();
    let host = MemoryHost::default();
    // A loop of host calls runs dry even though each iteration is a few instructions…
    let code = wat_contract("(loop $l (drop (call $block_time)) (br $l)) (i32.const 0)");
    let checked = engine.check(&code).expect("check");
    assert_eq!(
        engine.call_with_fuel(&checked, "call", &[], &host, 100_000),
        Outcome::OutOfFuel
    );
    // …and with fuel to spare it stops at the host call limit.
    assert_eq!(
        engine.call(&checked, "call", &[], &host),
        Outcome::LimitExceeded(LimitKind::HostCalls)
    );
}

#[test]
fn growing_memory_past_the_limit_is_a_limit_outcome() {
    let engine = Engine::new(Limits {
        max_memory_pages: 4,
        ..Limits::default()
    })
    .expect("limits");
    let host = MemoryHost::default();
    let grow = |pages: u32| {
        let body = format!("(drop (memory.grow (i32.const {pages}))) (i32.const 0)");
        engine.check(&wat_contract(&body)).expect("check")
    };
    assert!(matches!(engine.call(&grow(3), "call", &[], &host), Outcome::Ok { .. }));
    assert_eq!(
        engine.call(&grow(4), "call", &[], &host),
        Outcome::LimitExceeded(LimitKind::Memory)
    );
    // A module asking for more memory up front is refused at check.
    let big = wat::parse_str(
        r#"(module (memory (export "memory") 5)
        (func (export "call") (result i32) (i32.const 0)))"#,
    )
    .expect("wat");
    assert_eq!(
        engine.check(&big).err(),
        Some(CodeError::MemoryTooLarge { pages: 5, max: 4 })
    );
}

#[test]
fn float_code_is_refused() {
    let code = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "call") (result i32)
              (drop (f64.add (f64.const 1.5) (f64.const 2.25))) (i32.const 0)))"#,
    )
    .expect("wat");
    assert!(
        matches!(engine().check(&code), Err(CodeError::Float(_))),
        "{:?}",
        engine().check(&code)
    );
    let float_param = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func $f (param f32)) (func (export "call") (result i32) (i32.const 0)))"#,
    )
    .expect("wat");
    assert!(matches!(engine().check(&float_param), Err(CodeError::Float(_))));
}

#[test]
fn only_abi_host_functions_may_be_imported() {
    let engine = engine();
    let module = |imports: &str| {
        wat::parse_str(format!(
            r#"(module {imports} (memory (export "memory") 1)
                (func (export "call") (result i32) (i32.const 0)))"#
        ))
        .expect("wat")
    };
    let refused = [
        r#"(import "env" "abort" (func (param i32 i32 i32 i32)))"#,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        r#"(import "medledger" "random" (func (result i64)))"#,
    ];
    for import in refused {
        assert!(
            matches!(engine.check(&module(import)), Err(CodeError::UnknownImport { .. })),
            "{import}"
        );
    }
    let imported_memory = wat::parse_str(
        r#"(module (import "medledger" "mem" (memory 1)) (export "memory" (memory 0))
            (func (export "call") (result i32) (i32.const 0)))"#,
    )
    .expect("wat");
    assert!(matches!(
        engine.check(&imported_memory),
        Err(CodeError::UnknownImport { .. })
    ));
    let wrong_type = module(r#"(import "medledger" "block_time" (func (result i32)))"#);
    assert_eq!(
        engine.check(&wrong_type).err(),
        Some(CodeError::ImportSignature {
            name: "block_time".into()
        })
    );
    let no_entry = wat::parse_str(r#"(module (memory (export "memory") 1))"#).expect("wat");
    assert_eq!(engine.check(&no_entry).err(), Some(CodeError::MissingExport("call")));
    let no_memory = wat::parse_str(r#"(module (func (export "call") (result i32) (i32.const 0)))"#).expect("wat");
    assert_eq!(engine.check(&no_memory).err(), Some(CodeError::MissingExport("memory")));
    assert!(matches!(
        engine.check(b"\0asm\x01\0\0\0\x99"),
        Err(CodeError::Invalid(_))
    ));
    let small = Engine::new(Limits {
        max_code_bytes: 8,
        ..Limits::default()
    })
    .expect("limits");
    assert!(matches!(
        small.check(&example("counter")),
        Err(CodeError::TooLarge { .. })
    ));
}

#[test]
fn bad_pointers_from_a_contract_trap_without_a_host_panic() {
    let engine = engine();
    let host = MemoryHost::default();
    let bodies = [
        "(call $output_write (i32.const 65530) (i32.const 100)) (i32.const 0)",
        "(call $output_write (i32.const -1) (i32.const 2)) (i32.const 0)",
        "(call $state_set (i32.const 0) (i32.const 3) (i32.const 70000) (i32.const 1)) (i32.const 0)",
        "(call $input_read (i32.const 65536)) (i32.const 0)",
        "(call $abort (i32.const 99999) (i32.const 4)) (i32.const 0)",
        "(drop (call $state_get (i32.const 0) (i32.const 3) (i32.const 65535) (i32.const 8))) (i32.const 0)",
    ];
    let state = MemoryHost {
        state: [(b"key".to_vec(), b"value".to_vec())].into(),
        ..MemoryHost::default()
    };
    for body in bodies {
        let checked = engine.check(&wat_contract(body)).expect("check");
        let outcome = engine.call(&checked, "call", b"in", &state);
        assert_eq!(outcome, Outcome::Trap(TrapReason::BadPointer), "{body}");
    }
    // A length of -1 is 4 GiB: the key limit refuses it before any copy.
    let huge = wat_contract("(call $state_delete (i32.const 0) (i32.const -1)) (i32.const 0)");
    let checked = engine.check(&huge).expect("check");
    assert_eq!(
        engine.call(&checked, "call", &[], &host),
        Outcome::LimitExceeded(LimitKind::KeySize)
    );
}

#[test]
fn storage_limits_per_call() {
    let limits = Limits {
        max_writes: 3,
        max_write_bytes: 40,
        max_value_bytes: 16,
        ..Limits::default()
    };
    let engine = Engine::new(limits).expect("limits");
    let host = MemoryHost::default();
    let run = |body: &str| engine.call(&engine.check(&wat_contract(body)).expect("check"), "call", &[], &host);
    let set = "(call $state_set (i32.const 0) (i32.const 3) (i32.const 4) (i32.const 5))";
    assert!(matches!(
        run(&format!("{set} {set} {set} (i32.const 0)")),
        Outcome::Ok { .. }
    ));
    assert_eq!(
        run(&format!("{set} {set} {set} {set} (i32.const 0)")),
        Outcome::LimitExceeded(LimitKind::Writes)
    );
    let big_value = "(call $state_set (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 17)) (i32.const 0)";
    assert_eq!(run(big_value), Outcome::LimitExceeded(LimitKind::ValueSize));
    let sixteen = "(call $state_set (i32.const 0) (i32.const 16) (i32.const 0) (i32.const 16))";
    assert_eq!(
        run(&format!("{sixteen} {sixteen} (i32.const 0)")),
        Outcome::LimitExceeded(LimitKind::WriteBytes)
    );
    let event = "(call $emit_event (i32.const 10) (i32.const 5) (i32.const 16) (i32.const 4))";
    let engine_events = Engine::new(Limits {
        max_events: 1,
        ..Limits::default()
    })
    .expect("limits");
    let two_events = engine_events
        .check(&wat_contract(&format!("{event} {event} (i32.const 0)")))
        .expect("check");
    assert_eq!(
        engine_events.call(&two_events, "call", &[], &host),
        Outcome::LimitExceeded(LimitKind::Events)
    );
    let too_much_input = vec![0; Limits::default().max_input_bytes + 1];
    let ok = engine.check(&wat_contract("(i32.const 0)")).expect("check");
    assert_eq!(
        engine.call(&ok, "call", &too_much_input, &host),
        Outcome::LimitExceeded(LimitKind::Input)
    );
}

#[test]
fn a_failed_call_writes_nothing() {
    let engine = engine();
    let host = MemoryHost::default();
    let set = "(call $state_set (i32.const 0) (i32.const 3) (i32.const 4) (i32.const 5))";
    let emit = "(call $emit_event (i32.const 10) (i32.const 5) (i32.const 16) (i32.const 4))";
    let out = "(call $output_write (i32.const 0) (i32.const 3))";
    let reverted = engine
        .check(&wat_contract(&format!("{set} {emit} {out} (i32.const 7)")))
        .expect("check");
    let Outcome::Reverted { status, output, .. } = engine.call(&reverted, "call", &[], &host) else {
        panic!("expected a revert")
    };
    assert_eq!((status, output.as_slice()), (7, &b"key"[..]));
    let aborted = engine
        .check(&wat_contract(&format!(
            "{set} (call $abort (i32.const 4) (i32.const 5)) (i32.const 0)"
        )))
        .expect("check");
    assert_eq!(
        engine.call(&aborted, "call", &[], &host),
        Outcome::Trap(TrapReason::Abort("value".into()))
    );
    let trapped = engine
        .check(&wat_contract(&format!("{set} unreachable")))
        .expect("check");
    assert!(matches!(
        engine.call(&trapped, "call", &[], &host),
        Outcome::Trap(TrapReason::Wasm(_))
    ));
    assert_eq!(
        engine.call(&trapped, "nope", &[], &host),
        Outcome::Trap(TrapReason::NoEntry("nope".into()))
    );
}

#[test]
fn state_reads_see_the_calls_own_writes_and_deletes() {
    let engine = engine();
    let host = MemoryHost {
        state: [(b"key".to_vec(), b"old".to_vec())].into(),
        block_time_s: 1_700_000_000,
        ..MemoryHost::default()
    };
    // Delete "key", then state_get must say absent (-1); return that as the status + 1 (= 0).
    let body = "(call $state_delete (i32.const 0) (i32.const 3))
        (i32.add (call $state_get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 8)) (i32.const 1))";
    let checked = engine.check(&wat_contract(body)).expect("check");
    let Outcome::Ok { writes, .. } = engine.call(&checked, "call", &[], &host) else {
        panic!()
    };
    assert_eq!(
        writes,
        vec![Write {
            key: b"key".to_vec(),
            value: None
        }]
    );
    let time = "(i32.wrap_i64 (i64.sub (call $block_time) (i64.const 1700000000)))";
    let checked = engine.check(&wat_contract(time)).expect("check");
    assert!(matches!(engine.call(&checked, "call", &[], &host), Outcome::Ok { .. }));
}

#[test]
fn an_upgrade_keeps_old_versions_rerunnable() {
    let engine = engine();
    let mut cache = CodeCache::new(8);
    let v1 = example("counter");
    // v2 adds the input twice: a new version with its own id.
    let v2 = wat_contract("(call $state_set (i32.const 0) (i32.const 3) (i32.const 4) (i32.const 5)) (i32.const 0)");
    let host = MemoryHost::default();
    let input = abi::encode(&[Value::Int(3)]);
    let c1 = cache.get_or_check(&engine, &v1).expect("v1");
    let before = engine.call(&c1, "call", &input, &host);
    let c2 = cache.get_or_check(&engine, &v2).expect("v2");
    assert_ne!(c1.id(), c2.id());
    assert_ne!(engine.call(&c2, "call", &input, &host), before);
    // Re-running v1 by its id, after v2 is deployed, gives the recorded outcome again.
    let again = cache.get(&c1.id()).expect("v1 still cached");
    assert_eq!(engine.call(again, "call", &input, &host), before);
    assert_eq!(cache.len(), 2);
    // Also from a cold cache and a new engine: nothing depends on what ran before.
    let fresh = Engine::new(Limits::default()).expect("limits");
    let recompiled = CodeCache::new(1).get_or_check(&fresh, &v1).expect("v1");
    assert_eq!(fresh.call(&recompiled, "call", &input, &host), before);
}

/// The coverage host of `tests/coverage.rs`, reduced: one member covered in 2022.
fn coverage_host() -> MemoryHost {
    let mut host = MemoryHost::default();
    host.facts.insert(
        b"coverage/m1".to_vec(),
        abi::encode(&[Value::Int(18_993), Value::Int(19_357)]),
    );
    host
}

fn claim(id: &str, code: &str, units: i64, billed: &str, service: i64, submitted: i64) -> Vec<u8> {
    abi::encode(&[
        Value::Str(id.into()),
        Value::Str("m1".into()),
        Value::Str(code.into()),
        Value::Int(units),
        common::amount(billed),
        Value::Int(service),
        Value::Int(submitted),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_check_or_decode(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = engine().check(&bytes);
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(&bytes);
        let _ = engine().check(&wasm);
        if let Ok(values) = abi::decode(&bytes, &AbiLimits::default()) {
            prop_assert_eq!(abi::encode(&values), bytes);
        }
    }

    #[test]
    fn encode_then_decode_is_identity(ints in proptest::collection::vec(any::<i64>(), 0..8), s in ".{0,20}") {
        let values = vec![
            Value::List(ints.iter().map(|&i| Value::Int(i)).collect()),
            Value::Str(s),
            Value::Amount(medledger_contracts::Amount::from_cents(ints.first().copied().unwrap_or(0))),
        ];
        prop_assert_eq!(abi::decode(&abi::encode(&values), &AbiLimits::default()), Ok(values));
    }
}
