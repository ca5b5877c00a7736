//! `epcis`: EPCIS 2.0 documents, offline (no node, no socket).
//!
//! `epcis hash FILE` prints the CBV 2.0 §8.9 event hash ID of every event of a document, one
//! per line in document order; `--prehash` adds each event's pre-hash string under its hash,
//! indented. The document is EPCIS 2.0 JSON-LD or XML, or EPCIS 1.2 XML
//! (`medledger_gs1::epcis::parse_document`). A document the parser refuses prints nothing on
//! stdout and exits with [`BadInput`]'s code 2, the message naming the event (numbered from
//! 0 in document order) and the field.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use medledger_gs1::epcis::{Format, Limits, parse_document};

use crate::BadInput;

#[derive(Subcommand)]
pub enum EpcisCommand {
    /// Print the CBV 2.0 event hash ID of every event of a document, one per line, in
    /// document order.
    Hash(HashArgs),
}

#[derive(Args)]
pub struct HashArgs {
    /// The document: EPCIS 2.0 JSON-LD or XML, or EPCIS 1.2 XML; `-` reads stdin.
    file: PathBuf,
    /// The binding; by default guessed from the first significant byte (`{` or `[`: JSON,
    /// `<`: XML).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Also print each event's pre-hash string (what is hashed), indented, under its hash.
    #[arg(long)]
    prehash: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// JSON / JSON-LD (EPCIS 2.0 §10).
    Json,
    /// XML (EPCIS 2.0 §9, EPCIS 1.2).
    Xml,
}

pub fn run(cmd: EpcisCommand) -> Result<()> {
    match cmd {
        EpcisCommand::Hash(args) => hash(args),
    }
}

fn hash(args: HashArgs) -> Result<()> {
    let name = display_name(&args.file);
    let bytes = read_bounded(&args.file, Limits::default().max_bytes, "EPCIS parser")?;
    let format = match args.format {
        Some(FormatArg::Json) => Format::JsonLd,
        Some(FormatArg::Xml) => Format::Xml,
        None => Format::sniff(&bytes).ok_or_else(|| {
            BadInput(format!(
                "{name}: neither JSON (starts with {{ or [) nor XML (starts with <); pass --format"
            ))
        })?,
    };
    let document = parse_document(&bytes, format).map_err(|e| BadInput(format!("{name}: {e}")))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for event in &document.events {
        writeln!(out, "{}", event.hash_id())?;
        if args.prehash {
            // Indent every line: an extension value may hold a line break.
            writeln!(out, "    {}", event.pre_hash_string().replace('\n', "\n    "))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The bytes of `path` (stdin for `-`), refused with [`BadInput`] once they pass `limit`:
/// a regular file by its size before any byte is read, anything else (a pipe) after at most
/// `limit + 1` bytes.
/// Reads a file (`-`: stdin) of at most `limit` bytes, the limit of `reader`.
pub(crate) fn read_bounded(path: &Path, limit: usize, reader: &str) -> Result<Vec<u8>> {
    let name = display_name(path);
    let limit_bytes = u64::try_from(limit).unwrap_or(u64::MAX);
    let input: Box<dyn Read> = if is_stdin(path) {
        Box::new(std::io::stdin().lock())
    } else {
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let size = file.metadata().with_context(|| format!("reading {name}"))?.len();
        if size > limit_bytes {
            let message = format!("{name}: {size} bytes, over the {reader}'s limit of {limit}");
            return Err(BadInput(message).into());
        }
        Box::new(file)
    };
    let mut bytes = Vec::new();
    input
        .take(limit_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() > limit {
        let message = format!("{name}: more than the {reader}'s limit of {limit} bytes");
        return Err(BadInput(message).into());
    }
    Ok(bytes)
}

fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

pub(crate) fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}
