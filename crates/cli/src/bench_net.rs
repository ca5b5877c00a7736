//! `bench --validators N` (N > 1): a local BFT network under rising offered load.
//!
//! The bench writes a throw-away network (one organisation whose admins are the load
//! signers, N validators) with free loopback ports, starts each validator as its own
//! `medledger node` process, pre-signs every transaction, and then offers load in steps
//! of rising rate. Each signer sends to one validator (so its nonces arrive in order);
//! validators forward what they accept to the others, and whoever proposes includes it.
//!
//! Load is open-loop: batches are due at fixed times for the step's rate, and a batch's
//! latency counts from when it was due (so queueing in the generator is not hidden) to
//! the response of `POST /v1/txs?wait=true`, which comes when every transaction in the
//! batch is committed; a `429` is waited out (its `Retry-After`) and the same batch sent
//! again. Per step the bench prints offered and committed tx/s, the requests answered
//! `429`, p50/p99 latency (from when the batch was due, and from the admitted request),
//! CPU per committed transaction (all validators, and each one's user+system time from
//! `/proc`), and each validator's peak resident memory.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use medledger_crypto::Keypair;
use medledger_ledger::Genesis;
use medledger_ledger::genesis::GenesisValidator;
use medledger_node::Config;
use medledger_node::config::{ApiConfig, BlockConfig, MempoolConfig, P2pConfig, PeerConfig, PubSub};
use medledger_types::tx::encode_batch;
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::bench::{Resolved, cpu_seconds_of, genesis, peak_rss_mib_of, percentile, presign};
use crate::run;

/// The figures of one load step.
#[derive(Debug, Serialize)]
pub struct Step {
    pub offered_tx_per_sec: f64,
    pub committed_tx_per_sec: f64,
    pub committed: u64,
    pub failed: u64,
    /// From when a batch was due to its commit, waits after a 429 included.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// From the request that was admitted to its commit.
    pub admitted_p50_ms: f64,
    pub admitted_p99_ms: f64,
    /// Requests answered 429 (each retried after its `Retry-After`).
    pub throttled: u64,
    pub cpu_seconds: f64,
    /// All validators' CPU per committed transaction.
    pub cpu_ms_per_tx: f64,
    /// Each validator's CPU (user + system) per committed transaction.
    pub cpu_ms_per_tx_per_validator: Vec<f64>,
    pub peak_rss_mib: Vec<f64>,
    pub blocks: u64,
    /// Of the transactions proposed, the share named by hash (compact proposals).
    pub named_percent: f64,
    /// Transactions validators lacked when a proposal arrived and asked its proposer for.
    pub wanted: u64,
    /// Transactions a proposer's pool could have proposed when it built its proposal, on
    /// average per height (compare with committed ÷ blocks: a block smaller than this, and
    /// than the block limit, left transactions behind).
    pub available_per_block: f64,
    /// Wall time a validator spent executing blocks (building or checking them), per
    /// committed transaction, averaged over the validators.
    pub execute_ms_per_tx: f64,
    /// Wall time a validator spent writing blocks durably (fsync included), per committed
    /// transaction, averaged over the validators.
    pub write_ms_per_tx: f64,
    /// Cores the validators used on average during the step (user + system ÷ seconds).
    pub validator_cores: f64,
    /// Cores the load generator (this process, with the WAN relays) used.
    pub generator_cores: f64,
}

fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .collect())
}

/// Writes one home per validator for `genesis`, with loopback ports. With `relays`, each
/// validator reaches validator `j`'s consensus port through `relays[j]`.
pub fn write_homes(
    dir: &Path,
    genesis: &Genesis,
    keys: &[Keypair],
    block: BlockConfig,
    mempool: MempoolConfig,
    relays: Option<&[u16]>,
    pubsub: PubSub,
) -> Result<Vec<PathBuf>> {
    let ports = free_ports(keys.len() * 2)?;
    let api = |i: usize| ports[2 * i];
    let p2p = |i: usize| ports[2 * i + 1];
    let reach = |j: usize| relays.and_then(|r| r.get(j).copied()).unwrap_or(p2p(j));
    let genesis_json = serde_json::to_string_pretty(genesis)?;
    let mut homes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let home = dir.join(format!("node{i}"));
        std::fs::create_dir_all(&home)?;
        let config = Config {
            moniker: format!("node{i}"),
            api: ApiConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], api(i))),
                max_batch_txs: 10_000,
                ..ApiConfig::default()
            },
            block: block.clone(),
            mempool: mempool.clone(),
            p2p: P2pConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], p2p(i))),
                peers: (0..keys.len())
                    .filter(|&j| j != i)
                    .map(|j| PeerConfig {
                        p2p: format!("127.0.0.1:{}", reach(j)),
                        api: format!("http://127.0.0.1:{}", api(j)),
                        validator: Some(keys[j].public()),
                    })
                    .collect(),
                pubsub,
            },
            ..Config::default()
        }
        .validate()?;
        std::fs::write(home.join("config.toml"), config.to_toml())?;
        std::fs::write(home.join("genesis.json"), &genesis_json)?;
        medledger_node::home::write_key(&home.join("node_key.json"), key)?;
        homes.push(home);
    }
    Ok(homes)
}

struct Proc {
    child: Child,
    pid: u32,
    api: String,
}

/// The counters the bench reads from every validator's `/metrics`, summed over them.
const COUNTERS: [&str; 6] = [
    "proposal_txs_available_total",
    "proposal_txs_named_total",
    "proposal_txs_carried_total",
    "proposal_txs_wanted_total",
    "block_execute_seconds_total",
    "block_commit_seconds_total",
];

/// The sums over the validators of [`COUNTERS`]: transactions proposable when proposals
/// were built, named, carried and asked for in compact proposals; seconds spent executing
/// and writing blocks.
async fn counters(client: &reqwest::Client, procs: &[Proc]) -> [f64; COUNTERS.len()] {
    let mut sums = [0.0; COUNTERS.len()];
    for p in procs {
        let Ok(r) = client.get(format!("{}/metrics", p.api)).send().await else {
            continue;
        };
        let Ok(text) = r.text().await else {
            continue;
        };
        for (sum, name) in sums.iter_mut().zip(COUNTERS) {
            *sum += text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("medledger_{name} ")))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    sums
}

/// The log size and height of the validator furthest ahead (one that lags by a block or
/// two would undercount what the network committed).
async fn furthest(client: &reqwest::Client, procs: &[Proc]) -> Result<(u64, u64)> {
    let mut best: Option<(u64, u64)> = None;
    for p in procs {
        if let Some(v) = status(client, &p.api).await {
            let here = (v["log_size"].as_u64().unwrap_or(0), v["height"].as_u64().unwrap_or(0));
            best = Some(best.map_or(here, |b| b.max(here)));
        }
    }
    best.context("no validator answered its status")
}

async fn status(client: &reqwest::Client, api: &str) -> Option<serde_json::Value> {
    client
        .get(format!("{api}/v1/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

pub fn run(args: &Resolved<'_>) -> Result<()> {
    let rates: Vec<f64> = args
        .rates
        .split(',')
        .map(|r| {
            r.trim()
                .parse::<f64>()
                .context("--rates must be numbers, e.g. 2000,5000,10000")
        })
        .collect::<Result<_>>()?;
    anyhow::ensure!(
        !rates.is_empty() && rates.iter().all(|r| *r > 0.0),
        "--rates needs at least one positive rate"
    );
    anyhow::ensure!(
        args.step_seconds >= 1 && args.step_seconds <= 600,
        "--step-seconds must be 1 to 600"
    );
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("medledger-bench-net-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let signers: Vec<Keypair> = (0..args.signers)
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    let validators: Vec<Keypair> = (0..args.validators)
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    let mut genesis = genesis(&signers, &validators[0])?;
    genesis.validators = validators
        .iter()
        .map(|k| GenesisValidator {
            org: genesis.orgs[0].id.clone(),
            public_key: k.public(),
            power: 1,
        })
        .collect();
    genesis.validate()?;

    // Every step's batches, pre-signed: signer s sends its own nonces in order.
    let batch = args.batch.max(1);
    let step_txs: Vec<usize> = rates
        .iter()
        .map(|r| ((r * args.step_seconds as f64) as usize).div_ceil(batch) * batch)
        .collect();
    let total: usize = step_txs.iter().sum();
    let per_signer = total.div_ceil(args.signers).div_ceil(batch) * batch;
    eprintln!(
        "pre-signing {} transactions for {} signers…",
        per_signer * args.signers,
        args.signers
    );
    let bar = ProgressBar::new((per_signer * args.signers) as u64);
    bar.set_style(
        ProgressStyle::with_template("signing {bar:40} {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let streams = presign(&genesis.chain_id, &signers, per_signer, &bar);
    bar.finish_and_clear();
    let tx_bytes = streams.first().and_then(|s| s.first()).map(|t| {
        use medledger_types::codec::Encode;
        t.encode().len()
    });
    // Per signer, a queue of encoded batches.
    let queues: Vec<std::collections::VecDeque<Vec<u8>>> = streams
        .iter()
        .map(|s| s.chunks(batch).map(encode_batch).collect())
        .collect();
    drop(streams);

    let wan = (args.delay_ms > 0).then(|| Wan {
        delay: Duration::from_millis(args.delay_ms),
        jitter: Duration::from_millis(args.jitter_ms.min(args.delay_ms)),
        loss: (args.loss_percent / 100.0).clamp(0.0, 1.0),
    });
    let relay_listeners = match wan {
        Some(_) => Some(
            (0..args.validators)
                .map(|_| TcpListener::bind("127.0.0.1:0"))
                .collect::<std::io::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let relay_ports: Option<Vec<u16>> = relay_listeners
        .as_ref()
        .map(|ls| ls.iter().map(|l| l.local_addr().map(|a| a.port())).collect())
        .transpose()?;
    let homes = write_homes(
        &dir,
        &genesis,
        &validators,
        BlockConfig {
            max_txs: args.block_txs,
            interval_ms: args.block_interval_ms,
            ..BlockConfig::default()
        },
        MempoolConfig {
            max_txs: args.mempool_txs.unwrap_or(MempoolConfig::default().max_txs),
            ..MempoolConfig::default()
        },
        relay_ports.as_deref(),
        args.pubsub,
    )?;
    let result = run::runtime()?.block_on(async {
        // The WAN: one relay in front of each validator's consensus port.
        let mut relays = Vec::new();
        if let (Some(wan), Some(listeners)) = (wan, relay_listeners) {
            for (listener, home) in listeners.into_iter().zip(&homes) {
                let target = medledger_node::Home::load(home)?.config.p2p.listen;
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                relays.push(tokio::spawn(relay(listener, target, wan)));
            }
        }
        let steps = drive(args, &dir, &homes, queues, &rates, &step_txs).await;
        for r in relays {
            r.abort();
        }
        steps
    });
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let steps = result?;
    if args.delay_ms > 0 {
        println!(
            "medledger bench: WAN between the validators: {} ms one way, ± {} ms, {}% of chunks stalled 200 ms (a relay in front of each consensus port)",
            args.delay_ms, args.jitter_ms, args.loss_percent
        );
    }
    println!(
        "medledger bench: {} validators (separate processes, BFT over loopback TCP), fsync per block, {} signers, batches of {} txs of {} bytes, {} s per step",
        args.validators,
        args.signers,
        batch,
        tx_bytes.unwrap_or(0),
        args.step_seconds
    );
    println!(
        "  {:>9} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11}  {:<24} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  peak RSS per node (MiB)",
        "offered",
        "committed",
        "failed",
        "429s",
        "p50 ms",
        "p99 ms",
        "adm. p99",
        "CPU-ms/tx",
        "per validator",
        "blocks",
        "named%",
        "wanted",
        "avail",
        "exec",
        "write"
    );
    let list = |v: &[f64], digits: usize| v.iter().map(|m| format!("{m:.digits$}")).collect::<Vec<_>>().join(" ");
    for s in &steps {
        println!(
            "  {:>9.0} {:>10.0} {:>7} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>11.3}  {:<24} {:>7} {:>7.1} {:>7} {:>7.0} {:>7.3} {:>7.3}  {}",
            s.offered_tx_per_sec,
            s.committed_tx_per_sec,
            s.failed,
            s.throttled,
            s.p50_ms,
            s.p99_ms,
            s.admitted_p99_ms,
            s.cpu_ms_per_tx,
            list(&s.cpu_ms_per_tx_per_validator, 3),
            s.blocks,
            s.named_percent,
            s.wanted,
            s.available_per_block,
            s.execute_ms_per_tx,
            s.write_ms_per_tx,
            list(&s.peak_rss_mib, 0)
        );
    }
    println!(
        "  (CPU-ms/tx: all validator processes, then each one's user+system time per committed transaction; the load generator runs on the same cores. p50/p99 count from when a batch was due, waits after a 429 included; adm. p99 from the request that was admitted; named%: proposed transactions named by hash rather than carried; wanted: transactions validators lacked and asked the proposer for; avail: transactions the proposer's pool could have proposed when it built, per height; exec and write: wall ms a validator spent executing and durably writing blocks, per committed transaction)"
    );
    if args.json {
        println!("{}", serde_json::to_string(&steps)?);
    }
    Ok(())
}

async fn drive(
    args: &Resolved<'_>,
    dir: &Path,
    homes: &[PathBuf],
    queues: Vec<std::collections::VecDeque<Vec<u8>>>,
    rates: &[f64],
    step_txs: &[usize],
) -> Result<Vec<Step>> {
    let exe = std::env::current_exe()?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut procs = Vec::new();
    for (i, home) in homes.iter().enumerate() {
        let log = std::fs::File::create(logs.join(format!("node{i}.log")))?;
        let child = Command::new(&exe)
            .args(["node", "--home"])
            .arg(home)
            .env(
                "MEDLEDGER_LOG",
                std::env::var("MEDLEDGER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("node pid")?;
        let config = medledger_node::Home::load(home)?.config;
        procs.push(Proc {
            child,
            pid,
            api: format!("http://{}", config.api.listen),
        });
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(120))
        .build()?;
    // Wait for the network to commit its first block.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = status(&client, &procs[0].api).await.and_then(|v| v["height"].as_u64());
        if h.is_some_and(|h| h >= 1) {
            break;
        }
        for p in procs.iter_mut() {
            if let Some(s) = p.child.try_wait()? {
                anyhow::bail!("a validator exited during start ({s}); logs in {}", logs.display());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the network did not commit a block within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let queues: Vec<Arc<Mutex<std::collections::VecDeque<Vec<u8>>>>> =
        queues.into_iter().map(|q| Arc::new(Mutex::new(q))).collect();
    let idle = Arc::new(Mutex::new(
        (0..queues.len()).collect::<std::collections::VecDeque<usize>>(),
    ));
    let idle_notify = Arc::new(tokio::sync::Notify::new());
    let mut steps = Vec::new();
    for (rate, txs) in rates.iter().zip(step_txs) {
        let batches = txs / args.batch.max(1);
        let interval = Duration::from_secs_f64(args.batch as f64 / rate);
        let (log0, h0) = furthest(&client, &procs).await?;
        let cpu0: Vec<f64> = procs.iter().map(|p| cpu_seconds_of(&p.pid.to_string())).collect();
        let counters0 = counters(&client, &procs).await;
        let own0 = cpu_seconds_of("self");
        let t0 = Instant::now();
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!("{rate:>7.0} tx/s offered {{bar:30}} {{pos}}/{{len}} batches"))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for b in 0..batches {
            let due = t0 + interval * b as u32;
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            // An idle signer takes the batch; if none is idle the batch waits (and its
            // latency, counted from `due`, shows it).
            let signer = loop {
                let notified = idle_notify.notified();
                if let Some(s) = idle.lock().await.pop_front() {
                    break s;
                }
                notified.await;
            };
            let Some(body) = queues[signer].lock().await.pop_front() else {
                continue;
            };
            let url = format!("{}/v1/txs?wait=true&summary=true", procs[signer % procs.len()].api);
            let client = client.clone();
            let idle = idle.clone();
            let idle_notify = idle_notify.clone();
            let bar = bar.clone();
            tasks.spawn(async move {
                // A 429 is answered by waiting its Retry-After and sending the same batch
                // again: the signer's later nonces depend on it.
                let mut throttled = 0u64;
                let (v, admitted_at) = loop {
                    let sent = Instant::now();
                    let r = client
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                            throttled += 1;
                            tokio::time::sleep(crate::bench::retry_after(&r)).await;
                        }
                        Ok(r) => break (r.json::<serde_json::Value>().await.ok(), sent),
                        Err(_) => break (None, sent),
                    }
                };
                let latency = due.elapsed();
                let admitted = admitted_at.elapsed();
                idle.lock().await.push_back(signer);
                idle_notify.notify_one();
                bar.inc(1);
                let ok = v.as_ref().and_then(|v| v["accepted"].as_u64()).unwrap_or(0);
                let bad = v.as_ref().and_then(|v| v["failed"].as_u64()).unwrap_or(1);
                (latency, admitted, ok, bad, throttled)
            });
        }
        let mut latencies = Vec::new();
        let mut admitted_latencies = Vec::new();
        let mut failed = 0u64;
        let mut throttled = 0u64;
        while let Some(r) = tasks.join_next().await {
            let (latency, admitted, o, f, t) = r?;
            failed += f;
            throttled += t;
            latencies.extend(std::iter::repeat_n(latency.as_secs_f64() * 1000.0, o as usize));
            admitted_latencies.extend(std::iter::repeat_n(admitted.as_secs_f64() * 1000.0, o as usize));
        }
        let seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let (log1, h1) = furthest(&client, &procs).await?;
        let committed = log1.saturating_sub(log0);
        let cpus: Vec<f64> = procs
            .iter()
            .zip(&cpu0)
            .map(|(p, c0)| cpu_seconds_of(&p.pid.to_string()) - c0)
            .collect();
        let cpu: f64 = cpus.iter().sum();
        let counters1 = counters(&client, &procs).await;
        let [available, named, carried, wanted, execute, write] =
            [0, 1, 2, 3, 4, 5].map(|i| (counters1[i] - counters0[i]).max(0.0));
        let per_tx = |cpu: f64| {
            if committed > 0 {
                cpu * 1000.0 / committed as f64
            } else {
                0.0
            }
        };
        latencies.sort_by(|a, b| a.total_cmp(b));
        admitted_latencies.sort_by(|a, b| a.total_cmp(b));
        let step = Step {
            offered_tx_per_sec: *rate,
            committed_tx_per_sec: committed as f64 / seconds,
            committed,
            failed,
            p50_ms: percentile(&latencies, 0.5),
            p99_ms: percentile(&latencies, 0.99),
            admitted_p50_ms: percentile(&admitted_latencies, 0.5),
            admitted_p99_ms: percentile(&admitted_latencies, 0.99),
            throttled,
            cpu_seconds: cpu,
            cpu_ms_per_tx: per_tx(cpu),
            cpu_ms_per_tx_per_validator: cpus.iter().map(|c| per_tx(*c)).collect(),
            peak_rss_mib: procs.iter().map(|p| peak_rss_mib_of(&p.pid.to_string())).collect(),
            blocks: h1.saturating_sub(h0),
            validator_cores: cpu / seconds,
            generator_cores: (cpu_seconds_of("self") - own0) / seconds,
            named_percent: if named + carried > 0.0 {
                named * 100.0 / (named + carried)
            } else {
                0.0
            },
            wanted: wanted as u64,
            available_per_block: if h1 > h0 { available / (h1 - h0) as f64 } else { 0.0 },
            execute_ms_per_tx: per_tx(execute) / procs.len() as f64,
            write_ms_per_tx: per_tx(write) / procs.len() as f64,
        };
        eprintln!(
            "{:>7.0} tx/s offered: {:.0} committed/s, p50 {:.0} ms, p99 {:.0} ms (admitted: {:.0} ms), {:.3} CPU-ms/tx per validator, {} failed, {} throttled; cores used: validators {:.2}, load generator {:.2}",
            step.offered_tx_per_sec,
            step.committed_tx_per_sec,
            step.p50_ms,
            step.p99_ms,
            step.admitted_p99_ms,
            step.cpu_ms_per_tx / procs.len() as f64,
            failed,
            throttled,
            step.validator_cores,
            step.generator_cores
        );
        steps.push(step);
    }
    let mut children: Vec<Child> = procs.into_iter().map(|p| p.child).collect();
    crate::dev::stop(&mut children).await;
    Ok(steps)
}

/// A wide-area link, as the relays emulate it.
#[derive(Clone, Copy, Debug)]
struct Wan {
    delay: Duration,
    jitter: Duration,
    /// Chance that a chunk stalls its connection (a lost segment that TCP resends).
    loss: f64,
}

/// How long TCP takes to resend a lost segment (its minimum retransmission timeout).
const RETRANSMIT: Duration = Duration::from_millis(200);

/// Accepts connections for a validator's consensus port and relays them to `target`,
/// each direction held by the WAN's delay.
async fn relay(listener: tokio::net::TcpListener, target: SocketAddr, wan: Wan) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::join!(delayed(in_read, out_write, wan), delayed(out_read, in_write, wan));
        });
    }
}

/// Copies `from` to `to`, each chunk released after the WAN's delay and never before the
/// chunk ahead of it.
async fn delayed(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, wan: Wan) {
    use rand::Rng;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = tokio::time::Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let (jitter, stalled) = {
                let mut rng = rand::thread_rng();
                let j = wan.jitter.as_secs_f64();
                (rng.gen_range(-j..=j), rng.gen_bool(wan.loss))
            };
            // The jitter is at most the delay, so this is never negative.
            let hold = Duration::from_secs_f64((wan.delay.as_secs_f64() + jitter).max(0.0));
            let mut at = tokio::time::Instant::now() + hold;
            if stalled {
                at += RETRANSMIT;
            }
            at = at.max(last);
            last = at;
            if tx.send((at, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    });
    while let Some((at, chunk)) = rx.recv().await {
        tokio::time::sleep_until(at).await;
        if to.write_all(&chunk).await.is_err() {
            break;
        }
    }
    reader.abort();
}
