//! `init` and `node`: write a network, run a node.

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use medledger_node::home::{InitOutput, default_gs1, default_orgs, supply_chain_orgs};
use medledger_node::{Home, InitOptions, Node, init_network};
use medledger_types::{ChainId, TimestampMs};
use tokio::net::TcpListener;
use tracing::{info, warn};

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDLEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,jmt=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[derive(Args)]
pub struct InitArgs {
    /// Folder to write the network into.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of validators (one home folder each).
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
    /// Number of care organisations, over which the validators are spread (default: one
    /// per validator). A manufacturer, a wholesaler and a regulator without validators are
    /// added besides (ADR 014 §5).
    #[arg(long)]
    pub orgs: Option<usize>,
    #[arg(long, default_value = "medledger-local")]
    pub chain_id: String,
    /// API port of the first node; node i gets port + i. 0 picks a free port at start
    /// (one validator only).
    #[arg(long, default_value_t = 8080)]
    pub base_port: u16,
    /// Consensus (p2p) port of the first node; node i gets port + i.
    #[arg(long, default_value_t = 26656)]
    pub base_p2p_port: u16,
    /// Serve plain HTTP instead of HTTPS (loopback development networks only; `dev` does
    /// this). By default `init` issues a consortium CA and every node's certificates.
    #[arg(long)]
    pub no_tls: bool,
    /// A host name or address the nodes' certificates are valid for, besides localhost
    /// (repeat for several).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
}

pub fn init(args: InitArgs) -> Result<()> {
    let out = write_network(
        &args.out,
        &NetworkShape {
            chain_id: &args.chain_id,
            validators: args.validators,
            orgs: args.orgs,
            base_port: args.base_port,
            base_p2p_port: args.base_p2p_port,
            tls: !args.no_tls,
            hosts: args.hosts.clone(),
        },
    )?;
    println!(
        "wrote a {}-validator network to {}",
        out.node_homes.len(),
        args.out.display()
    );
    println!("  genesis:    {}", args.out.join("genesis.json").display());
    for home in &out.node_homes {
        println!(
            "  node home:  {}   (run: medledger node --home {})",
            home.display(),
            home.display()
        );
    }
    for (org, path) in &out.admin_keys {
        println!("  admin key of {org}: {}", path.display());
    }
    if !args.no_tls {
        println!(
            "  consortium CA: {}   (clients: --ca {}; keep ca_key.pem offline)",
            args.out.join("ca/ca.pem").display(),
            args.out.join("ca/ca.pem").display()
        );
    }
    Ok(())
}

/// What `init` and `dev` write.
pub struct NetworkShape<'a> {
    pub chain_id: &'a str,
    pub validators: usize,
    pub orgs: Option<usize>,
    pub base_port: u16,
    pub base_p2p_port: u16,
    pub tls: bool,
    pub hosts: Vec<String>,
}

pub fn write_network(out: &Path, shape: &NetworkShape<'_>) -> Result<InitOutput> {
    let NetworkShape {
        chain_id,
        validators,
        orgs,
        base_port,
        base_p2p_port,
        ..
    } = *shape;
    anyhow::ensure!(
        (1..=100).contains(&validators),
        "--validators must be between 1 and 100"
    );
    let orgs = orgs.unwrap_or(validators);
    anyhow::ensure!((1..=1000).contains(&orgs), "--orgs must be between 1 and 1000");
    let orgs = default_orgs(orgs);
    let members = supply_chain_orgs();
    let gs1 = default_gs1(&[orgs.as_slice(), &members].concat());
    let opts = InitOptions {
        chain_id: ChainId::new(chain_id).map_err(|e| anyhow::anyhow!("--chain-id: {e}"))?,
        validators,
        orgs,
        members,
        gs1,
        base_api_port: base_port,
        base_p2p_port,
        genesis_time: TimestampMs(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        ),
        tls: shape.tls,
        hosts: shape.hosts.clone(),
    };
    Ok(init_network(out, &opts)?)
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn node(home: &Path) -> Result<()> {
    let home = Home::load(home)?;
    runtime()?.block_on(async move {
        // Before anything slow: a SIGTERM during start-up stops the node cleanly rather
        // than killing it with the signal's default action.
        let shutdown = shutdown_signal();
        let running = start(&home).await?;
        let scheme = if home.config.api.tls.is_some() { "https" } else { "http" };
        println!("{} API listening on {scheme}://{}", home.config.moniker, running.addr);
        running.run_until(shutdown).await
    })
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called (inside
/// the runtime), not when the future is first polled, so a signal that arrives in between
/// is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A node with its API bound, not yet producing blocks.
pub struct Running {
    pub node: Node,
    pub addr: std::net::SocketAddr,
    listener: TcpListener,
    home: Home,
}

pub async fn start(home: &Home) -> Result<Running> {
    let listener = TcpListener::bind(home.config.api.listen).await.with_context(|| {
        format!(
            "binding the API to {} (is another node running?)",
            home.config.api.listen
        )
    })?;
    let addr = listener.local_addr()?;
    // A port picked at start (0) is part of the URL clients use, and of the token audience.
    let mut home = home.clone();
    if home.config.api.public_url.is_empty() && home.config.api.listen.port() == 0 {
        let scheme = if home.config.api.tls.is_some() { "https" } else { "http" };
        home.config.api.public_url = format!("{scheme}://{addr}");
    }
    let node = Node::open(&home).with_context(|| {
        format!(
            "opening the ledger in {} (is another medledger process using this home?)",
            home.data_dir().display()
        )
    })?;
    Ok(Running {
        node,
        addr,
        listener,
        home,
    })
}

impl Running {
    /// The keys of the members this node captures EPCIS events for (`api.epcis_hosted`).
    fn hosted_keys(&self) -> Result<Vec<(medledger_types::OrgId, medledger_crypto::Keypair)>> {
        let state = self.node.store().reader().ok();
        let mut keys = Vec::new();
        for h in &self.home.config.api.epcis_hosted {
            let path = self.home.dir.join(&h.key);
            let key = medledger_node::home::read_key(&path).with_context(|| {
                format!(
                    "reading the EPCIS key of hosted member {} from {}",
                    h.org,
                    path.display()
                )
            })?;
            let registered = state
                .as_ref()
                .and_then(|s| medledger_ledger::identity::active_key(s, &key.public()))
                .is_some_and(|r| r.org == h.org);
            if !registered {
                warn!(
                    org = %h.org,
                    key = %key.public(),
                    "the hosted member's EPCIS key is not (yet) an active key of that organisation on the ledger: its captures are refused until its admin registers it"
                );
            }
            keys.push((h.org.clone(), key));
        }
        Ok(keys)
    }

    /// Serves the API and produces blocks until `shutdown`; then stops both cleanly.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut api_stop = stop_rx.clone();
        // Record custody: encrypted records, their anchors and the audit journal. A home
        // made before service keys existed serves the ledger API without it.
        let tls = self.home.tls_identity()?;
        let custody = medledger_custody::Custody::open(self.node.clone(), &self.home, tls.clone())
            .map_err(|e| anyhow::anyhow!("opening record custody: {e}"))?;
        if let Some(c) = &custody {
            c.check_storage()
                .await
                .map_err(|e| anyhow::anyhow!("opening record custody: {e}"))?;
        }
        match &custody {
            Some(c) => {
                c.start();
                info!(org = %c.org(), member = %c.service_member(), "record custody ready");
            }
            None => warn!(
                "no service_key.json in this home: the FHIR API is off (re-create the network with `medledger init`)"
            ),
        }
        let state = medledger_api::AppState::new(self.node.clone(), custody)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_exports(self.home.data_dir().join("exports"));
        let state = match self.home.service.clone() {
            Some(service) => state
                .with_epcis(&self.home.data_dir().join("epcis.redb"), service, self.hosted_keys()?)
                .map_err(|e| anyhow::anyhow!("opening the EPCIS event store: {e}"))?,
            None => state,
        };
        let stopped = async move {
            let _ = api_stop.wait_for(|s| *s).await;
        };
        let api = match &tls {
            Some(identity) => {
                let tls = medledger_node::tls::server_config(identity).map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
                let app = medledger_api::router_with(state);
                tokio::spawn(medledger_api::serve::serve_tls(self.listener, app, tls, stopped))
            }
            None => tokio::spawn(medledger_api::serve_with(self.listener, state, stopped)),
        };
        // One validator needs no agreement: it produces blocks alone. Several run BFT
        // consensus through Malachite.
        let result: Result<()> = if self.home.genesis.validators.len() > 1 {
            medledger_consensus::run_validator(self.node.clone(), &self.home, shutdown)
                .await
                .map_err(|e| anyhow::anyhow!("consensus: {e:#}"))
        } else {
            self.node.run(shutdown).await.map_err(Into::into)
        };
        let _ = stop_tx.send(true);
        let _ = api.await;
        info!("node stopped");
        result
    }
}
