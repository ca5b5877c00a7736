//! Writing interchanges: the fixed-width ISA, GS/GE and ST/SE with their counts, the
//! delimiters of [`Delimiters::default`], trailing empty elements dropped (X12.6: no trailing element separators).

use crate::syntax::Delimiters;

/// Who sends the interchange to whom, and its control numbers and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// ISA05/ISA06: interchange id qualifier (e.g. `ZZ`, `30`) and sender id.
    pub sender_qualifier: String,
    pub sender_id: String,
    /// ISA07/ISA08.
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// GS02/GS03, the application codes (often the same ids).
    pub sender_code: String,
    pub receiver_code: String,
    /// ISA13, at most 9 digits.
    pub interchange_control: u32,
    /// GS06, at most 9 digits.
    pub group_control: u32,
    /// `CCYYMMDD` and `HHMM`: the caller's clock (this crate has none).
    pub date: String,
    pub time: String,
    /// ISA15: production data (`P`) or test (`T`).
    pub production: bool,
}

/// Why an envelope cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("{field} {value:?} does not fit ({why})")]
    Field {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{0}")]
    Content(String),
}

fn fixed(field: &'static str, value: &str, width: usize) -> Result<String, WriteError> {
    if value.len() > width || value.is_empty() {
        return Err(WriteError::Field {
            field,
            value: value.to_owned(),
            why: "empty or too long",
        });
    }
    if !value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && !b"*:^~".contains(&b))
    {
        return Err(WriteError::Field {
            field,
            value: value.to_owned(),
            why: "a delimiter or non-printable",
        });
    }
    Ok(format!("{value:<width$}"))
}

/// Checks a data value holds no delimiter and only printable ASCII.
pub(crate) fn clean(field: &'static str, value: &str) -> Result<(), WriteError> {
    if value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && !b"*:^~".contains(&b))
    {
        Ok(())
    } else {
        Err(WriteError::Field {
            field,
            value: value.to_owned(),
            why: "a delimiter or non-printable",
        })
    }
}

/// A value echoed from received data, made safe to write back: printable ASCII without
/// our delimiters, at most `max` characters; `fallback` when nothing is left.
pub(crate) fn sanitize(value: &str, max: usize, fallback: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| (' '..='~').contains(c) && !"*:^~".contains(*c))
        .take(max)
        .collect();
    let trimmed = kept.trim();
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Accumulates the segments of one transaction set, then wraps them.
#[derive(Debug, Default)]
pub(crate) struct SetWriter {
    segments: Vec<String>,
}

impl SetWriter {
    /// Adds a segment; trailing empty elements are dropped.
    pub(crate) fn segment(&mut self, id: &str, elements: &[&str]) {
        let d = Delimiters::default();
        let last = elements.iter().rposition(|e| !e.is_empty()).map_or(0, |i| i + 1);
        let mut text = id.to_owned();
        for element in &elements[..last] {
            text.push(char::from(d.element));
            text.push_str(element);
        }
        self.segments.push(text);
    }

    /// The set's segments between ST and SE, wrapped in ST/SE with SE01 counting both.
    /// `convention` is ST03, left out where the guide does not use it (the 835).
    pub(crate) fn finish(self, id: &str, control: &str, convention: Option<&str>) -> Vec<String> {
        let mut all = Vec::with_capacity(self.segments.len() + 2);
        match convention {
            Some(convention) => all.push(format!("ST*{id}*{control}*{convention}")),
            None => all.push(format!("ST*{id}*{control}")),
        }
        let count = self.segments.len() + 2;
        all.extend(self.segments);
        all.push(format!("SE*{count}*{control}"));
        all
    }
}

/// One functional group's content for [`interchange`].
pub(crate) struct GroupContent {
    pub functional_id: &'static str,
    pub convention: &'static str,
    pub sets: Vec<Vec<String>>,
}

/// Writes a whole interchange: ISA, optional extra segments (a TA1), groups, IEA.
pub(crate) fn interchange(
    header: &EnvelopeHeader,
    before_groups: &[String],
    groups: Vec<GroupContent>,
) -> Result<String, WriteError> {
    let d = Delimiters::default();
    if header.date.len() != 8 || !header.date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WriteError::Field {
            field: "date",
            value: header.date.clone(),
            why: "CCYYMMDD",
        });
    }
    if header.time.len() != 4 || !header.time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WriteError::Field {
            field: "time",
            value: header.time.clone(),
            why: "HHMM",
        });
    }
    if header.interchange_control > 999_999_999 || header.group_control > 999_999_999 {
        return Err(WriteError::Field {
            field: "control number",
            value: String::new(),
            why: "at most 9 digits",
        });
    }
    clean("GS02", &header.sender_code)?;
    clean("GS03", &header.receiver_code)?;
    let control = format!("{:09}", header.interchange_control);
    let isa = [
        "00".to_owned(),
        " ".repeat(10),
        "00".to_owned(),
        " ".repeat(10),
        fixed("ISA05", &header.sender_qualifier, 2)?,
        fixed("ISA06", &header.sender_id, 15)?,
        fixed("ISA07", &header.receiver_qualifier, 2)?,
        fixed("ISA08", &header.receiver_id, 15)?,
        header.date[2..].to_owned(),
        header.time.clone(),
        char::from(d.repetition).to_string(),
        "00501".to_owned(),
        control.clone(),
        "0".to_owned(),
        if header.production { "P" } else { "T" }.to_owned(),
        char::from(d.component).to_string(),
    ];
    let terminator = char::from(d.segment);
    let mut out = format!("ISA*{}{terminator}\n", isa.join("*"));
    for segment in before_groups {
        out.push_str(&format!("{segment}{terminator}\n"));
    }
    let group_count = groups.len();
    for (index, group) in groups.into_iter().enumerate() {
        let group_control = u64::from(header.group_control) + index as u64;
        out.push_str(&format!(
            "GS*{}*{}*{}*{}*{}*{group_control}*X*{}{terminator}\n",
            group.functional_id, header.sender_code, header.receiver_code, header.date, header.time, group.convention
        ));
        let set_count = group.sets.len();
        for segment in group.sets.into_iter().flatten() {
            out.push_str(&segment);
            out.push(terminator);
            out.push('\n');
        }
        out.push_str(&format!("GE*{set_count}*{group_control}{terminator}\n"));
    }
    out.push_str(&format!("IEA*{group_count}*{control}{terminator}\n"));
    Ok(out)
}
