//! Consent: the patient decides who reads their records.
//!
//! Rules:
//! - Grants and revocations are signed by the patient's own key: the `patient` member
//!   enrolled under the patient pseudonym ([`crate::identity::is_patient`]). Nobody else
//!   can grant or revoke — not a member of another organisation registered under the same
//!   id, which enrolment refuses anyway.
//! - A grant names who (an organisation, one practitioner, or a research study), what
//!   (resource types, or specific records), why (purposes) and until when.
//! - A revocation takes effect in its block.
//! - A practitioner may declare an emergency access to one patient (`break_glass`),
//!   limited per practitioner and per day, and visible on the ledger.
//! - [`policy::decide`] is the one access decision every node applies.

pub mod break_glass;
pub mod grant;
pub mod policy;
pub mod revoke;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Height, MemberId, OrgId, PublicKey, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind};
use crate::records::{MAX_ID, read_id, read_opt, read_type};
use crate::state::{Overlay, StateRead, keys};

/// Most active consents per patient.
pub const MAX_ACTIVE: usize = 256;
pub const MAX_TYPES: usize = 32;
pub const MAX_RECORDS: usize = 256;

/// Why data is used (HL7 v3 PurposeOfUse, simplified).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Treatment,
    Payment,
    Operations,
    Research,
}

impl Purpose {
    const ALL: [Purpose; 4] = [
        Purpose::Treatment,
        Purpose::Payment,
        Purpose::Operations,
        Purpose::Research,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Purpose::Treatment => "treatment",
            Purpose::Payment => "payment",
            Purpose::Operations => "operations",
            Purpose::Research => "research",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| "purposes are treatment, payment, operations, research".to_string())
    }
}

impl Encode for Purpose {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, *self as u8);
    }
}

impl Decode for Purpose {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("purpose")?;
        Self::ALL
            .get(tag as usize)
            .copied()
            .ok_or(DecodeError::InvalidTag { what: "purpose", tag })
    }
}

/// Who a consent is granted to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    Org(OrgId),
    Practitioner {
        org: OrgId,
        member: MemberId,
    },
    /// A research study: its investigators, as its sponsor lists them (`research.study`).
    Study(String),
}

impl Encode for Grantee {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Grantee::Org(o) => {
                put::u8(out, 0);
                o.encode_to(out);
            }
            Grantee::Practitioner { org, member } => {
                put::u8(out, 1);
                org.encode_to(out);
                member.encode_to(out);
            }
            Grantee::Study(s) => {
                put::u8(out, 2);
                put::str(out, s);
            }
        }
    }
}

impl Decode for Grantee {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("grantee")? {
            0 => Ok(Grantee::Org(OrgId::decode_from(r)?)),
            1 => Ok(Grantee::Practitioner {
                org: OrgId::decode_from(r)?,
                member: MemberId::decode_from(r)?,
            }),
            2 => Ok(Grantee::Study(read_id(r, "study")?)),
            tag => Err(DecodeError::InvalidTag { what: "grantee", tag }),
        }
    }
}

/// What a consent covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Resource types, sorted and unique; `["*"]` covers every type.
    Types(Vec<String>),
    /// Specific records `(type, id)`, sorted and unique.
    Records(Vec<(String, String)>),
}

fn sorted_unique<T: Ord>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

impl Encode for ConsentScope {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            ConsentScope::Types(ts) => {
                put::u8(out, 0);
                put::len(out, ts.len());
                for t in ts {
                    put::str(out, t);
                }
            }
            ConsentScope::Records(rs) => {
                put::u8(out, 1);
                put::len(out, rs.len());
                for (t, id) in rs {
                    put::str(out, t);
                    put::str(out, id);
                }
            }
        }
    }
}

impl Decode for ConsentScope {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let invalid = |reason| DecodeError::Invalid {
            what: "consent scope",
            reason,
        };
        match r.u8("consent scope")? {
            0 => {
                let ts = r.seq(MAX_TYPES, 5, "types", |r| {
                    let s = r.string(MAX_ID, "type")?;
                    if s == "*" || crate::records::valid_type(&s) {
                        Ok(s)
                    } else {
                        Err(DecodeError::Invalid {
                            what: "type",
                            reason: "not a resource type name or *",
                        })
                    }
                })?;
                if ts.is_empty() || !sorted_unique(&ts) || (ts.len() > 1 && ts.iter().any(|t| t == "*")) {
                    return Err(invalid("types must be 1 to 32, sorted, unique; * stands alone"));
                }
                Ok(ConsentScope::Types(ts))
            }
            1 => {
                let rs = r.seq(MAX_RECORDS, 10, "records", |r| {
                    Ok((read_type(r, "resource type")?, read_id(r, "record id")?))
                })?;
                if rs.is_empty() || !sorted_unique(&rs) {
                    return Err(invalid("records must be 1 to 256, sorted, unique"));
                }
                Ok(ConsentScope::Records(rs))
            }
            tag => Err(DecodeError::InvalidTag {
                what: "consent scope",
                tag,
            }),
        }
    }
}

impl ConsentScope {
    pub fn covers(&self, resource_type: &str, id: &str) -> bool {
        match self {
            ConsentScope::Types(ts) => ts.iter().any(|t| t == "*" || t == resource_type),
            ConsentScope::Records(rs) => rs.iter().any(|(t, i)| t == resource_type && i == id),
        }
    }
}

pub(crate) fn encode_purposes(out: &mut Vec<u8>, ps: &[Purpose]) {
    put::len(out, ps.len());
    for p in ps {
        p.encode_to(out);
    }
}

pub(crate) fn decode_purposes(r: &mut Reader<'_>) -> Result<Vec<Purpose>, DecodeError> {
    let ps = r.seq(4, 1, "purposes", Purpose::decode_from)?;
    if ps.is_empty() || !sorted_unique(&ps) {
        return Err(DecodeError::Invalid {
            what: "purposes",
            reason: "1 to 4, sorted, unique",
        });
    }
    Ok(ps)
}

/// `consent/{patient}/{id}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub patient: String,
    pub grantee: Grantee,
    pub scope: ConsentScope,
    pub purposes: Vec<Purpose>,
    pub expires: Option<TimestampMs>,
    pub granted_at: TimestampMs,
    pub granted_height: Height,
    pub revoked_at: Option<TimestampMs>,
}

impl Encode for ConsentRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.patient);
        self.grantee.encode_to(out);
        self.scope.encode_to(out);
        encode_purposes(out, &self.purposes);
        encode_opt_ts(out, self.expires);
        self.granted_at.encode_to(out);
        self.granted_height.encode_to(out);
        encode_opt_ts(out, self.revoked_at);
    }
}

impl Decode for ConsentRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConsentRecord {
            patient: read_id(r, "patient")?,
            grantee: Grantee::decode_from(r)?,
            scope: ConsentScope::decode_from(r)?,
            purposes: decode_purposes(r)?,
            expires: read_opt(r, "expires", TimestampMs::decode_from)?,
            granted_at: TimestampMs::decode_from(r)?,
            granted_height: Height::decode_from(r)?,
            revoked_at: read_opt(r, "revoked at", TimestampMs::decode_from)?,
        })
    }
}

pub(crate) fn encode_opt_ts(out: &mut Vec<u8>, v: Option<TimestampMs>) {
    match v {
        None => put::u8(out, 0),
        Some(t) => {
            put::u8(out, 1);
            t.encode_to(out);
        }
    }
}

/// The list of a patient's active consent ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ActiveList(pub Vec<String>);

impl Encode for ActiveList {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.0.len());
        for id in &self.0 {
            put::str(out, id);
        }
    }
}

impl Decode for ActiveList {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ActiveList(
            r.seq(MAX_ACTIVE, 5, "consent ids", |r| read_id(r, "consent id"))?,
        ))
    }
}

/// One consent of a patient.
pub fn get(state: &dyn StateRead, patient: &str, id: &str) -> Option<ConsentRecord> {
    state
        .get(&keys::consent(patient, id))
        .and_then(|raw| ConsentRecord::decode(&raw).ok())
}

/// The patient's active (not revoked) consents, in id order.
pub fn active(state: &dyn StateRead, patient: &str) -> Vec<(String, ConsentRecord)> {
    let ids = state
        .get(&keys::consents(patient))
        .and_then(|raw| ActiveList::decode(&raw).ok())
        .unwrap_or_default();
    ids.0
        .into_iter()
        .filter_map(|id| get(state, patient, &id).map(|c| (id, c)))
        .collect()
}

/// Fails unless `signer` is the active key of the patient `patient` itself.
pub(crate) fn require_patient(state: &Overlay<'_>, signer: &PublicKey, patient: &str) -> Result<(), TxError> {
    let rec = crate::identity::signer_record(state, signer)?;
    if rec.status == KeyStatus::Active
        && rec.kind == MemberKind::Patient
        && crate::identity::is_patient(state, &rec.org, &rec.member, patient)
    {
        Ok(())
    } else {
        Err(TxError::NotThePatient)
    }
}
