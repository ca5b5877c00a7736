//! Fixed-point money: an `i64` count of hundredths (cents). Contracts see the same integer;
//! there are no floats on either side.

use std::fmt;
use std::str::FromStr;

/// An amount in hundredths of the currency unit: `Amount::from_cents(1234)` is `12.34`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount overflow")]
    Overflow,
    #[error("not an amount with at most two decimals: {0:?}")]
    Syntax(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn from_cents(cents: i64) -> Self {
        Amount(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    /// `units` whole units and `cents` hundredths (both of the same sign).
    pub fn new(units: i64, cents: i64) -> Result<Self, AmountError> {
        units
            .checked_mul(100)
            .and_then(|u| u.checked_add(cents))
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountError> {
        self.0.checked_add(other.0).map(Amount).ok_or(AmountError::Overflow)
    }

    pub fn checked_sub(self, other: Amount) -> Result<Amount, AmountError> {
        self.0.checked_sub(other.0).map(Amount).ok_or(AmountError::Overflow)
    }

    pub fn checked_mul_int(self, n: i64) -> Result<Amount, AmountError> {
        self.0.checked_mul(n).map(Amount).ok_or(AmountError::Overflow)
    }

    /// `self × basis_points / 10000`, rounded half away from zero (the SDK's `amountPercent`).
    pub fn percent(self, basis_points: i64) -> Result<Amount, AmountError> {
        let p = self.0.checked_mul(basis_points).ok_or(AmountError::Overflow)?;
        let (q, rem) = (p / 10_000, p % 10_000);
        Ok(Amount(if rem >= 5_000 {
            q + 1
        } else if rem <= -5_000 {
            q - 1
        } else {
            q
        }))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// `"12"`, `"12.3"`, `"12.34"`, `"-0.05"`; nothing else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AmountError::Syntax(s.chars().take(40).collect());
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 {
            return Err(bad());
        }
        if digits.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        let units: i64 = whole.parse().map_err(|_| AmountError::Overflow)?;
        let mut cents: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        if frac.len() == 1 {
            cents *= 10;
        }
        let magnitude = Amount::new(units, cents)?;
        Ok(if negative { Amount(-magnitude.0) } else { magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_parses_two_decimals() {
        for (text, cents) in [("12.34", 1234), ("-0.05", -5), ("0.00", 0), ("100.50", 10050)] {
            assert_eq!(text.parse::<Amount>(), Ok(Amount::from_cents(cents)));
            assert_eq!(Amount::from_cents(cents).to_string(), text);
        }
        assert_eq!("7.5".parse::<Amount>(), Ok(Amount::from_cents(750)));
        for bad in ["", "1.234", "1.", ".5", "1e3", "--1", "1.-5", "99999999999999999999"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_rounds_half_away_from_zero() {
        assert_eq!(Amount::from_cents(1001).percent(2000), Ok(Amount::from_cents(200)));
        assert_eq!(Amount::from_cents(1003).percent(5000), Ok(Amount::from_cents(502)));
        assert_eq!(Amount::from_cents(-1003).percent(5000), Ok(Amount::from_cents(-502)));
        assert_eq!(Amount::from_cents(i64::MAX).percent(2), Err(AmountError::Overflow));
    }
}
