//! `verify`: re-check a data folder offline.
//!
//! Replays every stored block from genesis into a fresh in-memory ledger and checks, for
//! each block: it decodes; it links to its parent; its commit certificate carries
//! signatures of more than two thirds of the genesis validators' power over its hash;
//! every transaction signature; re-executing it gives the header's tx, state and log
//! roots; the stored log leaves, log nodes and transaction index match. At the end the
//! stored head and state must equal the replayed ones. The first bad block is named.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medledger_ledger::Genesis;
use medledger_merkle::{MemoryLog, NodeSource};
use medledger_node::executor;
use medledger_node::home::read_genesis;
use medledger_store::{ReadOnlyStore, StateView, Store};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{Block, Height, LeafIndex};

#[derive(Args)]
pub struct VerifyArgs {
    /// A node home (uses its genesis.json and data/ledger.redb).
    #[arg(long, required_unless_present = "db")]
    home: Option<PathBuf>,
    /// The database file, when not using --home.
    #[arg(long, requires = "genesis")]
    db: Option<PathBuf>,
    /// The genesis file, when not using --home.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// What a clean verification found.
pub struct Summary {
    pub height: Height,
    pub txs: u64,
    pub log_size: u64,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let (db, genesis) = match (&args.home, &args.db, &args.genesis) {
        (Some(home), _, _) => (home.join("data/ledger.redb"), home.join("genesis.json")),
        (None, Some(db), Some(g)) => (db.clone(), g.clone()),
        _ => bail!("pass --home, or --db with --genesis"),
    };
    let genesis = read_genesis(&genesis)?;
    anyhow::ensure!(db.exists(), "{} does not exist", db.display());
    let store = ReadOnlyStore::open(&db)
        .with_context(|| format!("opening {} (stop the node that uses it first)", db.display()))?;
    let s = verify_store(&store, &genesis, !args.quiet)?;
    println!(
        "ok: {} blocks, {} transactions, log size {}; every hash link, signature, certificate and root checks out",
        s.height, s.txs, s.log_size
    );
    Ok(())
}

pub fn verify_store(stored: &ReadOnlyStore, genesis: &Genesis, progress: bool) -> Result<Summary> {
    let reader = stored.reader()?;
    let head = reader.head()?.context("the database holds no chain")?;
    match reader.genesis_hash()? {
        Some(h) if h == genesis.hash() => {}
        Some(h) => bail!(
            "the database was made from another genesis ({h}, expected {})",
            genesis.hash()
        ),
        None => bail!("the database has no genesis record"),
    }
    let replay = Store::in_memory()?;
    let mut replay_head = replay.init_genesis(genesis)?;
    let mut log = MemoryLog::new();

    let bar = if progress {
        ProgressBar::new(head.height.0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("verifying {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut txs = 0u64;
    for h in 1..=head.height.0 {
        let height = Height(h);
        let raw = reader
            .block_bytes(height)?
            .with_context(|| format!("block {h}: missing"))?;
        let block = Block::decode(&raw).map_err(|e| anyhow::anyhow!("block {h}: does not decode: {e}"))?;
        check_certificate(genesis, &block).with_context(|| format!("block {h}"))?;
        let first_leaf = replay_head.log_size.0;
        let replay_reader = replay.reader()?;
        let view = StateView::new(&replay_reader, None);
        let executed = executor::replay(&view, &mut log, &replay_head, &genesis.chain_id, block)
            .map_err(|e| anyhow::anyhow!("block {h}: {e}"))?;
        drop(replay_reader);
        for (level, index, hash) in &executed.log_nodes {
            if reader.node(*level, *index) != Some(*hash) {
                bail!("block {h}: stored transparency-log node ({level}, {index}) differs from the recomputed one");
            }
        }
        for (i, leaf) in executed.leaves.iter().enumerate() {
            let idx = LeafIndex(first_leaf + i as u64);
            if reader.leaf_bytes(idx)?.as_deref() != Some(leaf.encode().as_slice()) {
                bail!("block {h}: stored log leaf {idx} differs from the recomputed one");
            }
            let loc = reader.tx_location(&leaf.tx_hash)?;
            if loc.map(|l| (l.height, l.index_in_block)) != Some((height, i as u32)) {
                bail!("block {h}: the transaction index entry for {} is wrong", leaf.tx_hash);
            }
        }
        txs += executed.block.txs.len() as u64;
        replay_head = executor::commit(&replay, &executed).map_err(|e| anyhow::anyhow!("block {h}: replaying: {e}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if replay_head != head {
        bail!(
            "the stored chain head differs from the replayed one at height {}",
            head.height
        );
    }
    if replay.reader()?.state_entries()? != reader.state_entries()? {
        bail!("the stored state differs from the state the blocks produce");
    }
    if reader.node(0, head.log_size.0).is_some() {
        bail!("the stored transparency log has leaves beyond the head");
    }
    Ok(Summary {
        height: head.height,
        txs,
        log_size: head.log_size.0,
    })
}

/// More than two thirds of the voting power must have signed the block hash.
fn check_certificate(genesis: &Genesis, block: &Block) -> Result<()> {
    medledger_node::receipt::verify_commit(genesis, &block.header, &block.commit).map_err(|e| anyhow::anyhow!("{e}"))
}
