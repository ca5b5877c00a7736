//! The Application Identifier table and the checks on one AI's value.
//!
//! Entries are transcribed from the GS1 Barcode Syntax Dictionary
//! (github.com/gs1/gs1-syntax-dictionary, `gs1-syntax-dictionary.txt`, Apache-2.0): for each
//! AI its components (`N` digits, `X` CSET 82, `Y` CSET 39, fixed `N14` or variable `X..20`,
//! optional `[X..16]`), the linters that apply to each component, the `*` flag (predefined
//! length: no FNC1 after it, GenSpecs Figure 7.8.5-2), the `?` flag (allowed as a Digital
//! Link query attribute), `req=` (one of the `,`-separated groups must be present, a group
//! being `+`-joined AIs), `ex=` (none may be present) and `dlpkey=` (a Digital Link primary
//! key, with `|`-separated alternative ordered qualifier lists).
//!
//! Qualifier alternatives naming AIs outside this table (7040, 8020's own key 415 aside)
//! are left out: a URI using them fails as an unknown AI either way.

use std::fmt;

use super::check::check_digit;
use super::error::IdentError;

/// A GS1 character set (GenSpecs §7.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cset {
    /// Digits `0`–`9`.
    Numeric,
    /// CSET 82, Figure 7.11-1: the digits, letters and ``!"%&'()*+,-./:;<=>?_``.
    Cset82,
    /// CSET 39, Figure 7.11-2: digits, upper-case letters and `#-/`.
    Cset39,
}

impl Cset {
    pub fn contains(self, b: u8) -> bool {
        match self {
            Cset::Numeric => b.is_ascii_digit(),
            Cset::Cset82 => {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'"'
                            | b'%'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b'-'
                            | b'.'
                            | b'/'
                            | b':'
                            | b';'
                            | b'<'
                            | b'='
                            | b'>'
                            | b'?'
                            | b'_'
                    )
            }
            Cset::Cset39 => b.is_ascii_digit() || b.is_ascii_uppercase() || matches!(b, b'#' | b'-' | b'/'),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lint {
    /// `csum`: the last digit is the mod-10 check digit.
    CheckDigit,
    /// `yymmdd` (`day_zero: false`) or `yymmd0` (`true`).
    Date { day_zero: bool },
    /// `hhmi`.
    HourMinute,
    /// `zero`: the single digit must be 0.
    Zero,
    /// `pieceoftotal`: first half a piece number, second half the total, 0 < piece <= total.
    PieceOfTotal,
}

#[derive(Debug, Clone, Copy)]
struct Component {
    cset: Cset,
    min: usize,
    max: usize,
    optional: bool,
    lint: Option<Lint>,
}

const fn fixed(cset: Cset, len: usize, lint: Option<Lint>) -> Component {
    Component {
        cset,
        min: len,
        max: len,
        optional: false,
        lint,
    }
}

const fn var(cset: Cset, max: usize) -> Component {
    Component {
        cset,
        min: 1,
        max,
        optional: false,
        lint: None,
    }
}

const fn opt_var(cset: Cset, max: usize) -> Component {
    Component {
        cset,
        min: 1,
        max,
        optional: true,
        lint: None,
    }
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct AiSpec {
    code: &'static str,
    title: &'static str,
    components: &'static [Component],
    predefined_length: bool,
    dl_attribute: bool,
    requires: &'static [&'static [&'static str]],
    excludes: &'static [&'static str],
    dl_qualifiers: Option<&'static [&'static [&'static str]]>,
}

use Cset::{Cset82 as X, Numeric as N};

const CSUM: Option<Lint> = Some(Lint::CheckDigit);
const YYMMD0: Option<Lint> = Some(Lint::Date { day_zero: true });
const N14_CSUM: &[Component] = &[fixed(N, 14, CSUM)];
const N13_CSUM: &[Component] = &[fixed(N, 13, CSUM)];
const N6_YYMMD0: &[Component] = &[fixed(N, 6, YYMMD0)];
const X20: &[Component] = &[var(X, 20)];
const X30: &[Component] = &[var(X, 30)];
const TRADE_ITEM: &[&[&str]] = &[&["01"], &["02"], &["03"], &["8006"], &["8026"]];
const GTIN_ONLY: &[&[&str]] = &[&["01"]];

const fn row(
    code: &'static str,
    title: &'static str,
    components: &'static [Component],
    predefined_length: bool,
    dl_attribute: bool,
) -> AiSpec {
    AiSpec {
        code,
        title,
        components,
        predefined_length,
        dl_attribute,
        requires: &[],
        excludes: &[],
        dl_qualifiers: None,
    }
}

const fn with_req(mut spec: AiSpec, requires: &'static [&'static [&'static str]]) -> AiSpec {
    spec.requires = requires;
    spec
}

const fn with_ex(mut spec: AiSpec, excludes: &'static [&'static str]) -> AiSpec {
    spec.excludes = excludes;
    spec
}

const fn dl_key(mut spec: AiSpec, qualifiers: &'static [&'static [&'static str]]) -> AiSpec {
    spec.dl_qualifiers = Some(qualifiers);
    spec
}

/// The table, in the dictionary's lexical order. Arguments of `row`: AI, title,
/// components, `*` (predefined length), `?` (Digital Link attribute).
static TABLE: &[AiSpec] = &[
    dl_key(row("00", "SSCC", &[fixed(N, 18, CSUM)], true, true), &[]),
    dl_key(
        with_ex(row("01", "GTIN", N14_CSUM, true, true), &["255", "37"]),
        &[&["22", "10", "21"], &["235"]],
    ),
    with_req(
        with_ex(row("02", "CONTENT", N14_CSUM, true, true), &["01", "03"]),
        &[&["37"]],
    ),
    with_req(row("10", "BATCH/LOT", X20, false, true), TRADE_ITEM),
    with_req(row("11", "PROD DATE", N6_YYMMD0, true, true), TRADE_ITEM),
    with_req(row("13", "PACK DATE", N6_YYMMD0, true, true), TRADE_ITEM),
    with_req(row("15", "BEST BEFORE or BEST BY", N6_YYMMD0, true, true), TRADE_ITEM),
    with_req(row("16", "SELL BY", N6_YYMMD0, true, true), TRADE_ITEM),
    with_req(
        row("17", "USE BY or EXPIRY", N6_YYMMD0, true, true),
        &[&["01"], &["02"], &["03"], &["255"], &["8006"], &["8026"]],
    ),
    with_req(row("20", "VARIANT", &[fixed(N, 2, None)], true, true), TRADE_ITEM),
    with_ex(
        with_req(row("21", "SERIAL", X20, false, false), &[&["01"], &["03"], &["8006"]]),
        &["235"],
    ),
    with_req(row("22", "CPV", X20, false, false), GTIN_ONLY),
    with_req(row("235", "TPX", &[var(X, 28)], false, false), GTIN_ONLY),
    with_req(row("240", "ADDITIONAL ID", X30, false, true), TRADE_ITEM),
    with_req(row("241", "CUST. PART No.", X30, false, true), TRADE_ITEM),
    with_req(row("254", "GLN EXTENSION COMPONENT", X20, false, false), &[&["414"]]),
    with_req(row("30", "VAR. COUNT", &[var(N, 8)], false, true), &[&["01"], &["02"]]),
    with_req(
        row("37", "COUNT", &[var(N, 8)], false, true),
        &[&["00", "02"], &["00", "8026"]],
    ),
    row("400", "ORDER NUMBER", X30, false, true),
    row("410", "SHIP TO LOC", N13_CSUM, true, true),
    row("411", "BILL TO", N13_CSUM, true, true),
    row("412", "PURCHASE FROM", N13_CSUM, true, true),
    row("413", "SHIP FOR LOC", N13_CSUM, true, true),
    dl_key(row("414", "LOC No.", N13_CSUM, true, true), &[&["254"]]),
    dl_key(
        with_req(row("415", "PAY TO", N13_CSUM, true, true), &[&["8020"]]),
        &[&["8020"]],
    ),
    row("416", "PROD/SERV LOC", N13_CSUM, true, true),
    dl_key(row("417", "PARTY", N13_CSUM, true, true), &[]),
    with_req(
        row(
            "7003",
            "EXPIRY TIME",
            &[
                fixed(N, 6, Some(Lint::Date { day_zero: false })),
                fixed(N, 4, Some(Lint::HourMinute)),
            ],
            false,
            true,
        ),
        &[&["01"], &["02"], &["03"]],
    ),
    with_req(row("710", "NHRN PZN", X20, false, true), GTIN_ONLY),
    with_req(row("711", "NHRN CIP", X20, false, true), GTIN_ONLY),
    with_req(row("712", "NHRN CN", X20, false, true), GTIN_ONLY),
    with_req(row("713", "NHRN DRN", X20, false, true), GTIN_ONLY),
    with_req(row("714", "NHRN AIM", X20, false, true), GTIN_ONLY),
    with_req(row("715", "NHRN NDC", X20, false, true), GTIN_ONLY),
    with_req(row("716", "NHRN AIC", X20, false, true), GTIN_ONLY),
    with_req(row("717", "NHRN SRN", X20, false, true), GTIN_ONLY),
    dl_key(
        row(
            "8003",
            "GRAI",
            &[fixed(N, 1, Some(Lint::Zero)), fixed(N, 13, CSUM), opt_var(X, 16)],
            false,
            true,
        ),
        &[],
    ),
    dl_key(row("8004", "GIAI", X30, false, true), &[]),
    dl_key(
        with_ex(
            row(
                "8006",
                "ITIP",
                &[fixed(N, 14, CSUM), fixed(N, 4, Some(Lint::PieceOfTotal))],
                false,
                true,
            ),
            &["01", "03", "37"],
        ),
        &[&["22", "10", "21"]],
    ),
    dl_key(
        with_ex(
            row("8018", "GSRN - RECIPIENT", &[fixed(N, 18, CSUM)], false, true),
            &["8017"],
        ),
        &[&["8019"]],
    ),
    with_req(
        row("8019", "SRIN", &[var(N, 10)], false, false),
        &[&["8017"], &["8018"]],
    ),
    with_req(row("8020", "REF No.", &[var(X, 25)], false, false), &[&["415"]]),
];

/// The AI prefixes of predefined length (GenSpecs Figure 7.8.5-2): an AI starting with one
/// of these is never followed by FNC1. Kept apart from the table so a test can hold the
/// table's `*` flags to it.
#[cfg(test)]
pub(crate) const PREDEFINED_LENGTH_PREFIXES: &[&str] = &[
    "00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "31", "32", "33", "34",
    "35", "36", "41",
];

/// A GS1 Application Identifier from the supported table.
#[derive(Clone, Copy)]
pub struct Ai(&'static AiSpec);

impl PartialEq for Ai {
    fn eq(&self, other: &Self) -> bool {
        self.0.code == other.0.code
    }
}
impl Eq for Ai {}

impl std::hash::Hash for Ai {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.code.hash(state);
    }
}

impl fmt::Debug for Ai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ai({})", self.0.code)
    }
}

impl fmt::Display for Ai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl Ai {
    pub const SSCC: Ai = Ai(&TABLE[0]);
    pub const GTIN: Ai = Ai(&TABLE[1]);

    /// Every supported AI, in lexical order.
    pub fn all() -> impl Iterator<Item = Ai> {
        TABLE.iter().map(Ai)
    }

    /// The AI with this code (`"01"`, `"7003"`), or [`IdentError::UnknownAi`].
    pub fn lookup(code: &str) -> Result<Ai, IdentError> {
        Self::find(code).ok_or_else(|| IdentError::UnknownAi {
            ai: code.chars().take(8).collect(),
            position: 0,
        })
    }

    pub(crate) fn find(code: &str) -> Option<Ai> {
        TABLE.iter().find(|s| s.code == code).map(Ai)
    }

    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// The dictionary's short title, e.g. `"USE BY or EXPIRY"`.
    pub fn title(self) -> &'static str {
        self.0.title
    }

    /// Predefined length (GenSpecs Figure 7.8.5-2): no FNC1 is needed after this AI's value.
    pub fn is_predefined_length(self) -> bool {
        self.0.predefined_length
    }

    /// Shortest value allowed.
    pub fn min_len(self) -> usize {
        self.0.components.iter().filter(|c| !c.optional).map(|c| c.min).sum()
    }

    /// Longest value allowed.
    pub fn max_len(self) -> usize {
        self.0.components.iter().map(|c| c.max).sum()
    }

    /// A GS1 Digital Link primary key (`dlpkey`).
    pub fn is_dl_primary_key(self) -> bool {
        self.0.dl_qualifiers.is_some()
    }

    /// Allowed as a Digital Link query-string data attribute (the dictionary's `?` flag).
    pub fn is_dl_attribute(self) -> bool {
        self.0.dl_attribute
    }

    /// The alternative ordered qualifier lists of a primary key; empty for other AIs.
    pub(crate) fn dl_qualifiers(self) -> &'static [&'static [&'static str]] {
        self.0.dl_qualifiers.unwrap_or(&[])
    }

    pub(crate) fn requires(self) -> &'static [&'static [&'static str]] {
        self.0.requires
    }

    pub(crate) fn excludes(self) -> &'static [&'static str] {
        self.0.excludes
    }

    /// The character set at byte `offset` of a value.
    pub(crate) fn cset_at(self, offset: usize) -> Cset {
        let mut start = 0;
        for c in self.0.components {
            start += c.max;
            if offset < start {
                return c.cset;
            }
        }
        Cset::Cset82
    }

    /// Checks `value` against this AI's format and linters. Positions in the error count
    /// from the start of `value`.
    pub fn validate(self, value: &str) -> Result<(), IdentError> {
        let ai = || self.0.code.to_string();
        if value.is_empty() {
            return Err(IdentError::EmptyValue { ai: ai(), position: 0 });
        }
        let bytes = value.as_bytes();
        if bytes.len() < self.min_len() {
            return Err(IdentError::ValueTooShort {
                ai: ai(),
                len: bytes.len(),
                min: self.min_len(),
            });
        }
        if bytes.len() > self.max_len() {
            return Err(IdentError::ValueTooLong {
                ai: ai(),
                len: bytes.len(),
                max: self.max_len(),
            });
        }
        let mut start = 0;
        for component in self.0.components {
            if start == bytes.len() && component.optional {
                break;
            }
            // The length checks above guarantee each fixed component is there in full and
            // the variable last one holds what is left.
            let end = if component.min == component.max {
                start + component.min
            } else {
                bytes.len()
            };
            let part = bytes.get(start..end).unwrap_or_default();
            if let Some(offset) = part.iter().position(|&b| !component.cset.contains(b)) {
                let position = start + offset;
                return Err(IdentError::BadCharacter {
                    ai: ai(),
                    position,
                    found: value
                        .get(position..)
                        .and_then(|rest| rest.chars().next())
                        .unwrap_or('\u{fffd}'),
                    cset: component.cset,
                });
            }
            if let Some(lint) = component.lint {
                // Every linted component is numeric, hence ASCII.
                let text = std::str::from_utf8(part).unwrap_or_default();
                run_lint(lint, text).map_err(|e| e.into_error(self, start, text))?;
            }
            start = end;
        }
        Ok(())
    }
}

enum LintFailure {
    CheckDigit { expected: char, found: char },
    DateTime { what: &'static str },
    Component { reason: &'static str },
}

impl LintFailure {
    fn into_error(self, ai: Ai, start: usize, text: &str) -> IdentError {
        let ai_code = ai.code().to_string();
        match self {
            LintFailure::CheckDigit { expected, found } => IdentError::BadCheckDigit {
                ai: ai_code,
                expected,
                found,
            },
            LintFailure::DateTime { what } => IdentError::BadDateTime {
                ai: ai_code,
                position: start,
                value: text.to_string(),
                what,
            },
            LintFailure::Component { reason } => IdentError::BadComponent {
                ai: ai_code,
                position: start,
                reason,
            },
        }
    }
}

fn two_digits(s: &str, at: usize) -> u32 {
    s.as_bytes()
        .get(at..at + 2)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(u32::MAX)
}

fn run_lint(lint: Lint, text: &str) -> Result<(), LintFailure> {
    match lint {
        Lint::CheckDigit => {
            let split = text.len().saturating_sub(1);
            let (data, last) = text.split_at(split);
            let expected = check_digit(data).unwrap_or('?');
            let found = last.chars().next().unwrap_or('?');
            if expected != found {
                return Err(LintFailure::CheckDigit { expected, found });
            }
        }
        Lint::Date { day_zero } => {
            let (yy, mm, dd) = (two_digits(text, 0), two_digits(text, 2), two_digits(text, 4));
            let ok = (1..=12).contains(&mm) && ((day_zero && dd == 0) || (1..=days_in_month(yy, mm)).contains(&dd));
            if !ok {
                return Err(LintFailure::DateTime {
                    what: if day_zero {
                        "date YYMMDD (day 00 allowed)"
                    } else {
                        "date YYMMDD"
                    },
                });
            }
        }
        Lint::HourMinute => {
            if two_digits(text, 0) > 23 || two_digits(text, 2) > 59 {
                return Err(LintFailure::DateTime { what: "time HHMI" });
            }
        }
        Lint::Zero => {
            if text != "0" {
                return Err(LintFailure::Component {
                    reason: "the leading digit must be 0",
                });
            }
        }
        Lint::PieceOfTotal => {
            let half = text.len() / 2;
            let (piece, total) = text.split_at(half);
            let all_zero = |s: &str| s.bytes().all(|b| b == b'0');
            if all_zero(piece) || all_zero(total) || piece > total {
                return Err(LintFailure::Component {
                    reason: "piece must be 1..=total and total non-zero",
                });
            }
        }
    }
    Ok(())
}

/// Days in month `mm` of year `yy`. GenSpecs §7.12 resolves the century with a window
/// around the current year; being clock-free, this takes 20YY, which differs from the
/// window only for `00` (2000 is a leap year, 2100 is not) and only after 2050.
fn days_in_month(yy: u32, mm: u32) -> u32 {
    match mm {
        2 if yy.is_multiple_of(4) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_length_flags_match_figure_7_8_5_2() {
        for ai in Ai::all() {
            let by_prefix = PREDEFINED_LENGTH_PREFIXES.iter().any(|p| ai.code().starts_with(p));
            assert_eq!(ai.is_predefined_length(), by_prefix, "({ai})");
            if ai.is_predefined_length() {
                assert_eq!(ai.min_len(), ai.max_len(), "({ai}) is predefined but variable");
            }
        }
    }

    #[test]
    fn table_is_sorted_unique_and_prefix_free() {
        let codes: Vec<&str> = Ai::all().map(Ai::code).collect();
        for pair in codes.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        for a in &codes {
            for b in &codes {
                assert!(a == b || !b.starts_with(a), "({a}) is a prefix of ({b})");
            }
        }
    }

    #[test]
    fn pairing_and_qualifier_references_are_ais() {
        for ai in Ai::all() {
            for q in ai.dl_qualifiers().iter().flat_map(|alt| alt.iter()) {
                assert!(Ai::find(q).is_some(), "({ai}) qualifier ({q}) not in table");
            }
        }
    }

    #[test]
    fn linters() {
        let ai = |c| Ai::find(c).expect("in table");
        assert!(ai("17").validate("201200").is_ok(), "day 00 allowed for (17)");
        assert!(ai("17").validate("240229").is_ok(), "2024 is a leap year");
        assert!(ai("17").validate("230229").is_err());
        assert!(ai("17").validate("231301").is_err());
        assert!(ai("7003").validate("2012000000").is_err(), "no day 00 for 7003");
        assert!(ai("7003").validate("2012312359").is_ok());
        assert!(ai("7003").validate("2012312400").is_err());
        assert!(ai("8006").validate("123456789012310102").is_ok());
        assert!(ai("8006").validate("123456789012310201").is_err());
        assert!(ai("8006").validate("123456789012310000").is_err());
        // GS1 Syntax Engine ai.c tests: (8003) N1 N13,csum [X..16].
        assert!(ai("8003").validate("02112345678900ABC").is_ok());
        assert!(ai("8003").validate("02112345678901ABC").is_err());
        assert!(ai("8003").validate("02112345678900").is_ok());
        assert!(ai("8003").validate("12112345678900").is_err());
        assert!(ai("8003").validate("02112345678900ABCDEFGHIJKLMNOPQ").is_err());
    }
}
