//! A node's home folder and the `init` that writes a network of them.
//!
//! ```text
//! <network>/genesis.json             the shared genesis
//! <network>/admins/<org>.json        each organisation's first admin key (0600)
//! <network>/ca/ca.pem                the consortium's certificate authority (TLS; public)
//! <network>/ca/ca_key.pem            its private key (0600): keep it offline
//! <network>/node<i>/config.toml      the node's settings
//! <network>/node<i>/genesis.json     a copy of the genesis
//! <network>/node<i>/node_key.json    the validator key (0600)
//! <network>/node<i>/service_key.json the node's service key: signs record anchors, audit and
//!                                    erasure transactions as member `node<i>` of its org (0600)
//! <network>/node<i>/custody_keys.json the organisation's X25519 encryption key, the key that
//!                                    wraps data keys at rest and the key of identifier hashes
//!                                    (0600; made on first start)
//! <network>/node<i>/tls/             ca.pem, server.pem and server_key.pem (P-256, for browsers
//!                                    and clients), node.pem (Ed25519 certificate of the service
//!                                    key, for other nodes); with `init --tls` (the default)
//! <network>/node<i>/data/            the node's database (created on first start)
//! ```
//!
//! Keys are generated fresh by `init` and live only in these folders.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use medledger_crypto::Keypair;
use medledger_crypto::envelope::DataKey;
use medledger_crypto::wrap::EncryptionKeypair;
use medledger_gs1::ident::check_digit;
use medledger_ledger::Genesis;
use medledger_ledger::genesis::{GenesisAdmin, GenesisGs1, GenesisMember, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_types::{ChainId, MemberId, OrgId, PublicKey, TimestampMs};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{Config, ConfigError};

#[derive(Debug, Error)]
pub enum HomeError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} already exists; pick another folder or remove it")]
    Exists(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A key file: the public key and the secret seed, hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub public_key: PublicKey,
    pub secret_key: String,
}

pub fn write_key(path: &Path, key: &Keypair) -> Result<(), HomeError> {
    let file = KeyFile {
        public_key: key.public(),
        secret_key: key.secret_hex(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| HomeError::Invalid {
        path: path.into(),
        reason: e.to_string(),
    })?;
    write_private(path, text.as_bytes())
}

pub fn read_key(path: &Path) -> Result<Keypair, HomeError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let invalid = |reason: String| HomeError::Invalid {
        path: path.into(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let key = Keypair::from_secret_hex(&file.secret_key).map_err(|e| invalid(e.to_string()))?;
    if key.public() != file.public_key {
        return Err(invalid("public_key does not match secret_key".into()));
    }
    Ok(key)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    fs::write(path, bytes).map_err(io_err(path))
}

/// A loaded node home.
#[derive(Clone)]
pub struct Home {
    pub dir: PathBuf,
    pub config: Config,
    pub genesis: Genesis,
    pub key: Keypair,
    /// The node's own member identity, when genesis registers its service key.
    pub service: Option<ServiceIdentity>,
}

/// Who this node is on the ledger when it writes records, audit and erasures.
#[derive(Clone)]
pub struct ServiceIdentity {
    pub org: OrgId,
    pub member: MemberId,
    pub key: Keypair,
    /// The organisation's HPKE key: data keys are re-wrapped to it for cross-org reads.
    pub encryption: Arc<EncryptionKeypair>,
    /// Wraps this node's data keys at rest; destroying a wrapped key erases a record.
    pub kek: Arc<DataKey>,
    /// Keys the hashes of business identifiers (HMAC-SHA-256), and nothing else.
    pub identifier_key: Arc<[u8; 32]>,
}

/// `custody_keys.json`: secrets that never leave the node, hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustodyKeysFile {
    encryption_public_key: String,
    encryption_secret_key: String,
    key_encryption_key: String,
    /// Added after the first release of the file; made on the next start if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identifier_key: Option<String>,
}

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
    k
}

fn load_custody_keys(path: &Path) -> Result<(EncryptionKeypair, DataKey, [u8; 32]), HomeError> {
    let invalid = |reason: String| HomeError::Invalid {
        path: path.into(),
        reason,
    };
    if !path.exists() {
        let enc = EncryptionKeypair::generate();
        let kek = DataKey::generate();
        let file = CustodyKeysFile {
            encryption_public_key: enc.public().to_string(),
            encryption_secret_key: hex::encode(enc.secret_bytes()),
            key_encryption_key: hex::encode(kek.as_bytes()),
            identifier_key: Some(hex::encode(random32())),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| invalid(e.to_string()))?;
        write_private(path, text.as_bytes())?;
    }
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let mut file: CustodyKeysFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.identifier_key.is_none() {
        file.identifier_key = Some(hex::encode(random32()));
        let text = serde_json::to_string_pretty(&file).map_err(|e| invalid(e.to_string()))?;
        let fresh = path.with_extension("json.new");
        let _ = fs::remove_file(&fresh);
        write_private(&fresh, text.as_bytes())?;
        fs::rename(&fresh, path).map_err(io_err(path))?;
    }
    let bytes32 = |what: &str, s: &str| -> Result<[u8; 32], HomeError> {
        let v = hex::decode(s).map_err(|e| invalid(format!("{what}: {e}")))?;
        v.try_into().map_err(|_| invalid(format!("{what}: must be 32 bytes")))
    };
    let enc = EncryptionKeypair::from_secret_bytes(bytes32("encryption_secret_key", &file.encryption_secret_key)?);
    if enc.public().to_string() != file.encryption_public_key {
        return Err(invalid(
            "encryption_public_key does not match encryption_secret_key".into(),
        ));
    }
    let kek = DataKey::from_bytes(bytes32("key_encryption_key", &file.key_encryption_key)?);
    let identifiers = bytes32("identifier_key", file.identifier_key.as_deref().unwrap_or_default())?;
    Ok((enc, kek, identifiers))
}

impl Home {
    pub fn load(dir: &Path) -> Result<Home, HomeError> {
        let config_path = dir.join("config.toml");
        let text = fs::read_to_string(&config_path).map_err(io_err(&config_path))?;
        let config = Config::parse(&text)?;
        let genesis = read_genesis(&dir.join("genesis.json"))?;
        let key = read_key(&dir.join("node_key.json"))?;
        let service_path = dir.join("service_key.json");
        let service = if service_path.exists() {
            let service_key = read_key(&service_path)?;
            let (org, member) = genesis
                .orgs
                .iter()
                .flat_map(|o| o.members.iter().map(move |m| (o, m)))
                .find(|(_, m)| m.public_key == service_key.public())
                .map(|(o, m)| (o.id.clone(), m.member.clone()))
                .ok_or_else(|| HomeError::Invalid {
                    path: service_path.clone(),
                    reason: "this service key is not registered in genesis".into(),
                })?;
            let (encryption, kek, identifiers) = load_custody_keys(&dir.join("custody_keys.json"))?;
            Some(ServiceIdentity {
                org,
                member,
                key: service_key,
                encryption: Arc::new(encryption),
                kek: Arc::new(kek),
                identifier_key: Arc::new(identifiers),
            })
        } else {
            None
        };
        Ok(Home {
            dir: dir.to_path_buf(),
            config,
            genesis,
            key,
            service,
        })
    }

    /// Where encrypted record versions are kept (unless the config names an object store).
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir().join("blobs")
    }

    pub fn custody_db_path(&self) -> PathBuf {
        self.data_dir().join("custody.redb")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("ledger.redb")
    }

    /// The node's TLS certificates, from the paths in `[api.tls]` (relative to the home).
    /// The node's TLS identity when `[api.tls]` is configured (`None` otherwise): loaded
    /// once at start and shared by the API server, transfers and forwarding. Its node
    /// certificate holds the service key, which must be in this home.
    pub fn tls_identity(&self) -> Result<Option<Arc<crate::tls::TlsIdentity>>, HomeError> {
        let Some(t) = &self.config.api.tls else {
            return Ok(None);
        };
        let Some(service) = &self.service else {
            return Err(HomeError::Invalid {
                path: self.dir.join("config.toml"),
                reason: "[api.tls] needs the node's service key (service_key.json): its certificate holds it".into(),
            });
        };
        let at = |p: &str| self.dir.join(p);
        crate::tls::TlsIdentity::load(&at(&t.ca), &at(&t.cert), &at(&t.key), &at(&t.node_cert), &service.key)
            .map(|id| Some(Arc::new(id)))
            .map_err(tls_error(&self.dir.join("tls")))
    }
}

pub fn read_genesis(path: &Path) -> Result<Genesis, HomeError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let invalid = |reason: String| HomeError::Invalid {
        path: path.into(),
        reason,
    };
    let genesis: Genesis = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    genesis.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(genesis)
}

/// What `medledger init` builds.
pub struct InitOptions {
    pub chain_id: ChainId,
    pub validators: usize,
    /// Organisations as (id, display name, role); validators are spread over them in turn.
    pub orgs: Vec<(OrgId, String, OrgRole)>,
    /// Further organisations, after `orgs`, that hold no validator: members of the
    /// consortium with an admin and no node ([`supply_chain_orgs`]).
    pub members: Vec<(OrgId, String, OrgRole)>,
    /// The GS1 identifiers registered at genesis, by organisation ([`default_gs1`]).
    pub gs1: Vec<(OrgId, GenesisGs1)>,
    /// The first node's API port; node `i` gets `base_port + i`. 0 picks free ports at start.
    pub base_api_port: u16,
    /// The first node's consensus (p2p) port; node `i` gets `base_p2p_port + i`. Must be
    /// fixed (not 0) when there is more than one validator, since peers dial it.
    pub base_p2p_port: u16,
    pub genesis_time: TimestampMs,
    /// Issue a consortium certificate authority and every node's certificates, and serve
    /// HTTPS. Off only for a loopback development network.
    pub tls: bool,
    /// Names and addresses the nodes' certificates are valid for (besides localhost).
    pub hosts: Vec<String>,
}

/// The default consortium for a local network: one organisation of each common kind.
pub fn default_orgs(n: usize) -> Vec<(OrgId, String, OrgRole)> {
    let kinds = [
        ("hospital-a", "Hospital A", OrgRole::Hospital),
        ("clinic-b", "Clinic B", OrgRole::Clinic),
        ("pharmacy-c", "Pharmacy C", OrgRole::Pharmacy),
        ("insurer-d", "Insurer D", OrgRole::Insurer),
        ("lab-e", "Lab E", OrgRole::Lab),
        ("regulator-f", "Regulator F", OrgRole::Regulator),
    ];
    (0..n.max(1))
        .map(|i| {
            let (id, name, role) = kinds[i % kinds.len()];
            let suffix = if i < kinds.len() {
                String::new()
            } else {
                format!("-{}", i / kinds.len())
            };
            (
                OrgId::new(format!("{id}{suffix}")).expect("the table holds valid ids"),
                format!("{name}{suffix}"),
                role,
            )
        })
        .collect()
}

/// The supply chain of medicines that `init` and `dev` add to the consortium (ADR 014 §5):
/// a manufacturer, a wholesaler and a regulator, members without a validator.
pub fn supply_chain_orgs() -> Vec<(OrgId, String, OrgRole)> {
    [
        ("maker-m", "Manufacturer M", OrgRole::Manufacturer),
        ("wholesale-w", "Wholesaler W", OrgRole::Distributor),
        ("regulator-r", "Regulator R", OrgRole::Regulator),
    ]
    .into_iter()
    .map(|(id, name, role)| {
        (
            OrgId::new(id).expect("the table holds valid ids"),
            name.to_owned(),
            role,
        )
    })
    .collect()
}

/// A GLN: 12 data digits and their check digit.
fn gln(data: &str) -> String {
    let check = check_digit(data).expect("12 digits");
    format!("{data}{check}")
}

/// The GS1 identifiers of a local network's organisations (ADR 014 §5), all under the
/// company prefixes of GS1's own documentation examples, which no real company uses:
///
/// - the manufacturer: company prefix `0614141` (the EPC Tag Data Standard's and EPCIS's
///   examples, `urn:epc:id:sgtin:0614141.812345.6789`) and its plant's GLN `0614141000012`;
/// - the wholesaler: its warehouse's GLN `4012345000122` (EPCIS 2.0's example location
///   `urn:epc:id:sgln:4012345.00012.0`);
/// - every pharmacy, hospital and clinic, which dispense: a site GLN under `5200001` (a
///   prefix of EPCIS 2.0's examples), location reference its position in `orgs` plus one
///   (`5200001000039` for the third);
/// - the regulator: GLN `9506000000015` (`9506000`, GS1's General Specifications
///   example prefix).
///
/// Only the manufacturer commissions packs, so it alone has a company prefix.
pub fn default_gs1(orgs: &[(OrgId, String, OrgRole)]) -> Vec<(OrgId, GenesisGs1)> {
    let glns = |glns: Vec<String>| GenesisGs1 {
        company_prefixes: Vec::new(),
        glns,
    };
    orgs.iter()
        .enumerate()
        .filter_map(|(i, (id, _, role))| {
            let gs1 = match (id.as_str(), role) {
                ("maker-m", OrgRole::Manufacturer) => GenesisGs1 {
                    company_prefixes: vec!["0614141".into()],
                    glns: vec![gln("061414100001")],
                },
                ("wholesale-w", OrgRole::Distributor) => glns(vec![gln("401234500012")]),
                ("regulator-r", OrgRole::Regulator) => glns(vec![gln("950600000001")]),
                (_, OrgRole::Pharmacy | OrgRole::Hospital | OrgRole::Clinic) => {
                    glns(vec![gln(&format!("5200001{:05}", i + 1))])
                }
                _ => return None,
            };
            Some((id.clone(), gs1))
        })
        .collect()
}

/// The result of `init`: where things went.
pub struct InitOutput {
    pub genesis: Genesis,
    pub node_homes: Vec<PathBuf>,
    pub admin_keys: Vec<(OrgId, PathBuf)>,
}

/// Writes a new network under `out`, with fresh keys.
/// Where a node keeps the service key of a member it hosts, relative to its home.
pub fn hosted_key_path(org: &OrgId) -> PathBuf {
    PathBuf::from("hosted").join(format!("{org}.json"))
}

/// The member id under which a hosted member registers the key its host holds.
pub const HOSTED_MEMBER: &str = "epcis-host";

pub fn init_network(out: &Path, opts: &InitOptions) -> Result<InitOutput, HomeError> {
    init_with(out, opts, &mut |_| Keypair::generate(&mut rand::rngs::OsRng))
}

fn init_with(
    out: &Path,
    opts: &InitOptions,
    new_key: &mut dyn FnMut(&str) -> Keypair,
) -> Result<InitOutput, HomeError> {
    if out.join("genesis.json").exists() {
        return Err(HomeError::Exists(out.join("genesis.json")));
    }
    if opts.validators == 0 || opts.orgs.is_empty() {
        return Err(HomeError::Invalid {
            path: out.into(),
            reason: "a network needs at least one validator and one organisation".into(),
        });
    }
    fs::create_dir_all(out.join("admins")).map_err(io_err(out))?;

    let mut orgs = Vec::new();
    let mut admin_keys = Vec::new();
    for (id, name, role) in opts.orgs.iter().chain(&opts.members) {
        let admin = new_key("admin");
        let path = out.join("admins").join(format!("{id}.json"));
        write_key(&path, &admin)?;
        admin_keys.push((id.clone(), path));
        orgs.push(GenesisOrg {
            gs1: opts.gs1.iter().find(|(o, _)| o == id).map(|(_, g)| g.clone()),
            id: id.clone(),
            name: name.clone(),
            role: *role,
            admins: vec![GenesisAdmin {
                member: MemberId::new("admin").map_err(|e| HomeError::Invalid {
                    path: out.into(),
                    reason: e.to_string(),
                })?,
                public_key: admin.public(),
            }],
            members: Vec::new(),
        });
    }

    let mut validator_keys = Vec::new();
    let mut service_keys = Vec::new();
    let mut validators = Vec::new();
    for i in 0..opts.validators {
        let key = new_key("validator");
        let org_index = i % opts.orgs.len();
        validators.push(GenesisValidator {
            org: opts.orgs[org_index].0.clone(),
            public_key: key.public(),
            power: 1,
        });
        validator_keys.push(key);
        let service = new_key("service");
        orgs[org_index].members.push(GenesisMember {
            member: MemberId::new(format!("node{i}")).map_err(|e| HomeError::Invalid {
                path: out.into(),
                reason: e.to_string(),
            })?,
            kind: MemberKind::Service,
            public_key: service.public(),
        });
        service_keys.push(service);
    }
    let genesis = Genesis {
        break_glass: Some(medledger_ledger::consent::break_glass::BreakGlassRules::default()),
        suspend_quorum: Genesis::default_suspend_quorum(orgs.len()),
        contracts: None,
        chain_id: opts.chain_id.clone(),
        genesis_time: opts.genesis_time,
        orgs,
        validators,
    };
    genesis.validate().map_err(|e| HomeError::Invalid {
        path: out.into(),
        reason: e.to_string(),
    })?;
    let genesis_json = serde_json::to_string_pretty(&genesis).map_err(|e| HomeError::Invalid {
        path: out.into(),
        reason: e.to_string(),
    })?;
    write_public(&out.join("genesis.json"), genesis_json.as_bytes())?;

    if opts.validators > 1 && (opts.base_p2p_port == 0 || opts.base_api_port == 0) {
        return Err(HomeError::Invalid {
            path: out.into(),
            reason: "a network of several validators needs fixed API and p2p ports (not 0): peers must know them"
                .into(),
        });
    }
    // The first node hosts the EPCIS capture of the members that capture but run no
    // node (manufacturers and distributors) and the regulator's EPCIS queries, and answers
    // DSCSA verifications for the manufacturers (ADR 014 §13, §15): it holds a service key
    // of each, which the member's admin registers on the ledger (`medledger dev` does it
    // once the network runs), and asks the other nodes for their events with it.
    let hosted: Vec<(OrgId, OrgRole, Keypair)> = opts
        .members
        .iter()
        .filter(|(_, _, role)| matches!(role, OrgRole::Manufacturer | OrgRole::Distributor | OrgRole::Regulator))
        .map(|(id, _, role)| (id.clone(), *role, new_key("hosted")))
        .collect();
    let port_of = |base: u16, i: usize| if base == 0 { 0 } else { base.saturating_add(i as u16) };
    let authority = if opts.tls { Some(write_authority(out)?) } else { None };
    let scheme = if opts.tls { "https" } else { "http" };
    let mut node_homes = Vec::new();
    for (i, key) in validator_keys.iter().enumerate() {
        let home = out.join(format!("node{i}"));
        fs::create_dir_all(&home).map_err(io_err(&home))?;
        let peers = (0..opts.validators)
            .filter(|&j| j != i)
            .map(|j| crate::config::PeerConfig {
                p2p: format!("127.0.0.1:{}", port_of(opts.base_p2p_port, j)),
                api: format!("{scheme}://127.0.0.1:{}", port_of(opts.base_api_port, j)),
                validator: Some(validator_keys[j].public()),
            })
            .collect();
        let tls = match &authority {
            Some(ca) => Some(write_node_tls(
                ca,
                &home,
                &service_keys[i],
                &genesis.validators[i].org,
                &MemberId::new(format!("node{i}")).map_err(|e| HomeError::Invalid {
                    path: out.into(),
                    reason: e.to_string(),
                })?,
                &opts.hosts,
            )?),
            None => None,
        };
        let hosts = i == 0;
        for (org, _, key) in hosted.iter().filter(|_| hosts) {
            let path = home.join(hosted_key_path(org));
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            write_key(&path, key)?;
        }
        let config = Config {
            moniker: format!("node{i}"),
            api: crate::config::ApiConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port_of(opts.base_api_port, i))),
                tls,
                epcis_hosted: hosted
                    .iter()
                    .filter(|_| hosts)
                    .map(|(org, _, _)| crate::config::HostedMember {
                        org: org.clone(),
                        key: hosted_key_path(org),
                    })
                    .collect(),
                dscsa_answer_for: hosted
                    .iter()
                    .filter(|(_, role, _)| hosts && *role == OrgRole::Manufacturer)
                    .map(|(org, _, _)| org.clone())
                    .collect(),
                ..Default::default()
            },
            p2p: crate::config::P2pConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port_of(opts.base_p2p_port, i))),
                peers,
                ..Default::default()
            },
            ..Default::default()
        };
        write_public(&home.join("config.toml"), config.to_toml().as_bytes())?;
        write_public(&home.join("genesis.json"), genesis_json.as_bytes())?;
        write_key(&home.join("node_key.json"), key)?;
        write_key(&home.join("service_key.json"), &service_keys[i])?;
        node_homes.push(home);
    }
    Ok(InitOutput {
        genesis,
        node_homes,
        admin_keys,
    })
}

fn tls_error(path: &Path) -> impl FnOnce(crate::tls::TlsError) -> HomeError + '_ {
    move |e| HomeError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Issues the consortium's certificate authority into `<out>/ca/`.
fn write_authority(out: &Path) -> Result<crate::tls::Authority, HomeError> {
    let dir = out.join("ca");
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let ca = crate::tls::Authority::generate("medledger consortium CA").map_err(tls_error(&dir))?;
    write_public(&dir.join("ca.pem"), ca.cert_pem().as_bytes())?;
    write_private(&dir.join("ca_key.pem"), ca.key_pem().as_bytes())?;
    Ok(ca)
}

/// Writes a node's certificates into `<home>/tls/` and returns the config that names them.
fn write_node_tls(
    ca: &crate::tls::Authority,
    home: &Path,
    service_key: &Keypair,
    org: &OrgId,
    member: &MemberId,
    extra_hosts: &[String],
) -> Result<crate::config::TlsConfig, HomeError> {
    let dir = home.join("tls");
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut hosts = crate::tls::default_hosts();
    hosts.extend(extra_hosts.iter().cloned());
    let server = ca.issue_server(&hosts).map_err(tls_error(&dir))?;
    let node = ca
        .issue_node(&service_key.public(), org, member, &hosts)
        .map_err(tls_error(&dir))?;
    write_public(&dir.join("ca.pem"), ca.cert_pem().as_bytes())?;
    write_public(&dir.join("server.pem"), server.chain_pem.as_bytes())?;
    write_private(&dir.join("server_key.pem"), server.key_pem.as_bytes())?;
    write_public(&dir.join("node.pem"), node.as_bytes())?;
    Ok(crate::config::TlsConfig {
        ca: "tls/ca.pem".into(),
        cert: "tls/server.pem".into(),
        key: "tls/server_key.pem".into(),
        node_cert: "tls/node.pem".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_loadable_homes_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            chain_id: ChainId::new("test").unwrap(),
            validators: 2,
            orgs: default_orgs(2),
            members: supply_chain_orgs(),
            gs1: default_gs1(&[default_orgs(2), supply_chain_orgs()].concat()),
            base_api_port: 18080,
            base_p2p_port: 26656,
            genesis_time: TimestampMs(1),
            tls: true,
            hosts: Vec::new(),
        };
        let mut n = 0u8;
        let out = init_with(dir.path(), &opts, &mut |_| {
            n += 1;
            Keypair::from_seed([n; 32])
        })
        .unwrap();
        assert_eq!(out.node_homes.len(), 2);
        let home = Home::load(&out.node_homes[1]).unwrap();
        assert_eq!(home.genesis, out.genesis);
        // TLS: the certificates load, and the node certificate holds the service key.
        let service = home.service.clone().unwrap();
        let tls = home.tls_identity().unwrap().unwrap();
        assert_eq!(tls.node_key(), service.key.public());
        assert!(home.config.p2p.peers[0].api.starts_with("https://"));
        assert!(medledger_ledger::identity::node_key(&genesis_state(&home.genesis), &service.key.public()).is_some());
        assert_eq!(home.key.public(), out.genesis.validators[1].public_key);
        let admin = read_key(&out.admin_keys[0].1).unwrap();
        assert_eq!(admin.public(), out.genesis.orgs[0].admins[0].public_key);
        // The supply chain's members: an admin each, no validator, their GS1 identifiers.
        assert_eq!(out.genesis.orgs.len(), 5);
        assert_eq!(out.admin_keys.len(), 5);
        let maker = &out.genesis.orgs[2];
        assert_eq!(maker.id.as_str(), "maker-m");
        assert_eq!(
            read_key(&out.admin_keys[2].1).unwrap().public(),
            maker.admins[0].public_key
        );
        let care: Vec<OrgId> = default_orgs(2).into_iter().map(|o| o.0).collect();
        assert!(
            out.genesis.validators.iter().all(|v| care.contains(&v.org)),
            "no validator for the members"
        );
        let gs1 = maker.gs1.as_ref().unwrap();
        assert_eq!(gs1.company_prefixes, ["0614141"]);
        assert_eq!(gs1.glns, ["0614141000012"]);
        let state = genesis_state(&out.genesis);
        assert_eq!(
            medledger_ledger::supply::gln_owner(&state, "4012345000122").map(|o| o.to_string()),
            Some("wholesale-w".into())
        );
        assert_eq!(
            medledger_ledger::supply::gln_owner(&state, "5200001000015").map(|o| o.to_string()),
            Some("hospital-a".into()),
            "a care org that dispenses has a site GLN"
        );
        // The first node hosts the EPCIS capture of the maker and the wholesaler, with a
        // key of each (registered later by their admins), and answers DSCSA for the maker.
        let first = Home::load(&out.node_homes[0]).unwrap();
        let hosted: Vec<&str> = first.config.api.epcis_hosted.iter().map(|h| h.org.as_str()).collect();
        assert_eq!(hosted, ["maker-m", "wholesale-w", "regulator-r"]);
        for h in &first.config.api.epcis_hosted {
            read_key(&first.dir.join(&h.key)).unwrap();
        }
        assert_eq!(first.config.api.dscsa_answer_for, [OrgId::new("maker-m").unwrap()]);
        assert!(home.config.api.epcis_hosted.is_empty(), "one host");
        assert!(matches!(
            init_with(dir.path(), &opts, &mut |_| Keypair::from_seed([0; 32])),
            Err(HomeError::Exists(_))
        ));
    }

    fn genesis_state(g: &Genesis) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        g.initial_writes()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    #[test]
    fn default_orgs_are_valid_ids() {
        assert_eq!(default_orgs(13).len(), 13);
    }

    /// Valid check digits, each GLN once, for the largest consortium `init` makes.
    #[test]
    fn default_gs1_is_a_valid_genesis_registry() {
        let orgs = [default_orgs(1000), supply_chain_orgs()].concat();
        let gs1 = default_gs1(&orgs);
        let mut glns: Vec<&String> = gs1.iter().flat_map(|(_, g)| &g.glns).collect();
        assert!(glns.iter().all(|g| medledger_gs1::ident::Gln::parse(g).is_ok()));
        let n = glns.len();
        glns.sort();
        glns.dedup();
        assert_eq!(glns.len(), n);
        assert!(glns.contains(&&"5200001000039".to_string()), "pharmacy-c's site");
    }
}
