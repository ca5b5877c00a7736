//! Identity records as stored in state.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Height, MemberId, OrgId, PublicKey};
use serde::{Deserialize, Serialize};

/// What kind of organisation a member of the consortium is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Hospital,
    Clinic,
    Lab,
    Pharmacy,
    Manufacturer,
    Distributor,
    Insurer,
    ResearchSponsor,
    Regulator,
}

impl OrgRole {
    const ALL: [OrgRole; 9] = [
        OrgRole::Hospital,
        OrgRole::Clinic,
        OrgRole::Lab,
        OrgRole::Pharmacy,
        OrgRole::Manufacturer,
        OrgRole::Distributor,
        OrgRole::Insurer,
        OrgRole::ResearchSponsor,
        OrgRole::Regulator,
    ];

    fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.get(tag as usize).copied()
    }
}

/// What a member of an organisation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    Admin,
    Practitioner,
    Patient,
    Device,
    Service,
    /// The organisation's privacy officer: sees the access log and consents of the
    /// patients whose records the organisation holds, and asks the organisation's node to
    /// erase them on a patient's request (the node signs `records.erase`). Reads no
    /// clinical record as such.
    Privacy,
}

impl MemberKind {
    const ALL: [MemberKind; 6] = [
        MemberKind::Admin,
        MemberKind::Practitioner,
        MemberKind::Patient,
        MemberKind::Device,
        MemberKind::Service,
        MemberKind::Privacy,
    ];

    fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.get(tag as usize).copied()
    }
}

impl std::str::FromStr for MemberKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown member kind {s:?} (admin, practitioner, patient, device, service, privacy)")
        })
    }
}

impl MemberKind {
    pub fn name(self) -> &'static str {
        match self {
            MemberKind::Admin => "admin",
            MemberKind::Practitioner => "practitioner",
            MemberKind::Patient => "patient",
            MemberKind::Device => "device",
            MemberKind::Service => "service",
            MemberKind::Privacy => "privacy",
        }
    }

    /// The organisation's staff, who read its own records and whom an organisation-wide
    /// consent covers: practitioners, admins and services (not its patients, devices or
    /// privacy officers).
    pub fn is_staff(self) -> bool {
        matches!(self, MemberKind::Practitioner | MemberKind::Admin | MemberKind::Service)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
    Rotated,
}

impl KeyStatus {
    fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(tag: u8) -> Option<Self> {
        [KeyStatus::Active, KeyStatus::Revoked, KeyStatus::Rotated]
            .get(tag as usize)
            .copied()
    }
}

/// `org/{id}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub name: String,
    pub role: OrgRole,
}

/// `member/{org}/{member}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub kind: MemberKind,
    pub key: PublicKey,
    pub active: bool,
}

/// `key/{public key}`: who a key belongs to and whether it may sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub org: OrgId,
    pub member: MemberId,
    pub kind: MemberKind,
    pub status: KeyStatus,
}

/// `patient/{pseudonym}`: the one enrolment of a patient pseudonym, network-wide. The
/// patient's key is the key of member `{org}/{pseudonym}` (kind `patient`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRecord {
    /// The custodian organisation that enrolled the patient.
    pub org: OrgId,
}

/// `node/{org}/{member}`: a service member that is one of the organisation's nodes
/// (named in genesis or added by the consortium's vote). Only node keys sign
/// node-to-node requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The height at which the node was added (0: genesis).
    pub added_at: Height,
}

/// Longest organisation display name.
pub const MAX_ORG_NAME: usize = 128;

fn tagged<T>(r: &mut Reader<'_>, what: &'static str, f: fn(u8) -> Option<T>) -> Result<T, DecodeError> {
    let tag = r.u8(what)?;
    f(tag).ok_or(DecodeError::InvalidTag { what, tag })
}

impl Encode for OrgRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.name);
        put::u8(out, self.role.tag());
    }
}

impl Decode for OrgRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OrgRecord {
            name: r.string(MAX_ORG_NAME, "org name")?,
            role: tagged(r, "org role", OrgRole::from_tag)?,
        })
    }
}

impl Encode for MemberKind {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u8(out, self.tag());
    }
}

impl Decode for MemberKind {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        tagged(r, "member kind", MemberKind::from_tag)
    }
}

impl Encode for MemberRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.kind.encode_to(out);
        self.key.encode_to(out);
        put::bool(out, self.active);
    }
}

impl Decode for MemberRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MemberRecord {
            kind: MemberKind::decode_from(r)?,
            key: PublicKey::decode_from(r)?,
            active: r.bool("member active")?,
        })
    }
}

impl Encode for KeyRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
        self.kind.encode_to(out);
        put::u8(out, self.status.tag());
    }
}

impl Decode for KeyRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyRecord {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
            kind: MemberKind::decode_from(r)?,
            status: tagged(r, "key status", KeyStatus::from_tag)?,
        })
    }
}

impl Encode for PatientRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
    }
}

impl Decode for PatientRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PatientRecord {
            org: OrgId::decode_from(r)?,
        })
    }
}

impl Encode for NodeRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.added_at.encode_to(out);
    }
}

impl Decode for NodeRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NodeRecord {
            added_at: Height::decode_from(r)?,
        })
    }
}
