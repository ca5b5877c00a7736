use proptest::prelude::*;

use super::*;

fn range(s: &str) -> DateRange {
    parse_fhir_date(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn len(s: &str) -> i64 {
    let r = range(s);
    r.end - r.start
}

/// 2024-03-05T00:00:00Z, checked with Python's datetime.
const MAR5: i64 = 1_709_596_800_000;

#[test]
fn known_instants() {
    assert_eq!(range("1970-01-01").start, 0);
    assert_eq!(range("1970").start, 0);
    assert_eq!(range("2000-01-01T00:00:00Z").start, 946_684_800_000);
    assert_eq!(range("2024-03-05").start, MAR5);
    assert_eq!(range("0001-01-01").start, -62_135_596_800_000);
    assert_eq!(range("9999-12-31T23:59:59.999Z").start, 253_402_300_799_999);
    // Synthea's form, with an offset.
    assert_eq!(range("2015-07-27T05:55:27-04:00").start, 1_437_990_927_000);
    assert_eq!(range("2015-07-27T05:55:27-04:00"), range("2015-07-27T09:55:27Z"));
    assert_eq!(range("1970-01-01T05:00:00+04:00").start, HOUR);
    assert_eq!(range("1970-01-01T00:00:00+14:00").start, -14 * HOUR);
    assert_eq!(range("1970-01-01T00:00:00-13:59").start, 13 * HOUR + 59 * MINUTE);
    assert_eq!(range("1970-01-01T00:00:00-00:00").start, 0);
}

#[test]
fn a_time_without_a_zone_is_utc() {
    assert_eq!(range("2024-03-05T10:00:00"), range("2024-03-05T10:00:00Z"));
    assert_eq!(range("2024-03-05T10:00"), range("2024-03-05T10:00+00:00"));
}

#[test]
fn precision_gives_the_range() {
    assert_eq!(len("2024"), 366 * DAY);
    assert_eq!(len("2023"), 365 * DAY);
    assert_eq!(len("1900"), 365 * DAY);
    assert_eq!(len("2000"), 366 * DAY);
    let months_2023 = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (i, days) in months_2023.iter().enumerate() {
        assert_eq!(len(&format!("2023-{:02}", i + 1)), days * DAY, "month {}", i + 1);
    }
    assert_eq!(len("2024-02"), 29 * DAY);
    assert_eq!(len("1900-02"), 28 * DAY);
    assert_eq!(len("2000-02"), 29 * DAY);
    assert_eq!(
        range("2024-03"),
        DateRange {
            start: range("2024-03-01").start,
            end: range("2024-04-01").start
        }
    );
    assert_eq!(
        range("2024-03-05"),
        DateRange {
            start: MAR5,
            end: MAR5 + DAY
        }
    );
    assert_eq!(
        range("2024-03-05T10:20Z"),
        DateRange {
            start: MAR5 + 10 * HOUR + 20 * MINUTE,
            end: MAR5 + 10 * HOUR + 21 * MINUTE
        }
    );
    assert_eq!(len("2024-03-05T10:20:30Z"), SECOND);
    assert_eq!(range("1970-01-01T00:00:00.5Z"), DateRange { start: 500, end: 600 });
    assert_eq!(range("1970-01-01T00:00:00.50Z"), DateRange { start: 500, end: 510 });
    assert_eq!(range("1970-01-01T00:00:00.500Z"), DateRange { start: 500, end: 501 });
    assert_eq!(
        range("1970-01-01T00:00:00.123456789Z"),
        DateRange { start: 123, end: 124 }
    );
    assert_eq!(range("1970-01-01T00:00:01.07Z"), DateRange { start: 1070, end: 1080 });
}

#[test]
fn a_leap_second_is_the_last_millisecond_of_its_minute() {
    let end_of_day = MAR5 + DAY - 1;
    assert_eq!(
        range("2024-03-05T23:59:60Z"),
        DateRange {
            start: end_of_day,
            end: end_of_day + 1
        }
    );
    assert_eq!(range("2024-03-05T23:59:60.5Z"), range("2024-03-05T23:59:60Z"));
    assert_eq!(range("2024-03-05T23:59:60Z").end, range("2024-03-06").start);
}

#[test]
fn consecutive_days_are_contiguous_over_two_centuries() {
    let (mut y, mut m, mut d) = (1899i64, 1u32, 1u32);
    let mut prev_end = range("1899-01-01").start;
    let mut days = 0i64;
    while y <= 2101 {
        let r = range(&format!("{y:04}-{m:02}-{d:02}"));
        assert_eq!(r.start, prev_end, "{y}-{m}-{d}");
        assert_eq!(r.end - r.start, DAY);
        if (y, m, d) == (1970, 1, 1) {
            assert_eq!(r.start, 0);
        }
        prev_end = r.end;
        days += 1;
        d += 1;
        if d > days_in_month(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    // 1899..=2101 has 203 years, 49 of them leap (1900 and 2100 are not).
    assert_eq!(days, 203 * 365 + 49);
}

#[test]
fn out_of_range_parts_are_named() {
    let table = [
        ("0000", "year"),
        ("2024-00", "month"),
        ("2024-13", "month"),
        ("2024-01-00", "day"),
        ("2024-01-32", "day"),
        ("2023-02-29", "day"),
        ("1900-02-29", "day"),
        ("2024-04-31", "day"),
        ("2024-01-01T24:00:00Z", "hour"),
        ("2024-01-01T24:00Z", "hour"),
        ("2024-01-01T10:60:00Z", "minute"),
        ("2024-01-01T10:00:61Z", "second"),
        ("2024-01-01T10:00:00+15:00", "zone offset"),
        ("2024-01-01T10:00:00+14:30", "zone offset"),
        ("2024-01-01T10:00:00-12:60", "zone offset"),
    ];
    for (bad, part) in table {
        assert_eq!(parse_fhir_date(bad), Err(DateError::OutOfRange(part)), "{bad}");
    }
    for ok in [
        "2024-02-29",
        "2000-02-29",
        "2024-04-30",
        "2024-12-31T23:59:59Z",
        "2024-01-01T00:00:00+14:00",
    ] {
        assert!(parse_fhir_date(ok).is_ok(), "{ok}");
    }
}

#[test]
fn malformed_values_are_refused() {
    for bad in [
        "",
        "24",
        "202",
        "20240",
        "2024-",
        "2024-1",
        "2024-1-01",
        "2024-01-1",
        "2024/01/01",
        "2024-01-01T",
        "2024-01-01T10",
        "2024-01-01T10:",
        "2024-01-01T1:00",
        "2024-01-01T10:00:0",
        "2024-01-01t10:00Z",
        "2024-01-01T10:00:00z",
        "2024-01-01T10:00:00.Z",
        "2024-01-01T10:00:00.",
        "2024-01-01T10:00:00+0500",
        "2024-01-01T10:00:00+05",
        "2024-01-01T10:00:00+05:00:00",
        "2024-01-01T10:00:00ZZ",
        "2024-01-01T10:00:00 Z",
        "2024-01-01Z",
        "2024-01T10:00Z",
        "2024Z",
        " 2024",
        "2024 ",
        "+2024",
        "-2024",
        "\u{ff12}\u{ff10}\u{ff12}\u{ff14}",
        "2024-01-01T10:00:00\u{2212}05:00",
        "x",
    ] {
        assert_eq!(parse_fhir_date(bad), Err(DateError::Syntax), "{bad:?}");
    }
    assert_eq!(parse_fhir_date(&"2".repeat(65)), Err(DateError::TooLong));
}

#[test]
fn errors_never_echo_the_value() {
    for bad in ["1234-56", "2024-01-01T10:00:00+77:77", "secret-2024", "2023-02-29"] {
        let msg = parse_fhir_date(bad).unwrap_err().to_string();
        assert!(!msg.contains(bad), "{msg}");
        assert!(
            !msg.contains("56") && !msg.contains("77") && !msg.contains("secret"),
            "{msg}"
        );
    }
}

#[test]
fn canonical_text_round_trips() {
    let table = [
        ("2024", "2024"),
        ("2024-02", "2024-02"),
        ("2024-03-05", "2024-03-05"),
        ("2024-03-05T10:20", "2024-03-05T10:20Z"),
        ("2024-03-05T10:20:30+01:00", "2024-03-05T09:20:30Z"),
        ("2015-07-27T05:55:27-04:00", "2015-07-27T09:55:27Z"),
        ("1970-01-01T00:00:00.5Z", "1970-01-01T00:00:00.5Z"),
        ("1970-01-01T00:00:00.50Z", "1970-01-01T00:00:00.50Z"),
        ("1970-01-01T00:00:00.1234Z", "1970-01-01T00:00:00.123Z"),
        ("2024-03-05T23:59:60Z", "2024-03-05T23:59:59.999Z"),
        // Midnight in another zone is a minute, not a day.
        ("2024-03-05T00:00+00:00", "2024-03-05T00:00Z"),
        ("2024-03-06T01:00+01:00", "2024-03-06T00:00Z"),
    ];
    for (input, canonical) in table {
        let r = range(input);
        assert_eq!(r.to_fhir().as_deref(), Some(canonical), "{input}");
        assert_eq!(range(canonical), r, "{input}");
    }
    assert_eq!(DateRange::ALL.to_fhir(), None);
    assert_eq!(DateRange { start: 0, end: 7 }.to_fhir(), None);
    assert_eq!(DateRange { start: 0, end: 2 * DAY }.to_fhir(), None);
    assert_eq!(DateRange { start: 5, end: 4 }.to_fhir(), None);
}

#[test]
fn the_extremes_have_no_canonical_text() {
    assert!(range("0001-01-01T00:00+14:00").to_fhir().is_none());
    assert!(range("9999-12-31T23:00-14:00").to_fhir().is_none());
    assert_eq!(range("0001-01-01").to_fhir().as_deref(), Some("0001-01-01"));
    assert_eq!(range("9999").to_fhir().as_deref(), Some("9999"));
}

#[test]
fn prefixes_parse() {
    for (text, prefix) in PREFIXES {
        let p = DateParam::parse(&format!("{text}2024-03-05")).unwrap();
        assert_eq!(p.prefix, prefix);
        assert_eq!(p.range, range("2024-03-05"));
        assert_eq!(prefix.as_str(), text);
    }
    assert_eq!(DateParam::parse("2024").unwrap().prefix, Prefix::Eq);
    assert_eq!(DateParam::parse("xx2024"), Err(DateError::Prefix));
    assert_eq!(DateParam::parse("GE2024"), Err(DateError::Prefix));
    assert_eq!(DateParam::parse("ge"), Err(DateError::Syntax));
    assert_eq!(DateParam::parse("gege2024"), Err(DateError::Syntax));
    assert_eq!(DateParam::parse("g2024"), Err(DateError::Syntax));
    assert_eq!(DateParam::parse(""), Err(DateError::Syntax));
    assert_eq!(DateParam::parse("g\u{e9}2024"), Err(DateError::Syntax));
}

#[test]
fn prefixes_follow_r4() {
    let p = "2024-03-05";
    let at = |s: &str, e: &str| DateRange {
        start: range(s).start,
        end: range(e).start,
    };
    let targets = [
        ("inside", range("2024-03-05T12:00:00Z")),
        ("same", range("2024-03-05")),
        ("straddles start", at("2024-03-04T12:00Z", "2024-03-05T12:00Z")),
        ("straddles end", at("2024-03-05T12:00Z", "2024-03-06T12:00Z")),
        ("before", range("2024-03-03")),
        ("just before", range("2024-03-04")),
        ("after", range("2024-03-07")),
        ("just after", range("2024-03-06")),
        ("covers", range("2024-03")),
        (
            "open end",
            DateRange {
                start: range("2024-03-05").start,
                end: i64::MAX,
            },
        ),
        (
            "open start",
            DateRange {
                start: i64::MIN,
                end: range("2024-03-05T01:00Z").start,
            },
        ),
    ];
    // One column per target above; true = matches.
    let table: [(&str, [bool; 11]); 9] = [
        (
            "eq",
            [
                true, true, false, false, false, false, false, false, false, false, false,
            ],
        ),
        (
            "ne",
            [false, false, true, true, true, true, true, true, true, true, true],
        ),
        (
            "gt",
            [false, false, false, true, false, false, true, true, true, true, false],
        ),
        (
            "lt",
            [false, false, true, false, true, true, false, false, true, false, true],
        ),
        (
            "ge",
            [true, true, false, true, false, false, true, true, true, true, false],
        ),
        (
            "le",
            [true, true, true, false, true, true, false, false, true, false, true],
        ),
        (
            "sa",
            [
                false, false, false, false, false, false, true, true, false, false, false,
            ],
        ),
        (
            "eb",
            [
                false, false, false, false, true, true, false, false, false, false, false,
            ],
        ),
        (
            "ap",
            [true, true, true, true, false, true, false, true, true, true, true],
        ),
    ];
    for (prefix, expected) in table {
        let param = DateParam::parse(&format!("{prefix}{p}")).unwrap();
        for ((name, target), want) in targets.iter().zip(expected) {
            assert_eq!(param.matches(*target), want, "{prefix}{p} against {name}");
        }
    }
}

#[test]
fn open_params_do_not_overflow() {
    for prefix in PREFIXES.map(|(_, p)| p) {
        let p = DateParam {
            prefix,
            range: DateRange::ALL,
        };
        let _ = p.matches(DateRange::ALL);
        let _ = p.matches(range("2024"));
        assert!(!p.to_string().is_empty());
    }
}

#[test]
fn params_display_canonically() {
    assert_eq!(
        DateParam::parse("ge2024-03-05T10:00:00+01:00").unwrap().to_string(),
        "ge2024-03-05T09:00:00Z"
    );
    assert_eq!(DateParam::parse("eq2024").unwrap().to_string(), "2024");
    assert_eq!(DateParam::parse("ap2024-03").unwrap().to_string(), "ap2024-03");
    // A hand-made range that no value denotes is written as its first millisecond.
    let odd = DateParam {
        prefix: Prefix::Lt,
        range: DateRange { start: 0, end: 3 * DAY },
    };
    assert_eq!(odd.to_string(), "lt1970-01-01T00:00:00.000Z");
    let all = DateParam {
        prefix: Prefix::Eq,
        range: DateRange::ALL,
    };
    assert_eq!(all.to_string(), "0001-01-01T00:00:00.000Z");
}

/// Valid values; years 0001 and 9999 are left out, since a zone can move them out of
/// the years a canonical text can name (see `the_extremes_have_no_canonical_text`).
fn valid_value() -> impl Strategy<Value = String> {
    (
        2i64..=9998,
        1u32..=12,
        1u32..=31,
        0u32..=23,
        0u32..=59,
        0u32..=60,
        prop::option::of("[0-9]{1,6}"),
        prop::option::of((any::<bool>(), 0u32..=13, 0u32..=59)),
        0usize..=5,
    )
        .prop_map(|(y, m, d, h, mi, s, frac, zone, precision)| {
            let d = d.min(days_in_month(y, m));
            let mut out = format!("{y:04}");
            if precision >= 1 {
                out += &format!("-{m:02}");
            }
            if precision >= 2 {
                out += &format!("-{d:02}");
            }
            if precision >= 3 {
                out += &format!("T{h:02}:{mi:02}");
                if precision >= 4 {
                    out += &format!(":{s:02}");
                    if let (5, Some(f)) = (precision, frac) {
                        out += &format!(".{f}");
                    }
                }
                match zone {
                    None => out.push('Z'),
                    Some((neg, zh, zm)) => out += &format!("{}{zh:02}:{zm:02}", if neg { '-' } else { '+' }),
                }
            }
            out
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,70}") {
        if let Ok(r) = parse_fhir_date(&s) {
            prop_assert!(r.start < r.end);
        }
        let _ = DateParam::parse(&s);
    }

    #[test]
    fn near_misses_never_panic(s in "[0-9T:.Z+\\-]{0,40}") {
        if let Ok(r) = parse_fhir_date(&s) {
            prop_assert!(r.start < r.end);
            if let Some(text) = r.to_fhir() {
                prop_assert_eq!(parse_fhir_date(&text).unwrap(), r);
            }
        }
    }

    #[test]
    fn valid_values_parse_and_round_trip(v in valid_value()) {
        let r = parse_fhir_date(&v).unwrap();
        prop_assert!(r.start < r.end);
        let canonical = r.to_fhir().unwrap();
        prop_assert_eq!(parse_fhir_date(&canonical).unwrap(), r);
        // The value lies within its year (moved by at most the zone offset).
        let y = parse_fhir_date(v.get(..4).unwrap()).unwrap();
        prop_assert!(r.start >= y.start - 14 * HOUR && r.end <= y.end + 14 * HOUR);
    }

    #[test]
    fn ne_is_the_negation_of_eq_and_ge_le_cover_everything(
        a in valid_value(), b in valid_value()
    ) {
        let target = parse_fhir_date(&b).unwrap();
        let eq = DateParam::parse(&format!("eq{a}")).unwrap();
        let ne = DateParam::parse(&format!("ne{a}")).unwrap();
        prop_assert_ne!(eq.matches(target), ne.matches(target));
        let ge = DateParam::parse(&format!("ge{a}")).unwrap();
        let le = DateParam::parse(&format!("le{a}")).unwrap();
        let sa = DateParam::parse(&format!("sa{a}")).unwrap();
        let eb = DateParam::parse(&format!("eb{a}")).unwrap();
        // Any target is at least partly above, below or within the value.
        prop_assert!(ge.matches(target) || le.matches(target) || target.overlaps(eq.range));
        prop_assert!(!(sa.matches(target) && eb.matches(target)));
        if sa.matches(target) { prop_assert!(ge.matches(target)); }
        if eb.matches(target) { prop_assert!(le.matches(target)); }
    }
}
