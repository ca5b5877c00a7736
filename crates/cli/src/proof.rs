//! `proof`: fetch receipts and tree heads from a node, and check them offline against the
//! genesis validator set. Checking needs no node and trusts none: only the genesis file.
//! A tree head counts only with the commit certificate of the block that produced it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Subcommand;
use medledger_merkle::ConsistencyProof;
use medledger_node::home::read_genesis;
use medledger_node::receipt::verify_consistency;
use medledger_node::{Receipt, SignedTreeHead};
use medledger_types::{ChainId, Hash32, PublicKey, Signature, TimestampMs, TreeHead, TreeSize};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Client, NodeArg};
use crate::run::runtime;

#[derive(Subcommand)]
pub enum ProofCommand {
    /// Fetch the receipt of a committed transaction (JSON).
    Get {
        /// Transaction hash (hex).
        #[arg(long)]
        tx: String,
        #[command(flatten)]
        node: NodeArg,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch the node's current signed tree head; keep it to check consistency later.
    Sth {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch a consistency proof from a tree head saved earlier to the current one.
    Consistency {
        /// A tree head saved earlier with `proof sth`.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        node: NodeArg,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a receipt or a consistency proof offline against the genesis validators.
    Verify {
        /// The network's genesis file: its validators are the trusted signers.
        #[arg(long)]
        genesis: PathBuf,
        /// A receipt from `proof get` (or the `receipt` of `GET /v1/tx/{hash}`).
        #[arg(long, required_unless_present = "consistency", conflicts_with = "consistency")]
        receipt: Option<PathBuf>,
        /// A file from `proof consistency`.
        #[arg(long)]
        consistency: Option<PathBuf>,
    },
}

/// Two tree heads and the proof that the second extends the first.
#[derive(Serialize, Deserialize)]
pub struct ConsistencyFile {
    pub first: SignedTreeHead,
    pub second: SignedTreeHead,
    pub proof: ConsistencyProof,
}

fn emit(value: &impl Serialize, out: Option<&Path>) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    match out {
        Some(p) => std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not the expected JSON", path.display()))
}

fn b64_hash(v: &Value, field: &str) -> Result<Vec<u8>> {
    let s = v[field].as_str().with_context(|| format!("get-sth has no {field}"))?;
    B64.decode(s).with_context(|| format!("{field} is not base64"))
}

/// Turns `GET /ct/v1/get-sth` back into a `SignedTreeHead`.
async fn fetch_sth(client: &Client) -> Result<SignedTreeHead> {
    let v = client.get("/ct/v1/get-sth").await?;
    let root = Hash32::from_slice(&b64_hash(&v, "sha256_root_hash")?).context("root is not 32 bytes")?;
    let sig = Signature::from_slice(&b64_hash(&v, "tree_head_signature")?).context("signature is not 64 bytes")?;
    Ok(SignedTreeHead {
        head: TreeHead {
            chain_id: ChainId::new(v["chain_id"].as_str().context("no chain_id")?)?,
            tree_size: TreeSize(v["tree_size"].as_u64().context("no tree_size")?),
            timestamp: TimestampMs(v["timestamp"].as_u64().context("no timestamp")?),
            root_hash: root,
        },
        signer: v["signer"].as_str().context("no signer")?.parse::<PublicKey>()?,
        signature: sig,
        certificate: if v["certificate"].is_null() {
            None
        } else {
            Some(serde_json::from_value(v["certificate"].clone()).context("the tree head's certificate is malformed")?)
        },
    })
}

pub fn run(cmd: ProofCommand) -> Result<()> {
    match cmd {
        ProofCommand::Verify {
            genesis,
            receipt,
            consistency,
        } => {
            let genesis = read_genesis(&genesis)?;
            if let Some(path) = receipt {
                let receipt: Receipt = read_json(&path)?;
                anyhow::ensure!(
                    receipt.tree_head.head.chain_id == genesis.chain_id,
                    "the receipt is for another chain"
                );
                let leaf = receipt.verify(&genesis).context("the receipt does NOT verify")?;
                let signers = receipt
                    .tree_head
                    .certificate
                    .as_ref()
                    .map_or(0, |c| c.commit.signatures.len());
                println!(
                    "ok: transaction {} is leaf {} of the log (block {}, position {}, outcome {}), under tree head {} of size {}, certified by {signers} of {} validators",
                    receipt.tx_hash,
                    receipt.leaf_index,
                    leaf.height,
                    leaf.index_in_block,
                    medledger_ledger::describe_outcome(leaf.outcome),
                    receipt.tree_head.head.root_hash,
                    receipt.tree_head.head.tree_size,
                    genesis.validators.len()
                );
            } else if let Some(path) = consistency {
                let c: ConsistencyFile = read_json(&path)?;
                anyhow::ensure!(
                    c.first.head.chain_id == genesis.chain_id && c.second.head.chain_id == genesis.chain_id,
                    "the tree heads are for another chain"
                );
                verify_consistency(&c.first, &c.second, &c.proof, &genesis)
                    .context("the consistency proof does NOT verify")?;
                println!(
                    "ok: the log of size {} (root {}) extends the log of size {} (root {})",
                    c.second.head.tree_size, c.second.head.root_hash, c.first.head.tree_size, c.first.head.root_hash
                );
            }
            Ok(())
        }
        ProofCommand::Get { tx, node, out } => runtime()?.block_on(async {
            let v = node.client()?.get(&format!("/v1/receipts/{tx}")).await?;
            anyhow::ensure!(v["status"] == "committed", "transaction {tx} is not committed yet");
            let receipt: Receipt =
                serde_json::from_value(v["receipt"].clone()).context("the node's receipt is malformed")?;
            emit(&receipt, out.as_deref())
        }),
        ProofCommand::Sth { node, out } => runtime()?.block_on(async {
            let sth = fetch_sth(&node.client()?).await?;
            emit(&sth, out.as_deref())
        }),
        ProofCommand::Consistency { from, node, out } => runtime()?.block_on(async {
            let first: SignedTreeHead = read_json(&from)?;
            let client = node.client()?;
            let second = fetch_sth(&client).await?;
            let path = if first.head.tree_size == second.head.tree_size {
                Vec::new()
            } else {
                let v = client
                    .get(&format!(
                        "/ct/v1/get-sth-consistency?first={}&second={}",
                        first.head.tree_size, second.head.tree_size
                    ))
                    .await?;
                v["consistency"]
                    .as_array()
                    .context("no consistency path")?
                    .iter()
                    .map(|h| {
                        let raw = B64.decode(h.as_str().unwrap_or_default())?;
                        Hash32::from_slice(&raw).context("a path hash is not 32 bytes")
                    })
                    .collect::<Result<_>>()?
            };
            let proof = ConsistencyProof {
                first: first.head.tree_size,
                second: second.head.tree_size,
                path,
            };
            emit(&ConsistencyFile { first, second, proof }, out.as_deref())
        }),
    }
}
