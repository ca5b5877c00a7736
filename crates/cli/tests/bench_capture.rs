//! The EPCIS capture bench on a four-validator network: its documents pass every check of
//! `POST /epcis/capture` and are committed, and it reports its figures.

mod common;

#[test]
fn the_capture_bench_commits_what_it_posts() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ok(&[
        "bench",
        "--epcis-capture",
        "--step-seconds",
        "3",
        "--signers",
        "2",
        "--events-per-doc",
        "10",
        "--dir",
        dir.path().join("bench").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.contains("documents of 10 commissioning events"), "{out}");
    let json = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
    // A refused document (schema, CBV, a clone) or a job that never ends counts as failed.
    assert_eq!(v["failed"], 0, "{out}");
    assert!(v["documents_per_sec"].as_f64().unwrap() > 0.0, "{out}");
    assert!(
        v["events_per_sec"].as_f64().unwrap() >= 10.0 * v["documents_per_sec"].as_f64().unwrap() - 1e-6,
        "{out}"
    );
}
