//! Each envelope and claim error is answered by a 999 or TA1 naming it, with its segment
//! position and code. The example 837P's segments, by position in the interchange:
//! 1 ISA, 2 GS, 3 ST, 4 BHT, 5 NM1*41, 7 NM1*40, 8 HL*1, 10 NM1*85, 14 HL*2, 16 NM1*IL,
//! 20 NM1*PR, 21 CLM, 22 HI, 25 LX, 26 SV1, 27 DTP, 28 LX, 31 SE, 32 GE, 33 IEA.
//! Positions in the set are two less (ST is 1).

use medledger_x12::envelope::{GroupError, InterchangeError, SetError};
use medledger_x12::error::{ElementCode, SegmentCode};
use medledger_x12::syntax::SyntaxError;
use medledger_x12::{Ack, ReplyControl, check};

const EXAMPLE_837P: &str = include_str!("data/837p_example.x12");

fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE_837P.contains(from), "{from:?} is not in the example");
    EXAMPLE_837P.replacen(from, to, 1)
}

fn without_line(prefix: &str) -> String {
    let kept: Vec<&str> = EXAMPLE_837P.lines().filter(|l| !l.starts_with(prefix)).collect();
    assert_eq!(
        kept.len() + 1,
        EXAMPLE_837P.lines().count(),
        "exactly one {prefix:?} line"
    );
    kept.join("\n")
}

/// The example without one claim segment, SE01 adjusted so only the claim error remains.
fn without_claim_segment(prefix: &str) -> String {
    without_line(prefix).replacen("SE*29*", "SE*28*", 1)
}

fn reply(ack: &Ack) -> String {
    let control = ReplyControl {
        interchange_control: 5,
        group_control: 5,
        date: "20260105".into(),
        time: "1300".into(),
    };
    let text = ack.to_x12(&control).expect("the reply renders");
    // The reply itself is a well-formed interchange.
    let reread = check(text.as_bytes());
    assert!(reread.accepted(), "our reply does not read back:\n{reread}\n{text}");
    text
}

fn ta1(ack: &Ack) -> (&InterchangeError, String) {
    assert!(!ack.accepted());
    let error = ack.interchange_errors.first().expect("an interchange error");
    (error, reply(ack))
}

#[test]
fn the_unedited_example_gets_a_999_accepting_it() {
    let ack = check(EXAMPLE_837P.as_bytes());
    assert!(ack.accepted(), "{ack}");
    let text = reply(&ack);
    for segment in [
        "AK1*HC*101*005010X222A1~",
        "AK2*837*0001*005010X222A1~",
        "IK5*A~",
        "AK9*A*1*1*1~",
        "SE*6*0001~",
    ] {
        assert!(text.contains(segment), "{segment} missing from\n{text}");
    }
    assert!(!text.contains("TA1"), "no TA1 unless asked (ISA14 0) or rejected");
}

#[test]
fn an_isa_that_is_not_106_characters_gets_a_ta1() {
    let ack = check(edited("*ZZ*SUBMITTER01    *", "*ZZ*SUBMITTER01   *").as_bytes());
    let (error, text) = ta1(&ack);
    assert_eq!(
        error,
        &InterchangeError::Syntax(SyntaxError::IsaFieldWidth {
            element: 6,
            expected: 15,
            found: 14
        })
    );
    assert_eq!((error.position(), error.ta1_note()), (Some(1), "006"));
    assert!(
        text.contains("TA1*000000000*260105*1253*R*006~") || text.contains("*R*006~"),
        "{text}"
    );
    assert!(
        !text.contains("GS*FA"),
        "a rejected interchange gets the TA1 only:\n{text}"
    );

    let short = check(&EXAMPLE_837P.as_bytes()[..80]);
    assert_eq!(
        short.interchange_errors[0],
        InterchangeError::Syntax(SyntaxError::IsaTooShort { found: 80 })
    );
    assert_eq!(short.interchange_errors[0].ta1_note(), "023");
}

#[test]
fn bad_delimiters_get_a_ta1() {
    // ISA16, the component separator, the same as the element separator.
    let ack = check(edited("*T*:~", "*T**~").as_bytes());
    let (error, text) = ta1(&ack);
    assert!(
        matches!(error, InterchangeError::Syntax(SyntaxError::DuplicateDelimiter { .. })),
        "{error}"
    );
    assert_eq!(error.ta1_note(), "027");
    assert!(text.contains("TA1*000000101*260105*1253*R*027~"), "{text}");

    // A letter as the segment terminator.
    let ack = check(edited("*T*:~", "*T*:X").as_bytes());
    let (error, _) = ta1(&ack);
    assert_eq!(error.ta1_note(), "004", "{error}");

    // A letter as the element separator: the ISA cannot even be split.
    let ack = check(EXAMPLE_837P.replace('*', "A").as_bytes());
    let (error, _) = ta1(&ack);
    assert_eq!(error.ta1_note(), "026", "{error}");
}

#[test]
fn a_wrong_se_count_gets_ik5_code_4() {
    let ack = check(edited("SE*29*0001~", "SE*30*0001~").as_bytes());
    let set = &ack.groups[0].sets[0];
    assert_eq!(
        set.errors,
        vec![SetError::SegmentCount {
            position: 31,
            declared: "30".into(),
            actual: 29
        }]
    );
    let text = reply(&ack);
    assert!(text.contains("IK5*R*4~") && text.contains("AK9*R*1*1*0~"), "{text}");
}

#[test]
fn a_wrong_ge_count_gets_ak9_code_5() {
    let ack = check(edited("GE*1*101~", "GE*2*101~").as_bytes());
    let group = &ack.groups[0];
    assert_eq!(
        group.errors,
        vec![GroupError::SetCount {
            position: 32,
            declared: "2".into(),
            actual: 1
        }]
    );
    let text = reply(&ack);
    assert!(text.contains("AK9*R*2*1*0*5~"), "{text}");
}

#[test]
fn a_wrong_iea_count_gets_ta1_note_021() {
    let ack = check(edited("IEA*1*", "IEA*2*").as_bytes());
    let (error, text) = ta1(&ack);
    assert_eq!(
        error,
        &InterchangeError::GroupCount {
            position: 33,
            declared: "2".into(),
            actual: 1
        }
    );
    assert!(text.contains("TA1*000000101*260105*1253*R*021~"), "{text}");
}

#[test]
fn mismatched_control_numbers_are_named_at_each_level() {
    let ack = check(edited("SE*29*0001~", "SE*29*0002~").as_bytes());
    assert_eq!(ack.groups[0].sets[0].errors[0].ik5_code(), "3");
    assert!(reply(&ack).contains("IK5*R*3~"));

    let ack = check(edited("GE*1*101~", "GE*1*102~").as_bytes());
    assert_eq!(
        ack.groups[0].errors[0],
        GroupError::ControlMismatch {
            position: 32,
            header: "101".into(),
            trailer: "102".into()
        }
    );
    assert!(reply(&ack).contains("AK9*R*1*1*0*4~"));

    let ack = check(edited("IEA*1*000000101~", "IEA*1*000000102~").as_bytes());
    let (error, text) = ta1(&ack);
    assert_eq!((error.position(), error.ta1_note()), (Some(33), "001"));
    assert!(text.contains("*R*001~"), "{text}");
}

#[test]
fn missing_envelope_segments_are_named() {
    let ack = check(without_line("SE*").as_bytes());
    assert_eq!(
        ack.groups[0].sets[0].errors,
        vec![SetError::TrailerMissing { position: 31 }]
    );
    assert!(reply(&ack).contains("IK5*R*2~"));

    let ack = check(without_line("GE*").as_bytes());
    assert_eq!(ack.groups[0].errors, vec![GroupError::TrailerMissing { position: 32 }]);
    assert!(reply(&ack).contains("AK9*R*1*1*0*3~"));

    let ack = check(without_line("IEA*").as_bytes());
    let (error, text) = ta1(&ack);
    assert_eq!(error, &InterchangeError::IeaMissing { position: 33 });
    assert!(text.contains("*R*023~"), "{text}");
}

#[test]
fn missing_claim_segments_get_ik3_code_3() {
    let ack = check(without_claim_segment("NM1*85*").as_bytes());
    let errors = &ack.groups[0].sets[0].segment_errors;
    assert_eq!(errors.len(), 1, "{ack}");
    let e = &errors[0];
    assert_eq!(
        (e.segment_id.as_str(), e.position_in_set, e.loop_id, e.code),
        ("NM1", 6, Some("2010AA"), SegmentCode::RequiredMissing)
    );
    let text = reply(&ack);
    assert!(text.contains("IK3*NM1*6**3~") && text.contains("IK5*R*5~"), "{text}");

    let ack = check(without_claim_segment("BHT*").as_bytes());
    let e = &ack.groups[0].sets[0].segment_errors[0];
    assert_eq!(
        (e.segment_id.as_str(), e.position_in_set, e.code),
        ("BHT", 2, SegmentCode::RequiredMissing)
    );
    assert!(!ack.accepted());
}

#[test]
fn an_hl_with_the_wrong_parent_gets_ik3_and_ik4() {
    let ack = check(edited("HL*2*1*22*0~", "HL*2*3*22*0~").as_bytes());
    let e = &ack.groups[0].sets[0].segment_errors[0];
    assert_eq!(
        (e.segment_id.as_str(), e.position_in_set, e.position, e.loop_id),
        ("HL", 12, 14, Some("2000B"))
    );
    assert_eq!(e.code, SegmentCode::HasElementErrors);
    assert_eq!(
        (e.elements[0].element, e.elements[0].reference, e.elements[0].code),
        (2, 734, ElementCode::PatternMismatch)
    );
    let text = reply(&ack);
    assert!(
        text.contains("IK3*HL*12**8~") && text.contains("IK4*2*734*I12*3~"),
        "{text}"
    );

    // A subscriber that says a patient HL follows when none does.
    let ack = check(edited("HL*2*1*22*0~", "HL*2*1*22*1~").as_bytes());
    let codes: Vec<_> = ack.groups[0].sets[0]
        .segment_errors
        .iter()
        .map(|e| (e.segment_id.clone(), e.code))
        .collect();
    assert!(codes.contains(&("HL".into(), SegmentCode::HasElementErrors)), "{ack}");
}

#[test]
fn a_replacement_claim_without_ref_f8_gets_ik3_code_i6() {
    let ack = check(edited("11:B:1*", "11:B:7*").as_bytes());
    let errors = &ack.groups[0].sets[0].segment_errors;
    assert_eq!(errors.len(), 1, "{ack}");
    let e = &errors[0];
    assert_eq!(
        (e.segment_id.as_str(), e.position_in_set, e.position, e.loop_id),
        ("REF", 19, 21, Some("2300"))
    );
    assert_eq!(e.code, SegmentCode::SituationalMissing);
    assert!(e.reason.contains("REF*F8"), "{}", e.reason);
    assert!(reply(&ack).contains("IK3*REF*19*2300*I6~"));
    let printed = ack.to_string();
    assert!(printed.contains("segment 21") && printed.contains("I6"), "{printed}");

    // A void (8) needs it too; a frequency outside 1/7/8 is an invalid code in CLM05-3.
    assert!(!check(edited("11:B:1*", "11:B:8*").as_bytes()).accepted());
    let ack = check(edited("11:B:1*", "11:B:3*").as_bytes());
    assert!(reply(&ack).contains("IK4*5:3*1325*7*3~"), "{}", reply(&ack));
}

#[test]
fn claim_content_errors_are_reported_with_their_elements() {
    // An NPI with a wrong check digit.
    let ack = check(edited("XX*1234567893~", "XX*1234567890~").as_bytes());
    assert!(reply(&ack).contains("IK3*NM1*8**8~"), "{}", reply(&ack));
    assert!(reply(&ack).contains("IK4*9*67*I12*1234567890~"));

    // A total that is not the sum of the lines.
    let ack = check(edited("CLM*PCN0001*150*", "CLM*PCN0001*151*").as_bytes());
    assert!(reply(&ack).contains("IK4*2*782*I12*151~"), "{}", reply(&ack));

    // An amount that is not a number.
    let ack = check(edited("SV1*HC:99213*100*", "SV1*HC:99213*1O0*").as_bytes());
    assert!(reply(&ack).contains("IK4*2*782*6*1O0~"), "{}", reply(&ack));

    // A segment that is not part of an 837.
    let ack = check(edited("HI*ABK:J069*ABF:R05~", "HI*ABK:J069*ABF:R05~\nZZZ*1~").as_bytes());
    let e = &ack.groups[0].sets[0].errors;
    assert!(
        e.iter().any(|e| e.ik5_code() == "4"),
        "the count is off by one too: {ack}"
    );
    assert!(reply(&ack).contains("IK3*ZZZ*21*2300*6~"), "{}", reply(&ack));
}

#[test]
fn input_that_is_not_x12_gets_a_ta1_without_panicking() {
    for input in [&b""[..], b"hello", b"ISA", &[0xff; 200][..]] {
        let ack = check(input);
        assert!(!ack.accepted());
        reply(&ack);
    }
}

#[test]
fn a_segment_between_sets_breaks_the_control_structure() {
    let ack = check(edited("SE*29*0001~", "SE*29*0001~\nSE*29*0001~").as_bytes());
    let (error, text) = ta1(&ack);
    assert_eq!(
        error,
        &InterchangeError::UnexpectedSegment {
            position: 32,
            id: "SE".into(),
            expected: "ST or GE"
        }
    );
    assert!(text.contains("*R*022~"), "{text}");
}

#[test]
fn the_subscriber_relationship_must_agree_with_the_hierarchy() {
    // SBR02 left out, yet no patient HL follows.
    let ack = check(edited("SBR*P*18*", "SBR*P**").as_bytes());
    let e = &ack.groups[0].sets[0].segment_errors[0];
    assert_eq!((e.segment_id.as_str(), e.position_in_set), ("SBR", 13), "{ack}");
    assert_eq!(
        (e.elements[0].element, e.elements[0].reference, e.elements[0].code),
        (2, 1069, ElementCode::RequiredMissing)
    );
    assert!(reply(&ack).contains("IK3*SBR*13**8~\nIK4*2*1069*1~"), "{}", reply(&ack));
}
