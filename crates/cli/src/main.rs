//! `medledger`: run and operate a medledger network.

mod bench;
mod bench_capture;
mod bench_dispense;
mod bench_dscsa;
mod bench_fhir;
mod bench_net;
mod bench_records;
mod client;
mod dev;
mod epcis;
mod gs1;
mod keys;
mod load;
mod proof;
mod run;
mod token;
mod trace;
mod tx;
mod verify;
mod verify_card;
mod x12;

use std::path::PathBuf;

/// mimalloc instead of the system allocator: the nodes allocate heavily per request (JSON,
/// HTTP, redb pages), and glibc's malloc spent a quarter of a busy node's CPU on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "medledger",
    version,
    about = "A permissioned blockchain for healthcare: run a node, send transactions, verify the ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new network: genesis, one home folder per validator, organisation admin keys.
    Init(run::InitArgs),
    /// Run one node from its home folder.
    Node {
        /// The node's home folder (written by `init`).
        #[arg(long, env = "MEDLEDGER_HOME")]
        home: PathBuf,
    },
    /// Start a local development network (created on first run, resumed afterwards).
    Dev(dev::DevArgs),
    /// Generate and show keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Build, sign and submit transactions.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Re-check a node's data folder offline: every hash link, signature, root and proof.
    Verify(verify::VerifyArgs),
    /// Fetch and check receipts and tree-head consistency offline.
    #[command(subcommand)]
    Proof(proof::ProofCommand),
    /// Measure throughput and latency of a local node under load.
    Bench(bench::BenchArgs),
    /// The path of a pack from commissioning to dispensing, each step with its ledger
    /// receipt verified offline.
    Trace(trace::TraceArgs),
    /// Get a FHIR access token for a member (SMART Backend Services-style).
    Token(token::TokenArgs),
    /// Load FHIR transaction Bundles (Synthea output, EHR exports) into a node.
    Load(load::LoadArgs),
    /// EPCIS 2.0 documents, offline: event hash IDs.
    #[command(subcommand)]
    Epcis(epcis::EpcisCommand),
    /// GS1 identifiers, offline: element strings, Digital Link URIs, EPC URNs.
    #[command(subcommand)]
    Gs1(gs1::Gs1Command),
    /// X12 5010 interchanges, offline: the acknowledgement an 837 would get.
    #[command(subcommand)]
    X12(x12::X12Command),
    /// SMART Health Cards, offline: check a card file, QR text or QR image against a given
    /// issuer's keys (`--jwks`) and revocation list (`--crl`).
    VerifyCard(verify_card::VerifyCardArgs),
}

/// Something the user gave is malformed (a document, an identifier): exit code 2, as clap
/// uses for a bad command line, apart from 1 for every other failure (I/O, a node's answer).
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    run::init_logging();
    let result = match cli.command {
        Command::Init(args) => run::init(args),
        Command::Node { home } => run::node(&home),
        Command::Dev(args) => dev::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Tx(cmd) => tx::run(cmd),
        Command::Verify(args) => verify::run(args),
        Command::Proof(cmd) => proof::run(cmd),
        Command::Bench(args) => bench::run(args),
        Command::Token(args) => token::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Load(args) => load::run(args),
        Command::Epcis(cmd) => epcis::run(cmd),
        Command::Gs1(cmd) => gs1::run(cmd),
        Command::X12(cmd) => x12::run(cmd),
        Command::VerifyCard(args) => verify_card::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<BadInput>() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
