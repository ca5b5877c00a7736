//! Running the real `medledger` binary in tests.

#![allow(dead_code)]

pub mod attack;
pub mod epcis;
pub mod fhir;
pub mod net;
pub mod s3;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medledger"));
    c.env("MEDLEDGER_LOG", "info");
    c
}

/// Runs the binary to completion.
pub fn medledger(args: &[&str]) -> Output {
    bin().args(args).output().expect("run medledger")
}

pub fn ok(args: &[&str]) -> String {
    let out = medledger(args);
    assert!(
        out.status.success(),
        "medledger {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a one-validator network with ports picked at start, serving HTTPS with
/// certificates from its own consortium CA (`<net>/ca/ca.pem`).
pub fn init(dir: &Path, orgs: usize) -> PathBuf {
    init_with(dir, orgs, &[])
}

/// [`init`] serving plain HTTP on loopback (`init --no-tls`, as `dev` does).
pub fn init_plain(dir: &Path, orgs: usize) -> PathBuf {
    init_with(dir, orgs, &["--no-tls"])
}

fn init_with(dir: &Path, orgs: usize, extra: &[&str]) -> PathBuf {
    let out = dir.join("net");
    let orgs = orgs.to_string();
    let mut args = vec![
        "init",
        "--out",
        out.to_str().unwrap(),
        "--validators",
        "1",
        "--orgs",
        &orgs,
        "--base-port",
        "0",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    out
}

/// Has the kernel kill the child when the thread that spawns it ends: nodes never outlive
/// a test process, even one that panicked or a network shared by several tests.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only the async-signal-safe `prctl` runs.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// An HTTP client for a node's API: trusting the consortium CA in `ca` when given.
pub fn http_client(ca: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.use_preconfigured_tls(medledger_node::tls::ca_client_config(&pem).unwrap());
    }
    b.build().unwrap()
}

/// A node process; killed when dropped.
pub struct NodeProcess {
    pub child: Child,
    pub url: String,
    /// The consortium CA the node's certificate comes from (`None`: plain HTTP).
    pub ca: Option<PathBuf>,
}

impl NodeProcess {
    /// Starts `medledger node` and waits (with a deadline) until it prints its API address.
    pub fn start(home: &Path) -> NodeProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .unwrap();
        let mut cmd = bin();
        cmd.args(["node", "--home", home.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("spawn node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!(
                "node did not start; log:\n{}",
                std::fs::read_to_string(home.join("node.log")).unwrap_or_default()
            )
        });
        let ca = home.join("tls/ca.pem");
        NodeProcess {
            child,
            url,
            ca: ca.exists().then_some(ca),
        }
    }

    /// A client for this node's API.
    pub fn http(&self) -> reqwest::Client {
        http_client(self.ca.as_deref())
    }

    /// `--node URL [--ca FILE]` for the CLI.
    pub fn node_args(&self) -> Vec<String> {
        let mut v = vec!["--node".to_string(), self.url.clone()];
        if let Some(ca) = &self.ca {
            v.extend(["--ca".to_string(), ca.display().to_string()]);
        }
        v
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "node exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "node did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds or the deadline passes.
pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, timeout: Duration, mut cond: F) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
