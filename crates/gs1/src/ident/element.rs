//! Element strings: an ordered list of (AI, value) pairs, read and written in the scanned
//! form (FNC1 as GS) and the bracketed human-readable form.
//!
//! Scanned form (GenSpecs §7.8.5, ISO/IEC 15424): an optional GS1 symbology identifier,
//! then each AI followed by its value. A value whose AI is not of predefined length runs to
//! the next GS (0x1D) or the end; one of predefined length is exactly its fixed length, and
//! the next AI follows at once. A GS after a predefined-length value, or at the very end,
//! is tolerated (scanners and printers add them) but never written. Textual stand-ins for
//! FNC1 such as `^` or `{GS}` are not accepted: they are presentation conventions of
//! particular tools, and as neither `^` nor `{` is in CSET 82 a caller can replace them
//! with GS losslessly before parsing.
//!
//! Bracketed form (GenSpecs §4.15, human-readable interpretation): `(AI)value…`. A value
//! runs to the next `(`; a literal `(` inside a value is written `\(`, the GS1 Syntax
//! Engine's convention (`\` is not in CSET 82, so nothing else needs escaping).
//!
//! After parsing, every element is checked against its AI, an AI that appears twice must
//! carry the same value both times, and unless [`PairingRules::Skip`] is asked for, the
//! `req=`/`ex=` pairings of the Syntax Dictionary (GenSpecs §4.14) are enforced. Skip them
//! for data read from one of several carriers on the same item: the Syntax Dictionary says
//! pairings hold over everything an item carries, which one barcode may not show.

use std::fmt;

use super::ai::Ai;
use super::error::IdentError;
use super::{MAX_ELEMENTS, check_input_len};

const GS: u8 = 0x1d;

/// One AI and its validated value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Element {
    ai: Ai,
    value: String,
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}){}", self.ai, self.value)
    }
}

impl Element {
    /// `value` checked against `ai`'s format and linters.
    pub fn new(ai: Ai, value: impl Into<String>) -> Result<Self, IdentError> {
        let value = value.into();
        check_input_len(&value)?;
        ai.validate(&value)?;
        Ok(Self { ai, value })
    }

    /// As [`Element::new`], the AI given by its code.
    pub fn parse(ai: &str, value: &str) -> Result<Self, IdentError> {
        Self::new(Ai::lookup(ai)?, value)
    }

    pub fn ai(&self) -> Ai {
        self.ai
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Whether the Syntax Dictionary's `req=`/`ex=` AI pairings are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PairingRules {
    #[default]
    Enforce,
    /// For data from one of several carriers on the same item.
    Skip,
}

/// A GS1 symbology identifier announcing GS1 data (ISO/IEC 15424).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// `]C1`
    Gs1_128,
    /// `]e0`
    DataBar,
    /// `]d2`
    DataMatrix,
    /// `]Q3`
    QrCode,
    /// `]J1`
    DotCode,
}

impl Symbology {
    const ALL: [Symbology; 5] = [
        Symbology::Gs1_128,
        Symbology::DataBar,
        Symbology::DataMatrix,
        Symbology::QrCode,
        Symbology::DotCode,
    ];

    pub fn identifier(self) -> &'static str {
        match self {
            Symbology::Gs1_128 => "]C1",
            Symbology::DataBar => "]e0",
            Symbology::DataMatrix => "]d2",
            Symbology::QrCode => "]Q3",
            Symbology::DotCode => "]J1",
        }
    }

    /// The symbology announced at the start of `input`, and the rest. `Ok((None, input))`
    /// when there is no `]`; an error for a `]` not followed by a GS1 identifier.
    pub fn split(input: &str) -> Result<(Option<Symbology>, &str), IdentError> {
        if !input.starts_with(']') {
            return Ok((None, input));
        }
        for symbology in Self::ALL {
            if let Some(rest) = input.strip_prefix(symbology.identifier()) {
                return Ok((Some(symbology), rest));
            }
        }
        Err(IdentError::UnknownSymbology {
            found: input.chars().take(3).collect(),
        })
    }
}

/// An ordered list of GS1 AI elements, each valid for its AI, with no AI twice with
/// different values.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ElementString {
    elements: Vec<Element>,
}

impl fmt::Debug for ElementString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bracketed())
    }
}

impl fmt::Display for ElementString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bracketed())
    }
}

impl ElementString {
    /// The elements, checked for duplicates and pairings.
    pub fn new(elements: Vec<Element>) -> Result<Self, IdentError> {
        Self::new_with(elements, PairingRules::Enforce)
    }

    pub fn new_with(elements: Vec<Element>, pairings: PairingRules) -> Result<Self, IdentError> {
        if elements.is_empty() {
            return Err(IdentError::Empty);
        }
        if elements.len() > MAX_ELEMENTS {
            return Err(IdentError::TooManyElements { max: MAX_ELEMENTS });
        }
        let es = Self { elements };
        es.check_duplicates()?;
        if pairings == PairingRules::Enforce {
            es.check_pairings()?;
        }
        Ok(es)
    }

    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The value of the first element with this AI code.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.ai.code() == ai)
            .map(|e| e.value.as_str())
    }

    fn has(&self, ai: &str) -> bool {
        self.get(ai).is_some()
    }

    /// Scanned data: an optional symbology identifier, AIs and values, GS as FNC1.
    pub fn parse_gs(input: &str) -> Result<Self, IdentError> {
        Self::parse_gs_with(input, PairingRules::Enforce)
    }

    pub fn parse_gs_with(input: &str, pairings: PairingRules) -> Result<Self, IdentError> {
        check_input_len(input)?;
        let (_, data) = Symbology::split(input)?;
        let base = input.len() - data.len();
        let bytes = data.as_bytes();
        if bytes.is_empty() {
            return Err(IdentError::Empty);
        }
        let mut elements = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            if bytes[pos] == GS {
                return Err(IdentError::UnexpectedSeparator { position: base + pos });
            }
            let ai = ai_at(bytes, pos).map_err(|e| e.offset_by(base))?;
            let start = pos + ai.code().len();
            let end = if ai.is_predefined_length() {
                (start + ai.max_len()).min(bytes.len())
            } else {
                bytes[start..]
                    .iter()
                    .position(|&b| b == GS)
                    .map_or(bytes.len(), |i| start + i)
            };
            let value = str_at(data, start, end).map_err(|found| IdentError::BadCharacter {
                ai: ai.code().to_string(),
                position: base + found.0,
                found: found.1,
                cset: ai.cset_at(found.0 - start),
            })?;
            if value.is_empty() {
                return Err(IdentError::EmptyValue {
                    ai: ai.code().to_string(),
                    position: base + start,
                });
            }
            ai.validate(value).map_err(|e| e.offset_by(base + start))?;
            push(
                &mut elements,
                Element {
                    ai,
                    value: value.to_string(),
                },
            )?;
            pos = end;
            // One GS ends a variable value or is tolerated after a fixed one.
            if bytes.get(pos) == Some(&GS) {
                pos += 1;
            }
        }
        Self::new_with(elements, pairings)
    }

    /// The bracketed form, `(01)09506000134352(10)ABC`.
    pub fn parse_bracketed(input: &str) -> Result<Self, IdentError> {
        Self::parse_bracketed_with(input, PairingRules::Enforce)
    }

    pub fn parse_bracketed_with(input: &str, pairings: PairingRules) -> Result<Self, IdentError> {
        check_input_len(input)?;
        if input.is_empty() {
            return Err(IdentError::Empty);
        }
        let bytes = input.as_bytes();
        let mut elements = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            if bytes[pos] != b'(' {
                return Err(IdentError::ExpectedAi { position: pos });
            }
            let close = bytes[pos..]
                .iter()
                .position(|&b| b == b')')
                .map(|i| pos + i)
                .ok_or(IdentError::BadBracket { position: pos })?;
            let code = &input[pos + 1..close];
            if !(2..=4).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IdentError::BadBracket { position: pos });
            }
            let ai = Ai::find(code).ok_or_else(|| IdentError::UnknownAi {
                ai: code.to_string(),
                position: pos + 1,
            })?;
            let start = close + 1;
            let mut value = String::new();
            // Input offset of each value byte, as `\(` makes them drift apart.
            let mut offsets = Vec::new();
            let mut i = start;
            while i < bytes.len() && bytes[i] != b'(' {
                let (c, width) = if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'(') {
                    ('(', 2)
                } else {
                    let c = input[i..].chars().next().unwrap_or('\u{fffd}');
                    (c, c.len_utf8())
                };
                value.push(c);
                offsets.extend(std::iter::repeat_n(i, c.len_utf8()));
                i += width;
            }
            if value.is_empty() {
                return Err(IdentError::EmptyValue {
                    ai: ai.code().to_string(),
                    position: start,
                });
            }
            ai.validate(&value)
                .map_err(|e| e.map_position(|p| offsets.get(p).copied().unwrap_or(i)))?;
            push(&mut elements, Element { ai, value })?;
            pos = i;
        }
        Self::new_with(elements, pairings)
    }

    /// The bracketed form, with `(` in values escaped as `\(`.
    pub fn to_bracketed(&self) -> String {
        let mut out = String::new();
        for e in &self.elements {
            out.push('(');
            out.push_str(e.ai.code());
            out.push(')');
            out.push_str(&e.value.replace('(', "\\("));
        }
        out
    }

    /// The scanned form: the symbology identifier if given, then each AI and value, with a
    /// GS after each value not of predefined length that is not the last.
    pub fn to_gs(&self, symbology: Option<Symbology>) -> String {
        let mut out = String::from(symbology.map_or("", Symbology::identifier));
        for (i, e) in self.elements.iter().enumerate() {
            out.push_str(e.ai.code());
            out.push_str(&e.value);
            if !e.ai.is_predefined_length() && i + 1 < self.elements.len() {
                out.push(char::from(GS));
            }
        }
        out
    }

    fn check_duplicates(&self) -> Result<(), IdentError> {
        for (i, a) in self.elements.iter().enumerate() {
            if self.elements[..i].iter().any(|b| b.ai == a.ai && b.value != a.value) {
                return Err(IdentError::ConflictingDuplicate {
                    ai: a.ai.code().to_string(),
                });
            }
        }
        Ok(())
    }

    /// The Syntax Dictionary's `req=` and `ex=` rules over the whole element string.
    pub fn check_pairings(&self) -> Result<(), IdentError> {
        for e in &self.elements {
            let requires = e.ai.requires();
            if !requires.is_empty() && !requires.iter().any(|group| group.iter().all(|ai| self.has(ai))) {
                let alternatives: Vec<String> = requires.iter().map(|g| g.join("+")).collect();
                return Err(IdentError::MissingRequiredAi {
                    ai: e.ai.code().to_string(),
                    requires: format!("one of ({})", alternatives.join("), (")),
                });
            }
            if let Some(other) = e.ai.excludes().iter().find(|ai| self.has(ai)) {
                return Err(IdentError::ExcludedAiPair {
                    ai: e.ai.code().to_string(),
                    other: (*other).to_string(),
                });
            }
        }
        Ok(())
    }
}

/// `data[start..end]`, or where a multi-byte character is cut by `end` and which it is.
fn str_at(data: &str, start: usize, end: usize) -> Result<&str, (usize, char)> {
    data.get(start..end).ok_or_else(|| {
        let bad = data.as_bytes()[start..end]
            .iter()
            .position(|b| !b.is_ascii())
            .map_or(start, |i| start + i);
        let c = data
            .get(bad..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{fffd}');
        (bad, c)
    })
}

fn push(elements: &mut Vec<Element>, e: Element) -> Result<(), IdentError> {
    if elements.len() == MAX_ELEMENTS {
        return Err(IdentError::TooManyElements { max: MAX_ELEMENTS });
    }
    elements.push(e);
    Ok(())
}

/// The AI at `pos`: the table is prefix-free, so at most one of the 2-, 3- and 4-digit
/// readings is an AI.
fn ai_at(bytes: &[u8], pos: usize) -> Result<Ai, IdentError> {
    let digits = bytes[pos..].iter().take(4).take_while(|b| b.is_ascii_digit()).count();
    if digits < 2 {
        return Err(IdentError::ExpectedAi { position: pos });
    }
    for len in 2..=digits {
        let code = std::str::from_utf8(&bytes[pos..pos + len]).unwrap_or_default();
        if let Some(ai) = Ai::find(code) {
            return Ok(ai);
        }
    }
    Err(IdentError::UnknownAi {
        ai: String::from_utf8_lossy(&bytes[pos..pos + digits]).into_owned(),
        position: pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bracketed(s: &str) -> Result<ElementString, IdentError> {
        ElementString::parse_bracketed_with(s, PairingRules::Skip)
    }

    #[test]
    fn syntax_engine_parse_ai_data_cases() {
        // GS1 Syntax Engine ai.c test_ai_parseAIdata, with its "^" written as GS and
        // AI (99), which this table leaves out, replaced by (400).
        let cases = [
            ("(01)12345678901231", "0112345678901231"),
            ("(10)12345", "1012345"),
            ("(01)12345678901231(10)12345", "01123456789012311012345"),
            ("(10)12345(11)991225", "1012345\u{1d}11991225"),
            ("(10)12345\\(11)991225", "1012345(11)991225"),
            ("(10)12345\\(", "1012345("),
            ("(235)ABC", "235ABC"),
            ("(01)12345678901231(235)XYZ", "0112345678901231235XYZ"),
            (
                "(01)12345678901231(235)XYZ(10)BATCH",
                "0112345678901231235XYZ\u{1d}10BATCH",
            ),
            ("(235)ABCDEFGHIJKLMNOPQRSTUVWXYZ12", "235ABCDEFGHIJKLMNOPQRSTUVWXYZ12"),
        ];
        for (input, gs) in cases {
            let es = bracketed(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(es.to_gs(None), gs, "{input}");
            assert_eq!(es.to_bracketed(), input, "{input}");
            let back = ElementString::parse_gs_with(gs, PairingRules::Skip);
            assert_eq!(back.as_ref(), Ok(&es), "{input}");
        }
        for bad in [
            "(235)ABCDEFGHIJKLMNOPQRSTUVWXYZ123",
            "(10)(11)98765",
            "(10)12345(11)",
            "(1A)12345",
            "1(12345",
            "12345",
            "()12345",
            "(1)12345",
            "(12345)12345",
            "(15",
            "(1",
            "(",
            "(01)123456789012312(10)12345",
            "(10)12345^",
            "(17)9(90)217",
        ] {
            assert!(bracketed(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn syntax_engine_process_ai_data_cases() {
        // GS1 Syntax Engine ai.c test_ai_processAIdata, "^" as GS.
        let ok = [
            "0112345678901231",
            "0112345678901231\u{1d}",
            "0112345678901231\u{1d}400ABC",
            "800302112345678900ABC",
            "800302112345678900",
            "800302112345678900\u{1d}10ABC123",
            "235ABC",
            "0112345678901231235XYZ\u{1d}10BATCH",
        ];
        for s in ok {
            assert!(ElementString::parse_gs_with(s, PairingRules::Skip).is_ok(), "{s:?}");
        }
        let bad = [
            "01A2345678901231",
            "011234567890123A",
            "0112345678901234",
            "011234567890123",
            "011234567890123\u{1d}",
            "01123456789012345\u{1d}",
            "800302112345678901ABC",
            "800302112345678900ABCDEFGHIJKLMNOPQ",
            "235ABCDEFGHIJKLMNOPQRSTUVWXYZ123",
        ];
        for s in bad {
            assert!(ElementString::parse_gs_with(s, PairingRules::Skip).is_err(), "{s:?}");
        }
    }

    #[test]
    fn syntax_engine_pairing_cases() {
        // GS1 Syntax Engine ai.c test_ai_validateAIs (mutex and requisites), restricted to
        // AIs in this table.
        let fails = [
            "(01)12345678901231(02)12345678901231",
            "(01)12345678901231(37)123",
            "(21)ABC123(235)XYZ",
            "(02)12345678901231",
            "(02)12345678901231(37)123",
            "(21)ABC123",
        ];
        for s in fails {
            assert!(ElementString::parse_bracketed(s).is_err(), "{s}");
        }
        let passes = [
            "(02)12345678901231(37)123(00)123456789012345675",
            "(21)ABC123(01)12345678901231",
            "(21)ABC123(8006)123456789012310510",
            "(400)ABC(400)ABC",
        ];
        for s in passes {
            assert!(ElementString::parse_bracketed(s).is_ok(), "{s}");
        }
        assert!(matches!(
            ElementString::parse_bracketed("(400)ABC(400)AB"),
            Err(IdentError::ConflictingDuplicate { .. })
        ));
    }
}
