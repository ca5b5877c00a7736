//! `config.toml`: typed, with defaults, validated before the node starts.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A name for this node in logs and `/v1/status`.
    pub moniker: String,
    pub api: ApiConfig,
    pub mempool: MempoolConfig,
    pub block: BlockConfig,
    pub p2p: P2pConfig,
    pub fhir: FhirConfig,
}

/// The FHIR records exchange: tokens, sizes, and where encrypted records are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FhirConfig {
    /// Lifetime of access tokens from `POST /auth/token`, in seconds (SMART: at most 300).
    pub token_ttl_secs: u64,
    /// Largest FHIR resource body (create, update), in bytes.
    pub max_resource_bytes: usize,
    /// Largest transaction or batch Bundle, in bytes.
    pub max_bundle_bytes: usize,
    /// Most entries in one transaction or batch Bundle.
    pub max_bundle_entries: usize,
    /// Largest page a search returns (`_count` is capped to this).
    pub max_page: usize,
    /// Where encrypted record versions are stored: empty means `data/blobs` in the home
    /// folder; otherwise an absolute directory path. Ignored when `[fhir.s3]` is set.
    pub blob_dir: String,
    /// Keep encrypted record versions in an S3-compatible bucket instead of a folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Config>,
    /// How long the files of a finished bulk export (`$export`) are kept, encrypted,
    /// before they are deleted, in seconds.
    pub export_retention_secs: u64,
    /// Most bulk exports running at once on this node.
    pub max_exports: usize,
}

/// An S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...). Credentials are never
/// read from this file: they come from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`) or the instance's role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The bucket; it must exist.
    pub bucket: String,
    /// A folder inside the bucket (empty: the bucket's top level).
    pub prefix: String,
    /// The service's URL, for anything but AWS (e.g. `https://minio.hospital.example:9000`).
    /// Empty: AWS S3 in `region`.
    pub endpoint: String,
    pub region: String,
    /// Allow a plain `http://` endpoint (only on a trusted network; the objects are
    /// ciphertext, but credentials and metadata would travel in clear).
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            prefix: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            allow_http: false,
        }
    }
}

impl S3Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        let b = &self.bucket;
        if b.len() < 3
            || b.len() > 63
            || !b
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
            || !b.as_bytes()[0].is_ascii_alphanumeric()
        {
            return invalid(
                "fhir.s3.bucket",
                format!("{b:?} is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"),
            );
        }
        if self.prefix.starts_with('/')
            || self.prefix.len() > 512
            || self.prefix.chars().any(|c| c.is_control() || c == '\\')
            || self.prefix.split('/').any(|seg| seg == "..")
        {
            return invalid(
                "fhir.s3.prefix",
                format!("{:?} is not a relative folder inside the bucket", self.prefix),
            );
        }
        if self.region.is_empty()
            || self.region.len() > 64
            || !self.region.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return invalid("fhir.s3.region", format!("{:?} is not a region name", self.region));
        }
        if !self.endpoint.is_empty() {
            if self.endpoint.starts_with("http://") {
                if !self.allow_http {
                    return invalid(
                        "fhir.s3.endpoint",
                        format!("{:?} is plain http; use https, or set allow_http = true", self.endpoint),
                    );
                }
            } else if !self.endpoint.starts_with("https://") {
                return invalid("fhir.s3.endpoint", format!("{:?} is not an http(s) URL", self.endpoint));
            }
        }
        Ok(())
    }
}

impl Default for FhirConfig {
    fn default() -> Self {
        FhirConfig {
            token_ttl_secs: 300,
            max_resource_bytes: 1024 * 1024,
            max_bundle_bytes: 32 * 1024 * 1024,
            max_bundle_entries: 5_000,
            max_page: 500,
            blob_dir: String::new(),
            s3: None,
            export_retention_secs: 3600,
            max_exports: 4,
        }
    }
}

/// How this validator reaches the others. Only validators named in genesis may connect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pConfig {
    /// Address consensus listens on (TCP).
    pub listen: SocketAddr,
    /// The other validators: their consensus address (also carrying the transaction
    /// gossip) and their HTTP API (for record transfers).
    pub peers: Vec<PeerConfig>,
    /// How consensus messages and transaction gossip reach the other validators.
    pub pubsub: PubSub,
}

/// The publish-subscribe protocol between validators (ADR 013 §9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PubSub {
    /// GossipSub over one long-lived stream per peer: a message costs one trip.
    #[default]
    Gossipsub,
    /// Malachite's broadcast: a new stream per message, whose protocol negotiation waits
    /// a round trip before the message goes (kept to compare).
    Broadcast,
}

impl std::str::FromStr for PubSub {
    type Err = String;

    fn from_str(s: &str) -> Result<PubSub, String> {
        match s {
            "gossipsub" => Ok(PubSub::Gossipsub),
            "broadcast" => Ok(PubSub::Broadcast),
            other => Err(format!("{other:?} is not a pub-sub protocol (gossipsub or broadcast)")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// `host:port` of the peer's consensus listener.
    pub p2p: String,
    /// Base URL of the peer's HTTP API, e.g. `http://10.0.0.2:8080`.
    pub api: String,
    /// The peer's validator key (from genesis). With it, only the holder of that key
    /// can connect as this peer, and its connections are accepted from any address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<medledger_types::PublicKey>,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 26656)),
            peers: Vec::new(),
            pubsub: PubSub::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The base URL clients use to reach this node (`https://node.hospital.example`).
    /// Client assertions must name `<public_url>/auth/token` as their audience. Empty:
    /// `http(s)://<listen>`.
    pub public_url: String,
    /// Serve the ledger's contents (`/v1/blocks`, `/v1/tx`, `/v1/state`,
    /// `/ct/v1/get-entries`) to anyone, for outside auditors. Off: only to members with a
    /// token. Tree heads, proofs and receipts by hash are always public.
    pub public_ledger: bool,
    /// Allow plain HTTP on an address other than loopback. Records would cross the network
    /// in clear; only for a deployment behind a TLS-terminating proxy on the same host.
    pub allow_plain_http: bool,
    /// HTTPS (paths relative to the node's home). `medledger init` writes certificates
    /// issued by the consortium's own authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Largest `POST /v1/txs` body, in bytes (`POST /v1/tx` takes one transaction, at
    /// most 64 KiB of body).
    pub max_body_bytes: usize,
    /// Most transactions in one `POST /v1/txs` batch.
    pub max_batch_txs: usize,
    /// How long `POST /v1/tx` and `POST /v1/txs` wait for their transactions to commit.
    pub commit_timeout_ms: u64,
    /// DSCSA verification (`GET /dscsa/verify/…`): the organisations, besides this
    /// node's own, whose GTINs this node answers for as their verification service (a
    /// manufacturer that runs no node of its own names the member whose node answers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dscsa_answer_for: Vec<medledger_types::OrgId>,
    /// EPCIS capture for member organisations that run no node (ADR 014 §13): for each,
    /// a service key that the member registered on the ledger and gave to this node. The
    /// node signs that member's captures with it and keeps its events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub epcis_hosted: Vec<HostedMember>,
}

/// A member organisation whose EPCIS events this node captures and keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedMember {
    pub org: medledger_types::OrgId,
    /// The member's service key file (the `medledger keygen` format), relative to the
    /// node's home.
    pub key: std::path::PathBuf,
}

/// The node's certificates. Two certificates, both from the consortium's authority: a
/// P-256 one for browsers and ordinary clients, and an Ed25519 one holding the node's
/// service key, which other nodes pin to the ledger (see `medledger_node::tls`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The consortium's certificate authority (PEM): client certificates of other nodes
    /// must chain to it.
    pub ca: String,
    /// The server certificate chain (PEM) and its private key (PEM, mode 0600). May be
    /// one an operator obtained elsewhere.
    pub cert: String,
    pub key: String,
    /// The Ed25519 certificate of the node's service key (PEM), issued by `ca`.
    pub node_cert: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most transactions waiting for a block.
    pub max_txs: usize,
    /// Most bytes of transactions waiting for a block.
    pub max_bytes: usize,
    /// Most transactions one signer may have waiting: one key cannot crowd out the rest.
    pub max_per_signer: usize,
    /// Percent of `max_txs` and `max_bytes` kept for the node's own transactions (record
    /// anchors, audit entries, erasure receipts): a flood of client transactions never
    /// stops the audit trail.
    pub reserved_percent: usize,
    /// Percent of the clients' share of the pool past which a signer that already has
    /// its share waiting is answered `429 Too Many Requests` before any work is done on
    /// its request (its share: this mark divided among the signers with transactions
    /// waiting). Past the clients' whole share, every client request is answered so.
    pub high_water_percent: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// How long a proposer waits for a block to fill before it proposes what it has.
    pub interval_ms: u64,
    /// A proposed block whose timestamp is further ahead of this validator's clock is
    /// refused: one byzantine proposer cannot move chain time (and consent expiry) forward.
    pub max_future_drift_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            moniker: "medledger-node".into(),
            api: ApiConfig::default(),
            mempool: MempoolConfig::default(),
            block: BlockConfig::default(),
            p2p: P2pConfig::default(),
            fhir: FhirConfig::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            public_ledger: false,
            allow_plain_http: false,
            tls: None,
            max_body_bytes: 8 * 1024 * 1024,
            max_batch_txs: 10_000,
            commit_timeout_ms: 30_000,
            dscsa_answer_for: Vec::new(),
            epcis_hosted: Vec::new(),
        }
    }
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            // About two seconds of the network's capacity: a longer queue only adds
            // latency (ADR 013); past half of it, back-pressure answers 429.
            max_txs: 20_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_signer: 5_000,
            reserved_percent: 10,
            high_water_percent: 50,
        }
    }
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            // Everything after a proposal (streaming it, every validator checking it,
            // writing it) grows with its size: 4,000 keeps a height short under load
            // (ADR 013).
            max_txs: 4_000,
            interval_ms: 50,
            max_future_drift_ms: 10_000,
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config.toml: {0}")]
    Parse(String),
    #[error("config.toml: {field} {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        toml::from_str::<Config>(text)
            .map_err(|e| ConfigError::Parse(e.to_string()))?
            .validate()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn validate(self) -> Result<Config, ConfigError> {
        let range = |field: &'static str, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi {
                Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be between {lo} and {hi}, got {v}"),
                })
            } else {
                Ok(())
            }
        };
        range(
            "block.max_txs",
            self.block.max_txs,
            1,
            medledger_types::block::MAX_BLOCK_TXS,
        )?;
        range("block.interval_ms", self.block.interval_ms as usize, 1, 60_000)?;
        range("mempool.max_txs", self.mempool.max_txs, 1, 10_000_000)?;
        range("mempool.max_bytes", self.mempool.max_bytes, 1024, 1 << 34)?;
        range(
            "mempool.max_per_signer",
            self.mempool.max_per_signer,
            1,
            self.mempool.max_txs,
        )?;
        range("mempool.reserved_percent", self.mempool.reserved_percent, 0, 50)?;
        range("mempool.high_water_percent", self.mempool.high_water_percent, 1, 100)?;
        range(
            "block.max_future_drift_ms",
            self.block.max_future_drift_ms as usize,
            100,
            3_600_000,
        )?;
        range("api.max_body_bytes", self.api.max_body_bytes, 1024, 1 << 30)?;
        range("api.max_batch_txs", self.api.max_batch_txs, 1, 100_000)?;
        range(
            "api.commit_timeout_ms",
            self.api.commit_timeout_ms as usize,
            1,
            3_600_000,
        )?;
        range("p2p.peers", self.p2p.peers.len(), 0, 1000)?;
        range("fhir.token_ttl_secs", self.fhir.token_ttl_secs as usize, 10, 3600)?;
        range("fhir.max_resource_bytes", self.fhir.max_resource_bytes, 1024, 64 << 20)?;
        range("fhir.max_bundle_bytes", self.fhir.max_bundle_bytes, 1024, 1 << 30)?;
        range("fhir.max_bundle_entries", self.fhir.max_bundle_entries, 1, 100_000)?;
        range("fhir.max_page", self.fhir.max_page, 1, 10_000)?;
        range(
            "fhir.export_retention_secs",
            self.fhir.export_retention_secs as usize,
            60,
            7 * 86_400,
        )?;
        range("fhir.max_exports", self.fhir.max_exports, 1, 64)?;
        if !self.fhir.blob_dir.is_empty() && !std::path::Path::new(&self.fhir.blob_dir).is_absolute() {
            return Err(ConfigError::Invalid {
                field: "fhir.blob_dir",
                reason: "must be an absolute path (or empty for data/blobs)".into(),
            });
        }
        if let Some(s3) = &self.fhir.s3 {
            s3.validate()?;
        }
        for peer in &self.p2p.peers {
            let Some((host, port)) = peer.p2p.rsplit_once(':') else {
                return Err(ConfigError::Invalid {
                    field: "p2p.peers.p2p",
                    reason: format!("{:?} is not host:port", peer.p2p),
                });
            };
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(ConfigError::Invalid {
                    field: "p2p.peers.p2p",
                    reason: format!("{:?} is not host:port", peer.p2p),
                });
            }
            if !(peer.api.starts_with("http://") || peer.api.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    field: "p2p.peers.api",
                    reason: format!("{:?} is not an http(s) URL", peer.api),
                });
            }
        }
        let url = &self.api.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                field: "api.public_url",
                reason: format!("{:?} is not an http(s) URL", self.api.public_url),
            });
        }
        if self.api.tls.is_none() && !self.api.listen.ip().is_loopback() && !self.api.allow_plain_http {
            return Err(ConfigError::Invalid {
                field: "api.listen",
                reason: format!(
                    "{} is reachable from other machines over plain HTTP; configure [api.tls] (medledger init writes it), or set api.allow_plain_http = true behind a TLS proxy",
                    self.api.listen
                ),
            });
        }
        if self.moniker.is_empty() || self.moniker.len() > 64 || self.moniker.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                field: "moniker",
                reason: "must be 1 to 64 bytes of printable text".into(),
            });
        }
        Ok(self)
    }

    pub fn block_interval(&self) -> Duration {
        Duration::from_millis(self.block.interval_ms)
    }

    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.api.commit_timeout_ms)
    }

    /// The base URL clients use for this node, without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.api.public_url.is_empty() {
            let scheme = if self.api.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", self.api.listen)
        } else {
            self.api.public_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_validate() {
        let c = Config::default();
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::parse("[block]\nmax_txs = 0\n").unwrap_err();
        assert!(err.to_string().contains("block.max_txs"), "{err}");
        let err = Config::parse("[blok]\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse(_)));
    }

    #[test]
    fn the_pub_sub_protocol_is_gossipsub_unless_broadcast_is_asked_for() {
        assert_eq!(Config::default().p2p.pubsub, PubSub::Gossipsub);
        let c = Config::parse("[p2p]\npubsub = \"broadcast\"\n").unwrap();
        assert_eq!(c.p2p.pubsub, PubSub::Broadcast);
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
        assert!(Config::parse("[p2p]\npubsub = \"floodsub\"\n").is_err());
        assert_eq!("broadcast".parse::<PubSub>(), Ok(PubSub::Broadcast));
        assert!("Gossipsub".parse::<PubSub>().is_err());
    }

    #[test]
    fn s3_section_parses_and_bad_values_are_named() {
        let ok = "[fhir.s3]\nbucket = \"med-records.a\"\nprefix = \"node0/blobs\"\nendpoint = \"https://minio.example:9000\"\n";
        let c = Config::parse(ok).unwrap();
        let s3 = c.fhir.s3.clone().unwrap();
        assert_eq!(s3.bucket, "med-records.a");
        assert_eq!(s3.region, "us-east-1");
        assert!(!s3.allow_http);
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
        for (text, field) in [
            ("[fhir.s3]\nbucket = \"Bad_Bucket\"\n", "fhir.s3.bucket"),
            ("[fhir.s3]\n", "fhir.s3.bucket"),
            ("[fhir.s3]\nbucket = \"abc\"\nprefix = \"../up\"\n", "fhir.s3.prefix"),
            ("[fhir.s3]\nbucket = \"abc\"\nprefix = \"/abs\"\n", "fhir.s3.prefix"),
            (
                "[fhir.s3]\nbucket = \"abc\"\nendpoint = \"http://x:9000\"\n",
                "fhir.s3.endpoint",
            ),
            (
                "[fhir.s3]\nbucket = \"abc\"\nendpoint = \"ftp://x\"\n",
                "fhir.s3.endpoint",
            ),
            ("[fhir.s3]\nbucket = \"abc\"\nregion = \"\"\n", "fhir.s3.region"),
            ("[fhir.s3]\nbucket = \"abc\"\nsecret = \"x\"\n", "unknown field"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
        let plain = "[fhir.s3]\nbucket = \"abc\"\nendpoint = \"http://x:9000\"\nallow_http = true\n";
        assert!(Config::parse(plain).is_ok());
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_asked_for() {
        let err = Config::parse("[api]\nlisten = \"0.0.0.0:8080\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.listen") && err.contains("plain HTTP"), "{err}");
        assert!(Config::parse("[api]\nlisten = \"0.0.0.0:8080\"\nallow_plain_http = true\n").is_ok());
        let tls = "[api]\nlisten = \"0.0.0.0:8443\"\n[api.tls]\nca = \"tls/ca.pem\"\ncert = \"tls/server.pem\"\nkey = \"tls/server_key.pem\"\nnode_cert = \"tls/node.pem\"\n";
        let c = Config::parse(tls).unwrap();
        assert_eq!(c.public_url(), "https://0.0.0.0:8443");
        assert!(Config::parse("[api]\nlisten = \"127.0.0.1:8080\"\n").is_ok());
        assert_eq!(Config::default().public_url(), "http://127.0.0.1:8080");
    }
}
