//! Hostile input: whatever the bytes, reading never panics, the reply always renders and is
//! itself a well-formed interchange; limits are enforced with typed errors.

use medledger_x12::amount::{Amount, Quantity};
use medledger_x12::envelope::InterchangeError;
use medledger_x12::syntax::{Limits, SyntaxError};
use medledger_x12::{ReplyControl, check, receive};
use proptest::prelude::*;

const EXAMPLE_837P: &[u8] = include_bytes!("data/837p_example.x12");
const EXAMPLE_837I: &[u8] = include_bytes!("data/837i_example.x12");

fn reply_reads_back(input: &[u8]) {
    let ack = check(input);
    let control = ReplyControl {
        interchange_control: 1,
        group_control: 1,
        date: "20260105".into(),
        time: "1300".into(),
    };
    let text = ack.to_x12(&control).expect("every ack renders");
    let reread = check(text.as_bytes());
    assert!(
        reread.accepted(),
        "reply to {:?} does not read back:\n{reread}\n{text}",
        String::from_utf8_lossy(input)
    );
    let _ = ack.to_string();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        reply_reads_back(&input);
    }

    #[test]
    fn an_edited_example_never_panics(
        institutional in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut input = if institutional { EXAMPLE_837I.to_vec() } else { EXAMPLE_837P.to_vec() };
        for (at, byte) in edits {
            let i = at.index(input.len());
            input[i] = byte;
        }
        if truncate {
            input.truncate(cut.index(input.len()));
        }
        reply_reads_back(&input);
    }

    #[test]
    fn an_example_with_a_segment_repeated_or_dropped_never_panics(
        at in any::<prop::sample::Index>(),
        drop in any::<bool>(),
    ) {
        let text = String::from_utf8_lossy(EXAMPLE_837P);
        let mut lines: Vec<&str> = text.lines().collect();
        let i = at.index(lines.len());
        if drop { lines.remove(i); } else { lines.insert(i, lines[i]); }
        let edited = lines.join("\n");
        reply_reads_back(edited.as_bytes());
        // Every segment is counted somewhere (SE01, GE01, IEA01) or is an envelope
        // segment: no such edit can be accepted, nor yield a claim.
        let receipt = receive(edited.as_bytes(), &Limits::default());
        prop_assert!(!receipt.ack.accepted(), "{}", receipt.ack);
        prop_assert!(receipt.claims.is_empty());
    }

    #[test]
    fn amounts_round_trip(cents in -999_999_999_999_999i64..999_999_999_999_999) {
        let amount = Amount(cents);
        prop_assert_eq!(Amount::parse(&amount.to_string()), Ok(amount));
        let quantity = Quantity(cents);
        prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
    }
}

#[test]
fn limits_are_enforced_with_typed_errors() {
    let small = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let receipt = receive(EXAMPLE_837P, &small);
    assert!(matches!(
        receipt.ack.interchange_errors[0],
        InterchangeError::Syntax(SyntaxError::TooLarge { .. })
    ));
    assert_eq!(receipt.ack.interchange_errors[0].ta1_note(), "024");

    let few = Limits {
        max_segments: 10,
        ..Limits::default()
    };
    let ack = receive(EXAMPLE_837P, &few).ack;
    assert_eq!(
        ack.interchange_errors[0],
        InterchangeError::Syntax(SyntaxError::TooManySegments { limit: 10 })
    );

    let text = String::from_utf8_lossy(EXAMPLE_837P);
    let wide = text.replacen("LX*1~", &format!("LX*1{}~", "*".repeat(100)), 1);
    let ack = check(wide.as_bytes());
    let error = &ack.interchange_errors[0];
    assert_eq!(
        error,
        &InterchangeError::Syntax(SyntaxError::TooManyElements {
            position: 25,
            limit: 64
        })
    );
    assert_eq!(error.position(), Some(25));

    let long = text.replacen("N3*100 MAIN STREET~", &format!("N3*{}~", "A".repeat(2_000)), 1);
    let ack = check(long.as_bytes());
    assert_eq!(
        ack.interchange_errors[0],
        InterchangeError::Syntax(SyntaxError::ElementTooLong {
            position: 11,
            limit: 1_000
        })
    );

    let control = text.replacen("N3*100 MAIN STREET~", "N3*100 MAIN\u{7}STREET~", 1);
    let ack = check(control.as_bytes());
    assert_eq!(
        ack.interchange_errors[0],
        InterchangeError::Syntax(SyntaxError::InvalidCharacter { position: 11, byte: 7 })
    );
}
