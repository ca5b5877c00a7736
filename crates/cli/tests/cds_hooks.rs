//! The CDS Hooks drug-monitoring service against a real 4-validator network (hospital-a,
//! clinic-b, pharmacy-c, insurer-d, with the regulator regulator-r as a member): Hospital
//! A's practitioners write Patient records and prescriptions, Pharmacy C fills them, and
//! the EHR asks Hospital A's node for cards while orders are signed or selected.
//! One network shared by the tests; each test has its own patients.

mod common;

use std::time::{Duration, Instant};

use common::fhir::{Answer, Member, admin, answer, fhir, register, submit, token};
use common::net::Net;
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::rx::dispense::RxDispense;
use medledger_ledger::rx::prescribe::RxPrescribe;
use medledger_ledger::rx::{DAY_MS, Medication, Order, RxCui, Schedule, Strength};
use medledger_types::{Hash32, MemberId, TimestampMs};
use serde_json::{Value, json};

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const UCUM: &str = "http://unitsofmeasure.org";
const SIGN: &str = "medledger-rx-monitor-sign";
const SELECT: &str = "medledger-rx-monitor-select";
const HOSPITAL: usize = 0;

// RxNorm ingredients of the drug table, and products.
const OXYCODONE: u32 = 7804;
const OXYCODONE_10MG: u32 = 1_049_683;
const LORAZEPAM: u32 = 6470;
const LORAZEPAM_1MG: u32 = 197_901;

/// Signing as one organisation's admin is serialised: its nonces must arrive in order.
static SIGNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn network() -> Net {
    common::net::shared(4, |_, _| {}, |_| Vec::new())
}

/// A new practitioner of `org` with a bearer token at Hospital A's node.
async fn practitioner(net: &Net, org: &str, name: &str) -> (Member, String) {
    let m = {
        let _turn = SIGNING.lock().await;
        register(net, HOSPITAL, org, name, MemberKind::Practitioner).await
    };
    let t = token(net, HOSPITAL, &m, "user/*.cruds").await;
    (m, t)
}

/// A Patient record written by the practitioner at Hospital A: its id, the pseudonym.
async fn new_patient(net: &Net, token: &str, marker: &str) -> String {
    let p = fhir(
        net,
        HOSPITAL,
        "POST",
        "/Patient",
        Some(token),
        Some(&common::fhir::patient(marker)),
        &[],
    )
    .await;
    assert_eq!(p.status, 201, "{}", p.text);
    p.body["id"].as_str().unwrap().to_string()
}

fn mg(product: u32, ingredient: u32, mg: u64) -> Medication {
    Medication {
        product: RxCui(product),
        ingredient: RxCui(ingredient),
        strength: Strength::Mg { milli: mg * 1000 },
    }
}

/// The practitioner prescribes (Schedule II for oxycodone, IV for lorazepam), 30 days.
async fn prescribe(net: &Net, dr: &Member, patient: &str, medication: Medication, quantity: u32) -> Hash32 {
    let id = Hash32::digest(&[&rand::random::<[u8; 16]>()]);
    let schedule = if medication.ingredient == RxCui(OXYCODONE) {
        Schedule::II
    } else {
        Schedule::IV
    };
    let answer = submit(
        net,
        HOSPITAL,
        &dr.key,
        Payload::RxPrescribe(RxPrescribe {
            id,
            order: Order {
                patient: patient.into(),
                prescriber: MemberId::new(&dr.member).unwrap(),
                medication,
                quantity,
                days_supply: 30,
                repeats: 0,
                schedule,
                valid_until: TimestampMs(medledger_node::node::now_ms().0 + 30 * DAY_MS),
            },
        }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "prescribing: {answer}");
    id
}

/// Pharmacy C fills the prescription: `quantity` units for 30 days.
async fn fill(net: &Net, prescription: Hash32, quantity: u32) {
    let _turn = SIGNING.lock().await;
    let answer = submit(
        net,
        HOSPITAL,
        &admin(net, "pharmacy-c").key,
        Payload::RxDispense(RxDispense {
            id: Hash32::digest(&[&rand::random::<[u8; 16]>()]),
            prescription,
            quantity,
            days_supply: 30,
            packs: Vec::new(),
        }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "dispensing: {answer}");
}

/// A draft MedicationRequest of `quantity` `strength_mg` tablets for 30 days, its
/// ingredient and strength in a contained Medication.
fn draft(id: &str, patient: &str, product: u32, ingredient: u32, strength_mg: u64, quantity: u32) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "id": id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": format!("Patient/{patient}")},
        "contained": [{
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": RXNORM, "code": product.to_string()}]},
            "ingredient": [{
                "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": ingredient.to_string()}]},
                "strength": {
                    "numerator": {"value": strength_mg, "system": UCUM, "code": "mg"},
                    "denominator": {"value": 1, "unit": "tablet"}
                }
            }]
        }],
        "medicationReference": {"reference": "#med"},
        "dispenseRequest": {
            "quantity": {"value": quantity, "unit": "tablet"},
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}
        }
    })
}

/// Oxycodone 10 mg tablets, `per_day` a day for 30 days: 15 MME/day each.
fn oxycodone_draft(id: &str, patient: &str, per_day: u32) -> Value {
    draft(id, patient, OXYCODONE_10MG, OXYCODONE, 10, per_day * 30)
}

fn hook_request(hook: &str, patient: &str, orders: Vec<Value>, selections: Option<Vec<&str>>) -> Value {
    let mut v = json!({
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/example",
            "patientId": patient,
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": orders.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()
            }
        }
    });
    if let Some(s) = selections {
        v["context"]["selections"] = json!(s);
    }
    v
}

async fn call_raw(net: &Net, service: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
    let mut req = net
        .http
        .post(format!("{}/cds-services/{service}", net.urls[HOSPITAL]))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

async fn call(net: &Net, service: &str, token: Option<&str>, request: &Value) -> Answer {
    call_raw(net, service, token, serde_json::to_vec(request).unwrap()).await
}

/// The cards of a 200 answer.
fn cards(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["cards"].as_array().unwrap().clone()
}

/// The daily MME cards among `cards`.
fn mme_cards(cards: &[Value]) -> Vec<&Value> {
    cards
        .iter()
        .filter(|c| c["summary"].as_str().unwrap().contains("MME/day"))
        .collect()
}

fn indicators(cards: &[Value]) -> Vec<&str> {
    cards.iter().map(|c| c["indicator"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_the_order_sign_and_order_select_services() {
    let net = network();
    let a = answer(
        net.http
            .get(format!("{}/cds-services", net.urls[HOSPITAL]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let services = a.body["services"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = services
        .iter()
        .map(|s| (s["hook"].as_str().unwrap(), s["id"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, vec![("order-sign", SIGN), ("order-select", SELECT)]);
    for s in services {
        assert!(!s["title"].as_str().unwrap().is_empty());
        assert!(!s["description"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mme_card_goes_from_warning_to_critical_as_a_draft_adds_up() {
    let net = network();
    let (dr, t) = practitioner(&net, "hospital-a", "dr-mme").await;
    let pid = new_patient(&net, &t, "mme").await;
    // 60 MME/day dispensed: oxycodone 10 mg, four a day.
    let rx = prescribe(&net, &dr, &pid, mg(OXYCODONE_10MG, OXYCODONE, 10), 120).await;
    fill(&net, rx, 120).await;

    // +15 → 75 MME/day: at or above 50, a warning (and the same drug twice).
    let plus_15 = hook_request("order-sign", &pid, vec![oxycodone_draft("a", &pid, 1)], None);
    let got = cards(&call(&net, SIGN, Some(&t), &plus_15).await);
    let mme = mme_cards(&got);
    assert_eq!(mme.len(), 1, "{got:?}");
    assert_eq!(mme[0]["indicator"], "warning");
    assert!(mme[0]["summary"].as_str().unwrap().contains("75 MME/day"), "{got:?}");
    let detail = mme[0]["detail"].as_str().unwrap();
    assert!(detail.contains("CDC 2022") && detail.contains("50 MME/day"), "{detail}");
    assert!(
        got.iter()
            .any(|c| c["summary"].as_str().unwrap().contains("Same ingredient"))
    );
    for c in &got {
        assert!(c["summary"].as_str().unwrap().chars().count() < 140);
        assert_eq!(c["source"]["label"], "medledger drug monitoring");
        assert!(!c.to_string().contains(&pid), "no patient id in a card: {c}");
    }

    // +30 → 90 MME/day: critical. For order-select, only the selected draft counts.
    let both = hook_request(
        "order-select",
        &pid,
        vec![oxycodone_draft("small", &pid, 1), oxycodone_draft("large", &pid, 2)],
        Some(vec!["MedicationRequest/large"]),
    );
    let got = cards(&call(&net, SELECT, Some(&t), &both).await);
    let mme = mme_cards(&got);
    assert_eq!(mme.len(), 1, "{got:?}");
    assert_eq!(mme[0]["indicator"], "critical");
    assert!(mme[0]["summary"].as_str().unwrap().contains("90 MME/day"), "{got:?}");

    // A patient with nothing dispensed and a 15 MME/day draft: no card at all.
    let quiet = new_patient(&net, &t, "quiet").await;
    let below = hook_request("order-sign", &quiet, vec![oxycodone_draft("a", &quiet, 1)], None);
    let a = call(&net, SIGN, Some(&t), &below).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, json!({"cards": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opioid_draft_for_a_patient_on_a_benzodiazepine_is_critical() {
    let net = network();
    let (dr, t) = practitioner(&net, "hospital-a", "dr-benzo").await;
    let pid = new_patient(&net, &t, "benzo").await;
    let rx = prescribe(&net, &dr, &pid, mg(LORAZEPAM_1MG, LORAZEPAM, 1), 30).await;
    fill(&net, rx, 30).await;
    let request = hook_request("order-sign", &pid, vec![oxycodone_draft("a", &pid, 1)], None);
    let got = cards(&call(&net, SIGN, Some(&t), &request).await);
    assert_eq!(indicators(&got), vec!["critical"], "{got:?}");
    let summary = got[0]["summary"].as_str().unwrap();
    assert!(summary.contains("Opioid and benzodiazepine"), "{summary}");
    assert!(summary.contains("30 days"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_treating_the_patient_and_the_regulator_see_the_view_and_each_view_is_audited() {
    let net = network();
    let (dr, t) = practitioner(&net, "hospital-a", "dr-access").await;
    let (outsider, to) = practitioner(&net, "clinic-b", "dr-elsewhere").await;
    let pid = new_patient(&net, &t, "access").await;
    let rx = prescribe(&net, &dr, &pid, mg(OXYCODONE_10MG, OXYCODONE, 10), 120).await;
    let request = hook_request("order-sign", &pid, vec![oxycodone_draft("a", &pid, 1)], None);

    // No token, or one the node never issued: 401, whatever the body.
    assert_eq!(call(&net, SIGN, None, &request).await.status, 401);
    assert_eq!(call(&net, SIGN, Some("not-a-token"), &request).await.status, 401);
    assert_eq!(call_raw(&net, SIGN, None, b"not json".to_vec()).await.status, 401);

    // Another organisation's practitioner: 403, and nothing about the patient.
    let refused = call(&net, SIGN, Some(&to), &request).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.body["error"]["reason"], "forbidden");
    assert!(!refused.text.contains(&pid), "{}", refused.text);
    assert!(!refused.text.contains("MME"), "{}", refused.text);
    // An insurer's admin likewise.
    let insurer = token(&net, HOSPITAL, &admin(&net, "insurer-d"), "system/*.rs").await;
    assert_eq!(call(&net, SIGN, Some(&insurer), &request).await.status, 403);

    // The custodian's practitioner, and the regulator.
    assert_eq!(call(&net, SIGN, Some(&t), &request).await.status, 200);
    let regulator = token(&net, HOSPITAL, &admin(&net, "regulator-r"), "system/*.rs").await;
    let seen = call(&net, SIGN, Some(&regulator), &request).await;
    assert_eq!(seen.status, 200, "{}", seen.text);

    // The pharmacy at dispensing: with the unfilled prescription in hand (named by its
    // ledger id), it sees what filling it would raise (60 MME/day: a warning).
    let pharmacy = token(&net, HOSPITAL, &admin(&net, "pharmacy-c"), "system/*.rs").await;
    let mut in_hand = draft("rx", &pid, OXYCODONE_10MG, OXYCODONE, 10, 120);
    let at_dispensing = hook_request(
        "order-select",
        &pid,
        vec![in_hand.clone()],
        Some(vec!["MedicationRequest/rx"]),
    );
    assert_eq!(call(&net, SELECT, Some(&pharmacy), &at_dispensing).await.status, 403);
    in_hand["identifier"] = json!([{"system": "urn:medledger:rx", "value": rx.to_hex()}]);
    let at_dispensing = hook_request("order-select", &pid, vec![in_hand], Some(vec!["MedicationRequest/rx"]));
    let got = cards(&call(&net, SELECT, Some(&pharmacy), &at_dispensing).await);
    assert_eq!(indicators(&got), vec!["warning"], "{got:?}");
    assert!(got[0]["summary"].as_str().unwrap().contains("60 MME/day"), "{got:?}");

    // The window itself is not served to members through /v1/state: only to the
    // regulator (and this node's own service).
    fill(&net, rx, 120).await;
    let key = hex::encode(format!("rx/patient/{pid}"));
    let state = |token: String| {
        let net = &net;
        let key = &key;
        async move {
            let r = net
                .http
                .get(format!("{}/v1/state/{key}", net.urls[HOSPITAL]))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            answer(r).await
        }
    };
    let hospital_admin = token(&net, HOSPITAL, &admin(&net, "hospital-a"), "system/*.rs").await;
    let refused = state(hospital_admin).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("cds-services"), "{}", refused.text);
    let read = state(regulator.clone()).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.body["value"].is_string(), "the window is there: {}", read.text);

    // Every view and every refusal is in the patient's access log on the ledger, as the
    // hospital's privacy officer sees it.
    let privacy = {
        let _turn = SIGNING.lock().await;
        register(&net, HOSPITAL, "hospital-a", "privacy-cds", MemberKind::Privacy).await
    };
    let tp = token(&net, HOSPITAL, &privacy, "system/*.rs").await;
    let want = [
        (dr.client_id(), "0"),
        ("regulator-r/admin".to_string(), "0"),
        ("pharmacy-c/admin".to_string(), "0"),
        ("pharmacy-c/admin".to_string(), "4"),
        (outsider.client_id(), "4"),
        ("insurer-d/admin".to_string(), "4"),
        ("hospital-a/admin".to_string(), "4"),
        ("regulator-r/admin".to_string(), "0"),
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let log = fhir(
            &net,
            HOSPITAL,
            "GET",
            &format!("/AuditEvent?patient={pid}&_count=1000"),
            Some(&tp),
            None,
            &[],
        )
        .await;
        assert_eq!(log.status, 200, "{}", log.text);
        let views: Vec<(String, String)> = log.body["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["extension"].to_string().contains("ledger-view"))
            .map(|r| {
                (
                    r["agent"][0]["who"]["identifier"]["value"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    r["outcome"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let all = want
            .iter()
            .all(|(who, outcome)| views.iter().any(|(w, o)| w == who && o == outcome));
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the access log lacks views: {views:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_400_and_unknown_services_404() {
    let net = network();
    let (_, t) = practitioner(&net, "hospital-a", "dr-hostile").await;
    let pid = new_patient(&net, &t, "hostile").await;
    let ok = hook_request("order-sign", &pid, vec![oxycodone_draft("a", &pid, 1)], None);
    let mut not_a_bundle = ok.clone();
    not_a_bundle["context"]["draftOrders"] = json!([oxycodone_draft("a", &pid, 1)]);
    // Valid JSON, one byte over the 1 MiB limit (padded with spaces).
    let mut huge = serde_json::to_vec(&ok).unwrap();
    huge.resize((1 << 20) + 1, b' ');
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("not JSON", SIGN, b"{\"hook\": ".to_vec()),
        ("deeply nested", SIGN, "[".repeat(50_000).into_bytes()),
        ("over 1 MiB", SIGN, huge),
        (
            "order-sign sent to the order-select service",
            SELECT,
            serde_json::to_vec(&ok).unwrap(),
        ),
        (
            "draftOrders not a Bundle",
            SIGN,
            serde_json::to_vec(&not_a_bundle).unwrap(),
        ),
        (
            "a patient id that is no id",
            SIGN,
            serde_json::to_vec(&hook_request("order-sign", "../etc", vec![], None)).unwrap(),
        ),
    ];
    for (what, service, body) in cases {
        let a = call_raw(&net, service, Some(&t), body).await;
        assert_eq!(a.status, 400, "{what}: {}", a.text);
        assert_eq!(a.body["error"]["reason"], "invalid_request", "{what}: {}", a.text);
        assert!(!a.text.contains(&pid), "{what}: {}", a.text);
        if what == "over 1 MiB" {
            assert!(a.text.contains("larger than 1048576 bytes"), "{}", a.text);
        }
    }
    let unknown = call(&net, "medledger-nothing", Some(&t), &ok).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    // An order monitoring cannot read is an info card, not a failure of the whole call.
    let mut unreadable = oxycodone_draft("a", &pid, 1);
    unreadable["dispenseRequest"]["expectedSupplyDuration"]["code"] = json!("mo");
    let got = cards(
        &call(
            &net,
            SIGN,
            Some(&t),
            &hook_request("order-sign", &pid, vec![unreadable], None),
        )
        .await,
    );
    assert_eq!(indicators(&got), vec!["info"], "{got:?}");
    // The node still answers.
    assert_eq!(call(&net, SIGN, Some(&t), &ok).await.status, 200);
}
