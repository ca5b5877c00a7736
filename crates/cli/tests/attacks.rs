//! The attack suite: each test performs one attack against a real four-validator network
//! (separate `medledger` processes on loopback, HTTPS with the consortium CA, mutual TLS
//! between the nodes) and fails if the attack succeeds. Next to each attack the test makes
//! the honest request too (a control), so that a refusal for the wrong reason, or a request
//! the server never understood, does not pass for a defence.
//!
//! One network serves every test of this file (`common::net::shared`): node0 is
//! Hospital A, node1 Clinic B, node2 Pharmacy C, node3 Insurer D. Each test creates its
//! own members and patients, so the tests run in parallel. Every node runs with
//! `mempool.max_per_signer = 300`; node3 starts with `MEDLEDGER_TEST_POISON_AUDIT=1` (one
//! undecodable entry in its audit journal). Only the flood test signs with Pharmacy C's
//! admin key.
//!
//! | # | attack | test |
//! |---|---|---|
//! | 1 | another organisation registers a member under a patient's pseudonym | [`patient_impersonation_gains_nothing`] |
//! | 2 | a batch or transaction Bundle writes what the token's scopes do not allow | [`bundles_do_not_skip_scopes`] |
//! | 3 | conditional create and identifier search as an oracle for an SSN | [`conditional_create_is_no_identifier_oracle`] |
//! | 4 | break-glass without a patient, by non-practitioners, beyond the daily limit | [`break_glass_is_bounded_declared_and_shown`] |
//! | 5 | malformed ids in URLs, and a poisoned audit journal, stop anchoring | [`malformed_ids_and_a_poisoned_journal_do_not_stop_audit`] |
//! | 6 | the grantee organisation's patients and devices ride on an org-wide consent | [`org_wide_consent_covers_only_the_grantee_staff`] |
//! | 7 | hand-made node-to-node transfer requests (and search-match probes) | [`custodian_decides_and_audits_transfers`] |
//! | 8 | reading blocks, transactions, state and log entries without being a member | [`ledger_contents_need_a_member_token`] |
//! | 9 | client assertions for another audience, from the future, or replayed; scope escalation | [`token_assertions_are_bound_fresh_and_single_use`] |
//! | 10 | one key floods the mempool while reads must still be audited | [`one_signer_cannot_flood_the_mempool`] |
//!
//! The file is longer than the house's ~800 lines because the attacks share the one
//! network of their test binary; what is not particular to one attack is in
//! `common/attack.rs`.
//!
//! Run: `cargo test -p medledger-cli --test attacks`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::attack::{
    DEADLINE as T, ORGS, access_log, anchor_ext, assertion_claims, assertion_with, audit_entries, catch_up,
    committed_prefix, enrol, entity_refs, entry_status, fetch_item, fetch_request, get, is_break_glass, ledger_action,
    metric, node_client, node_key, observer, org_consent, patient_with_observation, post_fetch, submit_as, subtype,
    summary, try_register, unique, wait_audit_drained, wait_for_audits, wait_for_log, who, without_ids,
};
use common::fhir::{
    Answer, Member, admin, answer, assertion, fhir, next_nonce, observation, patient, token, token_request,
};
use common::net::Net;
use medledger_ledger::Payload;
use medledger_ledger::audit::{AuditAction, AuditOutcome};
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::MemberKind;
use medledger_ledger::identity::register_member::RegisterMember;
use medledger_ledger::records::anchor::{Anchor, RecordsAnchor};
use medledger_types::codec::{Decode, Encode};
use medledger_types::tx::encode_batch;
use medledger_types::{Hash32, MemberId, Nonce, OrgId, SignedTx, Tx};
use serde_json::{Value, json};

const A: usize = 0; // hospital-a
const B: usize = 1; // clinic-b
const C: usize = 2; // pharmacy-c
const D: usize = 3; // insurer-d

/// Every node: one signer may have at most this many transactions waiting.
const MAX_PER_SIGNER: usize = 300;

fn configure(home: &Path, _i: usize) {
    let path = home.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let default = "max_per_signer = 5000";
    assert!(text.contains(default), "config.toml has no `{default}`:\n{text}");
    std::fs::write(
        &path,
        text.replace(default, &format!("max_per_signer = {MAX_PER_SIGNER}")),
    )
    .unwrap();
}

fn env(i: usize) -> Vec<(&'static str, &'static str)> {
    if i == D {
        vec![("MEDLEDGER_TEST_POISON_AUDIT", "1")]
    } else {
        Vec::new()
    }
}

fn network() -> Net {
    common::net::shared(4, configure, env)
}

/// 1. Insurer D learns a Hospital A patient's pseudonym from the ledger and registers a
/// member under it: as a patient it is refused; as a practitioner it gets nothing of the
/// patient's, cannot sign for them, and cannot anchor a Patient of its own under the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_impersonation_gains_nothing() {
    let net = network();
    let dr_a = enrol(&net, "hospital-a", &unique("dr-imp"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let p = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&patient("imp")), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let real_pid = p.body["id"].as_str().unwrap().to_string();
    let anchor_tx = p.headers["x-medledger-tx"].to_str().unwrap().to_string();
    let obs = observation(&real_pid, "8867-4", "imp", "2024-01-02");
    let o = fhir(&net, A, "POST", "/Observation", Some(&ta), Some(&obs), &[]).await;
    assert_eq!(o.status, 201, "{}", o.text);
    let oid = o.body["id"].as_str().unwrap().to_string();

    // The attacker reads the pseudonym from the ledger with its own member token.
    let admin_d = admin(&net, "insurer-d");
    let td = token(&net, D, &admin_d, "system/*.rs").await;
    catch_up(&net, D, A).await;
    let tx = get(&net, D, &format!("/v1/tx/{anchor_tx}"), Some(&td)).await;
    assert_eq!(tx.status, 200, "{}", tx.text);
    let signed = SignedTx::decode(&hex::decode(tx.body["tx"]["encoded"].as_str().unwrap()).unwrap()).unwrap();
    let Ok(Payload::RecordsAnchor(anchors)) = Payload::decode(signed.tx.kind, &signed.tx.body) else {
        panic!("{anchor_tx} is not a records.anchor: {}", tx.text);
    };
    let pid = anchors
        .anchors
        .iter()
        .find(|a| a.resource_type == "Patient" && a.record_id == real_pid)
        .map(|a| a.record_id.clone())
        .expect("the Patient's anchor names its id");

    // As a patient: refused, the pseudonym is the custodian's to enrol.
    let (as_patient, _) = try_register(&net, "insurer-d", &pid, MemberKind::Patient).await;
    assert_ne!(as_patient["outcome"], 0, "{as_patient}");
    assert_eq!(as_patient["outcome_name"], "not_patient_custodian", "{as_patient}");
    // As a practitioner: registered, and worthless.
    let fake = enrol(&net, "insurer-d", &pid, MemberKind::Practitioner).await;
    impersonator_gets_nothing(&net, &fake, &pid, &oid).await;
    // Nor can its organisation claim the record by anchoring a Patient under the id.
    for version in [1, 2] {
        let forged = Payload::RecordsAnchor(RecordsAnchor {
            custodian: OrgId::new("insurer-d").unwrap(),
            anchors: vec![Anchor {
                resource_type: "Patient".into(),
                record_id: pid.clone(),
                version,
                patient: Some(pid.clone()),
                ciphertext: Hash32::digest(&[b"forged"]),
                author: MemberId::new("admin").unwrap(),
            }],
        });
        let r = submit_as(&net, D, &admin_d.key, forged).await;
        assert_eq!(r["outcome_name"], "not_custodian", "anchoring version {version}: {r}");
    }

    // The real records are intact, and the real patient enrols and reads them…
    let r = fhir(&net, A, "GET", &format!("/Patient/{pid}"), Some(&ta), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"][0]["family"], "Familyimp", "{}", r.text);
    assert_eq!(r.body["meta"]["versionId"], "1", "{}", r.text);
    let r = fhir(&net, A, "GET", &format!("/Observation/{oid}"), Some(&ta), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pat = enrol(&net, "hospital-a", &pid, MemberKind::Patient).await;
    let tp = token(&net, A, &pat, "patient/*.rs").await;
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
    assert!(all.text.contains("Noteimp"), "{}", all.text);
    // …and sees the impersonator's refused attempts, at both nodes.
    let fake_id = fake.client_id();
    wait_for_log(&net, A, &tp, &pid, T, "the impersonator's refused reads", |log| {
        [A, D].iter().all(|&n| {
            log.iter()
                .any(|e| who(e) == fake_id && e["outcome"] == "4" && observer(e) == ORGS[n])
        })
    })
    .await;
}

/// What a practitioner registered under a patient's pseudonym gets of that patient: no
/// patient scopes, no record, no log, no consent, no erasure, at the custodian's node and
/// its own.
async fn impersonator_gets_nothing(net: &Net, fake: &Member, pid: &str, oid: &str) {
    let a = token_request(net, A, &assertion(fake, &net.urls[A], 60), "patient/*.rs").await;
    assert_eq!(a.status, 400, "patient scopes for a practitioner: {}", a.text);
    assert_eq!(a.body["error"], "invalid_scope", "{}", a.text);
    for node in [A, D] {
        catch_up(net, node, D).await;
        let t = token(net, node, fake, "user/*.cruds").await;
        for (method, path) in [
            ("GET", format!("/Patient/{pid}")),
            ("GET", format!("/Patient/{pid}/$everything")),
            ("GET", format!("/Observation/{oid}")),
            ("GET", format!("/AuditEvent?patient={pid}")),
            ("GET", format!("/Consent?patient={pid}")),
            ("POST", format!("/Patient/{pid}/$erase")),
        ] {
            let r = fhir(net, node, method, &path, Some(&t), None, &[]).await;
            assert_eq!(r.status, 403, "impersonator at node{node}: {method} {path}: {}", r.text);
            assert!(
                !r.text.contains("Familyimp") && !r.text.contains("Noteimp"),
                "{}",
                r.text
            );
        }
        let s = fhir(
            net,
            node,
            "GET",
            &format!("/Observation?patient={pid}"),
            Some(&t),
            None,
            &[],
        )
        .await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(
            s.body["entry"].as_array().map_or(0, Vec::len),
            0,
            "search leaked: {}",
            s.text
        );
    }
    let consent = org_consent(pid, "steal", "insurer-d", &["*"], vec![Purpose::Payment]);
    let g = submit_as(net, D, &fake.key, consent).await;
    assert_eq!(g["outcome_name"], "not_the_patient", "{g}");
}

/// 2. A token that may only read Observations writes a Patient through a Bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_do_not_skip_scopes() {
    let net = network();
    let dr = enrol(&net, "hospital-a", &unique("dr-scope"), MemberKind::Practitioner).await;
    let narrow = token(&net, A, &dr, "user/Observation.rs").await;
    let full = token(&net, A, &dr, "user/*.cruds").await;
    let marker = unique("scope");
    // Patients with this test's identifier, as the full token finds them (other tests
    // write Patients at the same node meanwhile).
    let with_marker = || {
        let (net, full, marker) = (&net, &full, &marker);
        async move {
            let path = format!("/Patient?identifier=urn:test:mrn|MRN{marker}");
            let s = fhir(net, A, "GET", &path, Some(full), None, &[]).await;
            assert_eq!(s.status, 200, "{}", s.text);
            s.body["total"].as_u64().unwrap()
        }
    };
    assert_eq!(with_marker().await, 0);
    let bundle = |kind: &str| {
        json!({"resourceType": "Bundle", "type": kind, "entry": [
            {"fullUrl": "urn:uuid:7d0c5d0e-0000-4000-8000-000000000001", "resource": patient(&marker),
             "request": {"method": "POST", "url": "Patient"}},
        ]})
    };
    let batch = fhir(&net, A, "POST", "", Some(&narrow), Some(&bundle("batch")), &[]).await;
    assert_eq!(batch.status, 200, "{}", batch.text);
    assert_eq!(entry_status(&batch, 0), "403 Forbidden", "batch: {}", batch.text);
    assert!(
        batch.body["entry"][0]["response"].get("location").is_none(),
        "{}",
        batch.text
    );
    let tr = fhir(&net, A, "POST", "", Some(&narrow), Some(&bundle("transaction")), &[]).await;
    assert_eq!(tr.status, 403, "transaction: {}", tr.text);
    assert!(tr.is_outcome(), "{}", tr.text);
    assert_eq!(
        with_marker().await,
        0,
        "a Bundle wrote a Patient the token may not write"
    );

    // The same Bundle with the scope writes it (and the count above would have seen it).
    let ok = fhir(&net, A, "POST", "", Some(&full), Some(&bundle("batch")), &[]).await;
    assert_eq!(entry_status(&ok, 0), "201 Created", "{}", ok.text);
    assert_eq!(with_marker().await, 1);
}

const SSN: &str = "http://hl7.org/fhir/sid/us-ssn";

fn ssn_patient(ssn: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": "Oracle"}],
           "identifier": [{"system": SSN, "value": ssn}]})
}

fn conditional_create(ssn: &str) -> Value {
    json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": ssn_patient(ssn), "request": {"method": "POST", "url": "Patient",
         "ifNoneExist": format!("identifier={SSN}|{ssn}")}},
    ]})
}

/// 3. Clinic B's practitioner, holding a token of Hospital A's node, asks whether an SSN
/// is known there: by conditional create, and by identifier search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_create_is_no_identifier_oracle() {
    let net = network();
    let start = common::attack::height(&net, A).await;
    let mut digits = [0u8; 2];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut digits);
    let n = u16::from_le_bytes(digits) % 10_000;
    let (known, unknown) = (format!("123-45-{n:04}"), format!("987-65-{n:04}"));
    let dr_a = enrol(&net, "hospital-a", &unique("dr-ssn"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let p = fhir(&net, A, "POST", "/Patient", Some(&ta), Some(&ssn_patient(&known)), &[]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();

    let dr_b = enrol(&net, "clinic-b", &unique("dr-oracle"), MemberKind::Practitioner).await;
    let tb = token(&net, A, &dr_b, "user/*.cruds").await;
    let k = fhir(&net, A, "POST", "", Some(&tb), Some(&conditional_create(&known)), &[]).await;
    let u = fhir(&net, A, "POST", "", Some(&tb), Some(&conditional_create(&unknown)), &[]).await;
    for (name, a) in [("known", &k), ("unknown", &u)] {
        assert_eq!(a.status, 200, "{name}: {}", a.text);
        assert_eq!(entry_status(a, 0), "403 Forbidden", "{name}: {}", a.text);
        assert!(
            a.body["entry"][0]["response"].get("location").is_none(),
            "{name}: {}",
            a.text
        );
        assert!(!a.text.contains(&pid), "{name}: {}", a.text);
    }
    assert_eq!(without_ids(&k.body), without_ids(&u.body), "the answers differ");
    let search = |ssn: String| {
        let (net, tb) = (&net, &tb);
        async move {
            fhir(
                net,
                A,
                "GET",
                &format!("/Patient?identifier={SSN}|{ssn}"),
                Some(tb),
                None,
                &[],
            )
            .await
        }
    };
    let (ks, us) = (search(known.clone()).await, search(unknown.clone()).await);
    for (name, a) in [("known", &ks), ("unknown", &us)] {
        assert_eq!(a.status, 200, "search {name}: {}", a.text);
        assert_eq!(
            a.body["entry"].as_array().map_or(0, Vec::len),
            0,
            "search {name}: {}",
            a.text
        );
        assert_eq!(a.body["total"], 0, "search {name}: {}", a.text);
        assert!(!a.text.contains("OperationOutcome"), "search {name} warns: {}", a.text);
    }

    // The custodian's own staff do learn it (the oracle is real, and closed to others).
    let own = fhir(&net, A, "POST", "", Some(&ta), Some(&conditional_create(&known)), &[]).await;
    assert_eq!(entry_status(&own, 0), "200 OK", "{}", own.text);
    assert_eq!(
        own.body["entry"][0]["response"]["location"],
        format!("Patient/{pid}"),
        "{}",
        own.text
    );

    lookups_are_audited(&net, start, &dr_b.client_id(), &dr_a.client_id()).await;
    journal_holds_no_identifier(&net, &known);
}

/// Every attempt is on the ledger, attributed. The custodian's staff lookup is audited as
/// `lookup`. The outsider's conditional creates are refused at the write's role step,
/// before any lookup is made, and audited as refused creates; its identifier searches as
/// searches.
async fn lookups_are_audited(net: &Net, after: u64, outsider: &str, staff: &str) {
    wait_for_audits(net, A, after, |found| {
        let count = |member: &str, actions: &[AuditAction], outcome: AuditOutcome| {
            found
                .iter()
                .filter(|(org, e, _)| {
                    org.as_str() == "hospital-a"
                        && format!("{}/{}", e.actor_org, e.actor_member) == member
                        && actions.contains(&e.action)
                        && e.outcome == outcome
                        && e.resource_type.as_deref() == Some("Patient")
                })
                .count()
        };
        let counts = [
            count(
                outsider,
                &[AuditAction::Lookup, AuditAction::Create],
                AuditOutcome::Denied,
            ),
            count(
                outsider,
                &[AuditAction::Lookup, AuditAction::Search],
                AuditOutcome::Allowed,
            ),
            count(staff, &[AuditAction::Lookup], AuditOutcome::Allowed),
        ];
        if counts[0] >= 2 && counts[1] >= 2 && counts[2] >= 1 {
            Ok(())
        } else {
            Err(format!(
                "outsider's conditional creates {}/2, its searches {}/2, the staff lookup {}/1",
                counts[0], counts[1], counts[2]
            ))
        }
    })
    .await;
}

/// The custodian's journal keeps identifiers only under its own key: neither the SSN nor
/// its plain SHA-256 is in the file.
fn journal_holds_no_identifier(net: &Net, ssn: &str) {
    let journal = std::fs::read(net.homes[A].join("data/custody.redb")).unwrap();
    let contains = |needle: &[u8]| journal.windows(needle.len()).any(|w| w == needle);
    for text in [ssn.to_string(), format!("{SSN}|{ssn}")] {
        let digest = Hash32::digest(&[text.as_bytes()]);
        assert!(!contains(text.as_bytes()), "{text:?} in the journal");
        assert!(
            !contains(digest.to_hex().as_bytes()),
            "SHA-256({text:?}) in hex in the journal"
        );
        assert!(!contains(&digest.0), "SHA-256({text:?}) in the journal");
    }
}

const REASON: &str = "unconscious in ER, attack suite";

/// A break-glass read of `oid` (held by Hospital A) through Clinic B's node. Clinic B's
/// node puts the declaration in a block and asks the custodian at once, naming the height
/// it decided at; the custodian, which decides on its own copy of the ledger, waits until
/// that copy has the block, so the declared read is never refused for being a block early.
async fn break_glass_read(net: &Net, token: &str, oid: &str) -> Answer {
    let glass = [("x-medledger-break-glass", REASON)];
    fhir(net, B, "GET", &format!("/Observation/{oid}"), Some(token), None, &glass).await
}

/// 4. Break-glass: only practitioners, one named patient, declared on the ledger, shown to
/// the patient and the custodian's privacy officer, and at most ten patients a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_bounded_declared_and_shown() {
    let net = network();
    let glass = [("x-medledger-break-glass", REASON)];
    let dr_a = enrol(&net, "hospital-a", &unique("dr-bg-a"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let (pid, oid) = patient_with_observation(&net, A, &ta, "bg").await;
    let pat = enrol(&net, "hospital-a", &pid, MemberKind::Patient).await;
    let dr_b = enrol(&net, "clinic-b", &unique("dr-bg-b"), MemberKind::Practitioner).await;
    let tb = token(&net, B, &dr_b, "user/*.rs").await;

    // No patient named: refused, nothing returned, at the reader's node and the custodian's.
    for (node, t) in [(B, &tb), (A, &ta)] {
        let all = fhir(&net, node, "GET", "/Observation?_count=500", Some(t), None, &glass).await;
        assert_eq!(all.status, 400, "node{node}: {}", all.text);
        assert!(all.is_outcome() && all.body.get("entry").is_none(), "{}", all.text);
        assert!(!all.text.contains("Notebg"), "{}", all.text);
    }
    // Not a practitioner: refused.
    let admin_b = admin(&net, "clinic-b");
    let svc_b = enrol(&net, "clinic-b", &unique("svc-bg"), MemberKind::Service).await;
    for (name, m) in [("admin", &admin_b), ("service", &svc_b)] {
        let t = token(&net, B, m, "system/*.rs").await;
        let r = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&t), None, &glass).await;
        assert_eq!(r.status, 403, "{name} broke the glass: {}", r.text);
    }
    // A practitioner without consent: refused, then allowed with break-glass.
    let no = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&tb), None, &[]).await;
    assert_eq!(no.status, 403, "{}", no.text);
    let yes = break_glass_read(&net, &tb, &oid).await;
    assert_eq!(yes.status, 200, "{}", yes.text);
    assert_eq!(yes.body["id"], oid.as_str());
    break_glass_is_shown(&net, &pat, &pid, &oid, &dr_b).await;

    // Ten distinct patients a day; the eleventh is refused.
    let observations = eleven_patients(&net, &ta).await;
    catch_up(&net, B, A).await;
    let dr_lim = enrol(&net, "clinic-b", &unique("dr-bg-limit"), MemberKind::Practitioner).await;
    let tl = token(&net, B, &dr_lim, "user/*.rs").await;
    for (i, oid) in observations.iter().enumerate() {
        let r = break_glass_read(&net, &tl, oid).await;
        if i < 10 {
            assert_eq!(r.status, 200, "patient {}: {}", i + 1, r.text);
            assert_eq!(r.body["code"]["text"], format!("Notebglimit{i}"));
        } else {
            assert_eq!(r.status, 429, "the eleventh patient in a day: {}", r.text);
            assert!(r.is_outcome(), "{}", r.text);
            assert!(!r.text.contains("bglimit10"), "{}", r.text);
        }
    }
}

/// The patient's access log shows `reader`'s break-glass read of `oid`, flagged, as the
/// custodian recorded it when it served the read, and the reading node's declaration; the custodian's
/// privacy officer sees the reason; Clinic B's admin and privacy officer see nothing.
async fn break_glass_is_shown(net: &Net, pat: &Member, pid: &str, oid: &str, reader: &Member) {
    let reader = reader.client_id();
    let version = format!("Observation/{oid}/_history/1");
    let flagged_read = |log: &[Value], seen_by: &str| {
        log.iter()
            .find(|e| {
                who(e) == reader
                    && observer(e) == seen_by
                    && subtype(e) == "read"
                    && e["outcome"] == "0"
                    && is_break_glass(e)
                    && entity_refs(e).contains(&version)
            })
            .cloned()
    };
    let tp = token(net, A, pat, "patient/*.rs").await;
    let log = wait_for_log(net, A, &tp, pid, T, "the break-glass read", |log| {
        let declared = log
            .iter()
            .any(|e| who(e) == reader && ledger_action(e) == "break-glass" && observer(e) == "clinic-b");
        declared && flagged_read(log, "hospital-a").is_some()
    })
    .await;
    // The custodian's entry is the record of the read: the reader's node adds none.
    assert!(flagged_read(&log, "clinic-b").is_none(), "{:#?}", summary(&log));
    assert!(anchor_ext(&flagged_read(&log, "hospital-a").unwrap(), "receipt").is_some());

    let privacy_a = enrol(net, "hospital-a", &unique("privacy-bg"), MemberKind::Privacy).await;
    let tpa = token(net, A, &privacy_a, "system/*.rs").await;
    let seen = access_log(net, A, &tpa, pid).await;
    let custodians = flagged_read(&seen, "hospital-a").expect("the privacy officer sees the break-glass read");
    assert_eq!(custodians["purposeOfEvent"][0]["text"], REASON, "{custodians}");
    let admin_b = admin(net, "clinic-b");
    let privacy_b = enrol(net, "clinic-b", &unique("privacy-bg"), MemberKind::Privacy).await;
    for (name, m) in [("admin", &admin_b), ("privacy officer", &privacy_b)] {
        for node in [B, A] {
            let t = token(net, node, m, "system/*.rs").await;
            let r = fhir(
                net,
                node,
                "GET",
                &format!("/AuditEvent?patient={pid}"),
                Some(&t),
                None,
                &[],
            )
            .await;
            assert_eq!(r.status, 403, "clinic-b {name} at node{node}: {}", r.text);
            assert!(!r.text.contains(REASON), "{}", r.text);
        }
    }
}

/// Eleven Patients with one Observation each at Hospital A, in one transaction; returns
/// the Observations' ids (the `i`th has the text `Notebglimit{i}`).
async fn eleven_patients(net: &Net, staff: &str) -> Vec<String> {
    let mut entries = Vec::new();
    for i in 0..11 {
        let p = format!("urn:uuid:5b0c5d0e-0000-4000-8000-{:012}", 2 * i);
        let mut o = observation("x", "8867-4", &format!("bglimit{i}"), "2024-07-01");
        o["subject"]["reference"] = json!(p);
        entries.push(json!({"fullUrl": p, "resource": patient(&format!("bglimit{i}")),
                            "request": {"method": "POST", "url": "Patient"}}));
        entries.push(
            json!({"fullUrl": format!("urn:uuid:5b0c5d0e-0000-4000-8000-{:012}", 2 * i + 1),
                            "resource": o, "request": {"method": "POST", "url": "Observation"}}),
        );
    }
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let tr = fhir(net, A, "POST", "", Some(staff), Some(&bundle), &[]).await;
    assert_eq!(tr.status, 200, "{}", tr.text);
    (0..11)
        .map(|i| {
            let loc = tr.body["entry"][2 * i + 1]["response"]["location"].as_str().unwrap();
            loc.split('/').nth(1).unwrap().to_string()
        })
        .collect()
}

/// 5. Ids that are not FHIR ids are refused before anything is recorded, and neither they
/// nor an undecodable journal entry (node3) stop the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_and_a_poisoned_journal_do_not_stop_audit() {
    let net = network();
    let dr = enrol(&net, "hospital-a", &unique("dr-ids"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr, "user/*.cruds").await;
    let (pid, oid) = patient_with_observation(&net, A, &ta, "ids").await;
    let pat = enrol(&net, "hospital-a", &pid, MemberKind::Patient).await;
    let tp = token(&net, A, &pat, "patient/*.rds").await;
    let long = "a".repeat(65);
    for (method, path, t) in [
        ("GET", format!("/Patient/{long}"), &ta),
        ("GET", "/Patient/has%20space".to_string(), &ta),
        ("GET", "/Observation/a_b".to_string(), &ta),
        ("GET", "/Observation/a_b/_history".to_string(), &ta),
        ("GET", "/Observation/a_b/_history/1".to_string(), &ta),
        ("GET", "/Observation/a_b/_history/1/$verify".to_string(), &ta),
        ("GET", format!("/Patient/{long}/$everything"), &ta),
        ("POST", "/Patient/has%20space/$erase".to_string(), &tp),
    ] {
        let r = fhir(&net, A, method, &path, Some(t), None, &[]).await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert!(r.is_outcome(), "{method} {path}: {}", r.text);
        assert_eq!(r.body["issue"][0]["code"], "invalid", "{}", r.text);
    }
    wait_audit_drained(&net, A, T).await;
    let r = fhir(&net, A, "GET", &format!("/Observation/{oid}"), Some(&ta), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let read = format!("Observation/{oid}/_history/1");
    wait_for_log(&net, A, &tp, &pid, T, "a read after the malformed ids", |log| {
        log.iter().any(|e| {
            who(e) == dr.client_id() && subtype(e) == "read" && e["outcome"] == "0" && entity_refs(e).contains(&read)
        })
    })
    .await;
    poisoned_journal_is_set_aside(&net).await;
}

/// node3 started with an undecodable entry in its audit journal: it is quarantined, a
/// placeholder is anchored in its place, and accesses at node3 reach the ledger.
async fn poisoned_journal_is_set_aside(net: &Net) {
    let deadline = Instant::now() + T;
    loop {
        let q = metric(net, D, "audit_quarantined").await;
        if q.is_some_and(|q| q >= 1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "node3 quarantined nothing: {q:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin_d = admin(net, "insurer-d");
    let td = token(net, D, &admin_d, "system/*.cruds").await;
    let (pid, oid) = patient_with_observation(net, D, &td, "poison").await;
    let pat = enrol(net, "insurer-d", &pid, MemberKind::Patient).await;
    let tp = token(net, D, &pat, "patient/*.rs").await;
    let r = fhir(net, D, "GET", &format!("/Observation/{oid}"), Some(&td), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let read = format!("Observation/{oid}/_history/1");
    wait_for_log(net, D, &tp, &pid, T, "a read at the poisoned node", |log| {
        log.iter().any(|e| {
            who(e) == "insurer-d/admin"
                && observer(e) == "insurer-d"
                && subtype(e) == "read"
                && entity_refs(e).contains(&read)
        })
    })
    .await;
    wait_audit_drained(net, D, T).await;
    let to = common::attack::height(net, D).await;
    let placeholders = audit_entries(net, D, 1, to)
        .await
        .into_iter()
        .filter(|(org, e, _)| org.as_str() == "insurer-d" && e.action == AuditAction::Unreadable)
        .count();
    assert!(
        placeholders >= 1,
        "no placeholder for the quarantined entry in blocks 1..={to}"
    );
}

/// 6. An organisation-wide consent to Clinic B opens the record to Clinic B's staff, not
/// to Clinic B's patients, devices or privacy officers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_wide_consent_covers_only_the_grantee_staff() {
    let net = network();
    let dr_a = enrol(&net, "hospital-a", &unique("dr-org"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let (pid, oid) = patient_with_observation(&net, A, &ta, "orgwide").await;
    let pat = enrol(&net, "hospital-a", &pid, MemberKind::Patient).await;
    let consent = org_consent(
        &pid,
        "clinic-b-obs",
        "clinic-b",
        &["Observation"],
        vec![Purpose::Treatment],
    );
    let g = submit_as(&net, A, &pat.key, consent).await;
    assert_eq!(g["outcome"], 0, "{g}");

    let admin_b = admin(&net, "clinic-b");
    let tab = token(&net, B, &admin_b, "system/*.cruds").await;
    let own = fhir(&net, B, "POST", "/Patient", Some(&tab), Some(&patient("at-b")), &[]).await;
    assert_eq!(own.status, 201, "{}", own.text);
    let patient_b = enrol(&net, "clinic-b", own.body["id"].as_str().unwrap(), MemberKind::Patient).await;
    let device_b = enrol(&net, "clinic-b", &unique("monitor"), MemberKind::Device).await;
    let privacy_b = enrol(&net, "clinic-b", &unique("privacy-org"), MemberKind::Privacy).await;
    let dr_b = enrol(&net, "clinic-b", &unique("dr-org"), MemberKind::Practitioner).await;
    let svc_b = enrol(&net, "clinic-b", &unique("svc-org"), MemberKind::Service).await;
    catch_up(&net, B, A).await;
    for (name, m, scope, want) in [
        ("a patient of clinic-b", &patient_b, "patient/*.rs", 403),
        ("a device of clinic-b", &device_b, "system/Observation.r", 403),
        ("a privacy officer of clinic-b", &privacy_b, "system/*.rs", 403),
        ("a practitioner of clinic-b", &dr_b, "user/*.rs", 200),
        ("an admin of clinic-b", &admin_b, "system/*.rs", 200),
        ("a service of clinic-b", &svc_b, "system/*.rs", 200),
    ] {
        let t = token(&net, B, m, scope).await;
        let r = fhir(&net, B, "GET", &format!("/Observation/{oid}"), Some(&t), None, &[]).await;
        assert_eq!(r.status, want, "{name}: {}", r.text);
        assert_eq!(r.text.contains("Noteorgwide"), want == 200, "{name}: {}", r.text);
    }
}

/// 7. Hand-made `POST /node/v1/records/fetch` requests: the custodian checks the
/// connection and the signing key, and decides every item on its own ledger, auditing
/// each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custodian_decides_and_audits_transfers() {
    let net = network();
    let dr_a = enrol(&net, "hospital-a", &unique("dr-xfer"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr_a, "user/*.cruds").await;
    let (pid, oid) = patient_with_observation(&net, A, &ta, "xfer").await;
    let pat = enrol(&net, "hospital-a", &pid, MemberKind::Patient).await;
    let dr_b = enrol(&net, "clinic-b", &unique("dr-xfer"), MemberKind::Practitioner).await;
    let reader_b = dr_b.client_id();
    let (key_b, node_b) = node_key(&net, B);
    let iss_b = format!("clinic-b/{node_b}");
    let mtls_b = node_client(&net, B);
    let item = fetch_item(&reader_b, "Observation", &oid, 1, "treatment", false);
    let request_b = |items: Vec<Value>| fetch_request(&key_b, &iss_b, "hospital-a", items);
    only_a_node_of_the_signing_org_may_ask(&net, &item).await;
    // A field the request no longer has (`kind`): refused whole.
    let mut with_kind = item.clone();
    with_kind["kind"] = json!("practitioner");
    let k = post_fetch(&net, &mtls_b, A, &request_b(vec![with_kind])).await;
    assert_eq!(k.status, 400, "unknown field: {}", k.text);
    // (c) Emergency, with no declaration and no consent.
    let emergency = fetch_item(&reader_b, "Observation", &oid, 1, "treatment", true);
    let c = post_fetch(&net, &mtls_b, A, &request_b(vec![emergency])).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(
        c.body["items"][0]["status"], 403,
        "emergency without a declaration: {}",
        c.text
    );
    assert!(c.body["items"][0].get("ciphertext").is_none() && c.body["items"][0].get("wrapped_key").is_none());
    // (c') A search match asked for a record the reader may not read: refused as the read
    // would be (403), never answered "no match" (204), so matching reveals nothing.
    let mut probe = item.clone();
    probe["only_if"] = json!("code=0000-0");
    let p = post_fetch(&net, &mtls_b, A, &request_b(vec![probe.clone()])).await;
    assert_eq!(
        p.body["items"][0]["status"], 403,
        "a match probe without consent: {}",
        p.text
    );

    // (d) Insurer D asks for treatment under a consent the patient gave it for treatment.
    let dr_d = enrol(&net, "insurer-d", &unique("dr-xfer"), MemberKind::Practitioner).await;
    for (id, grantee, purposes) in [
        ("insurer", "insurer-d", vec![Purpose::Treatment, Purpose::Payment]),
        ("clinic", "clinic-b", vec![Purpose::Treatment]),
    ] {
        let g = submit_as(
            &net,
            A,
            &pat.key,
            org_consent(&pid, id, grantee, &["Observation"], purposes),
        )
        .await;
        assert_eq!(g["outcome"], 0, "{g}");
    }
    catch_up(&net, A, D).await;
    insurer_may_not_read_for_treatment(&net, &dr_d, &oid).await;

    // With consent, the same probe is answered "no match", with nothing sent.
    let p = post_fetch(&net, &mtls_b, A, &request_b(vec![probe])).await;
    assert_eq!(p.body["items"][0]["status"], 204, "a consented non-match: {}", p.text);
    assert!(p.body["items"][0].get("ciphertext").is_none());

    // (e) A consented request, made directly: served, and audited by the custodian alone.
    let request = request_b(vec![item.clone()]);
    let e = post_fetch(&net, &mtls_b, A, &request).await;
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body["items"][0]["status"], 200, "{}", e.text);
    let ct = B64.decode(e.body["items"][0]["ciphertext"].as_str().unwrap()).unwrap();
    let v = fhir(
        &net,
        A,
        "GET",
        &format!("/Observation/{oid}/_history/1/$verify"),
        Some(&ta),
        None,
        &[],
    )
    .await;
    let params = v.body["parameter"].as_array().unwrap();
    let anchored = &params.iter().find(|p| p["name"] == "ciphertextSha256").unwrap()["valueString"];
    assert_eq!(
        Hash32::digest(&[&ct]).to_hex(),
        *anchored,
        "the served ciphertext is the anchored one"
    );
    let replay = post_fetch(&net, &mtls_b, A, &request).await;
    assert_eq!(replay.status, 403, "a replayed request: {}", replay.text);

    let tp = token(&net, A, &pat, "patient/*.rs").await;
    let by = |log: &[Value], reader: &str, outcome: &str| {
        log.iter()
            .filter(|e| who(e) == reader && observer(e) == "hospital-a" && e["outcome"] == outcome)
            .count()
    };
    let reader_d = dr_d.client_id();
    let log = wait_for_log(&net, A, &tp, &pid, T, "the custodian's entries", |log| {
        [(&reader_b, "0"), (&reader_b, "4"), (&reader_d, "0"), (&reader_d, "4")]
            .iter()
            .all(|(r, o)| by(log, r, o) >= 1)
    })
    .await;
    assert_eq!(by(&log, &reader_b, "0"), 1, "{:#?}", summary(&log));
    assert!(
        !log.iter().any(|e| who(e) == reader_b && observer(e) == "clinic-b"),
        "clinic-b's node recorded a read it never made: {:#?}",
        summary(&log)
    );
}

/// (a) and (b): a request comes over mutual TLS, signed by a node key, from a node of
/// the signing organisation.
async fn only_a_node_of_the_signing_org_may_ask(net: &Net, item: &Value) {
    let (key_b, node_b) = node_key(net, B);
    let request_b = || fetch_request(&key_b, &format!("clinic-b/{node_b}"), "hospital-a", vec![item.clone()]);
    let a = post_fetch(net, &net.http, A, &request_b()).await;
    assert_eq!(a.status, 403, "without mutual TLS: {}", a.text);
    // Clinic B's node certificate, signed by a service member that is not a node…
    let svc = enrol(net, "clinic-b", &unique("svc-xfer"), MemberKind::Service).await;
    catch_up(net, A, B).await;
    let forged = fetch_request(&svc.key, &svc.client_id(), "hospital-a", vec![item.clone()]);
    let b = post_fetch(net, &node_client(net, B), A, &forged).await;
    assert_eq!(b.status, 403, "signed by a service key: {}", b.text);
    // … or another organisation's node certificate with Clinic B's node key.
    let b2 = post_fetch(net, &node_client(net, D), A, &request_b()).await;
    assert_eq!(b2.status, 403, "insurer-d's certificate, clinic-b's key: {}", b2.text);
}

/// Insurer D's node asks Hospital A for `oid` for its practitioner: refused for
/// treatment, served for payment, under a consent that names both.
async fn insurer_may_not_read_for_treatment(net: &Net, dr_d: &Member, oid: &str) {
    let (key_d, node_d) = node_key(net, D);
    let mtls_d = node_client(net, D);
    let ask = |purpose: &str| {
        let item = fetch_item(&dr_d.client_id(), "Observation", oid, 1, purpose, false);
        fetch_request(&key_d, &format!("insurer-d/{node_d}"), "hospital-a", vec![item])
    };
    let d = post_fetch(net, &mtls_d, A, &ask("treatment")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(
        d.body["items"][0]["status"], 403,
        "an insurer read for treatment: {}",
        d.text
    );
    assert!(d.body["items"][0].get("ciphertext").is_none(), "{}", d.text);
    let paid = post_fetch(net, &mtls_d, A, &ask("payment")).await;
    assert_eq!(
        paid.body["items"][0]["status"], 200,
        "the same for payment: {}",
        paid.text
    );
}

/// 8. The ledger's contents (who accessed which patient's records) are for members only;
/// tree heads and receipts stay public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_contents_need_a_member_token() {
    let net = network();
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let dr = enrol(&net, "hospital-a", &unique("dr-ledger"), MemberKind::Practitioner).await;
    let ta = token(&net, A, &dr, "user/*.cruds").await;
    let (pid, _) = patient_with_observation(&net, A, &ta, "ledger").await;
    let (registered, pat) = try_register(&net, "hospital-a", &pid, MemberKind::Patient).await;
    assert_eq!(registered["outcome"], 0, "{registered}");
    let hash = registered["hash"].as_str().unwrap().to_string();
    let device = enrol(&net, "hospital-a", &unique("monitor-ledger"), MemberKind::Device).await;
    let tp = token(&net, A, &pat, "patient/*.rs").await;
    let tdev = token(&net, A, &device, "system/Observation.r").await;
    let tadmin = token(&net, A, &admin(&net, "hospital-a"), "system/*.rs").await;
    let state_key = hex::encode(medledger_ledger::keys::member(
        &OrgId::new("hospital-a").unwrap(),
        &MemberId::new(pid.as_str()).unwrap(),
    ));
    for path in [
        "/ct/v1/get-entries?start=0&end=5".to_string(),
        "/v1/blocks/1".to_string(),
        "/v1/blocks/latest".to_string(),
        format!("/v1/tx/{hash}"),
        format!("/v1/state/{state_key}"),
    ] {
        for node in 0..4 {
            let anon = get(&net, node, &path, None).await;
            assert_eq!(anon.status, 401, "anonymous {path} at node{node}: {}", anon.text);
        }
        for (name, t) in [("patient", &tp), ("device", &tdev)] {
            let r = get(&net, A, &path, Some(t)).await;
            assert_eq!(r.status, 403, "{name} {path}: {}", r.text);
        }
        let r = get(&net, A, &path, Some(&tadmin)).await;
        assert_eq!(r.status, 200, "admin {path}: {}", r.text);
    }

    let sth = get(&net, A, "/ct/v1/get-sth", None).await;
    assert_eq!(sth.status, 200, "{}", sth.text);
    assert!(sth.body["tree_size"].as_u64().unwrap() > 0);
    let receipt = get(&net, A, &format!("/v1/receipts/{hash}"), None).await;
    assert_eq!(receipt.status, 200, "{}", receipt.text);
    assert_eq!(receipt.body["status"], "committed");
    assert!(
        receipt.body.get("tx").is_none(),
        "the public receipt carries the transaction: {}",
        receipt.text
    );
    let r: medledger_node::Receipt = serde_json::from_value(receipt.body["receipt"].clone()).unwrap();
    r.verify(&genesis).expect("the receipt verifies against genesis");
    let leaf = medledger_merkle::leaf_hash(&hex::decode(&r.leaf).unwrap());
    let leaf = B64
        .encode(leaf.0)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let size = r.tree_head.head.tree_size.0;
    let proof = get(
        &net,
        A,
        &format!("/ct/v1/get-proof-by-hash?hash={leaf}&tree_size={size}"),
        None,
    )
    .await;
    assert_eq!(proof.status, 200, "{}", proof.text);
    assert_eq!(proof.body["leaf_index"], r.leaf_index, "{}", proof.text);
    for path in ["/v1/status".to_string(), format!("/v1/nonce/{}", pat.key.public())] {
        let r = get(&net, A, &path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}

/// 9. Client assertions: bound to this node's token URL, not from the future, single-use;
/// a member's kind caps the scopes it can hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_assertions_are_bound_fresh_and_single_use() {
    let net = network();
    let dr = enrol(&net, "hospital-a", &unique("dr-token"), MemberKind::Practitioner).await;
    let here = format!("{}/auth/token", net.urls[A]);
    let refused = |a: &Answer, what: &str| {
        assert_eq!(a.status, 401, "{what}: {}", a.text);
        assert_eq!(a.body["error"], "invalid_client", "{what}: {}", a.text);
        assert!(a.body.get("access_token").is_none(), "{what}: {}", a.text);
    };
    // Single use: the first exchange works, the second does not.
    let once = assertion(&dr, &net.urls[A], 60);
    let first = token_request(&net, A, &once, "user/*.rs").await;
    assert_eq!(first.status, 200, "{}", first.text);
    refused(
        &token_request(&net, A, &once, "user/*.rs").await,
        "the same assertion again",
    );
    // Another audience.
    let evil = assertion_with(&dr, assertion_claims(&dr, "https://evil.example/auth/token"));
    refused(
        &token_request(&net, A, &evil, "user/*.rs").await,
        "aud of another server",
    );
    let mut near = assertion_claims(&dr, "");
    near["aud"] = json!(["https://evil.example/auth/token", format!("{here}/")]);
    let near = assertion_with(&dr, near);
    refused(
        &token_request(&net, A, &near, "user/*.rs").await,
        "aud list without this URL",
    );
    let for_b = assertion(&dr, &net.urls[B], 60);
    refused(
        &token_request(&net, A, &for_b, "user/*.rs").await,
        "node1's token URL at node0",
    );
    let at_b = token_request(&net, B, &for_b, "user/*.rs").await;
    assert_eq!(
        at_b.status, 200,
        "the same assertion where it is addressed: {}",
        at_b.text
    );
    // From the future.
    let now = common::attack::now_s();
    for field in ["iat", "nbf"] {
        let mut c = assertion_claims(&dr, &here);
        c[field] = json!(now + 3600);
        let a = token_request(&net, A, &assertion_with(&dr, c), "user/*.rs").await;
        refused(&a, &format!("{field} an hour ahead"));
    }
    let mut c = assertion_claims(&dr, &here);
    c["iat"] = json!(now);
    let current = token_request(&net, A, &assertion_with(&dr, c), "user/*.rs").await;
    assert_eq!(current.status, 200, "iat now: {}", current.text);
    scopes_are_capped_by_kind(&net, &dr).await;
}

/// A patient asking for user or write scopes gets at most `patient/*.rds`; a practitioner
/// gets no system scopes.
async fn scopes_are_capped_by_kind(net: &Net, dr: &Member) {
    let ta = token(net, A, dr, "user/*.cruds").await;
    let (pid, _) = patient_with_observation(net, A, &ta, "token").await;
    let pat = enrol(net, "hospital-a", &pid, MemberKind::Patient).await;
    let escalate = token_request(net, A, &assertion(&pat, &net.urls[A], 60), "user/*.cruds").await;
    match escalate.status {
        400 => assert_eq!(escalate.body["error"], "invalid_scope", "{}", escalate.text),
        200 => {
            let scope = escalate.body["scope"].as_str().unwrap();
            let within = |s: &str| s.starts_with("patient/") && !s.contains('c') && !s.contains('u');
            assert!(scope.split(' ').all(within), "a patient got {scope}");
        }
        other => panic!("a patient asking for user/*.cruds: {other} {}", escalate.text),
    }
    let capped = token_request(net, A, &assertion(&pat, &net.urls[A], 60), "patient/*.cruds").await;
    assert_eq!(capped.status, 200, "{}", capped.text);
    assert_eq!(capped.body["scope"], "patient/*.rds", "{}", capped.text);
    let t = capped.body["access_token"].as_str().unwrap();
    let own = observation(&pid, "8867-4", "self", "2024-01-01");
    let write = fhir(net, A, "POST", "/Observation", Some(t), Some(&own), &[]).await;
    assert_eq!(write.status, 403, "a patient wrote a record: {}", write.text);
    let up = token_request(net, A, &assertion(dr, &net.urls[A], 60), "system/*.cruds").await;
    assert_eq!(up.status, 400, "a practitioner asking for system scopes: {}", up.text);
    assert_eq!(up.body["error"], "invalid_scope", "{}", up.text);
}

/// What the flood saw.
#[derive(Default)]
struct Flood {
    /// Accepted transactions, in nonce order.
    accepted: Vec<Hash32>,
    /// Transactions of batches answered `signer_busy`.
    busy: usize,
    /// Single transactions answered 429 `signer_busy` with `Retry-After`.
    refused_alone: usize,
    /// The most transactions of the signer waiting after a batch.
    most_waiting: usize,
}

/// Submits one batch of 100 transactions from `next` on: the accepted ones are a prefix,
/// the rest is refused `signer_busy`; returns how many were refused.
async fn flood_batch(net: &Net, txs: &[SignedTx], flood: &mut Flood, next: &mut u64) -> usize {
    let resp = net
        .http
        .post(format!("{}/v1/txs?wait=false", net.urls[C]))
        .header("content-type", "application/octet-stream")
        .body(encode_batch(txs))
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    // A batch of which nothing was accepted for load is refused as a whole (429, with
    // `Retry-After`); otherwise 202 with a result per transaction.
    if a.body["accepted"] == 0 {
        assert_eq!(a.status, 429, "{}", a.text);
    } else {
        assert_eq!(a.status, 202, "{}", a.text);
    }
    if a.status == 429 || a.text.contains("signer_busy") {
        assert!(a.headers.contains_key("retry-after"), "{}", a.text);
    }
    let results = a.body["results"].as_array().unwrap();
    assert_eq!(results.len(), txs.len());
    let mut refused = 0;
    for (tx, r) in txs.iter().zip(results) {
        if r["status"] == "pending" {
            assert_eq!(refused, 0, "accepted after a refusal: {r}");
            assert_eq!(r["hash"], tx.hash().to_hex());
            flood.accepted.push(tx.hash());
            *next += 1;
        } else {
            assert_eq!(r["error"]["reason"], "signer_busy", "{r}");
            refused += 1;
        }
    }
    flood.busy += refused;
    // What was waiting when this batch was admitted is at most what is accepted and not
    // committed now.
    let waiting = flood.accepted.len() - committed_prefix(net, C, &flood.accepted).await;
    flood.most_waiting = flood.most_waiting.max(waiting);
    assert!(
        waiting <= MAX_PER_SIGNER,
        "{waiting} transactions of one signer waiting (limit {MAX_PER_SIGNER})"
    );
    refused
}

/// One more transaction on its own, while the signer is busy: 429 with `Retry-After`
/// (or accepted, when some of the flood committed meanwhile).
async fn flood_single(net: &Net, tx: &SignedTx, flood: &mut Flood, next: &mut u64) {
    let r = net
        .http
        .post(format!("{}/v1/tx?wait=false", net.urls[C]))
        .header("content-type", "application/octet-stream")
        .body(tx.encode())
        .send()
        .await
        .unwrap();
    let r = answer(r).await;
    match r.status {
        429 => {
            flood.refused_alone += 1;
            assert!(
                r.headers.contains_key("retry-after"),
                "429 without Retry-After: {:?}",
                r.headers
            );
            assert_eq!(r.body["error"]["reason"], "signer_busy", "{}", r.text);
        }
        202 => {
            flood.accepted.push(tx.hash());
            *next += 1;
        }
        other => panic!("a single transaction of a busy signer: {other} {}", r.text),
    }
}

/// 10. One admin key submits 1,000 transactions to one node in batches of 100: it never
/// has more than `max_per_signer` waiting, the rest is answered `signer_busy` (429 with
/// `Retry-After` for a single transaction), and reads at that node keep being audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signer_cannot_flood_the_mempool() {
    let net = network();
    let genesis = medledger_node::home::read_genesis(&net.dir.join("genesis.json")).unwrap();
    let dr = enrol(&net, "pharmacy-c", &unique("dr-flood"), MemberKind::Practitioner).await;
    let tc = token(&net, C, &dr, "user/*.cruds").await;
    let (pid, oid) = patient_with_observation(&net, C, &tc, "flood").await;
    let pat = enrol(&net, "pharmacy-c", &pid, MemberKind::Patient).await;
    let tp = token(&net, C, &pat, "patient/*.rs").await;

    let flooder = admin(&net, "pharmacy-c");
    let run = unique("flood");
    let sign = |nonce: u64, tag: String| -> SignedTx {
        let member = format!("{tag}-{run}");
        let p = Payload::RegisterMember(RegisterMember {
            org: OrgId::new("pharmacy-c").unwrap(),
            member: MemberId::new(member.as_str()).unwrap(),
            kind: MemberKind::Device,
            public_key: medledger_types::PublicKey(Hash32::digest(&[member.as_bytes()]).0),
        });
        flooder.key.sign_tx(Tx {
            chain_id: genesis.chain_id.clone(),
            signer: flooder.key.public(),
            nonce: Nonce(nonce),
            kind: p.kind(),
            body: p.body(),
        })
    };
    let mut next = next_nonce(&net, C, &flooder.key).await;
    let mut flood = Flood::default();
    let mut reads = 0;
    for batch in 0..10 {
        let txs: Vec<SignedTx> = (0..100).map(|k| sign(next + k, format!("b{batch}-{k}"))).collect();
        if flood_batch(&net, &txs, &mut flood, &mut next).await == 0 {
            continue;
        }
        flood_single(&net, &sign(next, format!("single{batch}")), &mut flood, &mut next).await;
        // While the flood waits, reads at this node go on, each audited.
        while reads < 5 {
            let r = fhir(&net, C, "GET", &format!("/Observation/{oid}"), Some(&tc), None, &[]).await;
            assert_eq!(r.status, 200, "a read during the flood: {}", r.text);
            reads += 1;
        }
    }
    let Flood {
        accepted,
        busy,
        refused_alone,
        most_waiting,
    } = flood;
    eprintln!(
        "flood: {} accepted, {busy} refused signer_busy in batches, {refused_alone} single 429s, at most {most_waiting} waiting",
        accepted.len()
    );
    assert!(
        busy > 0,
        "1,000 transactions and the signer was never busy (at most {most_waiting} waiting)"
    );
    assert!(
        refused_alone > 0,
        "no single transaction was answered 429 while the signer was busy"
    );
    assert_eq!(reads, 5);

    // The reads reach the ledger, the journal drains, and the accepted flood commits.
    let read = format!("Observation/{oid}/_history/1");
    wait_for_log(&net, C, &tp, &pid, T, "the reads during the flood", |log| {
        log.iter()
            .filter(|e| {
                who(e) == dr.client_id()
                    && subtype(e) == "read"
                    && e["outcome"] == "0"
                    && entity_refs(e).contains(&read)
            })
            .count()
            >= 5
    })
    .await;
    wait_audit_drained(&net, C, T).await;
    let deadline = Instant::now() + T;
    while committed_prefix(&net, C, &accepted).await < accepted.len() {
        assert!(
            Instant::now() < deadline,
            "the accepted flood did not commit within {T:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
