//! `bench --dscsa`: DSCSA verification on a local four-validator network.
//!
//! Four `medledger node` processes (Hospital A, Clinic B, Pharmacy C, Insurer D) run BFT
//! consensus over loopback, with Manufacturer M, Wholesaler W and Regulator R as members
//! without nodes (as `init` writes them). Hospital A's node answers verifications for the
//! manufacturer (`api.dscsa_answer_for`). The manufacturer commissions `--serials` packs
//! through `supply.capture` (1,000 per transaction); then, for `--step-seconds`,
//! `--signers` concurrent clients of the wholesaler, each on its own keep-alive
//! connection, send `GET /dscsa/verify/…` to A's node: nine in ten name a commissioned
//! pack, one in ten a serial that was never commissioned. A request counts when it is
//! answered 200 with the expected `verified`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use medledger_gs1::ident::{CompanyPrefixLen, EpcUri, Gtin, Lot, Serial, check_digit};
use medledger_ledger::Payload;
use medledger_ledger::supply::capture::{Commitment, Step, SupplyCapture};
use medledger_node::home::read_key;
use medledger_types::{Hash32, OrgId};
use serde_json::{Value, json};

use crate::bench::Resolved;
use crate::bench_fhir::{Network, Phase, init_bench_network, phase, print_phases, transport};
use crate::run;

/// Packs per `supply.capture` transaction (about 40 KB, within `POST /v1/tx`'s body limit).
const PER_TX: usize = 1_000;
const LOT: &str = "BENCH1";
const EXPIRY: &str = "301231";
const WHOLESALER_GLN: &str = "4012345000122";

pub fn run(args: &Resolved<'_>) -> Result<()> {
    anyhow::ensure!(args.serials >= 1, "--serials must be at least 1");
    let maker = OrgId::new("maker-m")?;
    let (dir, out, homes) = init_bench_network(args, "medledger-bench-dscsa", |c| {
        c.api.dscsa_answer_for = vec![maker.clone()];
    })?;
    let concurrency = args.signers.clamp(1, 1024);
    let seconds = args.step_seconds;
    let load_before = load_average();
    let rt = run::runtime()?;
    let result = rt.block_on(drive(&out, &homes, args.serials, concurrency, seconds, args.tls));
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (commissioning_secs, p) = result?;
    println!(
        "medledger bench --dscsa: 4 validators (separate processes, BFT over loopback TCP), {} packs commissioned in {commissioning_secs:.1} s, {concurrency} concurrent clients verifying at one node for {seconds} s, {}",
        args.serials,
        transport(args.tls)
    );
    print_phases(&[("DSCSA verification (token, read, decide)", &p)]);
    println!(
        "  (CPU-ms/op counts all four node processes; the load generator shares the same cores; load average before {load_before}, after {})",
        load_average()
    );
    if args.json {
        println!(
            "{}",
            json!({"verifications_per_sec": p.ok as f64 / p.seconds, "p50_ms": p.p50, "p99_ms": p.p99, "failed": p.failed})
        );
    }
    Ok(())
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The bench's GTIN-14: indicator 1, the maker's prefix 0614141, item reference 00001.
fn gtin() -> Result<Gtin> {
    let data = "1061414100001";
    let check = check_digit(data).context("check digit")?;
    Ok(Gtin::parse(&format!("{data}{check}"))?)
}

fn serial(i: usize) -> String {
    format!("B{i:08}")
}

async fn commission(net: &Network, gtin: &Gtin, serials: usize) -> Result<()> {
    let maker = read_key(&net.out.join("admins/maker-m.json"))?;
    let prefix = CompanyPrefixLen::new(7)?;
    let all: Vec<usize> = (0..serials).collect();
    for chunk in all.chunks(PER_TX) {
        let epcs = chunk
            .iter()
            .map(|&i| {
                Ok(EpcUri::Sgtin {
                    gtin: gtin.clone(),
                    serial: Serial::parse(&serial(i))?,
                    company_prefix_len: prefix,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let commitment = Commitment {
            hash_id: Hash32::digest(&[b"bench-dscsa".as_slice(), &chunk[0].to_le_bytes()]),
            step: Step::Commission,
            epcs,
            parent: None,
            destination: None,
            lot: Some(Lot::parse(LOT)?),
            expiry: Some(EXPIRY.into()),
            corrects: Vec::new(),
        };
        net.client
            .submit(
                &net.urls[0],
                &maker,
                Payload::SupplyCapture(SupplyCapture {
                    commitments: vec![commitment],
                }),
            )
            .await?;
    }
    Ok(())
}

async fn drive(
    out: &Path,
    homes: &[std::path::PathBuf],
    serials: usize,
    concurrency: usize,
    seconds: u64,
    tls: bool,
) -> Result<(f64, Phase)> {
    let net = Network::start(out, homes, tls).await?;
    let gtin = gtin()?;
    eprintln!("network up; commissioning {serials} packs…");
    let t = std::time::Instant::now();
    commission(&net, &gtin, serials).await?;
    let commissioning = t.elapsed().as_secs_f64();
    let wholesaler = read_key(&out.join("admins/wholesale-w.json"))?;
    let token = net
        .client
        .token(&net.urls[0], &wholesaler, "wholesale-w/admin", "system/*.rs")
        .await?;
    // One URL prefix; each request adds its serial and query.
    let base: Arc<str> = format!("{}/dscsa/verify/01/{}/10/{LOT}/21/", net.urls[0], gtin.as_str()).into();
    let query: Arc<str> = format!(
        "?17={EXPIRY}&linkType=gs1:verificationService&context=dscsaSaleableReturn&reqGLN={WHOLESALER_GLN}&corrUUID=7d444840-9dc0-11d1-b245-5ffdce74fad2"
    )
    .into();
    let (http, token): (reqwest::Client, Arc<str>) = (net.http.clone(), token.into());
    let known = serials;
    let p = phase(seconds, concurrency, &net.pids, "verifications at A", move |n| {
        let (http, token, base, query) = (http.clone(), token.clone(), base.clone(), query.clone());
        async move {
            let i = (n as usize).wrapping_mul(2_654_435_761) % (known + known / 9 + 1);
            let url = format!("{base}{}{query}", serial(i));
            let Ok(r) = http.get(url).bearer_auth(&*token).send().await else {
                return false;
            };
            if r.status() != 200 {
                return false;
            }
            let Ok(v) = r.json::<Value>().await else { return false };
            v["data"]["verified"] == json!(i < known)
        }
    })
    .await;
    net.stop().await;
    Ok((commissioning, p))
}
