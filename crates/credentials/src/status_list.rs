//! W3C Bitstring Status List v1.0.
//!
//! - A status list is a bitstring; the entry at index 0 is the left-most bit, i.e. the most
//!   significant bit of the first byte (§2.1 "BitstringStatusListEntry", §3.1 "Bitstring
//!   Generation Algorithm").
//! - Its minimum size is 16 KiB (131,072 entries), so that one credential's status does
//!   not stand out (§6.1 "Herd Privacy"; §2.2 "BitstringStatusListCredential").
//! - `encodedList` is the multibase base64url (no padding, prefix `u`) of the GZIP
//!   (RFC 1952) compression of the bitstring (§2.2, §3.1).
//! - Decoding (§3.2 "Bitstring Expansion Algorithm") refuses an expansion shorter than the
//!   minimum, and here also one longer than a caller-given cap: a list fetched from
//!   elsewhere is hostile, and a few kilobytes of GZIP can expand to gigabytes.
//!
//! A credential points at its entry with a `credentialStatus` of type
//! `BitstringStatusListEntry` ([`StatusEntry`]); the list itself is published as a
//! `BitstringStatusListCredential` ([`list_credential`]) signed by the same issuer.

use crate::multibase::{self, MultibaseError};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::{Read, Write};
use thiserror::Error;

/// 16 KiB, in entries (bits).
pub const MIN_ENTRIES: usize = 131_072;
/// The default cap on a decoded list: 2 MiB, 16,777,216 entries.
pub const DEFAULT_MAX_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatusListError {
    #[error("a status list holds at least {MIN_ENTRIES} entries and a multiple of 8; {0} asked")]
    Size(usize),
    #[error("index {index} is outside the list of {len} entries")]
    Index { index: u64, len: usize },
    #[error("encodedList: {0}")]
    Multibase(MultibaseError),
    #[error("encodedList is not GZIP data")]
    Gzip,
    #[error("encodedList expands to more than {0} bytes")]
    TooLarge(usize),
    #[error("encodedList expands to {0} bytes, fewer than the minimum 16 KiB")]
    TooSmall(usize),
    #[error("credentialStatus member {0} is missing or malformed")]
    Entry(&'static str),
    #[error("status list credential member {0} is missing or malformed")]
    ListCredential(&'static str),
}

/// A bitstring of status entries.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusList({} entries)", self.len())
    }
}

impl StatusList {
    /// A list of `entries` zero bits.
    pub fn new(entries: usize) -> Result<StatusList, StatusListError> {
        if entries < MIN_ENTRIES || !entries.is_multiple_of(8) {
            return Err(StatusListError::Size(entries));
        }
        Ok(StatusList {
            bytes: vec![0; entries / 8],
        })
    }

    pub fn len(&self) -> usize {
        self.bytes.len() * 8
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn locate(&self, index: u64) -> Result<(usize, u8), StatusListError> {
        let i = usize::try_from(index)
            .ok()
            .filter(|i| *i < self.len())
            .ok_or(StatusListError::Index { index, len: self.len() })?;
        Ok((i / 8, 0x80 >> (i % 8)))
    }

    pub fn get(&self, index: u64) -> Result<bool, StatusListError> {
        let (byte, mask) = self.locate(index)?;
        Ok(self.bytes[byte] & mask != 0)
    }

    pub fn set(&mut self, index: u64, value: bool) -> Result<(), StatusListError> {
        let (byte, mask) = self.locate(index)?;
        if value {
            self.bytes[byte] |= mask;
        } else {
            self.bytes[byte] &= !mask;
        }
        Ok(())
    }

    /// The `encodedList` value: `u` + base64url(GZIP(bitstring)).
    pub fn encode(&self) -> String {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&self.bytes);
        let compressed = gz.finish().unwrap_or_default();
        multibase::encode_base64url(&compressed)
    }

    /// Decodes an `encodedList`, refusing one that expands beyond `max_bytes`.
    pub fn decode(encoded: &str, max_bytes: usize) -> Result<StatusList, StatusListError> {
        // GZIP cannot shrink data by more than ~1032:1; a longer input is refused unread.
        let max_chars = max_bytes.saturating_add(1024).saturating_mul(4) / 3 + 8;
        let compressed = multibase::decode_base64url(encoded, max_chars).map_err(StatusListError::Multibase)?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
        GzDecoder::new(compressed.as_slice())
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|_| StatusListError::Gzip)?;
        if bytes.len() > max_bytes {
            return Err(StatusListError::TooLarge(max_bytes));
        }
        if bytes.len() * 8 < MIN_ENTRIES {
            return Err(StatusListError::TooSmall(bytes.len()));
        }
        Ok(StatusList { bytes })
    }
}

/// A credential's `credentialStatus` of type `BitstringStatusListEntry` (§2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The URL of the `BitstringStatusListCredential`.
    pub list_credential: String,
    pub index: u64,
    /// `revocation` or `suspension` (or another purpose the list names).
    pub purpose: String,
}

impl StatusEntry {
    pub fn to_json(&self) -> Value {
        json!({
            "id": format!("{}#{}", self.list_credential, self.index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": self.purpose,
            // The spec makes the index a string of a base-10 integer.
            "statusListIndex": self.index.to_string(),
            "statusListCredential": self.list_credential,
        })
    }

    pub fn from_json(v: &Value) -> Result<StatusEntry, StatusListError> {
        let text = |name: &'static str| v.get(name).and_then(Value::as_str).ok_or(StatusListError::Entry(name));
        if text("type")? != "BitstringStatusListEntry" {
            return Err(StatusListError::Entry("type"));
        }
        let index = text("statusListIndex")?;
        if index.is_empty() || index.len() > 19 || !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StatusListError::Entry("statusListIndex"));
        }
        let index = index.parse().map_err(|_| StatusListError::Entry("statusListIndex"))?;
        Ok(StatusEntry {
            list_credential: text("statusListCredential")?.to_owned(),
            index,
            purpose: text("statusPurpose")?.to_owned(),
        })
    }
}

/// An unsigned `BitstringStatusListCredential` (§2.2) for `list`.
pub fn list_credential(
    id: &str,
    issuer: &str,
    purpose: &str,
    valid_from: crate::time::UnixTime,
    list: &StatusList,
) -> Value {
    json!({
        "@context": [crate::practitioner::VC_V2_CONTEXT],
        "id": id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": valid_from.to_rfc3339(),
        "credentialSubject": {
            "id": format!("{id}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": list.encode(),
        }
    })
}

/// The parts of a `BitstringStatusListCredential` a status check needs.
#[derive(Debug, Clone)]
pub struct ListCredential {
    pub id: String,
    pub issuer: String,
    pub purpose: String,
    pub list: StatusList,
}

impl ListCredential {
    /// Reads (does not verify the proof of) a list credential.
    pub fn from_json(v: &Value, max_bytes: usize) -> Result<ListCredential, StatusListError> {
        let text = |v: &Value, name: &'static str| -> Result<String, StatusListError> {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(StatusListError::ListCredential(name))
        };
        let is_list_type = v
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t == "BitstringStatusListCredential"));
        if !is_list_type {
            return Err(StatusListError::ListCredential("type"));
        }
        let subject = v
            .get("credentialSubject")
            .ok_or(StatusListError::ListCredential("credentialSubject"))?;
        if subject.get("type").and_then(Value::as_str) != Some("BitstringStatusList") {
            return Err(StatusListError::ListCredential("credentialSubject.type"));
        }
        Ok(ListCredential {
            id: text(v, "id")?,
            issuer: text(v, "issuer")?,
            purpose: text(subject, "statusPurpose")?,
            list: StatusList::decode(&text(subject, "encodedList")?, max_bytes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_msb_first() {
        let mut l = StatusList::new(MIN_ENTRIES).unwrap();
        l.set(0, true).unwrap();
        l.set(9, true).unwrap();
        assert_eq!(&l.bytes[..2], &[0x80, 0x40]);
        assert!(l.get(0).unwrap() && l.get(9).unwrap() && !l.get(1).unwrap());
        l.set(0, false).unwrap();
        assert!(!l.get(0).unwrap());
        assert!(l.get(MIN_ENTRIES as u64).is_err());
        assert!(l.set(u64::MAX, true).is_err());
    }

    #[test]
    fn sizes_are_checked() {
        assert!(StatusList::new(MIN_ENTRIES - 8).is_err());
        assert!(StatusList::new(MIN_ENTRIES + 1).is_err());
        assert_eq!(StatusList::new(MIN_ENTRIES * 2).unwrap().len(), MIN_ENTRIES * 2);
    }
}
