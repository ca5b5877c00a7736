//! Errors inside a transaction set, as the 999 reports them: a segment (IK3, its syntax
//! error code X12 720) and, for element problems, the elements (IK4, X12 621).

use std::fmt;

/// IK304, the segment syntax error code (X12 data element 720).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentCode {
    /// 2: a segment the guide knows, where it does not belong.
    Unexpected,
    /// 3: a required segment is missing.
    RequiredMissing,
    /// 6: a segment that is not part of the transaction set.
    NotInTransactionSet,
    /// 7: a segment out of sequence.
    OutOfSequence,
    /// 8: the segment has element errors (IK4s follow).
    HasElementErrors,
    /// I6: a segment the guide requires in this situation is missing.
    SituationalMissing,
}

impl SegmentCode {
    pub fn code(self) -> &'static str {
        match self {
            SegmentCode::Unexpected => "2",
            SegmentCode::RequiredMissing => "3",
            SegmentCode::NotInTransactionSet => "6",
            SegmentCode::OutOfSequence => "7",
            SegmentCode::HasElementErrors => "8",
            SegmentCode::SituationalMissing => "I6",
        }
    }
}

/// IK403, the element syntax error code (X12 data element 621).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementCode {
    /// 1: a required element is missing.
    RequiredMissing,
    /// 6: invalid characters (a number that does not read as one).
    InvalidCharacter,
    /// 7: a code value the guide does not allow here.
    InvalidCode,
    /// 8: an invalid date.
    InvalidDate,
    /// I12: the value does not match the guide's pattern (an NPI's check digit, a count
    /// or total that does not add up, an HL parent that is not the right level).
    PatternMismatch,
}

impl ElementCode {
    pub fn code(self) -> &'static str {
        match self {
            ElementCode::RequiredMissing => "1",
            ElementCode::InvalidCharacter => "6",
            ElementCode::InvalidCode => "7",
            ElementCode::InvalidDate => "8",
            ElementCode::PatternMismatch => "I12",
        }
    }
}

/// One element in error (an IK4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    /// Element position in the segment (1-based).
    pub element: usize,
    /// Component position in a composite (1-based), when the error is in one.
    pub component: Option<usize>,
    /// The X12 data element reference number.
    pub reference: u32,
    pub code: ElementCode,
    /// A copy of the bad value, when there was one.
    pub bad_data: Option<String>,
}

/// One segment in error (an IK3 and its IK4s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentError {
    pub segment_id: String,
    /// Position in the transaction set (ST = 1), as IK302 wants it.
    pub position_in_set: usize,
    /// Position in the interchange (ISA = 1).
    pub position: usize,
    /// The guide's loop identifier (e.g. `2300`), when known.
    pub loop_id: Option<&'static str>,
    pub code: SegmentCode,
    pub elements: Vec<ElementError>,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "segment {} ({} at set position {}",
            self.position, self.segment_id, self.position_in_set
        )?;
        if let Some(loop_id) = self.loop_id {
            write!(f, ", loop {loop_id}")?;
        }
        write!(f, "): IK3 code {}", self.code.code())?;
        for e in &self.elements {
            write!(f, ", IK4 element {}", e.element)?;
            if let Some(c) = e.component {
                write!(f, "-{c}")?;
            }
            write!(f, " ({}) code {}", e.reference, e.code.code())?;
        }
        write!(f, ": {}", self.reason)
    }
}
