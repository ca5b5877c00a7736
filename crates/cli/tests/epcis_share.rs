//! EPCIS events shared between nodes (ADR 014 §15), on the 4-validator network (node0
//! Hospital A, which hosts Manufacturer M and Regulator R; node1 Clinic B; node2 Pharmacy C;
//! node3 Insurer D): the maker's events stay at node0, the pharmacy's at node2, and each
//! trading partner on the path, and the regulator, sees the whole path at its own node.

mod common;

use common::epcis::{
    MAKER_SGLN, capture_ok, commission, epcis_get, event_ids, gln_of, hash_ids, pack, receive_json, sgln, sgtin,
    ship_json, sscc,
};
use common::fhir::{admin, submit, token};
use common::net::Net;
use medledger_crypto::Keypair;
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::read_key;
use medledger_types::{MemberId, OrgId};
use serde_json::{Value, json};

const HOSPITAL: usize = 0;
const CLINIC: usize = 1;
const PHARMACY: usize = 2;

fn network() -> Net {
    common::net::shared(4, |_, _| {}, |_| Vec::new())
}

/// The hosted member's admin registers the key `init` gave node0 for it.
async fn register_hosted(net: &Net, org: &str) {
    let key = read_key(&net.homes[HOSPITAL].join(format!("hosted/{org}.json"))).unwrap();
    let answer = submit(
        net,
        HOSPITAL,
        &admin(net, org).key,
        Payload::RegisterMember(RegisterMember {
            org: OrgId::new(org).unwrap(),
            member: MemberId::new("epcis-host").unwrap(),
            kind: MemberKind::Service,
            public_key: key.public(),
        }),
    )
    .await;
    assert_eq!(answer["outcome"], 0, "{answer}");
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode_upper(rand::random::<[u8; 4]>()))
}

/// A node-to-node ask as another node would sign it.
fn ask(key: &Keypair, aud: &str, query: &str, epc: Option<&str>, exp_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = json!({
        "aud": aud,
        "exp": now + exp_in,
        "jti": hex::encode(rand::random::<[u8; 16]>()),
        "query": query,
    });
    if let Some(epc) = epc {
        claims["epc"] = json!(epc);
    }
    medledger_crypto::jws::sign_compact(&json!({"kid": key.public().to_string()}), &claims, key)
}

async fn post_ask(net: &Net, i: usize, body: String) -> (u16, Value) {
    let resp = net
        .http
        .post(format!("{}/node/v1/epcis/events", net.urls[i]))
        .header("content-type", "application/jose")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partner_on_the_path_and_the_regulator_see_the_whole_path_at_their_own_node() {
    let net = network();
    register_hosted(&net, "maker-m").await;
    register_hosted(&net, "regulator-r").await;
    let maker = token(&net, HOSPITAL, &admin(&net, "maker-m"), "system/*.cruds").await;
    let pharmacy = token(&net, PHARMACY, &admin(&net, "pharmacy-c"), "system/*.cruds").await;

    // The maker commissions, packs and ships to the pharmacy at node0; the pharmacy
    // receives at node2.
    let serial = unique("S");
    let case = format!("{:010}", rand::random::<u32>());
    let to = sgln(&gln_of(&net, "pharmacy-c"));
    let docs = [
        commission(&[&serial], "SHARE1", "2025-04-01T09:00:00.000Z"),
        pack(&case, &[&serial], "2025-04-01T10:00:00.000Z"),
        ship_json(&case, MAKER_SGLN, &to, "2025-04-01T11:00:00.000Z"),
    ];
    for doc in &docs {
        capture_ok(&net, HOSPITAL, &maker, "application/ld+json", doc).await;
    }
    let received = receive_json(&case, &to, "2025-04-02T08:00:00.000Z");
    capture_ok(&net, PHARMACY, &pharmacy, "application/ld+json", &received).await;
    let path: Vec<String> = docs.iter().chain([&received]).flat_map(|d| hash_ids(d)).collect();

    // At its own node, the pharmacy sees the maker's three events and its own receipt,
    // in event-time order, and every node answered.
    let all = format!("/epcis/events?MATCH_anyEPC={}|{}", sgtin(&serial), sscc(&case));
    let seen = epcis_get(&net, PHARMACY, Some(&pharmacy), &all).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(event_ids(&seen.body), path, "{}", seen.text);
    assert!(seen.headers.get("medledger-unanswered").is_none(), "{:?}", seen.headers);
    // The pack's own events: its commissioning and its packing, both held at node0.
    let of_pack = epcis_get(
        &net,
        PHARMACY,
        Some(&pharmacy),
        &format!("/epcis/epcs/{}/events", sgtin(&serial)),
    )
    .await;
    assert_eq!(of_pack.status, 200, "{}", of_pack.text);
    assert_eq!(event_ids(&of_pack.body), path[..2], "{}", of_pack.text);

    // Pages merged from two nodes continue where they stopped.
    let mut paged = Vec::new();
    let mut next = format!("{all}&perPage=1");
    for _ in 0..path.len() {
        let page = epcis_get(&net, PHARMACY, Some(&pharmacy), &next).await;
        assert_eq!(page.status, 200, "{}", page.text);
        paged.extend(event_ids(&page.body));
        match page.headers.get("gs1-next-page-token") {
            Some(t) => next = format!("{all}&perPage=1&nextPageToken={}", t.to_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(paged, path);

    // The regulator, hosted at node0, sees the pharmacy's receipt too.
    let regulator = token(&net, HOSPITAL, &admin(&net, "regulator-r"), "system/*.rs").await;
    let regulated = epcis_get(&net, HOSPITAL, Some(&regulator), &all).await;
    assert_eq!(event_ids(&regulated.body), path, "{}", regulated.text);

    // Clinic B is not on the path: at its node it sees nothing of the pack.
    let clinic = token(&net, CLINIC, &admin(&net, "clinic-b"), "system/*.rs").await;
    let outsider = epcis_get(
        &net,
        CLINIC,
        Some(&clinic),
        &format!("/epcis/epcs/{}/events", sgtin(&serial)),
    )
    .await;
    assert_eq!(outsider.status, 403, "{}", outsider.text);
    let listed = epcis_get(&net, CLINIC, Some(&clinic), &all).await;
    assert_eq!(event_ids(&listed.body), Vec::<String>::new(), "{}", listed.text);

    // Node-to-node asks, played by hand against node0.
    let query = format!("MATCH_anyEPC={}", sgtin(&serial));
    let pharmacy_node = read_key(&net.homes[PHARMACY].join("service_key.json")).unwrap();
    let clinic_node = read_key(&net.homes[CLINIC].join("service_key.json")).unwrap();
    // A valid ask is answered once with the events the signer's organisation may see...
    let valid = ask(&pharmacy_node, "hospital-a", &query, None, 30);
    let (status, answer) = post_ask(&net, HOSPITAL, valid.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events"].as_array().unwrap().len(), 2, "{answer}");
    // ...and not twice.
    let (status, answer) = post_ask(&net, HOSPITAL, valid).await;
    assert_eq!(status, 401, "a replayed ask: {answer}");
    // Another organisation's node gets nothing of it (and learns only that there is some).
    let (status, answer) = post_ask(&net, HOSPITAL, ask(&clinic_node, "hospital-a", &query, None, 30)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events"], json!([]), "{answer}");
    assert_eq!(answer["hidden"], true, "{answer}");
    // Refused: not a service key, another audience, expired, not a JWS, a bad query.
    let refused = [
        (ask(&admin(&net, "pharmacy-c").key, "hospital-a", &query, None, 30), 401),
        (ask(&pharmacy_node, "clinic-b", &query, None, 30), 403),
        (ask(&pharmacy_node, "hospital-a", &query, None, -5), 401),
        (ask(&pharmacy_node, "hospital-a", &query, None, 3600), 401),
        ("not a JWS".to_owned(), 401),
        (ask(&pharmacy_node, "hospital-a", "perPage=0", None, 30), 400),
        (ask(&pharmacy_node, "hospital-a", &query, Some("(01)1"), 30), 400),
    ];
    for (body, want) in refused {
        let (status, answer) = post_ask(&net, HOSPITAL, body).await;
        assert_eq!(status, want, "{answer}");
        assert!(
            answer["type"].as_str().unwrap_or("").starts_with("epcisException:"),
            "{answer}"
        );
    }
}
