//! FHIR `date`, `dateTime` and `instant` values as UTC millisecond ranges, and date
//! search parameters with their prefixes (R4 `search.html`, "date" and "prefixes").
//!
//! Accepted forms: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` and
//! `YYYY-MM-DDThh:mm[:ss[.f…]][Z|±hh:mm]`. That is the union of the FHIR `date`,
//! `dateTime` and `instant` grammars, plus minute precision, which search values use.
//!
//! - **Precision is the range.** A value denotes every instant its precision covers:
//!   `2024-03` is all of March 2024, `…T10:00Z` a minute, `…T10:00:00.5Z` the 100 ms
//!   from .500. Digits beyond milliseconds are dropped.
//! - **No zone means UTC.** FHIR requires a zone on a `dateTime` with a time; a value
//!   without one (a search value, say) is read as UTC, and so is a bare date. R4 reads
//!   both in the server's zone; a ledger replicated across sites has none, so it uses
//!   UTC everywhere.
//! - **Checked ranges.** Year 0001–9999, month 01–12, the day within its month (leap
//!   years included), hour 00–23 (no `24:00`), minute 00–59, second 00–60, zone offset
//!   at most ±14:00. Second 60, a leap second, is read as `59.999`.
//!
//! Errors name the part that is wrong, never the value.

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt;

use thiserror::Error;

/// Longest value accepted, in bytes.
pub const MAX_DATE_LEN: usize = 64;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// `[start, end)` in milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DateRange {
    pub start: i64,
    /// Exclusive.
    pub end: i64,
}

impl DateRange {
    /// Every instant: a Period open at both ends.
    pub const ALL: DateRange = DateRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// Whether every instant of `other` lies in `self`.
    pub fn contains(&self, other: DateRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether `self` and `other` share an instant.
    pub fn overlaps(&self, other: DateRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The canonical FHIR text (UTC, `Z`) of the value whose precision covers exactly
    /// this range; `None` if no single value does (an open Period, say).
    pub fn to_fhir(&self) -> Option<String> {
        let len = self.end.checked_sub(self.start)?;
        let days = self.start.div_euclid(DAY);
        let in_day = self.start.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        if !(1..=9999).contains(&y) {
            return None;
        }
        if in_day == 0 {
            if m == 1 && d == 1 && self.end == days_from_civil(y + 1, 1, 1).checked_mul(DAY)? {
                return Some(format!("{y:04}"));
            }
            if d == 1 && len == i64::from(days_in_month(y, m)) * DAY {
                return Some(format!("{y:04}-{m:02}"));
            }
            if len == DAY {
                return Some(format!("{y:04}-{m:02}-{d:02}"));
            }
        }
        let (h, mi, s, ms) = (
            in_day / HOUR,
            in_day % HOUR / MINUTE,
            in_day % MINUTE / SECOND,
            in_day % SECOND,
        );
        let time = match len {
            MINUTE if in_day % MINUTE == 0 => format!("{h:02}:{mi:02}"),
            SECOND if ms == 0 => format!("{h:02}:{mi:02}:{s:02}"),
            100 if ms % 100 == 0 => format!("{h:02}:{mi:02}:{s:02}.{}", ms / 100),
            10 if ms % 10 == 0 => format!("{h:02}:{mi:02}:{s:02}.{:02}", ms / 10),
            1 => format!("{h:02}:{mi:02}:{s:02}.{ms:03}"),
            _ => return None,
        };
        Some(format!("{y:04}-{m:02}-{d:02}T{time}Z"))
    }
}

/// Why a value is not a FHIR date, dateTime or instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DateError {
    #[error("a date is at most {MAX_DATE_LEN} characters")]
    TooLong,
    #[error("not a FHIR date, dateTime or instant (YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|+hh:mm]]]])")]
    Syntax,
    #[error("the {0} of the date is out of range")]
    OutOfRange(&'static str),
    #[error("unknown date search prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)")]
    Prefix,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are small and positive by construction; the fallbacks are unreachable.
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// A byte cursor: no slicing, so no input can make it panic.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Result<u32, DateError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    v = v * 10 + u32::from(b - b'0');
                    self.pos += 1;
                }
                _ => return Err(DateError::Syntax),
            }
        }
        Ok(v)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

fn in_range(v: u32, lo: u32, hi: u32, what: &'static str) -> Result<u32, DateError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(DateError::OutOfRange(what))
    }
}

/// Parses a FHIR date, dateTime or instant into the range its precision covers.
pub fn parse_fhir_date(s: &str) -> Result<DateRange, DateError> {
    if s.len() > MAX_DATE_LEN {
        return Err(DateError::TooLong);
    }
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let y = i64::from(in_range(c.digits(4)?, 1, 9999, "year")?);
    if c.at_end() {
        return Ok(DateRange {
            start: days_from_civil(y, 1, 1) * DAY,
            end: days_from_civil(y + 1, 1, 1) * DAY,
        });
    }
    if !c.eat(b'-') {
        return Err(DateError::Syntax);
    }
    let m = in_range(c.digits(2)?, 1, 12, "month")?;
    let month_start = days_from_civil(y, m, 1) * DAY;
    if c.at_end() {
        return Ok(DateRange {
            start: month_start,
            end: month_start + i64::from(days_in_month(y, m)) * DAY,
        });
    }
    if !c.eat(b'-') {
        return Err(DateError::Syntax);
    }
    let d = in_range(c.digits(2)?, 1, days_in_month(y, m), "day")?;
    let day_start = days_from_civil(y, m, d) * DAY;
    if c.at_end() {
        return Ok(DateRange {
            start: day_start,
            end: day_start + DAY,
        });
    }
    if !c.eat(b'T') {
        return Err(DateError::Syntax);
    }
    let (offset, len) = parse_time(&mut c)?;
    let zone = parse_zone(&mut c)?;
    if !c.at_end() {
        return Err(DateError::Syntax);
    }
    let start = day_start + offset - zone;
    Ok(DateRange {
        start,
        end: start + len,
    })
}

/// `hh:mm[:ss[.f…]]` → (ms after midnight, length of the range it denotes).
fn parse_time(c: &mut Cursor<'_>) -> Result<(i64, i64), DateError> {
    let h = i64::from(in_range(c.digits(2)?, 0, 23, "hour")?);
    if !c.eat(b':') {
        return Err(DateError::Syntax);
    }
    let mi = i64::from(in_range(c.digits(2)?, 0, 59, "minute")?);
    let hm = h * HOUR + mi * MINUTE;
    if !c.eat(b':') {
        return Ok((hm, MINUTE));
    }
    let s = in_range(c.digits(2)?, 0, 60, "second")?;
    let leap = s == 60;
    let (mut ms, mut len) = (i64::from(s) * SECOND, SECOND);
    if c.eat(b'.') {
        let mut n = 0usize;
        let mut frac = 0i64;
        while let Some(b @ b'0'..=b'9') = c.peek() {
            if n < 3 {
                frac = frac * 10 + i64::from(b - b'0');
            }
            n += 1;
            c.pos += 1;
        }
        if n == 0 {
            return Err(DateError::Syntax);
        }
        // .5 is 500..600 ms, .50 is 500..510, .500 and finer are one millisecond.
        let scale = match n {
            1 => 100,
            2 => 10,
            _ => 1,
        };
        ms += frac * scale;
        len = scale;
    }
    if leap {
        ms = 59 * SECOND + 999;
        len = 1;
    }
    Ok((hm + ms, len))
}

/// `Z`, `±hh:mm` (at most ±14:00) or nothing (UTC) → the offset in ms.
fn parse_zone(c: &mut Cursor<'_>) -> Result<i64, DateError> {
    let sign = match c.peek() {
        None => return Ok(0),
        Some(b'Z') => {
            c.pos += 1;
            return Ok(0);
        }
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return Err(DateError::Syntax),
    };
    c.pos += 1;
    let zh = in_range(c.digits(2)?, 0, 14, "zone offset")?;
    if !c.eat(b':') {
        return Err(DateError::Syntax);
    }
    let zm = in_range(c.digits(2)?, 0, 59, "zone offset")?;
    if zh == 14 && zm != 0 {
        return Err(DateError::OutOfRange("zone offset"));
    }
    Ok(sign * (i64::from(zh) * HOUR + i64::from(zm) * MINUTE))
}

/// A date search prefix (R4 `search.html`, "prefixes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

const PREFIXES: [(&str, Prefix); 9] = [
    ("eq", Prefix::Eq),
    ("ne", Prefix::Ne),
    ("gt", Prefix::Gt),
    ("lt", Prefix::Lt),
    ("ge", Prefix::Ge),
    ("le", Prefix::Le),
    ("sa", Prefix::Sa),
    ("eb", Prefix::Eb),
    ("ap", Prefix::Ap),
];

/// `eq`, `ne` … at the start of a date, number or quantity search value (none is `eq`);
/// `None` for two letters that are no prefix.
pub fn split_prefix(s: &str) -> Option<(Prefix, &str)> {
    match s.as_bytes() {
        [a, b, ..] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            let p = PREFIXES.iter().find(|(text, _)| s.starts_with(text))?.1;
            Some((p, s.get(2..)?))
        }
        _ => Some((Prefix::Eq, s)),
    }
}

impl Prefix {
    pub fn as_str(self) -> &'static str {
        PREFIXES.iter().find(|(_, p)| *p == self).map_or("eq", |(text, _)| text)
    }
}

/// A date search value: a prefix and the range the value's precision covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateParam {
    pub prefix: Prefix,
    pub range: DateRange,
}

impl DateParam {
    /// Parses `[prefix]value`; no prefix is `eq`. Prefixes are lower case.
    pub fn parse(s: &str) -> Result<DateParam, DateError> {
        if s.len() > MAX_DATE_LEN {
            return Err(DateError::TooLong);
        }
        let (prefix, value) = split_prefix(s).ok_or(DateError::Prefix)?;
        Ok(DateParam {
            prefix,
            range: parse_fhir_date(value)?,
        })
    }

    /// Whether a resource's value, the range `target`, matches, with R4's definitions
    /// (`p` is this parameter's range):
    ///
    /// | prefix | matches when |
    /// |---|---|
    /// | `eq` | `p` contains `target` |
    /// | `ne` | not `eq` |
    /// | `gt` | the range above `p` overlaps `target` (`target.end > p.end`) |
    /// | `lt` | the range below `p` overlaps `target` (`target.start < p.start`) |
    /// | `ge` | `gt` or `eq` |
    /// | `le` | `lt` or `eq` |
    /// | `sa` | `target` starts after `p` (`target.start >= p.end`) |
    /// | `eb` | `target` ends before `p` (`target.end <= p.start`) |
    /// | `ap` | `target` overlaps `p` widened by one day on each side |
    ///
    /// R4 suggests `ap` be 10 % of the gap between now and the value; that would make
    /// matching depend on the clock, so medledger uses a fixed day instead.
    pub fn matches(&self, target: DateRange) -> bool {
        let p = self.range;
        let eq = p.contains(target);
        match self.prefix {
            Prefix::Eq => eq,
            Prefix::Ne => !eq,
            Prefix::Gt => target.end > p.end,
            Prefix::Lt => target.start < p.start,
            Prefix::Ge => target.end > p.end || eq,
            Prefix::Le => target.start < p.start || eq,
            Prefix::Sa => target.start >= p.end,
            Prefix::Eb => target.end <= p.start,
            Prefix::Ap => DateRange {
                start: p.start.saturating_sub(DAY),
                end: p.end.saturating_add(DAY),
            }
            .overlaps(target),
        }
    }
}

/// The canonical search value: the prefix (none for `eq`) and [`DateRange::to_fhir`].
/// A range no FHIR value denotes (only possible for a hand-made `DateParam`) is
/// written as the millisecond it starts in, clamped to years 0001–9999: lossy.
impl fmt::Display for DateParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix != Prefix::Eq {
            f.write_str(self.prefix.as_str())?;
        }
        match self.range.to_fhir() {
            Some(text) => f.write_str(&text),
            None => {
                let lo = days_from_civil(1, 1, 1) * DAY;
                let hi = days_from_civil(10_000, 1, 1) * DAY - 1;
                let start = self.range.start.clamp(lo, hi);
                let text = DateRange { start, end: start + 1 }.to_fhir().unwrap_or_default();
                f.write_str(&text)
            }
        }
    }
}

#[cfg(test)]
mod tests;
