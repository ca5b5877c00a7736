//! Authorisation as a table: (caller role × consent state × action) → allowed or denied,
//! on a two-organisation network (Hospital A holds the records; Clinic B reads them
//! through its own node). Every denial must show up, attributed, in the patient's access
//! log on the ledger.
//!
//! Hospital A keeps its encrypted records in an S3-compatible bucket (a real S3 server,
//! s3s-fs, with SigV4 authentication), configured in its config.toml; a wrong secret
//! keeps the node from starting.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::fhir::{Member, fhir, observation, patient, register, submit, token};
use common::net::Net;
use common::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use medledger_ledger::Payload;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::revoke::ConsentRevoke;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::MemberKind;
use medledger_types::OrgId;
use serde_json::Value;

const T: Duration = Duration::from_secs(120);
const A: usize = 0;
const B: usize = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Consent {
    None,
    Granted,
    Revoked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Read,
    Vread,
    History,
    Search,
}

struct Role {
    name: &'static str,
    member: Member,
    node: usize,
    scope: &'static str,
    /// Allowed under each consent state.
    allowed: fn(Consent) -> bool,
}

async fn set_height_everywhere(net: &Net) {
    let h = net.height(A).await.unwrap().max(net.height(B).await.unwrap());
    net.wait_height(A, h, T).await;
    net.wait_height(B, h, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 2);
    let s3 = S3Server::start(&dir.path().join("s3"), &["records"]).await;
    let config = net.homes[A].join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&s3.config("records", "hospital-a/blobs"));
    std::fs::write(&config, text).unwrap();
    net.start(
        A,
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        ],
    );
    let status = net.wait_exit(A, T);
    assert!(!status.success(), "node A started with a wrong S3 secret");
    assert!(
        net.log(A).contains("the blob store cannot be used"),
        "{}",
        common::net::tail(&net.log(A), 20)
    );
    net.start(
        A,
        &[("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)],
    );
    net.start(B, &[]);
    net.wait_height(A, 1, T).await;
    net.wait_height(B, 1, T).await;

    let dr_a = register(&net, A, "hospital-a", "dr-a", MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let p = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&patient("authz")), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    let o = fhir(
        &net,
        A,
        "POST",
        "/Observation",
        Some(&ta),
        Some(&observation(&pid, "8867-4", "authz", "2024-01-01")),
        &[],
    )
    .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let oid = o.body["id"].as_str().unwrap().to_string();

    let roles = vec![
        Role {
            name: "custodian practitioner",
            member: dr_a.clone(),
            node: A,
            scope: "user/*.rs",
            allowed: |_| true,
        },
        Role {
            name: "other-org practitioner",
            member: register(&net, B, "clinic-b", "dr-b", MemberKind::Practitioner).await,
            node: B,
            scope: "user/*.rs",
            allowed: |c| c == Consent::Granted,
        },
        Role {
            name: "other-org service",
            member: register(&net, B, "clinic-b", "billing", MemberKind::Service).await,
            node: B,
            scope: "system/*.rs",
            allowed: |c| c == Consent::Granted,
        },
        Role {
            name: "the patient",
            member: register(&net, A, "hospital-a", &pid, MemberKind::Patient).await,
            node: A,
            scope: "patient/*.rs",
            allowed: |_| true,
        },
        Role {
            name: "another patient",
            member: register(&net, A, "hospital-a", "someone-else", MemberKind::Patient).await,
            node: A,
            scope: "patient/*.rs",
            allowed: |_| false,
        },
    ];
    let pat = roles[3].member.clone();
    let mut tokens = Vec::new();
    for r in &roles {
        tokens.push(token(&net, r.node, &r.member, r.scope).await);
    }

    let mut expected_denials: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut checked = 0;
    for state in [Consent::None, Consent::Granted, Consent::Revoked] {
        match state {
            Consent::None => {}
            Consent::Granted => {
                let g = submit(
                    &net,
                    A,
                    &pat.key,
                    Payload::ConsentGrant(ConsentGrant {
                        consent_id: "c1".into(),
                        patient: pid.clone(),
                        grantee: Grantee::Org(OrgId::new("clinic-b").unwrap()),
                        scope: ConsentScope::Types(vec!["Observation".into()]),
                        purposes: vec![Purpose::Treatment, Purpose::Payment],
                        expires: None,
                    }),
                )
                .await;
                assert_eq!(g["outcome"], 0, "{g}");
            }
            Consent::Revoked => {
                let r = submit(
                    &net,
                    A,
                    &pat.key,
                    Payload::ConsentRevoke(ConsentRevoke {
                        patient: pid.clone(),
                        consent_id: "c1".into(),
                    }),
                )
                .await;
                assert_eq!(r["outcome"], 0, "{r}");
            }
        }
        set_height_everywhere(&net).await;
        for (role, tok) in roles.iter().zip(&tokens) {
            let allowed = (role.allowed)(state);
            for action in [Action::Read, Action::Vread, Action::History, Action::Search] {
                let path = match action {
                    Action::Read => format!("/Observation/{oid}"),
                    Action::Vread => format!("/Observation/{oid}/_history/1"),
                    Action::History => format!("/Observation/{oid}/_history"),
                    Action::Search => format!("/Observation?patient={pid}"),
                };
                let a = fhir(&net, role.node, "GET", &path, Some(tok), None, &[]).await;
                let what = format!("{} / {state:?} / {action:?}: {}", role.name, a.text);
                if action == Action::Search {
                    // Search never refuses; it must not leak what the caller may not read.
                    assert_eq!(a.status, 200, "{what}");
                    let n = a.body["entry"].as_array().map_or(0, |e| {
                        e.iter()
                            .filter(|x| x["resource"]["resourceType"] == "Observation")
                            .count()
                    });
                    assert_eq!(n, usize::from(allowed), "{what}");
                } else if allowed {
                    assert_eq!(a.status, 200, "{what}");
                    assert_eq!(
                        a.body["id"].as_str().or(a.body["entry"][0]["resource"]["id"].as_str()),
                        Some(oid.as_str()),
                        "{what}"
                    );
                } else {
                    assert_eq!(a.status, 403, "{what}");
                    assert_eq!(a.body["resourceType"], "OperationOutcome", "{what}");
                    let sub = match action {
                        Action::Read => "read",
                        Action::Vread => "vread",
                        _ => "history-instance",
                    };
                    *expected_denials.entry((role.member.client_id(), sub)).or_default() += 1;
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 3 * 4);

    // Every denial is on the ledger, attributed, in the patient's access log.
    let tp = &tokens[3];
    let deadline = Instant::now() + T;
    loop {
        let log = fhir(
            &net,
            A,
            "GET",
            &format!("/AuditEvent?patient={pid}&_count=1000"),
            Some(tp),
            None,
            &[],
        )
        .await;
        assert_eq!(log.status, 200, "{}", log.text);
        let mut denied: BTreeMap<(String, &str), usize> = BTreeMap::new();
        for e in log.body["entry"].as_array().cloned().unwrap_or_default() {
            let r: &Value = &e["resource"];
            if r["outcome"] == "4" {
                let who = r["agent"][0]["who"]["identifier"]["value"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let sub = match r["subtype"][0]["code"].as_str().unwrap_or("") {
                    "read" => "read",
                    "vread" => "vread",
                    "history-instance" => "history-instance",
                    _ => "other",
                };
                *denied.entry((who, sub)).or_default() += 1;
            }
        }
        if denied == expected_denials {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "denials on the ledger {denied:?}, expected {expected_denials:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A's records went to the bucket, as ciphertext, and nowhere on its disk.
    let objects = s3.objects("records", "hospital-a/blobs");
    assert!(objects.len() >= 2, "objects in the bucket: {objects:?}");
    for o in &objects {
        let bytes = std::fs::read(o).unwrap();
        assert!(
            !bytes.windows(b"authz".len()).any(|w| w == b"authz"),
            "plaintext in {}",
            o.display()
        );
    }
    let local = net.homes[A].join("data").join("blobs");
    assert!(
        std::fs::read_dir(&local).map_or(true, |mut d| d.next().is_none()),
        "A wrote blobs to {}",
        local.display()
    );
    net.stop_all();
}
