//! The one error type of [`crate::ident`].

use super::ai::Cset;

/// Why an identifier could not be read or written.
///
/// `position` fields are byte offsets into the text handed to the parser that failed; for a
/// value checked on its own ([`crate::ident::Element::new`], the key newtypes) they count
/// from the start of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("input is {len} bytes, more than the {max} accepted")]
    InputTooLong { len: usize, max: usize },
    #[error("input is empty")]
    Empty,
    #[error("more than {max} elements")]
    TooManyElements { max: usize },

    // Element strings.
    #[error("unknown or unsupported Application Identifier ({ai}) at byte {position}")]
    UnknownAi { ai: String, position: usize },
    #[error("expected an Application Identifier at byte {position}")]
    ExpectedAi { position: usize },
    #[error("unknown symbology identifier {found:?}; GS1 data needs ]C1, ]e0, ]d2, ]Q3 or ]J1")]
    UnknownSymbology { found: String },
    #[error("empty element (FNC1 with no data) at byte {position}")]
    UnexpectedSeparator { position: usize },
    #[error("unclosed or malformed bracketed AI at byte {position}")]
    BadBracket { position: usize },
    #[error("({ai}) has an empty value at byte {position}")]
    EmptyValue { ai: String, position: usize },
    #[error("({ai}) value is {len} long, shorter than its {min} (truncated?)")]
    ValueTooShort { ai: String, len: usize, min: usize },
    #[error("({ai}) value is {len} long, longer than its {max} (missing FNC1?)")]
    ValueTooLong { ai: String, len: usize, max: usize },
    #[error("({ai}) has {found:?} at byte {position}, not in {cset:?}")]
    BadCharacter {
        ai: String,
        position: usize,
        found: char,
        cset: Cset,
    },
    #[error("({ai}) check digit is {found}, expected {expected}")]
    BadCheckDigit { ai: String, expected: char, found: char },
    #[error("({ai}) {value:?} at byte {position} is not a valid {what}")]
    BadDateTime {
        ai: String,
        position: usize,
        value: String,
        what: &'static str,
    },
    #[error("({ai}) {reason} at byte {position}")]
    BadComponent {
        ai: String,
        position: usize,
        reason: &'static str,
    },
    #[error("({ai}) appears twice with different values")]
    ConflictingDuplicate { ai: String },
    #[error("({ai}) requires {requires}")]
    MissingRequiredAi { ai: String, requires: String },
    #[error("({ai}) must not appear with ({other})")]
    ExcludedAiPair { ai: String, other: String },
    #[error("a {what} must be {expected} digits, got {found:?}")]
    BadKeyLength {
        what: &'static str,
        expected: &'static str,
        found: String,
    },

    // GS1 Digital Link.
    #[error("not an http or https URI (scheme all lower or all upper case)")]
    BadScheme,
    #[error("bad character {found:?} in the domain at byte {position}")]
    BadDomain { position: usize, found: char },
    #[error("character {found:?} at byte {position} is not allowed in a URI")]
    BadUriCharacter { position: usize, found: char },
    #[error("bad percent-encoding at byte {position}")]
    BadPercentEncoding { position: usize },
    #[error("no GS1 Digital Link primary key in the path")]
    NoPrimaryKey,
    #[error("({ai}) at byte {position} is not a qualifier of ({key}) in that order")]
    BadKeyQualifierSequence { key: String, ai: String, position: usize },
    #[error("the path must not end with '/'")]
    TrailingSlash,
    #[error("({ai}) is not allowed as a Digital Link data attribute")]
    NotDataAttribute { ai: String },
    #[error("({ai}) is a key qualifier and belongs in the Digital Link path")]
    BelongsInPath { ai: String },
    #[error("({ai}) appears twice in the Digital Link URI")]
    DuplicateAi { ai: String },
    #[error("bad query parameter name {name:?}: unreserved characters, not all digits")]
    BadParamName { name: String },
    #[error("bad Digital Link stem {stem:?}: {reason}")]
    BadStem { stem: String, reason: &'static str },

    // EPC URIs.
    #[error("not an EPC URI this module supports: {found:?}")]
    UnsupportedEpcUri { found: String },
    #[error("EPC URI has {found} components, expected {expected}")]
    EpcComponentCount { expected: usize, found: usize },
    #[error("EPC URI component at byte {position} must be digits")]
    EpcNotDigits { position: usize },
    #[error("GS1 Company Prefix length {len} is outside 6..=12")]
    CompanyPrefixLength { len: usize },
    #[error("EPC URI digits at byte {position}: company prefix and reference make {found}, expected {expected}")]
    EpcDigitCount {
        position: usize,
        expected: usize,
        found: usize,
    },
    #[error("the element string has no {needs} to make this EPC URI")]
    MissingKey { needs: &'static str },
}

impl IdentError {
    /// Moves a value-relative position to where the value starts in the caller's input.
    pub(crate) fn offset_by(self, by: usize) -> Self {
        self.map_position(|p| p + by)
    }

    pub(crate) fn map_position(mut self, f: impl Fn(usize) -> usize) -> Self {
        match &mut self {
            IdentError::BadCharacter { position, .. }
            | IdentError::BadDateTime { position, .. }
            | IdentError::BadComponent { position, .. }
            | IdentError::EmptyValue { position, .. }
            | IdentError::BadPercentEncoding { position }
            | IdentError::UnknownAi { position, .. } => *position = f(*position),
            _ => {}
        }
        self
    }
}
