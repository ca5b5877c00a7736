//! Practitioner credential lifecycle: issue, verify, revoke through the status list,
//! verify refused; and the checks on the way.

use medledger_credentials::UnixTime;
use medledger_credentials::di::DiError;
use medledger_credentials::di::{self, ProofOptions, VerificationMethod};
use medledger_credentials::npi::Npi;
use medledger_credentials::practitioner::{self, CredentialError, PractitionerCredential};
use medledger_credentials::status_list::{
    self, DEFAULT_MAX_BYTES, MIN_ENTRIES, StatusEntry, StatusList, StatusListError,
};
use medledger_crypto::Keypair;
use medledger_types::OrgId;
use serde_json::Value;

const LIST_URL: &str = "https://regulator-r.example/status/1";

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).unwrap()
}

fn board() -> Keypair {
    Keypair::from_seed([42; 32])
}

fn credential() -> PractitionerCredential {
    PractitionerCredential {
        id: "urn:uuid:7d9a1f52-2c1e-4b0e-9a55-3f1e2d0c4b71".into(),
        issuer: OrgId::new("regulator-r").unwrap(),
        subject: "urn:medledger:org:hospital-a:member:dr-0001".into(),
        npi: Npi::parse("1234567893").unwrap(),
        license_number: "MD-123456".into(),
        jurisdiction: "US-MA".into(),
        specialty: "Internal Medicine".into(),
        valid_from: t("2025-01-01T00:00:00Z"),
        valid_until: t("2027-01-01T00:00:00Z"),
        status: StatusEntry {
            list_credential: LIST_URL.into(),
            index: 94_567,
            purpose: "revocation".into(),
        },
    }
}

fn signed_list(list: &StatusList, key: &Keypair) -> Value {
    let unsigned = status_list::list_credential(
        LIST_URL,
        "urn:medledger:org:regulator-r",
        "revocation",
        t("2025-01-01T00:00:00Z"),
        list,
    );
    let method = VerificationMethod::Ledger {
        org: OrgId::new("regulator-r").unwrap(),
        key: key.public(),
    };
    di::create_proof(
        &unsigned,
        &ProofOptions::assertion(method, t("2025-01-01T00:00:00Z")),
        key,
    )
    .unwrap()
}

#[test]
fn issue_verify_revoke_refuse() {
    let key = board();
    let issued = practitioner::issue(&credential(), &key, t("2025-01-01T00:00:00Z")).unwrap();
    assert_eq!(issued["credentialSubject"]["npi"], "1234567893");
    assert_eq!(issued["credentialStatus"]["type"], "BitstringStatusListEntry");
    assert_eq!(issued["credentialStatus"]["statusListIndex"], "94567");
    assert_eq!(issued["proof"]["cryptosuite"], "eddsa-jcs-2022");

    let mut list = StatusList::new(MIN_ENTRIES).unwrap();
    let now = t("2026-03-01T12:00:00Z");
    let ok = practitioner::verify(&issued, now, Some(&signed_list(&list, &key)), DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(ok.credential, credential());
    assert_eq!(
        ok.proof.method,
        VerificationMethod::Ledger {
            org: OrgId::new("regulator-r").unwrap(),
            key: key.public()
        }
    );

    // The board revokes: the bit is set and the list re-signed.
    list.set(94_567, true).unwrap();
    let revoked_list = signed_list(&list, &key);
    assert_eq!(
        practitioner::verify(&issued, now, Some(&revoked_list), DEFAULT_MAX_BYTES),
        Err(CredentialError::Revoked {
            list: LIST_URL.into(),
            index: 94_567
        })
    );
    // A list signed by someone else is not the board's list.
    let forged = signed_list(&StatusList::new(MIN_ENTRIES).unwrap(), &Keypair::from_seed([1; 32]));
    let mut forged_other_org = forged.clone();
    forged_other_org["proof"]["verificationMethod"] = VerificationMethod::Ledger {
        org: OrgId::new("clinic-b").unwrap(),
        key: Keypair::from_seed([1; 32]).public(),
    }
    .to_string()
    .into();
    assert!(practitioner::verify(&issued, now, Some(&forged_other_org), DEFAULT_MAX_BYTES).is_err());
}

#[test]
fn validity_window_is_checked_at_the_given_time() {
    let issued = practitioner::issue(&credential(), &board(), t("2025-01-01T00:00:00Z")).unwrap();
    let verify = |at| practitioner::verify(&issued, t(at), None, DEFAULT_MAX_BYTES);
    assert!(verify("2025-01-01T00:00:00Z").is_ok());
    assert!(verify("2027-01-01T00:00:00Z").is_ok());
    assert!(matches!(
        verify("2024-12-31T23:59:59Z"),
        Err(CredentialError::NotYetValid(_))
    ));
    assert!(matches!(
        verify("2027-01-01T00:00:01Z"),
        Err(CredentialError::Expired(_))
    ));
}

#[test]
fn a_changed_credential_or_a_foreign_key_is_refused() {
    let issued = practitioner::issue(&credential(), &board(), t("2025-01-01T00:00:00Z")).unwrap();
    let at = t("2026-01-01T00:00:00Z");
    let mut changed = issued.clone();
    changed["credentialSubject"]["specialty"] = "Neurosurgery".into();
    assert_eq!(
        practitioner::verify(&changed, at, None, DEFAULT_MAX_BYTES),
        Err(CredentialError::Proof(DiError::BadSignature))
    );
    // Signed with a did:key rather than the board's ledger key.
    let did_signed = di::create_proof(
        &credential().to_json(),
        &ProofOptions::assertion(VerificationMethod::DidKey(board().public()), at),
        &board(),
    )
    .unwrap();
    assert!(matches!(
        practitioner::verify(&did_signed, at, None, DEFAULT_MAX_BYTES),
        Err(CredentialError::NotIssuerKey(_))
    ));
    // Signed by another organisation's ledger key.
    let mut other = credential();
    other.issuer = OrgId::new("clinic-b").unwrap();
    let other_signed = practitioner::issue(&other, &board(), at).unwrap();
    let mut claimed = other_signed.clone();
    claimed["issuer"] = "urn:medledger:org:regulator-r".into();
    assert!(practitioner::verify(&claimed, at, None, DEFAULT_MAX_BYTES).is_err());
}

#[test]
fn an_invalid_npi_is_refused_even_when_signed() {
    let mut doc = credential().to_json();
    doc["credentialSubject"]["npi"] = "1234567890".into();
    let method = VerificationMethod::Ledger {
        org: OrgId::new("regulator-r").unwrap(),
        key: board().public(),
    };
    let signed = di::create_proof(
        &doc,
        &ProofOptions::assertion(method, t("2025-01-01T00:00:00Z")),
        &board(),
    )
    .unwrap();
    assert!(matches!(
        practitioner::verify(&signed, t("2026-01-01T00:00:00Z"), None, DEFAULT_MAX_BYTES),
        Err(CredentialError::Npi(_))
    ));
}

#[test]
fn status_lists_round_trip_and_hostile_lists_are_bounded() {
    let mut list = StatusList::new(MIN_ENTRIES).unwrap();
    for i in [0u64, 7, 8, 94_567, MIN_ENTRIES as u64 - 1] {
        list.set(i, true).unwrap();
    }
    let encoded = list.encode();
    assert!(encoded.starts_with('u'));
    let back = StatusList::decode(&encoded, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(back, list);
    assert!(back.get(94_567).unwrap() && !back.get(94_566).unwrap());

    // 64 MiB of zeros compress to ~64 KiB; with a 2 MiB cap the expansion stops there.
    let bomb = {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&zeros).unwrap();
        }
        medledger_credentials::multibase::encode_base64url(&gz.finish().unwrap())
    };
    assert_eq!(
        StatusList::decode(&bomb, DEFAULT_MAX_BYTES),
        Err(StatusListError::TooLarge(DEFAULT_MAX_BYTES))
    );
    // Too small, not GZIP, not multibase base64url.
    let small = {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&[0u8; 1024]).unwrap();
        medledger_credentials::multibase::encode_base64url(&gz.finish().unwrap())
    };
    assert_eq!(
        StatusList::decode(&small, DEFAULT_MAX_BYTES),
        Err(StatusListError::TooSmall(1024))
    );
    assert_eq!(
        StatusList::decode("uAAAA", DEFAULT_MAX_BYTES),
        Err(StatusListError::Gzip)
    );
    assert!(matches!(
        StatusList::decode("zAAAA", DEFAULT_MAX_BYTES),
        Err(StatusListError::Multibase(_))
    ));
}
