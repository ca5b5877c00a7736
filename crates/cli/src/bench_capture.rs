//! `bench --epcis-capture`: EPCIS capture on a local four-validator network.
//!
//! Four `medledger node` processes (Hospital A, Clinic B, Pharmacy C, Insurer D) run BFT
//! consensus over loopback, as `init` writes them, except that Hospital A holds the GS1
//! company prefix `0614141` (a node captures for its own organisation, and the
//! manufacturer `init` adds runs no node). For `--step-seconds`, `--signers` concurrent
//! clients of Hospital A each post EPCIS 2.0 JSON-LD documents of `--events-per-doc`
//! commissioning events (one new pack each) to `POST /epcis/capture` at A's node and
//! follow the capture job until it reports the document committed. A document counts when
//! its job ends with `success: true`; its latency runs from the post to that answer.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use medledger_node::home::read_key;
use serde_json::{Value, json};

use crate::bench::Resolved;
use crate::bench_fhir::{Network, Phase, init_bench_network, phase, print_phases, transport};
use crate::run;

const PREFIX: &str = "0614141";
const SITE: &str = "urn:epc:id:sgln:0614141.00001.0";
/// How long a client follows one capture job before counting it failed.
const JOB_PATIENCE: Duration = Duration::from_secs(60);

pub fn run(args: &Resolved<'_>) -> Result<()> {
    let per_doc = args.events_per_doc.clamp(1, 1_000);
    let (dir, out, homes) = init_bench_network(args, "medledger-bench-epcis", |_| {})?;
    give_prefix_to_hospital(&out, &homes)?;
    let concurrency = args.signers.clamp(1, 1024);
    let seconds = args.step_seconds;
    let rt = run::runtime()?;
    let result = rt.block_on(drive(&out, &homes, per_doc, concurrency, seconds, args.tls));
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let p = result?;
    println!(
        "medledger bench --epcis-capture: 4 validators (separate processes, BFT over loopback TCP), {concurrency} concurrent clients capturing documents of {per_doc} commissioning events at one node for {seconds} s, {}",
        transport(args.tls)
    );
    print_phases(&[("EPCIS documents captured and committed", &p)]);
    let events_per_sec = p.ok as f64 * per_doc as f64 / p.seconds;
    println!(
        "  events committed: {events_per_sec:.0} per second ({} documents); CPU-ms per event, all four nodes: {:.3}",
        p.ok,
        if p.ok == 0 {
            0.0
        } else {
            p.cpu_seconds * 1000.0 / (p.ok as f64 * per_doc as f64)
        }
    );
    if args.json {
        println!(
            "{}",
            json!({"events_per_sec": events_per_sec, "documents_per_sec": p.ok as f64 / p.seconds, "p50_ms": p.p50, "p99_ms": p.p99, "failed": p.failed})
        );
    }
    Ok(())
}

/// Moves the company prefix from the manufacturer, which runs no node, to Hospital A in
/// every copy of the genesis, before any node has started.
fn give_prefix_to_hospital(out: &Path, homes: &[std::path::PathBuf]) -> Result<()> {
    let mut paths = vec![out.join("genesis.json")];
    paths.extend(homes.iter().map(|h| h.join("genesis.json")));
    for path in paths {
        let mut g: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        for o in g["orgs"].as_array_mut().context("genesis without orgs")? {
            match o["id"].as_str() {
                Some("maker-m") => o["gs1"]["company_prefixes"] = json!([]),
                Some("hospital-a") => o["gs1"]["company_prefixes"] = json!([PREFIX]),
                _ => {}
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&g)?)?;
    }
    Ok(())
}

/// Document `n`: `per_doc` ObjectEvents, each commissioning one new pack.
fn document(n: u64, per_doc: usize) -> String {
    let events: Vec<Value> = (0..per_doc)
        .map(|k| {
            json!({
                "type": "ObjectEvent",
                "eventTime": "2025-03-03T08:00:00.000Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": [format!("urn:epc:id:sgtin:{PREFIX}.012345.C{n}-{k}")],
                "action": "ADD",
                "bizStep": "commissioning",
                "disposition": "active",
                "readPoint": {"id": SITE},
                "bizLocation": {"id": SITE},
                "ilmd": {"cbvmda:lotNumber": "BENCH1", "cbvmda:itemExpirationDate": "2030-12-31"}
            })
        })
        .collect();
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"cbvmda": "urn:epcglobal:cbv:mda:"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-03-03T09:00:00.000Z",
        "epcisBody": {"eventList": events}
    })
    .to_string()
}

/// Posts one document and follows its job; true once the job reports it committed.
async fn capture_one(http: &reqwest::Client, url: &str, token: &str, body: String) -> bool {
    let Ok(r) = http
        .post(format!("{url}/epcis/capture"))
        .bearer_auth(token)
        .header("content-type", "application/ld+json")
        .body(body)
        .send()
        .await
    else {
        return false;
    };
    if r.status() != 202 {
        return false;
    }
    let Some(location) = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + JOB_PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let Ok(r) = http.get(format!("{url}{location}")).bearer_auth(token).send().await else {
            return false;
        };
        let Ok(job) = r.json::<Value>().await else { return false };
        if job["running"] == json!(false) {
            return job["success"] == json!(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn drive(
    out: &Path,
    homes: &[std::path::PathBuf],
    per_doc: usize,
    concurrency: usize,
    seconds: u64,
    tls: bool,
) -> Result<Phase> {
    let net = Network::start(out, homes, tls).await?;
    let admin = read_key(&out.join("admins/hospital-a.json"))?;
    let token: std::sync::Arc<str> = net
        .client
        .token(&net.urls[0], &admin, "hospital-a/admin", "system/*.cs")
        .await?
        .into();
    let (http, url): (reqwest::Client, std::sync::Arc<str>) = (net.http.clone(), net.urls[0].clone().into());
    let p = phase(seconds, concurrency, &net.pids, "documents at A", move |n| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move { capture_one(&http, &url, &token, document(n, per_doc)).await }
    })
    .await;
    net.stop().await;
    Ok(p)
}
