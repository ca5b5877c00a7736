//! EPCIS 2.0 capture and query over HTTP (`/epcis`), on real networks started as
//! processes.
//!
//! - `capture_query_and_refusals` (one validator, hospital-a given the manufacturer's
//!   company prefix): commission and pack as JSON-LD, ship as EPCIS 2.0 XML with the DSCSA
//!   transaction statement; jobs succeed; the query parameters find the events with the
//!   hash IDs computed here; refusals (bad bizStep, bad check digit, GS1's JSON schema,
//!   clone, oversized,
//!   wrong media type, no token, hostile XML) store nothing; the attackers of
//!   `docs/threat-model.md` (an outsider, a trading partner capturing for someone else's
//!   items, an organisation querying an EPC it was not party to) are refused; the events
//!   survive a restart.
//! - `dscsa_shipment_end_to_end` (four validators): commission, pack and ship at
//!   hospital-a's node, receive (EPCIS 1.2 XML) and ship on at clinic-b's, receive and
//!   dispense at pharmacy-c's; `medledger trace` prints every step with its ledger
//!   receipt, and each receipt verifies offline with `medledger proof verify`.

mod common;

use std::time::Duration;

use common::epcis::*;
use common::fhir::{admin, register, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;

const T: Duration = Duration::from_secs(120);
const LD: &str = "application/ld+json";
const XML: &str = "application/xml";

/// An `n`-validator network where hospital-a holds the manufacturer's company prefix,
/// started, every node's API up.
async fn started(dir: &std::path::Path, n: usize) -> Net {
    let mut net = Net::init(dir, n);
    give_company_prefix(&net, "hospital-a");
    net.start_all();
    for i in 0..n {
        common::eventually(&format!("node{i}'s API"), T, async || net.status(i).await.is_some()).await;
    }
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_query_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = started(dir.path(), 1).await;
    let staff = register(&net, 0, "hospital-a", "supply-clerk", MemberKind::Practitioner).await;
    let tok = token(&net, 0, &staff, "user/*.cruds").await;
    let here = sgln(&gln_of(&net, "hospital-a"));
    let wholesaler_site = sgln(&gln_of(&net, "wholesale-w"));

    // Commission, pack, ship.
    let c = commission(&["Q1", "Q2"], "LOT-Q", "2025-03-03T08:00:00.000Z");
    let p = pack("0000000201", &["Q1", "Q2"], "2025-03-03T08:10:00.000Z");
    let s = ship_xml("0000000201", &here, &wholesaler_site, "2025-03-03T11:00:00.000Z");
    let job = capture_ok(&net, 0, &tok, LD, &c).await;
    assert_eq!(job["eventIDs"], serde_json::json!(hash_ids(&c)));
    assert!(job["ledger"]["height"].as_u64().unwrap() > 0, "{job}");
    capture_ok(&net, 0, &tok, "application/json", &p).await;
    capture_ok(&net, 0, &tok, XML, &s).await;
    let (hc, hp, hs) = (
        hash_ids(&c)[0].clone(),
        hash_ids(&p)[0].clone(),
        hash_ids(&s)[0].clone(),
    );

    // Queries.
    let q = async |path: &str| {
        let a = epcis_get(&net, 0, Some(&tok), path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.body["type"], "EPCISQueryDocument");
        event_ids(&a.body)
    };
    assert_eq!(q("/epcis/events").await, vec![hc.clone(), hp.clone(), hs.clone()]);
    assert_eq!(q("/epcis/events?EQ_bizStep=commissioning").await, vec![hc.clone()]);
    assert_eq!(
        q("/epcis/events?EQ_bizStep=urn:epcglobal:cbv:bizstep:shipping").await,
        vec![hs.clone()]
    );
    assert_eq!(q("/epcis/events?eventType=AggregationEvent").await, vec![hp.clone()]);
    assert_eq!(q("/epcis/events?EQ_disposition=in_transit").await, vec![hs.clone()]);
    assert_eq!(
        q(&format!("/epcis/events?MATCH_epc={}", sgtin("Q1"))).await,
        vec![hc.clone(), hp.clone()]
    );
    assert_eq!(
        q(&format!("/epcis/events?MATCH_parentID={}", sscc("0000000201"))).await,
        vec![hp.clone()]
    );
    assert_eq!(
        q(&format!("/epcis/events?MATCH_anyEPC={}", sscc("0000000201"))).await,
        vec![hp.clone(), hs.clone()]
    );
    assert_eq!(
        q("/epcis/events?GE_eventTime=2025-03-03T08:05:00Z&LT_eventTime=2025-03-03T12:00:00%2B00:00").await,
        vec![hp.clone(), hs.clone()]
    );
    assert_eq!(q(&format!("/epcis/events?EQ_readPoint={here}")).await, vec![hs.clone()]);
    assert_eq!(
        q(&format!("/epcis/events?EQ_bizLocation={MAKER_SGLN}")).await,
        vec![hc.clone()]
    );
    // Pages.
    let first = epcis_get(&net, 0, Some(&tok), "/epcis/events?perPage=2").await;
    assert_eq!(event_ids(&first.body), vec![hc.clone(), hp.clone()]);
    let next = first.headers["gs1-next-page-token"].to_str().unwrap().to_owned();
    assert_eq!(
        q(&format!("/epcis/events?perPage=2&nextPageToken={next}")).await,
        vec![hs.clone()]
    );
    // One EPC's events, by URN, Digital Link or element string.
    for id in [
        sgtin("Q1"),
        "https%3A%2F%2Fid.gs1.org%2F01%2F00614141123452%2F21%2FQ1".to_owned(),
        "(01)00614141123452(21)Q1".to_owned(),
    ] {
        assert_eq!(
            q(&format!("/epcis/epcs/{id}/events")).await,
            vec![hc.clone(), hp.clone()],
            "{id}"
        );
    }
    // The stored event is the captured one: its extension and business transactions.
    let shipped = epcis_get(&net, 0, Some(&tok), "/epcis/events?EQ_bizStep=shipping").await;
    let ev = &shipped.body["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0];
    assert_eq!(ev["bizTransactionList"].as_array().unwrap().len(), 2, "{ev}");
    assert_eq!(ev["@context"][0]["ext1"], "http://epcis.gs1us.org/hc/ns", "{ev}");
    assert_eq!(
        ev["ext1:dscsaTransactionStatement"]["ext1:affirmTransactionStatement"], "true",
        "{ev}"
    );

    // Refusals: 400 with the event and field named; nothing stored or submitted.
    let height_before = net.status(0).await.unwrap()["height"].as_u64().unwrap();
    let bad_step = c.replace("commissioning", "comissioning").replace("LOT-Q", "LOT-BAD");
    let a = post_capture(&net, 0, Some(&tok), LD, bad_step.into_bytes()).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.body["type"], "epcisException:ValidationException");
    let detail = a.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("event 0") && detail.contains("comissioning"),
        "{detail}"
    );
    let bad_check = commission(&["Z9"], "LOT-Z", "2025-03-05T08:00:00.000Z")
        .replace(&sgtin("Z9"), "https://id.gs1.org/01/00614141123453/21/Z9");
    let a = post_capture(&net, 0, Some(&tok), LD, bad_check.into_bytes()).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.body["detail"].as_str().unwrap().contains("event 0"), "{}", a.text);
    // GS1's JSON schema: an EPCISDocument needs its schemaVersion (the reader would not mind).
    let unversioned =
        commission(&["Z8"], "LOT-Z", "2025-03-05T08:00:00.000Z").replace("\"schemaVersion\":\"2.0\",", "");
    let a = post_capture(&net, 0, Some(&tok), LD, unversioned.into_bytes()).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.body["detail"].as_str().unwrap().contains("JSON schema"), "{}", a.text);
    // A clone: Q1 commissioned again (another event, same serial).
    let clone = commission(&["Q1"], "LOT-Q", "2025-03-06T08:00:00.000Z");
    let a = post_capture(&net, 0, Some(&tok), LD, clone.clone().into_bytes()).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.body["detail"].as_str().unwrap().contains("the ledger refuses it"),
        "{}",
        a.text
    );
    // The same document twice.
    let a = post_capture(&net, 0, Some(&tok), LD, c.clone().into_bytes()).await;
    assert_eq!(a.status, 409, "{}", a.text);
    // Too large, wrong media type, hostile XML.
    let big = vec![b' '; (4 << 20) + 1];
    assert_eq!(post_capture(&net, 0, Some(&tok), LD, big).await.status, 413);
    assert_eq!(
        post_capture(&net, 0, Some(&tok), "text/plain", c.clone().into_bytes())
            .await
            .status,
        415
    );
    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]>{}",
        s.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    assert_eq!(
        post_capture(&net, 0, Some(&tok), XML, doctype.into_bytes())
            .await
            .status,
        400
    );
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(
        post_capture(&net, 0, Some(&tok), LD, deep.into_bytes()).await.status,
        400
    );
    // Unknown and malformed query parameters.
    let a = epcis_get(&net, 0, Some(&tok), "/epcis/events?EQ_colour=red").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["type"], "epcisException:QueryParameterException");
    assert_eq!(
        epcis_get(&net, 0, Some(&tok), "/epcis/events?GE_eventTime=yesterday")
            .await
            .status,
        400
    );
    assert_eq!(q("/epcis/events").await.len(), 3, "a refused capture stored nothing");
    assert_eq!(
        net.status(0).await.unwrap()["height"].as_u64().unwrap(),
        height_before,
        "a refused capture submitted nothing"
    );

    // Attackers. An outsider: no token.
    assert_eq!(
        post_capture(&net, 0, None, LD, c.clone().into_bytes()).await.status,
        401
    );
    assert_eq!(epcis_get(&net, 0, None, "/epcis/events").await.status, 401);
    // A trading partner capturing at another organisation's node (for items it does not
    // hold): refused before anything is read.
    let wholesaler = token(&net, 0, &admin(&net, "wholesale-w"), "system/*.cruds").await;
    let theirs = commission(&["W1"], "LOT-W", "2025-03-07T08:00:00.000Z");
    let a = post_capture(&net, 0, Some(&wholesaler), LD, theirs.into_bytes()).await;
    assert_eq!(a.status, 403, "{}", a.text);
    // An organisation that was not party to the EPC (the manufacturer without its
    // prefix here): 403 for the EPC, nothing in a search.
    let outsider = token(&net, 0, &admin(&net, "maker-m"), "system/*.rs").await;
    let a = epcis_get(&net, 0, Some(&outsider), &format!("/epcis/epcs/{}/events", sgtin("Q1"))).await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = epcis_get(&net, 0, Some(&outsider), "/epcis/events").await;
    assert_eq!(a.status, 200);
    assert!(event_ids(&a.body).is_empty(), "{}", a.text);
    // The addressee of the shipment (the wholesaler: the case is in transit to it) sees
    // the events of what it is shipped; the regulator sees everything.
    let events_of = async |t: &str, epc: &str| {
        let a = epcis_get(&net, 0, Some(t), &format!("/epcis/epcs/{epc}/events")).await;
        assert_eq!(a.status, 200, "{}", a.text);
        event_ids(&a.body)
    };
    assert_eq!(
        events_of(&wholesaler, &sscc("0000000201")).await,
        vec![hp.clone(), hs.clone()]
    );
    assert_eq!(events_of(&wholesaler, &sgtin("Q2")).await, vec![hc.clone(), hp.clone()]);
    let reg = token(&net, 0, &admin(&net, "regulator-r"), "system/*.rs").await;
    let a = epcis_get(&net, 0, Some(&reg), "/epcis/events").await;
    assert_eq!(event_ids(&a.body).len(), 3, "{}", a.text);
    // Capture jobs are the capturer's: another organisation gets 404, as for an unknown id
    // (a node may hold jobs of the members it hosts; none learns of another's).
    let job_path = format!("/epcis/capture/{}", job["captureID"].as_str().unwrap());
    assert_eq!(epcis_get(&net, 0, Some(&wholesaler), &job_path).await.status, 404);
    assert_eq!(epcis_get(&net, 0, Some(&tok), "/epcis/capture/nope").await.status, 404);
    // The GTIN's owner marks Q2 suspect with the CLI (`supply.recall`, second form).
    let ca = net.ca.to_str().unwrap().to_owned();
    let admin_key = net.dir.join("admins/hospital-a.json");
    let q2 = sgtin("Q2");
    common::ok(&[
        "tx",
        "supply-recall",
        "--key",
        admin_key.to_str().unwrap(),
        "--node",
        &net.urls[0],
        "--ca",
        &ca,
        "--epc",
        &q2,
    ]);
    let key = hex::encode(medledger_ledger::state::keys::supply_item(&q2));
    let raw = net.ledger_get(0, &format!("/v1/state/{key}")).await;
    let item = <medledger_ledger::supply::ItemRecord as medledger_types::codec::Decode>::decode(
        &hex::decode(raw["value"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(item.suspect, "{item:?}");
    // A token without a wildcard scope.
    let narrow = token(&net, 0, &staff, "user/Observation.cruds").await;
    assert_eq!(epcis_get(&net, 0, Some(&narrow), "/epcis/events").await.status, 403);

    // The events are durable: a restart serves them again.
    net.stop(0);
    net.start(0, &[]);
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let tok = token(&net, 0, &staff, "user/*.cruds").await;
    let a = epcis_get(&net, 0, Some(&tok), "/epcis/events").await;
    assert_eq!(event_ids(&a.body), vec![hc, hp, hs], "{}", a.text);
    assert!(exists(&net.homes[0].join("data").join("epcis.redb")));
    // So are the capture jobs: the first one answers as it did before the restart.
    let location = format!("/epcis/capture/{}", job["captureID"].as_str().unwrap());
    let again = epcis_get(&net, 0, Some(&tok), &location).await;
    assert_eq!(again.status, 200, "{}", again.text);
    for field in [
        "captureID",
        "createdAt",
        "finishedAt",
        "running",
        "success",
        "eventIDs",
        "ledger",
    ] {
        assert_eq!(again.body[field], job[field], "{field}: {}", again.text);
    }
    net.stop_all();
}

/// Waits until node `i` has a block at `height` (the next capture there is checked
/// against that state).
async fn wait_height(net: &Net, i: usize, height: u64) {
    common::eventually(&format!("node{i} at height {height}"), T, async || {
        net.status(i)
            .await
            .and_then(|s| s["height"].as_u64())
            .is_some_and(|h| h >= height)
    })
    .await;
}

fn height_of(job: &serde_json::Value) -> u64 {
    job["ledger"]["height"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dscsa_shipment_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = started(dir.path(), 4).await;
    // One clerk per trading partner, each with a token from its own organisation's node.
    let mut toks = Vec::new();
    for (i, org) in ["hospital-a", "clinic-b", "pharmacy-c"].iter().enumerate() {
        let m = register(&net, i, org, "supply-clerk", MemberKind::Practitioner).await;
        toks.push(token(&net, i, &m, "user/*.cruds").await);
    }
    let (maker, distributor, pharmacy) = (
        sgln(&gln_of(&net, "hospital-a")),
        sgln(&gln_of(&net, "clinic-b")),
        sgln(&gln_of(&net, "pharmacy-c")),
    );
    let case = "0000000301";
    let docs = [
        (0, LD, commission(&["D1", "D2"], "LOT-D", "2025-03-03T08:00:00.000Z")),
        (0, LD, pack(case, &["D1", "D2"], "2025-03-03T08:10:00.000Z")),
        (0, XML, ship_xml(case, &maker, &distributor, "2025-03-03T11:00:00.000Z")),
        (
            1,
            XML,
            receive_xml12(case, &maker, &distributor, "2025-03-04T09:00:00.000Z"),
        ),
        (
            1,
            LD,
            ship_json(case, &distributor, &pharmacy, "2025-03-05T10:00:00.000Z"),
        ),
        (2, LD, receive_json(case, &pharmacy, "2025-03-06T09:00:00.000Z")),
        (2, LD, dispense("D1", &pharmacy, "2025-03-07T15:30:00.000Z")),
    ];
    let mut height = 0;
    let mut hashes = Vec::new();
    for (i, ctype, doc) in &docs {
        wait_height(&net, *i, height).await;
        let job = capture_ok(&net, *i, &toks[*i], ctype, doc).await;
        height = height_of(&job);
        hashes.push(hash_ids(doc)[0].clone());
    }
    // Each node serves what its organisation captured and what the others' nodes show
    // it as a trading partner (ADR 014 §15), with the hash IDs computed here: the
    // distributor the maker's shipment to it besides its own two events; the pharmacy the
    // maker's commissioning and packing of the pack it dispensed.
    let a = epcis_get(&net, 1, Some(&toks[1]), "/epcis/events").await;
    assert_eq!(event_ids(&a.body), hashes[2..5].to_vec(), "{}", a.text);
    let a = epcis_get(&net, 2, Some(&toks[2]), &format!("/epcis/epcs/{}/events", sgtin("D1"))).await;
    assert_eq!(
        event_ids(&a.body),
        vec![hashes[0].clone(), hashes[1].clone(), hashes[6].clone()],
        "{}",
        a.text
    );

    // The manufacturer recalls the lot; the pharmacy can no longer dispense D2.
    for i in 0..4 {
        wait_height(&net, i, height).await;
    }
    let url0 = net.urls[0].clone();
    let ca = net.ca.to_str().unwrap().to_owned();
    let admin_key = net.dir.join("admins/hospital-a.json");
    common::ok(&[
        "tx",
        "supply-recall",
        "--key",
        admin_key.to_str().unwrap(),
        "--node",
        &url0,
        "--ca",
        &ca,
        "--gtin",
        "00614141123452",
        "--lot",
        "LOT-D",
    ]);
    let recall_height = net.status(0).await.unwrap()["height"].as_u64().unwrap();
    wait_height(&net, 2, recall_height).await;
    let a = post_capture(
        &net,
        2,
        Some(&toks[2]),
        LD,
        dispense("D2", &pharmacy, "2025-03-08T10:00:00.000Z").into_bytes(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.body["detail"].as_str().unwrap().contains("recall"), "{}", a.text);

    // The trace: every step of D1, found on the three partners' nodes by the regulator,
    // each with a receipt verified offline.
    let receipts = dir.path().join("receipts");
    let out = common::ok(&[
        "trace",
        "https://id.gs1.org/01/00614141123452/21/D1",
        "--node",
        &url0,
        "--peer",
        &net.urls[1],
        "--peer",
        &net.urls[2],
        "--ca",
        &ca,
        "--key",
        net.dir.join("admins/regulator-r.json").to_str().unwrap(),
        "--client-id",
        "regulator-r/admin",
        "--genesis",
        net.dir.join("genesis.json").to_str().unwrap(),
        "--receipts",
        receipts.to_str().unwrap(),
    ]);
    eprintln!("{out}");
    assert!(out.starts_with(&sgtin("D1")), "{out}");
    for (n, h) in hashes.iter().enumerate() {
        assert!(out.contains(&format!("   hash ID  {h}")), "step {n} missing:\n{out}");
    }
    let steps: Vec<&str> = out.lines().filter(|l| l.contains("bizStep")).collect();
    let words: Vec<&str> = steps
        .iter()
        .map(|l| l.split("bizStep ").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        words,
        [
            "commissioning",
            "packing",
            "shipping",
            "receiving",
            "shipping",
            "receiving",
            "dispensing"
        ],
        "{out}"
    );
    assert_eq!(out.matches(": verified").count(), 7, "{out}");
    assert!(
        out.contains("captured by clinic-b") && out.contains("captured by pharmacy-c"),
        "{out}"
    );
    assert!(out.contains("\"dispensed\""), "{out}");
    let mut files: Vec<_> = std::fs::read_dir(&receipts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for f in files {
        let v = common::ok(&[
            "proof",
            "verify",
            "--genesis",
            net.dir.join("genesis.json").to_str().unwrap(),
            "--receipt",
            f.to_str().unwrap(),
        ]);
        assert!(v.starts_with("ok: transaction"), "{v}");
    }
    net.stop_all();
}
