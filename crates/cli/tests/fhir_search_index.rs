//! Search at the custodian answers from its search values (sealed in its journal,
//! decrypted into memory at start): a search decrypts only the records it returns,
//! counted by `medledger_records_decrypted_total`, also after a restart; a deleted record
//! is skipped unread; paging stays stable while records are added.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::fhir::{Answer, fhir, observation, patient, register, resources, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;

const T: Duration = Duration::from_secs(120);

async fn decrypted(net: &Net) -> u64 {
    net.metric(0, "records_decrypted_total").await
}

fn ids(a: &Answer) -> Vec<String> {
    resources(&a.body)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn next(a: &Answer) -> Option<String> {
    a.body["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| {
            let url = l["url"].as_str().unwrap();
            url.split("/fhir").nth(1).unwrap().to_string()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_decrypt_only_what_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    // The record index absorbs each block 200 ms late: searches must wait for it.
    net.start(0, &[("MEDLEDGER_TEST_INDEX_LAG_MS", "200")]);
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let dr = register(&net, 0, "hospital-a", "dr-idx", MemberKind::Practitioner).await;
    let tok = token(&net, 0, &dr, "user/*.cruds").await;
    let create = async |body: serde_json::Value| -> String {
        let t = body["resourceType"].as_str().unwrap().to_string();
        let a = fhir(&net, 0, "POST", &format!("/{t}"), Some(&tok), Some(&body), &[]).await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["id"].as_str().unwrap().to_string()
    };
    let p = create(patient("idx-p")).await;
    let q = create(patient("idx-q")).await;
    let mut code_a = Vec::new();
    let mut code_b = BTreeSet::new();
    for k in 0..10 {
        code_a.push(create(observation(&p, "1111-1", &format!("a{k}"), "2024-01-01")).await);
        code_b.insert(create(observation(&p, "2222-2", &format!("b{k}"), "2024-01-02")).await);
        // Read your writes: a search right after the create's answer finds the record,
        // although the index follows the ledger behind.
        let a = fhir(
            &net,
            0,
            "GET",
            &format!("/Observation?patient={p}&code=2222-2&_summary=count"),
            Some(&tok),
            None,
            &[],
        )
        .await;
        assert_eq!(a.body["total"], code_b.len(), "{}", a.text);
    }
    for k in 0..5 {
        create(observation(&q, "1111-1", &format!("q{k}"), "2024-01-03")).await;
    }
    let search = async |query: &str| {
        let a = fhir(&net, 0, "GET", query, Some(&tok), None, &[]).await;
        assert_eq!(a.status, 200, "{query}: {}", a.text);
        a
    };

    // Twenty of the patient's Observations are candidates; ten match; ten are decrypted.
    let before = decrypted(&net).await;
    let a = search(&format!(
        "/Observation?patient={p}&code=http://loinc.org|1111-1&_count=100"
    ))
    .await;
    assert_eq!(ids(&a).len(), 10);
    assert_eq!(decrypted(&net).await - before, 10, "only the matches are decrypted");
    // Fifteen match across patients; one page of one is decrypted.
    let before = decrypted(&net).await;
    let one = search("/Observation?code=1111-1&_count=1").await;
    assert_eq!(ids(&one).len(), 1);
    assert!(next(&one).is_some());
    assert_eq!(decrypted(&net).await - before, 1);
    // Counting decrypts nothing.
    let before = decrypted(&net).await;
    let count = search("/Observation?code=1111-1&_summary=count").await;
    assert_eq!(count.body["total"], 15);
    assert_eq!(decrypted(&net).await - before, 0);
    // A deleted record is skipped unread.
    assert_eq!(
        fhir(
            &net,
            0,
            "DELETE",
            &format!("/Observation/{}", code_a[0]),
            Some(&tok),
            None,
            &[]
        )
        .await
        .status,
        200
    );
    let before = decrypted(&net).await;
    let a = search(&format!("/Observation?patient={p}&code=1111-1&_count=100")).await;
    assert_eq!(ids(&a).len(), 9);
    assert_eq!(decrypted(&net).await - before, 9);

    // After a restart the search values come back from the journal.
    net.stop(0);
    net.start(0, &[]);
    common::eventually("node0's API again", T, async || net.status(0).await.is_some()).await;
    let tok = token(&net, 0, &dr, "user/*.cruds").await;
    let before = decrypted(&net).await;
    let a = fhir(
        &net,
        0,
        "GET",
        &format!("/Observation?patient={p}&code=1111-1&_count=100"),
        Some(&tok),
        None,
        &[],
    )
    .await;
    assert_eq!(ids(&a).len(), 9, "{}", a.text);
    assert_eq!(decrypted(&net).await - before, 9, "no record read to rebuild the index");

    // Paging is stable while records are added: the pages of the first answer's
    // snapshot hold exactly the ten code-B records, whatever is created meanwhile.
    let first = fhir(
        &net,
        0,
        "GET",
        "/Observation?code=2222-2&_count=4",
        Some(&tok),
        None,
        &[],
    )
    .await;
    let mut seen: Vec<String> = ids(&first);
    for k in 0..3 {
        let o = observation(&p, "2222-2", &format!("late{k}"), "2024-02-01");
        assert_eq!(
            fhir(&net, 0, "POST", "/Observation", Some(&tok), Some(&o), &[])
                .await
                .status,
            201
        );
    }
    let mut link = next(&first);
    while let Some(path) = link {
        assert!(path.contains("_snapshot="), "{path}");
        let page = fhir(&net, 0, "GET", &path, Some(&tok), None, &[]).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(ids(&page));
        link = next(&page);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice");
    assert_eq!(unique, code_b, "exactly the records of the snapshot");
    // A new search sees the new ones.
    let now = fhir(
        &net,
        0,
        "GET",
        "/Observation?code=2222-2&_summary=count",
        Some(&tok),
        None,
        &[],
    )
    .await;
    assert_eq!(now.body["total"], 13);
    net.stop_all();
}
