//! `bench --fhir`: the records exchange on a local four-validator network.
//!
//! Four `medledger node` processes (Hospital A, Clinic B, Pharmacy C, Insurer D) run BFT
//! consensus over loopback. The bench registers a practitioner at A and one at B, and a
//! patient who consents to B reading Observations. Then, each phase for `--step-seconds`
//! with `--signers` concurrent clients (`--read-clients` for the reads, if given):
//!
//! 1. **creates**: A's practitioner posts Observations to A's node; each answer comes after
//!    the resource is validated, encrypted, stored (fsync), anchored in a committed block
//!    and audited;
//! 2. **consented cross-organisation reads**: B's practitioner reads those Observations
//!    from B's node; each read checks consent at B, fetches from A with a signed request
//!    (A decides again on its own ledger, audits durably, re-wraps the data key with
//!    HPKE), checks the ledger hash and decrypts before answering.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use medledger_crypto::Keypair;
use medledger_ledger::Payload;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::{InitOptions, default_gs1, default_orgs, init_network, read_key, supply_chain_orgs};
use medledger_types::codec::Encode;
use medledger_types::tx::encode_batch;
use medledger_types::{ChainId, MemberId, Nonce, OrgId, PublicKey, SignedTx, TimestampMs, Tx};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::bench::{Resolved, cpu_seconds_of};
use crate::run;

pub(crate) fn consecutive_free_ports(n: u16) -> Result<u16> {
    for attempt in 0..200u32 {
        let base = 20_000 + ((std::process::id().wrapping_mul(7919) + attempt * 613) % 30_000) as u16;
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("no {n} consecutive free ports on 127.0.0.1")
}

#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    chain: ChainId,
    /// The consortium's CA, when the nodes serve HTTPS.
    ca: Option<std::path::PathBuf>,
}

/// Most transactions [`Client::submit_all`] sends in one request.
const PER_REQUEST: usize = 1_000;

impl Client {
    /// The nonce `key`'s next transaction must carry at the node at `url`.
    pub async fn next_nonce(&self, url: &str, key: &PublicKey) -> Result<u64> {
        let v: Value = self
            .http
            .get(format!("{url}/v1/nonce/{key}"))
            .send()
            .await?
            .json()
            .await?;
        v["next_nonce"].as_u64().context("no next_nonce")
    }

    /// `payload` signed by `key` with nonce `nonce`.
    pub fn sign(&self, key: &Keypair, nonce: u64, payload: &Payload) -> SignedTx {
        key.sign_tx(Tx {
            chain_id: self.chain.clone(),
            signer: key.public(),
            nonce: Nonce(nonce),
            kind: payload.kind(),
            body: payload.body(),
        })
    }

    /// Posts `txs` as one batch to `POST /v1/txs?wait=true` and returns the node's answer
    /// for each: once committed, its `outcome`; refused before a block, its `error`. A
    /// batch refused for load (`429`) is sent again after its `Retry-After`.
    pub async fn post_batch(&self, url: &str, txs: &[SignedTx]) -> Result<Vec<Value>> {
        let body = encode_batch(txs);
        loop {
            let r = self
                .http
                .post(format!("{url}/v1/txs?wait=true"))
                .header("content-type", "application/octet-stream")
                .body(body.clone())
                .send()
                .await?;
            if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(crate::bench::retry_after(&r)).await;
                continue;
            }
            let status = r.status();
            let mut v: Value = r.json().await?;
            anyhow::ensure!(status.is_success(), "the batch was refused: {status}: {v}");
            let Value::Array(results) = v["results"].take() else {
                bail!("the batch's answer has no results: {v}");
            };
            return Ok(results);
        }
    }

    /// Signs `payloads` with `key`'s next nonces and submits them in order, in batches
    /// each waited for until committed; fails unless every one committed with outcome OK.
    pub async fn submit_all(&self, url: &str, key: &Keypair, payloads: &[Payload], bar: &ProgressBar) -> Result<()> {
        let mut nonce = self.next_nonce(url, &key.public()).await?;
        for chunk in payloads.chunks(PER_REQUEST) {
            let txs: Vec<SignedTx> = chunk.iter().zip(nonce..).map(|(p, n)| self.sign(key, n, p)).collect();
            nonce += txs.len() as u64;
            for answer in self.post_batch(url, &txs).await? {
                anyhow::ensure!(answer["outcome"] == 0, "transaction failed: {answer}");
            }
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    }

    pub async fn submit(&self, url: &str, key: &Keypair, payload: Payload) -> Result<()> {
        let nonce = self.next_nonce(url, &key.public()).await?;
        let tx = self.sign(key, nonce, &payload);
        let a: Value = self
            .http
            .post(format!("{url}/v1/tx?wait=true"))
            .header("content-type", "application/octet-stream")
            .body(tx.encode())
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(a["outcome"] == 0, "transaction failed: {a}");
        Ok(())
    }

    pub async fn token(&self, url: &str, key: &Keypair, client_id: &str, scope: &str) -> Result<String> {
        let client = crate::client::Client::new(url, self.ca.as_deref(), None)?;
        let v = crate::token::fetch_token(&client, key, client_id, scope).await?;
        v["access_token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no token: {v}"))
    }
}

/// Latencies (ms) and counts of one phase.
pub(crate) struct Phase {
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub p50: f64,
    pub p99: f64,
    pub cpu_seconds: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What one operation of a [`phase`] did. An operation may carry a batch: each item that
/// succeeded counts once, with the operation's latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Items {
    pub ok: u64,
    pub failed: u64,
}

impl From<bool> for Items {
    fn from(ok: bool) -> Items {
        Items {
            ok: u64::from(ok),
            failed: u64::from(!ok),
        }
    }
}

/// Runs `op(0)`, `op(1)`, … from `concurrency` clients for `seconds`, each client one
/// operation at a time, and measures them: items per second, latency percentiles and the
/// CPU the processes `pids` used.
pub(crate) async fn phase<F, Fut>(seconds: u64, concurrency: usize, pids: &[u32], label: &str, op: F) -> Phase
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future + Send,
    Fut::Output: Into<Items>,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu0: f64 = pids.iter().map(|p| cpu_seconds_of(&p.to_string())).sum();
    let t0 = Instant::now();
    let bar = ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("{label:>28} {{bar:30}} {{pos}}/{{len}} s"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (op, counter, failed) = (op.clone(), counter.clone(), failed.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let items: Items = op(n).await.into();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                lat.extend(std::iter::repeat_n(ms, items.ok as usize));
                failed.fetch_add(items.failed, Ordering::Relaxed);
            }
            lat
        });
    }
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(1)).await;
                bar.inc(1);
            }
        })
    };
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap_or_default());
    }
    ticker.abort();
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1: f64 = pids.iter().map(|p| cpu_seconds_of(&p.to_string())).sum();
    all.sort_by(f64::total_cmp);
    Phase {
        ok: all.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        seconds: elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        cpu_seconds: cpu1 - cpu0,
    }
}

/// Writes a four-validator network for a FHIR or DSCSA bench (`<dir>/net`, `dir` from
/// `--dir` or a temporary folder named `<name>-<pid>`), with the supply chain's
/// organisations and GS1 registry as `init` writes them, the proposers' fill wait from
/// `--block-interval-ms`, the validators' pub-sub protocol from `--pubsub` and `configure`
/// applied to each node's config.
pub(crate) fn init_bench_network(
    args: &Resolved<'_>,
    name: &str,
    configure: impl Fn(&mut medledger_node::config::Config),
) -> Result<(std::path::PathBuf, std::path::PathBuf, Vec<std::path::PathBuf>)> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{name}-{}", std::process::id())));
    anyhow::ensure!(
        !dir.join("net").exists(),
        "{} already holds a network; pick another --dir",
        dir.display()
    );
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("net");
    let base = consecutive_free_ports(8)?;
    let init = init_network(
        &out,
        &InitOptions {
            chain_id: ChainId::new(name)?,
            validators: 4,
            orgs: default_orgs(4),
            members: supply_chain_orgs(),
            gs1: default_gs1(&[default_orgs(4), supply_chain_orgs()].concat()),
            base_api_port: base,
            base_p2p_port: base + 4,
            genesis_time: medledger_node::node::now_ms(),
            tls: args.tls,
            hosts: Vec::new(),
        },
    )?;
    for home in &init.node_homes {
        let mut config = medledger_node::Home::load(home)?.config;
        config.block.interval_ms = args.block_interval_ms;
        config.p2p.pubsub = args.pubsub;
        configure(&mut config);
        std::fs::write(home.join("config.toml"), config.to_toml())?;
    }
    Ok((dir, out, init.node_homes))
}

pub fn run(args: &Resolved<'_>) -> Result<()> {
    let (dir, out, homes) = init_bench_network(args, "medledger-bench-fhir", |_| {})?;
    let concurrency = args.signers.clamp(1, 1024);
    let read_clients = args.read_clients.unwrap_or(concurrency).clamp(1, 1024);
    let seconds = args.step_seconds;
    let rt = run::runtime()?;
    let result = rt.block_on(drive(&out, &homes, (concurrency, read_clients), seconds, args.tls));
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (creates, reads) = result?;
    println!(
        "medledger bench --fhir: 4 validators (separate processes, BFT over loopback TCP), {concurrency} concurrent clients creating, {read_clients} reading, {seconds} s per phase, {}",
        transport(args.tls)
    );
    print_phases(&[
        ("FHIR create (encrypt, store, anchor, audit)", &creates),
        ("consented cross-org read (B reads A's)", &reads),
    ]);
    println!("  (CPU-ms/op counts all four node processes; the load generator shares the same cores)");
    if args.json {
        println!(
            "{}",
            json!({"creates_per_sec": creates.ok as f64 / creates.seconds, "create_p50_ms": creates.p50, "create_p99_ms": creates.p99,
                   "reads_per_sec": reads.ok as f64 / reads.seconds, "read_p50_ms": reads.p50, "read_p99_ms": reads.p99})
        );
    }
    Ok(())
}

/// How the bench's clients and nodes talk.
pub(crate) fn transport(tls: bool) -> &'static str {
    if tls {
        "HTTPS and mutual TLS between nodes"
    } else {
        "plain HTTP on loopback"
    }
}

/// The table of phases: rate, failures, latency and CPU per operation.
pub(crate) fn print_phases(phases: &[(&str, &Phase)]) {
    println!(
        "  {:<42} {:>9} {:>7} {:>9} {:>9} {:>11}",
        "phase", "per sec", "failed", "p50 ms", "p99 ms", "CPU-ms/op"
    );
    for (name, p) in phases {
        println!(
            "  {:<42} {:>9.0} {:>7} {:>9.1} {:>9.1} {:>11.2}",
            name,
            p.ok as f64 / p.seconds,
            p.failed,
            p.p50,
            p.p99,
            p.cpu_seconds * 1000.0 / p.ok.max(1) as f64
        );
    }
}

/// Four node processes of a network made by `init_network`, up and past block 1.
pub(crate) struct Network {
    pub children: Vec<Child>,
    pub urls: Vec<String>,
    pub pids: Vec<u32>,
    pub http: reqwest::Client,
    pub client: Client,
    pub out: std::path::PathBuf,
}

impl Network {
    pub async fn start(out: &Path, homes: &[std::path::PathBuf], tls: bool) -> Result<Network> {
        let ca = tls.then(|| out.join("ca").join("ca.pem"));
        let scheme = if tls { "https" } else { "http" };
        let exe = std::env::current_exe()?;
        let mut children: Vec<Child> = Vec::new();
        let mut urls = Vec::new();
        for home in homes {
            let log = std::fs::File::create(home.join("node.log"))?;
            children.push(
                Command::new(&exe)
                    .args(["node", "--home"])
                    .arg(home)
                    .env(
                        "MEDLEDGER_LOG",
                        std::env::var("MEDLEDGER_LOG").unwrap_or_else(|_| "warn".into()),
                    )
                    .stdout(Stdio::null())
                    .stderr(log)
                    .kill_on_drop(true)
                    .spawn()?,
            );
            let config = medledger_node::Home::load(home)?.config;
            urls.push(format!("{scheme}://{}", config.api.listen));
        }
        let pids: Vec<u32> = children.iter().filter_map(Child::id).collect();
        let http = crate::client::http_client(&urls[0], ca.as_deref(), Duration::from_secs(600))?;
        let genesis = medledger_node::home::read_genesis(&out.join("genesis.json"))?;
        let client = Client {
            http: http.clone(),
            chain: genesis.chain_id.clone(),
            ca: ca.clone(),
        };
        let net = Network {
            children,
            urls,
            pids,
            http,
            client,
            out: out.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while net.height(0).await < 1 {
            anyhow::ensure!(Instant::now() < deadline, "the network did not start within 120 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(net)
    }

    /// Node `i`'s height, 0 while it does not answer.
    pub async fn height(&self, i: usize) -> u64 {
        let status = async {
            self.http
                .get(format!("{}/v1/status", self.urls[i]))
                .send()
                .await
                .ok()?
                .json::<Value>()
                .await
                .ok()
        };
        status.await.and_then(|v| v["height"].as_u64()).unwrap_or(0)
    }

    /// Registers a member with a new key, signed by its organisation's admin.
    pub async fn register(&self, i: usize, org: &str, member: &str, kind: MemberKind) -> Result<Keypair> {
        let admin = read_key(&self.out.join(format!("admins/{org}.json")))?;
        let key = Keypair::generate(&mut rand::rngs::OsRng);
        self.client
            .submit(
                &self.urls[i],
                &admin,
                Payload::RegisterMember(RegisterMember {
                    org: OrgId::new(org)?,
                    member: MemberId::new(member)?,
                    kind,
                    public_key: key.public(),
                }),
            )
            .await?;
        Ok(key)
    }

    /// Waits until node `i` has every block node `from` had when asked.
    pub async fn catch_up(&self, i: usize, from: usize) {
        let target = self.height(from).await;
        while self.height(i).await < target {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every node (SIGTERM, then waits).
    pub async fn stop(mut self) {
        for ch in self.children.iter_mut() {
            if let Some(pid) = ch.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for ch in self.children.iter_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(30), ch.wait()).await;
        }
    }
}

async fn drive(
    out: &Path,
    homes: &[std::path::PathBuf],
    (concurrency, read_clients): (usize, usize),
    seconds: u64,
    tls: bool,
) -> Result<(Phase, Phase)> {
    let net = Network::start(out, homes, tls).await?;
    let (http, urls, pids, c) = (net.http.clone(), net.urls.clone(), net.pids.clone(), &net.client);
    eprintln!("network up; registering members…");
    let reg = async |url: &str, org: &str, member: &str, kind: MemberKind| -> Result<Keypair> {
        let i = urls.iter().position(|u| u == url).unwrap_or(0);
        net.register(i, org, member, kind).await
    };
    let dr_a = reg(&urls[0], "hospital-a", "dr-a", MemberKind::Practitioner).await?;
    let dr_b = reg(&urls[1], "clinic-b", "dr-b", MemberKind::Practitioner).await?;
    let ta = c.token(&urls[0], &dr_a, "hospital-a/dr-a", "user/*.cruds").await?;
    let tb = c.token(&urls[1], &dr_b, "clinic-b/dr-b", "user/*.rs").await?;
    let pr: Value = http
        .post(format!("{}/fhir/Patient", urls[0]))
        .bearer_auth(&ta)
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01"}).to_string())
        .send()
        .await?
        .json()
        .await?;
    let pid = pr["id"].as_str().context("patient create failed")?.to_string();
    let patient_key = reg(&urls[0], "hospital-a", &pid, MemberKind::Patient).await?;
    c.submit(
        &urls[0],
        &patient_key,
        Payload::ConsentGrant(ConsentGrant {
            consent_id: "bench".into(),
            patient: pid.clone(),
            grantee: Grantee::Org(OrgId::new("clinic-b")?),
            scope: ConsentScope::Types(vec!["Observation".into()]),
            purposes: vec![Purpose::Treatment],
            expires: Some(TimestampMs(medledger_node::node::now_ms().0 + 86_400_000)),
        }),
    )
    .await?;

    let created: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let body = json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": "2024-03-05T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
    })
    .to_string();
    let creates = {
        let (http, url, ta, created, body) = (http.clone(), urls[0].clone(), ta.clone(), created.clone(), body.clone());
        phase(seconds, concurrency, &pids, "FHIR creates at A", move |_| {
            let (http, url, ta, created, body) = (http.clone(), url.clone(), ta.clone(), created.clone(), body.clone());
            async move {
                let r = match http
                    .post(format!("{url}/fhir/Observation"))
                    .bearer_auth(&ta)
                    .header("content-type", "application/fhir+json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("create failed: {e}");
                        return false;
                    }
                };
                if r.status() != 201 {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    eprintln!(
                        "create failed: {status}: {}",
                        text.chars().take(300).collect::<String>()
                    );
                    return false;
                }
                let Ok(v) = r.json::<Value>().await else { return false };
                if let Some(id) = v["id"].as_str() {
                    created.lock().unwrap_or_else(|p| p.into_inner()).push(id.to_string());
                }
                true
            }
        })
        .await
    };
    let ids: Arc<Vec<String>> = Arc::new(created.lock().unwrap_or_else(|p| p.into_inner()).clone());
    anyhow::ensure!(
        !ids.is_empty(),
        "no create succeeded; see the node logs in {}",
        out.display()
    );
    // Let B's node see the last anchors before reading.
    net.catch_up(1, 0).await;
    let reads = {
        let (http, url, tb, ids) = (http.clone(), urls[1].clone(), tb.clone(), ids.clone());
        phase(seconds, read_clients, &pids, "consented reads at B", move |n| {
            let (http, url, tb, ids) = (http.clone(), url.clone(), tb.clone(), ids.clone());
            async move {
                let id = &ids[(n as usize).wrapping_mul(2_654_435_761) % ids.len()];
                match http
                    .get(format!("{url}/fhir/Observation/{id}"))
                    .bearer_auth(&tb)
                    .send()
                    .await
                {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    };
    // Every read was audited durably before its answer (by A, the custodian that served
    // it); report how far the ledger anchoring lags behind at the end, at A and B, and
    // how long it takes to catch up.
    let pending_at = |url: String| {
        let http = http.clone();
        async move {
            let text = http
                .get(format!("{url}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("medledger_audit_pending "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        }
    };
    let pending = || async {
        let (a, b) = tokio::join!(pending_at(urls[0].clone()), pending_at(urls[1].clone()));
        (a.unwrap_or(0), b.unwrap_or(0))
    };
    let t = Instant::now();
    let (at_a, at_b) = pending().await;
    let mut drained = None;
    while t.elapsed() < Duration::from_secs(120) {
        if pending().await == (0, 0) {
            drained = Some(t.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let backlog = format!("{at_a} at A, {at_b} at B");
    match drained {
        Some(secs) => {
            eprintln!(
                "audit entries not yet in a block when the reads stopped: {backlog}; all anchored {secs:.1} s later"
            )
        }
        None => eprintln!(
            "audit entries not yet in a block when the reads stopped: {backlog}; not all anchored after 120 s"
        ),
    }
    net.stop().await;
    Ok((creates, reads))
}
