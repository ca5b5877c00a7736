//! Golden vectors: the frozen formats of a custodian node, pinned in
//! `tests/vectors/node_v1.json` at the workspace root.
//!
//! The test builds fixed values (an Ed25519 node key and an X25519 encryption key from
//! fixed seeds, fixed records, versions and identifiers) and pins:
//!
//! - the node-to-node transfer request: its claims ([`FetchClaims`], the JSON text
//!   `serde_json::to_vec` writes) and the compact JWS the reading node sends, signed with
//!   its node key (EdDSA is deterministic, so the whole token is pinned); the custodian's
//!   answer ([`FetchResponse`] JSON);
//! - what the custody journal stores: [`LocalVersion`] and [`ErasurePlan`] JSON, the
//!   version keys ([`version_key`]) and the keyed hashes of business identifiers
//!   ([`identifier_key`], HMAC-SHA-256), with and without an identifier system;
//! - every binding domain of `medledger_crypto::bind::domains`, as the exact AEAD
//!   associated data the node seals with: a record's ciphertext, its data key at rest, a
//!   data key sealed to a reading node, and the identifier binding. Envelopes themselves
//!   use random nonces and are not pinned; their AAD and the HMAC are.
//!
//! It then reads each stored value back: the JSON parses to the constructed value and
//! serialises to the same text, the token verifies and its claims pass the custodian's
//! [`parse_request`], and every binding splits back into its domain and fields.
//!
//! These are the bytes nodes exchange and keep on disk: a node built from a changed format
//! cannot talk to the others, cannot open the records it holds, or no longer finds its
//! identifiers. A mismatch therefore fails the test. Changing a frozen format is a
//! deliberate format change: regenerate the file with
//!
//! ```text
//! MEDLEDGER_REGENERATE_VECTORS=1 cargo test -p medledger-custody --test vectors
//! ```
//!
//! and explain the change (and the migration it needs) in the commit message.

use std::collections::BTreeSet;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_crypto::Keypair;
use medledger_crypto::bind::{bind, domains, hmac_sha256};
use medledger_crypto::jws;
use medledger_crypto::wrap::EncryptionKeypair;
use medledger_custody::journal::{ErasurePlan, identifier_key, version_key};
use medledger_custody::{FetchAnswer, FetchClaims, FetchItem, FetchResponse, LocalVersion, MAX_REQUEST, parse_request};
use medledger_ledger::audit::AuditAction;
use medledger_ledger::consent::Purpose;
use medledger_types::{Hash32, OrgId, PublicKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const REGENERATE_VAR: &str = "MEDLEDGER_REGENERATE_VECTORS";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/node_v1.json")
}

fn regenerating() -> bool {
    std::env::var(REGENERATE_VAR).is_ok_and(|v| v == "1")
}

/// The reading node's service key (seed 8, as the node key of `ledger_v1.json`).
fn node_key() -> Keypair {
    Keypair::from_seed([8; 32])
}

/// The reading node's X25519 key, which the custodian seals the batch key to.
fn encryption_key() -> EncryptionKeypair {
    EncryptionKeypair::from_secret_bytes([11; 32])
}

/// The custodian's identifier key.
const IDENTIFIER_SECRET: [u8; 32] = [7; 32];

fn org(s: &str) -> OrgId {
    OrgId::new(s).expect("valid org id")
}

fn claims() -> FetchClaims {
    FetchClaims {
        iss: "pharmacy-b/node-b".into(),
        aud: "hospital-a".into(),
        enc: encryption_key().public().to_string(),
        exp: 1_700_000_060,
        jti: hex::encode((0u8..16).collect::<Vec<u8>>()),
        height: 42,
        items: vec![
            FetchItem {
                sub: "pharmacy-b/pr-0002".into(),
                resource_type: "Observation".into(),
                id: "obs-0001".into(),
                version: 1,
                purpose: Purpose::Treatment,
                emergency: false,
                action: AuditAction::Read,
                note: None,
                only_if: None,
            },
            FetchItem {
                sub: "pharmacy-b/pr-0003".into(),
                resource_type: "MedicationRequest".into(),
                id: "mr-0001".into(),
                version: 3,
                purpose: Purpose::Treatment,
                emergency: true,
                action: AuditAction::Export,
                note: Some("unconscious patient, allergy check before dispensing".into()),
                only_if: None,
            },
        ],
    }
}

/// The header the reading node signs with (`transfer.rs`, `request_batch`).
fn jws_header(key: &Keypair) -> Value {
    json!({"typ": "JWT", "kid": key.public().to_string()})
}

fn response() -> FetchResponse {
    FetchResponse {
        enc: B64.encode([0x21; 32]),
        items: vec![
            FetchAnswer {
                status: 200,
                ciphertext: Some(B64.encode(b"medledger vectors: sealed obs-0001 v1")),
                wrapped_key: Some(B64.encode([0x42; 60])),
                error: None,
            },
            FetchAnswer {
                status: 403,
                ciphertext: None,
                wrapped_key: None,
                error: Some("no consent covers this read".into()),
            },
        ],
    }
}

fn local_version(patient: Option<&str>) -> LocalVersion {
    LocalVersion {
        wrapped_key: (0u8..60).collect(),
        ciphertext: Hash32::digest(&[b"medledger vectors: ciphertext obs-0001"]),
        patient: patient.map(str::to_string),
        last_updated_ms: 1_700_000_001_000,
    }
}

fn erasure_plan() -> ErasurePlan {
    ErasurePlan {
        records: vec![
            ("Observation".into(), "obs-0001".into(), 2),
            ("Patient".into(), "pt-0001".into(), 1),
        ],
        ciphertexts: vec![
            Hash32::digest(&[b"medledger vectors: ciphertext obs-0001"]),
            Hash32::digest(&[b"medledger vectors: ciphertext obs-0001 v2"]),
            Hash32::digest(&[b"medledger vectors: ciphertext pt-0001"]),
        ],
    }
}

/// The binding of a record version: organisation, type, id, version.
struct VersionFields {
    org: &'static str,
    resource_type: &'static str,
    id: &'static str,
    version: u64,
}

const VERSION: VersionFields = VersionFields {
    org: "hospital-a",
    resource_type: "Observation",
    id: "obs-0001",
    version: 3,
};
const READER_ORG: &str = "pharmacy-b";

/// The AAD of every binding domain, as the node builds it. `record_aad` and
/// `key_at_rest_aad` (`custody/src/access.rs`) and `transfer_key_aad`
/// (`custody/src/transfer.rs`) are private to the custody crate, so they are rebuilt here
/// from the same convention — fields in that order, the version as 8 bytes little-endian —
/// and the file pins the convention. The identifier binding is the one [`identifier_key`] hashes.
fn bindings() -> Vec<(&'static str, &'static str, Vec<Vec<u8>>)> {
    let v = &VERSION;
    let version = v.version.to_le_bytes().to_vec();
    vec![
        (
            "bind.record",
            domains::RECORD,
            vec![v.org.into(), v.resource_type.into(), v.id.into(), version.clone()],
        ),
        (
            "bind.key_at_rest",
            domains::KEY_AT_REST,
            vec![v.org.into(), v.resource_type.into(), v.id.into(), version.clone()],
        ),
        (
            "bind.transfer_key",
            domains::TRANSFER_KEY,
            vec![
                v.resource_type.into(),
                v.id.into(),
                version,
                org(READER_ORG).as_str().into(),
            ],
        ),
        (
            "bind.identifier",
            domains::IDENTIFIER,
            vec!["Patient".into(), vec![1], "urn:oid:1.2".into(), "123".into()],
        ),
    ]
}

/// The fields of an identifier's binding: type, whether a system is given (one byte),
/// the system (empty when none), the value.
fn identifier_fields<'a>(t: &'a str, system: Option<&'a str>, value: &'a str) -> [&'a [u8]; 4] {
    let present: &[u8] = if system.is_some() { &[1] } else { &[0] };
    [t.as_bytes(), present, system.unwrap_or("").as_bytes(), value.as_bytes()]
}

/// Every binding domain in use. `domains` is a module of constants and cannot be
/// listed: a new domain must be added here and to [`bindings`].
const DOMAINS: [&str; 4] = [
    domains::RECORD,
    domains::KEY_AT_REST,
    domains::TRANSFER_KEY,
    domains::IDENTIFIER,
];

/// Splits a binding (`domain || 0x00 || (u32 LE length || field)*`) into its domain and
/// fields; `None` if the bytes are not one.
fn unbind(bytes: &[u8]) -> Option<(String, Vec<Vec<u8>>)> {
    let nul = bytes.iter().position(|b| *b == 0)?;
    let domain = String::from_utf8(bytes.get(..nul)?.to_vec()).ok()?;
    let mut rest = bytes.get(nul + 1..)?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        fields.push(tail.get(..len)?.to_vec());
        rest = tail.get(len..)?;
    }
    Some((domain, fields))
}

/// Identifier keys: `(name, type, system, value)`.
const IDENTIFIERS: [(&str, &str, Option<&str>, &str); 2] = [
    ("journal.identifier_key.system", "Patient", Some("urn:oid:1.2"), "123"),
    ("journal.identifier_key.no_system", "Patient", None, "123"),
];

/// Version keys: `(name, type, id, version)`.
const VERSION_KEYS: [(&str, &str, &str, u64); 2] = [
    ("journal.version_key.first", "Observation", "obs-0001", 1),
    ("journal.version_key.largest", "MedicationRequest", "mr-0001", u64::MAX),
];

fn json_text<T: Serialize>(value: &T) -> String {
    String::from_utf8(serde_json::to_vec(value).expect("serialises")).expect("JSON is UTF-8")
}

/// The vectors file as the current code produces it.
fn generate() -> Value {
    let mut vectors = Vec::new();

    let key = node_key();
    let claims = claims();
    vectors.push(json!({
        "name": "transfer.claims",
        "type": "FetchClaims",
        "json": json_text(&claims),
    }));
    let header = jws_header(&key);
    let token = jws::sign_compact(&header, &serde_json::to_value(&claims).expect("claims serialise"), &key);
    vectors.push(json!({
        "name": "transfer.request",
        "type": "compact JWS",
        "kid": key.public().to_string(),
        "token": token,
    }));
    vectors.push(json!({
        "name": "transfer.response",
        "type": "FetchResponse",
        "json": json_text(&response()),
    }));

    vectors.push(json!({
        "name": "journal.local_version",
        "type": "LocalVersion",
        "json": json_text(&local_version(Some("pt-0001"))),
    }));
    vectors.push(json!({
        "name": "journal.local_version.no_patient",
        "type": "LocalVersion",
        "json": json_text(&local_version(None)),
    }));
    vectors.push(json!({
        "name": "journal.erasure_plan",
        "type": "ErasurePlan",
        "json": json_text(&erasure_plan()),
    }));
    for (name, t, id, version) in VERSION_KEYS {
        vectors.push(json!({
            "name": name,
            "type": "version key",
            "key": version_key(t, id, version),
        }));
    }
    for (name, t, system, value) in IDENTIFIERS {
        let binding = bind(domains::IDENTIFIER, &identifier_fields(t, system, value));
        vectors.push(json!({
            "name": name,
            "type": "identifier key",
            "secret": hex::encode(IDENTIFIER_SECRET),
            "binding": hex::encode(binding),
            "hmac": hex::encode(identifier_key(&IDENTIFIER_SECRET, t, system, value)),
        }));
    }

    for (name, domain, fields) in bindings() {
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        vectors.push(json!({
            "name": name,
            "type": "binding",
            "domain": domain,
            "fields": fields.iter().map(hex::encode).collect::<Vec<_>>(),
            "aad": hex::encode(bind(domain, &refs)),
        }));
    }

    json!({
        "description": "medledger frozen node formats, version 1. Generated by crates/node/tests/vectors.rs; \
            hex is lowercase. The reading node's Ed25519 key is from the seed [8; 32], its X25519 key from the \
            secret [11; 32]; the identifier key is [7; 32]. transfer.claims is serde_json::to_vec of the \
            FetchClaims (struct field order); transfer.request is the compact JWS the reading node sends \
            (header {typ, kid} plus alg EdDSA, claims as a serde_json::Value, both serialised with sorted keys; \
            EdDSA is deterministic); json fields are the exact text stored or sent. journal.* are the custody \
            journal's values and keys; identifier keys are HMAC-SHA-256(secret, binding). bind.* are AEAD \
            associated data: domain || 0x00 || for each field u32 little-endian length || field, the version as \
            u64 little-endian. Changing any value here is a deliberate format change: regenerate with \
            MEDLEDGER_REGENERATE_VECTORS=1 and explain it in the commit.",
        "vectors": vectors,
    })
}

fn read_file() -> Value {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; generate it with {REGENERATE_VAR}=1 cargo test -p medledger-custody --test vectors",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The stored vectors, or the freshly generated ones while regenerating (so that tests
/// running in parallel with the writer never read a half-written file).
fn stored_or_generated() -> Value {
    if regenerating() { generate() } else { read_file() }
}

fn vector<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["vectors"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("vector {name:?} is missing from the file"))
}

fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector {}: field {field:?} is not a string", v["name"]))
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(str_field(v, field)).unwrap_or_else(|e| panic!("vector {}: field {field:?} is not hex: {e}", v["name"]))
}

/// Parses the stored JSON text of a vector and checks that it serialises back to exactly
/// that text; returns the parsed value.
fn parse_json<T: Serialize + DeserializeOwned>(v: &Value) -> T {
    let text = str_field(v, "json");
    let parsed: T =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("vector {}: stored JSON does not parse: {e}", v["name"]));
    assert_eq!(
        json_text(&parsed),
        text,
        "vector {}: does not serialise to the same text",
        v["name"]
    );
    parsed
}

#[test]
fn encodings_match_the_frozen_vectors() {
    let generated = generate();
    let path = vectors_path();
    if regenerating() {
        let mut text = serde_json::to_string_pretty(&generated).expect("vectors serialise");
        text.push('\n');
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        // Written to the real stderr, not through `eprintln!`, so that the test harness
        // does not swallow it: regenerating must never go unnoticed.
        let note = format!(
            "\n{REGENERATE_VAR}=1: wrote {}. This is a format change: explain it in the commit message.\n",
            path.display()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }

    let stored = read_file();
    let mut mismatches = Vec::new();
    if stored["description"] != generated["description"] {
        mismatches.push("description".to_owned());
    }
    let gen_vectors = generated["vectors"].as_array().expect("array");
    let stored_vectors = stored["vectors"].as_array().cloned().unwrap_or_default();
    let names = |vs: &[Value]| vs.iter().map(|v| v["name"].to_string()).collect::<Vec<_>>();
    if names(gen_vectors) != names(&stored_vectors) {
        mismatches.push(format!(
            "vector names: file has {:?}, code produces {:?}",
            names(&stored_vectors),
            names(gen_vectors)
        ));
    }
    for g in gen_vectors {
        let name = g["name"].as_str().unwrap_or_default();
        let Some(s) = stored_vectors.iter().find(|s| s["name"] == name) else {
            continue;
        };
        let fields = g
            .as_object()
            .expect("object")
            .keys()
            .chain(s.as_object().into_iter().flat_map(|o| o.keys()));
        let mut seen = BTreeSet::new();
        for field in fields {
            if seen.insert(field) && g[field] != s[field] {
                mismatches.push(format!(
                    "{name}.{field}:\n    file: {}\n    code: {}",
                    s[field], g[field]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "the frozen formats in {} differ from what the code produces:\n  {}\n\n\
         Changing a frozen format is a deliberate format change: nodes built from different \
         formats cannot exchange records, and a node cannot open what it stored or find its \
         identifiers. If that is really intended, regenerate the file with \
         `{REGENERATE_VAR}=1 cargo test -p medledger-custody --test vectors` and explain the \
         change in the commit message.",
        path.display(),
        mismatches.join("\n  ")
    );
}

#[test]
fn stored_encodings_decode_to_the_constructed_values() {
    let file = stored_or_generated();
    let key = node_key();

    // The claims: the custodian's parser accepts them as they are.
    let v = vector(&file, "transfer.claims");
    let parsed: FetchClaims = parse_json(v);
    assert_eq!(parsed, claims());
    let req = parse_request(serde_json::from_str(str_field(v, "json")).expect("JSON"))
        .expect("the custodian accepts the stored claims");
    assert_eq!(req.claims, claims());
    assert_eq!(req.enc, encryption_key().public());
    assert_eq!(req.readers.len(), 2);
    assert_eq!(req.issuer.0, org("pharmacy-b"));

    // The token: it verifies under the key its header names, and carries the claims.
    let v = vector(&file, "transfer.request");
    let token = str_field(v, "token");
    let kid = str_field(v, "kid");
    assert_eq!(kid, key.public().to_string());
    let (header, claims_value) = jws::verify_compact(token, MAX_REQUEST, |h| {
        h.kid.as_deref().and_then(|k| k.parse::<PublicKey>().ok())
    })
    .unwrap_or_else(|e| panic!("vector transfer.request: the stored token does not verify: {e}"));
    assert_eq!(header.alg, "EdDSA");
    assert_eq!(header.kid.as_deref(), Some(kid));
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let req = parse_request(claims_value.clone()).expect("the custodian accepts the token's claims");
    assert_eq!(req.claims, claims());
    // Re-signing what was decoded gives the same token: EdDSA is deterministic.
    assert_eq!(jws::sign_compact(&jws_header(&key), &claims_value, &key), token);
    // And a token is bound to its signer.
    assert!(jws::verify_compact(token, MAX_REQUEST, |_| Some(Keypair::from_seed([9; 32]).public())).is_err());

    // The answer (no `PartialEq` on it: compared through its serialisation).
    let v = vector(&file, "transfer.response");
    let parsed: FetchResponse = parse_json(v);
    assert_eq!(json_text(&parsed), json_text(&response()));
    assert_eq!(parsed.items.len(), 2);

    for (name, patient) in [
        ("journal.local_version", Some("pt-0001")),
        ("journal.local_version.no_patient", None),
    ] {
        let parsed: LocalVersion = parse_json(vector(&file, name));
        assert_eq!(parsed, local_version(patient), "vector {name}");
    }
    let parsed: ErasurePlan = parse_json(vector(&file, "journal.erasure_plan"));
    assert_eq!(parsed, erasure_plan());

    for (name, t, id, version) in VERSION_KEYS {
        let stored = str_field(vector(&file, name), "key");
        assert_eq!(stored, version_key(t, id, version), "vector {name}");
        // Fixed width, so that keys sort by version; and it splits back into its fields.
        let (rest, digits) = stored.rsplit_once('/').expect("type/id/version");
        assert_eq!(digits.len(), 20, "vector {name}: zero-padded to 20 digits");
        assert_eq!(digits.parse::<u64>().ok(), Some(version), "vector {name}");
        assert_eq!(rest, format!("{t}/{id}"), "vector {name}");
    }

    for (name, t, system, value) in IDENTIFIERS {
        let v = vector(&file, name);
        let secret: [u8; 32] = hex_field(v, "secret").try_into().expect("32 bytes");
        let binding = hex_field(v, "binding");
        let hmac = hex_field(v, "hmac");
        assert_eq!(hmac, identifier_key(&secret, t, system, value), "vector {name}");
        assert_eq!(
            hmac,
            hmac_sha256(&secret, &binding),
            "vector {name}: HMAC of the binding"
        );
        let (domain, fields) = unbind(&binding).expect("a binding");
        assert_eq!(domain, domains::IDENTIFIER, "vector {name}");
        assert_eq!(fields, identifier_fields(t, system, value), "vector {name}");
    }

    for (name, domain, fields) in bindings() {
        let v = vector(&file, name);
        assert_eq!(str_field(v, "domain"), domain, "vector {name}");
        let stored_fields: Vec<Vec<u8>> = v["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| hex::decode(f.as_str().expect("hex")).expect("hex"))
            .collect();
        assert_eq!(stored_fields, fields, "vector {name}");
        let aad = hex_field(v, "aad");
        assert_eq!(
            unbind(&aad),
            Some((domain.to_string(), fields.clone())),
            "vector {name}"
        );
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        assert_eq!(bind(domain, &refs), aad, "vector {name}: rebuilds to the same bytes");
    }
}

#[test]
fn every_binding_domain_has_a_vector() {
    let pinned: BTreeSet<&str> = bindings().iter().map(|(_, d, _)| *d).collect();
    for d in DOMAINS {
        assert!(pinned.contains(d), "binding domain {d} has no vector");
    }
    let distinct: BTreeSet<&str> = DOMAINS.into_iter().collect();
    assert_eq!(distinct.len(), DOMAINS.len(), "binding domains are distinct");
    // The identifier vectors pin the same binding that `bind.identifier` does.
    let file = stored_or_generated();
    assert_eq!(
        hex_field(vector(&file, "journal.identifier_key.system"), "binding"),
        hex_field(vector(&file, "bind.identifier"), "aad")
    );
}
