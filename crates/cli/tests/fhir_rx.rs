//! Prescriptions and dispenses written as FHIR on a real three-validator network:
//! Hospital A's practitioner writes `MedicationRequest`s (each anchored as `rx.prescribe`
//! before it is stored), Pharmacy C's pharmacist writes `MedicationDispense`s (each checked
//! network-wide as `rx.dispense`, monitoring's alerts stored with it as `DetectedIssue`s),
//! Clinic B tries to fill what C filled, the prescriber cancels, and what the ledger
//! refuses is never stored.

mod common;

use common::epcis::commitment;
use common::fhir::{Answer, Member, admin, fhir, patient, register, resources, submit, token};
use common::net::Net;
use medledger_gs1::ident::{CompanyPrefixLen, EpcUri, Gtin, Lot, Serial, check_digit};
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::supply::capture::{Step, SupplyCapture};
use medledger_types::OrgId;
use serde_json::{Value, json};

const A: usize = 0; // hospital-a
const B: usize = 1; // clinic-b
const C: usize = 2; // pharmacy-c
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const UCUM: &str = "http://unitsofmeasure.org";
const RX: &str = "urn:medledger:rx";

fn network() -> Net {
    common::net::shared(3, |_, _| {}, |_| Vec::new())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()))
}

/// An order of `quantity` units of `strength_mg` mg of `ingredient` for `days` days.
fn request(patient: &str, ingredient: &str, strength_mg: f64, quantity: u32, days: u32, repeats: u32) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": format!("Patient/{patient}")},
        "contained": [{
            "resourceType": "Medication", "id": "med",
            "code": {"coding": [{"system": RXNORM, "code": "1049621"}]},
            "ingredient": [{
                "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": ingredient}]},
                "strength": {"numerator": {"value": strength_mg, "system": UCUM, "code": "mg"}, "denominator": {"value": 1, "unit": "TAB"}}
            }]
        }],
        "medicationReference": {"reference": "#med"},
        "dosageInstruction": [{"text": "as directed"}],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": repeats,
            "quantity": {"value": quantity},
            "expectedSupplyDuration": {"value": days, "system": UCUM, "code": "d"}
        }
    })
}

fn dispense(patient: &str, rx_id: &str, quantity: u32, days: u32, packs: &[String]) -> Value {
    let mut d = json!({
        "resourceType": "MedicationDispense",
        "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "authorizingPrescription": [{"identifier": {"system": RX, "value": rx_id}}],
        "quantity": {"value": quantity},
        "daysSupply": {"value": days, "system": UCUM, "code": "d"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049621"}]}
    });
    if !packs.is_empty() {
        d["contained"] = json!([{
            "resourceType": "Medication", "id": "pack",
            "identifier": packs.iter().map(|p| json!({"system": "urn:ietf:rfc:3986", "value": p})).collect::<Vec<_>>()
        }]);
        d.as_object_mut().unwrap().remove("medicationCodeableConcept");
        d["medicationReference"] = json!({"reference": "#pack"});
    }
    d
}

/// The prescription's ledger id, from the stored `MedicationRequest`.
fn rx_id(stored: &Value) -> String {
    stored["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == RX)
        .unwrap_or_else(|| panic!("no ledger identifier: {stored}"))["value"]
        .as_str()
        .unwrap()
        .to_string()
}

fn refused(a: &Answer, expect: &str) {
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.is_outcome(), "{}", a.text);
    assert!(
        a.diagnostics().contains(expect),
        "expected {expect:?} in {:?}",
        a.diagnostics()
    );
}

async fn send(net: &Net, i: usize, t: &str, method: &str, path: &str, body: Option<&Value>) -> Answer {
    fhir(net, i, method, path, Some(t), body, &[]).await
}

/// Sends a write and checks the ledger refused it with `expect`.
async fn refused_at(net: &Net, i: usize, t: &str, method: &str, path: &str, body: Option<&Value>, expect: &str) {
    refused(&send(net, i, t, method, path, body).await, expect);
}

async fn created(net: &Net, i: usize, t: &str, body: &Value) -> Value {
    let ty = body["resourceType"].as_str().unwrap();
    let a = send(net, i, t, "POST", &format!("/{ty}"), Some(body)).await;
    assert_eq!(a.status, 201, "{ty}: {}", a.text);
    a.body
}

async fn dispenses_of(net: &Net, t: &str, patient: &str) -> Vec<Value> {
    let a = send(
        net,
        C,
        t,
        "GET",
        &format!("/MedicationDispense?patient={patient}"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    resources(&a.body)
}

/// Signing as one organisation's admin is serialised: its nonces must arrive in order.
static SIGNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn capture(net: &Net, org: &str, step: Step, epcs: Vec<EpcUri>, to: Option<&str>) {
    let _turn = SIGNING.lock().await;
    let commissioning = step == Step::Commission;
    let mut c = commitment(step, epcs);
    c.destination = to.map(|o| OrgId::new(o).unwrap());
    if commissioning {
        c.lot = Some(Lot::parse("FHIRRX1").unwrap());
        c.expiry = Some("301231".into());
    }
    let answer = submit(
        net,
        A,
        &admin(net, org).key,
        Payload::SupplyCapture(SupplyCapture { commitments: vec![c] }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "{org}'s capture: {answer}");
}

/// A pack of the maker's (prefix 0614141) that Pharmacy C holds.
async fn pack_at_pharmacy(net: &Net) -> EpcUri {
    let data = "1061414100042".to_string();
    let gtin = format!("{data}{}", check_digit(&data).unwrap());
    let epc = EpcUri::Sgtin {
        gtin: Gtin::parse(&gtin).unwrap(),
        serial: Serial::parse(&unique("S")).unwrap(),
        company_prefix_len: CompanyPrefixLen::new(7).unwrap(),
    };
    capture(net, "maker-m", Step::Commission, vec![epc.clone()], None).await;
    capture(net, "maker-m", Step::Ship, vec![epc.clone()], Some("pharmacy-c")).await;
    capture(net, "pharmacy-c", Step::Receive, vec![epc.clone()], None).await;
    epc
}

struct Staff {
    dr: Member,
    ta: String,
    tb: String,
    tc: String,
}

async fn staff(net: &Net) -> Staff {
    let turn = SIGNING.lock().await;
    let dr = register(net, A, "hospital-a", &unique("dr"), MemberKind::Practitioner).await;
    let nurse = register(net, B, "clinic-b", &unique("rn"), MemberKind::Practitioner).await;
    let pharmacist = register(net, C, "pharmacy-c", &unique("ph"), MemberKind::Practitioner).await;
    drop(turn);
    Staff {
        ta: token(net, A, &dr, "user/*.cruds").await,
        tb: token(net, B, &nurse, "user/*.cruds").await,
        tc: token(net, C, &pharmacist, "user/*.cruds").await,
        dr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prescribe_fill_alert_refill_cancel() {
    let net = network();
    let s = staff(&net).await;
    let p = created(&net, A, &s.ta, &patient(&unique("M"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Oxycodone 7.5 mg × 60 over 15 days: 45 MME/day, Schedule II from the drug table.
    let oxy = created(&net, A, &s.ta, &request(&p, "7804", 7.5, 60, 15, 0)).await;
    let oxy_rx = rx_id(&oxy);
    assert_eq!(oxy_rx.len(), 64);
    assert!(
        oxy["dispenseRequest"]["validityPeriod"]["end"].is_string(),
        "the validity the ledger holds is written into the record: {oxy}"
    );
    // A second Schedule II opioid: morphine 30 mg × 60 over 30 days, 60 MME/day.
    let morphine = created(&net, A, &s.ta, &request(&p, "7052", 30.0, 60, 30, 0)).await;
    let morphine_rx = rx_id(&morphine);

    // The first fill raises nothing (45 < 50).
    let first = created(&net, C, &s.tc, &dispense(&p, &oxy_rx, 60, 15, &[])).await;
    assert!(first.get("detectedIssue").is_none(), "{first}");
    // The second puts the patient at 105 MME/day: a high MME alert, stored with the fill.
    let second = created(&net, C, &s.tc, &dispense(&p, &morphine_rx, 60, 30, &[])).await;
    let issues: Vec<&Value> = second["contained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resourceType"] == "DetectedIssue")
        .collect();
    assert_eq!(issues.len(), 1, "{second}");
    assert_eq!(issues[0]["severity"], "high");
    assert_eq!(issues[0]["code"]["coding"][0]["code"], "mme-high");
    assert!(
        issues[0]["detail"].as_str().unwrap().contains("105 MME/day"),
        "{}",
        issues[0]
    );
    assert_eq!(
        second["detectedIssue"][0]["reference"],
        format!("#{}", issues[0]["id"].as_str().unwrap())
    );
    // The stored record says the same when read back.
    let read = send(
        &net,
        C,
        &s.tc,
        "GET",
        &format!("/MedicationDispense/{}", second["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(read.body["detectedIssue"], second["detectedIssue"]);

    // A Schedule II prescription is filled once.
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &oxy_rx, 10, 3, &[])),
        "Schedule II",
    )
    .await;
    assert_eq!(
        dispenses_of(&net, &s.tc, &p).await.len(),
        2,
        "a refused dispense is not stored"
    );

    // Tramadol (Schedule IV) with two repeats: C fills it; Clinic B may not fill it after.
    let tramadol = created(&net, A, &s.ta, &request(&p, "10689", 50.0, 28, 7, 2)).await;
    let tramadol_rx = rx_id(&tramadol);
    created(&net, C, &s.tc, &dispense(&p, &tramadol_rx, 28, 7, &[])).await;
    refused_at(
        &net,
        B,
        &s.tb,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &tramadol_rx, 28, 7, &[])),
        "another organisation",
    )
    .await;

    // What was ordered is not edited, and an active prescription is not deleted.
    let mut edited = tramadol.clone();
    edited["dispenseRequest"]["quantity"]["value"] = json!(56);
    let tramadol_id = tramadol["id"].as_str().unwrap();
    refused_at(
        &net,
        A,
        &s.ta,
        "PUT",
        &format!("/MedicationRequest/{tramadol_id}"),
        Some(&edited),
        "not edited",
    )
    .await;
    refused_at(
        &net,
        A,
        &s.ta,
        "DELETE",
        &format!("/MedicationRequest/{tramadol_id}"),
        None,
        "cancelled first",
    )
    .await;
    // ... nor changed inside a Bundle, which takes no ledger step.
    let in_bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": edited, "request": {"method": "PUT", "url": format!("MedicationRequest/{tramadol_id}")}
    }]});
    refused_at(&net, A, &s.ta, "POST", "", Some(&in_bundle), "single update").await;
    // A note changes nothing on the ledger and is stored.
    let mut noted = tramadol.clone();
    noted["note"] = json!([{"text": "patient counselled"}]);
    let a = send(
        &net,
        A,
        &s.ta,
        "PUT",
        &format!("/MedicationRequest/{tramadol_id}"),
        Some(&noted),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(rx_id(&a.body), tramadol_rx);

    // The prescriber cancels; the pharmacy's repeat is then refused.
    let mut cancelled = a.body.clone();
    cancelled["status"] = json!("cancelled");
    let a = send(
        &net,
        A,
        &s.ta,
        "PUT",
        &format!("/MedicationRequest/{tramadol_id}"),
        Some(&cancelled),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &tramadol_rx, 28, 7, &[])),
        "cancelled",
    )
    .await;
    let mut revived = a.body.clone();
    revived["status"] = json!("active");
    refused_at(
        &net,
        A,
        &s.ta,
        "PUT",
        &format!("/MedicationRequest/{tramadol_id}"),
        Some(&revived),
        "stays so",
    )
    .await;
    // Cancelled, it may be deleted.
    let a = send(
        &net,
        A,
        &s.ta,
        "DELETE",
        &format!("/MedicationRequest/{tramadol_id}"),
        None,
    )
    .await;
    assert!(a.status == 200 || a.status == 204, "{}", a.text);
    let _ = s.dr;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispensed_pack_leaves_the_supply_chain() {
    let net = network();
    let s = staff(&net).await;
    let p = created(&net, A, &s.ta, &patient(&unique("N"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pack = pack_at_pharmacy(&net).await;
    // Tramadol, Schedule IV, one repeat: two fills.
    let rx = rx_id(&created(&net, A, &s.ta, &request(&p, "10689", 50.0, 30, 10, 1)).await);

    // A pack the ledger does not know is refused with the supply chain's reason.
    let unknown = EpcUri::Sgtin {
        gtin: match &pack {
            EpcUri::Sgtin { gtin, .. } => gtin.clone(),
            _ => unreachable!(),
        },
        serial: Serial::parse(&unique("X")).unwrap(),
        company_prefix_len: CompanyPrefixLen::new(7).unwrap(),
    };
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &rx, 30, 10, &[unknown.to_string()])),
        "ledger refuses",
    )
    .await;
    // The held pack, named by its GS1 Digital Link, is dispensed with the fill.
    let link = match &pack {
        EpcUri::Sgtin { gtin, serial, .. } => format!("https://id.gs1.org/01/{}/21/{}", gtin.as_str(), serial.as_str()),
        _ => unreachable!(),
    };
    created(&net, C, &s.tc, &dispense(&p, &rx, 30, 10, &[link])).await;
    // ... so the repeat may not hand the same pack out again.
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &rx, 30, 10, &[pack.to_string()])),
        "ledger refuses",
    )
    .await;
    assert_eq!(dispenses_of(&net, &s.tc, &p).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_ledger_cannot_take_is_refused_and_not_stored() {
    let net = network();
    let s = staff(&net).await;
    let p = created(&net, A, &s.ta, &patient(&unique("H"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let count = async |net: &Net| {
        let a = send(net, A, &s.ta, "GET", &format!("/MedicationRequest?patient={p}"), None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        resources(&a.body).len()
    };

    let mut no_strength = request(&p, "7804", 5.0, 20, 5, 0);
    no_strength["contained"][0]["ingredient"][0]
        .as_object_mut()
        .unwrap()
        .remove("strength");
    refused_at(
        &net,
        A,
        &s.ta,
        "POST",
        "/MedicationRequest",
        Some(&no_strength),
        "strength",
    )
    .await;
    let mut forged = request(&p, "7804", 5.0, 20, 5, 0);
    forged["identifier"] = json!([{"system": RX, "value": "00".repeat(32)}]);
    refused_at(
        &net,
        A,
        &s.ta,
        "POST",
        "/MedicationRequest",
        Some(&forged),
        "given by the ledger",
    )
    .await;
    // Schedule II with repeats: the ledger's own rule, with its reason.
    refused_at(
        &net,
        A,
        &s.ta,
        "POST",
        "/MedicationRequest",
        Some(&request(&p, "7804", 5.0, 20, 5, 2)),
        "ledger refuses this prescription",
    )
    .await;
    assert_eq!(count(&net).await, 0, "nothing refused was stored");
    // A Bundle stores records and takes no ledger step (imports, histories): the order is
    // stored as a record, with no ledger id, so no pharmacy can fill it through the ledger.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:0b1f2f7e-4f5e-4c59-9d6b-0d9c2d5b7a11",
        "resource": request(&p, "7804", 5.0, 20, 5, 0),
        "request": {"method": "POST", "url": "MedicationRequest"}
    }]});
    let a = send(&net, A, &s.ta, "POST", "", Some(&bundle)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(count(&net).await, 1);
    let imported = send(&net, A, &s.ta, "GET", &format!("/MedicationRequest?patient={p}"), None).await;
    assert!(
        resources(&imported.body)[0].get("identifier").is_none(),
        "{}",
        imported.text
    );

    // A request that is not an order with a dispenseRequest is an ordinary record.
    let mut plan = request(&p, "7804", 5.0, 20, 5, 0);
    plan["intent"] = json!("plan");
    let stored = created(&net, A, &s.ta, &plan).await;
    assert!(stored.get("identifier").is_none(), "{stored}");
    assert_eq!(count(&net).await, 2);
    // Nor is an order coded in another system than RxNorm.
    let mut snomed = request(&p, "7804", 5.0, 20, 5, 0);
    snomed["contained"][0]["code"]["coding"][0]["system"] = json!("http://snomed.info/sct");
    snomed["contained"][0]["ingredient"][0]["itemCodeableConcept"]["coding"][0]["system"] =
        json!("http://snomed.info/sct");
    assert!(created(&net, A, &s.ta, &snomed).await.get("identifier").is_none());

    // A dispense naming a prescription that does not exist.
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, &"ab".repeat(32), 5, 5, &[])),
        "unknown_prescription",
    )
    .await;
    refused_at(
        &net,
        C,
        &s.tc,
        "POST",
        "/MedicationDispense",
        Some(&dispense(&p, "not-hex", 5, 5, &[])),
        "64 hex digits",
    )
    .await;
    assert!(dispenses_of(&net, &s.tc, &p).await.is_empty());
}
