//! Fixed-point numbers for X12 `R` (decimal) elements: money in cents ([`Amount`]) and
//! quantities in thousandths ([`Quantity`]). No floats anywhere. X12.6 defines the `R`
//! type: an optional leading minus sign, digits, an optional decimal point; no plus sign,
//! no exponent, no thousands separators.

use std::fmt;

/// Why a decimal element does not read as a fixed-point number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("{0:?} is not an X12 decimal number")]
    Syntax(String),
    #[error("{0:?} has more decimal places than {1}")]
    TooPrecise(String, u32),
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// Reads `text` as a fixed-point number with `scale` decimal places; extra places must be
/// zeros (`"1.500"` is 150 cents, `"1.505"` is an error, never rounded).
fn parse_fixed(text: &str, scale: u32) -> Result<i64, DecimalError> {
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    let syntax = || DecimalError::Syntax(text.to_owned());
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(syntax());
    }
    if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    // X12 limits R elements to 15 digits at most; 18 keeps every value inside i64.
    if whole.len() + fraction.len() > 18 {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }
    let scale_len = scale as usize;
    let (kept, extra) = fraction.split_at(fraction.len().min(scale_len));
    if extra.bytes().any(|b| b != b'0') {
        return Err(DecimalError::TooPrecise(text.to_owned(), scale));
    }
    let mut value: i64 = 0;
    let padded = kept.bytes().chain(std::iter::repeat_n(b'0', scale_len - kept.len()));
    for b in whole.bytes().chain(padded) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(|| DecimalError::OutOfRange(text.to_owned()))?;
    }
    Ok(if negative { -value } else { value })
}

/// Writes a fixed-point value the way X12 wants it: no trailing zeros after the decimal
/// point and no point when the fraction is zero (`1500`, `12.5`, `-0.01`).
fn write_fixed(f: &mut fmt::Formatter<'_>, value: i64, scale: u32) -> fmt::Result {
    let divisor = 10u64.pow(scale);
    let magnitude = value.unsigned_abs();
    let (whole, mut fraction) = (magnitude / divisor, magnitude % divisor);
    if value < 0 {
        f.write_str("-")?;
    }
    write!(f, "{whole}")?;
    if fraction != 0 {
        let mut width = scale as usize;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        write!(f, ".{fraction:0width$}")?;
    }
    Ok(())
}

/// A money amount in cents (X12 data element 782 and its kin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Reads an X12 decimal with at most two significant decimal places.
    pub fn parse(text: &str) -> Result<Amount, DecimalError> {
        parse_fixed(text, 2).map(Amount)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn sum<'a>(amounts: impl IntoIterator<Item = &'a Amount>) -> Option<Amount> {
        amounts.into_iter().try_fold(Amount::ZERO, |acc, a| acc.checked_add(*a))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, 2)
    }
}

/// A quantity (units of service, X12 data element 380) in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(pub i64);

impl Quantity {
    /// Whole units.
    pub fn units(units: i64) -> Quantity {
        Quantity(units.saturating_mul(1000))
    }

    /// Reads an X12 decimal with at most three significant decimal places.
    pub fn parse(text: &str) -> Result<Quantity, DecimalError> {
        parse_fixed(text, 3).map(Quantity)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_write_without_floats() {
        for (text, cents, written) in [
            ("100", 10_000, "100"),
            ("100.00", 10_000, "100"),
            ("12.5", 1_250, "12.5"),
            ("-0.01", -1, "-0.01"),
            (".5", 50, "0.5"),
            ("7.", 700, "7"),
            ("0", 0, "0"),
        ] {
            let amount = Amount::parse(text).expect(text);
            assert_eq!(amount.cents(), cents, "{text}");
            assert_eq!(amount.to_string(), written, "{text}");
        }
        for bad in ["", "-", ".", "+1", "1e3", "1,000", "1.005", "12a", "1.2.3", " 1"] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(Amount::parse("9999999999999999999").is_err());
        assert_eq!(Quantity::parse("1.5").map(|q| q.to_string()), Ok("1.5".into()));
        assert_eq!(Quantity::units(2).to_string(), "2");
    }
}
