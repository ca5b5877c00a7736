//! Reading a verification request: the Digital Link path's GTIN, lot and serial, and the
//! query's `17`, `linkType`, `context`, `reqGLN` and `corrUUID`. Pure and bounded, for the
//! handler and the fuzzer; every refusal names the parameter.

use medledger_gs1::ident::{Ai, Gln, Gtin, Lot, Serial};
use thiserror::Error;

/// Longest query string read.
pub const MAX_QUERY: usize = 2048;

/// The `linkType` values that name the verification service: the GS1 Web Vocabulary term
/// in its compact form, its bare name, and its IRIs.
const LINK_TYPES: [&str; 5] = [
    "gs1:verificationService",
    "verificationService",
    "https://gs1.org/voc/verificationService",
    "https://www.gs1.org/voc/verificationService",
    "https://ref.gs1.org/voc/verificationService",
];

/// A calendar date from an AI (17) `YYMMDD`, with day `00` read as the month's last day
/// and the century chosen by the GS1 General Specifications' rule (§7.12). Ordered by date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry {
    year: i64,
    month: u32,
    day: u32,
}

impl Expiry {
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Expiry {
        Expiry { year, month, day }
    }

    /// Reads `YYMMDD` (day `00` allowed) relative to `today`, whose year picks the
    /// century: a two-digit year 51 to 99 years ahead of today's is in the previous
    /// century, one 50 to 99 years behind in the next, any other in the current one.
    pub fn parse(yymmdd: &str, today: Expiry) -> Result<Expiry, RequestError> {
        Ai::lookup("17")
            .and_then(|ai| ai.validate(yymmdd))
            .map_err(|_| RequestError::Invalid {
                param: "17",
                why: "an expiry date YYMMDD (day 00 for the end of the month)",
            })?;
        let num = |r: std::ops::Range<usize>| yymmdd.get(r).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        let (yy, month, day) = (i64::from(num(0..2)), num(2..4), num(4..6));
        let current = today.year.rem_euclid(100);
        let century = today.year - current;
        let year = match yy - current {
            51..=99 => century - 100 + yy,
            -99..=-50 => century + 100 + yy,
            _ => century + yy,
        };
        let day = if day == 0 { days_in_month(year, month) } else { day };
        Ok(Expiry { year, month, day })
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A checked verification request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyRequest {
    pub gtin: Gtin,
    pub lot: Lot,
    pub serial: Serial,
    pub expiry: Expiry,
    /// Why the requester asks (`dscsaSaleableReturn`, …), as given.
    pub context: String,
    pub req_gln: Gln,
    /// The requester's correlation id, echoed in the response.
    pub corr_uuid: String,
}

/// Why a request was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("the query string is longer than {MAX_QUERY} bytes")]
    TooLong,
    #[error("the query string does not parse as application/x-www-form-urlencoded")]
    Query,
    #[error("{0} is given more than once")]
    Repeated(&'static str),
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{param} must be {why}")]
    Invalid { param: &'static str, why: &'static str },
}

impl RequestError {
    /// The parameter at fault, if one is.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            RequestError::Repeated(p) | RequestError::Missing(p) => Some(p),
            RequestError::Invalid { param, .. } => Some(param),
            RequestError::TooLong | RequestError::Query => None,
        }
    }
}

/// Reads a request: the path's (01) GTIN, (10) lot and (21) serial, already
/// percent-decoded, and the raw query string; `today` resolves the expiry's century.
pub fn parse_request(
    gtin: &str,
    lot: &str,
    serial: &str,
    query: &str,
    today: Expiry,
) -> Result<VerifyRequest, RequestError> {
    let invalid = |param, why| RequestError::Invalid { param, why };
    let gtin = Gtin::parse(gtin).map_err(|_| invalid("01", "a GTIN of 8, 12, 13 or 14 digits with its check digit"))?;
    let lot = Lot::parse(lot)
        .map_err(|_| invalid("10", "a lot of 1 to 20 characters of GS1 AI encodable character set 82"))?;
    let serial = Serial::parse(serial).map_err(|_| {
        invalid(
            "21",
            "a serial of 1 to 20 characters of GS1 AI encodable character set 82",
        )
    })?;
    if query.len() > MAX_QUERY {
        return Err(RequestError::TooLong);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| RequestError::Query)?;
    let mut fields: [Option<String>; 5] = Default::default();
    const NAMES: [&str; 5] = ["17", "linkType", "context", "reqGLN", "corrUUID"];
    for (name, value) in pairs {
        // Other Digital Link attributes are allowed and not read.
        let Some(i) = NAMES.iter().position(|n| *n == name) else {
            continue;
        };
        let slot = fields.get_mut(i).ok_or(RequestError::Query)?;
        if slot.replace(value).is_some() {
            return Err(RequestError::Repeated(NAMES.get(i).copied().unwrap_or("?")));
        }
    }
    let [expiry, link_type, context, req_gln, corr_uuid] = fields;
    let expiry = Expiry::parse(&expiry.ok_or(RequestError::Missing("17"))?, today)?;
    let link_type = link_type.ok_or(RequestError::Missing("linkType"))?;
    if !LINK_TYPES.contains(&link_type.as_str()) {
        return Err(invalid("linkType", "gs1:verificationService"));
    }
    let context = context.ok_or(RequestError::Missing("context"))?;
    if context.is_empty()
        || context.len() > 64
        || !context
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "context",
            "1 to 64 letters, digits, _ or - (e.g. dscsaSaleableReturn)",
        ));
    }
    let req_gln = Gln::parse(&req_gln.ok_or(RequestError::Missing("reqGLN"))?)
        .map_err(|_| invalid("reqGLN", "a GLN of 13 digits with its check digit"))?;
    let corr_uuid = corr_uuid.ok_or(RequestError::Missing("corrUUID"))?;
    if !is_uuid(&corr_uuid) {
        return Err(invalid("corrUUID", "a UUID (8-4-4-4-12 hexadecimal digits)"));
    }
    Ok(VerifyRequest {
        gtin,
        lot,
        serial,
        expiry,
        context,
        req_gln,
        corr_uuid,
    })
}

/// RFC 9562's text form: 32 hexadecimal digits in groups of 8, 4, 4, 4 and 12.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "4fd2a4a9-3d8b-4c6f-9b1e-0f6f3c0a7b21";
    const TODAY: Expiry = Expiry {
        year: 2026,
        month: 12,
        day: 5,
    };

    fn query(extra: &str) -> String {
        format!(
            "17=280131&linkType=gs1:verificationService&context=dscsaSaleableReturn&reqGLN=4012345000122&corrUUID={UUID}{extra}"
        )
    }

    #[test]
    fn reads_a_full_request() {
        let r = parse_request("10614141000019", "LOT%1", "SER/1", &query("&other=1"), TODAY).unwrap();
        assert_eq!(r.gtin.as_str(), "10614141000019");
        assert_eq!(r.lot.as_str(), "LOT%1");
        assert_eq!(r.serial.as_str(), "SER/1");
        assert_eq!(r.expiry, Expiry::from_ymd(2028, 1, 31));
        assert_eq!(r.context, "dscsaSaleableReturn");
        assert_eq!(r.req_gln.as_str(), "4012345000122");
        assert_eq!(r.corr_uuid, UUID);
        // A GTIN-13 is read as its GTIN-14.
        let short = parse_request("0614141000012", "L", "S", &query(""), TODAY).unwrap();
        assert_eq!(short.gtin.as_str(), "00614141000012");
    }

    #[test]
    fn refuses_each_bad_part_naming_it() {
        let bad = |gtin: &str, lot: &str, serial: &str, q: &str| {
            parse_request(gtin, lot, serial, q, TODAY).unwrap_err().param()
        };
        let q = query("");
        assert_eq!(bad("10614141000018", "L", "S", &q), Some("01"));
        assert_eq!(bad("10614141000019", "", "S", &q), Some("10"));
        assert_eq!(bad("10614141000019", "L", "a b", &q), Some("21"));
        assert_eq!(bad("10614141000019", &"L".repeat(21), "S", &q), Some("10"));
        assert_eq!(
            bad("10614141000019", "L", "S", &q.replace("280131", "281331")),
            Some("17")
        );
        assert_eq!(
            bad("10614141000019", "L", "S", &q.replace("17=280131&", "")),
            Some("17")
        );
        assert_eq!(bad("10614141000019", "L", "S", &query("&17=280131")), Some("17"));
        assert_eq!(
            bad(
                "10614141000019",
                "L",
                "S",
                &q.replace("gs1:verificationService", "gs1:pip")
            ),
            Some("linkType")
        );
        assert_eq!(
            bad("10614141000019", "L", "S", &q.replace("dscsaSaleableReturn", "a%20b")),
            Some("context")
        );
        assert_eq!(
            bad("10614141000019", "L", "S", &q.replace("4012345000122", "4012345000123")),
            Some("reqGLN")
        );
        assert_eq!(
            bad("10614141000019", "L", "S", &q.replace(UUID, "not-a-uuid")),
            Some("corrUUID")
        );
        assert_eq!(
            parse_request("10614141000019", "L", "S", &"a=b&".repeat(600), TODAY),
            Err(RequestError::TooLong)
        );
    }

    #[test]
    fn expiry_century_and_end_of_month() {
        let e = |s| Expiry::parse(s, TODAY).unwrap();
        assert_eq!(e("280200"), Expiry::from_ymd(2028, 2, 29));
        assert_eq!(e("270200"), Expiry::from_ymd(2027, 2, 28));
        assert_eq!(e("261100"), Expiry::from_ymd(2026, 11, 30));
        // GenSpecs §7.12: 51 or more years ahead is the previous century.
        assert_eq!(e("770101"), Expiry::from_ymd(1977, 1, 1));
        assert_eq!(e("760101"), Expiry::from_ymd(2076, 1, 1));
        assert!(Expiry::parse("280230", TODAY).is_err());
        assert!(Expiry::parse("28013", TODAY).is_err());
    }
}
