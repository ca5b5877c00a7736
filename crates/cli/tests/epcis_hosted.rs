//! EPCIS capture for a member without a node (ADR 014 §13): `medledger init` gives Hospital
//! A's node (the first) a service key for Manufacturer M (`maker-m`, company prefix
//! `0614141`, no node of its own) in `api.epcis_hosted`; once M's admin registers it, A's
//! node captures for M — signing M's `supply.capture` with M's key and keeping M's events —
//! while A's own staff see M's events only as a trading partner would.

mod common;

use common::epcis::{
    MAKER_SGLN, capture_ok, commission, epcis_get, event_ids, gln_of, pack, post_capture, sgln, sgtin, ship_json,
};
use common::fhir::{admin, submit, token};
use medledger_ledger::Payload;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_node::home::read_key;
use medledger_types::{MemberId, OrgId};

/// Where `medledger init` puts, in the first node's home, the key it hosts for the maker.
const HOSTED_KEY: &str = "hosted/maker-m.json";

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode_upper(rand::random::<[u8; 4]>()))
}

/// Node0 hosts the maker and the wholesaler only: the regulator, which `init` has it
/// host too, plays a member it does not host.
fn configure(home: &std::path::Path, _i: usize) {
    let mut config = medledger_node::Home::load(home).unwrap().config;
    config.api.epcis_hosted.retain(|h| h.org.as_str() != "regulator-r");
    std::fs::write(home.join("config.toml"), config.to_toml()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_captures_for_a_member_that_runs_none() {
    let net = common::net::shared(1, configure, |_| Vec::new());
    let maker = admin(&net, "maker-m");
    let tm = token(&net, 0, &maker, "system/*.cruds").await;
    let th = token(&net, 0, &admin(&net, "hospital-a"), "system/*.cruds").await;
    let serial = unique("H");
    let doc = commission(&[&serial], "HOST1", "2025-03-03T09:00:00.000Z");

    // Until the maker has registered the key it gave, the ledger refuses its captures.
    let early = post_capture(&net, 0, Some(&tm), "application/ld+json", doc.clone().into_bytes()).await;
    assert_eq!(early.status, 403, "{}", early.text);
    assert!(
        early.text.contains("registers it as a service member"),
        "{}",
        early.text
    );

    let hosted = read_key(&net.homes[0].join(HOSTED_KEY)).unwrap();
    let registered = submit(
        &net,
        0,
        &maker.key,
        Payload::RegisterMember(RegisterMember {
            org: OrgId::new("maker-m").unwrap(),
            member: MemberId::new("epcis-host-a").unwrap(),
            kind: MemberKind::Service,
            public_key: hosted.public(),
        }),
    )
    .await;
    assert_eq!(registered["outcome"], 0, "{registered}");

    // The maker commissions at Hospital A's node; the ledger records the maker as capturer.
    let job = capture_ok(&net, 0, &tm, "application/ld+json", &doc).await;
    let tx = job["ledger"]["tx"].as_str().unwrap().to_owned();
    let status = net.ledger_get(0, &format!("/v1/tx/{tx}")).await;
    assert_eq!(status["tx"]["signer"], hosted.public().to_string(), "{status}");
    let mine = format!("/epcis/events?MATCH_epc={}", sgtin(&serial));
    let seen = epcis_get(&net, 0, Some(&tm), &mine).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(
        event_ids(&seen.body).len(),
        1,
        "the maker sees its event: {}",
        seen.text
    );

    // The host's own staff are not the capturer: they see nothing of it, nor its job.
    let hidden = epcis_get(&net, 0, Some(&th), &mine).await;
    assert_eq!(event_ids(&hidden.body).len(), 0, "{}", hidden.text);
    let location = format!("/epcis/capture/{}", job["captureID"].as_str().unwrap());
    assert_eq!(epcis_get(&net, 0, Some(&th), &location).await.status, 404);

    // Once the maker ships to Hospital A, A sees the pack's events as a trading partner.
    let case = format!("{:010}", rand::random::<u32>());
    capture_ok(
        &net,
        0,
        &tm,
        "application/ld+json",
        &pack(&case, &[&serial], "2025-03-03T10:00:00.000Z"),
    )
    .await;
    let to = sgln(&gln_of(&net, "hospital-a"));
    capture_ok(
        &net,
        0,
        &tm,
        "application/ld+json",
        &ship_json(&case, MAKER_SGLN, &to, "2025-03-03T11:00:00.000Z"),
    )
    .await;
    let partner = epcis_get(&net, 0, Some(&th), &mine).await;
    assert_eq!(
        event_ids(&partner.body).len(),
        2,
        "its commissioning and its packing: {}",
        partner.text
    );

    // A member this node does not host may not capture here.
    let tw = token(&net, 0, &admin(&net, "regulator-r"), "system/*.cruds").await;
    let other = post_capture(&net, 0, Some(&tw), "application/ld+json", doc.into_bytes()).await;
    assert_eq!(other.status, 403, "{}", other.text);
    assert!(
        other.text.contains("maker-m"),
        "the answer names who this node captures for: {}",
        other.text
    );
}
