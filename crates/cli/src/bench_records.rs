//! `bench --fhir-records`: FHIR at scale on a local four-validator network.
//!
//! 1. **load**: `--patients` Synthea-shaped transaction Bundles (about 50 resources each:
//!    Patient, Encounters, Observations of several LOINC codes, Conditions,
//!    MedicationRequests, Procedures, a Claim and an ExplanationOfBenefit), posted to
//!    Hospital A's node by `--signers` concurrent clients: resources per second;
//! 2. **search at the custodian**: `Observation?patient=P&code=C` at A, by A's
//!    practitioner: p50 and p99;
//! 3. **cross-organisation search with consent**: the same at Clinic B's node, for
//!    patients who consented to Clinic B: p50 and p99;
//! 4. **bulk export**: a system-level `$export` by A's backend client, from kick-off to
//!    the last NDJSON file downloaded: resources per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use medledger_ledger::Payload;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::MemberKind;
use medledger_types::{OrgId, TimestampMs};
use serde_json::{Value, json};

use crate::bench::Resolved;
use crate::bench_fhir::{Network, Phase, init_bench_network, phase};
use crate::run;

const CODES: [&str; 6] = ["8867-4", "8480-6", "8462-4", "29463-7", "8302-2", "2339-0"];
/// Patients who consent to Clinic B (the cross-organisation search's population).
const CONSENTING: usize = 20;

/// One patient's Bundle, in Synthea's shape: `urn:uuid` references, about 50 resources.
fn bundle(n: usize) -> Value {
    let u = |k: usize| format!("urn:uuid:{n:08x}-0000-4000-8000-{k:012x}");
    let pat = u(0);
    let mut entries = vec![json!({"fullUrl": pat, "request": {"method": "POST", "url": "Patient"},
        "resource": {"resourceType": "Patient", "gender": if n.is_multiple_of(2) { "female" } else { "male" },
                     "birthDate": format!("19{:02}-0{}-1{}", 40 + n % 60, 1 + n % 9, n % 10),
                     "name": [{"family": format!("Family{n}"), "given": ["Bench"]}],
                     "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": format!("bench-{n}")}]}})];
    let subject = json!({"reference": pat});
    for e in 0..5 {
        let enc = u(1 + e);
        let day = format!("2024-0{}-1{}", 1 + e, n % 10);
        entries.push(
            json!({"fullUrl": enc, "request": {"method": "POST", "url": "Encounter"},
            "resource": {"resourceType": "Encounter", "status": "finished", "subject": subject,
                         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                         "period": {"start": format!("{day}T09:00:00Z"), "end": format!("{day}T09:30:00Z")}}}),
        );
        for (k, code) in CODES.iter().enumerate() {
            entries.push(json!({"fullUrl": u(100 + e * 10 + k), "request": {"method": "POST", "url": "Observation"},
                "resource": {"resourceType": "Observation", "status": "final", "subject": subject,
                             "encounter": {"reference": enc},
                             "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                             "effectiveDateTime": format!("{day}T09:10:00Z"),
                             "valueQuantity": {"value": 60 + (n + k) % 40, "unit": "1", "system": "http://unitsofmeasure.org", "code": "1"}}}));
        }
        entries.push(
            json!({"fullUrl": u(200 + e), "request": {"method": "POST", "url": "Condition"},
            "resource": {"resourceType": "Condition", "subject": subject, "encounter": {"reference": enc},
                         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}}}),
        );
        entries.push(json!({"fullUrl": u(300 + e), "request": {"method": "POST", "url": "MedicationRequest"},
            "resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
                         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]}}}));
    }
    for p in 0..4 {
        entries.push(
            json!({"fullUrl": u(400 + p), "request": {"method": "POST", "url": "Procedure"},
            "resource": {"resourceType": "Procedure", "status": "completed", "subject": subject,
                         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430193006"}]}}}),
        );
    }
    let claim = u(500);
    entries.push(json!({"fullUrl": claim, "request": {"method": "POST", "url": "Claim"},
        "resource": {"resourceType": "Claim", "status": "active", "use": "claim", "patient": subject, "created": "2024-03-01",
                     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                     "priority": {"coding": [{"code": "normal"}]}, "provider": {"display": "Hospital A"},
                     "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "Plan"}}]}}));
    entries.push(json!({"fullUrl": u(501), "request": {"method": "POST", "url": "ExplanationOfBenefit"},
        "resource": {"resourceType": "ExplanationOfBenefit", "status": "active", "use": "claim", "outcome": "complete",
                     "patient": subject, "created": "2024-03-01", "insurer": {"display": "Plan"}, "provider": {"display": "Hospital A"},
                     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                     "claim": {"reference": claim}, "insurance": [{"focal": true, "coverage": {"display": "Plan"}}]}}));
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

pub fn run(args: &Resolved<'_>, patients: usize, queries: usize) -> Result<()> {
    let (dir, out, homes) = init_bench_network(args, "medledger-bench-records", |c| c.fhir.max_page = 1000)?;
    let rt = run::runtime()?;
    let result = rt.block_on(drive(&out, &homes, args, patients.max(CONSENTING), queries));
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let f = result?;
    println!(
        "medledger bench --fhir-records: 4 validators (separate processes, BFT over loopback), {} patients, {} resources loaded, {}",
        patients.max(CONSENTING),
        f.resources,
        if args.tls {
            "HTTPS and mutual TLS"
        } else {
            "plain HTTP on loopback"
        }
    );
    println!("  {:<52} {:>10} {:>9} {:>9}", "phase", "per sec", "p50 ms", "p99 ms");
    println!(
        "  {:<52} {:>10.0} {:>9} {:>9}",
        "load Synthea-shaped Bundles (resources/s)", f.load_per_sec, "", ""
    );
    for (name, p) in [
        ("search code+patient at the custodian (A)", &f.local),
        ("cross-org search code+patient with consent (B)", &f.remote),
    ] {
        println!(
            "  {:<52} {:>10.0} {:>9.1} {:>9.1}{}",
            name,
            p.ok as f64 / p.seconds,
            p.p50,
            p.p99,
            if p.failed > 0 {
                format!("  ({} failed)", p.failed)
            } else {
                String::new()
            }
        );
    }
    println!(
        "  {:<52} {:>10.0} {:>9} {:>9}",
        "bulk $export, kick-off to last file (resources/s)", f.export_per_sec, "", ""
    );
    if args.json {
        println!(
            "{}",
            json!({"resources": f.resources, "load_per_sec": f.load_per_sec,
                   "local_search_p50_ms": f.local.p50, "local_search_p99_ms": f.local.p99,
                   "remote_search_p50_ms": f.remote.p50, "remote_search_p99_ms": f.remote.p99,
                   "export_per_sec": f.export_per_sec, "peak_rss_mib": f.rss_mib, "rss_a_after_phases_mib": f.rss_a_phases})
        );
    }
    Ok(())
}

struct Figures {
    /// Node A's resident memory after the load, the searches and the export, MiB.
    rss_a_phases: [f64; 3],
    resources: usize,
    /// Peak resident memory of each node, MiB (A holds every record).
    rss_mib: Vec<f64>,
    load_per_sec: f64,
    local: Phase,
    remote: Phase,
    export_per_sec: f64,
}

async fn drive(
    out: &std::path::Path,
    homes: &[std::path::PathBuf],
    args: &Resolved<'_>,
    patients: usize,
    queries: usize,
) -> Result<Figures> {
    let net = Network::start(out, homes, args.tls).await?;
    let (http, urls, c) = (net.http.clone(), net.urls.clone(), &net.client);
    eprintln!("network up; registering members…");
    let dr_a = net.register(0, "hospital-a", "dr-a", MemberKind::Practitioner).await?;
    let svc_a = net.register(0, "hospital-a", "export-a", MemberKind::Service).await?;
    let dr_b = net.register(1, "clinic-b", "dr-b", MemberKind::Practitioner).await?;
    let ta = c.token(&urls[0], &dr_a, "hospital-a/dr-a", "user/*.cruds").await?;
    let ts = c.token(&urls[0], &svc_a, "hospital-a/export-a", "system/*.rs").await?;

    // 1. Load.
    let bar = indicatif::ProgressBar::new(patients as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>28} {bar:30} {pos}/{len} Bundles, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("loading");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pids: Arc<std::sync::Mutex<Vec<(usize, String)>>> = Arc::default();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.signers.clamp(1, 64) {
        let (http, url, ta, next, pids, written, bar) = (
            http.clone(),
            urls[0].clone(),
            ta.clone(),
            next.clone(),
            pids.clone(),
            written.clone(),
            bar.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= patients {
                    return Ok::<(), anyhow::Error>(());
                }
                let r = http
                    .post(format!("{url}/fhir"))
                    .bearer_auth(&ta)
                    .header("content-type", "application/fhir+json")
                    .body(bundle(n).to_string())
                    .send()
                    .await?;
                let status = r.status();
                let v: Value = r.json().await?;
                anyhow::ensure!(
                    status.is_success(),
                    "a Bundle failed: {status}: {}",
                    v.to_string().chars().take(300).collect::<String>()
                );
                let entries = v["entry"].as_array().map(Vec::len).unwrap_or(0);
                written.fetch_add(entries, std::sync::atomic::Ordering::Relaxed);
                let pid = v["entry"][0]["response"]["location"]
                    .as_str()
                    .and_then(|l| l.split('/').nth(1))
                    .unwrap_or_default()
                    .to_string();
                pids.lock().unwrap_or_else(|p| p.into_inner()).push((n, pid));
                bar.inc(1);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    bar.finish_and_clear();
    let resources = written.load(std::sync::atomic::Ordering::Relaxed);
    let load_per_sec = resources as f64 / t0.elapsed().as_secs_f64();
    let rss_a = || crate::bench::status_mib_of(&net.pids[0].to_string(), "VmRSS:");
    let after_load = rss_a();
    let mut pids = pids.lock().unwrap_or_else(|p| p.into_inner()).clone();
    pids.sort();
    let pids: Arc<Vec<String>> = Arc::new(pids.into_iter().map(|(_, p)| p).collect());
    eprintln!("loaded {resources} resources at {load_per_sec:.0}/s; consenting {CONSENTING} patients to Clinic B…");

    // Consent for the cross-organisation search.
    for pid in pids.iter().take(CONSENTING) {
        let key = net.register(0, "hospital-a", pid, MemberKind::Patient).await?;
        c.submit(
            &urls[0],
            &key,
            Payload::ConsentGrant(ConsentGrant {
                consent_id: format!("bench-{pid}"),
                patient: pid.clone(),
                grantee: Grantee::Org(OrgId::new("clinic-b")?),
                scope: ConsentScope::Types(vec!["Observation".into()]),
                purposes: vec![Purpose::Treatment],
                expires: Some(TimestampMs(medledger_node::node::now_ms().0 + 86_400_000)),
            }),
        )
        .await?;
    }
    net.catch_up(1, 0).await;
    let tb = c.token(&urls[1], &dr_b, "clinic-b/dr-b", "user/*.rs").await?;

    // 2 and 3. Searches; each must find the patient's five Observations of the code.
    let clients = 4usize;
    let seconds = (queries as u64 / 40).clamp(5, 120);
    let search = |url: String, tok: String, population: usize| {
        let (http, pids) = (http.clone(), pids.clone());
        move |n: u64| {
            let (http, pids, url, tok) = (http.clone(), pids.clone(), url.clone(), tok.clone());
            async move {
                let pid = &pids[(n as usize).wrapping_mul(2_654_435_761) % population];
                let code = CODES[n as usize % CODES.len()];
                match http
                    .get(format!(
                        "{url}/fhir/Observation?patient={pid}&code=http://loinc.org|{code}"
                    ))
                    .bearer_auth(&tok)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|b| b["entry"].as_array().map(Vec::len) == Some(5)),
                    _ => false,
                }
            }
        }
    };
    let local = phase(
        seconds,
        clients,
        &net.pids,
        "search at the custodian",
        search(urls[0].clone(), ta.clone(), pids.len()),
    )
    .await;
    let remote = phase(
        seconds,
        clients,
        &net.pids,
        "cross-org search (consented)",
        search(urls[1].clone(), tb.clone(), CONSENTING),
    )
    .await;

    let after_search = rss_a();
    // 4. Bulk export.
    let t = Instant::now();
    let kick = http
        .get(format!("{}/fhir/$export", urls[0]))
        .bearer_auth(&ts)
        .header("prefer", "respond-async")
        .send()
        .await?;
    anyhow::ensure!(kick.status() == 202, "export kick-off: {}", kick.status());
    let status_url = kick
        .headers()
        .get("content-location")
        .and_then(|v| v.to_str().ok())
        .context("no Content-Location")?
        .to_string();
    let manifest: Value = loop {
        let r = http.get(&status_url).bearer_auth(&ts).send().await?;
        match r.status().as_u16() {
            202 => tokio::time::sleep(Duration::from_millis(200)).await,
            200 => break r.json().await?,
            other => anyhow::bail!("export status {other}: {}", r.text().await.unwrap_or_default()),
        }
    };
    let mut exported = 0usize;
    for o in manifest["output"].as_array().into_iter().flatten() {
        let body = http
            .get(o["url"].as_str().unwrap_or_default())
            .bearer_auth(&ts)
            .send()
            .await?
            .text()
            .await?;
        exported += body.lines().count();
    }
    let export_per_sec = exported as f64 / t.elapsed().as_secs_f64();
    eprintln!("exported {exported} resources");
    let _ = http.delete(&status_url).bearer_auth(&ts).send().await;
    let after_export = rss_a();
    let rss_mib = net
        .pids
        .iter()
        .map(|p| crate::bench::peak_rss_mib_of(&p.to_string()))
        .collect();
    net.stop().await;
    Ok(Figures {
        rss_a_phases: [after_load, after_search, after_export],
        resources,
        rss_mib,
        load_per_sec,
        local,
        remote,
        export_per_sec,
    })
}
