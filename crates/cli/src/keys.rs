//! `keys`: generate and inspect Ed25519 key files.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use medledger_crypto::Keypair;
use medledger_node::home::{read_key, write_key};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a new key file (readable by its owner only).
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key of a key file.
    Show { file: PathBuf },
}

pub fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate { out } => {
            let key = Keypair::generate(&mut rand::rngs::OsRng);
            write_key(&out, &key)?;
            println!("{}", key.public());
        }
        KeysCommand::Show { file } => println!("{}", read_key(&file)?.public()),
    }
    Ok(())
}
