//! Kill a node with SIGKILL under load; after restart, every transaction it acknowledged
//! as committed is there, and `verify` finds the data folder clean.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::{read_key, supply_chain_orgs};
use medledger_types::tx::encode_batch;
use medledger_types::{ChainId, Hash32, MemberId, Nonce, OrgId, SignedTx, Tx};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transactions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let net = init_plain(dir.path(), 4);
    let home = net.join("node0");
    let genesis = medledger_node::home::read_genesis(&net.join("genesis.json")).unwrap();
    let node = NodeProcess::start(&home);
    let url = node.url.clone();

    let acked: Arc<Mutex<Vec<Hash32>>> = Arc::default();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    // One writer per care organisation (not the supply chain's members `init` adds).
    let members: Vec<OrgId> = supply_chain_orgs().into_iter().map(|o| o.0).collect();
    for org in genesis.orgs.iter().filter(|o| !members.contains(&o.id)) {
        let key = read_key(&net.join(format!("admins/{}.json", org.id))).unwrap();
        let chain: ChainId = genesis.chain_id.clone();
        let org_id: OrgId = org.id.clone();
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut nonce = 0u64;
            loop {
                let batch: Vec<SignedTx> = (0..40)
                    .map(|_| {
                        let p = Payload::RegisterMember(RegisterMember {
                            org: org_id.clone(),
                            member: MemberId::new(format!("m-{nonce}")).unwrap(),
                            kind: MemberKind::Device,
                            public_key: medledger_types::PublicKey(
                                Hash32::digest(&[org_id.as_str().as_bytes(), &nonce.to_le_bytes()]).0,
                            ),
                        });
                        let tx = key.sign_tx(Tx {
                            chain_id: chain.clone(),
                            signer: key.public(),
                            nonce: Nonce(nonce),
                            kind: p.kind(),
                            body: p.body(),
                        });
                        nonce += 1;
                        tx
                    })
                    .collect();
                let Ok(resp) = http
                    .post(format!("{url}/v1/txs?wait=true"))
                    .body(encode_batch(&batch))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(v) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                let Some(results) = v["results"].as_array() else { return };
                let mut acked = acked.lock().unwrap();
                for r in results {
                    if r["status"] == "committed" {
                        acked.push(r["hash"].as_str().unwrap().parse().unwrap());
                    }
                }
            }
        }));
    }

    eventually("600 acknowledged transactions", Duration::from_secs(120), async || {
        acked.lock().unwrap().len() >= 600
    })
    .await;
    node.kill();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("load task ends once the node is gone")
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 600);

    let node = NodeProcess::start(&home);
    for h in &acked {
        let v: serde_json::Value = http
            .get(format!("{}/v1/receipts/{h}", node.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["status"], "committed",
            "acknowledged transaction {h} is missing after the crash: {v}"
        );
    }
    node.stop();
    let out = ok(&["verify", "--home", home.to_str().unwrap(), "--quiet"]);
    assert!(out.starts_with("ok:"), "{out}");
}
