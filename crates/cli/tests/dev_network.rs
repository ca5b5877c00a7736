//! The front door: `medledger dev` starts four validators that commit blocks together,
//! prints their API addresses, stops cleanly on Ctrl-C and resumes the same chain.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bin;

fn free_base(n: u16) -> u16 {
    (20_000..60_000)
        .step_by(97)
        .map(|b| b + (std::process::id() % 89) as u16)
        .find(|&b| (0..n).all(|i| TcpListener::bind(("127.0.0.1", b + i)).is_ok()))
        .expect("free ports")
}

/// Starts `dev` and returns it with the API URLs it printed.
fn start_dev(home: &std::path::Path, port: u16, p2p: u16) -> (Child, Vec<String>, String) {
    let mut child = bin()
        .args([
            "dev",
            "--home",
            home.to_str().unwrap(),
            "--port",
            &port.to_string(),
            "--p2p-port",
            &p2p.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut urls = Vec::new();
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("dev network (") {
                banner = line.clone();
            }
            if let Some(rest) = line.split(" API:  ").nth(1) {
                urls.push(rest.split_whitespace().next().unwrap().to_string());
                if urls.len() == 4 {
                    let _ = tx.send((urls.clone(), banner.clone()));
                }
            }
        }
    });
    let (urls, banner) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("dev printed four API addresses");
    (child, urls, banner)
}

async fn height(http: &reqwest::Client, url: &str) -> Option<u64> {
    let v: serde_json::Value = http
        .get(format!("{url}/v1/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    // "starting": the API answers before the consensus engine runs; not ready yet.
    if v["consensus"]["mode"] == "starting" {
        return None;
    }
    assert_eq!(v["consensus"]["mode"], "bft", "{v}");
    v["height"].as_u64()
}

async fn wait_all(http: &reqwest::Client, urls: &[String], h: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for url in urls {
        while height(http, url).await.is_none_or(|x| x < h) {
            assert!(Instant::now() < deadline, "{url} did not reach height {h}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn interrupt_and_wait(mut child: Child) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "dev exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "dev did not stop within 60 s of Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_four_validators_stops_cleanly_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let port = free_base(4);
    let mut p2p = free_base(4);
    while p2p.abs_diff(port) < 4 {
        p2p += 4;
    }
    let http = reqwest::Client::new();

    let (child, urls, banner) = start_dev(&home, port, p2p);
    assert!(banner.contains("new"), "{banner}");
    assert_eq!(urls.len(), 4);
    wait_all(&http, &urls, 2).await;
    interrupt_and_wait(child);
    // Every validator stopped: nothing answers any more.
    for url in &urls {
        assert!(height(&http, url).await.is_none(), "{url} still answers after Ctrl-C");
    }
    // Each validator's data verifies after the stop.
    for i in 0..4 {
        let out = common::ok(&[
            "verify",
            "--home",
            home.join(format!("node{i}")).to_str().unwrap(),
            "--quiet",
        ]);
        assert!(out.starts_with("ok:"), "{out}");
    }

    let (child, urls, banner) = start_dev(&home, port, p2p);
    assert!(banner.contains("resumed"), "{banner}");
    let resumed_at: u64 = banner
        .split("height ")
        .nth(1)
        .and_then(|r| r.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{banner}"));
    assert!(resumed_at >= 2, "{banner}");
    wait_all(&http, &urls, resumed_at + 2).await;
    interrupt_and_wait(child);
}
