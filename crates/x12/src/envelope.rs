//! The control structure: ISA/IEA around GS/GE functional groups around ST/SE transaction
//! sets (X12.5; 005010 guides appendix B.1.1.3–B.1.1.5).
//!
//! - IEA01 is the number of functional groups, IEA02 repeats ISA13.
//! - GE01 is the number of transaction sets, GE02 repeats GS06; GS06 is unique in the
//!   interchange.
//! - SE01 is the number of segments in the set, ST and SE included; SE02 repeats ST02;
//!   ST02 is unique in the group; ST03 repeats GS08 (the implementation guide).
//!
//! Problems with the ISA/IEA are interchange errors (answered with a TA1); problems with
//! GS/GE are group errors (AK9 in the 999); problems with ST/SE are set errors (IK5).
//! Reading goes on past group and set errors so that every error is reported at once.

use crate::syntax::{Delimiters, Isa, Limits, Segment, SyntaxError, tokenize};

/// An interchange-level problem: the TA1 note code (X12 data element I18) says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterchangeError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("ISA12 is {found:?}; only 00501 (5010) is supported")]
    UnsupportedVersion { found: String },
    #[error("ISA{element:02} has an invalid value {value:?}")]
    InvalidIsaValue { element: usize, value: String },
    #[error("segment {position}: IEA missing (the interchange ends without its trailer)")]
    IeaMissing { position: usize },
    #[error("segment {position}: IEA02 {trailer:?} does not match ISA13 {header:?}")]
    ControlMismatch {
        position: usize,
        header: String,
        trailer: String,
    },
    #[error("segment {position}: IEA01 says {declared:?} functional groups, the interchange has {actual}")]
    GroupCount {
        position: usize,
        declared: String,
        actual: usize,
    },
    #[error("segment {position}: {id} is not allowed here (expected {expected})")]
    UnexpectedSegment {
        position: usize,
        id: String,
        expected: &'static str,
    },
    #[error("the interchange has no functional group (and no TA1)")]
    NoGroups,
}

impl InterchangeError {
    /// The TA1 note code (X12 I18).
    pub fn ta1_note(&self) -> &'static str {
        match self {
            InterchangeError::Syntax(e) => match e {
                SyntaxError::IsaFieldWidth { element, .. } => isa_element_note(*element),
                // For a duplicate, the later delimiter is the one that repeats an earlier one.
                SyntaxError::InvalidDelimiter { which, .. } | SyntaxError::DuplicateDelimiter { second: which, .. } => {
                    match which {
                        crate::syntax::DelimiterKind::Element => "026",
                        crate::syntax::DelimiterKind::Component => "027",
                        crate::syntax::DelimiterKind::Segment => "004",
                        crate::syntax::DelimiterKind::Repetition => "022",
                    }
                }
                SyntaxError::Unterminated { .. } | SyntaxError::IsaTooShort { .. } => "023",
                SyntaxError::NotAnInterchange => "022",
                SyntaxError::TooLarge { .. }
                | SyntaxError::InvalidCharacter { .. }
                | SyntaxError::BadSegmentId { .. }
                | SyntaxError::TooManySegments { .. }
                | SyntaxError::TooManyElements { .. }
                | SyntaxError::ElementTooLong { .. } => "024",
            },
            InterchangeError::UnsupportedVersion { .. } => "017",
            InterchangeError::InvalidIsaValue { element, .. } => isa_element_note(*element),
            InterchangeError::IeaMissing { .. } => "023",
            InterchangeError::ControlMismatch { .. } => "001",
            InterchangeError::GroupCount { .. } => "021",
            InterchangeError::UnexpectedSegment { .. } => "022",
            InterchangeError::NoGroups => "024",
        }
    }

    /// The segment position in the interchange (1 = ISA), when the error has one.
    pub fn position(&self) -> Option<usize> {
        match self {
            InterchangeError::Syntax(e) => e.position(),
            InterchangeError::UnsupportedVersion { .. } | InterchangeError::InvalidIsaValue { .. } => Some(1),
            InterchangeError::IeaMissing { position }
            | InterchangeError::ControlMismatch { position, .. }
            | InterchangeError::GroupCount { position, .. }
            | InterchangeError::UnexpectedSegment { position, .. } => Some(*position),
            InterchangeError::NoGroups => None,
        }
    }
}

/// The TA1 note code for a bad ISA element.
fn isa_element_note(element: usize) -> &'static str {
    match element {
        1 => "010",
        2 => "011",
        3 => "012",
        4 => "013",
        5 => "005",
        6 => "006",
        7 => "007",
        8 => "008",
        9 => "014",
        10 => "015",
        12 => "017",
        13 => "018",
        14 => "019",
        15 => "020",
        16 => "027",
        _ => "022",
    }
}

/// A functional-group problem: the AK9 error code (X12 data element 716) says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("segment {position}: functional group {functional_id:?} is not supported")]
    NotSupported { position: usize, functional_id: String },
    #[error("segment {position}: GS08 {version:?} is not a supported 5010 implementation guide")]
    VersionNotSupported { position: usize, version: String },
    #[error("segment {position}: GE missing")]
    TrailerMissing { position: usize },
    #[error("segment {position}: GE02 {trailer:?} does not match GS06 {header:?}")]
    ControlMismatch {
        position: usize,
        header: String,
        trailer: String,
    },
    #[error("segment {position}: GE01 says {declared:?} transaction sets, the group has {actual}")]
    SetCount {
        position: usize,
        declared: String,
        actual: usize,
    },
    #[error("segment {position}: GS06 {control:?} is not a 1-9 digit number")]
    ControlSyntax { position: usize, control: String },
    #[error("segment {position}: GS06 {control:?} is used by an earlier group")]
    ControlNotUnique { position: usize, control: String },
}

impl GroupError {
    /// The AK9 error code (X12 716).
    pub fn ak9_code(&self) -> &'static str {
        match self {
            GroupError::NotSupported { .. } => "1",
            GroupError::VersionNotSupported { .. } => "2",
            GroupError::TrailerMissing { .. } => "3",
            GroupError::ControlMismatch { .. } => "4",
            GroupError::SetCount { .. } => "5",
            GroupError::ControlSyntax { .. } => "6",
            GroupError::ControlNotUnique { .. } => "19",
        }
    }

    pub fn position(&self) -> usize {
        match self {
            GroupError::NotSupported { position, .. }
            | GroupError::VersionNotSupported { position, .. }
            | GroupError::TrailerMissing { position }
            | GroupError::ControlMismatch { position, .. }
            | GroupError::SetCount { position, .. }
            | GroupError::ControlSyntax { position, .. }
            | GroupError::ControlNotUnique { position, .. } => *position,
        }
    }
}

/// A transaction-set envelope problem: the IK5 error code (X12 data element 618) says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("segment {position}: transaction set {id:?} is not supported in this group")]
    NotSupported { position: usize, id: String },
    #[error("segment {position}: SE missing")]
    TrailerMissing { position: usize },
    #[error("segment {position}: SE02 {trailer:?} does not match ST02 {header:?}")]
    ControlMismatch {
        position: usize,
        header: String,
        trailer: String,
    },
    #[error("segment {position}: SE01 says {declared:?} segments, the set has {actual} (ST and SE included)")]
    SegmentCount {
        position: usize,
        declared: String,
        actual: usize,
    },
    #[error("segment {position}: one or more segments in error")]
    SegmentsInError { position: usize },
    #[error("segment {position}: ST02 {control:?} is not a 4-9 character control number")]
    ControlInvalid { position: usize, control: String },
    #[error("segment {position}: ST02 {control:?} is used by an earlier set in the group")]
    ControlNotUnique { position: usize, control: String },
    #[error("segment {position}: ST03 {found:?} does not match GS08 {expected:?}")]
    ConventionMismatch {
        position: usize,
        expected: String,
        found: String,
    },
}

impl SetError {
    /// The IK5 error code (X12 618).
    pub fn ik5_code(&self) -> &'static str {
        match self {
            SetError::NotSupported { .. } => "1",
            SetError::TrailerMissing { .. } => "2",
            SetError::ControlMismatch { .. } => "3",
            SetError::SegmentCount { .. } => "4",
            SetError::SegmentsInError { .. } => "5",
            SetError::ControlInvalid { .. } => "7",
            SetError::ControlNotUnique { .. } => "23",
            SetError::ConventionMismatch { .. } => "19",
        }
    }

    pub fn position(&self) -> usize {
        match self {
            SetError::NotSupported { position, .. }
            | SetError::TrailerMissing { position }
            | SetError::ControlMismatch { position, .. }
            | SetError::SegmentCount { position, .. }
            | SetError::SegmentsInError { position }
            | SetError::ControlInvalid { position, .. }
            | SetError::ControlNotUnique { position, .. }
            | SetError::ConventionMismatch { position, .. } => *position,
        }
    }
}

/// A read interchange: the ISA, its groups, and the interchange-level errors found after
/// the ISA (any of them rejects the interchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interchange {
    pub delimiters: Delimiters,
    pub isa: Isa,
    pub groups: Vec<Group>,
    pub errors: Vec<InterchangeError>,
}

/// A functional group (GS ... GE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub gs: Segment,
    pub sets: Vec<TransactionSet>,
    pub errors: Vec<GroupError>,
}

impl Group {
    /// GS01, the functional identifier code (`HC` claims, `HP` payments, `FA` acks).
    pub fn functional_id(&self) -> &str {
        self.gs.el(1)
    }
    /// GS06, the group control number.
    pub fn control(&self) -> &str {
        self.gs.el(6)
    }
    /// GS08, the version / implementation guide (e.g. `005010X222A1`).
    pub fn version(&self) -> &str {
        self.gs.el(8)
    }
}

/// A transaction set: its segments from ST to SE (SE absent when it was missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSet {
    pub segments: Vec<Segment>,
    pub errors: Vec<SetError>,
}

impl TransactionSet {
    fn st(&self) -> Option<&Segment> {
        self.segments.first()
    }
    /// ST01, the transaction set identifier (`837`, `835`, `999`).
    pub fn id(&self) -> &str {
        self.st().map(|s| s.el(1)).unwrap_or("")
    }
    /// ST02, the control number.
    pub fn control(&self) -> &str {
        self.st().map(|s| s.el(2)).unwrap_or("")
    }
    /// ST03, the implementation convention reference.
    pub fn convention(&self) -> &str {
        self.st().map(|s| s.el(3)).unwrap_or("")
    }
}

/// The functional groups and transaction sets this crate reads (GS01, ST01, GS08).
pub const SUPPORTED: [(&str, &str, &str); 4] = [
    ("HC", "837", crate::claim::PROFESSIONAL),
    ("HC", "837", crate::claim::INSTITUTIONAL),
    ("HP", "835", crate::remit::REMITTANCE),
    ("FA", "999", crate::ack::ACKNOWLEDGEMENT),
];

/// Reads an interchange's envelopes. `Err` only when the ISA itself cannot be read (or the
/// input breaks a limit); every later problem is recorded at its level in the result.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Interchange, InterchangeError> {
    let (delimiters, isa, segments) = tokenize(bytes, limits)?;
    check_isa(&isa)?;
    let mut errors = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut at = 0;
    let end_position = segments.last().map_or(2, |s| s.position + 1);
    // TA1 interchange acknowledgements may precede the groups (or stand alone).
    let mut acknowledgements = 0;
    while segments.get(at).is_some_and(|s| s.id == "TA1") {
        acknowledgements += 1;
        at += 1;
    }
    while at < segments.len() && segments[at].id != "IEA" {
        let segment = &segments[at];
        if segment.id != "GS" {
            errors.push(InterchangeError::UnexpectedSegment {
                position: segment.position,
                id: segment.id.clone(),
                expected: "GS or IEA",
            });
            at += 1;
            continue;
        }
        let (mut group, next) = read_group(&segments, at, &mut errors);
        if groups.iter().any(|g| g.control() == group.control()) {
            group.errors.push(GroupError::ControlNotUnique {
                position: group.gs.position,
                control: group.control().to_owned(),
            });
        }
        groups.push(group);
        at = next;
    }
    match segments.get(at) {
        None => errors.push(InterchangeError::IeaMissing { position: end_position }),
        Some(iea) => {
            if iea.el(1) != groups.len().to_string() {
                errors.push(InterchangeError::GroupCount {
                    position: iea.position,
                    declared: iea.el(1).to_owned(),
                    actual: groups.len(),
                });
            }
            if iea.el(2) != isa.get(13) {
                errors.push(InterchangeError::ControlMismatch {
                    position: iea.position,
                    header: isa.get(13).to_owned(),
                    trailer: iea.el(2).to_owned(),
                });
            }
            if let Some(extra) = segments.get(at + 1) {
                errors.push(InterchangeError::UnexpectedSegment {
                    position: extra.position,
                    id: extra.id.clone(),
                    expected: "nothing after IEA",
                });
            }
        }
    }
    if groups.is_empty() && acknowledgements == 0 && errors.is_empty() {
        errors.push(InterchangeError::NoGroups);
    }
    Ok(Interchange {
        delimiters,
        isa,
        groups,
        errors,
    })
}

fn check_isa(isa: &Isa) -> Result<(), InterchangeError> {
    let invalid = |element: usize| InterchangeError::InvalidIsaValue {
        element,
        value: isa.get(element).to_owned(),
    };
    if isa.get(12) != "00501" {
        return Err(InterchangeError::UnsupportedVersion {
            found: isa.get(12).to_owned(),
        });
    }
    let digits = |n: usize| isa.get(n).bytes().all(|b| b.is_ascii_digit());
    for (element, ok) in [
        (1, matches!(isa.get(1), "00" | "03")),
        (3, matches!(isa.get(3), "00" | "01")),
        (5, !isa.get(5).trim().is_empty()),
        (6, !isa.get(6).trim().is_empty()),
        (7, !isa.get(7).trim().is_empty()),
        (8, !isa.get(8).trim().is_empty()),
        (9, digits(9) && valid_month_day(isa.get(9).get(2..).unwrap_or(""))),
        (10, digits(10) && valid_time(isa.get(10))),
        (13, digits(13)),
        (14, matches!(isa.get(14), "0" | "1")),
        (15, matches!(isa.get(15), "P" | "T")),
    ] {
        if !ok {
            return Err(invalid(element));
        }
    }
    Ok(())
}

/// `MMDD` (after a year), digits already checked.
fn valid_month_day(mmdd: &str) -> bool {
    let month: u32 = mmdd.get(..2).and_then(|m| m.parse().ok()).unwrap_or(0);
    let day: u32 = mmdd.get(2..4).and_then(|d| d.parse().ok()).unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// `HHMM`, digits already checked.
fn valid_time(hhmm: &str) -> bool {
    let hours: u32 = hhmm.get(..2).and_then(|h| h.parse().ok()).unwrap_or(99);
    let minutes: u32 = hhmm.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(99);
    hours < 24 && minutes < 60
}

/// Reads the group starting at `segments[start]` (a GS); returns it and the index after it.
fn read_group(segments: &[Segment], start: usize, stray: &mut Vec<InterchangeError>) -> (Group, usize) {
    let gs = segments[start].clone();
    let mut errors = Vec::new();
    let control = gs.el(6);
    if control.is_empty() || control.len() > 9 || !control.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(GroupError::ControlSyntax {
            position: gs.position,
            control: control.to_owned(),
        });
    }
    let functional_id = gs.el(1);
    if !SUPPORTED.iter().any(|(f, _, _)| *f == functional_id) {
        errors.push(GroupError::NotSupported {
            position: gs.position,
            functional_id: functional_id.to_owned(),
        });
    } else if !SUPPORTED.iter().any(|(f, _, v)| *f == functional_id && *v == gs.el(8)) {
        errors.push(GroupError::VersionNotSupported {
            position: gs.position,
            version: gs.el(8).to_owned(),
        });
    }
    let mut sets: Vec<TransactionSet> = Vec::new();
    let mut at = start + 1;
    while let Some(segment) = segments.get(at) {
        match segment.id.as_str() {
            "ST" => {
                let (mut set, next) = read_set(segments, at, &gs);
                if sets.iter().any(|s| s.control() == set.control()) {
                    set.errors.push(SetError::ControlNotUnique {
                        position: segment.position,
                        control: set.control().to_owned(),
                    });
                }
                sets.push(set);
                at = next;
            }
            "GE" => {
                if segment.el(1) != sets.len().to_string() {
                    errors.push(GroupError::SetCount {
                        position: segment.position,
                        declared: segment.el(1).to_owned(),
                        actual: sets.len(),
                    });
                }
                if segment.el(2) != control {
                    errors.push(GroupError::ControlMismatch {
                        position: segment.position,
                        header: control.to_owned(),
                        trailer: segment.el(2).to_owned(),
                    });
                }
                return (Group { gs, sets, errors }, at + 1);
            }
            _ if matches!(segment.id.as_str(), "GS" | "IEA") => break,
            // A segment after an SE and before the next ST or the GE belongs to no set: the
            // control structure itself is broken (TA1 022).
            _ => {
                stray.push(InterchangeError::UnexpectedSegment {
                    position: segment.position,
                    id: segment.id.clone(),
                    expected: "ST or GE",
                });
                at += 1;
                while segments
                    .get(at)
                    .is_some_and(|s| !matches!(s.id.as_str(), "ST" | "GE" | "GS" | "IEA"))
                {
                    at += 1;
                }
            }
        }
    }
    let position = segments
        .get(at)
        .map_or(segments.last().map_or(1, |s| s.position) + 1, |s| s.position);
    errors.push(GroupError::TrailerMissing { position });
    (Group { gs, sets, errors }, at)
}

/// Reads the set starting at `segments[start]` (an ST); returns it and the index after it.
fn read_set(segments: &[Segment], start: usize, gs: &Segment) -> (TransactionSet, usize) {
    let st = &segments[start];
    let mut errors = Vec::new();
    let control = st.el(2);
    if !(4..=9).contains(&control.len()) || !control.bytes().all(|b| b.is_ascii_alphanumeric()) {
        errors.push(SetError::ControlInvalid {
            position: st.position,
            control: control.to_owned(),
        });
    }
    if !SUPPORTED.iter().any(|(f, id, _)| *f == gs.el(1) && *id == st.el(1)) {
        errors.push(SetError::NotSupported {
            position: st.position,
            id: st.el(1).to_owned(),
        });
    }
    if !st.el(3).is_empty() && st.el(3) != gs.el(8) {
        errors.push(SetError::ConventionMismatch {
            position: st.position,
            expected: gs.el(8).to_owned(),
            found: st.el(3).to_owned(),
        });
    }
    let mut at = start + 1;
    while let Some(segment) = segments.get(at) {
        match segment.id.as_str() {
            "SE" => {
                let actual = at - start + 1;
                if segment.el(1) != actual.to_string() {
                    errors.push(SetError::SegmentCount {
                        position: segment.position,
                        declared: segment.el(1).to_owned(),
                        actual,
                    });
                }
                if segment.el(2) != control {
                    errors.push(SetError::ControlMismatch {
                        position: segment.position,
                        header: control.to_owned(),
                        trailer: segment.el(2).to_owned(),
                    });
                }
                let set = TransactionSet {
                    segments: segments[start..=at].to_vec(),
                    errors,
                };
                return (set, at + 1);
            }
            "ST" | "GE" | "GS" | "IEA" => break,
            _ => at += 1,
        }
    }
    let position = segments
        .get(at)
        .map_or(segments.last().map_or(1, |s| s.position) + 1, |s| s.position);
    errors.push(SetError::TrailerMissing { position });
    (
        TransactionSet {
            segments: segments[start..at].to_vec(),
            errors,
        },
        at,
    )
}
