//! `xsd:dateTimeStamp` values (EPCIS 2.0 §7.3.1 eventTime, recordTime; §7.3.8 sensor times)
//! and `eventTimeZoneOffset` (`±hh:mm`).
//!
//! A timestamp must carry a zone (`Z` or `±hh:mm`): EPCIS 2.0 types every time as
//! `xsd:dateTimeStamp`, and a time without a zone would depend on the reader's clock.
//! The event hash writes a time in UTC with exactly three decimals, the third rounded half up
//! from the fourth (CBV 2.0 §8.9, rules 8 and 9).

use std::fmt;

use medledger_types::calendar::{civil_from_days, days_from_civil, days_in_month};

/// The zone-free reason a timestamp text was refused; the parser adds event and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeProblem {
    Syntax,
    MissingZone,
    OutOfRange,
}

impl TimeProblem {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            TimeProblem::Syntax => "not of the form YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)",
            TimeProblem::MissingZone => "has no time zone (xsd:dateTimeStamp needs Z or ±hh:mm)",
            TimeProblem::OutOfRange => "a field is out of range",
        }
    }
}

/// An instant with the zone offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    unix_seconds: i64,
    /// Nanoseconds within the second; digits beyond the ninth are dropped.
    nanos: u32,
    /// The offset the text carried, in minutes east of UTC.
    offset_minutes: i16,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`.
    pub(crate) fn parse(text: &str) -> Result<Timestamp, TimeProblem> {
        let b = text.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
            return Err(TimeProblem::Syntax);
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(TimeProblem::Syntax);
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        let mut rest = &b[19..];
        let mut nanos: u32 = 0;
        if let Some((&b'.', fraction)) = rest.split_first() {
            let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 || len > 30 {
                return Err(TimeProblem::Syntax);
            }
            let mut scale = 100_000_000u32;
            for &d in &fraction[..len.min(9)] {
                nanos += u32::from(d - b'0') * scale;
                scale /= 10;
            }
            rest = &fraction[len..];
        }
        let offset_minutes = match rest {
            [] => return Err(TimeProblem::MissingZone),
            [b'Z'] | [b'z'] => 0,
            _ => parse_offset(rest)?,
        };
        if year == 0
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(i64::from(year), month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimeProblem::OutOfRange);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Ok(Timestamp {
            unix_seconds: local - i64::from(offset_minutes) * 60,
            nanos,
            offset_minutes,
        })
    }

    /// Seconds since the Unix epoch (UTC).
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    /// Nanoseconds within the second (at most nine digits are kept).
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// The zone offset the text was written in, minutes east of UTC.
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }

    /// Milliseconds since the Unix epoch, rounded half up from the fourth decimal
    /// (CBV 2.0 §8.9 rule 9).
    pub fn unix_millis_rounded(&self) -> i64 {
        let millis = i64::from(self.nanos / 1_000_000);
        let fourth = (self.nanos / 100_000) % 10;
        self.unix_seconds * 1000 + millis + i64::from(fourth >= 5)
    }

    /// The pre-hash form: UTC, three decimals, `Z` (CBV 2.0 §8.9 rules 8 and 9).
    pub fn to_hash_form(&self) -> String {
        let total = self.unix_millis_rounded();
        let millis = total.rem_euclid(1000);
        let secs = total.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

impl std::str::FromStr for Timestamp {
    type Err = &'static str;

    /// `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`; the error says what is wrong.
    fn from_str(text: &str) -> Result<Timestamp, &'static str> {
        Timestamp::parse(text).map_err(TimeProblem::describe)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hash_form())
    }
}

/// `eventTimeZoneOffset`: `±hh:mm`, hours at most 14 (EPCIS 2.0 §7.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeZoneOffset(String);

impl TimeZoneOffset {
    pub(crate) fn parse(text: &str) -> Result<TimeZoneOffset, TimeProblem> {
        parse_offset(text.as_bytes())?;
        Ok(TimeZoneOffset(text.to_owned()))
    }

    /// The offset as written, e.g. `+01:00`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Minutes east of UTC.
    pub fn minutes(&self) -> i16 {
        parse_offset(self.0.as_bytes()).unwrap_or(0)
    }
}

fn parse_offset(b: &[u8]) -> Result<i16, TimeProblem> {
    let [sign, h1, h2, b':', m1, m2] = b else {
        return Err(TimeProblem::Syntax);
    };
    let sign: i16 = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(TimeProblem::Syntax),
    };
    let hours = digits(&[*h1, *h2])?;
    let minutes = digits(&[*m1, *m2])?;
    if hours > 14 || minutes > 59 || (hours == 14 && minutes > 0) {
        return Err(TimeProblem::OutOfRange);
    }
    // Both are below 15 and 60 here, so the product fits an i16.
    Ok(sign * (hours as i16 * 60 + minutes as i16))
}

fn digits(b: &[u8]) -> Result<u32, TimeProblem> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(TimeProblem::Syntax);
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_form(s: &str) -> String {
        Timestamp::parse(s).map(|t| t.to_hash_form()).unwrap_or_default()
    }

    #[test]
    fn normalises_to_utc_milliseconds() {
        assert_eq!(hash_form("2020-03-04T11:00:30.000+01:00"), "2020-03-04T10:00:30.000Z");
        assert_eq!(
            hash_form("2005-04-03T20:33:31.116000-06:00"),
            "2005-04-04T02:33:31.116Z"
        );
        assert_eq!(hash_form("2023-01-11T12:00:00+01:00"), "2023-01-11T11:00:00.000Z");
        assert_eq!(hash_form("2023-02-02T11:04:03.1415Z"), "2023-02-02T11:04:03.142Z");
        assert_eq!(hash_form("2023-02-02T11:04:03.1414Z"), "2023-02-02T11:04:03.141Z");
        assert_eq!(hash_form("1999-12-31T23:59:59.9995Z"), "2000-01-01T00:00:00.000Z");
        assert_eq!(hash_form("2023-01-18T11:04:03.1425Z"), "2023-01-18T11:04:03.143Z");
        assert_eq!(hash_form("2024-02-29T00:30:00+01:00"), "2024-02-28T23:30:00.000Z");
    }

    #[test]
    fn refuses_bad_times() {
        assert_eq!(Timestamp::parse("2020-03-04T11:00:30"), Err(TimeProblem::MissingZone));
        assert_eq!(Timestamp::parse("2023-02-29T00:00:00Z"), Err(TimeProblem::OutOfRange));
        assert_eq!(Timestamp::parse("2023-01-01T24:00:00Z"), Err(TimeProblem::OutOfRange));
        assert_eq!(Timestamp::parse("2023-01-01 00:00:00Z"), Err(TimeProblem::Syntax));
        assert_eq!(Timestamp::parse("2023-01-01T00:00:00.Z"), Err(TimeProblem::Syntax));
        assert_eq!(Timestamp::parse("2023-01-01T00:00:00+1:00"), Err(TimeProblem::Syntax));
        assert_eq!(Timestamp::parse("２023-01-01T00:00:00Z"), Err(TimeProblem::Syntax));
        assert_eq!(TimeZoneOffset::parse("+15:00"), Err(TimeProblem::OutOfRange));
        assert_eq!(TimeZoneOffset::parse("-06:00").map(|o| o.minutes()), Ok(-360));
    }
}
