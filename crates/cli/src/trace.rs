//! `trace`: the path of one pack, case or pallet from commissioning to dispensing, each
//! step with its ledger receipt checked offline.
//!
//! 1. The events naming the EPC are asked of every node given (`--node`, which asks the
//!    other organisations' nodes for the member's organisation when it signs for it, then
//!    each `--peer`, for events a node does not forward), with a token fetched from each
//!    for the member's key.
//! 2. Each event's CBV 2.0 hash ID is computed here from the event itself, not taken from
//!    a node, and looked up in the ledger state of `--node` (`supply/event/{hash ID}`:
//!    capturer and block height).
//! 3. The `supply.capture` transaction of that block that commits the hash ID is found,
//!    and its receipt (inclusion proof and certified tree head) verified against
//!    `--genesis`: a step without a verified receipt fails the command.
//!
//! The output is one block per step, oldest first, then the item's state on the ledger.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use medledger_gs1::epcis::{Format, parse_document};
use medledger_gs1::ident::{DigitalLink, ElementString};
use medledger_ledger::Payload;
use medledger_ledger::state::keys;
use medledger_ledger::supply::{EventRecord, ItemRecord};
use medledger_node::Receipt;
use medledger_node::home::{read_genesis, read_key};
use medledger_types::codec::Decode;
use medledger_types::{Hash32, SignedTx};
use serde_json::{Value, json};

use crate::client::{Client, NodeArg};
use crate::run::runtime;

#[derive(Args)]
pub struct TraceArgs {
    /// The item: a GS1 Digital Link, an element string `(01)…(21)…` or an EPC URN.
    id: String,
    /// The member's key file; a token is fetched from each node with it.
    #[arg(long)]
    key: PathBuf,
    /// The member's client id, `<org>/<member>`.
    #[arg(long)]
    client_id: String,
    /// Another node to ask for events (a trading partner's, when `--node` neither is the
    /// member's organisation's nor hosts it, so does not ask the others); repeatable.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// The network's genesis, to verify each receipt offline.
    #[arg(long)]
    genesis: PathBuf,
    /// Write each step's receipt to this folder as `<step>-<tx hash>.json`.
    #[arg(long)]
    receipts: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArg,
}

/// One step of the path.
struct Step {
    event: Value,
    hash_id: String,
    digest: Hash32,
    time: medledger_gs1::epcis::Timestamp,
}

/// Parents followed above the item (a pack in a case on a pallet).
const MAX_LEVELS: usize = 3;

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn authorised(base: &str, args: &TraceArgs, key: &medledger_crypto::Keypair) -> Result<Client> {
    let plain = Client::new(base, args.node.ca.as_deref(), None)?;
    let t = crate::token::fetch_token(&plain, key, &args.client_id, "system/*.rs").await?;
    let token = t["access_token"].as_str().context("no access_token")?.to_owned();
    Client::new(base, args.node.ca.as_deref(), Some(token))
}

/// The event's hash ID, computed here.
fn step_of(event: Value) -> Result<Step> {
    let doc = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"cbvmda": "urn:epcglobal:cbv:mda:"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2000-01-01T00:00:00Z",
        "epcisBody": {"eventList": [event.clone()]}
    });
    let parsed = parse_document(&serde_json::to_vec(&doc)?, Format::JsonLd)
        .context("a node served an event that does not parse")?;
    let e = parsed.events.first().context("no event")?;
    let hash = e.hash_id();
    Ok(Step {
        hash_id: hash.to_string(),
        digest: Hash32(hash.digest()),
        time: e.event_time,
        event,
    })
}

async fn state_value(client: &Client, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let v = client.get(&format!("/v1/state/{}", hex::encode(key))).await?;
    match v["value"].as_str() {
        None => Ok(None),
        Some(h) => Ok(Some(hex::decode(h)?)),
    }
}

/// The canonical EPC URN of the input, using the ledger's registry of company prefixes.
async fn canonical(client: &Client, id: &str) -> Result<String> {
    if id.starts_with("urn:epc:id:") {
        return Ok(id.to_owned());
    }
    let dl = if id.starts_with('(') {
        DigitalLink::from_elements(&ElementString::parse_bracketed(id)?, "https://id.gs1.org")?
    } else {
        DigitalLink::parse(id)?
    };
    let digits = dl.primary_key().value().get(1..).unwrap_or_default().to_owned();
    for len in 6..=12 {
        let Some(prefix) = digits.get(..len) else { break };
        if state_value(client, &keys::gs1_prefix(prefix)).await?.is_some() {
            let len = medledger_gs1::ident::CompanyPrefixLen::new(len)?;
            return Ok(medledger_gs1::ident::EpcUri::from_digital_link(&dl, len)?.to_string());
        }
    }
    bail!("no company prefix registered on the ledger starts {id}")
}

/// The `supply.capture` of block `height` that commits `digest`, and its hash.
async fn capture_tx(client: &Client, height: u64, digest: &Hash32) -> Result<Hash32> {
    let block = client.get(&format!("/v1/blocks/{height}")).await?;
    for h in block["txs"].as_array().context("the block has no txs")? {
        let hash = h.as_str().context("a tx hash is not text")?;
        let v = client.get(&format!("/v1/tx/{hash}")).await?;
        let Some(encoded) = v["tx"]["encoded"].as_str() else {
            continue;
        };
        let tx = SignedTx::decode(&hex::decode(encoded)?)?;
        if let Ok(Payload::SupplyCapture(c)) = Payload::decode(tx.tx.kind, &tx.tx.body)
            && c.commitments.iter().any(|c| c.hash_id == *digest)
        {
            return Ok(tx.hash());
        }
    }
    bail!("no supply.capture in block {height} commits this event")
}

pub fn run(args: TraceArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let key = read_key(&args.key)?;
        let genesis = read_genesis(&args.genesis)?;
        let main = authorised(&args.node.url, &args, &key).await?;
        let epc = canonical(&main, &args.id).await?;
        let mut clients = vec![(args.node.url.clone(), main)];
        for base in &args.peers {
            clients.push((base.clone(), authorised(base, &args, &key).await?));
        }
        // The item's events, then those of the cases and pallets it was packed into
        // (their shipments and receipts carry it), up to three levels.
        let mut steps: Vec<Step> = Vec::new();
        let mut queue = vec![epc.clone()];
        let mut asked: Vec<String> = Vec::new();
        while let Some(next) = queue.pop() {
            if asked.contains(&next) || asked.len() > MAX_LEVELS {
                continue;
            }
            asked.push(next.clone());
            for (base, client) in &clients {
                let path = format!("/epcis/epcs/{}/events?perPage=1000", percent(&next));
                let doc = match client.get(&path).await {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("{base}: {next}: {e}");
                        continue;
                    }
                };
                let events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for ev in events {
                    let step = step_of(ev)?;
                    let e = &step.event;
                    if e["type"] == "AggregationEvent"
                        && e["action"] == "ADD"
                        && let Some(parent) = e["parentID"].as_str()
                    {
                        queue.push(canonical(&clients[0].1, parent).await?);
                    }
                    if !steps.iter().any(|s| s.digest == step.digest) {
                        steps.push(step);
                    }
                }
            }
        }
        let main = &clients[0].1;
        if steps.is_empty() {
            bail!("no node given served an event of {epc}");
        }
        steps.sort_by_key(|s| s.time);
        println!("{epc}");
        for (n, s) in steps.iter().enumerate() {
            let record = state_value(main, &keys::supply_event(&s.digest))
                .await?
                .with_context(|| format!("step {}: {} is not on the ledger", n + 1, s.hash_id))?;
            let record = EventRecord::decode(&record)?;
            let tx = capture_tx(main, record.height.0, &s.digest).await?;
            let answer = main.get(&format!("/v1/receipts/{tx}")).await?;
            let receipt: Receipt =
                serde_json::from_value(answer["receipt"].clone()).context("the receipt is malformed")?;
            let leaf = receipt
                .verify(&genesis)
                .with_context(|| format!("step {}: the receipt of {tx} does NOT verify", n + 1))?;
            anyhow::ensure!(
                leaf.tx_hash == tx && leaf.outcome.is_ok(),
                "step {}: the receipt is not of a committed capture",
                n + 1
            );
            if let Some(dir) = &args.receipts {
                std::fs::create_dir_all(dir)?;
                std::fs::write(
                    dir.join(format!("{}-{tx}.json", n + 1)),
                    serde_json::to_vec_pretty(&receipt)?,
                )?;
            }
            let e = &s.event;
            let word = |f: &str| {
                e[f].as_str()
                    .unwrap_or("-")
                    .rsplit(['-', ':'])
                    .next()
                    .unwrap_or("-")
                    .to_owned()
            };
            println!(
                "{}. {}  {} {}  bizStep {}  disposition {}  captured by {}",
                n + 1,
                e["eventTime"].as_str().unwrap_or("?"),
                e["type"].as_str().unwrap_or("?"),
                e["action"].as_str().unwrap_or(""),
                word("bizStep"),
                word("disposition"),
                record.capturer
            );
            println!("   hash ID  {}", s.hash_id);
            println!(
                "   receipt  tx {tx}, block {}, leaf {} of {}: verified",
                leaf.height, receipt.leaf_index, receipt.tree_head.head.tree_size
            );
        }
        if let Some(raw) = state_value(main, &keys::supply_item(&epc)).await? {
            let item = ItemRecord::decode(&raw)?;
            println!(
                "now: {}",
                serde_json::to_string(
                    &json!({"state": item.state, "owner": item.owner, "lot": item.lot, "suspect": item.suspect})
                )?
            );
        }
        Ok(())
    })
}
