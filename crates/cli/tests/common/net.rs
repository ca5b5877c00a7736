//! A local network of validator processes on loopback, and a load generator, for the
//! BFT fault tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::{read_key, supply_chain_orgs};
use medledger_types::tx::encode_batch;
use medledger_types::{ChainId, Hash32, MemberId, Nonce, OrgId, SignedTx, Tx};
use serde_json::Value;

use super::{bin, ok};

/// Finds `n` consecutive free ports twice (API and p2p ranges). Tests of one binary run
/// in parallel in one process: each call starts from a different seed and skips ranges
/// an earlier call of this process handed out (a range is free until its nodes bind it).
fn free_bases(n: u16) -> (u16, u16) {
    static TAKEN: Mutex<Vec<(u16, u16)>> = Mutex::new(Vec::new());
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut seed = (std::process::id() as u64) << 32 ^ nanos ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut taken = TAKEN.lock().unwrap();
    let mut pick = |taken: &mut Vec<(u16, u16)>| loop {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let base = 20_000 + ((seed >> 33) % 35_000) as u16;
        let clear = taken.iter().all(|&(b, len)| base + n <= b || b + len <= base);
        if clear && (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            taken.push((base, n));
            return base;
        }
    };
    let api = pick(&mut taken);
    let p2p = pick(&mut taken);
    (api, p2p)
}

pub struct Net {
    pub dir: PathBuf,
    pub homes: Vec<PathBuf>,
    pub urls: Vec<String>,
    procs: Vec<Option<Child>>,
    /// A client trusting the network's CA.
    pub http: reqwest::Client,
    /// The consortium CA (`<net>/ca/ca.pem`).
    pub ca: PathBuf,
    /// Per node, a member token for the ledger's member-only routes, and when it was got.
    ledger_tokens: Mutex<std::collections::HashMap<usize, (String, Instant)>>,
}

impl Net {
    /// Writes an `n`-validator network with `medledger init`: HTTPS with the consortium's
    /// own CA, mutual TLS between nodes.
    pub fn init(dir: &Path, n: usize) -> Net {
        let (api, p2p) = free_bases(n as u16);
        let out = dir.join("net");
        ok(&[
            "init",
            "--out",
            out.to_str().unwrap(),
            "--validators",
            &n.to_string(),
            "--base-port",
            &api.to_string(),
            "--base-p2p-port",
            &p2p.to_string(),
        ]);
        let ca = out.join("ca").join("ca.pem");
        Net {
            homes: (0..n).map(|i| out.join(format!("node{i}"))).collect(),
            urls: (0..n)
                .map(|i| format!("https://127.0.0.1:{}", api + i as u16))
                .collect(),
            procs: (0..n).map(|_| None).collect(),
            dir: out,
            http: super::http_client(Some(&ca)),
            ca,
            ledger_tokens: Mutex::default(),
        }
    }

    /// GET a member-only ledger route of node `i` with an admin's token (fetched again
    /// when the node no longer knows it: tokens live in a node's memory).
    pub async fn ledger_get(&self, i: usize, path: &str) -> Value {
        for _ in 0..2 {
            let cached = self
                .ledger_tokens
                .lock()
                .unwrap()
                .get(&i)
                .filter(|(_, at)| at.elapsed() < Duration::from_secs(200))
                .map(|(t, _)| t.clone());
            let token = match cached {
                Some(t) => t,
                None => {
                    let admin = super::fhir::admin(self, "hospital-a");
                    let t = super::fhir::token(self, i, &admin, "system/*.rs").await;
                    self.ledger_tokens
                        .lock()
                        .unwrap()
                        .insert(i, (t.clone(), Instant::now()));
                    t
                }
            };
            let r = self
                .http
                .get(format!("{}{path}", self.urls[i]))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if r.status().as_u16() == 401 {
                self.ledger_tokens.lock().unwrap().remove(&i);
                continue;
            }
            return r.json().await.unwrap_or(Value::Null);
        }
        panic!("node{i} refuses the admin's fresh token for {path}");
    }

    pub fn start_all(&mut self) {
        for i in 0..self.homes.len() {
            self.start(i, &[]);
        }
    }

    /// Starts validator `i` (with extra environment variables).
    pub fn start(&mut self, i: usize, env: &[(&str, &str)]) {
        assert!(self.procs[i].is_none(), "node{i} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.homes[i].join("node.log"))
            .unwrap();
        let mut cmd = bin();
        cmd.env("MEDLEDGER_LOG", "info,medledger_consensus=debug")
            .args(["node", "--home", self.homes[i].to_str().unwrap()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in env {
            cmd.env(k, v);
        }
        super::die_with_parent(&mut cmd);
        self.procs[i] = Some(cmd.spawn().expect("spawn node"));
    }

    /// A handle to the same network for another test (or another runtime): same homes,
    /// URLs and CA, its own HTTP client, and no ownership of the processes.
    pub fn view(&self) -> Net {
        Net {
            dir: self.dir.clone(),
            homes: self.homes.clone(),
            urls: self.urls.clone(),
            procs: self.procs.iter().map(|_| None).collect(),
            http: super::http_client(Some(&self.ca)),
            ca: self.ca.clone(),
            ledger_tokens: Mutex::default(),
        }
    }

    /// The process id of validator `i`, if it runs and has not exited.
    pub fn pid(&mut self, i: usize) -> Option<u32> {
        let child = self.procs[i].as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.procs[i].take().expect("node is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self, i: usize) {
        let mut child = self.procs[i].take().expect("node is running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "node{i} exited with {status}; log:\n{}", self.log(i));
                return;
            }
            assert!(Instant::now() < deadline, "node{i} did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for validator `i` to exit on its own (e.g. refusing to start).
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.procs[i].take().expect("node was started");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node{i} is still running after {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop_all(&mut self) {
        for i in 0..self.homes.len() {
            if self.procs[i].is_some() {
                self.stop(i);
            }
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.homes[i].join("node.log")).unwrap_or_default()
    }

    pub async fn status(&self, i: usize) -> Option<Value> {
        self.http
            .get(format!("{}/v1/status", self.urls[i]))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    pub async fn height(&self, i: usize) -> Option<u64> {
        self.status(i).await?["height"].as_u64()
    }

    /// Waits until node `i` has committed `height`.
    pub async fn wait_height(&self, i: usize, height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.height(i).await.is_some_and(|h| h >= height) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node{i} did not reach height {height} within {timeout:?} (at {:?}); log tail:\n{}",
                self.height(i).await,
                tail(&self.log(i), 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// (hash, state root) of block `h` on node `i`.
    pub async fn block_id(&self, i: usize, h: u64) -> (String, String) {
        let v = self.ledger_get(i, &format!("/v1/blocks/{h}")).await;
        (
            v["hash"]
                .as_str()
                .unwrap_or_else(|| panic!("node{i} has no block {h}: {v}"))
                .to_string(),
            v["header"]["state_root"].as_str().unwrap().to_string(),
        )
    }

    /// Asserts that the given nodes hold identical blocks (hash and state root) at every
    /// height from 1 to `up_to`.
    pub async fn assert_same_chain(&self, nodes: &[usize], up_to: u64) {
        for h in 1..=up_to {
            let first = self.block_id(nodes[0], h).await;
            for &i in &nodes[1..] {
                assert_eq!(
                    self.block_id(i, h).await,
                    first,
                    "node{i} differs from node{} at height {h}",
                    nodes[0]
                );
            }
        }
    }

    /// Asserts that every acknowledged transaction is committed on every given node.
    pub async fn assert_all_committed(&self, nodes: &[usize], acked: &[Hash32]) {
        for &i in nodes {
            for h in acked {
                let v: Value = self
                    .http
                    .get(format!("{}/v1/receipts/{h}", self.urls[i]))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    v["status"], "committed",
                    "acknowledged transaction {h} missing on node{i}: {v}"
                );
            }
        }
    }

    /// Sends `n` register-member transactions of the first organisation's admin, from
    /// `nonce`, to validator `i` without waiting for the commit; returns their hashes
    /// once the validator says each is held by another validator.
    pub async fn send_replicated(&self, i: usize, nonce: u64, n: u64) -> Vec<Hash32> {
        let genesis = medledger_node::home::read_genesis(&self.dir.join("genesis.json")).unwrap();
        let org = &genesis.orgs[0];
        let key = read_key(&self.dir.join(format!("admins/{}.json", org.id))).unwrap();
        let txs: Vec<SignedTx> = (nonce..nonce + n)
            .map(|k| register_member_tx(&key, &genesis.chain_id, &org.id, "g", k))
            .collect();
        let v: Value = self
            .http
            .post(format!("{}/v1/txs?wait=false", self.urls[i]))
            .header("content-type", "application/octet-stream")
            .body(encode_batch(&txs))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let results = v["results"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(results.len() as u64, n, "{v}");
        results
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "pending", "{r}");
                assert_eq!(r["replicated"], true, "not held by another validator: {r}");
                r["hash"].as_str().unwrap().parse().unwrap()
            })
            .collect()
    }

    /// The status of transaction `h` on node `i` (`pending`, `committed`, …).
    pub async fn tx_status(&self, i: usize, h: &Hash32) -> Value {
        self.ledger_get(i, &format!("/v1/tx/{h}")).await["status"].clone()
    }

    /// A counter or gauge of node `i`'s `/metrics` (without the `medledger_` prefix).
    pub async fn metric(&self, i: usize, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.urls[i]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("medledger_{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("node{i} exports no medledger_{name}"))
    }

    pub fn verify(&self, i: usize) {
        let out = ok(&["verify", "--home", self.homes[i].to_str().unwrap(), "--quiet"]);
        assert!(out.starts_with("ok:"), "node{i}: {out}");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// `key` (an admin of `org`) registers a synthetic device member, `tag`-`nonce`, with
/// that nonce.
pub fn register_member_tx(
    key: &medledger_crypto::Keypair,
    chain: &ChainId,
    org: &OrgId,
    tag: &str,
    nonce: u64,
) -> SignedTx {
    let p = Payload::RegisterMember(RegisterMember {
        org: org.clone(),
        member: MemberId::new(format!("{tag}-{nonce}")).unwrap(),
        kind: MemberKind::Device,
        public_key: medledger_types::PublicKey(
            Hash32::digest(&[org.as_str().as_bytes(), tag.as_bytes(), &nonce.to_le_bytes()]).0,
        ),
    });
    key.sign_tx(Tx {
        chain_id: chain.clone(),
        signer: key.public(),
        nonce: Nonce(nonce),
        kind: p.kind(),
        body: p.body(),
    })
}

/// Load: each organisation's admin registers members in batches, each admin through one
/// validator (`target[i]`), and records every transaction acknowledged as committed.
pub struct Load {
    pub acked: Arc<Mutex<Vec<Hash32>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(net: &Net, batch: usize) -> Load {
        let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
        let acked: Arc<Mutex<Vec<Hash32>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        // One signer per care organisation, as the load was sized before `init` added the
        // supply chain's members.
        let members: Vec<OrgId> = supply_chain_orgs().into_iter().map(|o| o.0).collect();
        for (i, org) in genesis.orgs.iter().filter(|o| !members.contains(&o.id)).enumerate() {
            let key = read_key(&net.dir.join(format!("admins/{}.json", org.id))).unwrap();
            let chain: ChainId = genesis.chain_id.clone();
            let org_id: OrgId = org.id.clone();
            let url = net.urls[i % net.urls.len()].clone();
            let (http, acked, stop) = (net.http.clone(), acked.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut nonce = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let txs: Vec<SignedTx> = (0..batch)
                        .map(|k| register_member_tx(&key, &chain, &org_id, "m", nonce + k as u64))
                        .collect();
                    let resp = http
                        .post(format!("{url}/v1/txs?wait=true"))
                        .header("content-type", "application/octet-stream")
                        .body(encode_batch(&txs))
                        .send()
                        .await;
                    // A failed request leaves this signer's nonces unknown: it stops.
                    let Ok(resp) = resp else { return };
                    let Ok(v) = resp.json::<Value>().await else { return };
                    let Some(results) = v["results"].as_array() else { return };
                    let mut all = true;
                    {
                        let mut acked = acked.lock().unwrap();
                        for r in results {
                            if r["status"] == "committed" {
                                acked.push(r["hash"].as_str().unwrap().parse().unwrap());
                            } else {
                                all = false;
                            }
                        }
                    }
                    if !all {
                        return;
                    }
                    nonce += batch as u64;
                }
            }));
        }
        Load { acked, stop, tasks }
    }

    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stops the load and returns every acknowledged transaction.
    pub async fn finish(self) -> Vec<Hash32> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        self.acked.lock().unwrap().clone()
    }
}

/// One network shared by the tests of a test binary: started once, on a thread that lives
/// as long as the process (the nodes die with it), and handed to each test as a
/// [`Net::view`]. `configure` edits each node's home before the first start; `env` gives
/// extra environment per node.
pub fn shared(n: usize, configure: fn(&Path, usize), env: fn(usize) -> Vec<(&'static str, &'static str)>) -> Net {
    static SHARED: std::sync::OnceLock<Net> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
                // Networks of test processes that have ended are left behind (a static is
                // never dropped): remove them.
                for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(pid) = name.strip_prefix("shared-net-")
                        && !Path::new("/proc").join(pid).exists()
                    {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
                let dir = tmp.join(format!("shared-net-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let mut net = Net::init(&dir, n);
                for (i, home) in net.homes.clone().iter().enumerate() {
                    configure(home, i);
                }
                for i in 0..n {
                    let vars = env(i);
                    net.start(i, &vars);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if n == 1 {
                        // A solo validator makes no empty blocks: wait for its API.
                        super::eventually("the node's API", Duration::from_secs(180), async || {
                            net.status(0).await.is_some()
                        })
                        .await;
                    } else {
                        for i in 0..n {
                            net.wait_height(i, 1, Duration::from_secs(180)).await;
                        }
                    }
                });
                tx.send(net.view()).unwrap();
                // The nodes were spawned by this thread: keep it (and them) alive until
                // the process ends.
                let _owner = net;
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("the shared network did not start")
        })
        .view()
}
