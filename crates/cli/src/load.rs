//! `load`: post FHIR transaction Bundles (Synthea output, EHR exports) to a node,
//! unmodified (every R4 type is held), with a progress bar and a summary file that says
//! what was loaded and what failed and why, so that a second run with `--resume` sends
//! only what is left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medledger_node::home::read_key;
use serde::{Deserialize, Serialize};
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
    /// Where the summary is written (what was loaded, what failed and why).
    #[arg(long, default_value = "medledger-load.json")]
    summary: PathBuf,
    /// Skip the files the summary lists as loaded (same path and size).
    #[arg(long)]
    resume: bool,
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

/// The summary file: written after every Bundle, so that an interrupted load resumes.
#[derive(Default, Serialize, Deserialize)]
struct Summary {
    /// Loaded files: path → (size in bytes, resources written).
    loaded: BTreeMap<PathBuf, (u64, usize)>,
    /// Failed files: path → why (the node's OperationOutcome diagnostics).
    failed: BTreeMap<PathBuf, String>,
}

impl Summary {
    fn read(path: &Path) -> Result<Summary> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).with_context(|| format!("{} is not a load summary", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Summary::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Written to a temporary file and renamed over the old one: never half a summary.
    fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }
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
    let mut summary = if args.resume {
        Summary::read(&args.summary)?
    } else {
        Summary::default()
    };
    let mut skipped = 0usize;
    let mut written = 0usize;
    for file in &files {
        bar.set_message(file.file_name().unwrap_or_default().to_string_lossy().into_owned());
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or_default();
        if summary.loaded.get(file).is_some_and(|(s, _)| *s == size) {
            skipped += 1;
            bar.inc(1);
            continue;
        }
        let outcome = match read_bundle(file) {
            Err(e) => Err(e),
            Ok(body) => {
                if token.as_ref().is_none_or(|(_, at)| at.elapsed() > TOKEN_REFRESH) {
                    let answer = fetch_token(&client, &key, &args.client_id, &args.scope).await?;
                    let tok = answer["access_token"]
                        .as_str()
                        .context("the token answer has no access_token")?;
                    token = Some((tok.to_string(), Instant::now()));
                }
                let bearer = token.as_ref().map(|(t, _)| t.as_str()).unwrap_or_default();
                post(&http, &client.url("/fhir"), bearer, body).await
            }
        };
        match outcome {
            Ok(n) => {
                written += n;
                summary.failed.remove(file);
                summary.loaded.insert(file.clone(), (size, n));
            }
            Err(e) => {
                summary.loaded.remove(file);
                summary.failed.insert(file.clone(), format!("{e:#}"));
            }
        }
        summary.write(&args.summary)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let failed: Vec<_> = files.iter().filter(|f| summary.failed.contains_key(*f)).collect();
    println!(
        "loaded {} of {} Bundles ({} already loaded before): {} resources written",
        files.len() - failed.len() - skipped,
        files.len(),
        skipped,
        written
    );
    for f in &failed {
        eprintln!("failed: {}: {}", f.display(), summary.failed[*f]);
    }
    println!("summary: {}", args.summary.display());
    if !failed.is_empty() {
        bail!(
            "{} of {} Bundles failed (each wrote nothing); fix them and run again with --resume",
            failed.len(),
            files.len()
        );
    }
    Ok(())
}

/// Reads one Bundle file as it is.
fn read_bundle(file: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(file)?.len();
    anyhow::ensure!(len <= MAX_FILE, "{len} bytes is over the {MAX_FILE}-byte limit");
    Ok(std::fs::read(file)?)
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
