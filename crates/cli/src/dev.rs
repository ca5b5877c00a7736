//! `dev`: a local network for development, in one command.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use medledger_node::Home;

use crate::run;

#[derive(Args)]
pub struct DevArgs {
    /// Where the network lives (default: ~/.medledger/dev). Keys are created here, never in
    /// the source tree.
    #[arg(long, env = "MEDLEDGER_DEV_HOME")]
    home: Option<PathBuf>,
    /// Delete the network first and start a new chain.
    #[arg(long)]
    reset: bool,
    /// API port (default 8080 for a new network; a resumed one keeps its configured port
    /// unless this is given).
    #[arg(long)]
    port: Option<u16>,
}

fn default_home() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --home")?;
    Ok(PathBuf::from(home).join(".medledger").join("dev"))
}

pub fn run(args: DevArgs) -> Result<()> {
    let dir = match args.home {
        Some(d) => d,
        None => default_home()?,
    };
    if args.reset && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        run::write_network(&dir, "medledger-dev", 1, Some(4), args.port.unwrap_or(8080))?;
    }
    let mut home = Home::load(&dir.join("node0"))?;
    if let Some(port) = args.port {
        home.config.api.listen.set_port(port);
    }
    run::runtime()?.block_on(async move {
        let running = run::start(&home).await?;
        let head = running.node.head();
        println!();
        println!("medledger dev network ({}; chain {})", if fresh { "new" } else { "resumed" }, home.genesis.chain_id);
        println!("  validators: 1 (single-validator mode until BFT consensus lands)");
        println!("  height:     {}", head.height);
        println!("  node0 API:  http://{}", running.addr);
        println!("  home:       {}", dir.display());
        println!("  admin keys: {}", dir.join("admins").display());
        println!();
        println!("  try:  curl http://{}/v1/status", running.addr);
        println!(
            "        medledger tx register-member --node http://{} --key {} --org hospital-a --member dr-0001 --kind practitioner --new-key",
            running.addr,
            dir.join("admins/hospital-a.json").display()
        );
        println!("  stop: Ctrl-C (start again to resume the same chain; --reset for a new one)");
        println!();
        running.run_until(run::shutdown_signal()).await
    })
}
