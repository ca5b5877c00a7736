//! FHIR Bulk Data Access, as a backend client does it, on a one-validator network:
//! kick-off with `Prefer: respond-async`, poll the status URL until the manifest comes,
//! download every NDJSON file, compare with what was loaded, and delete. Also: a
//! `_type`/`_since` export, Patient- and Group-level exports, refusals (no
//! `respond-async`, no `system/` scope, another client polling), and every exported
//! record audited on the ledger (action `export`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::fhir::{fhir, observation, patient, register, resources, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);
const ASYNC: (&str, &str) = ("prefer", "respond-async");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_export_as_a_client_does_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    net.start_all();
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let dr = register(&net, 0, "hospital-a", "dr-bulk", MemberKind::Practitioner).await;
    let svc = register(&net, 0, "hospital-a", "bulk-client", MemberKind::Service).await;
    let other = register(&net, 0, "hospital-a", "other-client", MemberKind::Service).await;
    let td = token(&net, 0, &dr, "user/*.cruds").await;
    let ts = token(&net, 0, &svc, "system/*.rs").await;
    let to = token(&net, 0, &other, "system/*.rs").await;

    // Five patients with three Observations each, a Location, and a Group of two.
    let mut loaded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pids = Vec::new();
    for n in 0..5 {
        let p = fhir(
            &net,
            0,
            "POST",
            "/Patient",
            Some(&td),
            Some(&patient(&format!("bulk{n}"))),
            &[],
        )
        .await;
        assert_eq!(p.status, 201, "{}", p.text);
        let pid = p.body["id"].as_str().unwrap().to_string();
        loaded.entry("Patient".into()).or_default().insert(pid.clone());
        for k in 0..3 {
            let o = observation(&pid, "8867-4", &format!("b{n}{k}"), &format!("2024-01-0{}", k + 1));
            let o = fhir(&net, 0, "POST", "/Observation", Some(&td), Some(&o), &[]).await;
            assert_eq!(o.status, 201);
            loaded
                .entry("Observation".into())
                .or_default()
                .insert(o.body["id"].as_str().unwrap().into());
        }
        pids.push(pid);
    }
    let loc = fhir(
        &net,
        0,
        "POST",
        "/Location",
        Some(&td),
        Some(&json!({"resourceType": "Location", "name": "Ward 9"})),
        &[],
    )
    .await;
    loaded
        .entry("Location".into())
        .or_default()
        .insert(loc.body["id"].as_str().unwrap().into());
    let group = json!({"resourceType": "Group", "type": "person", "actual": true,
        "member": [{"entity": {"reference": format!("Patient/{}", pids[0])}}, {"entity": {"reference": format!("Patient/{}", pids[1])}}]});
    let g = fhir(&net, 0, "POST", "/Group", Some(&td), Some(&group), &[]).await;
    assert_eq!(g.status, 201, "{}", g.text);
    let gid = g.body["id"].as_str().unwrap().to_string();
    loaded.entry("Group".into()).or_default().insert(gid.clone());

    // Refusals first: no respond-async, no system/ scope, an unknown parameter.
    let sync = fhir(&net, 0, "GET", "/$export", Some(&ts), None, &[]).await;
    assert_eq!(sync.status, 400, "{}", sync.text);
    let user = fhir(&net, 0, "GET", "/$export", Some(&td), None, &[ASYNC]).await;
    assert_eq!(user.status, 403, "{}", user.text);
    let odd = fhir(&net, 0, "GET", "/$export?_typeFilter=x", Some(&ts), None, &[ASYNC]).await;
    assert_eq!(odd.status, 400);

    // Kick-off, poll, manifest, download.
    let export = async |path: &str| -> (String, Value) {
        let k = fhir(&net, 0, "GET", path, Some(&ts), None, &[ASYNC]).await;
        assert_eq!(k.status, 202, "{path}: {}", k.text);
        let status = k.headers["content-location"].to_str().unwrap().to_string();
        let status_path = status.split("/fhir").nth(1).unwrap().to_string();
        let mut manifest = Value::Null;
        common::eventually("the export", T, async || {
            let s = fhir(&net, 0, "GET", &status_path, Some(&ts), None, &[]).await;
            match s.status {
                202 => {
                    assert!(s.headers.contains_key("x-progress") && s.headers.contains_key("retry-after"));
                    false
                }
                200 => {
                    manifest = s.body;
                    true
                }
                other => panic!("status {other}: {}", s.text),
            }
        })
        .await;
        (status_path, manifest)
    };
    let download = async |manifest: &Value| -> BTreeMap<String, BTreeSet<String>> {
        let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for o in manifest["output"].as_array().unwrap() {
            let url = o["url"].as_str().unwrap();
            let path = url.split("/fhir").nth(1).unwrap();
            let f = fhir(&net, 0, "GET", path, Some(&ts), None, &[]).await;
            assert_eq!(f.status, 200, "{}", f.text);
            assert_eq!(f.headers["content-type"], "application/fhir+ndjson");
            let lines: Vec<Value> = f.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len() as u64, o["count"].as_u64().unwrap());
            for r in lines {
                assert_eq!(r["resourceType"], o["type"]);
                got.entry(o["type"].as_str().unwrap().into())
                    .or_default()
                    .insert(r["id"].as_str().unwrap().into());
            }
        }
        got
    };
    let (status_path, manifest) = export("/$export").await;
    assert_eq!(manifest["requiresAccessToken"], true);
    assert!(manifest["transactionTime"].is_string());
    assert_eq!(download(&manifest).await, loaded);
    // Another client may not see it.
    assert_eq!(
        fhir(&net, 0, "GET", &status_path, Some(&to), None, &[]).await.status,
        404
    );

    // _type and _since.
    let (_, only_obs) = export("/$export?_type=Observation&_outputFormat=application/fhir%2Bndjson").await;
    let got = download(&only_obs).await;
    assert_eq!(got.keys().collect::<Vec<_>>(), ["Observation"]);
    let (_, nothing) = export("/$export?_since=2999-01-01T00:00:00Z").await;
    assert!(nothing["output"].as_array().unwrap().is_empty());

    // Group level: the two members' records and nothing of the others.
    let (_, by_group) = export(&format!("/Group/{gid}/$export")).await;
    let got = download(&by_group).await;
    assert_eq!(got["Patient"], pids[..2].iter().cloned().collect());
    assert_eq!(got["Observation"].len(), 6);
    assert!(
        !got.contains_key("Location"),
        "reference data is not in a patient's compartment"
    );
    let (_, by_patient) = export("/Patient/$export?_type=Patient,Observation").await;
    let got = download(&by_patient).await;
    assert_eq!(got["Patient"].len(), 5);
    assert_eq!(got["Observation"].len(), 15);

    // Delete: the status and the files are gone.
    let file_path = manifest["output"][0]["url"]
        .as_str()
        .unwrap()
        .split("/fhir")
        .nth(1)
        .unwrap()
        .to_string();
    let del = fhir(&net, 0, "DELETE", &status_path, Some(&ts), None, &[]).await;
    assert_eq!(del.status, 202, "{}", del.text);
    assert_eq!(
        fhir(&net, 0, "GET", &status_path, Some(&ts), None, &[]).await.status,
        404
    );
    assert_eq!(fhir(&net, 0, "GET", &file_path, Some(&ts), None, &[]).await.status, 404);

    // Every export is on the ledger: the patient's access log shows the exports.
    let privacy = register(&net, 0, "hospital-a", "privacy-bulk", MemberKind::Privacy).await;
    let tp = token(&net, 0, &privacy, "system/*.rs").await;
    common::eventually("export audits on the ledger", T, async || {
        let a = fhir(
            &net,
            0,
            "GET",
            &format!("/AuditEvent?patient={}&_count=1000", pids[0]),
            Some(&tp),
            None,
            &[],
        )
        .await;
        resources(&a.body)
            .iter()
            .filter(|e| {
                e["subtype"][0]["code"] == "operation"
                    && e["agent"][0]["who"]["identifier"]["value"] == "hospital-a/bulk-client"
            })
            .count()
            >= 4
    })
    .await;
    net.stop_all();
}
