//! The dispensing bench on a four-validator network: its prescriptions and dispenses pass
//! every rule of `rx.prescribe` and `rx.dispense`, monitoring raises alerts on the fills,
//! and it reports its figures.

mod common;

#[test]
fn the_dispense_bench_commits_valid_fills_and_counts_their_alerts() {
    let dir = tempfile::tempdir().unwrap();
    // Few patients, so that each gets several fills in a short run.
    let out = common::ok(&[
        "bench",
        "--dispense",
        "--patients",
        "12",
        "--step-seconds",
        "3",
        "--signers",
        "2",
        "--batch",
        "4",
        "--dir",
        dir.path().join("bench").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.contains("12 patients with 60 prescriptions"), "{out}");
    let json = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Every dispense is within its prescription: none is refused, none lost.
    assert_eq!(v["refused"], serde_json::json!({}), "{out}");
    assert_eq!(v["not_committed"], serde_json::json!({}), "{out}");
    let committed = v["committed"].as_u64().unwrap();
    assert!(committed > 0, "{out}");
    assert!(v["dispenses_per_sec"].as_f64().unwrap() > 0.0, "{out}");
    for field in ["p50_ms", "p99_ms", "cpu_ms_per_dispense", "setup_seconds"] {
        assert!(v[field].as_f64().is_some(), "{field}: {out}");
    }
    // Every committed fill is read back; from a patient's third fill on (tramadol, codeine,
    // oxycodone: 60.5 MME/day) monitoring raises alerts.
    assert_eq!(v["alerts"]["fills_read"].as_u64(), Some(committed), "{out}");
    if committed > 2 * 12 {
        assert!(v["alerts"]["by_kind"]["mme_caution"].as_u64().unwrap_or(0) > 0, "{out}");
    }
}
