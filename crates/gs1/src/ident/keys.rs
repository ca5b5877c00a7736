//! Checked newtypes for the GS1 keys and attributes that cross crate boundaries.
//!
//! Each holds a value that passed its AI's format (the `ai` table), so a [`Gtin`] always has
//! 14 digits and a valid check digit, and a [`Serial`] is 1–20 CSET 82 characters.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ai::Ai;
use super::error::IdentError;

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $ai:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The AI whose value this is.
            pub const AI: &'static str = $ai;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdentError;
            fn try_from(s: String) -> Result<Self, IdentError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdentError;
            fn from_str(s: &str) -> Result<Self, IdentError> {
                Self::parse(s)
            }
        }
    };
}

fn validated(ai: &str, value: &str) -> Result<String, IdentError> {
    super::check_input_len(value)?;
    Ai::lookup(ai)?.validate(value)?;
    Ok(value.to_string())
}

checked_string!(
    /// A GTIN in its 14-digit form, AI (01) (GenSpecs §3.2, §4.3).
    Gtin,
    "01"
);

impl Gtin {
    /// A GTIN-8, -12, -13 or -14; the shorter ones are padded with leading zeros to 14
    /// digits (GenSpecs §4.3.1: the GTIN-14 format of every GTIN), then the check digit is
    /// checked.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        match s.len() {
            8 | 12 | 13 | 14 => validated(Self::AI, &format!("{s:0>14}")).map(Self),
            _ => Err(IdentError::BadKeyLength {
                what: "GTIN",
                expected: "8, 12, 13 or 14",
                found: s.chars().take(32).collect(),
            }),
        }
    }

    /// The indicator digit (first of the 14).
    pub fn indicator(&self) -> char {
        self.0.chars().next().unwrap_or('0')
    }
}

checked_string!(
    /// A Global Location Number, 13 digits with check digit, AI (414) (GenSpecs §3.7.9).
    Gln,
    "414"
);

impl Gln {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        validated(Self::AI, s).map(Self)
    }
}

checked_string!(
    /// A Serial Shipping Container Code, 18 digits with check digit, AI (00).
    Sscc,
    "00"
);

impl Sscc {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        validated(Self::AI, s).map(Self)
    }
}

checked_string!(
    /// A serial number, AI (21): 1–20 characters of CSET 82.
    Serial,
    "21"
);

impl Serial {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        validated(Self::AI, s).map(Self)
    }
}

checked_string!(
    /// A batch or lot number, AI (10): 1–20 characters of CSET 82.
    Lot,
    "10"
);

impl Lot {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        validated(Self::AI, s).map(Self)
    }
}

checked_string!(
    /// A GLN extension component, AI (254): 1–20 characters of CSET 82.
    GlnExtension,
    "254"
);

impl GlnExtension {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        validated(Self::AI, s).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_padding_and_check() {
        // GTIN-13 and GTIN-8 from the GS1 Syntax Engine's DL tests (dl.c).
        assert_eq!(
            Gtin::parse("2112345678900").map(|g| g.to_string()),
            Ok("02112345678900".into())
        );
        assert_eq!(
            Gtin::parse("02345673").map(|g| g.to_string()),
            Ok("00000002345673".into())
        );
        assert!(matches!(
            Gtin::parse("2112345678901"),
            Err(IdentError::BadCheckDigit { .. })
        ));
        assert!(matches!(Gtin::parse("123"), Err(IdentError::BadKeyLength { .. })));
    }

    #[test]
    fn serde_validates() {
        let ok: Result<Serial, _> = serde_json::from_str("\"ABC-1/2\"");
        assert!(ok.is_ok());
        let bad: Result<Serial, _> = serde_json::from_str("\"has space\"");
        assert!(bad.is_err());
        let gtin: Result<Gtin, _> = serde_json::from_str("\"09506000134352\"");
        assert_eq!(
            gtin.ok().and_then(|g| serde_json::to_string(&g).ok()),
            Some("\"09506000134352\"".into())
        );
    }
}
