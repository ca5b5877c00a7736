//! Acknowledgements: the 999 implementation acknowledgement (005010X231A1) for each
//! functional group, and the TA1 interchange acknowledgement for ISA/IEA problems.
//!
//! - TA1 (X12.5 interchange acknowledgement): `TA1*ISA13*ISA09*ISA10*code*note`, code `A`
//!   accepted or `R` rejected, the note code (X12 I18) naming the problem: `001` control
//!   numbers differ, `021` wrong group count, `023` premature end, `026`/`027`/`004` bad
//!   delimiters, `005`–`020` a bad ISA element. A rejected interchange gets the TA1 only.
//! - 999 (X231A1 transaction set): `AK1` echoes GS01/GS06/GS08; one `AK2` per transaction set echoes
//!   ST01/ST02/ST03; `IK3` (segment id, position in the set with ST = 1, loop id, code
//!   X12 720) and `IK4` (element position `element:component`, data element number, code
//!   X12 621, a copy of the bad value) report errors inside a set; `IK5` accepts (`A`) or
//!   rejects (`R`) the set with up to five codes (X12 618: `2` SE missing, `3` control
//!   numbers differ, `4` segment count wrong, `5` segments in error, ...); `AK9` accepts
//!   (`A`), partially accepts (`P`) or rejects (`R`) the group with counts (GE01, received,
//!   accepted) and codes (X12 716: `3` GE missing, `4` control numbers differ, `5` set
//!   count wrong, ...).

use std::fmt;

use crate::claim::{Claim, ClaimKind, read_claims};
use crate::envelope::{self, GroupError, InterchangeError, SetError};
use crate::error::SegmentError;
use crate::syntax::{Isa, Limits};
use crate::write::{EnvelopeHeader, GroupContent, SetWriter, WriteError, interchange, sanitize};

/// GS08/ST03 of a 999.
pub const ACKNOWLEDGEMENT: &str = "005010X231A1";

/// The acknowledgement of one transaction set (AK2 ... IK5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAck {
    pub id: String,
    pub control: String,
    pub convention: String,
    /// Position of its ST in the interchange.
    pub position: usize,
    pub errors: Vec<SetError>,
    pub segment_errors: Vec<SegmentError>,
}

impl SetAck {
    pub fn accepted(&self) -> bool {
        self.errors.is_empty() && self.segment_errors.is_empty()
    }

    /// IK502..: the set's error codes, at most five (the 999 has room for five).
    pub fn codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = self.errors.iter().map(SetError::ik5_code).collect();
        if !self.segment_errors.is_empty() {
            codes.push("5");
        }
        codes.dedup();
        codes.truncate(5);
        codes
    }
}

/// The acknowledgement of one functional group (AK1 ... AK9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAck {
    pub functional_id: String,
    pub control: String,
    pub version: String,
    /// Position of its GS in the interchange.
    pub position: usize,
    /// GE01 as declared, when it is a number.
    pub declared_sets: Option<usize>,
    pub errors: Vec<GroupError>,
    pub sets: Vec<SetAck>,
}

impl GroupAck {
    /// AK901: `A` all sets accepted, `P` some, `R` none or a group error.
    pub fn code(&self) -> &'static str {
        let accepted = self.accepted_sets();
        if !self.errors.is_empty() || accepted == 0 {
            "R"
        } else if accepted == self.sets.len() {
            "A"
        } else {
            "P"
        }
    }

    pub fn accepted_sets(&self) -> usize {
        if self.errors.is_empty() {
            self.sets.iter().filter(|s| s.accepted()).count()
        } else {
            0
        }
    }
}

/// What an interchange gets back: interchange errors (a TA1), and a 999 per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The received ISA, when it could be read.
    pub isa: Option<Isa>,
    /// Any of these rejects the whole interchange.
    pub interchange_errors: Vec<InterchangeError>,
    pub groups: Vec<GroupAck>,
}

/// An interchange received: its acknowledgement and the claims of its accepted sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub ack: Ack,
    pub claims: Vec<Claim>,
}

/// The control numbers and clock of a reply interchange (this crate has no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyControl {
    pub interchange_control: u32,
    pub group_control: u32,
    /// `CCYYMMDD`, `HHMM`.
    pub date: String,
    pub time: String,
}

/// Checks an interchange: the acknowledgement it gets. Never panics.
pub fn check(bytes: &[u8]) -> Ack {
    receive(bytes, &Limits::default()).ack
}

/// Reads an interchange: its acknowledgement, and the claims of every 837 set accepted.
pub fn receive(bytes: &[u8], limits: &Limits) -> Receipt {
    let read = match envelope::read(bytes, limits) {
        Ok(read) => read,
        Err(error) => {
            let isa = crate::syntax::read_isa_fields(bytes).ok();
            return Receipt {
                ack: Ack {
                    isa,
                    interchange_errors: vec![error],
                    groups: Vec::new(),
                },
                claims: Vec::new(),
            };
        }
    };
    let mut claims = Vec::new();
    let mut groups = Vec::new();
    for group in &read.groups {
        let mut sets = Vec::new();
        for set in &group.sets {
            let mut ack = SetAck {
                id: set.id().to_owned(),
                control: set.control().to_owned(),
                convention: set.convention().to_owned(),
                position: set.segments.first().map_or(0, |s| s.position),
                errors: set.errors.clone(),
                segment_errors: Vec::new(),
            };
            let convention = if set.convention().is_empty() {
                group.version()
            } else {
                set.convention()
            };
            let supported = !set.errors.iter().any(|e| matches!(e, SetError::NotSupported { .. }));
            if let (true, "837", Some(kind)) = (supported, set.id(), ClaimKind::from_convention(convention)) {
                match read_claims(set, kind) {
                    Ok(read) if ack.accepted() && group.errors.is_empty() => claims.extend(read),
                    Ok(_) => {}
                    Err(errors) => ack.segment_errors = errors,
                }
            }
            sets.push(ack);
        }
        groups.push(GroupAck {
            functional_id: group.functional_id().to_owned(),
            control: group.control().to_owned(),
            version: group.version().to_owned(),
            position: group.gs.position,
            declared_sets: group.errors.iter().find_map(|e| match e {
                GroupError::SetCount { declared, .. } => declared.parse().ok(),
                _ => None,
            }),
            errors: group.errors.clone(),
            sets,
        });
    }
    if !read.errors.is_empty() {
        claims.clear();
    }
    Receipt {
        ack: Ack {
            isa: Some(read.isa),
            interchange_errors: read.errors,
            groups,
        },
        claims,
    }
}

impl Ack {
    /// Everything accepted: no interchange error, every group `A`.
    pub fn accepted(&self) -> bool {
        self.interchange_errors.is_empty() && self.groups.iter().all(|g| g.code() == "A")
    }

    /// The TA1 segment's elements, when one is due: on an interchange error, or when the
    /// sender asked for one (ISA14 = 1).
    fn ta1(&self) -> Option<String> {
        // Echoed from the ISA when they read as what they should be, else placeholders.
        let echo = |n: usize, width: usize, fallback: &str| match &self.isa {
            Some(isa) if isa.get(n).len() == width && isa.get(n).bytes().all(|b| b.is_ascii_digit()) => {
                isa.get(n).to_owned()
            }
            _ => fallback.to_owned(),
        };
        let (control, date, time) = (echo(13, 9, "000000000"), echo(9, 6, "000101"), echo(10, 4, "0000"));
        match self.interchange_errors.first() {
            Some(error) => Some(format!("TA1*{control}*{date}*{time}*R*{}", error.ta1_note())),
            None if self.isa.as_ref().is_some_and(|isa| isa.get(14) == "1") => {
                Some(format!("TA1*{control}*{date}*{time}*A*000"))
            }
            None => None,
        }
    }

    /// The reply interchange: the TA1 (when due) and one 999 per received group, from the
    /// receiver back to the sender.
    pub fn to_x12(&self, reply: &ReplyControl) -> Result<String, WriteError> {
        let field = |n: usize, fallback: &str| {
            let width = if n % 2 == 1 { 2 } else { 15 };
            sanitize(self.isa.as_ref().map_or("", |isa| isa.get(n)), width, fallback)
        };
        let header = EnvelopeHeader {
            sender_qualifier: field(7, "ZZ"),
            sender_id: field(8, "UNKNOWN"),
            receiver_qualifier: field(5, "ZZ"),
            receiver_id: field(6, "UNKNOWN"),
            sender_code: field(8, "UNKNOWN"),
            receiver_code: field(6, "UNKNOWN"),
            interchange_control: reply.interchange_control,
            group_control: reply.group_control,
            date: reply.date.clone(),
            time: reply.time.clone(),
            production: self.isa.as_ref().is_none_or(|isa| isa.get(15) == "P"),
        };
        let before: Vec<String> = self.ta1().into_iter().collect();
        let mut sets = Vec::new();
        if self.interchange_errors.is_empty() {
            for (index, group) in self.groups.iter().enumerate() {
                sets.push(render_999(group, &format!("{:04}", index + 1))?);
            }
        }
        let groups = if sets.is_empty() {
            Vec::new()
        } else {
            vec![GroupContent {
                functional_id: "FA",
                convention: ACKNOWLEDGEMENT,
                sets,
            }]
        };
        interchange(&header, &before, groups)
    }
}

fn render_999(group: &GroupAck, control: &str) -> Result<Vec<String>, WriteError> {
    let mut w = SetWriter::default();
    // Echoed values are cut to the 999's element sizes (AK1: 2, 9, 12; AK2: 3, 9, 35).
    let ak1 = [
        sanitize(&group.functional_id, 2, "XX"),
        sanitize(&group.control, 9, "0"),
        sanitize(&group.version, 12, ""),
    ];
    w.segment("AK1", &[&ak1[0], &ak1[1], &ak1[2]]);
    for set in &group.sets {
        let ak2 = [
            sanitize(&set.id, 3, "000"),
            sanitize(&set.control, 9, "0000"),
            sanitize(&set.convention, 35, ""),
        ];
        w.segment("AK2", &[&ak2[0], &ak2[1], &ak2[2]]);
        for e in &set.segment_errors {
            let position = e.position_in_set.to_string();
            // IK303 is X12 element 447, at most four characters: `2300` and `2400` fit,
            // `2010AA` does not and is left out (the loop stays in the `Display` text).
            let loop_id = e.loop_id.filter(|l| l.len() <= 4).unwrap_or("");
            w.segment("IK3", &[&e.segment_id, &position, loop_id, e.code.code()]);
            for element in &e.elements {
                let at = match element.component {
                    Some(c) => format!("{}:{c}", element.element),
                    None => element.element.to_string(),
                };
                let bad = sanitize(element.bad_data.as_deref().unwrap_or(""), 99, "");
                w.segment("IK4", &[&at, &element.reference.to_string(), element.code.code(), &bad]);
            }
        }
        let codes = set.codes();
        let mut ik5 = vec![if set.accepted() { "A" } else { "R" }];
        ik5.extend(codes);
        w.segment("IK5", &ik5);
    }
    let included = group.declared_sets.unwrap_or(group.sets.len()).to_string();
    let received = group.sets.len().to_string();
    let accepted = group.accepted_sets().to_string();
    let mut ak9 = vec![group.code(), included.as_str(), received.as_str(), accepted.as_str()];
    let mut codes: Vec<&str> = group.errors.iter().map(GroupError::ak9_code).collect();
    codes.dedup();
    codes.truncate(5);
    ak9.extend(codes);
    w.segment("AK9", &ak9);
    Ok(w.finish("999", control, Some(ACKNOWLEDGEMENT)))
}

impl fmt::Display for Ack {
    /// One line per finding: what was accepted, and each error with its segment position
    /// in the interchange (ISA = 1) and its acknowledgement code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let control = self.isa.as_ref().map_or("?", |isa| isa.get(13));
        if self.interchange_errors.is_empty() {
            writeln!(f, "interchange {control}: accepted (envelope)")?;
        }
        for e in &self.interchange_errors {
            let at = e.position().map_or_else(String::new, |p| format!(" at segment {p}"));
            writeln!(f, "interchange {control}: rejected, TA1 note {}{at}: {e}", e.ta1_note())?;
        }
        if !self.interchange_errors.is_empty() {
            return Ok(());
        }
        for g in &self.groups {
            let counts = format!("{} of {} sets accepted", g.accepted_sets(), g.sets.len());
            writeln!(
                f,
                "group {} ({} {}): AK9 {}, {counts}",
                g.control,
                g.functional_id,
                g.version,
                g.code()
            )?;
            for e in &g.errors {
                writeln!(f, "  AK9 code {}: {e}", e.ak9_code())?;
            }
            for s in &g.sets {
                let verdict = if s.accepted() { "A" } else { "R" };
                let codes = s.codes().join(",");
                writeln!(
                    f,
                    "  set {} ({}) at segment {}: IK5 {verdict} {codes}",
                    s.control, s.id, s.position
                )?;
                for e in &s.errors {
                    writeln!(f, "    IK5 code {}: {e}", e.ik5_code())?;
                }
                for e in &s.segment_errors {
                    writeln!(f, "    {e}")?;
                }
            }
        }
        Ok(())
    }
}
