//! `x12`: X12 5010 interchanges, offline (no node, no socket).
//!
//! `x12 check FILE` reads an interchange as a node receiving it would
//! (`medledger_x12::check`: the envelope, counts and control numbers, the 837P/837I sets'
//! segments and HL hierarchy) and prints the acknowledgement it would get: first one line
//! per finding (accepted, or each error with its segment position, ISA = 1, and its code),
//! then the reply interchange itself (the TA1 when the envelope is refused or ISA14 asks
//! for one, and a 999 per functional group). Exit code 0 when everything is accepted, 2
//! ([`BadInput`]) when anything is not, 1 when the file cannot be read.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use medledger_x12::ReplyControl;

use crate::BadInput;
use crate::epcis::{display_name, read_bounded};

#[derive(Subcommand)]
pub enum X12Command {
    /// Print the 999 (and TA1) acknowledgement an interchange would get: accepted, or each
    /// error with its segment position and code.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The interchange (an 837P or 837I, ISA to IEA); `-` reads stdin.
    file: PathBuf,
    /// What to print: the findings, the reply interchange, or both.
    #[arg(long, value_enum, default_value = "both")]
    print: Print,
    /// The reply's interchange control number (ISA13; its group's GS06 is the same).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=999_999_999))]
    control: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Print {
    /// One line per finding.
    Summary,
    /// The reply interchange (TA1 / 999), one segment a line.
    Reply,
    /// The findings, a blank line, then the reply.
    Both,
}

pub fn run(cmd: X12Command) -> Result<()> {
    match cmd {
        X12Command::Check(args) => check(args),
    }
}

/// `CCYYMMDD` and `HHMM` of now, in UTC.
fn now() -> (String, String) {
    stamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// `CCYYMMDD` and `HHMM` of `secs` since 1970, in UTC.
fn stamp(secs: u64) -> (String, String) {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = medledger_types::calendar::civil_from_days(days as i64);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}", rest / 3_600, rest % 3_600 / 60),
    )
}

fn check(args: CheckArgs) -> Result<()> {
    let name = display_name(&args.file);
    let limit = medledger_x12::syntax::Limits::default().max_bytes;
    let bytes = read_bounded(&args.file, limit, "X12 reader")?;
    let ack = medledger_x12::check(&bytes);
    let (date, time) = now();
    let reply = ack
        .to_x12(&ReplyControl {
            interchange_control: args.control,
            group_control: args.control,
            date,
            time,
        })
        .map_err(|e| anyhow::anyhow!("{name}: the acknowledgement could not be written: {e}"))?;
    let mut out = std::io::stdout().lock();
    if args.print != Print::Reply {
        write!(out, "{ack}")?;
    }
    if args.print == Print::Both {
        writeln!(out)?;
    }
    if args.print != Print::Summary {
        for segment in reply.split_inclusive('~') {
            let segment = segment.trim_matches(['\r', '\n']);
            if !segment.is_empty() {
                writeln!(out, "{segment}")?;
            }
        }
    }
    out.flush()?;
    if ack.accepted() {
        Ok(())
    } else {
        Err(BadInput(format!("{name}: not accepted (the acknowledgement above says why)")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_civil_utc() {
        for (secs, date, time) in [
            (0, "19700101", "0000"),
            (951_782_400, "20000229", "0000"),
            (951_868_800 - 60, "20000229", "2359"),
            (1_767_225_599, "20251231", "2359"),
            (1_767_225_600, "20260101", "0000"),
        ] {
            assert_eq!(stamp(secs), (date.to_owned(), time.to_owned()), "{secs}");
        }
    }
}
