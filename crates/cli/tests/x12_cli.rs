//! `medledger x12 check`, run as the built binary on the `x12` crate's example
//! interchanges (`crates/x12/tests/data/`, see its README) and broken copies of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../x12/tests/data")
        .join(name)
}

fn medledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(args)
        .output()
        .expect("run medledger")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The example 837P and 837I are accepted: exit 0, the findings, then a 999 that says
/// `A` for the set and the group.
#[test]
fn the_examples_are_accepted_with_a_999() {
    for name in ["837p_example.x12", "837i_example.x12"] {
        let path = example(name);
        let o = medledger(&["x12", "check", path.to_str().unwrap()]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{name}: {out}\n{err}");
        assert!(out.contains("accepted"), "{out}");
        let reply: Vec<&str> = out.lines().filter(|l| l.ends_with('~')).collect();
        assert!(reply.first().is_some_and(|l| l.starts_with("ISA*")), "{out}");
        assert!(reply.iter().any(|l| l.starts_with("ST*999*")), "{out}");
        assert!(reply.iter().any(|l| l.starts_with("IK5*A")), "{out}");
        assert!(reply.iter().any(|l| l.starts_with("AK9*A*1*1*1")), "{out}");
        assert!(reply.last().is_some_and(|l| l.starts_with("IEA*")), "{out}");
    }
}

/// A set whose SE count is wrong is rejected: exit 2, the finding names the SE segment's
/// position and the code (IK5 `R` with error 4, "number of included segments does not
/// match actual count"), and the 999 says so.
#[test]
fn a_wrong_segment_count_is_rejected_with_its_position_and_code() {
    let original = std::fs::read_to_string(example("837p_example.x12")).unwrap();
    let se = original.lines().position(|l| l.starts_with("SE*")).unwrap() + 1;
    let broken: String = original
        .lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("SE*") {
                let (count, tail) = rest.split_once('*').unwrap();
                format!("SE*{}*{tail}\n", count.parse::<u32>().unwrap() + 3)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.x12");
    std::fs::write(&path, broken).unwrap();
    let o = medledger(&["x12", "check", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        out.contains(&format!("segment {se}")),
        "the SE's position ({se}): {out}"
    );
    assert!(out.lines().any(|l| l.starts_with("IK5*R*4")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("AK9*R")), "{out}");
    assert!(err.contains("not accepted"), "{err}");
    // `--print reply` prints only the interchange.
    let o = medledger(&["x12", "check", path.to_str().unwrap(), "--print", "reply"]);
    let (out, _) = text(&o);
    assert!(out.lines().all(|l| l.ends_with('~')), "{out}");
}

/// Not an interchange at all: a TA1 rejecting it, exit 2; a missing file: exit 1.
#[test]
fn garbage_gets_a_ta1_and_a_missing_file_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.x12");
    std::fs::write(&path, b"this is not X12 at all").unwrap();
    let o = medledger(&["x12", "check", path.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(out.lines().any(|l| l.starts_with("TA1*") && l.contains("*R*")), "{out}");
    let o = medledger(&["x12", "check", dir.path().join("absent.x12").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}
