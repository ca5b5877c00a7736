//! The network bench across an emulated wide-area network: four validator processes whose
//! consensus connections each pass a relay holding every byte 40 ms ± 10 ms one way, with
//! stalls as from lost segments. The network commits, and the bench reports its table.

mod common;

#[test]
fn four_validators_commit_across_a_40_ms_wan() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ok(&[
        "bench",
        "--validators",
        "4",
        "--rates",
        "200",
        "--step-seconds",
        "4",
        "--signers",
        "8",
        "--batch",
        "20",
        "--delay-ms",
        "40",
        "--jitter-ms",
        "10",
        "--loss-percent",
        "0.5",
        "--dir",
        dir.path().join("net").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.contains("WAN between the validators: 40 ms one way"), "{out}");
    let json = out.lines().last().unwrap();
    let steps: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
    let step = &steps[0];
    // Every batch was answered committed (with wait=true), each once durable at the
    // validator that answered; the count is read from the validator furthest ahead.
    assert_eq!(step["failed"], 0, "{out}");
    let committed = step["committed"].as_u64().unwrap();
    assert!(committed >= 720, "only {committed} of 800 committed: {out}");
    // Every block needs a round trip between validators: no step can be faster than the
    // WAN lets it.
    assert!(step["p50_ms"].as_f64().unwrap() >= 80.0, "{out}");
}
