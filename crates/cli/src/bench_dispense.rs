//! `bench --dispense`: dispensing checks with monitoring on a local four-validator network
//! (issue 14: at least 1,000 checks a second with p99 under 500 ms).
//!
//! Four `medledger node` processes (Hospital A, Clinic B, Pharmacy C, Insurer D) run BFT
//! consensus over loopback, as `init` writes them.
//!
//! **Set-up, not measured.** Two practitioners of Hospital A and two of Clinic B are
//! registered, and `--signers` pharmacists of Pharmacy C, each with its own key (so its own
//! nonces). Hospital A anchors a Patient record for each of `--patients` patients
//! (`records.anchor`, signed by its admin: the ledger's part of a FHIR Patient create;
//! the encrypted resource itself is not stored, as nothing here reads it). Each patient
//! gets the five prescriptions of [`REGIMEN`], each signed by its prescriber: tramadol and
//! codeine with five repeats, two oxycodone prescriptions (Schedule II, one fill each) from
//! two prescribers, and diazepam with two repeats — 17 fills.
//!
//! **Measured.** For `--step-seconds`, the pharmacists send `rx.dispense` transactions in
//! batches of `--batch` to Pharmacy C's node (`POST /v1/txs?wait=true`), each client one
//! batch at a time. Fills go [`COHORT`] patients at a time, in rounds: every patient's
//! first fill, then every patient's second, and so on, each patient's in the order of
//! [`FILLS`], so that every fill is checked against its prescription network-wide and
//! monitored against the patient's other recent fills: the opioids' daily MME total climbs
//! past 50 and 90, diazepam overlaps the opioids, the second oxycodone overlaps the first,
//! and repeats come early (all on the same day). A dispense counts when it is committed with outcome OK; its
//! latency is its batch's, from signing to the node's answer that the batch is committed.
//! Afterwards every committed fill is read back from Pharmacy C's state to count the alerts
//! monitoring stored with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use medledger_crypto::Keypair;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_ledger::rx::dispense::RxDispense;
use medledger_ledger::rx::prescribe::RxPrescribe;
use medledger_ledger::rx::{Alert, DAY_MS, FillRecord, Medication, MmeLevel, Order, RxCui, Schedule, Strength};
use medledger_ledger::{Payload, keys};
use medledger_node::home::read_key;
use medledger_types::codec::Decode;
use medledger_types::{Hash32, MemberId, OrgId, TimestampMs};
use serde_json::{Value, json};

use crate::bench::Resolved;
use crate::bench_dscsa::load_average;
use crate::bench_fhir::{Items, Network, Phase, init_bench_network, phase, print_phases, transport};
use crate::run;

/// Pharmacy C and its node (the third validator `init` writes).
const PHARMACY: &str = "pharmacy-c";
const PHARMACY_NODE: usize = 2;
/// The prescribers: organisation, member id, and the node of that organisation.
const PRESCRIBERS: [(&str, &str, usize); 4] = [
    ("hospital-a", "dr-a1", 0),
    ("hospital-a", "dr-a2", 0),
    ("clinic-b", "dr-b1", 1),
    ("clinic-b", "dr-b2", 1),
];
/// Patient records per `records.anchor` (about 40 KB, within a transaction's 64 KB body).
const ANCHORS_PER_TX: usize = 500;
/// The default `--patients` is enough for this many dispenses a second over the measured
/// phase: above what the network commits of any transaction (ADR 013), so that the phase
/// does not run out.
const CEILING_PER_SEC: u64 = 8_000;
/// Patients dispensed together: a cohort's patients get all their fills before the next
/// cohort's first, so that every patient's fills are monitored against each other
/// whatever the rate.
const COHORT: u64 = 500;
/// Clients reading the fills back after the phase.
const READERS: usize = 16;

/// One prescription of every patient's regimen.
struct Script {
    medication: Medication,
    quantity: u32,
    days_supply: u32,
    repeats: u32,
    schedule: Schedule,
}

/// A product (RxNorm clinical drug) of `milli`/1000 mg of `ingredient` per tablet.
const fn tablet(product: u32, ingredient: u32, milli: u64) -> Medication {
    Medication {
        product: RxCui(product),
        ingredient: RxCui(ingredient),
        strength: Strength::Mg { milli },
    }
}

const TRAMADOL: usize = 0;
const CODEINE: usize = 1;
const OXYCODONE_1: usize = 2;
const OXYCODONE_2: usize = 3;
const DIAZEPAM: usize = 4;

const OXYCODONE_5MG: Script = Script {
    medication: tablet(1_049_621, 7_804, 5_000),
    quantity: 30,
    days_supply: 10,
    repeats: 0,
    schedule: Schedule::II,
};

/// Every patient's prescriptions (ingredients, schedules and MME factors as in the drug
/// table), by index: daily MME 20, 18, 22.5, 22.5 and 0.
const REGIMEN: [Script; 5] = [
    // Tramadol 50 mg, 60 tablets for 30 days, Schedule IV, five repeats.
    Script {
        medication: tablet(835_603, 10_689, 50_000),
        quantity: 60,
        days_supply: 30,
        repeats: 5,
        schedule: Schedule::IV,
    },
    // Acetaminophen 300 mg with codeine 30 mg, 60 tablets for 15 days, Schedule III, five
    // repeats.
    Script {
        medication: tablet(993_781, 2_670, 30_000),
        quantity: 60,
        days_supply: 15,
        repeats: 5,
        schedule: Schedule::III,
    },
    // Oxycodone 5 mg, 30 tablets for 10 days, Schedule II, from two prescribers.
    OXYCODONE_5MG,
    OXYCODONE_5MG,
    // Diazepam 5 mg, 30 tablets for 30 days, Schedule IV, two repeats.
    Script {
        medication: tablet(197_591, 3_322, 5_000),
        quantity: 30,
        days_supply: 30,
        repeats: 2,
        schedule: Schedule::IV,
    },
];

/// The order of a patient's fills, as indices into [`REGIMEN`]: every fill its
/// prescription allows, once.
const FILLS: [usize; 17] = [
    TRAMADOL,
    CODEINE,
    OXYCODONE_1,
    DIAZEPAM,
    TRAMADOL,
    OXYCODONE_2,
    CODEINE,
    DIAZEPAM,
    TRAMADOL,
    CODEINE,
    TRAMADOL,
    CODEINE,
    DIAZEPAM,
    TRAMADOL,
    CODEINE,
    TRAMADOL,
    CODEINE,
];

/// The bench's patients, prescriptions and fills, each named by its number.
#[derive(Clone, Copy)]
struct Plan {
    patients: u64,
}

impl Plan {
    fn fills(&self) -> u64 {
        self.patients * FILLS.len() as u64
    }

    fn prescriptions(&self) -> u64 {
        self.patients * REGIMEN.len() as u64
    }

    fn patient(p: u64) -> String {
        format!("bench-patient-{p:07}")
    }

    fn prescription_id(p: u64, script: usize) -> Hash32 {
        Hash32::digest(&[
            b"bench-dispense prescription".as_slice(),
            &p.to_le_bytes(),
            &(script as u64).to_le_bytes(),
        ])
    }

    /// Patient `p`'s prescription `script`, written by its prescriber (see
    /// [`Plan::prescriber`]).
    fn prescription(p: u64, script: usize, valid_until: TimestampMs) -> Result<Payload> {
        let s = &REGIMEN[script];
        Ok(Payload::RxPrescribe(RxPrescribe {
            id: Plan::prescription_id(p, script),
            order: Order {
                patient: Plan::patient(p),
                prescriber: MemberId::new(PRESCRIBERS[Plan::prescriber(p, script)].1)?,
                medication: s.medication,
                quantity: s.quantity,
                days_supply: s.days_supply,
                repeats: s.repeats,
                schedule: s.schedule,
                valid_until,
            },
        }))
    }

    /// Which of [`PRESCRIBERS`] writes patient `p`'s prescription `script`: a patient's
    /// two oxycodone prescriptions come from different prescribers.
    fn prescriber(p: u64, script: usize) -> usize {
        ((p + script as u64) % PRESCRIBERS.len() as u64) as usize
    }

    /// The patient and round of fill `i`: cohort by cohort of [`COHORT`] patients, each
    /// cohort round by round (every patient's first fill, then every patient's second …).
    fn slot(&self, i: u64) -> (u64, usize) {
        let full = COHORT.min(self.patients);
        let per_cohort = full * FILLS.len() as u64;
        let (first, j) = ((i / per_cohort) * full, i % per_cohort);
        let size = full.min(self.patients - first);
        (first + j % size, (j / size) as usize)
    }

    /// Fill `i` (see [`Plan::slot`]).
    fn dispense(&self, i: u64) -> (Hash32, Payload) {
        let (p, round) = self.slot(i);
        let script = FILLS[round];
        let s = &REGIMEN[script];
        let id = Hash32::digest(&[b"bench-dispense fill".as_slice(), &i.to_le_bytes()]);
        let payload = Payload::RxDispense(RxDispense {
            id,
            prescription: Plan::prescription_id(p, script),
            quantity: s.quantity,
            days_supply: s.days_supply,
            packs: Vec::new(),
        });
        (id, payload)
    }
}

/// A pharmacist's key and the nonce its next transaction carries.
struct Pharmacist {
    key: Keypair,
    next_nonce: u64,
}

/// What the measured phase saw, beyond the phase's counts.
#[derive(Default)]
struct Tally {
    /// Fills committed with outcome OK.
    committed: Mutex<Vec<Hash32>>,
    /// Committed with another outcome, by outcome.
    refused: Mutex<BTreeMap<String, u64>>,
    /// Never in a block (refused by the node's mempool, or the request failed), by reason.
    not_committed: Mutex<BTreeMap<String, u64>>,
    /// Every prescription was filled before the phase ended.
    exhausted: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tally {
    /// Counts a batch's answers; true if a transaction of it never reached a block, so
    /// that its signer's later nonces must be asked for again.
    fn count(&self, ids: &[Hash32], answers: Result<Vec<Value>>) -> (Items, bool) {
        let answers = match answers {
            Ok(a) => a,
            Err(e) => {
                eprintln!("a batch failed: {e:#}");
                *lock(&self.not_committed).entry("request_failed".into()).or_default() += ids.len() as u64;
                return (
                    Items {
                        ok: 0,
                        failed: ids.len() as u64,
                    },
                    true,
                );
            }
        };
        let mut items = Items::default();
        let mut lost = answers.len() != ids.len();
        for (id, a) in ids.iter().zip(&answers) {
            if a["outcome"] == 0 {
                items.ok += 1;
                lock(&self.committed).push(*id);
                continue;
            }
            items.failed += 1;
            if let Some(outcome) = a["outcome_name"].as_str() {
                *lock(&self.refused).entry(outcome.into()).or_default() += 1;
            } else {
                lost = true;
                let reason = a["error"]["reason"].as_str().unwrap_or("unknown").to_string();
                *lock(&self.not_committed).entry(reason).or_default() += 1;
            }
        }
        items.failed += ids.len().saturating_sub(answers.len()) as u64;
        (items, lost)
    }
}

/// The alerts stored with the committed fills.
#[derive(Default, serde::Serialize)]
struct AlertCount {
    fills_read: u64,
    fills_with_alerts: u64,
    total: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

fn alert_name(a: &Alert) -> &'static str {
    match a {
        Alert::Mme {
            level: MmeLevel::Caution,
            ..
        } => "mme_caution",
        Alert::Mme {
            level: MmeLevel::High, ..
        } => "mme_high",
        Alert::OpioidBenzodiazepine { .. } => "opioid_benzodiazepine",
        Alert::EarlyRefill { .. } => "early_refill",
        Alert::SameDrug { .. } => "same_drug",
        Alert::MultipleProviders { .. } => "multiple_providers",
    }
}

/// The figures of a run.
struct Figures {
    plan: Plan,
    setup_seconds: f64,
    phase: Phase,
    refused: BTreeMap<String, u64>,
    not_committed: BTreeMap<String, u64>,
    exhausted: bool,
    alerts: AlertCount,
}

pub fn run(args: &Resolved<'_>) -> Result<()> {
    anyhow::ensure!(
        (1..=600).contains(&args.step_seconds),
        "--step-seconds must be 1 to 600"
    );
    let clients = args.signers.clamp(1, 1024);
    let batch = args.batch.clamp(1, 1_000);
    let patients = args
        .patients
        .unwrap_or_else(|| (CEILING_PER_SEC * args.step_seconds).div_ceil(FILLS.len() as u64) as usize);
    anyhow::ensure!(patients >= 1, "--patients must be at least 1");
    let plan = Plan {
        patients: patients as u64,
    };
    let (dir, out, homes) = init_bench_network(args, "medledger-bench-dispense", |_| {})?;
    let load_before = load_average();
    let rt = run::runtime()?;
    let result = rt.block_on(drive(&out, &homes, plan, (clients, batch), args.step_seconds, args.tls));
    if args.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let f = result?;
    print_figures(&f, clients, batch, args, &load_before);
    if args.json {
        let p = &f.phase;
        println!(
            "{}",
            json!({
                "dispenses_per_sec": p.ok as f64 / p.seconds,
                "committed": p.ok,
                "p50_ms": p.p50,
                "p99_ms": p.p99,
                "refused": f.refused,
                "not_committed": f.not_committed,
                "cpu_ms_per_dispense": p.cpu_seconds * 1000.0 / p.ok.max(1) as f64,
                "alerts": f.alerts,
                "patients": f.plan.patients,
                "prescriptions": f.plan.prescriptions(),
                "setup_seconds": f.setup_seconds,
                "clients": clients,
                "batch": batch,
                "seconds": p.seconds,
                "exhausted": f.exhausted,
            })
        );
    }
    Ok(())
}

fn print_figures(f: &Figures, clients: usize, batch: usize, args: &Resolved<'_>, load_before: &str) {
    let p = &f.phase;
    println!(
        "medledger bench --dispense: 4 validators (separate processes, BFT over loopback TCP), {} patients with {} prescriptions set up in {:.1} s; {clients} pharmacist clients of Pharmacy C sending batches of {batch} rx.dispense to its node for {} s, {}",
        f.plan.patients,
        f.plan.prescriptions(),
        f.setup_seconds,
        args.step_seconds,
        transport(args.tls)
    );
    print_phases(&[("dispense check with monitoring, committed", p)]);
    let list = |m: &BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    println!("  refused (committed, outcome not OK): {}", list(&f.refused));
    println!("  not committed: {}", list(&f.not_committed));
    let a = &f.alerts;
    let kinds: BTreeMap<String, u64> = a.by_kind.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
    println!(
        "  alerts raised: {} on {} of {} fills ({})",
        a.total,
        a.fills_with_alerts,
        a.fills_read,
        list(&kinds)
    );
    if f.exhausted {
        println!("  every prescription was filled before the phase ended: the rate above is low; raise --patients");
    }
    println!(
        "  (CPU-ms/op counts all four node processes per committed dispense; the load generator shares the same cores; latency per batch, from signing to the commit answer; load average before {load_before}, after {})",
        load_average()
    );
}

async fn drive(
    out: &Path,
    homes: &[PathBuf],
    plan: Plan,
    (clients, batch): (usize, usize),
    seconds: u64,
    tls: bool,
) -> Result<Figures> {
    let net = Network::start(out, homes, tls).await?;
    let t = Instant::now();
    let pharmacists = set_up(&net, plan, clients).await?;
    let setup_seconds = t.elapsed().as_secs_f64();
    eprintln!("set up in {setup_seconds:.1} s; dispensing for {seconds} s ({clients} clients, batches of {batch})…");

    let tally = Arc::new(Tally::default());
    let pool = Arc::new(Mutex::new(pharmacists));
    let url: Arc<str> = net.urls[PHARMACY_NODE].clone().into();
    let client = net.client.clone();
    let p = {
        let tally = tally.clone();
        phase(seconds, clients, &net.pids, "dispenses at C", move |n| {
            let (tally, pool, url, client) = (tally.clone(), pool.clone(), url.clone(), client.clone());
            async move {
                let first = n * batch as u64;
                if first >= plan.fills() {
                    tally.exhausted.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Items::default();
                }
                // There are as many pharmacists as clients: one is always free.
                let Some(mut who) = lock(&pool).pop() else {
                    return Items::default();
                };
                let (ids, txs): (Vec<Hash32>, Vec<_>) = (first..(first + batch as u64).min(plan.fills()))
                    .zip(who.next_nonce..)
                    .map(|(i, nonce)| {
                        let (id, payload) = plan.dispense(i);
                        (id, client.sign(&who.key, nonce, &payload))
                    })
                    .unzip();
                who.next_nonce += txs.len() as u64;
                let (items, lost) = tally.count(&ids, client.post_batch(&url, &txs).await);
                if lost && let Ok(n) = client.next_nonce(&url, &who.key.public()).await {
                    who.next_nonce = n;
                }
                lock(&pool).push(who);
                items
            }
        })
        .await
    };
    let committed = std::mem::take(&mut *lock(&tally.committed));
    let alerts = read_alerts(&net, committed).await?;
    net.stop().await;
    Ok(Figures {
        plan,
        setup_seconds,
        phase: p,
        refused: std::mem::take(&mut *lock(&tally.refused)),
        not_committed: std::mem::take(&mut *lock(&tally.not_committed)),
        exhausted: tally.exhausted.load(Ordering::Relaxed),
        alerts,
    })
}

/// Registers the prescribers and `pharmacists` pharmacists, anchors the patients and
/// writes their prescriptions; returns the pharmacists once Pharmacy C's node holds it all.
async fn set_up(net: &Network, plan: Plan, pharmacists: usize) -> Result<Vec<Pharmacist>> {
    eprintln!(
        "network up; registering {} prescribers and {pharmacists} pharmacists…",
        PRESCRIBERS.len()
    );
    let mut prescribers = Vec::new();
    for (org, member, node) in PRESCRIBERS {
        prescribers.push(net.register(node, org, member, MemberKind::Practitioner).await?);
    }
    let keys: Vec<Keypair> = (0..pharmacists)
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    let registrations = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(Payload::RegisterMember(RegisterMember {
                org: OrgId::new(PHARMACY)?,
                member: MemberId::new(format!("pharmacist-{i}"))?,
                kind: MemberKind::Practitioner,
                public_key: k.public(),
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let pharmacy_admin = read_key(&net.out.join(format!("admins/{PHARMACY}.json")))?;
    let url = &net.urls[PHARMACY_NODE];
    net.client
        .submit_all(url, &pharmacy_admin, &registrations, &ProgressBar::hidden())
        .await?;

    let anchors = patient_anchors(plan)?;
    let bar = ProgressBar::new(anchors.len() as u64 + plan.prescriptions());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "set-up: {} patients {{bar:30}} {{pos}}/{{len}} anchors and prescriptions ({{per_sec}})",
            plan.patients
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let hospital_admin = read_key(&net.out.join("admins/hospital-a.json"))?;
    net.client
        .submit_all(&net.urls[0], &hospital_admin, &anchors, &bar)
        .await?;

    // Each prescriber signs its own, all four at once.
    let valid_until = TimestampMs(medledger_node::node::now_ms().0 + 90 * DAY_MS);
    let mut written: Vec<Vec<Payload>> = vec![Vec::new(); PRESCRIBERS.len()];
    for p in 0..plan.patients {
        for script in 0..REGIMEN.len() {
            written[Plan::prescriber(p, script)].push(Plan::prescription(p, script, valid_until)?);
        }
    }
    let mut jobs = tokio::task::JoinSet::new();
    for ((key, payloads), (_, _, node)) in prescribers.into_iter().zip(written).zip(PRESCRIBERS) {
        let (client, url, bar) = (net.client.clone(), net.urls[node].clone(), bar.clone());
        jobs.spawn(async move { client.submit_all(&url, &key, &payloads, &bar).await });
    }
    while let Some(r) = jobs.join_next().await {
        r.context("a prescriber's task failed")??;
    }
    bar.finish_and_clear();
    net.catch_up(PHARMACY_NODE, 0).await;
    net.catch_up(PHARMACY_NODE, 1).await;
    Ok(keys.into_iter().map(|key| Pharmacist { key, next_nonce: 0 }).collect())
}

/// `records.anchor` transactions of every patient's Patient record, held by Hospital A.
fn patient_anchors(plan: Plan) -> Result<Vec<Payload>> {
    let patients: Vec<u64> = (0..plan.patients).collect();
    patients
        .chunks(ANCHORS_PER_TX)
        .map(|chunk| {
            let anchors = chunk
                .iter()
                .map(|&p| {
                    Ok(Anchor {
                        resource_type: "Patient".into(),
                        record_id: Plan::patient(p),
                        version: 1,
                        patient: Some(Plan::patient(p)),
                        ciphertext: Hash32::digest(&[b"bench-dispense patient".as_slice(), &p.to_le_bytes()]),
                        author: MemberId::new("admin")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Payload::RecordsAnchor(RecordsAnchor {
                custodian: OrgId::new("hospital-a")?,
                anchors,
            }))
        })
        .collect()
}

/// Reads every fill in `fills` from Pharmacy C's state and counts the alerts stored with
/// it.
async fn read_alerts(net: &Network, fills: Vec<Hash32>) -> Result<AlertCount> {
    let admin = read_key(&net.out.join(format!("admins/{PHARMACY}.json")))?;
    let url = net.urls[PHARMACY_NODE].clone();
    let token: Arc<str> = net
        .client
        .token(&url, &admin, &format!("{PHARMACY}/admin"), "system/*.rs")
        .await?
        .into();
    let bar = ProgressBar::new(fills.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("reading fills back {bar:30} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let fills = Arc::new(fills);
    let next = Arc::new(AtomicUsize::new(0));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..READERS {
        let (http, url, token, fills, next, bar) = (
            net.http.clone(),
            url.clone(),
            token.clone(),
            fills.clone(),
            next.clone(),
            bar.clone(),
        );
        readers.spawn(async move {
            let mut count = AlertCount::default();
            loop {
                let Some(id) = fills.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return anyhow::Ok(count);
                };
                let key = hex::encode(keys::rx_fill(id));
                let v: Value = http
                    .get(format!("{url}/v1/state/{key}"))
                    .bearer_auth(&*token)
                    .send()
                    .await?
                    .json()
                    .await?;
                let raw = hex::decode(
                    v["value"]
                        .as_str()
                        .with_context(|| format!("fill {id} not found: {v}"))?,
                )?;
                let fill = FillRecord::decode(&raw).map_err(|e| anyhow::anyhow!("fill {id}: {e}"))?;
                count.fills_read += 1;
                count.fills_with_alerts += u64::from(!fill.alerts.is_empty());
                for a in &fill.alerts {
                    count.total += 1;
                    *count.by_kind.entry(alert_name(a)).or_default() += 1;
                }
                bar.inc(1);
            }
        });
    }
    let mut all = AlertCount::default();
    while let Some(r) = readers.join_next().await {
        let c = r.context("a reader failed")??;
        all.fills_read += c.fills_read;
        all.fills_with_alerts += c.fills_with_alerts;
        all.total += c.total;
        for (k, v) in c.by_kind {
            *all.by_kind.entry(k).or_default() += v;
        }
    }
    bar.finish_and_clear();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_patient_fills_every_prescription_to_its_last_repeat() {
        for (script, s) in REGIMEN.iter().enumerate() {
            let fills = FILLS.iter().filter(|&&f| f == script).count() as u32;
            assert_eq!(fills, 1 + s.repeats, "prescription {script}");
        }
    }

    #[test]
    fn every_fill_of_every_patient_comes_once_in_its_cohort() {
        for patients in [1, 12, COHORT, 2 * COHORT + 234] {
            let plan = Plan { patients };
            let mut seen = std::collections::BTreeSet::new();
            for i in 0..plan.fills() {
                let (p, round) = plan.slot(i);
                assert!(p < patients && round < FILLS.len());
                assert_eq!(p / COHORT, i / (COHORT * FILLS.len() as u64), "fill {i}");
                assert!(seen.insert((p, round)), "fill {i} repeats ({p}, {round})");
            }
        }
    }

    #[test]
    fn a_patients_two_oxycodone_prescriptions_come_from_different_prescribers() {
        for p in 0..8 {
            assert_ne!(Plan::prescriber(p, OXYCODONE_1), Plan::prescriber(p, OXYCODONE_2));
        }
    }
}
