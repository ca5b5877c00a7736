//! The US National Provider Identifier (NPI).
//!
//! An NPI is ten digits; the tenth is a check digit computed with the Luhn formula (ISO/IEC
//! 7812) over the prefix `80840` (the card issuer identifier for US health applications)
//! followed by the first nine digits, as CMS's "NPI check digit" note states. CMS's own
//! example: `123456789` gives the check digit `3`, so `1234567893` is a valid NPI.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NpiError {
    #[error("an NPI is exactly ten ASCII digits")]
    Shape,
    #[error("NPI check digit is {found}, the Luhn check over 80840 and the first nine digits gives {expected}")]
    CheckDigit { expected: u8, found: u8 },
}

/// A ten-digit NPI whose check digit is right.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Npi([u8; 10]);

impl Npi {
    pub fn parse(s: &str) -> Result<Npi, NpiError> {
        let bytes: [u8; 10] = s.as_bytes().try_into().map_err(|_| NpiError::Shape)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(NpiError::Shape);
        }
        let mut first_nine = [0u8; 9];
        first_nine.copy_from_slice(&bytes[..9]);
        let expected = check_digit(&first_nine);
        let found = bytes[9] - b'0';
        if expected != found {
            return Err(NpiError::CheckDigit { expected, found });
        }
        Ok(Npi(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Ten ASCII digits, checked at construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The Luhn check digit over `80840` followed by nine ASCII digits.
pub fn check_digit(first_nine: &[u8; 9]) -> u8 {
    let digits = b"80840".iter().chain(first_nine.iter()).map(|d| u32::from(d - b'0'));
    // Luhn: from the rightmost payload digit leftwards, double every other digit starting
    // with the rightmost (the check digit will sit to its right).
    let digits: Vec<u32> = digits.collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for Npi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Npi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Npi({})", self.as_str())
    }
}

impl TryFrom<String> for Npi {
    type Error = NpiError;
    fn try_from(s: String) -> Result<Npi, NpiError> {
        Npi::parse(&s)
    }
}

impl From<Npi> for String {
    fn from(n: Npi) -> String {
        n.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_example_is_valid() {
        assert_eq!(check_digit(b"123456789"), 3);
        assert_eq!(Npi::parse("1234567893").unwrap().as_str(), "1234567893");
    }

    #[test]
    fn wrong_check_digits_and_shapes_are_refused() {
        for last in ['0', '1', '2', '4', '5', '6', '7', '8', '9'] {
            let s = format!("123456789{last}");
            assert!(matches!(Npi::parse(&s), Err(NpiError::CheckDigit { expected: 3, .. })));
        }
        // A transposition of two adjacent digits changes the check digit.
        assert!(Npi::parse("2134567893").is_err());
        for s in ["", "123456789", "12345678933", "123456789a", "١٢٣٤٥٦٧٨٩٣"] {
            assert_eq!(Npi::parse(s), Err(NpiError::Shape), "{s}");
        }
    }

    #[test]
    fn every_nine_digit_prefix_has_exactly_one_check_digit() {
        for n in [0u32, 1, 99_999_999, 987_654_321, 555_555_555] {
            let prefix = format!("{n:09}");
            let valid: Vec<char> = ('0'..='9')
                .filter(|c| Npi::parse(&format!("{prefix}{c}")).is_ok())
                .collect();
            assert_eq!(valid.len(), 1, "{prefix}");
        }
    }
}
