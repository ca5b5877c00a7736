//! Instants as seconds since the Unix epoch, and the RFC 3339 / XML Schema
//! `dateTimeStamp` form that Verifiable Credentials use (`validFrom`, `validUntil`).
//!
//! This crate reads no clock: every check that depends on the time takes a
//! [`UnixTime`] from its caller.

use medledger_types::calendar::{civil_from_days, days_from_civil, days_in_month};
use thiserror::Error;

/// Seconds since 1970-01-01T00:00:00Z (leap seconds ignored, as in POSIX and RFC 7519).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not an RFC 3339 date-time with a time zone: {0:?}")]
pub struct TimeError(pub String);

/// The earliest and latest years accepted, to keep arithmetic far from overflow.
const MIN_YEAR: i64 = 1;
const MAX_YEAR: i64 = 9999;

impl UnixTime {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. The fraction is dropped
    /// (truncated towards the past, so a credential is never valid a second early).
    pub fn parse_rfc3339(s: &str) -> Result<UnixTime, TimeError> {
        let err = || TimeError(s.chars().take(64).collect());
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return Err(err());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let num = |from: usize, to: usize| -> Result<i64, TimeError> {
            let part = &b[from..to];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(err());
            }
            Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(MIN_YEAR..=MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > i64::from(days_in_month(year, u32::try_from(month).unwrap_or(0)))
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(err());
        }
        let mut rest = &b[19..];
        if let Some((b'.', tail)) = rest.split_first() {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(err());
            }
            rest = &tail[digits..];
        }
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(err());
                }
                let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
                let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
                if h > 23 || m > 59 {
                    return Err(err());
                }
                let off = h * 3600 + m * 60;
                if *sign == b'+' { off } else { -off }
            }
            _ => return Err(err()),
        };
        // In range: checked above.
        let days = days_from_civil(year, month as u32, day as u32);
        Ok(UnixTime(
            days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset,
        ))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the form this crate writes.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = UnixTime::parse_rfc3339("2023-02-24T23:36:38Z").unwrap();
        assert_eq!(t, UnixTime(1_677_281_798));
        assert_eq!(t.to_rfc3339(), "2023-02-24T23:36:38Z");
        assert_eq!(UnixTime::parse_rfc3339("2023-02-25T01:36:38.123+02:00").unwrap(), t);
        assert_eq!(UnixTime::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), UnixTime(0));
        assert_eq!(UnixTime(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn refuses_malformed() {
        for s in [
            "",
            "2023-02-24",
            "2023-02-24T23:36:38",
            "2023-02-30T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-02-24T24:00:00Z",
            "2023-02-24T23:36:38.Z",
            "2023-02-24T23:36:38+0200",
            "+023-02-24T23:36:38Z",
            "2023-02-24T23:36:38Zjunk",
        ] {
            assert!(UnixTime::parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
