//! Research studies: who may read under a patient's consent to a study.
//!
//! Rules:
//! - An active admin of an organisation registers a study; that organisation is its
//!   sponsor, and only the sponsor's admins change it afterwards.
//! - A study lists its investigators: registered, active practitioners of any
//!   organisation whose role may read for research (`consent::policy::purpose_allowed`).
//!   Re-registering replaces the list (adding or removing people).
//! - A patient's consent to the study opens records only to those investigators, and
//!   only for the purposes the consent names (typically research).

pub mod study;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Height, MemberId, OrgId};
use serde::{Deserialize, Serialize};

use crate::records::read_id;
use crate::state::{StateRead, keys};

/// Most investigators on one study.
pub const MAX_INVESTIGATORS: usize = 256;

/// `study/{id}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyRecord {
    pub sponsor: OrgId,
    /// Sorted, no duplicates.
    pub investigators: Vec<(OrgId, MemberId)>,
    pub updated_at: Height,
}

pub(crate) fn encode_investigators(out: &mut Vec<u8>, list: &[(OrgId, MemberId)]) {
    put::u32(out, list.len() as u32);
    for (o, m) in list {
        o.encode_to(out);
        m.encode_to(out);
    }
}

pub(crate) fn decode_investigators(r: &mut Reader<'_>) -> Result<Vec<(OrgId, MemberId)>, DecodeError> {
    let n = r.u32("investigators")? as usize;
    if n > MAX_INVESTIGATORS {
        return Err(DecodeError::TooLong {
            what: "investigators",
            len: n,
            max: MAX_INVESTIGATORS,
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((OrgId::decode_from(r)?, MemberId::decode_from(r)?));
    }
    Ok(out)
}

impl Encode for StudyRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.sponsor.encode_to(out);
        encode_investigators(out, &self.investigators);
        self.updated_at.encode_to(out);
    }
}

impl Decode for StudyRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StudyRecord {
            sponsor: OrgId::decode_from(r)?,
            investigators: decode_investigators(r)?,
            updated_at: Height::decode_from(r)?,
        })
    }
}

/// The study, if registered.
pub fn get(state: &dyn StateRead, study: &str) -> Option<StudyRecord> {
    state
        .get(&keys::study(study))
        .and_then(|raw| StudyRecord::decode(&raw).ok())
}

/// Whether `org/member` is an investigator of `study`.
pub fn is_investigator(state: &dyn StateRead, study: &str, org: &OrgId, member: &MemberId) -> bool {
    get(state, study).is_some_and(|s| {
        s.investigators
            .binary_search_by(|(o, m)| (o, m).cmp(&(org, member)))
            .is_ok()
    })
}

pub(crate) fn read_study_id(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    read_id(r, "study")
}
