//! EPC pure identity and class URIs (GS1 EPC Tag Data Standard 2.x), the names EPCIS events
//! give to objects and quantities.
//!
//! | URI | TDS | GS1 element string |
//! |---|---|---|
//! | `urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial` | §6.3.1 | (01) (21) |
//! | `urn:epc:id:sscc:CompanyPrefix.ExtensionSerialRef` | §6.3.2 | (00) |
//! | `urn:epc:id:sgln:CompanyPrefix.LocationRef.Extension` | §6.3.3 | (414) [(254)] |
//! | `urn:epc:class:lgtin:CompanyPrefix.IndicatorItemRef.Lot` | §6.4.1 (EPC Class) | (01) (10) |
//! | `urn:epc:idpat:sgtin:CompanyPrefix.IndicatorItemRef.*` | EPC Pattern URI, for EPCIS quantities of a GTIN | (01) |
//!
//! The GS1 Company Prefix length (6–12 digits) is not written in a GTIN, SSCC or GLN, so
//! turning one into a URI takes it as a parameter ([`CompanyPrefixLen`]); reading a URI
//! recovers it from the `.`. The check digit is dropped in the URI and recomputed on the way
//! back (TDS §7, the EPC ↔ GS1 key correspondence). Serial, lot and extension components use the TDS §5 character
//! rules: the CSET 82 characters `"` `%` `&` `/` `<` `>` `?` are written `%22` `%25` `%26`
//! `%2F` `%3C` `%3E` `%3F`, every other CSET 82 character as it is; on reading, any `%HH`
//! is decoded and the result must be CSET 82. An SGLN extension of `0` means "no
//! extension" (TDS §6.3.3), so a (254) of `0` does not survive the trip.
//!
//! Scheme names are matched in lower case, as TDS writes them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::check::check_digit;
use super::check_input_len;
use super::digital_link::DigitalLink;
use super::element::{Element, ElementString};
use super::error::IdentError;
use super::keys::{Gln, GlnExtension, Gtin, Lot, Serial, Sscc};
use super::uri::{escape_epc, unescape};

/// Length of a GS1 Company Prefix, 6 to 12 digits (TDS §7 and the partition tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompanyPrefixLen(u8);

impl CompanyPrefixLen {
    pub const MIN: usize = 6;
    pub const MAX: usize = 12;

    pub fn new(len: usize) -> Result<Self, IdentError> {
        match u8::try_from(len) {
            Ok(l) if (Self::MIN..=Self::MAX).contains(&len) => Ok(Self(l)),
            _ => Err(IdentError::CompanyPrefixLength { len }),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// An EPC URI this module reads and writes.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EpcUri {
    /// One serialised trade item.
    Sgtin {
        gtin: Gtin,
        serial: Serial,
        company_prefix_len: CompanyPrefixLen,
    },
    /// One logistic unit.
    Sscc {
        sscc: Sscc,
        company_prefix_len: CompanyPrefixLen,
    },
    /// A location, with or without extension.
    Sgln {
        gln: Gln,
        extension: Option<GlnExtension>,
        company_prefix_len: CompanyPrefixLen,
    },
    /// A batch/lot of a trade item (EPC Class, for EPCIS quantities).
    Lgtin {
        gtin: Gtin,
        lot: Lot,
        company_prefix_len: CompanyPrefixLen,
    },
    /// Every instance of a GTIN (EPC pattern, for EPCIS quantities without a lot).
    SgtinPattern {
        gtin: Gtin,
        company_prefix_len: CompanyPrefixLen,
    },
}

const SGTIN: &str = "urn:epc:id:sgtin:";
const SSCC: &str = "urn:epc:id:sscc:";
const SGLN: &str = "urn:epc:id:sgln:";
const LGTIN: &str = "urn:epc:class:lgtin:";
const SGTIN_PATTERN: &str = "urn:epc:idpat:sgtin:";

impl EpcUri {
    pub fn parse(uri: &str) -> Result<Self, IdentError> {
        check_input_len(uri)?;
        if uri.is_empty() {
            return Err(IdentError::Empty);
        }
        let unsupported = || IdentError::UnsupportedEpcUri {
            found: uri.chars().take(64).collect(),
        };
        let (scheme, body) = [SGTIN, SSCC, SGLN, LGTIN, SGTIN_PATTERN]
            .into_iter()
            .find_map(|s| uri.strip_prefix(s).map(|body| (s, body)))
            .ok_or_else(unsupported)?;
        let base = scheme.len();
        match scheme {
            SSCC => {
                let parts = split_parts(body, 2, base)?;
                let (cp, serial_ref) = (parts[0], parts[1]);
                let company_prefix_len = digits_with_prefix(cp, serial_ref, 17)?;
                // Extension digit first, then company prefix and serial reference.
                let data = format!("{}{}{}", &serial_ref.1[..1], cp.1, &serial_ref.1[1..]);
                Ok(EpcUri::Sscc {
                    sscc: Sscc::parse(&with_check_digit(&data))?,
                    company_prefix_len,
                })
            }
            SGLN => {
                let parts = split_parts(body, 3, base)?;
                let (cp, location_ref, ext) = (parts[0], parts[1], parts[2]);
                let company_prefix_len = digits_with_prefix(cp, location_ref, 12)?;
                let gln = Gln::parse(&with_check_digit(&format!("{}{}", cp.1, location_ref.1)))?;
                let extension = match decode_component(GlnExtension::AI, ext)? {
                    e if e == "0" => None,
                    e => Some(GlnExtension::parse(&e).map_err(|err| err.offset_by(ext.0))?),
                };
                Ok(EpcUri::Sgln {
                    gln,
                    extension,
                    company_prefix_len,
                })
            }
            _ => {
                let parts = split_parts(body, 3, base)?;
                let (cp, item_ref, last) = (parts[0], parts[1], parts[2]);
                let company_prefix_len = digits_with_prefix(cp, item_ref, 13)?;
                // Indicator digit first, then company prefix and item reference.
                let data = format!("{}{}{}", &item_ref.1[..1], cp.1, &item_ref.1[1..]);
                let gtin = Gtin::parse(&with_check_digit(&data))?;
                match scheme {
                    SGTIN => {
                        let serial = decode_component(Serial::AI, last)?;
                        Ok(EpcUri::Sgtin {
                            gtin,
                            serial: Serial::parse(&serial).map_err(|e| e.offset_by(last.0))?,
                            company_prefix_len,
                        })
                    }
                    LGTIN => {
                        let lot = decode_component(Lot::AI, last)?;
                        Ok(EpcUri::Lgtin {
                            gtin,
                            lot: Lot::parse(&lot).map_err(|e| e.offset_by(last.0))?,
                            company_prefix_len,
                        })
                    }
                    _ if last.1 == "*" => Ok(EpcUri::SgtinPattern {
                        gtin,
                        company_prefix_len,
                    }),
                    _ => Err(unsupported()),
                }
            }
        }
    }

    /// The SGTIN, SSCC or SGLN named by the first of (01) with (21), (00) or (414) in
    /// `elements`.
    pub fn instance_from_elements(
        elements: &ElementString,
        company_prefix_len: CompanyPrefixLen,
    ) -> Result<Self, IdentError> {
        for e in elements.elements() {
            match e.ai().code() {
                Gtin::AI => {
                    if let Some(serial) = elements.get(Serial::AI) {
                        return Ok(EpcUri::Sgtin {
                            gtin: Gtin::parse(e.value())?,
                            serial: Serial::parse(serial)?,
                            company_prefix_len,
                        });
                    }
                }
                Sscc::AI => {
                    return Ok(EpcUri::Sscc {
                        sscc: Sscc::parse(e.value())?,
                        company_prefix_len,
                    });
                }
                Gln::AI => {
                    return Ok(EpcUri::Sgln {
                        gln: Gln::parse(e.value())?,
                        extension: elements.get(GlnExtension::AI).map(GlnExtension::parse).transpose()?,
                        company_prefix_len,
                    });
                }
                _ => {}
            }
        }
        Err(IdentError::MissingKey {
            needs: "(01) with (21), (00) or (414)",
        })
    }

    /// The EPC class for a quantity of the (01) in `elements`: LGTIN when a (10) lot is
    /// present, else the SGTIN pattern of the whole GTIN.
    pub fn class_from_elements(
        elements: &ElementString,
        company_prefix_len: CompanyPrefixLen,
    ) -> Result<Self, IdentError> {
        let gtin = Gtin::parse(elements.get(Gtin::AI).ok_or(IdentError::MissingKey { needs: "(01)" })?)?;
        Ok(match elements.get(Lot::AI) {
            Some(lot) => EpcUri::Lgtin {
                gtin,
                lot: Lot::parse(lot)?,
                company_prefix_len,
            },
            None => EpcUri::SgtinPattern {
                gtin,
                company_prefix_len,
            },
        })
    }

    /// The instance URI for what a Digital Link names ([`EpcUri::instance_from_elements`]).
    pub fn from_digital_link(dl: &DigitalLink, company_prefix_len: CompanyPrefixLen) -> Result<Self, IdentError> {
        Self::instance_from_elements(dl.elements(), company_prefix_len)
    }

    /// The GS1 element string this URI stands for.
    pub fn to_elements(&self) -> Result<ElementString, IdentError> {
        let el = |ai: &str, v: &str| Element::parse(ai, v);
        let elements = match self {
            EpcUri::Sgtin { gtin, serial, .. } => {
                vec![el(Gtin::AI, gtin.as_str())?, el(Serial::AI, serial.as_str())?]
            }
            EpcUri::Sscc { sscc, .. } => vec![el(Sscc::AI, sscc.as_str())?],
            EpcUri::Sgln { gln, extension, .. } => {
                let mut v = vec![el(Gln::AI, gln.as_str())?];
                if let Some(ext) = extension {
                    v.push(el(GlnExtension::AI, ext.as_str())?);
                }
                v
            }
            EpcUri::Lgtin { gtin, lot, .. } => {
                vec![el(Gtin::AI, gtin.as_str())?, el(Lot::AI, lot.as_str())?]
            }
            EpcUri::SgtinPattern { gtin, .. } => vec![el(Gtin::AI, gtin.as_str())?],
        };
        ElementString::new(elements)
    }

    /// The Digital Link URI for the same identifier under `stem`.
    pub fn to_digital_link(&self, stem: &str) -> Result<DigitalLink, IdentError> {
        DigitalLink::from_elements(&self.to_elements()?, stem)
    }

    pub fn company_prefix_len(&self) -> CompanyPrefixLen {
        match self {
            EpcUri::Sgtin { company_prefix_len, .. }
            | EpcUri::Sscc { company_prefix_len, .. }
            | EpcUri::Sgln { company_prefix_len, .. }
            | EpcUri::Lgtin { company_prefix_len, .. }
            | EpcUri::SgtinPattern { company_prefix_len, .. } => *company_prefix_len,
        }
    }

    /// The GS1 Company Prefix digits.
    pub fn company_prefix(&self) -> &str {
        let l = self.company_prefix_len().get();
        let digits = match self {
            EpcUri::Sgtin { gtin, .. } | EpcUri::Lgtin { gtin, .. } | EpcUri::SgtinPattern { gtin, .. } => {
                &gtin.as_str()[1..]
            }
            EpcUri::Sscc { sscc, .. } => &sscc.as_str()[1..],
            EpcUri::Sgln { gln, .. } => gln.as_str(),
        };
        &digits[..l]
    }
}

/// `CompanyPrefix.IndicatorItemRef` of a GTIN-14 (or `CompanyPrefix.ExtensionSerialRef` of
/// an SSCC): the leading digit moves behind the company prefix, the check digit goes.
fn prefix_and_reference(key: &str, l: usize) -> (&str, String) {
    let last = key.len() - 1;
    (&key[1..=l], format!("{}{}", &key[..1], &key[l + 1..last]))
}

impl fmt::Display for EpcUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.company_prefix_len().get();
        match self {
            EpcUri::Sgtin { gtin, serial, .. } => {
                let (cp, item_ref) = prefix_and_reference(gtin.as_str(), l);
                write!(f, "{SGTIN}{cp}.{item_ref}.{}", escape_epc(serial.as_str()))
            }
            EpcUri::Sscc { sscc, .. } => {
                let (cp, serial_ref) = prefix_and_reference(sscc.as_str(), l);
                write!(f, "{SSCC}{cp}.{serial_ref}")
            }
            EpcUri::Sgln { gln, extension, .. } => {
                let g = gln.as_str();
                let ext = extension
                    .as_ref()
                    .map_or_else(|| "0".to_string(), |e| escape_epc(e.as_str()));
                write!(f, "{SGLN}{}.{}.{ext}", &g[..l], &g[l..12])
            }
            EpcUri::Lgtin { gtin, lot, .. } => {
                let (cp, item_ref) = prefix_and_reference(gtin.as_str(), l);
                write!(f, "{LGTIN}{cp}.{item_ref}.{}", escape_epc(lot.as_str()))
            }
            EpcUri::SgtinPattern { gtin, .. } => {
                let (cp, item_ref) = prefix_and_reference(gtin.as_str(), l);
                write!(f, "{SGTIN_PATTERN}{cp}.{item_ref}.*")
            }
        }
    }
}

impl fmt::Debug for EpcUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpcUri({self})")
    }
}

impl std::str::FromStr for EpcUri {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, IdentError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EpcUri {
    type Error = IdentError;
    fn try_from(s: String) -> Result<Self, IdentError> {
        Self::parse(&s)
    }
}

impl From<EpcUri> for String {
    fn from(uri: EpcUri) -> String {
        uri.to_string()
    }
}

/// A URI component and its byte offset in the whole URI.
type Part<'a> = (usize, &'a str);

/// `body` split on `.` into exactly `n` parts; the last may itself hold dots (a serial may).
fn split_parts(body: &str, n: usize, base: usize) -> Result<Vec<Part<'_>>, IdentError> {
    let mut parts = Vec::with_capacity(n);
    let mut at = base;
    for part in body.splitn(n, '.') {
        parts.push((at, part));
        at += part.len() + 1;
    }
    if parts.len() != n || (n == 2 && body.matches('.').count() != 1) {
        return Err(IdentError::EpcComponentCount {
            expected: n,
            found: body.matches('.').count() + 1,
        });
    }
    Ok(parts)
}

/// Checks the company prefix and reference are digits, the prefix 6–12 of them and both
/// together `total`.
fn digits_with_prefix(cp: Part<'_>, reference: Part<'_>, total: usize) -> Result<CompanyPrefixLen, IdentError> {
    for (at, part) in [cp, reference] {
        if let Some(i) = part.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(IdentError::EpcNotDigits { position: at + i });
        }
    }
    let len = CompanyPrefixLen::new(cp.1.len())?;
    let found = cp.1.len() + reference.1.len();
    // The reference must hold at least the indicator or extension digit where there is one
    // (total 13 and 17); a GLN's location reference may be empty.
    if found != total || (total != 12 && reference.1.is_empty()) {
        return Err(IdentError::EpcDigitCount {
            position: cp.0,
            expected: total,
            found,
        });
    }
    Ok(len)
}

fn with_check_digit(data: &str) -> String {
    let cd = check_digit(data).unwrap_or('0');
    format!("{data}{cd}")
}

fn decode_component(ai: &str, (at, raw): Part<'_>) -> Result<String, IdentError> {
    if raw.is_empty() {
        return Err(IdentError::EmptyValue {
            ai: ai.to_string(),
            position: at,
        });
    }
    unescape(raw, false).map_err(|e| e.offset_by(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_prefix_bounds() {
        assert!(CompanyPrefixLen::new(5).is_err());
        assert!(CompanyPrefixLen::new(13).is_err());
        assert!(CompanyPrefixLen::new(300).is_err());
        assert_eq!(CompanyPrefixLen::new(7).map(CompanyPrefixLen::get), Ok(7));
    }

    #[test]
    fn company_prefix_of_each_kind() {
        let uri = EpcUri::parse("urn:epc:id:sgln:0614141.12345.400");
        assert_eq!(uri.as_ref().map(EpcUri::company_prefix), Ok("0614141"));
        let uri = EpcUri::parse("urn:epc:id:sscc:0614141.1234567890");
        assert_eq!(uri.as_ref().map(EpcUri::company_prefix), Ok("0614141"));
    }
}
