//! RFC 8785 conformance: the RFC's own examples (§3.2.2, §3.2.3), its number serialisation
//! table (Appendix B), and the test data of the RFC author's reference implementations.

use medledger_credentials::jcs::{self, JcsError};
use serde_json::{Value, json};

fn data(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/jcs/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn rfc8785_section_3_2_2_example() {
    let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let v: Value = serde_json::from_str(input).unwrap();
    assert_eq!(
        jcs::canonicalize(&v).unwrap(),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn rfc8785_section_3_2_3_sorting_example() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let v: Value = serde_json::from_str(input).unwrap();
    let out: Value = serde_json::from_str(&jcs::canonicalize(&v).unwrap()).unwrap();
    let canonical = jcs::canonicalize(&v).unwrap();
    // The order of the values, as the RFC lists it.
    let order = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ];
    let positions: Vec<usize> = order.iter().map(|s| canonical.find(s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{canonical}");
    assert_eq!(out, v);
}

#[test]
fn rfc8785_appendix_b_numbers() {
    let table = data("rfc8785-appendix-b.txt");
    let mut n = 0;
    for line in table.lines() {
        let (hex, expected) = line.split_once(' ').unwrap();
        let f = f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
        let mut out = String::new();
        jcs::write_f64(f, &mut out).unwrap();
        assert_eq!(out, expected, "{hex}");
        // The same through a JSON document.
        assert_eq!(jcs::canonicalize(&json!(f)).unwrap(), expected, "{hex}");
        n += 1;
    }
    assert_eq!(n, 24);
    // The table's two non-finite entries are errors.
    for bits in [0x7fff_ffff_ffff_ffffu64, 0x7ff0_0000_0000_0000] {
        let mut out = String::new();
        assert!(matches!(
            jcs::write_f64(f64::from_bits(bits), &mut out),
            Err(JcsError::NotFinite(_))
        ));
    }
}

#[test]
fn reference_implementation_test_data() {
    for name in ["arrays", "french", "structures", "unicode", "values", "weird"] {
        let input: Value = serde_json::from_str(&data(&format!("input/{name}.json"))).unwrap();
        let expected = data(&format!("output/{name}.json"));
        assert_eq!(
            jcs::canonicalize(&input).unwrap(),
            expected.trim_end_matches('\n'),
            "{name}"
        );
    }
}
