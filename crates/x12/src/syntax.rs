//! The interchange's syntax: the fixed-width ISA, the delimiters it declares, and the
//! segments that follow (X12.5 interchange control structure, 005010 guides appendix B).
//!
//! - ISA is exactly 106 characters: `ISA`, then sixteen elements of fixed width, each
//!   preceded by the element separator, then the segment terminator.
//! - The element separator is the ISA's fourth byte; the repetition separator is ISA11; the
//!   component separator is ISA16; the segment terminator is the byte after ISA16.
//! - Delimiters are distinct, and none is a letter, a digit or a space.
//! - Carriage returns and line feeds right after a segment terminator are ignored (many
//!   senders break lines there); anywhere else they are content errors.
//! - Every segment is bounded ([`Limits`]); the whole input is bounded before reading.

use std::fmt;

/// The four delimiters of an interchange (005010 guides, appendix B.1.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub element: u8,
    pub repetition: u8,
    pub component: u8,
    pub segment: u8,
}

impl Default for Delimiters {
    /// `*`, `^`, `:` and `~`, the delimiters most 5010 trading partners use.
    fn default() -> Self {
        Delimiters {
            element: b'*',
            repetition: b'^',
            component: b':',
            segment: b'~',
        }
    }
}

/// Which delimiter an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelimiterKind {
    Element,
    Repetition,
    Component,
    Segment,
}

impl fmt::Display for DelimiterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DelimiterKind::Element => "element separator (ISA byte 4)",
            DelimiterKind::Repetition => "repetition separator (ISA11)",
            DelimiterKind::Component => "component separator (ISA16)",
            DelimiterKind::Segment => "segment terminator (byte 106)",
        })
    }
}

/// Bounds on what a reader accepts from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_segments: usize,
    pub max_elements: usize,
    pub max_element_len: usize,
}

impl Default for Limits {
    /// 16 MiB, 200 000 segments, 64 elements a segment, 1 000 characters an element
    /// (the longest 5010 simple element is 256 characters; composites are a few of those).
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 20,
            max_segments: 200_000,
            max_elements: 64,
            max_element_len: 1_000,
        }
    }
}

/// The ISA's fixed element widths, ISA01 to ISA16.
pub const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];
/// The ISA's length including its segment terminator.
pub const ISA_LEN: usize = 106;

/// Errors that stop an interchange from being read at all: answered with a TA1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("interchange is {found} bytes, over the limit of {limit}")]
    TooLarge { found: usize, limit: usize },
    #[error("the input does not start with an ISA segment")]
    NotAnInterchange,
    #[error("ISA is {found} bytes long; it must be exactly 106")]
    IsaTooShort { found: usize },
    #[error("ISA{element:02} is {found} characters wide; the ISA fixes it at {expected} (the ISA must be exactly 106)")]
    IsaFieldWidth {
        element: usize,
        expected: usize,
        found: usize,
    },
    #[error("invalid {which}: {byte:?}")]
    InvalidDelimiter { which: DelimiterKind, byte: char },
    #[error("the {first} and the {second} are the same character {byte:?}")]
    DuplicateDelimiter {
        first: DelimiterKind,
        second: DelimiterKind,
        byte: char,
    },
    #[error("segment {position}: character {byte:#04x} is outside the X12 character set")]
    InvalidCharacter { position: usize, byte: u8 },
    #[error("segment {position}: {id:?} is not a segment identifier")]
    BadSegmentId { position: usize, id: String },
    #[error("segment {position}: not terminated (the input ends inside it)")]
    Unterminated { position: usize },
    #[error("more than {limit} segments")]
    TooManySegments { limit: usize },
    #[error("segment {position}: more than {limit} elements")]
    TooManyElements { position: usize, limit: usize },
    #[error("segment {position}: an element longer than {limit} characters")]
    ElementTooLong { position: usize, limit: usize },
}

impl SyntaxError {
    /// The segment position (1 = ISA) the error is at, when it has one.
    pub fn position(&self) -> Option<usize> {
        match self {
            SyntaxError::InvalidCharacter { position, .. }
            | SyntaxError::BadSegmentId { position, .. }
            | SyntaxError::Unterminated { position }
            | SyntaxError::TooManyElements { position, .. }
            | SyntaxError::ElementTooLong { position, .. } => Some(*position),
            SyntaxError::IsaTooShort { .. }
            | SyntaxError::IsaFieldWidth { .. }
            | SyntaxError::InvalidDelimiter { .. }
            | SyntaxError::DuplicateDelimiter { .. }
            | SyntaxError::NotAnInterchange => Some(1),
            SyntaxError::TooLarge { .. } | SyntaxError::TooManySegments { .. } => None,
        }
    }
}

/// One segment: its identifier and its elements, each split into components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    /// Element 1 is `elements[0]`; each element is its components (one for a simple element).
    pub elements: Vec<Vec<String>>,
    /// Position in the interchange, 1 = ISA.
    pub position: usize,
}

impl Segment {
    /// Element `n` (1-based) as written, components joined by `:`; empty when absent.
    pub fn raw(&self, n: usize) -> String {
        self.elements
            .get(n.wrapping_sub(1))
            .map(|c| c.join(":"))
            .unwrap_or_default()
    }

    /// Component `c` (1-based) of element `n` (1-based); empty when absent.
    pub fn comp(&self, n: usize, c: usize) -> &str {
        self.elements
            .get(n.wrapping_sub(1))
            .and_then(|e| e.get(c.wrapping_sub(1)))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Element `n` (1-based), its first component; empty when absent.
    pub fn el(&self, n: usize) -> &str {
        self.comp(n, 1)
    }

    /// Whether element `n` has more than one component.
    pub fn is_composite(&self, n: usize) -> bool {
        self.elements.get(n.wrapping_sub(1)).is_some_and(|e| e.len() > 1)
    }
}

/// The ISA's elements (all kept as written, padding included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isa {
    pub elements: [String; 16],
}

impl Isa {
    /// ISA`n` (1-based) as written.
    pub fn get(&self, n: usize) -> &str {
        self.elements.get(n.wrapping_sub(1)).map(String::as_str).unwrap_or("")
    }
}

/// The characters accepted in data: printable ASCII (X12.6's basic and extended character
/// sets, less what 5010 trading partners never send). Control characters are refused.
fn is_data_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

fn is_valid_delimiter(b: u8) -> bool {
    !(b.is_ascii_alphanumeric() || b == b' ')
}

/// Reads the ISA: the delimiters and the sixteen elements.
pub fn read_isa(bytes: &[u8]) -> Result<(Delimiters, Isa), SyntaxError> {
    let isa = read_isa_fields(bytes)?;
    let delimiters = Delimiters {
        element: bytes[3],
        repetition: bytes[82],
        component: bytes[104],
        segment: bytes[105],
    };
    check_delimiters(&delimiters)?;
    Ok((delimiters, isa))
}

/// Reads the ISA's sixteen fixed-width elements without judging the delimiters (enough to
/// address a TA1 to the sender of an interchange whose delimiters are wrong).
pub fn read_isa_fields(bytes: &[u8]) -> Result<Isa, SyntaxError> {
    if !bytes.starts_with(b"ISA") {
        return Err(SyntaxError::NotAnInterchange);
    }
    if bytes.len() < ISA_LEN {
        return Err(SyntaxError::IsaTooShort { found: bytes.len() });
    }
    let element = bytes[3];
    if !is_valid_delimiter(element) || !is_data_byte(element) {
        return Err(SyntaxError::InvalidDelimiter {
            which: DelimiterKind::Element,
            byte: char::from(element),
        });
    }
    let mut elements: [String; 16] = Default::default();
    let mut at = 4;
    for (index, width) in ISA_WIDTHS.iter().enumerate() {
        let field = &bytes[at..at + width];
        let found = bytes[at..]
            .iter()
            .position(|&b| b == element)
            .unwrap_or(bytes.len() - at);
        // A separator inside the field, or none right after it, means the field is not its
        // fixed width. ISA16 is the one byte before the terminator, whatever it is (a
        // component separator equal to another delimiter is refused below, by name).
        let wrong_width = index < 15 && found != *width;
        if wrong_width {
            return Err(SyntaxError::IsaFieldWidth {
                element: index + 1,
                expected: *width,
                found,
            });
        }
        if let Some(&b) = field.iter().find(|&&b| !is_data_byte(b)) {
            return Err(SyntaxError::InvalidCharacter { position: 1, byte: b });
        }
        elements[index] = String::from_utf8_lossy(field).into_owned();
        at += width + 1;
    }
    Ok(Isa { elements })
}

fn check_delimiters(d: &Delimiters) -> Result<(), SyntaxError> {
    let all = [
        (DelimiterKind::Element, d.element),
        (DelimiterKind::Repetition, d.repetition),
        (DelimiterKind::Component, d.component),
        (DelimiterKind::Segment, d.segment),
    ];
    for (which, byte) in all {
        // The terminator may be a control character (a newline, say); the others are data.
        let printable = which == DelimiterKind::Segment || is_data_byte(byte);
        if !is_valid_delimiter(byte) || !printable {
            return Err(SyntaxError::InvalidDelimiter {
                which,
                byte: char::from(byte),
            });
        }
    }
    for (i, (first, a)) in all.iter().enumerate() {
        for (second, b) in &all[i + 1..] {
            if a == b {
                return Err(SyntaxError::DuplicateDelimiter {
                    first: *first,
                    second: *second,
                    byte: char::from(*a),
                });
            }
        }
    }
    Ok(())
}

/// Splits a whole interchange into its ISA and segments (the ISA is segment 1 and is not
/// in the returned list).
pub fn tokenize(bytes: &[u8], limits: &Limits) -> Result<(Delimiters, Isa, Vec<Segment>), SyntaxError> {
    if bytes.len() > limits.max_bytes {
        return Err(SyntaxError::TooLarge {
            found: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let (delimiters, isa) = read_isa(bytes)?;
    let mut segments = Vec::new();
    let mut at = skip_line_breaks(bytes, ISA_LEN, &delimiters);
    while at < bytes.len() {
        let position = segments.len() + 2;
        if segments.len() + 1 >= limits.max_segments {
            return Err(SyntaxError::TooManySegments {
                limit: limits.max_segments,
            });
        }
        let Some(length) = bytes[at..].iter().position(|&b| b == delimiters.segment) else {
            return Err(SyntaxError::Unterminated { position });
        };
        segments.push(split_segment(&bytes[at..at + length], position, &delimiters, limits)?);
        at = skip_line_breaks(bytes, at + length + 1, &delimiters);
    }
    Ok((delimiters, isa, segments))
}

fn skip_line_breaks(bytes: &[u8], mut at: usize, d: &Delimiters) -> usize {
    if d.segment == b'\r' || d.segment == b'\n' {
        return at;
    }
    while at < bytes.len() && (bytes[at] == b'\r' || bytes[at] == b'\n') {
        at += 1;
    }
    at
}

fn split_segment(raw: &[u8], position: usize, d: &Delimiters, limits: &Limits) -> Result<Segment, SyntaxError> {
    if let Some(&byte) = raw.iter().find(|&&b| !is_data_byte(b)) {
        return Err(SyntaxError::InvalidCharacter { position, byte });
    }
    // Only printable ASCII is left, so this never replaces anything.
    let text = String::from_utf8_lossy(raw);
    let mut parts = text.split(char::from(d.element));
    let id = parts.next().unwrap_or("");
    let id_ok = (2..=3).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && id.as_bytes()[0].is_ascii_uppercase();
    if !id_ok {
        return Err(SyntaxError::BadSegmentId {
            position,
            id: id.chars().take(8).collect(),
        });
    }
    let mut elements = Vec::new();
    for element in parts {
        if elements.len() >= limits.max_elements {
            return Err(SyntaxError::TooManyElements {
                position,
                limit: limits.max_elements,
            });
        }
        if element.len() > limits.max_element_len {
            return Err(SyntaxError::ElementTooLong {
                position,
                limit: limits.max_element_len,
            });
        }
        elements.push(element.split(char::from(d.component)).map(str::to_owned).collect());
    }
    Ok(Segment {
        id: id.to_owned(),
        elements,
        position,
    })
}
