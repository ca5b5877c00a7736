//! DSCSA verification against a real node: Manufacturer M (`maker-m`, company prefix
//! `0614141`, no node of its own) commissions packs through `supply.capture`; Hospital A's
//! node answers verifications for it (`api.dscsa_answer_for = ["maker-m"]`); Wholesaler W
//! verifies returned packs before it sells them again (`context=dscsaSaleableReturn`).
//! One node shared by the tests; each test commissions its own lot.

mod common;

use std::path::Path;

use common::epcis::commitment;
use common::fhir::{Member, admin, register, submit, token};
use common::net::Net;
use medledger_gs1::ident::{CompanyPrefixLen, EpcUri, Gtin, Lot, Serial, check_digit};
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::supply::capture::{Commitment, Step, SupplyCapture};
use medledger_ledger::supply::recall::SupplyRecall;
use medledger_types::OrgId;
use serde_json::Value;

const WHOLESALER_GLN: &str = "4012345000122";
const MAKER_GLN: &str = "0614141000012";
const UUID: &str = "4fd2a4a9-3d8b-4c6f-9b1e-0f6f3c0a7b21";

/// Signing as one organisation's admin is serialised: its nonces must arrive in order.
static SIGNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn configure(home: &Path, _i: usize) {
    let mut config = medledger_node::Home::load(home).unwrap().config;
    config.api.dscsa_answer_for = vec![OrgId::new("maker-m").unwrap()];
    std::fs::write(home.join("config.toml"), config.to_toml()).unwrap();
}

fn network() -> Net {
    common::net::shared(1, configure, |_| Vec::new())
}

/// The maker's GTIN-14 with item reference `item` (five digits under the 7-digit prefix).
fn gtin(item: u32) -> String {
    let data = format!("10614141{item:05}");
    format!("{data}{}", check_digit(&data).unwrap())
}

fn epc(gtin: &str, serial: &str) -> EpcUri {
    EpcUri::Sgtin {
        gtin: Gtin::parse(gtin).unwrap(),
        serial: Serial::parse(serial).unwrap(),
        company_prefix_len: CompanyPrefixLen::new(7).unwrap(),
    }
}

async fn capture(net: &Net, org: &str, c: Commitment) {
    let _turn = SIGNING.lock().await;
    let answer = submit(
        net,
        0,
        &admin(net, org).key,
        Payload::SupplyCapture(SupplyCapture { commitments: vec![c] }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "{org}'s capture: {answer}");
}

async fn maker_signs(net: &Net, payload: Payload) {
    let _turn = SIGNING.lock().await;
    let answer = submit(net, 0, &admin(net, "maker-m").key, payload).await;
    assert_eq!(answer["outcome"], 0, "maker's transaction: {answer}");
}

/// The maker commissions `serials` of `gtin` in `lot`, expiring `expiry`.
async fn commission(net: &Net, gtin: &str, lot: &str, expiry: &str, serials: &[&str]) {
    let mut c = commitment(Step::Commission, serials.iter().map(|s| epc(gtin, s)).collect());
    c.lot = Some(Lot::parse(lot).unwrap());
    c.expiry = Some(expiry.into());
    capture(net, "maker-m", c).await;
}

async fn ship(net: &Net, from: &str, to: &str, epcs: Vec<EpcUri>) {
    let mut c = commitment(Step::Ship, epcs.clone());
    c.destination = Some(OrgId::new(to).unwrap());
    capture(net, from, c).await;
    capture(net, to, commitment(Step::Receive, epcs)).await;
}

fn verify_url(net: &Net, gtin: &str, lot: &str, serial: &str, expiry: &str, req_gln: &str) -> String {
    format!(
        "{}/dscsa/verify/01/{gtin}/10/{lot}/21/{serial}?17={expiry}&linkType=gs1:verificationService&context=dscsaSaleableReturn&reqGLN={req_gln}&corrUUID={UUID}",
        net.urls[0]
    )
}

async fn get(net: &Net, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = net.http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wholesaler_token(net: &Net) -> String {
    token(net, 0, &admin(net, "wholesale-w"), "system/*.rs").await
}

/// The wholesaler's verification of a pack: `data` of a 200 answer.
async fn verify(net: &Net, gtin: &str, lot: &str, serial: &str, expiry: &str) -> Value {
    let t = wholesaler_token(net).await;
    let (status, body) = get(
        net,
        &verify_url(net, gtin, lot, serial, expiry, WHOLESALER_GLN),
        Some(&t),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn data(verified: bool, reason: Option<&str>, info: Option<&str>) -> Value {
    let mut v = serde_json::json!({ "verified": verified });
    if let Some(r) = reason {
        v["verificationFailureReason"] = r.into();
    }
    if let Some(i) = info {
        v["additionalInfo"] = i.into();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wholesaler_verifies_a_saleable_return() {
    let net = network();
    let g = gtin(1);
    commission(&net, &g, "RET1", "280131", &["R1"]).await;
    ship(&net, "maker-m", "wholesale-w", vec![epc(&g, "R1")]).await;
    let before = net.metric(0, "dscsa_verifications_total").await;
    let t = wholesaler_token(&net).await;
    let (status, body) = get(
        &net,
        &verify_url(&net, &g, "RET1", "R1", "280131", WHOLESALER_GLN),
        Some(&t),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], data(true, None, None));
    assert_eq!(body["responderGLN"], MAKER_GLN);
    assert_eq!(body["corrUUID"], UUID);
    let ts = body["verificationTimestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
        "RFC 3339 UTC with milliseconds: {ts}"
    );
    // Day 00 is the month's last day (GS1 General Specifications §7.12).
    assert_eq!(verify(&net, &g, "RET1", "R1", "280100").await, data(true, None, None));
    assert!(net.metric(0, "dscsa_verifications_total").await >= before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_reason_is_answered() {
    let net = network();
    let g = gtin(2);
    commission(&net, &g, "LOTA", "280131", &["F1"]).await;
    let not_verified = net.metric(0, "dscsa_not_verified_total").await;
    for (lot, serial, expiry, reason) in [
        ("LOTA", "NOPE", "280131", "No_match_GTIN_Serial"),
        ("LOTB", "F1", "280131", "No_match_GTIN_Serial_Lot"),
        ("LOTA", "F1", "280228", "No_match_GTIN_Serial_Expiry"),
        ("LOTB", "F1", "280228", "No_match_GTIN_Serial_Lot_Expiry"),
    ] {
        assert_eq!(
            verify(&net, &g, lot, serial, expiry).await,
            data(false, Some(reason), None),
            "{lot} {serial} {expiry}"
        );
    }
    assert!(net.metric(0, "dscsa_not_verified_total").await >= not_verified + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recalled_lot_is_verified_with_recalled() {
    let net = network();
    let g = gtin(3);
    commission(&net, &g, "RCL1", "280131", &["C1"]).await;
    maker_signs(
        &net,
        Payload::SupplyRecall(SupplyRecall::Lot {
            gtin: Gtin::parse(&g).unwrap(),
            lot: Lot::parse("RCL1").unwrap(),
        }),
    )
    .await;
    assert_eq!(
        verify(&net, &g, "RCL1", "C1", "280131").await,
        data(true, None, Some("Recalled"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspect_pack_is_not_for_redistribution() {
    let net = network();
    let g = gtin(4);
    commission(&net, &g, "SUS1", "280131", &["S1", "S2"]).await;
    maker_signs(
        &net,
        Payload::SupplyRecall(SupplyRecall::Suspect {
            epcs: vec![epc(&g, "S1")],
            suspect: true,
        }),
    )
    .await;
    assert_eq!(
        verify(&net, &g, "SUS1", "S1", "280131").await,
        data(false, Some("Not_for_re-distribution"), Some("Suspect"))
    );
    assert_eq!(verify(&net, &g, "SUS1", "S2", "280131").await, data(true, None, None));
}

/// A counterfeiter copies the identifiers of a real pack onto a fake one. Once the real
/// pack is dispensed, the fake one, returned to the wholesaler as saleable, fails
/// verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_serial_is_caught_after_the_original_was_dispensed() {
    let net = network();
    let g = gtin(5);
    commission(&net, &g, "CLN1", "280131", &["K1"]).await;
    let pack = vec![epc(&g, "K1")];
    ship(&net, "maker-m", "wholesale-w", pack.clone()).await;
    // Before it reaches a patient, the genuine identifiers verify.
    assert_eq!(verify(&net, &g, "CLN1", "K1", "280131").await, data(true, None, None));
    ship(&net, "wholesale-w", "hospital-a", pack.clone()).await;
    capture(&net, "hospital-a", commitment(Step::Dispense, pack)).await;
    assert_eq!(
        verify(&net, &g, "CLN1", "K1", "280131").await,
        data(false, Some("No_reason_provided"), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_get_401_and_members_that_may_not_verify_403() {
    let net = network();
    let g = gtin(6);
    commission(&net, &g, "AUT1", "280131", &["A1"]).await;
    let url = verify_url(&net, &g, "AUT1", "A1", "280131", WHOLESALER_GLN);
    // An outsider probing serials learns nothing, not even whether the request parses.
    assert_eq!(get(&net, &url, None).await.0, 401);
    assert_eq!(get(&net, &url, Some("not-a-token")).await.0, 401);
    let bad_gtin = verify_url(&net, "10614141000010", "AUT1", "A1", "280131", WHOLESALER_GLN);
    assert_eq!(get(&net, &bad_gtin, None).await.0, 401);
    // A device of Hospital A is a member, but not one who trades medicines.
    let device: Member = {
        let _turn = SIGNING.lock().await;
        register(&net, 0, "hospital-a", "dscsa-device", MemberKind::Device).await
    };
    let dt = token(&net, 0, &device, "system/Observation.r").await;
    let (status, body) = get(&net, &url, Some(&dt)).await;
    assert_eq!(status, 403, "{body}");
    // The wholesaler may not ask under the maker's GLN.
    let t = wholesaler_token(&net).await;
    let (status, body) = get(&net, &verify_url(&net, &g, "AUT1", "A1", "280131", MAKER_GLN), Some(&t)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("reqGLN"), "{body}");
    // The regulator may verify, under its own GLN.
    let rt = token(&net, 0, &admin(&net, "regulator-r"), "system/*.rs").await;
    let (status, body) = get(
        &net,
        &verify_url(&net, &g, "AUT1", "A1", "280131", "9506000000015"),
        Some(&rt),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_and_gtins_it_does_not_answer_for_404() {
    let net = network();
    let t = wholesaler_token(&net).await;
    let g = gtin(7);
    for (url, param) in [
        (
            verify_url(&net, "10614141000010", "L", "S", "280131", WHOLESALER_GLN),
            "01",
        ),
        (verify_url(&net, &g, "L", "S", "281331", WHOLESALER_GLN), "17"),
        (verify_url(&net, &g, "L", "S", "280131", "4012345000123"), "reqGLN"),
        (
            verify_url(&net, &g, "L", "S", "280131", WHOLESALER_GLN).replace(UUID, "42"),
            "corrUUID",
        ),
        (
            verify_url(&net, &g, "L", "S", "280131", WHOLESALER_GLN).replace("gs1:verificationService", "gs1:pip"),
            "linkType",
        ),
        (verify_url(&net, &g, "L%20M", "S", "280131", WHOLESALER_GLN), "lot"),
    ] {
        let (status, body) = get(&net, &url, Some(&t)).await;
        assert_eq!(status, 400, "{param}: {body}");
        assert_eq!(body["error"]["reason"], "invalid_request", "{param}: {body}");
    }
    // GS1's General Specifications example GTIN: its prefix is registered to no one here.
    let (status, body) = get(
        &net,
        &verify_url(&net, "09506000134352", "L", "S", "280131", WHOLESALER_GLN),
        Some(&t),
    )
    .await;
    assert_eq!(status, 404, "{body}");
}
