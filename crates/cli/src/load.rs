//! `load`: post FHIR transaction Bundles (Synthea output, EHR exports) to a node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medledger_fhir::prune::prune_unsupported;
use medledger_node::home::read_key;
use serde_json::Value;

use crate::client::NodeArg;
use crate::run::runtime;
use crate::token::fetch_token;

/// Largest Bundle file read (the node has its own limit, `fhir.max_bundle_bytes`).
const MAX_FILE: u64 = 1 << 30;
/// Tokens live 300 s by default; get a new one well before.
const TOKEN_REFRESH: Duration = Duration::from_secs(120);

#[derive(Args)]
pub struct LoadArgs {
    /// Bundle files, or folders holding them (`*.json`, not recursive). Synthea's
    /// `hospitalInformation*` and `practitionerInformation*` files go first, as its
    /// patients' Bundles refer to them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The loading member's key file (a service or practitioner of the node's organisation).
    #[arg(long)]
    key: PathBuf,
    /// Its client id, `<org>/<member>`.
    #[arg(long)]
    client_id: String,
    /// SMART scopes to ask for; the node grants the part the member's kind may hold
    /// (`system/` for services, `user/` for practitioners).
    #[arg(long, default_value = "system/*.cruds user/*.cruds")]
    scope: String,
    /// Drop entries of resource types medledger does not hold (Claim, CarePlan, Location,
    /// ...) and cut references to them to their display text, instead of failing those
    /// Bundles.
    #[arg(long)]
    skip_unsupported: bool,
    #[command(flatten)]
    node: NodeArg,
}

/// The files to load, in order.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{} is neither a file nor a folder", p.display());
        }
    }
    let shared = |f: &Path| {
        f.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("hospitalInformation") || n.starts_with("practitionerInformation")
        })
    };
    // Stable: within each group the order given stays.
    out.sort_by_key(|f| !shared(f));
    Ok(out)
}

#[derive(Default)]
struct Totals {
    loaded: usize,
    failed: Vec<(PathBuf, String)>,
    written: usize,
    dropped: BTreeMap<String, usize>,
    cut: usize,
}

pub fn run(args: LoadArgs) -> Result<()> {
    runtime()?.block_on(load(args))
}

async fn load(args: LoadArgs) -> Result<()> {
    let files = files(&args.paths)?;
    anyhow::ensure!(!files.is_empty(), "no .json files in the paths given");
    let key = read_key(&args.key)?;
    let client = args.node.client()?;
    let http = crate::client::http_client(&args.node.url, args.node.ca.as_deref(), Duration::from_secs(600))?;
    let mut token: Option<(String, Instant)> = None;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} Bundles, {elapsed} ({eta} left) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut t = Totals::default();
    for file in &files {
        bar.set_message(file.file_name().unwrap_or_default().to_string_lossy().into_owned());
        match prepare(file, args.skip_unsupported) {
            Err(e) => t.failed.push((file.clone(), format!("{e:#}"))),
            Ok(None) => t.loaded += 1,
            Ok(Some((body, dropped, cut))) => {
                if token.as_ref().is_none_or(|(_, at)| at.elapsed() > TOKEN_REFRESH) {
                    let answer = fetch_token(&client, &key, &args.client_id, &args.scope).await?;
                    let tok = answer["access_token"]
                        .as_str()
                        .context("the token answer has no access_token")?;
                    token = Some((tok.to_string(), Instant::now()));
                }
                let bearer = token.as_ref().map(|(t, _)| t.as_str()).unwrap_or_default();
                match post(&http, &client.url("/fhir"), bearer, body).await {
                    Ok(n) => {
                        t.loaded += 1;
                        t.written += n;
                        for (ty, c) in dropped {
                            *t.dropped.entry(ty).or_default() += c;
                        }
                        t.cut += cut;
                    }
                    Err(e) => t.failed.push((file.clone(), format!("{e:#}"))),
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "loaded {} of {} Bundles: {} resources written",
        t.loaded,
        files.len(),
        t.written
    );
    if !t.dropped.is_empty() {
        let list: Vec<String> = t.dropped.iter().map(|(ty, n)| format!("{ty} {n}")).collect();
        println!("skipped (not held by medledger): {}", list.join(", "));
        println!("references cut to their display: {}", t.cut);
    }
    for (f, why) in &t.failed {
        eprintln!("failed: {}: {why}", f.display());
    }
    if !t.failed.is_empty() {
        bail!(
            "{} of {} Bundles failed (each wrote nothing)",
            t.failed.len(),
            files.len()
        );
    }
    Ok(())
}

type Prepared = (Vec<u8>, BTreeMap<String, usize>, usize);

/// Reads one Bundle; `None` when nothing of it is left to send.
fn prepare(file: &Path, skip_unsupported: bool) -> Result<Option<Prepared>> {
    let len = std::fs::metadata(file)?.len();
    anyhow::ensure!(len <= MAX_FILE, "{len} bytes is over the {MAX_FILE}-byte limit");
    let raw = std::fs::read(file)?;
    if !skip_unsupported {
        return Ok(Some((raw, BTreeMap::new(), 0)));
    }
    let mut bundle: Value = serde_json::from_slice(&raw).context("not JSON")?;
    let pruned = prune_unsupported(&mut bundle)?;
    if pruned.kept == 0 {
        return Ok(None);
    }
    Ok(Some((
        serde_json::to_vec(&bundle)?,
        pruned.dropped,
        pruned.references_cut,
    )))
}

/// Posts one Bundle; returns how many entries the node answered for.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> Result<usize> {
    let resp = http
        .post(url)
        .header("content-type", "application/fhir+json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let answer: Value = resp.json().await.context("the node's answer is not JSON")?;
    if !status.is_success() {
        let why: Vec<&str> = answer["issue"]
            .as_array()
            .map(|issues| issues.iter().filter_map(|i| i["diagnostics"].as_str()).collect())
            .unwrap_or_default();
        bail!("{status}: {}", why.join("; "));
    }
    Ok(answer["entry"].as_array().map_or(0, Vec::len))
}
