//! Starting a validator under Malachite, with its transaction gossip, and stopping
//! cleanly.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use eyre::{Context as _, eyre};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, GossipSubConfig, NodeConfig, P2pConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::{Multiaddr, PeerId};
use malachitebft_app_channel::app::types::Keypair as P2pKeypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, NetworkRequest, RequestContext, Signer,
    SyncContext, WalContext,
};
use medledger_node::config::PubSub;
use medledger_node::{Home, Node};
use medledger_types::PublicKey;
use tracing::info;

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
        // GossipSub keeps one stream per peer, so a message costs one trip; Malachite's
        // broadcast opens a stream per message and waits a round trip for its protocol
        // negotiation first (ADR 013 §9). Publishing floods every peer, so relaying through
        // the mesh only matters when a link is down: the mesh is kept at two peers, each
        // message relayed at most twice, instead of GossipSub's six.
        protocol: match home.config.p2p.pubsub {
            PubSub::Gossipsub => PubSubProtocol::GossipSub(GossipSubConfig::new(2, 3, 1, 1, false, false, true)),
            PubSub::Broadcast => PubSubProtocol::Broadcast,
        },
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

/// Runs consensus for `node` until `shutdown` resolves.
pub async fn run_validator(node: Node, home: &Home, shutdown: impl Future<Output = ()>) -> eyre::Result<()> {
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
    // Gossip comes in through the host (it shares the proposal-part channel) and goes out
    // through the engine's network.
    let validators = node
        .genesis()
        .validators
        .iter()
        .map(|v| {
            let id = peer_id_of(&v.public_key)?;
            let id = malachitebft_app_channel::app::types::PeerId::from_bytes(&id.to_bytes())
                .map_err(|e| eyre!("peer id of {}: {e}", v.public_key))?;
            Ok((id, Address(v.public_key)))
        })
        .collect::<eyre::Result<std::collections::HashMap<_, Address>>>()?;
    let peers: Vec<Address> = validators.values().copied().filter(|a| *a != me).collect();
    let (gossip_in, gossip_rx) = tokio::sync::mpsc::channel(GOSSIP_INBOX);
    let gossip_tasks = crate::gossip::spawn(node.clone(), peers, channels.network.clone(), gossip_rx);
    let host = Host::new(node.clone(), key, channels.network.clone(), gossip_in, validators);
    let host_task = tokio::spawn(host.run(channels));
    let peers_task = tokio::spawn(watch_peers(node.clone(), net_requests));

    let failed = tokio::select! {
        _ = shutdown => None,
        reason = node.fatal() => Some(reason),
    };
    info!("stopping consensus");
    peers_task.abort();
    for t in gossip_tasks {
        t.abort();
    }
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

/// Gossip messages waiting for the receiving task; past this, new ones are dropped (their
/// senders send them again).
const GOSSIP_INBOX: usize = 1024;

async fn watch_peers(node: Node, requests: tokio::sync::mpsc::Sender<NetworkRequest>) {
    loop {
        if let Ok(Some(dump)) = NetworkRequest::dump_state(&requests).await {
            let peers = dump.peers.len();
            node.update_consensus_status(|s| s.peers = peers);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
