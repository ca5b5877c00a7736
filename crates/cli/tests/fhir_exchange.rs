//! The health records exchange on a real four-validator network (separate processes,
//! loopback sockets): FHIR writes at Hospital A's node, consented and refused reads from
//! Clinic B's node, break-glass, revocation, a custodian that alters data, audit that
//! survives SIGKILL, proofs, export, erasure — and no marker from any record in any
//! block, log or state byte.

mod common;

use std::time::{Duration, Instant};

use common::fhir::{
    Answer, Member, admin, answer, assertion, condition, fhir, observation, patient, register, resources, submit,
    token, token_request,
};
use common::net::Net;
use medledger_ledger::Payload;
use medledger_ledger::consent::grant::ConsentGrant;
use medledger_ledger::consent::{ConsentScope, Grantee, Purpose};
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::revoke_member::RevokeMember;
use medledger_ledger::identity::vote_org::VoteOrg;
use medledger_ledger::research::study::RegisterStudy;
use medledger_types::{MemberId, OrgId};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);
const A: usize = 0; // hospital-a
const B: usize = 1; // clinic-b

/// A rendered ledger consent is itself valid FHIR R4.
fn app_validates_consent(c: &Value) {
    let v = medledger_fhir::Validator::new().unwrap();
    v.validate(c).unwrap_or_else(|e| panic!("{e}: {:?}", e.issues()));
}

fn marker() -> String {
    let mut b = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("CANARY{}", hex::encode_upper(b))
}

fn grant(patient: &str, id: &str, grantee: Grantee, types: &[&str], purposes: Vec<Purpose>) -> Payload {
    Payload::ConsentGrant(ConsentGrant {
        consent_id: id.into(),
        patient: patient.into(),
        grantee,
        scope: ConsentScope::Types(types.iter().map(|s| s.to_string()).collect()),
        purposes,
        expires: None,
    })
}

async fn access_log(net: &Net, i: usize, token: &str, patient: &str) -> Vec<Value> {
    let a = fhir(
        net,
        i,
        "GET",
        &format!("/AuditEvent?patient={patient}&_count=1000"),
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    resources(&a.body)
        .into_iter()
        .filter(|r| r["id"].as_str().is_some_and(|id| id.starts_with("ledger-")))
        .collect()
}

fn by(events: &[Value], who: &str, subtype: &str, outcome: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            e["agent"][0]["who"]["identifier"]["value"] == who
                && e["subtype"][0]["code"] == subtype
                && e["outcome"] == outcome
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_exchange_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 1, T).await;
    }
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let mut markers = Vec::new();

    let dr_a = register(&net, A, "hospital-a", "dr-a", MemberKind::Practitioner).await;
    let dr_b = register(&net, B, "clinic-b", "dr-b", MemberKind::Practitioner).await;
    let svc_b = admin(&net, "clinic-b");
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let tb = token(&net, B, &dr_b, "user/*.rs").await;

    // --- Capability statement and discovery.
    let meta = fhir(&net, A, "GET", "/metadata", None, None, &[]).await;
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body["fhirVersion"], "4.0.1");
    // Generated from what is implemented: every R4 type with HL7's search parameters.
    let types = meta.body["rest"][0]["resource"].as_array().unwrap();
    assert_eq!(types.len(), 145);
    let obs = types.iter().find(|t| t["type"] == "Observation").unwrap();
    let params: Vec<&str> = obs["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "code",
        "patient",
        "subject",
        "date",
        "value-quantity",
        "_lastUpdated",
        "combo-code",
    ] {
        assert!(params.contains(&p), "{p}");
    }

    // --- Writes at Hospital A.
    let m1 = marker();
    markers.push(m1.clone());
    let p = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&patient(&m1)), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    assert!(
        p.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/Patient/{pid}/_history/1"))
    );
    let m2 = marker();
    markers.push(m2.clone());
    let o = fhir(
        &net,
        A,
        "POST",
        "/Observation",
        Some(&ta),
        Some(&observation(&pid, "8867-4", &m2, "2024-03-05T10:00:00Z")),
        &[],
    )
    .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let oid = o.body["id"].as_str().unwrap().to_string();
    let m3 = marker();
    markers.push(m3.clone());
    let c = fhir(
        &net,
        A,
        "POST",
        "/Condition",
        Some(&ta),
        Some(&condition(&pid, &m3)),
        &[],
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let cid = c.body["id"].as_str().unwrap().to_string();

    // Read, update, vread, history, If-Match.
    let r = fhir(&net, A, "GET", &format!("/Observation/{oid}"), Some(&ta), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["code"]["text"], format!("Note{m2}"));
    let mut v2 = r.body.clone();
    v2["status"] = json!("amended");
    let u = fhir(
        &net,
        A,
        "PUT",
        &format!("/Observation/{oid}"),
        Some(&ta),
        Some(&v2),
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["meta"]["versionId"], "2");
    let stale = fhir(
        &net,
        A,
        "PUT",
        &format!("/Observation/{oid}"),
        Some(&ta),
        Some(&v2),
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    let v1 = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation/{oid}/_history/1"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(v1.body["status"], "final");
    let h = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation/{oid}/_history"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(h.body["entry"].as_array().unwrap().len(), 2);
    assert_eq!(h.body["entry"][0]["resource"]["status"], "amended");

    // Search: patient, code, date, paging.
    let m4 = marker();
    markers.push(m4.clone());
    let o2 = fhir(
        &net,
        A,
        "POST",
        "/Observation",
        Some(&ta),
        Some(&observation(&pid, "2339-0", &m4, "2025-01-01")),
        &[],
    )
    .await;
    assert_eq!(o2.status, 201, "{}", o2.text);
    let s = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation?patient={pid}"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(s.body["entry"].as_array().unwrap().len(), 2, "{}", s.text);
    let s = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation?subject=Patient/{pid}&code=http://loinc.org|8867-4"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(s.body["entry"].as_array().unwrap().len(), 1, "{}", s.text);
    let s = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation?patient={pid}&date=ge2025-01-01"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(
        s.body["entry"][0]["resource"]["code"]["coding"][0]["code"], "2339-0",
        "{}",
        s.text
    );
    let s = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation?patient={pid}&_count=1"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(s.body["entry"].as_array().unwrap().len(), 1);
    let next = s.body["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = next.split("/fhir").nth(1).unwrap();
    let s2 = fhir(&net, A, "GET", path, Some(&ta), None, &[]).await;
    assert_eq!(s2.body["entry"].as_array().unwrap().len(), 1, "{}", s2.text);
    assert_ne!(
        s2.body["entry"][0]["resource"]["id"],
        s.body["entry"][0]["resource"]["id"]
    );

    // --- A transaction Bundle as Synthea writes them: urn:uuid fullUrls, a conditional
    // reference and ifNoneExist.
    let m5 = marker();
    markers.push(m5.clone());
    let org_entry = json!({"fullUrl": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000001",
        "resource": {"resourceType": "Organization", "name": format!("Org{m5}"),
                     "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": "org-1"}]},
        "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=https://github.com/synthetichealth/synthea|org-1"}});
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        org_entry.clone(),
        {"fullUrl": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000002", "resource": patient(&m5),
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000003",
         "resource": {"resourceType": "Encounter", "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                      "subject": {"reference": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000002"},
                      "serviceProvider": {"reference": "Organization?identifier=https://github.com/synthetichealth/synthea|org-1"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000004",
         "resource": observation("x", "8867-4", &m5, "2024-06-01"),
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let mut bundle = bundle;
    bundle["entry"][3]["resource"]["subject"]["reference"] = json!("urn:uuid:0e0e0e0e-0000-4000-8000-000000000002");
    bundle["entry"][3]["resource"]["encounter"] = json!({"reference": "urn:uuid:0e0e0e0e-0000-4000-8000-000000000003"});
    let tr = fhir(&net, A, "POST", "", Some(&ta), Some(&bundle), &[]).await;
    assert_eq!(tr.status, 200, "{}", tr.text);
    assert_eq!(tr.body["type"], "transaction-response");
    let statuses: Vec<&str> = tr.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201 Created"; 4]);
    let bundle_patient = tr.body["entry"][1]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_string();
    let enc = fhir(
        &net,
        A,
        "GET",
        &format!("/Encounter?patient={bundle_patient}"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    let enc = &enc.body["entry"][0]["resource"];
    assert!(
        enc["serviceProvider"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Organization/"),
        "{enc}"
    );
    assert_eq!(enc["subject"]["reference"], format!("Patient/{bundle_patient}"));
    // The same Organization again: ifNoneExist finds it, nothing new is written.
    let again = json!({"resourceType": "Bundle", "type": "batch", "entry": [org_entry]});
    let again = fhir(&net, A, "POST", "", Some(&ta), Some(&again), &[]).await;
    assert_eq!(again.body["entry"][0]["response"]["status"], "200 OK", "{}", again.text);
    // One bad entry fails the whole transaction, and nothing of it is written.
    let mut broken = bundle.clone();
    broken["entry"][3]["resource"]["status"] = json!("not-a-status");
    let before_enc = fhir(&net, A, "GET", "/Encounter?_count=0", Some(&ta), None, &[])
        .await
        .body["total"]
        .clone();
    let br = fhir(&net, A, "POST", "", Some(&ta), Some(&broken), &[]).await;
    assert_eq!(br.status, 400, "{}", br.text);
    assert!(br.diagnostics().starts_with("entry 3"), "{}", br.text);
    let after_enc = fhir(&net, A, "GET", "/Encounter?_count=0", Some(&ta), None, &[])
        .await
        .body["total"]
        .clone();
    assert_eq!(before_enc, after_enc);

    // --- Bad input: precise 4xx OperationOutcomes, nothing written.
    let count_obs = |net: &Net| {
        let net_urls = net.urls.clone();
        let http = net.http.clone();
        let ta = ta.clone();
        let pid = pid.clone();
        async move {
            let r = http
                .get(format!("{}/fhir/Observation?patient={pid}&_count=0", net_urls[A]))
                .header("authorization", format!("Bearer {ta}"))
                .send()
                .await
                .unwrap();
            answer(r).await.body["total"].as_u64().unwrap()
        }
    };
    let before = count_obs(&net).await;
    let mut bad = observation(&pid, "1", "x", "2024-01-01");
    bad["status"] = json!("not-a-status");
    let cases: Vec<(Answer, u16, &str)> = vec![
        (
            fhir(&net, A, "POST", "/Observation", Some(&ta), Some(&bad), &[]).await,
            400,
            "invalid",
        ),
        (
            fhir(
                &net,
                A,
                "POST",
                "/Observation",
                Some(&ta),
                Some(&json!({"resourceType": "Observation"})),
                &[],
            )
            .await,
            400,
            "invalid",
        ),
        (
            fhir(
                &net,
                A,
                "POST",
                "/Specimens",
                Some(&ta),
                Some(&json!({"resourceType": "Specimens"})),
                &[],
            )
            .await,
            404,
            "not-supported",
        ),
        (
            fhir(
                &net,
                A,
                "POST",
                "/Observation",
                Some(&ta),
                Some(&observation("no-such-patient", "1", "x", "2024-01-01")),
                &[],
            )
            .await,
            422,
            "processing",
        ),
        (
            fhir(
                &net,
                A,
                "POST",
                "/Observation",
                None,
                Some(&observation(&pid, "1", "x", "2024-01-01")),
                &[],
            )
            .await,
            401,
            "login",
        ),
        (
            fhir(
                &net,
                A,
                "POST",
                "/Observation",
                Some("garbage"),
                Some(&observation(&pid, "1", "x", "2024-01-01")),
                &[],
            )
            .await,
            401,
            "login",
        ),
        (
            fhir(
                &net,
                B,
                "POST",
                "/Observation",
                Some(&tb),
                Some(&observation(&pid, "1", "x", "2024-01-01")),
                &[],
            )
            .await,
            403,
            "forbidden",
        ),
    ];
    for (i, (a, status, code)) in cases.iter().enumerate() {
        assert_eq!(a.status, *status, "case {i}: {}", a.text);
        assert!(a.is_outcome(), "case {i}: {}", a.text);
        assert_eq!(a.body["issue"][0]["code"], *code, "case {i}: {}", a.text);
    }
    let wrong_type = net
        .http
        .post(format!("{}/fhir/Observation", net.urls[A]))
        .header("authorization", format!("Bearer {ta}"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let wrong_type = answer(wrong_type).await;
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.text);
    let huge = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x".repeat(2 << 20)}});
    let huge = fhir(&net, A, "POST", "/Observation", Some(&ta), Some(&huge), &[]).await;
    assert_eq!(huge.status, 413, "{}", huge.text);
    assert!(huge.is_outcome());
    let expired = token_request(&net, A, &assertion(&dr_a, &net.urls[A], -5), "user/*.rs").await;
    assert_eq!(expired.status, 401, "{}", expired.text);
    assert_eq!(expired.body["error"], "invalid_client");
    let narrow = token(&net, A, &dr_a, "user/Patient.rs").await;
    let a = fhir(
        &net,
        A,
        "POST",
        "/Observation",
        Some(&narrow),
        Some(&observation(&pid, "1", "x", "2024-01-01")),
        &[],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(count_obs(&net).await, before, "a refused write changed something");

    // --- Cross-organisation: refused without consent, and the refusal is audited.
    let denied = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&tb), None, &[]).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let s = fhir(
        &net,
        B,
        "GET",
        &format!("/Observation?patient={pid}"),
        Some(&tb),
        None,
        &[],
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        s.body["entry"].as_array().map_or(0, Vec::len),
        0,
        "search leaked: {}",
        s.text
    );

    // The patient holds a key and decides.
    let pat = register(&net, A, "hospital-a", &pid, MemberKind::Patient).await;
    // Another patient of the same hospital, enrolled under their own Patient record.
    let p2 = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&patient("other")), &[]).await;
    assert_eq!(p2.status, 201, "{}", p2.text);
    let pid2 = p2.body["id"].as_str().unwrap().to_string();
    let other = register(&net, A, "hospital-a", &pid2, MemberKind::Patient).await;
    let forged = submit(
        &net,
        A,
        &other.key,
        grant(
            &pid,
            "forged",
            Grantee::Org(OrgId::new("clinic-b").unwrap()),
            &["*"],
            vec![Purpose::Treatment],
        ),
    )
    .await;
    assert_ne!(forged["outcome"], 0, "a patient granted consent for another: {forged}");
    let g = submit(
        &net,
        A,
        &pat.key,
        grant(
            &pid,
            "c1",
            Grantee::Org(OrgId::new("clinic-b").unwrap()),
            &["Observation", "Patient"],
            vec![Purpose::Treatment],
        ),
    )
    .await;
    assert_eq!(g["outcome"], 0, "{g}");
    // Node B decides on its own copy of the ledger: wait until it has the block.
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    // The patient sees the consent as a FHIR Consent resource.
    let tp0 = token(&net, A, &pat, "patient/*.rs").await;
    let consents = fhir(
        &net,
        A,
        "GET",
        &format!("/Consent?patient={pid}"),
        Some(&tp0),
        None,
        &[],
    )
    .await;
    assert_eq!(consents.status, 200, "{}", consents.text);
    let c1 = &consents.body["entry"][0]["resource"];
    assert_eq!(c1["id"], "ledger-c1", "{}", consents.text);
    assert_eq!(c1["status"], "active");
    assert_eq!(
        c1["provision"]["actor"][0]["reference"]["identifier"]["value"],
        "clinic-b"
    );
    assert_eq!(c1["provision"]["class"][1]["code"], "Patient");
    app_validates_consent(c1);
    let consent_c1 = c1.clone();

    let ok = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&tb), None, &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["code"]["text"], format!("Note{m2}"));
    assert_eq!(ok.body["status"], "amended");
    // Concurrent reads through B go to A together (batched node-to-node requests), each
    // item answered and checked on its own: versions 2 and 1 interleaved.
    let many = futures::future::join_all((0..16).map(|i| {
        let path = if i % 2 == 0 {
            format!("/Observation/{oid}")
        } else {
            format!("/Observation/{oid}/_history/1")
        };
        let (net, tb) = (&net, &tb);
        async move { fhir(net, B, "GET", &path, Some(tb), None, &[]).await }
    }))
    .await;
    for (i, r) in many.iter().enumerate() {
        assert_eq!(r.status, 200, "read {i}: {}", r.text);
        assert_eq!(
            r.body["status"],
            if i % 2 == 0 { "amended" } else { "final" },
            "read {i}"
        );
    }
    let s = fhir(
        &net,
        B,
        "GET",
        &format!("/Observation?patient={pid}"),
        Some(&tb),
        None,
        &[],
    )
    .await;
    assert_eq!(s.body["entry"].as_array().unwrap().len(), 2, "{}", s.text);
    let research = fhir(
        &net,
        B,
        "GET",
        &format!("/Observation/{oid}"),
        Some(&tb),
        None,
        &[("x-medledger-purpose", "research")],
    )
    .await;
    assert_eq!(research.status, 403, "purpose not granted: {}", research.text);
    // A research study: Pharmacy C sponsors it and names dr-b as investigator; the
    // patient's consent to the study opens the record to dr-b, for research only.
    let st = submit(
        &net,
        A,
        &admin(&net, "pharmacy-c").key,
        Payload::RegisterStudy(RegisterStudy {
            study: "trial-7".into(),
            investigators: vec![(OrgId::new("clinic-b").unwrap(), MemberId::new("dr-b").unwrap())],
        }),
    )
    .await;
    assert_eq!(st["outcome"], 0, "{st}");
    let sg = submit(
        &net,
        A,
        &pat.key,
        grant(
            &pid,
            "study-1",
            Grantee::Study("trial-7".into()),
            &["Observation"],
            vec![Purpose::Research],
        ),
    )
    .await;
    assert_eq!(sg["outcome"], 0, "{sg}");
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    let research = fhir(
        &net,
        B,
        "GET",
        &format!("/Observation/{oid}"),
        Some(&tb),
        None,
        &[("x-medledger-purpose", "research")],
    )
    .await;
    assert_eq!(research.status, 200, "investigator, research: {}", research.text);
    let withdrawn = submit(
        &net,
        A,
        &pat.key,
        Payload::ConsentRevoke(medledger_ledger::consent::revoke::ConsentRevoke {
            patient: pid.clone(),
            consent_id: "study-1".into(),
        }),
    )
    .await;
    assert_eq!(withdrawn["outcome"], 0, "{withdrawn}");
    // Condition is not covered; break-glass is allowed and flagged.
    let cond = fhir(&net, B, "GET", &format!("/Condition/{cid}"), Some(&tb), None, &[]).await;
    assert_eq!(cond.status, 403);
    let glass = fhir(
        &net,
        B,
        "GET",
        &format!("/Condition/{cid}"),
        Some(&tb),
        None,
        &[("x-medledger-break-glass", "unconscious in ER")],
    )
    .await;
    assert_eq!(glass.status, 200, "{}", glass.text);

    // A custodian that alters data is caught.
    net.stop(A);
    net.start(A, &[("MEDLEDGER_TEST_TAMPER_CUSTODY", "1")]);
    net.wait_height(A, 1, T).await;
    let tampered = {
        let deadline = Instant::now() + T;
        loop {
            let r = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&tb), None, &[]).await;
            if r.status != 502 || r.diagnostics().contains("does not match") || Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert_eq!(tampered.status, 502, "{}", tampered.text);
    assert!(tampered.diagnostics().contains("does not match"), "{}", tampered.text);
    net.stop(A);
    net.start(A, &[]);
    net.wait_height(A, 1, T).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;

    // Revocation takes effect at the next block. The patient withdraws it the FHIR way:
    // the Consent they were shown, marked inactive, signed with their key by the CLI.
    let mut withdrawn = consent_c1;
    withdrawn["status"] = "inactive".into();
    let file = dir.path().join("withdraw-c1.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&withdrawn).unwrap()).unwrap();
    let key_file = dir.path().join("patient-key.json");
    medledger_node::home::write_key(&key_file, &pat.key).unwrap();
    let rv = common::ok(&[
        "tx",
        "consent-import",
        "--key",
        key_file.to_str().unwrap(),
        "--node",
        &net.urls[A],
        "--ca",
        net.ca.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let rv: Value = serde_json::from_str(&rv).unwrap();
    assert_eq!(rv["outcome"], 0, "{rv}");
    let h = net.height(B).await.unwrap();
    net.wait_height(B, h, T).await;
    let after = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&tb), None, &[]).await;
    assert_eq!(after.status, 403, "{}", after.text);
    let tp1 = token(&net, A, &pat, "patient/*.rs").await;
    let consents = fhir(
        &net,
        A,
        "GET",
        &format!("/Consent?patient={pid}"),
        Some(&tp1),
        None,
        &[],
    )
    .await;
    assert_eq!(
        consents.body["entry"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        consents.text
    );

    // --- Audit that survives SIGKILL: answered, then killed at once.
    let read = fhir(
        &net,
        A,
        "GET",
        &format!("/Condition/{cid}/_history/1"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(read.status, 200);
    net.kill(A);
    net.start(A, &[]);
    net.wait_height(A, 1, T).await;
    let tp = token(&net, A, &pat, "patient/*.rs").await;
    // Tokens live in the node's memory: the restarted node issues new ones.
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    // Entries reach the ledger within a few blocks; the vread answered just before the
    // SIGKILL is among them, anchored after the restart from the journal.
    let deadline = Instant::now() + T;
    let log = loop {
        let log = access_log(&net, A, &tp, &pid).await;
        let complete = by(&log, "hospital-a/dr-a", "vread", "0") >= 1
            && by(&log, "clinic-b/dr-b", "read", "4") >= 2
            && by(&log, "clinic-b/dr-b", "read", "0") >= 1
            // The read the tampering custodian served is recorded as failed by the node
            // that caught it.
            && log.iter().any(|e| {
                e["agent"][0]["who"]["identifier"]["value"] == "clinic-b/dr-b"
                    && e["subtype"][0]["code"] == "read"
                    && e["outcome"] == "8"
                    && e["source"]["observer"]["identifier"]["value"] == "clinic-b"
            })
            && log
                .iter()
                .any(|e| e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT");
        if complete {
            break log;
        }
        let summary: Vec<String> = log
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["agent"][0]["who"]["identifier"]["value"], e["subtype"][0]["code"], e["outcome"]
                )
            })
            .collect();
        assert!(
            Instant::now() < deadline,
            "audited accesses missing from the ledger: {summary:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The patient sees who looked, refused attempts and the flagged break-glass read,
    // each with a receipt that verifies against genesis.
    let glass_ev = log
        .iter()
        .find(|e| e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT")
        .expect("the break-glass read is shown to the patient");
    assert_eq!(glass_ev["agent"][0]["who"]["identifier"]["value"], "clinic-b/dr-b");
    let ext = glass_ev["extension"][0]["extension"].as_array().unwrap();
    let receipt = ext.iter().find(|e| e["url"] == "receipt").unwrap()["valueString"]
        .as_str()
        .unwrap();
    let receipt: medledger_node::Receipt = serde_json::from_str(receipt).unwrap();
    receipt.verify(&genesis).expect("the audit receipt verifies");

    // --- $verify: the anchor, its receipt, and the ciphertext hashing to it.
    let v = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation/{oid}/_history/2/$verify"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    assert_eq!(v.status, 200, "{}", v.text);
    let param = |name: &str| {
        v.body["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    let receipt: medledger_node::Receipt =
        serde_json::from_str(param("receipt")["valueString"].as_str().unwrap()).unwrap();
    receipt.verify(&genesis).expect("the anchor receipt verifies");
    use base64::Engine;
    let ct = base64::engine::general_purpose::STANDARD
        .decode(param("ciphertext")["valueBase64Binary"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        medledger_types::Hash32::digest(&[&ct]).to_hex(),
        param("ciphertextSha256")["valueString"].as_str().unwrap()
    );

    // --- Export: the patient downloads everything, as a Bundle and as NDJSON.
    let all = fhir(
        &net,
        A,
        "GET",
        &format!("/Patient/{pid}/$everything"),
        Some(&tp),
        None,
        &[],
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let types: Vec<&str> = all.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(
        types.contains(&"Patient") && types.contains(&"Observation") && types.contains(&"Condition"),
        "{types:?}"
    );
    let nd = fhir(
        &net,
        A,
        "GET",
        &format!("/Patient/{pid}/$everything?_format=ndjson"),
        Some(&tp),
        None,
        &[],
    )
    .await;
    assert_eq!(nd.text.lines().count(), 4, "{}", nd.text);
    for line in nd.text.lines() {
        serde_json::from_str::<Value>(line).expect("each NDJSON line is a resource");
    }

    // --- Revoked member: its token stops.
    let rv = submit(
        &net,
        B,
        &svc_b.key,
        Payload::RevokeMember(RevokeMember {
            org: OrgId::new("clinic-b").unwrap(),
            member: MemberId::new("dr-b").unwrap(),
        }),
    )
    .await;
    assert_eq!(rv["outcome"], 0, "{rv}");
    let gone = fhir(&net, B, "GET", &format!("/Patient/{pid}"), Some(&tb), None, &[]).await;
    assert_eq!(gone.status, 401, "{}", gone.text);

    // --- Erasure: keys and ciphertexts destroyed, 410 everywhere, chain still verifies.
    // It needs the delete scope, which the patient asks for.
    let e = fhir(&net, A, "POST", &format!("/Patient/{pid}/$erase"), Some(&tp), None, &[]).await;
    assert_eq!(e.status, 403, "erasure without the delete scope: {}", e.text);
    let tp = token(&net, A, &pat, "patient/*.rds").await;
    let e = fhir(&net, A, "POST", &format!("/Patient/{pid}/$erase"), Some(&tp), None, &[]).await;
    assert_eq!(e.status, 200, "{}", e.text);
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    let r = fhir(&net, A, "GET", &format!("/Observation/{oid}"), Some(&ta), None, &[]).await;
    assert_eq!(r.status, 410, "{}", r.text);
    let admin_b = token(&net, B, &svc_b, "system/*.rs").await;
    let r = fhir(&net, B, "GET", &format!("/Patient/{pid}"), Some(&admin_b), None, &[]).await;
    assert_eq!(r.status, 410, "{}", r.text);

    // --- The consortium suspends Clinic B: four other organisations' admins vote (the
    // default quorum for the seven organisations: four care orgs and the supply chain's
    // manufacturer, wholesaler and regulator). One vote changes nothing.
    let suspend = || {
        Payload::VoteOrg(VoteOrg {
            org: OrgId::new("clinic-b").unwrap(),
            suspend: true,
        })
    };
    let v1 = submit(&net, A, &admin(&net, "hospital-a").key, suspend()).await;
    assert_eq!(v1["outcome"], 0, "{v1}");
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    let r = fhir(&net, B, "GET", &format!("/Patient/{pid}"), Some(&admin_b), None, &[]).await;
    assert_eq!(r.status, 410, "one vote suspended clinic-b: {}", r.text);
    for voter in ["pharmacy-c", "insurer-d", "maker-m"] {
        let v = submit(&net, A, &admin(&net, voter).key, suspend()).await;
        assert_eq!(v["outcome"], 0, "{voter}: {v}");
    }
    let h = net.height(A).await.unwrap();
    net.wait_height(B, h, T).await;
    // Its members' tokens stop, new ones are refused, and its keys cannot sign.
    let r = fhir(&net, B, "GET", &format!("/Patient/{pid}"), Some(&admin_b), None, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.is_outcome() && r.diagnostics().contains("suspended"), "{}", r.text);
    let url_b = net.urls[B].clone();
    let refused = token_request(&net, B, &assertion(&svc_b, &url_b, 60), "system/*.rs").await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert!(refused.text.contains("suspended"), "{}", refused.text);
    let tx = submit(
        &net,
        B,
        &svc_b.key,
        grant(
            &pid,
            "late",
            Grantee::Org(OrgId::new("clinic-b").unwrap()),
            &["*"],
            vec![Purpose::Treatment],
        ),
    )
    .await;
    assert!(tx.to_string().contains("org_suspended"), "{tx}");

    // --- Canary: no marker in any byte any node keeps (blocks, state, logs, blobs, journal).
    let h = net.height(A).await.unwrap();
    for i in 0..4 {
        net.wait_height(i, h, T).await;
    }
    net.stop_all();
    for i in 0..4 {
        net.verify(i);
    }
    let mut files = Vec::new();
    let mut stack = vec![net.dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    assert!(files.len() > 10);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for m in &markers {
            assert!(
                !bytes.windows(m.len()).any(|w| w == m.as_bytes()),
                "marker {m} found in {}",
                f.display()
            );
        }
    }
    let _ = Member::client_id;
}
