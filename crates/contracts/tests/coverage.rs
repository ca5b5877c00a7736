//! The 10-rule coverage contract (`contracts/examples/coverage`), built from source: each
//! rule allowed and denied, as a table.

mod common;

use common::{amount, decode, example};
use medledger_contracts::abi;
use medledger_contracts::{Engine, Limits, MemoryHost, Outcome, Value};

const APPROVED: i64 = 1;
const DENIED: i64 = 2;
/// 2022-01-01 and 2022-12-31 in days since the epoch: m1's and m2's benefit period.
const START: i64 = 18_993;
const END: i64 = 19_357;

struct Case {
    name: &'static str,
    member: &'static str,
    code: &'static str,
    units: i64,
    billed: &'static str,
    service: i64,
    submitted: i64,
    state: &'static [(&'static str, &'static str)],
    decision: i64,
    amounts: [&'static str; 3],
    reasons: &'static [&'static str],
}

const DEDUCTIBLE_MET: &[(&str, &str)] = &[("ded/m1/18993", "500.00")];

fn case(name: &'static str, member: &'static str, code: &'static str, units: i64) -> Case {
    Case {
        name,
        member,
        code,
        units,
        billed: "10000.00",
        service: 19_000,
        submitted: 19_010,
        state: DEDUCTIBLE_MET,
        decision: APPROVED,
        amounts: ["0.00"; 3],
        reasons: &[],
    }
}

fn denied(mut c: Case, reasons: &'static [&'static str]) -> Case {
    c.decision = DENIED;
    c.reasons = reasons;
    c
}

fn approved(mut c: Case, amounts: [&'static str; 3], reasons: &'static [&'static str]) -> Case {
    c.amounts = amounts;
    c.reasons = reasons;
    c
}

fn cases() -> Vec<Case> {
    const COST_SHARE: &[&str] = &["R09-COINSURANCE"];
    vec![
        // R01 eligibility.
        approved(
            case("R01 covered member", "m1", "97110", 1),
            ["45.00", "36.00", "9.00"],
            COST_SHARE,
        ),
        denied(case("R01 no coverage fact", "m9", "97110", 1), &["R01-NOT-ELIGIBLE"]),
        denied(
            Case {
                service: END + 1,
                submitted: END + 5,
                ..case("R01 after the period", "m1", "97110", 1)
            },
            &["R01-NOT-ELIGIBLE"],
        ),
        // R02 timely filing: 90 days allowed, 91 not.
        approved(
            Case {
                submitted: 19_090,
                ..case("R02 filed on day 90", "m1", "97110", 1)
            },
            ["45.00", "36.00", "9.00"],
            COST_SHARE,
        ),
        denied(
            Case {
                submitted: 19_091,
                ..case("R02 filed on day 91", "m1", "97110", 1)
            },
            &["R02-UNTIMELY"],
        ),
        // R03 excluded codes.
        denied(case("R03 cosmetic dermabrasion", "m1", "15780", 1), &["R03-EXCLUDED"]),
        // R04 benefits in the fee schedule, with units.
        denied(case("R04 unknown code", "m1", "00000", 1), &["R04-NOT-A-BENEFIT"]),
        denied(case("R04 zero units", "m1", "97110", 0), &["R04-NOT-A-BENEFIT"]),
        // R05 prior authorisation (m1 holds one for 70553 until day 19100).
        approved(
            case("R05 authorised MRI", "m1", "70553", 1),
            ["900.00", "720.00", "180.00"],
            COST_SHARE,
        ),
        denied(
            case("R05 MRI without authorisation", "m2", "70553", 1),
            &["R05-NO-PRIOR-AUTH"],
        ),
        denied(
            Case {
                service: 19_101,
                submitted: 19_110,
                ..case("R05 authorisation expired", "m1", "70553", 1)
            },
            &["R05-NO-PRIOR-AUTH"],
        ),
        // R06 age from the member fact: m1 is 54, m2 is 24.
        approved(
            case("R06 screening at 54", "m1", "G0121", 1),
            ["600.00", "480.00", "120.00"],
            COST_SHARE,
        ),
        denied(case("R06 screening at 24", "m2", "G0121", 1), &["R06-AGE"]),
        // R07 units per day, counting earlier approved claims that day.
        approved(
            case("R07 four units", "m1", "97110", 4),
            ["180.00", "144.00", "36.00"],
            COST_SHARE,
        ),
        denied(case("R07 five units", "m1", "97110", 5), &["R07-UNIT-LIMIT"]),
        denied(
            Case {
                state: &[("ded/m1/18993", "500.00"), ("units/m1/97110/19000", "3")],
                ..case("R07 three already billed", "m1", "97110", 2)
            },
            &["R07-UNIT-LIMIT"],
        ),
        // R08 deductible: the first 500.00 of the period is the member's.
        approved(
            Case {
                state: &[],
                billed: "90.00",
                ..case("R08 all to deductible", "m1", "97110", 2)
            },
            ["90.00", "0.00", "90.00"],
            &["R08-DEDUCTIBLE"],
        ),
        approved(
            Case {
                state: &[("ded/m1/18993", "450.00")],
                ..case("R08 partly met", "m1", "70553", 1)
            },
            ["900.00", "680.00", "220.00"],
            &["R08-DEDUCTIBLE", "R09-COINSURANCE"],
        ),
        // R09 copay then 20% coinsurance; the allowed amount is the lower of billed and schedule.
        approved(
            case("R09 office visit", "m1", "99213", 1),
            ["120.00", "76.00", "44.00"],
            &["R09-COPAY", "R09-COINSURANCE"],
        ),
        approved(
            Case {
                billed: "20.00",
                ..case("R09 billed below the copay", "m1", "99213", 1)
            },
            ["20.00", "0.00", "20.00"],
            &["R09-COPAY"],
        ),
        // R10 annual maximum of 10,000.00 paid by the plan.
        approved(
            Case {
                state: &[("ded/m1/18993", "500.00"), ("paid/m1/18993", "9950.00")],
                ..case("R10 capped at the maximum", "m1", "99213", 1)
            },
            ["120.00", "50.00", "70.00"],
            &["R09-COPAY", "R09-COINSURANCE", "R10-ANNUAL-MAX"],
        ),
        // Several failures are all reported.
        denied(
            Case {
                submitted: 19_200,
                ..case("R01 R02 R03 together", "m9", "15780", 1)
            },
            &["R01-NOT-ELIGIBLE", "R02-UNTIMELY", "R03-EXCLUDED"],
        ),
    ]
}

fn host(state: &[(&str, &str)]) -> MemoryHost {
    let int = |i: i64| abi::encode(&[Value::Int(i)]);
    let mut h = MemoryHost {
        block_time_s: 1_641_600_000,
        ..MemoryHost::default()
    };
    for member in ["m1", "m2"] {
        let period = abi::encode(&[Value::Int(START), Value::Int(END)]);
        h.facts.insert(format!("coverage/{member}").into_bytes(), period);
    }
    h.facts.insert(b"member/m1/birth_day".to_vec(), int(-1_000));
    h.facts.insert(b"member/m2/birth_day".to_vec(), int(10_000));
    h.facts.insert(b"priorauth/m1/70553".to_vec(), int(19_100));
    for (key, value) in state {
        let encoded = match value.parse::<i64>() {
            Ok(units) => int(units),
            Err(_) => abi::encode(&[amount(value)]),
        };
        h.state.insert(key.as_bytes().to_vec(), encoded);
    }
    h
}

fn claim_input(c: &Case) -> Vec<u8> {
    abi::encode(&[
        Value::Str(format!("claim {}", c.name)),
        Value::Str(c.member.into()),
        Value::Str(c.code.into()),
        Value::Int(c.units),
        amount(c.billed),
        Value::Int(c.service),
        Value::Int(c.submitted),
    ])
}

#[test]
fn each_rule_allows_and_denies() {
    let engine = Engine::new(Limits::default()).expect("limits");
    let code = engine.check(&example("coverage")).expect("coverage passes check");
    for c in cases() {
        let outcome = engine.call(&code, "call", &claim_input(&c), &host(c.state));
        let Outcome::Ok {
            output, writes, events, ..
        } = outcome
        else {
            panic!("{}: {outcome:?}", c.name)
        };
        let mut expected = vec![Value::Int(c.decision)];
        expected.extend(c.amounts.iter().map(|a| amount(a)));
        expected.push(Value::List(c.reasons.iter().map(|r| Value::Str((*r).into())).collect()));
        assert_eq!(decode(&output), expected, "{}", c.name);
        if c.decision == DENIED {
            assert!(
                writes.is_empty() && events.is_empty(),
                "{}: a denial changes nothing",
                c.name
            );
        } else {
            assert_eq!(writes.len(), 3, "{}: deductible, paid and units", c.name);
            assert_eq!(events.len(), 1, "{}", c.name);
        }
    }
}

#[test]
fn approvals_accumulate_in_state() {
    let engine = Engine::new(Limits::default()).expect("limits");
    let code = engine.check(&example("coverage")).expect("check");
    let mut h = host(&[]);
    let first = approved(case("visit", "m1", "99213", 1), ["0.00"; 3], &[]);
    let decision = |h: &MemoryHost| match engine.call(&code, "call", &claim_input(&first), h) {
        Outcome::Ok { output, writes, .. } => (decode(&output), writes),
        other => panic!("{other:?}"),
    };
    let (out, writes) = decision(&h);
    assert_eq!(out[2], amount("0.00"), "the first 120.00 goes to the deductible");
    h.apply(&writes);
    assert_eq!(
        h.state.get(&b"ded/m1/18993"[..]),
        Some(&abi::encode(&[amount("120.00")]))
    );
    // The same visit again the same day is over the one-per-day limit.
    let (out, writes) = decision(&h);
    assert_eq!(out[0], Value::Int(DENIED));
    assert!(writes.is_empty());
}
