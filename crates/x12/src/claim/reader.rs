//! The 837 reader: one pass over the set's segments, tracking the loop it is in, checking
//! the hierarchy and the claim rules listed in the parent module, collecting every error.

use super::{Claim, ClaimKind, Diagnosis, Frequency, Npi, Payer, Person, Provider, ServiceDate, ServiceLine};
use crate::amount::Amount;
use crate::error::{ElementCode, ElementError, SegmentCode, SegmentError};
use crate::syntax::Segment;

use super::service::{sv1, sv2};

/// Segment identifiers that occur in 837P/837I sets. Anything else is not part of the set.
const KNOWN_SEGMENTS: [&str; 40] = [
    "ST", "BHT", "NM1", "N2", "N3", "N4", "REF", "PER", "HL", "PRV", "SBR", "PAT", "DMG", "CLM", "DTP", "CL1", "PWK",
    "CN1", "AMT", "K3", "NTE", "CR1", "CR2", "CRC", "HI", "HCP", "LX", "SV1", "SV2", "SV5", "CR3", "QTY", "MEA", "PS1",
    "LIN", "CTP", "LQ", "FRM", "SVD", "CAS",
];
const OTHER_KNOWN_SEGMENTS: [&str; 4] = ["OI", "MOA", "MIA", "SE"];

#[derive(Debug, Clone)]
struct Hl {
    id: String,
    level: String,
    children: bool,
    position_in_set: usize,
    segment: Segment,
    has_party: bool,
}

#[derive(Debug, Default)]
struct Draft {
    claim_id: String,
    total_charge: Amount,
    facility_code: String,
    frequency: Option<Frequency>,
    original_reference: Option<String>,
    diagnoses: Vec<Diagnosis>,
    rendering_provider: Option<Provider>,
    lines: Vec<ServiceLine>,
    clm: Option<(usize, Segment)>,
    open_line: Option<LineDraft>,
}

#[derive(Debug)]
struct LineDraft {
    number: u32,
    lx: (usize, Segment),
    line: Option<ServiceLine>,
}

pub(super) struct Reader {
    kind: ClaimKind,
    set_control: String,
    errors: Vec<SegmentError>,
    loop_id: &'static str,
    seen_bht: bool,
    seen_submitter: bool,
    seen_receiver: bool,
    hls: Vec<Hl>,
    billing_provider: Option<Provider>,
    subscriber: Option<Person>,
    subscriber_is_patient: bool,
    payer: Option<Payer>,
    patient: Option<Person>,
    claim: Option<Draft>,
    claims: Vec<Claim>,
}

pub(super) fn element(element: usize, reference: u32, code: ElementCode, bad: &str) -> ElementError {
    ElementError {
        element,
        component: None,
        reference,
        code,
        bad_data: (!bad.is_empty()).then(|| bad.to_owned()),
    }
}

pub(super) fn component(
    element_pos: usize,
    component: usize,
    reference: u32,
    code: ElementCode,
    bad: &str,
) -> ElementError {
    ElementError {
        component: Some(component),
        ..element(element_pos, reference, code, bad)
    }
}

/// `CCYYMMDD` with a real month and day (no calendar beyond days per month).
fn valid_date(text: &str) -> bool {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| text.get(range).and_then(|t| t.parse::<u32>().ok()).unwrap_or(0);
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

impl Reader {
    pub(super) fn new(kind: ClaimKind, set_control: String) -> Reader {
        Reader {
            kind,
            set_control,
            errors: Vec::new(),
            loop_id: "HEADER",
            seen_bht: false,
            seen_submitter: false,
            seen_receiver: false,
            hls: Vec::new(),
            billing_provider: None,
            subscriber: None,
            subscriber_is_patient: false,
            payer: None,
            patient: None,
            claim: None,
            claims: Vec::new(),
        }
    }

    fn error(&mut self, at: usize, segment: &Segment, code: SegmentCode, elements: Vec<ElementError>, reason: String) {
        let loop_id = (!matches!(self.loop_id, "HEADER" | "OTHER")).then_some(self.loop_id);
        self.errors.push(SegmentError {
            segment_id: segment.id.clone(),
            position_in_set: at,
            position: segment.position,
            loop_id,
            code,
            elements,
            reason,
        });
    }

    fn element_error(&mut self, at: usize, segment: &Segment, e: ElementError, reason: String) {
        self.error(at, segment, SegmentCode::HasElementErrors, vec![e], reason);
    }

    /// A segment missing from where the guide requires it, reported at `at` (the position
    /// of the loop's first segment, or where the missing one was expected).
    fn missing(
        &mut self,
        id: &str,
        at: usize,
        position: usize,
        loop_id: &'static str,
        code: SegmentCode,
        reason: String,
    ) {
        self.errors.push(SegmentError {
            segment_id: id.to_owned(),
            position_in_set: at,
            position,
            loop_id: Some(loop_id),
            code,
            elements: Vec::new(),
            reason,
        });
    }

    fn current_hl(&self) -> Option<&Hl> {
        self.hls.last()
    }

    pub(super) fn segment(&mut self, at: usize, s: &Segment) {
        if at == 2 {
            if s.id == "BHT" {
                self.seen_bht = true;
            } else {
                self.missing(
                    "BHT",
                    2,
                    s.position,
                    "HEADER",
                    SegmentCode::RequiredMissing,
                    "BHT must follow ST".into(),
                );
            }
        }
        match s.id.as_str() {
            "ST" | "SE" | "BHT" => {}
            "NM1" => self.nm1(at, s),
            "HL" => self.hl(at, s),
            "SBR" if matches!(self.loop_id, "2000B") => self.sbr(at, s),
            "CLM" => self.clm(at, s),
            "REF" if s.el(1) == "F8" && self.loop_id == "2300" => {
                if let Some(claim) = self.claim.as_mut() {
                    claim.original_reference = Some(s.el(2).to_owned());
                }
            }
            "HI" if self.loop_id == "2300" => self.hi(at, s),
            "LX" => self.lx(at, s),
            "SV1" | "SV2" => self.service(at, s),
            "DTP" if s.el(1) == "472" && self.loop_id == "2400" => self.service_date(at, s),
            id if KNOWN_SEGMENTS.contains(&id) || OTHER_KNOWN_SEGMENTS.contains(&id) => {}
            _ => self.error(
                at,
                s,
                SegmentCode::NotInTransactionSet,
                Vec::new(),
                format!("{} is not an 837 segment", s.id),
            ),
        }
    }

    /// Whether NM108/NM109 give an id under one of `qualifiers`; records the element error
    /// (NM109 missing, else NM108 not one of them) otherwise.
    fn has_id(&mut self, at: usize, s: &Segment, qualifiers: &[&str], reason: &str) -> bool {
        if qualifiers.contains(&s.el(8)) && !s.el(9).is_empty() {
            return true;
        }
        let (n, r, v) = if s.el(9).is_empty() {
            (9, 67, s.el(9))
        } else {
            (8, 66, s.el(8))
        };
        let code = if v.is_empty() {
            ElementCode::RequiredMissing
        } else {
            ElementCode::InvalidCode
        };
        self.element_error(at, s, element(n, r, code, v), reason.into());
        false
    }

    fn npi(&mut self, at: usize, s: &Segment) -> Option<Npi> {
        if s.el(8) != "XX" {
            let e = element(8, 66, ElementCode::InvalidCode, s.el(8));
            self.element_error(at, s, e, format!("NM108 must be XX (NPI), found {:?}", s.el(8)));
            return None;
        }
        match Npi::parse(s.el(9)) {
            Some(npi) => Some(npi),
            None => {
                let (code, why) = if s.el(9).is_empty() {
                    (ElementCode::RequiredMissing, "missing")
                } else {
                    (ElementCode::PatternMismatch, "not ten digits with a valid check digit")
                };
                self.element_error(
                    at,
                    s,
                    element(9, 67, code, s.el(9)),
                    format!("NPI {:?} is {why}", s.el(9)),
                );
                None
            }
        }
    }

    fn name(s: &Segment) -> String {
        match s.el(2) {
            "1" if !s.el(4).is_empty() => format!("{}, {}", s.el(3), s.el(4)),
            _ => s.el(3).to_owned(),
        }
    }

    fn mark_party(&mut self) {
        if let Some(hl) = self.hls.last_mut() {
            hl.has_party = true;
        }
    }

    fn nm1(&mut self, at: usize, s: &Segment) {
        let in_claim = matches!(self.loop_id, "2300" | "2310B" | "2310D" | "OTHER") || self.loop_id == "2400";
        let level = self.current_hl().map(|h| h.level.clone()).unwrap_or_default();
        match s.el(1) {
            "41" if self.hls.is_empty() => self.seen_submitter = true,
            "40" if self.hls.is_empty() => self.seen_receiver = true,
            "85" if level == "20" && !in_claim => {
                self.loop_id = "2010AA";
                if let Some(npi) = self.npi(at, s) {
                    self.billing_provider = Some(Provider {
                        name: Self::name(s),
                        npi,
                    });
                    self.mark_party();
                }
            }
            "IL" if level == "22" && !in_claim => {
                self.loop_id = "2010BA";
                if !self.has_id(at, s, &["MI", "II"], "the subscriber needs a member id (MI or II)") {
                    return;
                }
                self.subscriber = Some(Person {
                    last_name: s.el(3).to_owned(),
                    first_name: s.el(4).to_owned(),
                    member_id: Some(s.el(9).to_owned()),
                });
                self.mark_party();
            }
            "PR" if level == "22" && !in_claim => {
                self.loop_id = "2010BB";
                if !self.has_id(at, s, &["PI", "XV"], "the payer needs an id (PI or XV)") {
                    return;
                }
                self.payer = Some(Payer {
                    name: s.el(3).to_owned(),
                    id: s.el(9).to_owned(),
                });
            }
            "QC" if level == "23" && !in_claim => {
                self.loop_id = "2010CA";
                self.patient = Some(Person {
                    last_name: s.el(3).to_owned(),
                    first_name: s.el(4).to_owned(),
                    member_id: None,
                });
                self.mark_party();
            }
            "82" if matches!(self.loop_id, "2300" | "2310B" | "2310D" | "OTHER") => {
                self.loop_id = self.kind.rendering_loop();
                if let Some(npi) = self.npi(at, s)
                    && let Some(claim) = self.claim.as_mut()
                {
                    claim.rendering_provider = Some(Provider {
                        name: Self::name(s),
                        npi,
                    });
                }
            }
            // Other parties (pay-to, referring, service facility, other payers...) are
            // accepted and not modelled; they open loops this reader does not track.
            _ if self.claim.is_some() && self.loop_id != "2400" => self.loop_id = "OTHER",
            _ => {}
        }
    }

    fn hl(&mut self, at: usize, s: &Segment) {
        self.close_claim();
        self.close_hl();
        let expected_id = (self.hls.len() + 1).to_string();
        let (id, parent, level, child) = (s.el(1), s.el(2), s.el(3), s.el(4));
        if id != expected_id {
            let e = element(1, 628, ElementCode::PatternMismatch, id);
            self.element_error(
                at,
                s,
                e,
                format!("HL01 must be {expected_id} (numbered from 1, up by one)"),
            );
        }
        let parent_level = self.hls.iter().find(|h| h.id == parent).map(|h| h.level.as_str());
        let wanted_parent = match level {
            "20" => None,
            "22" => Some("20"),
            "23" => Some("22"),
            _ => {
                let e = element(3, 735, ElementCode::InvalidCode, level);
                self.element_error(at, s, e, format!("HL03 {level:?} is not 20, 22 or 23"));
                return;
            }
        };
        self.loop_id = match level {
            "20" => "2000A",
            "22" => "2000B",
            _ => "2000C",
        };
        let parent_ok = match wanted_parent {
            None => parent.is_empty(),
            Some(wanted) => parent_level == Some(wanted),
        };
        if !parent_ok {
            let why = match wanted_parent {
                None => "a billing provider HL (20) has no parent".to_owned(),
                Some(wanted) => format!("HL02 {parent:?} is not the id of an earlier level-{wanted} HL"),
            };
            self.element_error(at, s, element(2, 734, ElementCode::PatternMismatch, parent), why);
        }
        // The previous HL's child code must agree with whether this HL is its child.
        if let Some(previous) = self.hls.last().cloned() {
            let is_child = parent == previous.id;
            if previous.children != is_child && previous.level != "20" {
                self.child_code_error(&previous);
            }
        }
        let children = match child {
            "0" => false,
            "1" => true,
            _ => {
                let e = element(4, 736, ElementCode::InvalidCode, child);
                self.element_error(at, s, e, format!("HL04 {child:?} is not 0 or 1"));
                false
            }
        };
        if level == "20" && !children {
            let e = element(4, 736, ElementCode::PatternMismatch, child);
            self.element_error(at, s, e, "a billing provider HL always has subscriber children".into());
        }
        if level == "22" {
            self.subscriber = None;
            self.payer = None;
            self.subscriber_is_patient = false;
        }
        if level == "20" {
            self.billing_provider = None;
        }
        self.patient = None;
        self.hls.push(Hl {
            id: id.to_owned(),
            level: level.to_owned(),
            children,
            position_in_set: at,
            segment: s.clone(),
            has_party: false,
        });
    }

    fn child_code_error(&mut self, hl: &Hl) {
        let e = element(
            4,
            736,
            ElementCode::PatternMismatch,
            if hl.children { "1" } else { "0" },
        );
        let reason = if hl.children {
            format!("HL {} says children follow (HL04 1) and none does", hl.id)
        } else {
            format!("HL {} says no children follow (HL04 0) and one does", hl.id)
        };
        let saved = self.loop_id;
        self.loop_id = match hl.level.as_str() {
            "20" => "2000A",
            "22" => "2000B",
            _ => "2000C",
        };
        self.error(
            hl.position_in_set,
            &hl.segment.clone(),
            SegmentCode::HasElementErrors,
            vec![e],
            reason,
        );
        self.loop_id = saved;
    }

    /// Checks the HL being left has its required party.
    fn close_hl(&mut self) {
        let Some(hl) = self.hls.last().cloned() else { return };
        let (id, loop_id, what) = match hl.level.as_str() {
            "20" => ("NM1", "2010AA", "billing provider (NM1*85)"),
            "22" => ("NM1", "2010BA", "subscriber (NM1*IL)"),
            "23" => ("NM1", "2010CA", "patient (NM1*QC)"),
            _ => return,
        };
        if !hl.has_party {
            let reason = format!("HL {} has no {what}", hl.id);
            self.missing(
                id,
                hl.position_in_set,
                hl.segment.position,
                loop_id,
                SegmentCode::RequiredMissing,
                reason,
            );
        }
    }

    /// SBR02 is `18` exactly when the subscriber is the patient, that is when no patient HL
    /// (2000C) follows (X222A1/X223A2 2000B SBR02 and 2000C notes).
    fn sbr(&mut self, at: usize, s: &Segment) {
        let relationship = s.el(2);
        self.subscriber_is_patient = relationship == "18";
        let has_patient_hl = self.current_hl().is_some_and(|h| h.children);
        let problem = match (relationship, has_patient_hl) {
            ("18", false) | ("", true) => None,
            ("18", true) => Some((
                ElementCode::PatternMismatch,
                "the subscriber is the patient (18), yet a patient HL follows",
            )),
            ("", false) => Some((
                ElementCode::RequiredMissing,
                "no patient HL follows, so SBR02 must be 18 (self)",
            )),
            _ => Some((
                ElementCode::InvalidCode,
                "SBR02 is 18 (self) or left out when a patient HL follows",
            )),
        };
        if let Some((code, reason)) = problem {
            self.element_error(at, s, element(2, 1069, code, relationship), reason.into());
        }
    }

    fn clm(&mut self, at: usize, s: &Segment) {
        self.close_claim();
        let under = self.current_hl().map(|h| (h.level.clone(), h.children));
        let allowed = match under.as_ref() {
            Some((level, children)) => (level == "22" && !children) || level == "23",
            None => false,
        };
        self.loop_id = "2300";
        if !allowed {
            let reason = "CLM must be under a subscriber HL without children or under a patient HL".into();
            self.error(at, s, SegmentCode::Unexpected, Vec::new(), reason);
        }
        let mut draft = Draft {
            clm: Some((at, s.clone())),
            ..Draft::default()
        };
        let mut problems = Vec::new();
        let claim_id = s.el(1);
        if claim_id.is_empty() || claim_id.len() > 38 {
            problems.push(element(1, 1028, ElementCode::RequiredMissing, claim_id));
        }
        draft.claim_id = claim_id.to_owned();
        match Amount::parse(s.el(2)) {
            Ok(amount) => draft.total_charge = amount,
            Err(_) if s.el(2).is_empty() => problems.push(element(2, 782, ElementCode::RequiredMissing, "")),
            Err(_) => problems.push(element(2, 782, ElementCode::InvalidCharacter, s.el(2))),
        }
        let facility = s.comp(5, 1);
        if facility.is_empty() {
            problems.push(component(5, 1, 1331, ElementCode::RequiredMissing, ""));
        }
        draft.facility_code = facility.to_owned();
        let qualifier = match self.kind {
            ClaimKind::Professional => "B",
            ClaimKind::Institutional => "A",
        };
        if s.comp(5, 2) != qualifier {
            problems.push(component(5, 2, 1332, ElementCode::InvalidCode, s.comp(5, 2)));
        }
        match Frequency::parse(s.comp(5, 3)) {
            Some(f) => draft.frequency = Some(f),
            None if s.comp(5, 3).is_empty() => problems.push(component(5, 3, 1325, ElementCode::RequiredMissing, "")),
            None => problems.push(component(5, 3, 1325, ElementCode::InvalidCode, s.comp(5, 3))),
        }
        if !problems.is_empty() {
            let reason = "CLM needs a claim id, a total charge and CLM05 facility:qualifier:frequency (1, 7 or 8)";
            self.error(at, s, SegmentCode::HasElementErrors, problems, reason.into());
        }
        self.claim = Some(draft);
    }

    fn hi(&mut self, at: usize, s: &Segment) {
        let Some(claim) = self.claim.as_mut() else { return };
        let icd9_allowed = self.kind == ClaimKind::Institutional;
        let mut problems = Vec::new();
        for (index, parts) in s.elements.iter().enumerate() {
            let qualifier = parts.first().map(String::as_str).unwrap_or("");
            let code = parts.get(1).map(String::as_str).unwrap_or("");
            let (principal, icd9) = match qualifier {
                "ABK" => (true, false),
                "ABF" => (false, false),
                "BK" if icd9_allowed => (true, true),
                "BF" if icd9_allowed => (false, true),
                "" if index > 0 => continue,
                // Conditions, occurrences, values, procedures, anesthesia: not diagnoses.
                "BG" | "BP" | "BO" | "ABJ" | "ABN" | "APR" | "BBR" | "BBQ" | "BR" | "BQ" | "BE" | "BH" | "BI"
                | "TC" | "DR" | "PR" | "BJ" | "BN" | "ZZ" | "BBP"
                    if index == 0 || claim.diagnoses.iter().any(|d| d.principal) =>
                {
                    break;
                }
                _ => {
                    problems.push(component(index + 1, 1, 1270, ElementCode::InvalidCode, qualifier));
                    continue;
                }
            };
            if code.is_empty() {
                problems.push(component(index + 1, 2, 1271, ElementCode::RequiredMissing, ""));
                continue;
            }
            let has_principal = claim.diagnoses.iter().any(|d| d.principal);
            if principal == has_principal {
                let why = if principal {
                    ElementCode::PatternMismatch
                } else {
                    ElementCode::RequiredMissing
                };
                problems.push(component(index + 1, 1, 1270, why, qualifier));
                continue;
            }
            claim.diagnoses.push(Diagnosis {
                principal,
                icd9,
                code: code.to_owned(),
            });
        }
        if !problems.is_empty() {
            let reason = "HI: one principal diagnosis (ABK) first, then others (ABF)".into();
            self.error(at, s, SegmentCode::HasElementErrors, problems, reason);
        }
    }

    fn lx(&mut self, at: usize, s: &Segment) {
        let Some(claim) = self.claim.as_mut() else {
            self.error(at, s, SegmentCode::Unexpected, Vec::new(), "LX outside a claim".into());
            return;
        };
        let expected = claim.lines.len() as u32 + u32::from(claim.open_line.is_some()) + 1;
        self.close_line();
        self.loop_id = "2400";
        if s.el(1) != expected.to_string() {
            let e = element(1, 554, ElementCode::PatternMismatch, s.el(1));
            self.element_error(at, s, e, format!("LX01 must be {expected} (lines numbered from 1)"));
        }
        if let Some(claim) = self.claim.as_mut() {
            claim.open_line = Some(LineDraft {
                number: expected,
                lx: (at, s.clone()),
                line: None,
            });
        }
    }

    fn service(&mut self, at: usize, s: &Segment) {
        let wanted = match self.kind {
            ClaimKind::Professional => "SV1",
            ClaimKind::Institutional => "SV2",
        };
        let open = self
            .claim
            .as_ref()
            .is_some_and(|c| c.open_line.as_ref().is_some_and(|l| l.line.is_none()));
        if s.id != wanted || self.loop_id != "2400" || !open {
            let reason = format!("{} is not expected here ({wanted} follows LX in this guide)", s.id);
            self.error(at, s, SegmentCode::Unexpected, Vec::new(), reason);
            return;
        }
        let (line, problems) = match self.kind {
            ClaimKind::Professional => sv1(s),
            ClaimKind::Institutional => sv2(s),
        };
        if !problems.is_empty() {
            let reason = format!("{} does not read (procedure, charge, unit, quantity)", s.id);
            self.error(at, s, SegmentCode::HasElementErrors, problems, reason);
        }
        if let Some(open) = self.claim.as_mut().and_then(|c| c.open_line.as_mut()) {
            open.line = Some(ServiceLine {
                number: open.number,
                ..line
            });
        }
    }

    fn service_date(&mut self, at: usize, s: &Segment) {
        let value = s.el(3);
        let date = match s.el(2) {
            "D8" if valid_date(value) => Some(ServiceDate::Day(value.to_owned())),
            "RD8" => match value.split_once('-') {
                Some((from, to)) if valid_date(from) && valid_date(to) && from <= to => {
                    Some(ServiceDate::Range(from.to_owned(), to.to_owned()))
                }
                _ => None,
            },
            _ => None,
        };
        let Some(date) = date else {
            let e = if matches!(s.el(2), "D8" | "RD8") {
                element(3, 1251, ElementCode::InvalidDate, value)
            } else {
                element(2, 1250, ElementCode::InvalidCode, s.el(2))
            };
            self.element_error(at, s, e, format!("service date {value:?} is not a D8 or RD8 date"));
            return;
        };
        if let Some(line) = self
            .claim
            .as_mut()
            .and_then(|c| c.open_line.as_mut())
            .and_then(|l| l.line.as_mut())
        {
            line.date = Some(date);
        }
    }

    fn close_line(&mut self) {
        let Some(open) = self.claim.as_mut().and_then(|c| c.open_line.take()) else {
            return;
        };
        let (at, lx) = open.lx;
        match open.line {
            None => {
                let id = match self.kind {
                    ClaimKind::Professional => "SV1",
                    ClaimKind::Institutional => "SV2",
                };
                let reason = format!("service line {} has no {id}", open.number);
                self.missing(id, at, lx.position, "2400", SegmentCode::RequiredMissing, reason);
            }
            Some(line) => {
                if self.kind == ClaimKind::Professional && line.date.is_none() {
                    let reason = format!("service line {} has no service date (DTP*472)", open.number);
                    self.missing("DTP", at, lx.position, "2400", SegmentCode::RequiredMissing, reason);
                }
                if let Some(claim) = self.claim.as_mut() {
                    claim.lines.push(line);
                }
            }
        }
    }

    fn close_claim(&mut self) {
        self.close_line();
        let Some(draft) = self.claim.take() else { return };
        let Some((at, clm)) = draft.clm.clone() else { return };
        let errors_before = self.errors.len();
        if matches!(draft.frequency, Some(Frequency::Replacement | Frequency::Void))
            && draft.original_reference.is_none()
        {
            let reason = format!(
                "claim {:?} has frequency code {} and no REF*F8 (the payer's claim control number of the original)",
                draft.claim_id,
                draft.frequency.map_or("", Frequency::code)
            );
            self.missing("REF", at, clm.position, "2300", SegmentCode::SituationalMissing, reason);
        }
        if !draft.diagnoses.iter().any(|d| d.principal) {
            let reason = format!("claim {:?} has no principal diagnosis (HI*ABK)", draft.claim_id);
            self.missing("HI", at, clm.position, "2300", SegmentCode::RequiredMissing, reason);
        }
        if draft.lines.is_empty() {
            let reason = format!("claim {:?} has no service line (LX)", draft.claim_id);
            self.missing("LX", at, clm.position, "2400", SegmentCode::RequiredMissing, reason);
        } else {
            let sum = Amount::sum(draft.lines.iter().map(|l| &l.charge));
            if sum != Some(draft.total_charge) {
                self.loop_id = "2300";
                let e = element(2, 782, ElementCode::PatternMismatch, &draft.total_charge.to_string());
                let reason = format!(
                    "CLM02 {} is not the sum of the line charges {}",
                    draft.total_charge,
                    sum.map_or_else(|| "(overflow)".to_owned(), |s| s.to_string())
                );
                self.error(at, &clm, SegmentCode::HasElementErrors, vec![e], reason);
            }
        }
        if self.errors.len() != errors_before || !self.errors.is_empty() {
            return;
        }
        let (Some(billing_provider), Some(subscriber), Some(payer), Some(frequency)) = (
            self.billing_provider.clone(),
            self.subscriber.clone(),
            self.payer.clone(),
            draft.frequency,
        ) else {
            return;
        };
        let patient = if self.current_hl().is_some_and(|h| h.level == "23") {
            self.patient.clone()
        } else {
            None
        };
        self.claims.push(Claim {
            kind: self.kind,
            set_control: self.set_control.clone(),
            billing_provider,
            subscriber,
            patient,
            payer,
            claim_id: draft.claim_id,
            total_charge: draft.total_charge,
            facility_code: draft.facility_code,
            frequency,
            original_reference: draft.original_reference,
            diagnoses: draft.diagnoses,
            rendering_provider: draft.rendering_provider,
            lines: draft.lines,
        });
    }

    pub(super) fn finish(mut self, se: Option<&Segment>) -> Result<Vec<Claim>, Vec<SegmentError>> {
        self.close_claim();
        self.close_hl();
        let end_position = se.map_or(0, |s| s.position);
        if let Some(last) = self.hls.last().cloned()
            && last.children
        {
            self.child_code_error(&last);
        }
        let header_problems = [
            (self.seen_submitter, "NM1", "1000A", "submitter (NM1*41)"),
            (self.seen_receiver, "NM1", "1000B", "receiver (NM1*40)"),
            (!self.hls.is_empty(), "HL", "2000A", "billing provider HL (HL*1**20*1)"),
        ];
        for (present, id, loop_id, what) in header_problems {
            if !present && self.seen_bht {
                self.missing(
                    id,
                    3,
                    end_position,
                    loop_id,
                    SegmentCode::RequiredMissing,
                    format!("no {what}"),
                );
            }
        }
        if self.errors.is_empty() && self.claims.is_empty() {
            let reason = "the set has no claim (CLM)".to_owned();
            self.missing("CLM", 3, end_position, "2300", SegmentCode::RequiredMissing, reason);
        }
        if self.errors.is_empty() {
            Ok(self.claims)
        } else {
            self.errors.sort_by_key(|e| e.position_in_set);
            Err(self.errors)
        }
    }
}
