//! FHIR `instant` text for node times, and HTTP dates (RFC 9110 IMF-fixdate) for
//! `Last-Modified` and `If-Modified-Since`.

pub(crate) use medledger_types::calendar::civil_from_days;
use medledger_types::calendar::days_from_civil;

/// `2024-05-01T12:34:56.789Z` for milliseconds since the Unix epoch.
pub fn instant(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` for milliseconds since the Unix epoch.
pub fn http_date(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Milliseconds since the Unix epoch of an IMF-fixdate; `None` for anything else (RFC
/// 9110 lets a server ignore an `If-Modified-Since` it cannot parse).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.get(5..)?;
    let mut parts = rest.split(' ');
    let d: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let m = MONTHS.iter().position(|x| *x == month)? as u32 + 1;
    let y: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some((days as u64 * 86_400 + h * 3600 + mi * 60 + se) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(instant(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(instant(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
        for ms in [0, 951_782_400_000, 1_735_689_599_000, 4_102_444_800_000] {
            assert_eq!(parse_http_date(&http_date(ms)), Some(ms));
        }
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
