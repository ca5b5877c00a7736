//! FHIR `date`, `dateTime` and `instant` values as UTC millisecond ranges, and date
//! search parameters with their prefixes (R4 search.html §3.1.1.4).
//!
//! A value is the range its precision covers: `2024-03` is all of March 2024. A time
//! without a zone is read as UTC.

use thiserror::Error;

/// `[start, end)` in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub start: i64,
    pub end: i64,
}

impl DateRange {
    /// Everything: an open-ended period.
    pub const ALL: DateRange = DateRange {
        start: i64::MIN,
        end: i64::MAX,
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a FHIR date, dateTime or instant")]
pub struct DateError;

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(s: &str, len: usize) -> Result<u32, DateError> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError);
    }
    s.parse().map_err(|_| DateError)
}

const DAY: i64 = 86_400_000;

/// Parses a FHIR date, dateTime or instant into the range it denotes.
pub fn parse_fhir_date(s: &str) -> Result<DateRange, DateError> {
    if s.len() > 40 {
        return Err(DateError);
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let y = num(parts.first().ok_or(DateError)?, 4)? as i64;
    match (parts.len(), time) {
        (1, None) => {
            let start = days_from_civil(y, 1, 1) * DAY;
            Ok(DateRange {
                start,
                end: days_from_civil(y + 1, 1, 1) * DAY,
            })
        }
        (2, None) => {
            let m = num(parts[1], 2)?;
            if !(1..=12).contains(&m) {
                return Err(DateError);
            }
            let start = days_from_civil(y, m, 1) * DAY;
            Ok(DateRange {
                start,
                end: start + days_in_month(y, m) as i64 * DAY,
            })
        }
        (3, _) => {
            let m = num(parts[1], 2)?;
            let d = num(parts[2], 2)?;
            if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
                return Err(DateError);
            }
            let day = days_from_civil(y, m, d) * DAY;
            match time {
                None => Ok(DateRange {
                    start: day,
                    end: day + DAY,
                }),
                Some(t) => parse_time(t).map(|(offset, len)| DateRange {
                    start: day + offset,
                    end: day + offset + len,
                }),
            }
        }
        _ => Err(DateError),
    }
}

/// `hh:mm(:ss(.fff)?)?(Z|±hh:mm)?` → (ms from midnight UTC, length of the range).
fn parse_time(t: &str) -> Result<(i64, i64), DateError> {
    let (clock, zone_ms) = if let Some(c) = t.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(pos) = t.rfind(['+', '-']) {
        let (c, z) = t.split_at(pos);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = z[1..].split_once(':').ok_or(DateError)?;
        let (zh, zm) = (num(zh, 2)?, num(zm, 2)?);
        if zh > 14 || zm > 59 {
            return Err(DateError);
        }
        (c, sign * (zh as i64 * 3_600_000 + zm as i64 * 60_000))
    } else {
        (t, 0)
    };
    let fields: Vec<&str> = clock.split(':').collect();
    let h = num(fields.first().ok_or(DateError)?, 2)?;
    let mi = num(fields.get(1).ok_or(DateError)?, 2)?;
    if h > 23 || mi > 59 {
        return Err(DateError);
    }
    let (sec_ms, len) = match fields.get(2) {
        None => (0, 60_000),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (*sec, None),
            };
            let s = num(whole, 2)?.min(59);
            if s > 60 {
                return Err(DateError);
            }
            match frac {
                None => (s as i64 * 1000, 1000),
                Some(f) => {
                    if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(DateError);
                    }
                    let ms: i64 = format!("{f:0<3}")[..3].parse().map_err(|_| DateError)?;
                    (s as i64 * 1000 + ms, 1)
                }
            }
        }
    };
    if fields.len() > 3 {
        return Err(DateError);
    }
    Ok((h as i64 * 3_600_000 + mi as i64 * 60_000 + sec_ms - zone_ms, len))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A date search value with its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateParam {
    pub prefix: Prefix,
    pub range: DateRange,
}

impl DateParam {
    pub fn parse(s: &str) -> Result<DateParam, DateError> {
        let prefixes = [
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
        let (prefix, rest) = prefixes
            .iter()
            .find_map(|(p, v)| s.strip_prefix(p).map(|r| (*v, r)))
            .unwrap_or((Prefix::Eq, s));
        Ok(DateParam {
            prefix,
            range: parse_fhir_date(rest)?,
        })
    }

    /// Whether a target value (a range; a missing end of a Period is open) matches.
    /// `ap` is read as: the target overlaps the value widened by one day on each side.
    pub fn matches(&self, t: DateRange) -> bool {
        let p = self.range;
        let eq = p.start <= t.start && t.end <= p.end;
        match self.prefix {
            Prefix::Eq => eq,
            Prefix::Ne => !eq,
            Prefix::Gt => t.end > p.end,
            Prefix::Lt => t.start < p.start,
            Prefix::Ge => t.end > p.end || eq,
            Prefix::Le => t.start < p.start || eq,
            Prefix::Sa => t.start >= p.end,
            Prefix::Eb => t.end <= p.start,
            Prefix::Ap => t.start < p.end.saturating_add(DAY) && t.end > p.start.saturating_sub(DAY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_gives_ranges() {
        let y = parse_fhir_date("2024").unwrap();
        assert_eq!(y.end - y.start, 366 * DAY);
        let m = parse_fhir_date("2024-02").unwrap();
        assert_eq!(m.end - m.start, 29 * DAY);
        let d = parse_fhir_date("1970-01-02").unwrap();
        assert_eq!(
            d,
            DateRange {
                start: DAY,
                end: 2 * DAY
            }
        );
        let t = parse_fhir_date("1970-01-01T01:00:00Z").unwrap();
        assert_eq!(
            t,
            DateRange {
                start: 3_600_000,
                end: 3_601_000
            }
        );
        let z = parse_fhir_date("1970-01-01T05:00:00+04:00").unwrap();
        assert_eq!(z.start, 3_600_000);
        let ms = parse_fhir_date("1970-01-01T00:00:00.5Z").unwrap();
        assert_eq!(ms, DateRange { start: 500, end: 501 });
        assert_eq!(parse_fhir_date("2015-07-27T05:55:27-04:00").unwrap().start % 1000, 0);
    }

    #[test]
    fn refuses_bad_dates() {
        for bad in [
            "",
            "24",
            "2024-13",
            "2023-02-29",
            "2024-01-01T24:00:00Z",
            "2024-01-01T10",
            "2024-1-01",
            "2024-01-01T10:00:00+99:00",
            "x",
        ] {
            assert!(parse_fhir_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        let day = parse_fhir_date("2024-03-05").unwrap();
        let noon = parse_fhir_date("2024-03-05T12:00:00Z").unwrap();
        assert!(DateParam::parse("2024-03-05").unwrap().matches(noon));
        assert!(DateParam::parse("eq2024-03").unwrap().matches(day));
        assert!(!DateParam::parse("ne2024-03").unwrap().matches(day));
        assert!(DateParam::parse("ge2024-03-05").unwrap().matches(noon));
        assert!(DateParam::parse("gt2024-03-04").unwrap().matches(noon));
        assert!(!DateParam::parse("gt2024-03-05").unwrap().matches(noon));
        assert!(DateParam::parse("lt2024-03-06").unwrap().matches(noon));
        assert!(!DateParam::parse("lt2024-03-05").unwrap().matches(noon));
        assert!(DateParam::parse("le2024-03-05").unwrap().matches(noon));
        assert!(DateParam::parse("sa2024-03-04").unwrap().matches(noon));
        assert!(DateParam::parse("eb2024-03-06").unwrap().matches(noon));
        assert!(DateParam::parse("ap2024-03-06").unwrap().matches(noon));
        assert!(!DateParam::parse("ap2024-03-09").unwrap().matches(noon));
        assert!(DateParam::parse("ge2020").unwrap().matches(DateRange {
            start: day.start,
            end: i64::MAX
        }));
        assert!(DateParam::parse("xx2024").is_err());
    }
}
