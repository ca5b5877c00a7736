//! R4's interactions beyond create/read/search, over HTTP on a one-validator network:
//! `ETag` / `Last-Modified` and conditional reads (`If-None-Match`, `If-Modified-Since`),
//! `Prefer: return=`, delete (a deleted version, history kept, `410 Gone`, brought back
//! by an update), conditional update and delete by identifier, type- and system-level
//! history with `_since`, and `_format` / `Accept` refused with `406` when not JSON.

mod common;

use std::time::Duration;

use common::fhir::{fhir, observation, patient, register, resources, token};
use common::net::Net;
use medledger_ledger::identity::MemberKind;
use serde_json::json;

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 1);
    net.start_all();
    common::eventually("node0's API", T, async || net.status(0).await.is_some()).await;
    let dr = register(&net, 0, "hospital-a", "dr-int", MemberKind::Practitioner).await;
    let tok = token(&net, 0, &dr, "user/*.cruds").await;
    let call = async |method: &str, path: &str, body: Option<&serde_json::Value>, headers: &[(&str, &str)]| {
        fhir(&net, 0, method, path, Some(&tok), body, headers).await
    };

    let p = call("POST", "/Patient", Some(&patient("int-1")), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    let o = call(
        "POST",
        "/Observation",
        Some(&observation(&pid, "8867-4", "int", "2024-01-01")),
        &[],
    )
    .await;
    assert_eq!(o.status, 201);
    assert_eq!(o.headers["etag"], "W/\"1\"");
    assert!(
        o.headers["last-modified"].to_str().unwrap().ends_with(" GMT"),
        "{:?}",
        o.headers
    );
    let path = format!("/Observation/{}", o.body["id"].as_str().unwrap());

    // Conditional reads.
    let same = call("GET", &path, None, &[("if-none-match", "W/\"1\"")]).await;
    assert_eq!(same.status, 304);
    assert_eq!(same.headers["etag"], "W/\"1\"");
    assert_eq!(
        call("GET", &path, None, &[("if-none-match", "W/\"7\"")]).await.status,
        200
    );
    let last_modified = o.headers["last-modified"].to_str().unwrap().to_string();
    assert_eq!(
        call("GET", &path, None, &[("if-modified-since", &last_modified)])
            .await
            .status,
        304
    );
    let long_ago = "Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(
        call("GET", &path, None, &[("if-modified-since", long_ago)])
            .await
            .status,
        200
    );

    // Prefer on writes.
    let mut v2 = o.body.clone();
    v2["status"] = json!("amended");
    let minimal = call("PUT", &path, Some(&v2), &[("prefer", "return=minimal")]).await;
    assert_eq!(minimal.status, 200);
    assert!(minimal.text.is_empty(), "{}", minimal.text);
    assert!(minimal.headers["location"].to_str().unwrap().ends_with("/_history/2"));
    let mut v3 = v2.clone();
    v3["status"] = json!("corrected");
    let outcome = call("PUT", &path, Some(&v3), &[("prefer", "return=OperationOutcome")]).await;
    assert_eq!(outcome.body["resourceType"], "OperationOutcome", "{}", outcome.text);
    let stale = call("PUT", &path, Some(&v3), &[("if-match", "W/\"1\"")]).await;
    assert_eq!(stale.status, 412);

    // Delete: a new version; read says 410; history keeps every version; search skips it.
    let deleted = call("DELETE", &path, None, &[]).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.headers["etag"], "W/\"4\"");
    let gone = call("GET", &path, None, &[]).await;
    assert_eq!(gone.status, 410, "{}", gone.text);
    assert_eq!(gone.body["resourceType"], "OperationOutcome");
    assert_eq!(call("GET", &format!("{path}/_history/3"), None, &[]).await.status, 200);
    let history = call("GET", &format!("{path}/_history"), None, &[]).await;
    let entries = history.body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["request"]["method"], "DELETE");
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[3]["request"]["method"], "POST");
    let found = call("GET", &format!("/Observation?patient={pid}"), None, &[]).await;
    assert!(resources(&found.body).is_empty(), "{}", found.text);
    // An update brings it back.
    let mut back = v3.clone();
    back["status"] = json!("final");
    assert_eq!(call("PUT", &path, Some(&back), &[]).await.status, 200);
    assert_eq!(call("GET", &path, None, &[]).await.body["meta"]["versionId"], "5");

    // Conditional update and delete by identifier.
    let ident = "identifier=urn:test:mrn|COND-1";
    let mut pat = patient("cond");
    pat["identifier"] = json!([{"system": "urn:test:mrn", "value": "COND-1"}]);
    let created = call("PUT", &format!("/Patient?{ident}"), Some(&pat), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cid = created.body["id"].as_str().unwrap().to_string();
    pat["gender"] = json!("male");
    let updated = call("PUT", &format!("/Patient?{ident}"), Some(&pat), &[]).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["id"], cid.as_str());
    assert_eq!(updated.body["gender"], "male");
    // Other criteria match on the custodian's search values: one match updates it…
    let mut by_name = patient("cond2");
    by_name["name"] = json!([{"family": "Zebedee", "given": ["Ann"]}]);
    let made = call(
        "PUT",
        "/Patient?family=zebedee&birthdate=1980-04-03",
        Some(&by_name),
        &[],
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    by_name["gender"] = json!("other");
    let again = call(
        "PUT",
        "/Patient?family=zebedee&birthdate=1980-04-03",
        Some(&by_name),
        &[],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], made.body["id"]);
    // …several matches are refused, and a chain is not a condition.
    let several = call("PUT", "/Patient?birthdate=1980-04-03", Some(&by_name), &[]).await;
    assert_eq!(several.status, 412, "{}", several.text);
    let chained = call("PUT", "/Patient?organization.name=x", Some(&by_name), &[]).await;
    assert_eq!(chained.status, 412, "{}", chained.text);
    // If-None-Exist on a plain create: the existing record comes back, nothing is written.
    let existing = call(
        "POST",
        "/Patient",
        Some(&by_name),
        &[("if-none-exist", "family=zebedee")],
    )
    .await;
    assert_eq!(existing.status, 200, "{}", existing.text);
    assert_eq!(existing.body["id"], made.body["id"]);
    let fresh = call(
        "POST",
        "/Patient",
        Some(&by_name),
        &[("if-none-exist", "family=nobody-has-this")],
    )
    .await;
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    let del = call(
        "DELETE",
        &format!("/Patient?{ident}"),
        None,
        &[("prefer", "return=minimal")],
    )
    .await;
    assert_eq!(del.status, 204, "{}", del.text);
    assert_eq!(call("GET", &format!("/Patient/{cid}"), None, &[]).await.status, 410);
    assert_eq!(
        call("DELETE", "/Patient?identifier=urn:test:mrn|NONE", None, &[])
            .await
            .status,
        404
    );

    // Type and system history.
    let all = call("GET", "/Observation/_history", None, &[]).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["type"], "history");
    assert_eq!(all.body["total"], 5);
    let future = call("GET", "/Observation/_history?_since=2999-01-01T00:00:00Z", None, &[]).await;
    assert_eq!(future.body["total"], 0);
    let system = call("GET", "/_history?_count=3", None, &[]).await;
    assert_eq!(system.status, 200, "{}", system.text);
    assert_eq!(system.body["entry"].as_array().unwrap().len(), 3);
    assert!(system.body["total"].as_u64().unwrap() >= 11);
    assert_eq!(call("GET", "/_history?_since=yesterday", None, &[]).await.status, 400);

    // Formats: FHIR JSON only, refused before any work.
    assert_eq!(
        call("GET", &format!("{path}?_format=json"), None, &[]).await.status,
        200
    );
    let xml = call("GET", &format!("{path}?_format=xml"), None, &[]).await;
    assert_eq!(xml.status, 406);
    assert_eq!(xml.body["resourceType"], "OperationOutcome");
    assert_eq!(
        call("GET", &path, None, &[("accept", "application/fhir+xml")])
            .await
            .status,
        406
    );
    assert_eq!(
        call("GET", &path, None, &[("accept", "application/fhir+json")])
            .await
            .status,
        200
    );
    net.stop_all();
}
