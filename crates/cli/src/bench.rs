//! `bench`: drive a local node over HTTP with pre-signed transactions and report
//! committed transactions per second and submit-to-commit latency.
//!
//! The bench creates a throw-away single-validator network in a temporary folder (one
//! organisation with `--signers` admins), starts the node in this process with its real
//! HTTP API, fsync'd storage and full signature checks, pre-signs `identity.register_member`
//! transactions (about 250 bytes each), and sends them in batches over loopback, one
//! stream per signer so that each signer's nonces arrive in order. Each batch is
//! submitted with `wait=true`: its response comes when every transaction in it is
//! committed, so the latency reported for a transaction is its batch's submit-to-commit
//! time (an upper bound for each transaction in the batch).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medledger_crypto::Keypair;
use medledger_ledger::Genesis;
use medledger_ledger::Payload;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::identity::{MemberKind, OrgRole};
use medledger_node::config::{ApiConfig, BlockConfig};
use medledger_node::{Config, Home};
use medledger_types::codec::Encode;
use medledger_types::tx::encode_batch;
use medledger_types::{ChainId, Hash32, MemberId, Nonce, OrgId, PublicKey, SignedTx, TimestampMs, Tx};

use crate::run;

#[derive(Args)]
pub struct BenchArgs {
    /// Validators. 1: one node in this process, driven to saturation. More: a local BFT
    /// network of separate processes under rising offered load (see `--rates`).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Network mode: offered loads in tx/s, one step each.
    #[arg(long, default_value = "1000,2500,5000,7500,10000,12500,15000")]
    pub rates: String,
    /// Network mode: seconds per load step.
    #[arg(long, default_value_t = 10)]
    pub step_seconds: u64,
    /// Single-validator mode: transactions to send in all.
    #[arg(long, default_value_t = 200_000)]
    pub txs: usize,
    /// Signers, each sending its own stream of batches (default 64 for one validator,
    /// 128 for a network, 16 pharmacists with `--dispense`).
    #[arg(long)]
    signers: Option<usize>,
    /// Transactions per HTTP request (default 1000 for one validator, 250 for a network,
    /// 25 with `--dispense`).
    #[arg(long)]
    batch: Option<usize>,
    /// Most transactions per block.
    #[arg(long, default_value_t = 4_000)]
    pub block_txs: usize,
    /// How long a proposer waits for a block to fill, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub block_interval_ms: u64,
    /// Network mode: each validator's mempool size in transactions (`mempool.max_txs`;
    /// default: the node's default).
    #[arg(long)]
    pub mempool_txs: Option<usize>,
    /// Keep the nodes' data here instead of a temporary folder.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Network mode: the validators' publish-subscribe protocol (`[p2p] pubsub`).
    #[arg(long, default_value = "gossipsub")]
    pub pubsub: medledger_node::config::PubSub,
    /// Network mode: a wide-area network between the validators — each byte between two
    /// validators is held this long (one way) by a relay in front of each validator's
    /// consensus port.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// With `--delay-ms`: each chunk's delay varies by up to this much either way (order
    /// kept, as TCP keeps it).
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// With `--delay-ms`: percent of chunks that stall their connection for 200 ms, as
    /// TCP does when it retransmits a lost segment.
    #[arg(long, default_value_t = 0.0)]
    pub loss_percent: f64,
    /// Also print the figures as one JSON line.
    #[arg(long)]
    pub json: bool,
    /// Benchmark the FHIR records exchange on a four-validator network instead: creates
    /// per second and consented cross-organisation reads per second (`--signers` is the
    /// number of concurrent clients, `--step-seconds` the length of each phase).
    #[arg(long)]
    pub fhir: bool,
    /// Benchmark FHIR at scale on a four-validator network instead: load `--patients`
    /// Synthea-shaped Bundles (about 50 resources each), then search at the custodian and
    /// across organisations with consent, and bulk-export everything (`--signers` is the
    /// number of concurrent loaders).
    #[arg(long, conflicts_with = "fhir")]
    pub fhir_records: bool,
    /// Benchmark DSCSA verification on a four-validator network instead: the manufacturer
    /// commissions `--serials` packs, then `--signers` concurrent clients of the
    /// wholesaler verify them at Hospital A's node for `--step-seconds`.
    #[arg(long, conflicts_with_all = ["fhir", "fhir_records"])]
    pub dscsa: bool,
    /// With `--dscsa`: packs to commission.
    #[arg(long, default_value_t = 10_000)]
    pub serials: usize,
    /// Benchmark EPCIS capture on a four-validator network instead: `--signers` concurrent
    /// clients of Hospital A post documents of `--events-per-doc` commissioning events to
    /// `POST /epcis/capture` for `--step-seconds`, each followed until committed.
    #[arg(long, conflicts_with_all = ["fhir", "fhir_records", "dscsa"])]
    pub epcis_capture: bool,
    /// Benchmark dispensing checks with monitoring on a four-validator network instead:
    /// Hospital A and Clinic B prescribe opioids and benzodiazepines with repeats for
    /// `--patients` patients (not measured), then `--signers` concurrent pharmacist
    /// clients of Pharmacy C send `rx.dispense` transactions in batches of `--batch`
    /// (default 16 clients, batches of 25) to its node for `--step-seconds`, each waited
    /// for until committed; reports committed dispenses per second, p50/p99, refusals by
    /// outcome, CPU per dispense and the monitoring alerts raised.
    #[arg(long, conflicts_with_all = ["fhir", "fhir_records", "dscsa", "epcis_capture"])]
    pub dispense: bool,
    /// With `--epcis-capture`: events per document (1 to 1,000).
    #[arg(long, default_value_t = 100)]
    pub events_per_doc: usize,
    /// With `--fhir-records`: patients to load (default 2,000, about 100,000 resources).
    /// With `--dispense`: patients to prescribe for, 17 fills each (default: enough for
    /// 8,000 dispenses a second over `--step-seconds`).
    #[arg(long)]
    pub patients: Option<usize>,
    /// With `--fhir-records`: about how many searches each search phase runs.
    #[arg(long, default_value_t = 2_000)]
    pub queries: usize,
    /// With `--fhir`: concurrent clients in the read phase (default: `--signers`).
    #[arg(long, requires = "fhir")]
    pub read_clients: Option<usize>,
    /// With --fhir or --fhir-records: the nodes serve HTTPS with `init`'s certificates and call each other
    /// over mutual TLS, as a consortium deployment does (default: loopback HTTP, like `dev`).
    #[arg(long)]
    pub tls: bool,
}

/// [`BenchArgs`] with the mode's defaults filled in.
pub struct Resolved<'a> {
    pub args: &'a BenchArgs,
    pub signers: usize,
    pub batch: usize,
}

impl std::ops::Deref for Resolved<'_> {
    type Target = BenchArgs;
    fn deref(&self) -> &BenchArgs {
        self.args
    }
}

/// The figures of one run.
#[derive(Debug, serde::Serialize)]
pub struct Figures {
    pub sent: usize,
    pub committed: u64,
    pub failed: u64,
    pub seconds: f64,
    pub tx_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub blocks: u64,
    pub cpu_seconds: f64,
    pub cpu_ms_per_tx: f64,
    pub peak_rss_mib: f64,
    pub avg_tx_bytes: usize,
}

fn org() -> OrgId {
    OrgId::new("bench-hospital").expect("valid id")
}

pub(crate) fn genesis(signers: &[Keypair], validator: &Keypair) -> Result<Genesis> {
    let admins = signers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(GenesisAdmin {
                member: MemberId::new(format!("admin-{i}"))?,
                public_key: k.public(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Genesis {
        break_glass: None,
        contracts: None,
        suspend_quorum: None,
        chain_id: ChainId::new("medledger-bench")?,
        genesis_time: TimestampMs(0),
        orgs: vec![GenesisOrg {
            gs1: None,
            id: org(),
            name: "Bench Hospital".into(),
            role: OrgRole::Hospital,
            admins,
            members: Vec::new(),
        }],
        validators: vec![GenesisValidator {
            org: org(),
            public_key: validator.public(),
            power: 1,
        }],
    })
}

/// Signs `per_signer` register-member transactions for each signer, on every core.
pub(crate) fn presign(
    chain: &ChainId,
    signers: &[Keypair],
    per_signer: usize,
    bar: &ProgressBar,
) -> Vec<Vec<SignedTx>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = signers
            .iter()
            .enumerate()
            .map(|(si, key)| {
                s.spawn(move || {
                    (0..per_signer)
                        .map(|n| {
                            // A unique synthetic member key: registration stores it, the bench
                            // never signs with it.
                            let member_key =
                                PublicKey(Hash32::digest(&[&(si as u64).to_le_bytes(), &(n as u64).to_le_bytes()]).0);
                            let payload = Payload::RegisterMember(RegisterMember {
                                org: org(),
                                member: MemberId::new(format!("bench-device-{si:04}-{n:09}-synthetic-load-generator"))
                                    .expect("valid id"),
                                kind: MemberKind::Device,
                                public_key: member_key,
                            });
                            let tx = key.sign_tx(Tx {
                                chain_id: chain.clone(),
                                signer: key.public(),
                                nonce: Nonce(n as u64),
                                kind: payload.kind(),
                                body: payload.body(),
                            });
                            bar.inc(1);
                            tx
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// How long a `429` answer says to wait (1 s if it does not say; at most 30 s).
pub(crate) fn retry_after(resp: &reqwest::Response) -> Duration {
    let secs = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs.clamp(1, 30))
}

fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// utime + stime of process `proc` (a pid, or `self`), from `/proc`.
pub(crate) fn cpu_seconds_of(proc: &str) -> f64 {
    // In clock ticks, 100 per second on Linux.
    std::fs::read_to_string(format!("/proc/{proc}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(") ")?.1.to_string();
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_mib() -> f64 {
    peak_rss_mib_of("self")
}

/// Peak resident memory of process `proc` (a pid, or `self`), from `/proc`.
pub(crate) fn peak_rss_mib_of(proc: &str) -> f64 {
    status_mib_of(proc, "VmHWM:")
}

/// A memory line of `/proc/<proc>/status` (`VmHWM:`, `VmRSS:` …), in MiB; 0 if unknown.
pub(crate) fn status_mib_of(proc: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{proc}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        })
        .unwrap_or(0.0)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(args: BenchArgs) -> Result<()> {
    anyhow::ensure!((1..=16).contains(&args.validators), "--validators must be 1 to 16");
    let network = args.validators > 1;
    if args.fhir_records {
        let resolved = Resolved {
            signers: args.signers.unwrap_or(8),
            batch: 1,
            args: &args,
        };
        return crate::bench_records::run(&resolved, args.patients.unwrap_or(2_000), args.queries);
    }
    if args.dispense {
        let resolved = Resolved {
            signers: args.signers.unwrap_or(16),
            batch: args.batch.unwrap_or(25),
            args: &args,
        };
        return crate::bench_dispense::run(&resolved);
    }
    if args.epcis_capture {
        let resolved = Resolved {
            signers: args.signers.unwrap_or(16),
            batch: 1,
            args: &args,
        };
        return crate::bench_capture::run(&resolved);
    }
    if args.dscsa {
        let resolved = Resolved {
            signers: args.signers.unwrap_or(64),
            batch: 1,
            args: &args,
        };
        return crate::bench_dscsa::run(&resolved);
    }
    if args.fhir {
        let resolved = Resolved {
            signers: args.signers.unwrap_or(64),
            batch: 1,
            args: &args,
        };
        return crate::bench_fhir::run(&resolved);
    }
    let resolved = Resolved {
        signers: args.signers.unwrap_or(if network { 128 } else { 64 }),
        batch: args.batch.unwrap_or(if network { 250 } else { 1000 }),
        args: &args,
    };
    if network {
        anyhow::ensure!(
            resolved.signers >= args.validators && resolved.batch >= 1,
            "need --signers >= --validators and --batch >= 1"
        );
        return crate::bench_net::run(&resolved);
    }
    run_single(&resolved)
}

fn run_single(args: &Resolved<'_>) -> Result<()> {
    anyhow::ensure!(
        args.signers >= 1 && args.batch >= 1 && args.txs >= args.signers,
        "need --txs >= --signers >= 1 and --batch >= 1"
    );
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let signers: Vec<Keypair> = (0..args.signers)
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    let validator = Keypair::generate(&mut rand::rngs::OsRng);
    let genesis = genesis(&signers, &validator)?;
    let per_signer = args.txs / args.signers;
    let total = per_signer * args.signers;

    eprintln!("pre-signing {total} transactions for {} signers…", args.signers);
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("signing {bar:40} {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let streams = presign(&genesis.chain_id, &signers, per_signer, &bar);
    bar.finish_and_clear();
    let avg_tx_bytes = streams
        .first()
        .and_then(|s| s.first())
        .map(|t| t.encode().len())
        .unwrap_or(0);
    let bodies: Vec<Vec<Vec<u8>>> = streams
        .iter()
        .map(|s| s.chunks(args.batch).map(encode_batch).collect())
        .collect();
    drop(streams);

    let home = Home {
        service: None,
        dir: dir.clone(),
        config: Config {
            moniker: "bench".into(),
            api: ApiConfig {
                listen: "127.0.0.1:0".parse()?,
                max_batch_txs: args.batch.max(1),
                ..ApiConfig::default()
            },
            block: BlockConfig {
                max_txs: args.block_txs,
                interval_ms: args.block_interval_ms,
                ..BlockConfig::default()
            },
            // Room for every batch the signers keep in flight: this closed-loop bench
            // measures how fast one validator commits, not its back-pressure.
            mempool: medledger_node::config::MempoolConfig {
                max_txs: (2 * args.signers * args.batch).max(20_000),
                max_per_signer: 2 * args.batch,
                max_bytes: 1 << 30,
                ..Default::default()
            },
            ..Config::default()
        }
        .validate()?,
        genesis,
        key: validator,
    };
    let figures = run::runtime()?.block_on(drive(home, bodies, total, avg_tx_bytes))?;
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    print_figures(args, &figures);
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("medledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

async fn drive(home: Home, bodies: Vec<Vec<Vec<u8>>>, total: usize, avg_tx_bytes: usize) -> Result<Figures> {
    let running = run::start(&home).await?;
    let addr = running.addr;
    let node = running.node.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(running.run_until(async {
        let _ = stop_rx.await;
    }));

    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let url = format!("http://{addr}/v1/txs?wait=true&summary=true");
    let committed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("committing {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for stream in bodies {
        let http = http.clone();
        let url = url.clone();
        let committed = committed.clone();
        let failed = failed.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for body in stream {
                let sent = Instant::now();
                // Refused for load (429): wait as told and send the same batch again.
                let resp = loop {
                    let resp = http
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(body.clone())
                        .send()
                        .await?;
                    if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                        break resp;
                    }
                    tokio::time::sleep(retry_after(&resp)).await;
                };
                let v: serde_json::Value = resp.json().await?;
                let elapsed = sent.elapsed();
                let ok = v["accepted"].as_u64().unwrap_or(0);
                let bad = v["failed"].as_u64().unwrap_or(0);
                if bad > 0 {
                    eprintln!(
                        "bench: {bad} transactions failed, the first: {}",
                        v["first_error"]["error"]
                    );
                }
                committed.fetch_add(ok, Ordering::Relaxed);
                failed.fetch_add(bad, Ordering::Relaxed);
                bar.inc(ok + bad);
                latencies.extend(std::iter::repeat_n(elapsed, ok as usize));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<f64> = Vec::with_capacity(total);
    for t in tasks {
        let l = t.await.context("a load task failed")??;
        latencies.extend(l.into_iter().map(|d: Duration| d.as_secs_f64() * 1000.0));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    bar.finish_and_clear();
    let blocks = node.head().height.0;
    let _ = stop_tx.send(());
    server.await.context("the node task failed")??;

    latencies.sort_by(|a, b| a.total_cmp(b));
    let committed = committed.load(Ordering::Relaxed);
    Ok(Figures {
        sent: total,
        committed,
        failed: failed.load(Ordering::Relaxed),
        seconds,
        tx_per_sec: committed as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        blocks,
        cpu_seconds: cpu,
        cpu_ms_per_tx: if committed > 0 {
            cpu * 1000.0 / committed as f64
        } else {
            0.0
        },
        peak_rss_mib: peak_rss_mib(),
        avg_tx_bytes,
    })
}

fn print_figures(args: &Resolved<'_>, f: &Figures) {
    println!("medledger bench: single validator, fsync per block, HTTP batches over loopback");
    println!(
        "  setup:      {} signers x batches of {} txs, blocks of up to {} txs, {} ms block interval",
        args.signers, args.batch, args.block_txs, args.block_interval_ms
    );
    println!("  sent:       {} transactions of {} bytes", f.sent, f.avg_tx_bytes);
    println!(
        "  committed:  {} ({} failed) in {:.2} s over {} blocks",
        f.committed, f.failed, f.seconds, f.blocks
    );
    println!("  throughput: {:.0} tx/s committed", f.tx_per_sec);
    println!(
        "  latency:    p50 {:.1} ms, p99 {:.1} ms (submit to commit, per batch)",
        f.p50_ms, f.p99_ms
    );
    println!(
        "  cost:       {:.2} CPU-s in all, {:.3} CPU-ms per committed tx (node and load generator share this process)",
        f.cpu_seconds, f.cpu_ms_per_tx
    );
    println!("  memory:     peak RSS {:.0} MiB", f.peak_rss_mib);
}
