//! Practitioner credentials: a licensing board (a regulator organisation on the ledger)
//! attests a practitioner's licence as a W3C Verifiable Credential 2.0, secured with an
//! `eddsa-jcs-2022` Data Integrity proof ([`crate::di`]) by the board's ledger key, its
//! revocation through a Bitstring Status List ([`crate::status_list`]).
//!
//! The credential (VC Data Model 2.0, §4 "Basic Concepts"):
//!
//! ```json
//! {
//!   "@context": ["https://www.w3.org/ns/credentials/v2"],
//!   "id": "urn:uuid:…",
//!   "type": ["VerifiableCredential", "PractitionerLicenseCredential"],
//!   "issuer": "urn:medledger:org:<board>",
//!   "validFrom": "2025-01-01T00:00:00Z",
//!   "validUntil": "2027-01-01T00:00:00Z",
//!   "credentialSubject": {
//!     "id": "<the practitioner>",
//!     "type": "Practitioner",
//!     "npi": "1234567893",
//!     "licenseNumber": "MD-123456",
//!     "jurisdiction": "US-MA",
//!     "specialty": "…"
//!   },
//!   "credentialStatus": { "type": "BitstringStatusListEntry", … },
//!   "proof": { "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", … }
//! }
//! ```
//!
//! The subject's terms are not in the VC 2.0 context; that context's `@vocab` makes them
//! issuer-dependent terms, which is enough for a JCS-secured credential (JCS signs the JSON,
//! not an RDF graph). Verification ([`verify`]) checks, in order: the proof; that its
//! verification method is the issuer's ledger key (`urn:medledger:org:<board>#…`, the
//! caller then checks the key was the board's at `created`); the type; the validity window
//! at the given time (`validFrom ≤ t ≤ validUntil`); the NPI check digit; and, when a
//! status list credential is given, that it is signed by the same board and the entry's bit
//! is clear.

use crate::di::{self, DiError, ORG_URN_PREFIX, ProofOptions, VerificationMethod, VerifiedProof};
use crate::npi::{Npi, NpiError};
use crate::status_list::{ListCredential, StatusEntry, StatusListError};
use crate::time::UnixTime;
use medledger_crypto::Keypair;
use medledger_types::OrgId;
use serde_json::{Value, json};
use thiserror::Error;

pub const VC_V2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
pub const CREDENTIAL_TYPE: &str = "PractitionerLicenseCredential";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    #[error("proof: {0}")]
    Proof(#[from] DiError),
    #[error("credential member {0} is missing or malformed")]
    Member(&'static str),
    #[error("the proof is not by the issuer's ledger key (verification method {0})")]
    NotIssuerKey(String),
    #[error("the credential is not valid until {0:?}")]
    NotYetValid(String),
    #[error("the credential expired at {0:?}")]
    Expired(String),
    #[error("NPI: {0}")]
    Npi(#[from] NpiError),
    #[error("status list: {0}")]
    StatusList(#[from] StatusListError),
    #[error("the status list credential is not the one the credential names, or not by its issuer")]
    WrongStatusList,
    #[error("the status list's proof: {0}")]
    StatusListProof(DiError),
    #[error("the credential is revoked (status list {list}, index {index})")]
    Revoked { list: String, index: u64 },
}

/// What a practitioner credential states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PractitionerCredential {
    /// The credential's own id, e.g. `urn:uuid:…`.
    pub id: String,
    /// The licensing board.
    pub issuer: OrgId,
    /// The practitioner (a URI, e.g. a member's `urn:medledger:org:<org>:member:<id>`).
    pub subject: String,
    pub npi: Npi,
    pub license_number: String,
    /// Where the licence holds, e.g. an ISO 3166-2 code such as `US-MA`.
    pub jurisdiction: String,
    pub specialty: String,
    pub valid_from: UnixTime,
    pub valid_until: UnixTime,
    pub status: StatusEntry,
}

impl PractitionerCredential {
    /// The unsigned credential.
    pub fn to_json(&self) -> Value {
        json!({
            "@context": [VC_V2_CONTEXT],
            "id": self.id,
            "type": ["VerifiableCredential", CREDENTIAL_TYPE],
            "issuer": format!("{ORG_URN_PREFIX}{}", self.issuer),
            "validFrom": self.valid_from.to_rfc3339(),
            "validUntil": self.valid_until.to_rfc3339(),
            "credentialSubject": {
                "id": self.subject,
                "type": "Practitioner",
                "npi": self.npi.as_str(),
                "licenseNumber": self.license_number,
                "jurisdiction": self.jurisdiction,
                "specialty": self.specialty,
            },
            "credentialStatus": self.status.to_json(),
        })
    }

    /// Reads the statements of a credential (the proof is not checked here).
    pub fn from_json(v: &Value) -> Result<PractitionerCredential, CredentialError> {
        let text = |v: &Value, name: &'static str| -> Result<String, CredentialError> {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(CredentialError::Member(name))
        };
        let has_context = v
            .get("@context")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .is_some_and(|c| c == VC_V2_CONTEXT);
        if !has_context {
            return Err(CredentialError::Member("@context"));
        }
        let types_ok = v
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t == "VerifiableCredential") && t.iter().any(|t| t == CREDENTIAL_TYPE));
        if !types_ok {
            return Err(CredentialError::Member("type"));
        }
        let issuer = text(v, "issuer")?;
        let issuer = issuer
            .strip_prefix(ORG_URN_PREFIX)
            .and_then(|o| OrgId::new(o).ok())
            .ok_or(CredentialError::Member("issuer"))?;
        let time = |name: &'static str| -> Result<UnixTime, CredentialError> {
            UnixTime::parse_rfc3339(&text(v, name)?).map_err(|_| CredentialError::Member(name))
        };
        let subject = v
            .get("credentialSubject")
            .filter(|s| s.is_object())
            .ok_or(CredentialError::Member("credentialSubject"))?;
        let status = v
            .get("credentialStatus")
            .ok_or(CredentialError::Member("credentialStatus"))?;
        Ok(PractitionerCredential {
            id: text(v, "id")?,
            issuer,
            subject: text(subject, "id")?,
            npi: Npi::parse(&text(subject, "npi")?)?,
            license_number: text(subject, "licenseNumber")?,
            jurisdiction: text(subject, "jurisdiction")?,
            specialty: text(subject, "specialty")?,
            valid_from: time("validFrom")?,
            valid_until: time("validUntil")?,
            status: StatusEntry::from_json(status)?,
        })
    }
}

/// Issues `credential`, signed by the board's ledger key `key` at `created`.
pub fn issue(credential: &PractitionerCredential, key: &Keypair, created: UnixTime) -> Result<Value, CredentialError> {
    let method = VerificationMethod::Ledger {
        org: credential.issuer.clone(),
        key: key.public(),
    };
    Ok(di::create_proof(
        &credential.to_json(),
        &ProofOptions::assertion(method, created),
        key,
    )?)
}

/// A credential that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    pub credential: PractitionerCredential,
    /// The caller must check that this key was registered to the issuer at `proof.created`.
    pub proof: VerifiedProof,
}

/// Checks a practitioner credential at time `at` (see the module docs for the order).
/// `status_list`, when given, is the `BitstringStatusListCredential` the credential names;
/// `max_list_bytes` caps its expansion.
pub fn verify(
    secured: &Value,
    at: UnixTime,
    status_list: Option<&Value>,
    max_list_bytes: usize,
) -> Result<VerifiedCredential, CredentialError> {
    let proof = di::verify_proof(secured)?;
    let credential = PractitionerCredential::from_json(secured)?;
    check_issuer_key(&proof, &credential.issuer)?;
    if at < credential.valid_from {
        return Err(CredentialError::NotYetValid(credential.valid_from.to_rfc3339()));
    }
    if at > credential.valid_until {
        return Err(CredentialError::Expired(credential.valid_until.to_rfc3339()));
    }
    if let Some(list_doc) = status_list {
        let list_proof = di::verify_proof(list_doc).map_err(CredentialError::StatusListProof)?;
        let list = ListCredential::from_json(list_doc, max_list_bytes)?;
        let issuer_urn = format!("{ORG_URN_PREFIX}{}", credential.issuer);
        if list.id != credential.status.list_credential
            || list.issuer != issuer_urn
            || list.purpose != credential.status.purpose
        {
            return Err(CredentialError::WrongStatusList);
        }
        check_issuer_key(&list_proof, &credential.issuer).map_err(|_| CredentialError::WrongStatusList)?;
        if list.list.get(credential.status.index)? {
            return Err(CredentialError::Revoked {
                list: list.id,
                index: credential.status.index,
            });
        }
    }
    Ok(VerifiedCredential { credential, proof })
}

fn check_issuer_key(proof: &VerifiedProof, issuer: &OrgId) -> Result<(), CredentialError> {
    match &proof.method {
        VerificationMethod::Ledger { org, .. } if org == issuer => Ok(()),
        other => Err(CredentialError::NotIssuerKey(other.to_string())),
    }
}
