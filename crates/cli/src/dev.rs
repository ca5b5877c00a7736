//! `dev`: a local four-validator network for development, in one command.
//!
//! Four care organisations hold one validator each; the supply chain's manufacturer,
//! wholesaler and regulator are members without one (ADR 014 §5, as `init` writes them).
//!
//! Each validator is its own `medledger node` process with its own home, database and
//! consensus WAL; they agree through Malachite over real TCP sockets on loopback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::Home;
use medledger_node::home::{HOSTED_MEMBER, read_key};
use medledger_types::MemberId;
use tokio::process::{Child, Command};

use crate::run;

/// Validators in the dev network.
const DEV_VALIDATORS: usize = 4;
const DEV_P2P_PORT: u16 = 26656;

#[derive(Args)]
pub struct DevArgs {
    /// Where the network lives (default: ~/.medledger/dev). Keys are created here, never in
    /// the source tree.
    #[arg(long, env = "MEDLEDGER_DEV_HOME")]
    home: Option<PathBuf>,
    /// Delete the network first and start a new chain.
    #[arg(long)]
    reset: bool,
    /// First API port: node i listens on port + i (default 8080 for a new network; a
    /// resumed one keeps its configured ports unless this is given).
    #[arg(long)]
    port: Option<u16>,
    /// First consensus (p2p) port of a new network: node i listens on port + i.
    #[arg(long, default_value_t = DEV_P2P_PORT)]
    p2p_port: u16,
}

fn default_home() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --home")?;
    Ok(PathBuf::from(home).join(".medledger").join("dev"))
}

fn node_dirs(dir: &Path) -> Vec<PathBuf> {
    (0..)
        .map(|i| dir.join(format!("node{i}")))
        .take_while(|d| d.join("config.toml").exists())
        .collect()
}

/// Moves every node's API to `port + i`, and tells each node where its peers now are.
fn set_api_ports(dirs: &[PathBuf], port: u16) -> Result<()> {
    for (i, d) in dirs.iter().enumerate() {
        let mut home = Home::load(d)?;
        home.config.api.listen.set_port(port.saturating_add(i as u16));
        let others: Vec<usize> = (0..dirs.len()).filter(|&j| j != i).collect();
        for (peer, j) in home.config.p2p.peers.iter_mut().zip(others) {
            peer.api = format!("http://127.0.0.1:{}", port.saturating_add(j as u16));
        }
        let path = d.join("config.toml");
        std::fs::write(&path, home.config.to_toml()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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
        // Loopback only, so plain HTTP: curl and browsers work without a CA file.
        run::write_network(
            &dir,
            &run::NetworkShape {
                chain_id: "medledger-dev",
                validators: DEV_VALIDATORS,
                orgs: Some(4),
                base_port: args.port.unwrap_or(8080),
                base_p2p_port: args.p2p_port,
                tls: false,
                hosts: Vec::new(),
            },
        )?;
    }
    let dirs = node_dirs(&dir);
    anyhow::ensure!(
        !dirs.is_empty(),
        "{} holds no node homes; run with --reset",
        dir.display()
    );
    if let (Some(port), false) = (args.port, fresh) {
        set_api_ports(&dirs, port)?;
    }
    let homes = dirs.iter().map(|d| Home::load(d)).collect::<Result<Vec<_>, _>>()?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    run::runtime()?.block_on(async move {
        // Installed before the children start: a Ctrl-C while they start stops them all.
        let shutdown = run::shutdown_signal();
        let exe = std::env::current_exe().context("finding the medledger executable")?;
        let mut children = Vec::new();
        for home in &homes {
            let log_path = logs.join(format!("{}.log", home.config.moniker));
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("opening {}", log_path.display()))?;
            let child = Command::new(&exe)
                .arg("node")
                .arg("--home")
                .arg(&home.dir)
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", home.config.moniker))?;
            children.push(child);
        }
        let ready = wait_ready(&homes, &mut children).await;
        if let Err(e) = ready {
            stop(&mut children).await;
            return Err(e.context(format!("the dev network did not start; see the logs in {}", logs.display())));
        }
        let hosted = match register_hosted(&dir, &homes).await {
            Ok(h) => h,
            Err(e) => {
                stop(&mut children).await;
                return Err(e.context("registering the hosted members' EPCIS keys"));
            }
        };
        let height = current_height(&homes[0]).await.unwrap_or(0);
        println!();
        println!(
            "medledger dev network ({}; chain {}; height {height})",
            if fresh { "new" } else { "resumed" },
            homes[0].genesis.chain_id
        );
        println!(
            "  validators: {} (BFT consensus through Malachite, over TCP on loopback)",
            homes.len()
        );
        for home in &homes {
            println!(
                "  {} API:  http://{}   p2p {}   log {}",
                home.config.moniker,
                home.config.api.listen,
                home.config.p2p.listen,
                logs.join(format!("{}.log", home.config.moniker)).display()
            );
            match &home.service {
                Some(s) => println!("        FHIR: http://{}/fhir   ({})", home.config.api.listen, s.org),
                None => println!("        FHIR: off (this network predates record custody; --reset makes a new one)"),
            }
        }
        let genesis = &homes[0].genesis;
        let members: Vec<String> = genesis
            .orgs
            .iter()
            .filter(|o| !genesis.validators.iter().any(|v| v.org == o.id))
            .map(|o| format!("{} ({})", o.id, o.name))
            .collect();
        if !members.is_empty() {
            println!(
                "  members without a validator: {} (GS1 identifiers in genesis.json)",
                members.join(", ")
            );
        }
        for (host, org) in &hosted {
            println!("  {org} captures and queries EPCIS events at {host} (hosted: api.epcis_hosted)");
        }
        println!("  home:       {}", dir.display());
        println!("  admin keys: {}", dir.join("admins").display());
        println!();
        let api = homes[0].config.api.listen;
        println!("  try:  curl http://{api}/v1/status");
        println!(
            "        medledger tx register-member --node http://{api} --key {} --org hospital-a --member dr-0001 --kind practitioner --new-key",
            dir.join("admins/hospital-a.json").display()
        );
        println!(
            "        medledger token --node http://{api} --key dr-0001.json --client-id hospital-a/dr-0001 --scope 'user/*.cruds'"
        );
        println!("        (then FHIR with `Authorization: Bearer <token>`; see docs/fhir.md)");
        println!("  stop: Ctrl-C (start again to resume the same chain; --reset for a new one)");
        println!();

        let exited = tokio::select! {
            _ = shutdown => None,
            r = first_exit(&mut children) => Some(r),
        };
        if let Some((i, status)) = exited {
            eprintln!(
                "node{i} stopped unexpectedly ({status}); stopping the others. See {}",
                logs.join(format!("node{i}.log")).display()
            );
        } else {
            eprintln!("stopping the dev network…");
        }
        stop(&mut children).await;
        if exited.is_some() {
            anyhow::bail!("a validator stopped unexpectedly");
        }
        Ok(())
    })
}

/// Registers, signed by each hosted member's admin, the service key its host holds
/// (`api.epcis_hosted`, ADR 014 §13), unless it already is. Returns (host, member) pairs.
async fn register_hosted(dir: &Path, homes: &[Home]) -> Result<Vec<(String, String)>> {
    let mut hosted = Vec::new();
    for home in homes {
        let client = crate::client::Client::new(&format!("http://{}", home.config.api.listen), None, None)?;
        for h in &home.config.api.epcis_hosted {
            let key = read_key(&home.dir.join(&h.key))?;
            let admin_path = dir.join("admins").join(format!("{}.json", h.org));
            let Ok(admin) = read_key(&admin_path) else {
                // Not a key this dev network made: the member registers it itself.
                continue;
            };
            let payload = Payload::RegisterMember(RegisterMember {
                org: h.org.clone(),
                member: MemberId::new(HOSTED_MEMBER)?,
                kind: MemberKind::Service,
                public_key: key.public(),
            });
            let answer = crate::tx::submit_signed(&client, &admin, &payload).await?;
            // Registered on an earlier start: the member, or the key, exists.
            let name = answer["outcome_name"].as_str().unwrap_or_default();
            if !matches!(name, "ok" | "member_exists" | "key_in_use") {
                anyhow::bail!("{}'s admin could not register the key: {answer}", h.org);
            }
            hosted.push((home.config.moniker.clone(), h.org.to_string()));
        }
    }
    Ok(hosted)
}

async fn current_height(home: &Home) -> Option<u64> {
    let url = format!("http://{}/v1/status", home.config.api.listen);
    let v: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    v["height"].as_u64()
}

/// Waits until every node answers `/health`, failing if one exits first.
async fn wait_ready(homes: &[Home], children: &mut [Child]) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for (i, home) in homes.iter().enumerate() {
        let url = format!("http://{}/health", home.config.api.listen);
        loop {
            if let Some(status) = children[i].try_wait()? {
                anyhow::bail!("{} exited during start ({status})", home.config.moniker);
            }
            if client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not answer on {url} within 120 s",
                home.config.moniker
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn first_exit(children: &mut [Child]) -> (usize, std::process::ExitStatus) {
    loop {
        for (i, c) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = c.try_wait() {
                return (i, status);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asks every node to stop (SIGTERM), waits for them, and kills any that hang.
pub(crate) async fn stop(children: &mut [Child]) {
    for c in children.iter() {
        if let Some(pid) = c.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
    for c in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(20), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
}
