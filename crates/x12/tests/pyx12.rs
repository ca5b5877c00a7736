//! Validation by a strict third-party X12 validator: pyx12's `x12valid` (the 5010 maps of
//! 835 X221A1, 837P X222A1, 837I X223A2 and 999 X231A1). Every 835 the tests emit, the
//! example 837s, and the 999s we answer them with must pass it.
//!
//! Needs `x12valid` on the PATH: `pip install pyx12` (the version the project pins is in
//! `crates/x12/tests/data/README.md`).

mod common;

use std::path::Path;
use std::process::Command;

use medledger_x12::{ReplyControl, check};

fn x12valid(files: &[std::path::PathBuf]) {
    let output = match Command::new("x12valid").args(files).output() {
        Ok(output) => output,
        Err(error) => panic!(
            "x12valid (pyx12) is not installed or not on the PATH ({error}); install it with `pip install pyx12==4.0.0`"
        ),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The verdict is read from the output, not the exit status: pyx12 4.0.0's console script
    // exits with 1 even when every file is OK (its entry point returns `True`).
    for file in files {
        let verdict = format!("{}: OK", file.display());
        assert!(
            stderr.contains(&verdict),
            "x12valid did not pass {}:\n{stdout}\n{stderr}",
            file.display()
        );
    }
    // pyx12 cannot build its own 999 for a set without ST03 (the 835 guide does not use
    // ST03): it logs "Failed to create 999 response" after validating. That is not a
    // finding about the file; every other ERROR line is.
    let findings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" ERROR ") && !l.contains("Failed to create 999 response"))
        .collect();
    assert!(
        findings.is_empty() && !stderr.contains("Failure"),
        "x12valid reported errors:\n{stderr}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write to the temporary directory");
    path
}

#[test]
fn every_835_we_emit_passes_x12valid() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let files: Vec<_> = common::emitted_835s()
        .iter()
        .map(|(name, text)| write(dir.path(), &format!("{name}.835"), text))
        .collect();
    assert!(files.len() >= 5);
    x12valid(&files);
}

#[test]
fn the_example_837s_and_our_999s_for_them_pass_x12valid() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut files = Vec::new();
    for name in ["837p_example.x12", "837p_dependent_replacement.x12", "837i_example.x12"] {
        let bytes = std::fs::read(data.join(name)).expect("example file");
        // A copy: x12valid writes its own acknowledgement beside each file it reads.
        files.push(write(dir.path(), name, &String::from_utf8_lossy(&bytes)));
        let reply = ReplyControl {
            interchange_control: 900,
            group_control: 900,
            date: "20260105".into(),
            time: "1300".into(),
        };
        let ack = check(&bytes).to_x12(&reply).expect("999");
        files.push(write(dir.path(), &format!("{name}.999"), &ack));
    }
    x12valid(&files);
}

#[test]
fn x12valid_catches_a_broken_835() {
    // A canary: the harness above must be able to fail. CAS01 `XX` is no adjustment group.
    let (_, text) = &common::emitted_835s()[0];
    let broken = text.replacen("CAS*CO*", "CAS*XX*", 1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = write(dir.path(), "broken.835", &broken);
    let verdict = std::panic::catch_unwind(|| x12valid(std::slice::from_ref(&file)));
    assert!(verdict.is_err(), "x12valid accepted an 835 with CAS01 XX");
}

/// The 999s listing errors. (TA1-only replies, to a rejected interchange, are left out:
/// X12.5 allows an interchange holding only a TA1, but pyx12's control map requires a GS
/// loop in every interchange. Our own reader checks those replies in `envelope_errors.rs`.)
#[test]
fn our_999s_for_broken_837s_pass_x12valid() {
    let example = include_str!("data/837p_example.x12");
    let broken = [
        ("se_count", example.replacen("SE*29*", "SE*30*", 1)),
        ("ge_count", example.replacen("GE*1*", "GE*2*", 1)),
        ("hl_parent", example.replacen("HL*2*1*22*0~", "HL*2*3*22*0~", 1)),
        ("replacement_without_ref_f8", example.replacen("11:B:1*", "11:B:7*", 1)),
        (
            "bad_npi_and_amount",
            example
                .replacen("XX*1234567893~", "XX*1234567890~", 1)
                .replacen("*100*UN*", "*1O0*UN*", 1),
        ),
        (
            "missing_billing_provider",
            example.replacen("NM1*85*2*RIVERSIDE CLINIC*****XX*1234567893~\n", "", 1),
        ),
    ];
    let dir = tempfile::tempdir().expect("temporary directory");
    let reply = ReplyControl {
        interchange_control: 901,
        group_control: 901,
        date: "20260105".into(),
        time: "1300".into(),
    };
    let files: Vec<_> = broken
        .iter()
        .map(|(name, text)| {
            let ack = check(text.as_bytes());
            assert!(!ack.accepted(), "{name} was accepted");
            write(dir.path(), &format!("{name}.999"), &ack.to_x12(&reply).expect("reply"))
        })
        .collect();
    x12valid(&files);
}
