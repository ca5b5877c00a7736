//! Health records: anchors of encrypted record versions held off-chain by their
//! custodian organisation, and their erasure.
//!
//! Rules:
//! - A record is `{type}/{id}`; its versions are anchored in order (1, 2, …) by a
//!   service or admin key of the custodian organisation, and only the custodian anchors
//!   new versions.
//! - An anchor holds the record id, version, resource type, patient pseudonym (the FHIR
//!   Patient id), the SHA-256 of the ciphertext, the custodian and the author. Nothing
//!   else: no names, identifiers, dates of birth, free text or plaintext hashes.
//! - A record names a patient only if that patient's Patient record is on the ledger, not
//!   erased, or is created in the same transaction.
//! - Erasure marks a patient's records erased; the ciphertexts and keys are destroyed off
//!   the ledger, and no version may be added afterwards.

pub mod anchor;
pub mod erase;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, Height, MemberId, OrgId, PublicKey, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind};
use crate::state::{Overlay, StateRead, keys, read};

/// Longest record id, resource type or pseudonym.
pub const MAX_ID: usize = 64;

/// A FHIR resource type name: 1 to 64 ASCII letters, starting with a capital.
pub fn valid_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID
        && s.bytes().all(|b| b.is_ascii_alphabetic())
        && s.as_bytes()[0].is_ascii_uppercase()
}

/// A record id or patient pseudonym: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_id(s: &str) -> bool {
    medledger_types::ids::validate_id("id", s).is_ok()
}

pub(crate) fn read_type(r: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    let s = r.string(MAX_ID, what)?;
    if !valid_type(&s) {
        return Err(DecodeError::Invalid {
            what,
            reason: "not a resource type name",
        });
    }
    Ok(s)
}

pub(crate) fn read_id(r: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    let s = r.string(MAX_ID, what)?;
    if !valid_id(&s) {
        return Err(DecodeError::Invalid {
            what,
            reason: "ids are 1 to 64 of A-Z a-z 0-9 . _ -",
        });
    }
    Ok(s)
}

pub(crate) fn put_opt_str(out: &mut Vec<u8>, v: &Option<String>) {
    match v {
        None => put::u8(out, 0),
        Some(s) => {
            put::u8(out, 1);
            put::str(out, s);
        }
    }
}

pub(crate) fn read_opt<T>(
    r: &mut Reader<'_>,
    what: &'static str,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match r.u8(what)? {
        0 => Ok(None),
        1 => f(r).map(Some),
        tag => Err(DecodeError::InvalidTag { what, tag }),
    }
}

/// `record/{type}/{id}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    pub custodian: OrgId,
    pub patient: Option<String>,
    pub latest: u64,
    pub erased: bool,
}

/// `recver/{type}/{id}/{version}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionAnchor {
    pub ciphertext: Hash32,
    pub author: MemberId,
    pub height: Height,
    pub timestamp: TimestampMs,
}

/// `erasure/{patient}/{custodian}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub height: Height,
    pub timestamp: TimestampMs,
    pub records: u32,
}

impl Encode for RecordState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.custodian.encode_to(out);
        put_opt_str(out, &self.patient);
        put::u64(out, self.latest);
        put::bool(out, self.erased);
    }
}

impl Decode for RecordState {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RecordState {
            custodian: OrgId::decode_from(r)?,
            patient: read_opt(r, "patient", |r| read_id(r, "patient"))?,
            latest: r.u64("latest")?,
            erased: r.bool("erased")?,
        })
    }
}

impl Encode for VersionAnchor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.ciphertext.encode_to(out);
        self.author.encode_to(out);
        self.height.encode_to(out);
        self.timestamp.encode_to(out);
    }
}

impl Decode for VersionAnchor {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VersionAnchor {
            ciphertext: Hash32::decode_from(r)?,
            author: MemberId::decode_from(r)?,
            height: Height::decode_from(r)?,
            timestamp: TimestampMs::decode_from(r)?,
        })
    }
}

impl Encode for ErasureRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.height.encode_to(out);
        self.timestamp.encode_to(out);
        put::u32(out, self.records);
    }
}

impl Decode for ErasureRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ErasureRecord {
            height: Height::decode_from(r)?,
            timestamp: TimestampMs::decode_from(r)?,
            records: r.u32("records")?,
        })
    }
}

/// A record's current state.
pub fn record_state(state: &dyn StateRead, resource_type: &str, id: &str) -> Option<RecordState> {
    read(state, &keys::record(resource_type, id))
}

/// The anchor of one version.
pub fn version_anchor(state: &dyn StateRead, resource_type: &str, id: &str, version: u64) -> Option<VersionAnchor> {
    read(state, &keys::record_version(resource_type, id, version))
}

/// The erasure of a patient's records held by `custodian`, if any.
pub fn erasure(state: &dyn StateRead, patient: &str, custodian: &OrgId) -> Option<ErasureRecord> {
    read(state, &keys::erasure(patient, custodian))
}

/// Fails unless `signer` is an active service or admin key of `org`.
pub(crate) fn require_writer(state: &Overlay<'_>, signer: &PublicKey, org: &OrgId) -> Result<(), TxError> {
    let rec = crate::identity::signer_record(state, signer)?;
    if rec.status == KeyStatus::Active && matches!(rec.kind, MemberKind::Service | MemberKind::Admin) && &rec.org == org
    {
        Ok(())
    } else {
        Err(TxError::NotAuthorized)
    }
}
