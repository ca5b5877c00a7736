//! Starting a validator under Malachite, forwarding transactions to the other
//! validators, and stopping cleanly.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use eyre::{Context as _, eyre};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, NodeConfig, P2pConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::{Multiaddr, PeerId};
use malachitebft_app_channel::app::types::Keypair as P2pKeypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, NetworkRequest, RequestContext, Signer,
    SyncContext, WalContext,
};
use medledger_node::{Home, Node};
use medledger_types::PublicKey;
use tracing::{info, warn};

use crate::app::Host;
use crate::codec::{LedgerCodec, encode};
use crate::context::LedgerContext;
use crate::signing::LedgerSigner;
use crate::types::Address;

/// The engine's configuration, built from the node's `config.toml`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.sync
    }
}

/// `host:port` (or an `ip:port` socket address) as a libp2p TCP address.
pub fn tcp_multiaddr(host_port: &str) -> eyre::Result<Multiaddr> {
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| eyre!("{host_port:?} is not host:port"))?;
    let port: u16 = port.parse().wrap_err_with(|| format!("bad port in {host_port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let text = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => format!("/ip4/{ip}/tcp/{port}"),
        Ok(IpAddr::V6(ip)) => format!("/ip6/{ip}/tcp/{port}"),
        Err(_) => format!("/dns/{host}/tcp/{port}"),
    };
    text.parse().wrap_err_with(|| format!("bad address {host_port:?}"))
}

/// The libp2p peer id of a validator: its network identity is its validator key.
pub fn peer_id_of(key: &PublicKey) -> eyre::Result<PeerId> {
    let ed = libp2p_identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .map_err(|e| eyre!("validator key {key} is not an Ed25519 key: {e}"))?;
    Ok(libp2p_identity::PublicKey::from(ed).to_peer_id())
}

fn listen_multiaddr(addr: SocketAddr) -> eyre::Result<Multiaddr> {
    tcp_multiaddr(&addr.to_string())
}

pub fn engine_config(home: &Home) -> eyre::Result<EngineConfig> {
    let persistent_peers = home
        .config
        .p2p
        .peers
        .iter()
        .map(|p| {
            let addr = tcp_multiaddr(&p.p2p)?;
            match &p.validator {
                Some(key) => format!("{addr}/p2p/{}", peer_id_of(key)?)
                    .parse()
                    .wrap_err_with(|| format!("bad peer address {:?}", p.p2p)),
                None => Ok(addr),
            }
        })
        .collect::<eyre::Result<Vec<_>>>()?;
    let p2p = P2pConfig {
        listen_addr: listen_multiaddr(home.config.p2p.listen)?,
        persistent_peers,
        // Only the validators of genesis, listed in config, may connect.
        persistent_peers_only: true,
        discovery: DiscoveryConfig {
            enabled: false,
            ..Default::default()
        },
        // A consortium has a handful of validators, all connected to each other: send
        // every message straight to every peer.
        protocol: PubSubProtocol::Broadcast,
        ..Default::default()
    };
    let consensus = ConsensusConfig {
        p2p,
        ..Default::default()
    };
    let sync = ValueSyncConfig {
        enabled: true,
        status_update_interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    Ok(EngineConfig {
        moniker: home.config.moniker.clone(),
        consensus,
        sync,
    })
}

/// Runs consensus for `node` until `shutdown` resolves. `tls`: the node's TLS identity
/// ([`Home::tls_identity`]), for forwarding transactions to the other validators.
pub async fn run_validator(
    node: Node,
    home: &Home,
    tls: Option<&medledger_node::tls::TlsIdentity>,
    shutdown: impl Future<Output = ()>,
) -> eyre::Result<()> {
    let chain_id = node.chain_id().clone();
    let key = home.key.clone();
    let me = Address(key.public());
    if !node.genesis().validators.iter().any(|v| v.public_key == key.public()) {
        return Err(eyre!(
            "this node's key {} is not a validator in genesis; only validators run consensus",
            key.public()
        ));
    }
    let ctx = LedgerContext::new(chain_id.clone());
    let signer = LedgerSigner::new(chain_id, key.clone());
    let mut secret = key.secret_bytes();
    let p2p_key = P2pKeypair::ed25519_from_bytes(&mut secret).map_err(|e| eyre!("deriving the p2p key: {e}"))?;
    let peer_id = p2p_key.public().to_peer_id();
    let proof = signer
        .sign_validator_proof(key.public().as_bytes().to_vec(), peer_id.to_bytes())
        .await
        .map_err(|e| eyre!("signing the validator proof: {e}"))?;
    let identity = NetworkIdentity::new_validator(
        home.config.moniker.clone(),
        p2p_key,
        me.to_string(),
        Bytes::from(encode(&proof)),
    );
    let wal_dir: PathBuf = home.data_dir().join("wal");
    std::fs::create_dir_all(&wal_dir).wrap_err_with(|| format!("creating {}", wal_dir.display()))?;
    let cfg = engine_config(home)?;
    let (channels, engine) = EngineBuilder::new(ctx, cfg)
        .with_default_wal(WalContext::new(wal_dir.join("consensus.wal"), LedgerCodec))
        .with_default_network(NetworkContext::new(identity, LedgerCodec))
        .with_default_sync(SyncContext::new(LedgerCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            me,
            Box::new(signer.clone()),
            Box::new(signer),
        ))
        .with_default_request(RequestContext::new(100))
        .build()
        .await?;
    node.update_consensus_status(|s| s.mode = "bft");
    info!(p2p = %home.config.p2p.listen, peers = home.config.p2p.peers.len(), "consensus started");

    let committer = node.start_committer();
    let net_requests = channels.net_requests.clone();
    let host = Host::new(node.clone(), key, channels.network.clone());
    let host_task = tokio::spawn(host.run(channels));
    let peers_task = tokio::spawn(watch_peers(node.clone(), net_requests));
    let forward_client = forward_client(&node, tls)?;
    let forward_task = tokio::spawn(forward_loop(
        node.clone(),
        home.config.p2p.peers.iter().map(|p| p.api.clone()).collect(),
        forward_client,
    ));

    let failed = tokio::select! {
        _ = shutdown => None,
        reason = node.fatal() => Some(reason),
    };
    info!("stopping consensus");
    peers_task.abort();
    forward_task.abort();
    engine.actor.stop(None);
    let _ = tokio::time::timeout(Duration::from_secs(10), engine.handle).await;
    host_task.abort();
    // Let the block writer finish the decided block it holds, if any.
    drop(committer);
    node.wait_written().await;
    match failed {
        Some(reason) => Err(eyre!("stopped: {reason}")),
        None => Ok(()),
    }
}

async fn watch_peers(node: Node, requests: tokio::sync::mpsc::Sender<NetworkRequest>) {
    loop {
        if let Ok(Some(dump)) = NetworkRequest::dump_state(&requests).await {
            let peers = dump.peers.len();
            node.update_consensus_status(|s| s.peers = peers);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The header that marks a forwarded batch, so it is not forwarded again.
pub const FORWARDED_HEADER: &str = "x-medledger-forwarded";

/// The client that forwards transactions to the other validators: over TLS it presents
/// this node's certificate and accepts only servers holding a node key on the ledger.
fn forward_client(node: &Node, tls: Option<&medledger_node::tls::TlsIdentity>) -> eyre::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(4);
    if let Some(identity) = tls {
        let pin = medledger_node::tls::node_pin(node.clone(), None);
        b = b.use_preconfigured_tls(medledger_node::tls::client_config(identity, pin)?);
    }
    Ok(b.build()?)
}

/// Sends transactions accepted from clients to every other validator, so whichever
/// validator proposes next has them. Failures are logged and not retried: the
/// transaction is still in this node's mempool and goes into this node's next proposal.
async fn forward_loop(node: Node, peers: Vec<String>, client: reqwest::Client) {
    if peers.is_empty() {
        return;
    }
    let max = node.config().api.max_batch_txs.max(1);
    loop {
        let txs = node.next_to_forward().await;
        for chunk in txs.chunks(max) {
            let body = Bytes::from(medledger_types::tx::encode_batch(chunk));
            let mut sends = tokio::task::JoinSet::new();
            for peer in &peers {
                let url = format!("{}/v1/txs?wait=false&summary=true", peer.trim_end_matches('/'));
                let req = client
                    .post(url)
                    .header(FORWARDED_HEADER, "1")
                    .header("content-type", "application/octet-stream")
                    .body(body.clone());
                let peer = peer.clone();
                let count = chunk.len();
                sends.spawn(async move {
                    match req.send().await {
                        Err(e) => warn!(peer = %peer, "forwarding {count} transactions failed: {e}"),
                        Ok(r) if !r.status().is_success() => {
                            let status = r.status();
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            let reason = body["first_error"]["error"]["message"]
                                .as_str()
                                .or(body["error"]["message"].as_str())
                                .unwrap_or("")
                                .to_string();
                            warn!(peer = %peer, %status, "forwarding {count} transactions failed: {reason}");
                        }
                        Ok(_) => {}
                    }
                });
            }
            sends.join_all().await;
        }
    }
}
