//! `tx`: build, sign and submit transactions.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medledger_crypto::Keypair;
use medledger_ledger::Payload;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::contracts::deploy::ContractDeploy;
use medledger_ledger::contracts::vote::ContractVote;
use medledger_ledger::contracts::{CodeId, ContractName, INTERFACE_V1};
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::rotate_key::RotateKey;
use medledger_ledger::identity::set_client_keys::{ClientKey, ClientKeyMaterial, SetClientKeys};
use medledger_ledger::identity::vote_node::VoteNode;
use medledger_ledger::identity::vote_org::VoteOrg;
use medledger_ledger::research::study::RegisterStudy;
use medledger_ledger::supply::vote_gs1::VoteGs1;
use medledger_node::home::{read_key, write_key};
use medledger_types::codec::{Decode, Encode};
use medledger_types::{ChainId, MemberId, Nonce, OrgId, PublicKey, SignedTx, Tx};

use crate::client::{Client, NodeArg};
use crate::run::runtime;

#[derive(Args, Clone)]
pub struct Common {
    /// The signer's key file.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    node: NodeArg,
    /// Use this nonce instead of asking the node for the signer's next one.
    #[arg(long)]
    nonce: Option<u64>,
    /// Use this chain id instead of asking the node.
    #[arg(long)]
    chain_id: Option<String>,
    /// Write the signed transaction (hex) to this file instead of submitting it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Return once the node accepted the transaction, without waiting for its block.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// An organisation admin registers a member and its public key.
    RegisterMember {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        org: OrgId,
        /// An opaque id (for a patient, a pseudonym: never a name or record number).
        #[arg(long)]
        member: MemberId,
        /// admin, practitioner, patient (enrolled by the organisation holding their
        /// Patient record), device, service or privacy (the privacy officer).
        #[arg(long)]
        kind: MemberKind,
        /// The member's public key (hex).
        #[arg(long, conflicts_with = "new_key", required_unless_present = "new_key")]
        public_key: Option<PublicKey>,
        /// Generate a key for the member and write it to <member>.json in the current folder.
        #[arg(long)]
        new_key: bool,
    },
    /// An organisation admin revokes a member; its key can never sign again.
    RevokeMember {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        member: MemberId,
    },
    /// Replace a member's key (signed by an org admin or by the member's current key).
    RotateKey {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        member: MemberId,
        #[arg(long)]
        new_public_key: PublicKey,
    },
    /// Register a member's JWK Set: the ES384 (P-384) and RS384 (RSA, 2048 bits or more)
    /// public keys its backend client signs SMART client assertions with. Signed by an
    /// org admin or by the member's own key; the whole set is replaced (an empty
    /// `{"keys": []}` removes it).
    ClientKeys {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        member: MemberId,
        /// A JWK Set file (`{"keys": [...]}`) of public keys, each with a `kid`.
        #[arg(long)]
        jwks: PathBuf,
    },
    /// An admin of another organisation votes to suspend (or reinstate) an organisation;
    /// it happens when the genesis' suspend_quorum of organisations agree.
    VoteOrg {
        #[command(flatten)]
        common: Common,
        /// The organisation voted on.
        #[arg(long)]
        org: OrgId,
        /// Vote to suspend it: its keys stop signing, its tokens stop working.
        #[arg(long, conflicts_with = "reinstate", required_unless_present = "reinstate")]
        suspend: bool,
        /// Vote to reinstate a suspended organisation.
        #[arg(long)]
        reinstate: bool,
    },
    /// An admin of another organisation votes to make one of an organisation's service
    /// members a node (it may then sign node-to-node requests and present a node
    /// certificate), or to remove it; it happens at the genesis' suspend_quorum.
    VoteNode {
        #[command(flatten)]
        common: Common,
        /// The organisation the node belongs to.
        #[arg(long)]
        org: OrgId,
        /// The service member (registered by its organisation's admin).
        #[arg(long)]
        member: MemberId,
        /// Vote to add it as a node.
        #[arg(long, conflicts_with = "remove", required_unless_present = "remove")]
        add: bool,
        /// Vote to remove it.
        #[arg(long)]
        remove: bool,
    },
    /// An admin of another organisation votes to register GS1 identifiers (Company
    /// Prefixes, GLNs) to an organisation, or to withdraw them; it happens at the genesis'
    /// suspend_quorum, when every vote names the same identifiers.
    VoteGs1 {
        #[command(flatten)]
        common: Common,
        /// The organisation the identifiers are (to be) registered to.
        #[arg(long)]
        org: OrgId,
        /// Vote to register them.
        #[arg(long, conflicts_with = "withdraw", required_unless_present = "withdraw")]
        register: bool,
        /// Vote to withdraw them.
        #[arg(long)]
        withdraw: bool,
        /// A GS1 Company Prefix (6 to 12 digits); repeat for several.
        #[arg(long = "prefix", value_name = "DIGITS")]
        prefixes: Vec<String>,
        /// A GLN (13 digits with its check digit); repeat for several.
        #[arg(long = "gln", value_name = "GLN")]
        glns: Vec<String>,
    },
    /// The GTIN's owner (an admin of the organisation holding its company prefix) or a
    /// regulator recalls a lot (`--gtin` and `--lot`), or marks serials suspect
    /// (`--epc`, repeatable; `--clear` lifts the mark): `supply.recall`. Every holder's
    /// shipping and dispensing of them is refused from the next block on.
    SupplyRecall {
        #[command(flatten)]
        common: Common,
        /// The GTIN-14 of the lot to recall.
        #[arg(long, requires = "lot", conflicts_with = "epc")]
        gtin: Option<medledger_gs1::ident::Gtin>,
        /// The lot (batch) to recall.
        #[arg(long, requires = "gtin")]
        lot: Option<medledger_gs1::ident::Lot>,
        /// A serial to mark suspect, as an SGTIN or SSCC EPC URN.
        #[arg(long, required_unless_present = "gtin")]
        epc: Vec<medledger_gs1::ident::EpcUri>,
        /// Clear the suspect mark of the --epc serials instead.
        #[arg(long, requires = "epc")]
        clear: bool,
    },
    /// An organisation admin deploys the next version of one of its contracts
    /// (`contract.deploy`): a WebAssembly module the ledger checks under the consensus
    /// limits. Active at once, or pending the consortium's vote when genesis sets
    /// `contracts.require_vote`.
    ContractDeploy {
        #[command(flatten)]
        common: Common,
        /// The deploying organisation (the signer must be one of its admins).
        #[arg(long)]
        org: OrgId,
        /// The contract's name: 1 to 64 of a-z, 0-9 and '-'.
        #[arg(long)]
        name: ContractName,
        /// The compiled module (`contracts/build.sh` writes one per example).
        #[arg(long)]
        wasm: PathBuf,
        /// The ABI the module is written for.
        #[arg(long, default_value_t = INTERFACE_V1)]
        interface: u32,
        /// The version to deploy. Default: the latest active version plus one, read from
        /// the node's state (which needs a member's --token).
        #[arg(long)]
        version: Option<u32>,
    },
    /// An admin of another organisation votes for a pending contract version
    /// (`contract.vote`); it becomes active at the genesis' suspend_quorum.
    ContractVote {
        #[command(flatten)]
        common: Common,
        /// The organisation that deployed it.
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: ContractName,
        #[arg(long)]
        version: u32,
        /// The SHA-256 of the pending version's code (hex), as in its `contract_deployed` event.
        #[arg(long)]
        code: medledger_types::Hash32,
    },
    /// An organisation admin registers a research study it sponsors, or replaces its
    /// investigators; a patient's consent to the study opens records to them.
    RegisterStudy {
        #[command(flatten)]
        common: Common,
        /// The study's id (what patients name with --to-study).
        #[arg(long)]
        study: String,
        /// Investigators, as <org>/<member> (registered practitioners), comma-separated.
        #[arg(long, value_delimiter = ',')]
        investigators: Vec<String>,
    },
    /// A patient grants consent, signed with the patient's own key.
    ConsentGrant {
        #[command(flatten)]
        common: Common,
        /// The patient's pseudonym (their FHIR Patient id, also their member id).
        #[arg(long)]
        patient: String,
        /// An id for this consent (default: random).
        #[arg(long)]
        consent_id: Option<String>,
        /// Grant to every member of this organisation.
        #[arg(long, group = "grantee")]
        to_org: Option<OrgId>,
        /// Grant to one practitioner, as <org>/<member>.
        #[arg(long, group = "grantee")]
        to_practitioner: Option<String>,
        /// Grant to a research study (by its id).
        #[arg(long, group = "grantee")]
        to_study: Option<String>,
        /// Resource types covered, comma-separated, or `*` for all.
        #[arg(long, value_delimiter = ',', group = "what")]
        types: Vec<String>,
        /// Specific records covered, as Type/id, comma-separated.
        #[arg(long, value_delimiter = ',', group = "what")]
        records: Vec<String>,
        /// Purposes: treatment, payment, operations, research (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "treatment")]
        purpose: Vec<Purpose>,
        /// Days until the consent lapses (default: no end).
        #[arg(long)]
        expires_days: Option<u64>,
    },
    /// A patient revokes a consent; it stops at the next block.
    ConsentRevoke {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        patient: String,
        #[arg(long)]
        consent_id: String,
    },
    /// A patient signs a FHIR R4 Consent resource (JSON file) as a ledger grant, or, when
    /// its status is `inactive`, as the withdrawal of the ledger consent it names.
    ConsentImport {
        #[command(flatten)]
        common: Common,
        /// The Consent resource, e.g. one read from `GET /fhir/Consent?patient=`.
        file: PathBuf,
    },
    /// Submit a signed transaction written earlier with --out.
    Submit {
        file: PathBuf,
        #[command(flatten)]
        node: NodeArg,
        #[arg(long)]
        no_wait: bool,
    },
    /// Show a transaction's status and receipt.
    Show {
        hash: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// The public keys of a JWK Set (RFC 7517 §5) as ledger client keys: `EC` keys on
/// `P-384` (ES384) and `RSA` keys (RS384), each with a `kid`. A private key (`d`) is
/// refused: only public keys go on the ledger.
pub fn client_keys_from_jwks(set: &serde_json::Value) -> Result<Vec<ClientKey>> {
    use base64::Engine;
    let b64 = |jwk: &serde_json::Value, k: &str| -> Result<Vec<u8>> {
        let text = jwk[k].as_str().with_context(|| format!("a JWK lacks {k}"))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .with_context(|| format!("a JWK's {k} is not base64url"))
    };
    let list = set["keys"]
        .as_array()
        .context("a JWK Set is an object with a keys array")?;
    let mut out = Vec::new();
    for jwk in list {
        anyhow::ensure!(
            jwk.get("d").is_none(),
            "this JWK Set holds a private key; register only the public keys"
        );
        let kid = jwk["kid"].as_str().context("every key needs a kid")?.to_string();
        let alg = jwk["alg"].as_str();
        let key = match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
            (Some("EC"), Some("P-384")) if alg.is_none_or(|a| a == "ES384") => {
                let (x, y) = (b64(jwk, "x")?, b64(jwk, "y")?);
                anyhow::ensure!(
                    x.len() == 48 && y.len() == 48,
                    "a P-384 key's x and y are 48 bytes each"
                );
                ClientKeyMaterial::EcP384 { x, y }
            }
            (Some("RSA"), _) if alg.is_none_or(|a| a == "RS384") => {
                let strip = |v: Vec<u8>| v.into_iter().skip_while(|b| *b == 0).collect::<Vec<u8>>();
                ClientKeyMaterial::Rsa {
                    n: strip(b64(jwk, "n")?),
                    e: strip(b64(jwk, "e")?),
                }
            }
            _ => anyhow::bail!("key {kid}: only EC P-384 (ES384) and RSA (RS384) keys are accepted"),
        };
        out.push(ClientKey { kid, key });
    }
    // The ledger's own rules (kid form, key sizes, each kid once), before anything is signed.
    let check = medledger_ledger::identity::set_client_keys::ClientKeys(out.clone());
    medledger_ledger::identity::set_client_keys::ClientKeys::decode(&check.encode())
        .map_err(|e| anyhow::anyhow!("the JWK Set is not one the ledger takes: {e}"))?;
    Ok(out)
}

pub fn run(cmd: TxCommand) -> Result<()> {
    runtime()?.block_on(run_async(cmd))
}

async fn run_async(cmd: TxCommand) -> Result<()> {
    let (common, payload) = match cmd {
        TxCommand::RegisterMember {
            common,
            org,
            member,
            kind,
            public_key,
            new_key,
        } => {
            let (public_key, member_key) = match (public_key, new_key) {
                (Some(k), _) => (k, None),
                (None, _) => {
                    let path = PathBuf::from(format!("{member}.json"));
                    anyhow::ensure!(
                        !path.exists(),
                        "{} already exists; refusing to overwrite a key",
                        path.display()
                    );
                    let key = Keypair::generate(&mut rand::rngs::OsRng);
                    (key.public(), Some((path, key)))
                }
            };
            let payload = Payload::RegisterMember(RegisterMember {
                org,
                member,
                kind,
                public_key,
            });
            sign_and_send(common, payload).await?;
            // Only a key that was registered is worth keeping.
            if let Some((path, key)) = member_key {
                write_key(&path, &key).with_context(|| format!("writing the member's key to {}", path.display()))?;
                eprintln!("wrote the member's key to {}", path.display());
            }
            return Ok(());
        }
        TxCommand::RevokeMember { common, org, member } => {
            (common, Payload::RevokeMember(RevokeMember { org, member }))
        }
        TxCommand::ClientKeys {
            common,
            org,
            member,
            jwks,
        } => {
            let text = std::fs::read_to_string(&jwks).with_context(|| format!("reading {}", jwks.display()))?;
            let set: serde_json::Value = serde_json::from_str(&text).context("the JWK Set is not JSON")?;
            let keys = client_keys_from_jwks(&set)?;
            (common, Payload::SetClientKeys(SetClientKeys { org, member, keys }))
        }
        TxCommand::RotateKey {
            common,
            org,
            member,
            new_public_key,
        } => (
            common,
            Payload::RotateKey(RotateKey {
                org,
                member,
                new_key: new_public_key,
            }),
        ),
        TxCommand::ConsentGrant {
            common,
            patient,
            consent_id,
            to_org,
            to_practitioner,
            to_study,
            types,
            records,
            purpose,
            expires_days,
        } => {
            let grantee = match (to_org, to_practitioner, to_study) {
                (Some(org), _, _) => Grantee::Org(org),
                (_, Some(p), _) => {
                    let (org, member) = p.split_once('/').context("--to-practitioner takes <org>/<member>")?;
                    Grantee::Practitioner {
                        org: OrgId::new(org)?,
                        member: MemberId::new(member)?,
                    }
                }
                (_, _, Some(s)) => Grantee::Study(s),
                _ => anyhow::bail!("name who is granted access: --to-org, --to-practitioner or --to-study"),
            };
            let scope = if !records.is_empty() {
                let mut rs = Vec::new();
                for r in records {
                    let (t, id) = r.split_once('/').context("--records takes Type/id")?;
                    rs.push((t.to_string(), id.to_string()));
                }
                rs.sort();
                rs.dedup();
                ConsentScope::Records(rs)
            } else if !types.is_empty() {
                let mut ts = types;
                ts.sort();
                ts.dedup();
                ConsentScope::Types(ts)
            } else {
                anyhow::bail!("name what is covered: --types (or `*`) or --records");
            };
            let mut purposes = purpose;
            purposes.sort();
            purposes.dedup();
            let expires = expires_days
                .map(|d| medledger_types::TimestampMs(medledger_node::node::now_ms().0 + d.saturating_mul(86_400_000)));
            let consent_id = consent_id.unwrap_or_else(random_consent_id);
            eprintln!("consent id: {consent_id}");
            (
                common,
                Payload::ConsentGrant(ConsentGrant {
                    consent_id,
                    patient,
                    grantee,
                    scope,
                    purposes,
                    expires,
                }),
            )
        }
        TxCommand::ConsentRevoke {
            common,
            patient,
            consent_id,
        } => (common, Payload::ConsentRevoke(ConsentRevoke { patient, consent_id })),
        TxCommand::RegisterStudy {
            common,
            study,
            investigators,
        } => {
            let mut list = Vec::new();
            for i in investigators {
                let (org, member) = i.split_once('/').context("--investigators takes <org>/<member>")?;
                list.push((OrgId::new(org)?, MemberId::new(member)?));
            }
            (
                common,
                Payload::RegisterStudy(RegisterStudy {
                    study,
                    investigators: list,
                }),
            )
        }
        TxCommand::SupplyRecall {
            common,
            gtin,
            lot,
            epc,
            clear,
        } => {
            use medledger_ledger::supply::recall::SupplyRecall;
            let recall = match (gtin, lot) {
                (Some(gtin), Some(lot)) => SupplyRecall::Lot { gtin, lot },
                _ => SupplyRecall::Suspect {
                    epcs: epc,
                    suspect: !clear,
                },
            };
            (common, Payload::SupplyRecall(recall))
        }
        TxCommand::VoteOrg {
            common, org, suspend, ..
        } => (common, Payload::VoteOrg(VoteOrg { org, suspend })),
        TxCommand::VoteNode {
            common,
            org,
            member,
            add,
            ..
        } => (common, Payload::VoteNode(VoteNode { org, member, add })),
        TxCommand::VoteGs1 {
            common,
            org,
            register,
            prefixes,
            glns,
            ..
        } => (common, Payload::VoteGs1(gs1_vote(org, register, prefixes, glns)?)),
        TxCommand::ConsentImport { common, file } => (common, consent_import(&file)?),
        TxCommand::ContractDeploy {
            common,
            org,
            name,
            wasm,
            interface,
            version,
        } => {
            let code = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            let version = match version {
                Some(v) => v,
                None => next_contract_version(&common.node.client()?, &org, &name).await?,
            };
            eprintln!("deploying {org}/{name} version {version}, code {}", CodeId::of(&code));
            let deploy = ContractDeploy {
                org,
                name,
                version,
                interface,
                code,
            };
            (common, Payload::ContractDeploy(deploy))
        }
        TxCommand::ContractVote {
            common,
            org,
            name,
            version,
            code,
        } => (
            common,
            Payload::ContractVote(ContractVote {
                org,
                name,
                version,
                code,
            }),
        ),
        TxCommand::Submit { file, node, no_wait } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let raw = hex::decode(text.trim()).context("the file must hold a hex-encoded signed transaction")?;
            let tx = SignedTx::decode(&raw).context("the transaction does not decode")?;
            let answer = node.client()?.submit(&tx, !no_wait).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            return Ok(());
        }
        TxCommand::Show { hash, node } => {
            let answer = node.client()?.get(&format!("/v1/tx/{hash}")).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            return Ok(());
        }
    };
    sign_and_send(common, payload).await
}

/// Most bytes of a Consent file.
const MAX_CONSENT_FILE: u64 = 1024 * 1024;

fn consent_import(file: &std::path::Path) -> Result<Payload> {
    use medledger_api::fhir::consent::{Imported, from_fhir};
    let len = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_CONSENT_FILE,
        "{} is {len} bytes; a Consent resource is at most {MAX_CONSENT_FILE}",
        file.display()
    );
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let resource: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    medledger_fhir::Validator::new()
        .context("loading the FHIR R4 schema")?
        .validate(&resource)
        .map_err(|e| anyhow::anyhow!("{} is not a valid FHIR R4 resource: {e}", file.display()))?;
    let imported =
        from_fhir(&resource, medledger_node::node::now_ms()).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(match imported {
        Imported::Grant(mut g) => {
            if g.consent_id.is_empty() {
                g.consent_id = random_consent_id();
            }
            eprintln!("consent id: {}", g.consent_id);
            Payload::ConsentGrant(g)
        }
        Imported::Revoke(r) => {
            eprintln!("withdrawing consent {}", r.consent_id);
            Payload::ConsentRevoke(r)
        }
    })
}

fn random_consent_id() -> String {
    let mut b = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("consent-{}", hex::encode(b))
}

/// Signs `payload` with `key` at its next nonce on `client`'s chain.
async fn sign(
    client: &Client,
    key: &Keypair,
    payload: &Payload,
    chain_id: Option<&str>,
    nonce: Option<u64>,
) -> Result<SignedTx> {
    let chain_id = match chain_id {
        Some(c) => ChainId::new(c)?,
        None => client.chain_id().await?,
    };
    let nonce = match nonce {
        Some(n) => Nonce(n),
        None => client.next_nonce(&key.public()).await?,
    };
    Ok(key.sign_tx(Tx {
        chain_id,
        signer: key.public(),
        nonce,
        kind: payload.kind(),
        body: payload.body(),
    }))
}

/// Signs `payload` with `key`, submits it and waits for its block; the node's answer.
pub(crate) async fn submit_signed(client: &Client, key: &Keypair, payload: &Payload) -> Result<serde_json::Value> {
    let tx = sign(client, key, payload, None, None).await?;
    client.submit(&tx, true).await
}

async fn sign_and_send(common: Common, payload: Payload) -> Result<()> {
    let key = read_key(&common.key)?;
    let client = common.node.client()?;
    let tx = sign(&client, &key, &payload, common.chain_id.as_deref(), common.nonce).await?;
    if let Some(out) = common.out {
        std::fs::write(&out, hex::encode(tx.encode())).with_context(|| format!("writing {}", out.display()))?;
        println!("{}", tx.hash());
        return Ok(());
    }
    let answer = client.submit(&tx, !common.no_wait).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if answer["outcome"].as_u64().is_some_and(|o| o != 0) {
        anyhow::bail!("the transaction was committed but failed: {}", answer["outcome_name"]);
    }
    Ok(())
}

/// The latest active version of `org`'s contract `name` plus one, from the node's state.
async fn next_contract_version(client: &Client, org: &OrgId, name: &ContractName) -> Result<u32> {
    let key = medledger_ledger::contracts::keys::latest(org, name);
    let answer = client
        .get(&format!("/v1/state/{}", hex::encode(&key)))
        .await
        .context("reading the contract's latest version (give --version, or a member's --token)")?;
    let latest = match answer["value"].as_str() {
        None => 0,
        Some(v) => {
            let raw = hex::decode(v).context("the node's state value is not hex")?;
            u64::decode(&raw).context("the latest version does not decode")?
        }
    };
    u32::try_from(latest + 1).context("no versions left")
}

/// A vote on a change of the GS1 registry, in the canonical order every organisation's
/// vote must share (identifiers sorted, each once), checked before it is signed.
fn gs1_vote(org: OrgId, register: bool, mut prefixes: Vec<String>, mut glns: Vec<String>) -> Result<VoteGs1> {
    prefixes.sort();
    prefixes.dedup();
    glns.sort();
    glns.dedup();
    let vote = VoteGs1 {
        org,
        register,
        company_prefixes: prefixes,
        glns,
    };
    if let Err(reason) = vote.check_form() {
        anyhow::bail!("this change cannot be voted on: {reason}");
    }
    Ok(vote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_gs1_vote_is_canonical_whatever_the_order_given() {
        let org = OrgId::new("maker-b").unwrap();
        let a = gs1_vote(
            org.clone(),
            true,
            strings(&["0012346", "0012345", "0012346"]),
            strings(&[]),
        )
        .unwrap();
        let b = gs1_vote(org.clone(), true, strings(&["0012345", "0012346"]), strings(&[])).unwrap();
        assert_eq!(a.company_prefixes, strings(&["0012345", "0012346"]));
        assert_eq!(a.ballot_id(), b.ballot_id());
        let err = gs1_vote(org.clone(), true, strings(&["0012345", "00123456"]), strings(&[])).unwrap_err();
        assert!(err.to_string().contains("one company prefix starts another"), "{err}");
        assert!(gs1_vote(org, false, Vec::new(), Vec::new()).is_err());
    }
}
