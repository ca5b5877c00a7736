//! Authorisation as tables, on a two-organisation network (Hospital A holds the records;
//! Clinic B reads them through its own node), over HTTPS with mutual TLS between the
//! nodes:
//!
//! 1. reads: (caller × consent state × read, vread, history, search, `$everything`,
//!    `$verify`) → allowed or denied. Callers include a patient registered at the second
//!    organisation, a device and a privacy officer of it, whom an organisation-wide
//!    consent does not cover. Every denial must show up, attributed, in the patient's
//!    access log on the ledger.
//! 2. writes and operations: (caller × batch create, transaction create, conditional
//!    create by identifier, access log, consents, `$erase`) → the status each gets, and a
//!    refused write writes nothing.
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
use serde_json::{Value, json};

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
    Everything,
    Verify,
}

const ACTIONS: [Action; 6] = [
    Action::Read,
    Action::Vread,
    Action::History,
    Action::Search,
    Action::Everything,
    Action::Verify,
];

/// What a caller gets for an action under a consent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Allowed,
    /// Refused by the access policy (403, audited).
    Denied,
    /// Refused by the token's scopes before anything else (403, audited).
    NoScope,
}

struct Role {
    name: &'static str,
    member: Member,
    node: usize,
    scope: &'static str,
    want: fn(Consent, Action) -> Want,
}

fn consent_only(c: Consent, _: Action) -> Want {
    if c == Consent::Granted {
        Want::Allowed
    } else {
        Want::Denied
    }
}

async fn set_height_everywhere(net: &Net) {
    let h = net.height(A).await.unwrap().max(net.height(B).await.unwrap());
    net.wait_height(A, h, T).await;
    net.wait_height(B, h, T).await;
}

/// How a denied action shows in the access log (`AuditEvent.subtype`).
fn subtype(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Vread => "vread",
        Action::History => "history-instance",
        Action::Search => "search-type",
        Action::Everything | Action::Verify => "operation",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_tables() {
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
    // Another patient of A, and a patient of B (each enrolled by the holder of their
    // Patient record).
    let p2 = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&patient("other-a")), &[]).await;
    let pid2 = p2.body["id"].as_str().unwrap().to_string();
    let admin_b = common::fhir::admin(&net, "clinic-b");
    let tb_admin = token(&net, B, &admin_b, "system/*.cruds").await;
    let p3 = fhir(
        &net,
        B,
        "POST",
        "/Patient",
        Some(&tb_admin),
        Some(&patient("at-b")),
        &[],
    )
    .await;
    assert_eq!(p3.status, 201, "{}", p3.text);
    let pid3 = p3.body["id"].as_str().unwrap().to_string();

    let roles = vec![
        Role {
            name: "custodian practitioner",
            member: dr_a.clone(),
            node: A,
            scope: "user/*.rs",
            want: |_, _| Want::Allowed,
        },
        Role {
            name: "other-org practitioner",
            member: register(&net, B, "clinic-b", "dr-b", MemberKind::Practitioner).await,
            node: B,
            scope: "user/*.rs",
            want: consent_only,
        },
        Role {
            name: "other-org service",
            member: register(&net, B, "clinic-b", "billing", MemberKind::Service).await,
            node: B,
            scope: "system/*.rs",
            want: consent_only,
        },
        Role {
            name: "the patient",
            member: register(&net, A, "hospital-a", &pid, MemberKind::Patient).await,
            node: A,
            scope: "patient/*.rs",
            want: |_, _| Want::Allowed,
        },
        Role {
            name: "another patient",
            member: register(&net, A, "hospital-a", &pid2, MemberKind::Patient).await,
            node: A,
            scope: "patient/*.rs",
            want: |_, _| Want::Denied,
        },
        Role {
            name: "a patient of the grantee organisation",
            member: register(&net, B, "clinic-b", &pid3, MemberKind::Patient).await,
            node: B,
            scope: "patient/*.rs",
            want: |_, _| Want::Denied,
        },
        Role {
            name: "a device of the grantee organisation",
            member: register(&net, B, "clinic-b", "monitor-1", MemberKind::Device).await,
            node: B,
            scope: "system/Observation.r",
            // It may read Observations by scope, but no consent covers a device; search
            // and the Patient of `$everything` are outside its scopes.
            want: |_, a| match a {
                Action::Search | Action::Everything => Want::NoScope,
                _ => Want::Denied,
            },
        },
        Role {
            name: "a privacy officer of the grantee organisation",
            member: register(&net, B, "clinic-b", "privacy-b", MemberKind::Privacy).await,
            node: B,
            scope: "system/*.rs",
            want: |_, _| Want::Denied,
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
                        scope: ConsentScope::Types(vec!["Observation".into(), "Patient".into()]),
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
            for action in ACTIONS {
                let want = (role.want)(state, action);
                let path = match action {
                    Action::Read => format!("/Observation/{oid}"),
                    Action::Vread => format!("/Observation/{oid}/_history/1"),
                    Action::History => format!("/Observation/{oid}/_history"),
                    Action::Search => format!("/Observation?patient={pid}"),
                    Action::Everything => format!("/Patient/{pid}/$everything"),
                    Action::Verify => format!("/Observation/{oid}/_history/1/$verify"),
                };
                let a = fhir(&net, role.node, "GET", &path, Some(tok), None, &[]).await;
                let what = format!("{} / {state:?} / {action:?}: {}", role.name, a.text);
                if action == Action::Search && want != Want::NoScope {
                    // Search never refuses; it must not leak what the caller may not read.
                    assert_eq!(a.status, 200, "{what}");
                    let n = a.body["entry"].as_array().map_or(0, |e| {
                        e.iter()
                            .filter(|x| x["resource"]["resourceType"] == "Observation")
                            .count()
                    });
                    assert_eq!(n, usize::from(want == Want::Allowed), "{what}");
                    assert!(!a.text.contains("could not"), "{what}");
                } else if want == Want::Allowed {
                    assert_eq!(a.status, 200, "{what}");
                    let shows = |v: &Value| v.to_string().contains(&oid);
                    assert!(shows(&a.body), "{what}");
                } else {
                    assert_eq!(a.status, 403, "{what}");
                    assert_eq!(a.body["resourceType"], "OperationOutcome", "{what}");
                    if want == Want::NoScope {
                        assert!(a.diagnostics().contains("scopes"), "{what}");
                    }
                    *expected_denials
                        .entry((role.member.client_id(), subtype(action)))
                        .or_default() += 1;
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, roles.len() * 3 * ACTIONS.len());

    // Every denial is on the ledger, attributed, in the patient's access log.
    let tp = token(&net, A, &pat, "patient/*.rs").await;
    let deadline = Instant::now() + T;
    loop {
        let log = fhir(
            &net,
            A,
            "GET",
            &format!("/AuditEvent?patient={pid}&_count=1000"),
            Some(&tp),
            None,
            &[],
        )
        .await;
        assert_eq!(log.status, 200, "{}", log.text);
        let mut denied: BTreeMap<(String, &str), usize> = BTreeMap::new();
        for e in log.body["entry"].as_array().cloned().unwrap_or_default() {
            let r: &Value = &e["resource"];
            // Denials as the reading node recorded them (the custodian records only what
            // reached it).
            let observer = r["source"]["observer"]["identifier"]["value"].as_str().unwrap_or("");
            let who = r["agent"][0]["who"]["identifier"]["value"].as_str().unwrap_or("");
            if r["outcome"] == "4" && who.starts_with(observer) {
                let sub = match r["subtype"][0]["code"].as_str().unwrap_or("") {
                    "read" => "read",
                    "vread" => "vread",
                    "history-instance" => "history-instance",
                    "search-type" => "search-type",
                    "operation" => "operation",
                    _ => "other",
                };
                *denied.entry((who.to_string(), sub)).or_default() += 1;
            }
        }
        if denied == expected_denials {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "denials on the ledger {denied:#?}, expected {expected_denials:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    writes_and_operations(&net, &pid, &roles).await;

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

/// Table 2: every caller, with the most its kind may hold, at Hospital A's node.
async fn writes_and_operations(net: &Net, pid: &str, roles: &[Role]) {
    let privacy_a = register(net, A, "hospital-a", "privacy-a", MemberKind::Privacy).await;
    let device_a = register(net, A, "hospital-a", "monitor-a", MemberKind::Device).await;
    let admin_a = common::fhir::admin(net, "hospital-a");
    let callers: Vec<(&str, Member, &str)> = vec![
        ("custodian practitioner", roles[0].member.clone(), "user/*.cruds"),
        ("custodian admin", admin_a, "system/*.cruds"),
        ("custodian privacy officer", privacy_a, "system/*.rds"),
        ("custodian device", device_a, "system/Observation.cr"),
        ("the patient", roles[3].member.clone(), "patient/*.rds"),
        ("another patient", roles[4].member.clone(), "patient/*.rds"),
        ("other-org practitioner", roles[1].member.clone(), "user/*.cruds"),
        ("other-org service", roles[2].member.clone(), "system/*.cruds"),
        ("other-org privacy officer", roles[7].member.clone(), "system/*.rds"),
    ];
    let obs = |marker: &str| observation(pid, "8867-4", marker, "2024-02-02");
    let count = |t: String| async move {
        let v = fhir(net, A, "GET", "/Observation?_count=0", Some(&t), None, &[]).await;
        v.body["total"].as_u64().unwrap()
    };
    let staff_token = token(net, A, &roles[0].member, "user/*.rs").await;
    for (name, member, scope) in callers {
        let t = token(net, A, &member, scope).await;
        let staff_writer = matches!(name, "custodian practitioner" | "custodian admin");
        let before = count(staff_token.clone()).await;
        // A batch: each entry is guarded on its own.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": obs("batch"), "request": {"method": "POST", "url": "Observation"}},
            {"resource": patient("batch"), "request": {"method": "POST", "url": "Patient"}},
        ]});
        let a = fhir(net, A, "POST", "", Some(&t), Some(&batch), &[]).await;
        assert_eq!(a.status, 200, "{name} batch: {}", a.text);
        let statuses: Vec<&str> = a.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap())
            .collect();
        let device = name == "custodian device";
        let want: Vec<&str> = match (staff_writer, device) {
            (true, _) => vec!["201 Created", "201 Created"],
            (false, true) => vec!["201 Created", "403 Forbidden"],
            _ => vec!["403 Forbidden", "403 Forbidden"],
        };
        assert_eq!(statuses, want, "{name} batch: {}", a.text);
        // A transaction: all or nothing.
        let tr = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": obs("tx"), "request": {"method": "POST", "url": "Observation"}},
        ]});
        let a = fhir(net, A, "POST", "", Some(&t), Some(&tr), &[]).await;
        assert_eq!(
            a.status,
            if staff_writer || device { 200 } else { 403 },
            "{name} transaction: {}",
            a.text
        );
        // A conditional create by identifier (the patient's MRN): only the custodian's
        // staff learn whether it matches, and the answer to others does not depend on it.
        for value in ["MRNauthz", "MRN-that-does-not-exist"] {
            let cond = json!({"resourceType": "Bundle", "type": "batch", "entry": [
                {"resource": patient("cond"), "request": {"method": "POST", "url": "Patient",
                 "ifNoneExist": format!("identifier=urn:test:mrn|{value}")}},
            ]});
            let a = fhir(net, A, "POST", "", Some(&t), Some(&cond), &[]).await;
            let r = &a.body["entry"][0]["response"];
            if staff_writer {
                let expect = if value == "MRNauthz" { "200 OK" } else { "201 Created" };
                assert_eq!(r["status"], expect, "{name} lookup {value}: {}", a.text);
            } else {
                assert_eq!(r["status"], "403 Forbidden", "{name} lookup {value}: {}", a.text);
                assert!(r.get("location").is_none(), "{name} learned a location: {}", a.text);
            }
        }
        let after = count(staff_token.clone()).await;
        // One Observation from the batch and one from the transaction, for those who write.
        let written = if staff_writer || device { 2 } else { 0 };
        assert_eq!(after - before, written, "{name}: observations written");
        // The ledger's views of the patient.
        let may_view = matches!(name, "the patient" | "custodian privacy officer");
        for path in [format!("/AuditEvent?patient={pid}"), format!("/Consent?patient={pid}")] {
            let a = fhir(net, A, "GET", &path, Some(&t), None, &[]).await;
            assert_eq!(a.status, if may_view { 200 } else { 403 }, "{name} {path}: {}", a.text);
        }
    }
    // $erase: refused to everyone but the patient and the custodian's privacy officer
    // (erasure itself is exercised in the exchange test).
    for (name, member, scope) in [
        ("custodian practitioner", &roles[0].member, "user/*.cruds"),
        ("other-org privacy officer", &roles[7].member, "system/*.rds"),
        ("another patient", &roles[4].member, "patient/*.rds"),
    ] {
        let t = token(net, A, member, scope).await;
        let a = fhir(net, A, "POST", &format!("/Patient/{pid}/$erase"), Some(&t), None, &[]).await;
        assert_eq!(a.status, 403, "{name} $erase: {}", a.text);
    }
    let still = fhir(net, A, "GET", &format!("/Patient/{pid}"), Some(&staff_token), None, &[]).await;
    assert_eq!(still.status, 200, "{}", still.text);
}
