//! Identity: the consortium's organisations, their members and the keys they sign with.
//!
//! Rules:
//! - Organisations and their first admins come from genesis.
//! - An organisation's active admins register members (practitioners, patients holding
//!   their own keys, devices, services, further admins) and revoke them.
//! - A key is rotated by an admin of the member's organisation or by the member itself;
//!   the old key stops working at once.
//! - The consortium suspends an organisation by a quorum of other organisations' votes
//!   (`vote_org`); a suspended organisation's keys cannot sign.
//! - Every key belongs to exactly one member; a revoked or rotated-out key can never sign
//!   again and can never be registered again.
//!
//! - A patient is one identity across the network: the pseudonym (the FHIR Patient id of
//!   the patient's record) is enrolled once, network-wide (`patient/{pseudonym}`), by the
//!   organisation that holds that Patient record, as its member `{org}/{pseudonym}` of
//!   kind `patient`. Enrolling the same pseudonym again, anywhere, is refused. Every check
//!   of "is this caller that patient" goes through [`is_patient`], which compares the whole
//!   identity (organisation, member, kind, enrolment), never a bare member id.
//! - A node is a `service` member named in genesis or added by the consortium's vote
//!   (`vote_node`); only node keys sign node-to-node requests ([`node_key`]).
//!
//! Member ids are opaque handles (see `medledger_types::ids::validate_id`): a patient is
//! registered under a pseudonym, never a name or record number.

mod ballot;
pub mod records;
pub mod register_member;
pub mod revoke_member;
pub mod rotate_key;
pub mod set_client_keys;
pub mod vote_node;
pub mod vote_org;

pub use ballot::{Ballot, cast, voter};
pub use records::{KeyRecord, KeyStatus, MemberKind, MemberRecord, NodeRecord, OrgRecord, OrgRole, PatientRecord};

use medledger_types::{MemberId, OrgId, PublicKey};

use crate::error::TxError;
use crate::state::{Overlay, StateRead, keys, read};

/// The organisation that enrolled a patient pseudonym, if any.
pub fn patient_enrolment(state: &dyn StateRead, pseudonym: &str) -> Option<PatientRecord> {
    read(state, &keys::patient(pseudonym))
}

/// Whether the member `org/member` is the patient `pseudonym`: an active `patient`
/// member whose id is the pseudonym, in the organisation that enrolled it. The one check
/// of a patient's identity.
pub fn is_patient(state: &dyn StateRead, org: &OrgId, member: &MemberId, pseudonym: &str) -> bool {
    if member.as_str() != pseudonym {
        return false;
    }
    let enrolled = patient_enrolment(state, pseudonym).is_some_and(|p| &p.org == org);
    enrolled
        && read::<MemberRecord>(state, &keys::member(org, member))
            .is_some_and(|m| m.active && m.kind == MemberKind::Patient)
}

/// The key's record if it is an active key of an active member, whatever its kind.
pub fn active_key(state: &dyn StateRead, key: &PublicKey) -> Option<KeyRecord> {
    read::<KeyRecord>(state, &keys::key(key)).filter(|r| r.status == KeyStatus::Active)
}

/// The member's record if it is active.
pub fn active_member(state: &dyn StateRead, org: &OrgId, member: &MemberId) -> Option<MemberRecord> {
    read::<MemberRecord>(state, &keys::member(org, member)).filter(|m| m.active)
}

/// Whether `org/member` is one of the organisation's nodes.
pub fn is_node(state: &dyn StateRead, org: &OrgId, member: &MemberId) -> bool {
    state.get(&keys::node(org, member)).is_some()
}

/// The key's record if it is the active key of a node of an organisation in good
/// standing: the only keys that may sign node-to-node requests.
pub fn node_key(state: &dyn StateRead, key: &PublicKey) -> Option<KeyRecord> {
    active_key(state, key).filter(|r| {
        r.kind == MemberKind::Service && is_node(state, &r.org, &r.member) && !vote_org::is_suspended(state, &r.org)
    })
}

/// The signer's key record, which [`crate::check_envelope`] has already found active.
pub(crate) fn signer_record(state: &Overlay<'_>, signer: &PublicKey) -> Result<KeyRecord, TxError> {
    state
        .get_record::<KeyRecord>(&keys::key(signer))
        .ok_or(TxError::NotAuthorized)
}

/// The signer's key record if it is an active admin, of whichever organisation.
pub(crate) fn signer_admin(state: &Overlay<'_>, signer: &PublicKey) -> Result<KeyRecord, TxError> {
    let rec = signer_record(state, signer)?;
    if rec.status == KeyStatus::Active && rec.kind == MemberKind::Admin {
        Ok(rec)
    } else {
        Err(TxError::NotAuthorized)
    }
}

/// Fails unless `signer` is an active admin of `org`.
pub(crate) fn require_admin(state: &Overlay<'_>, signer: &PublicKey, org: &OrgId) -> Result<(), TxError> {
    if &signer_admin(state, signer)?.org == org {
        Ok(())
    } else {
        Err(TxError::NotAuthorized)
    }
}

/// The member's record, or `UnknownMember`.
pub(crate) fn member_record(state: &Overlay<'_>, org: &OrgId, member: &MemberId) -> Result<MemberRecord, TxError> {
    state
        .get_record(&keys::member(org, member))
        .ok_or_else(|| TxError::UnknownMember {
            org: org.clone(),
            member: member.clone(),
        })
}

/// The organisation's record, if it is a member of the consortium.
pub fn org_record(state: &dyn StateRead, org: &OrgId) -> Option<OrgRecord> {
    read(state, &keys::org(org))
}

pub(crate) fn require_org(state: &Overlay<'_>, org: &OrgId) -> Result<OrgRecord, TxError> {
    org_record(state, org).ok_or_else(|| TxError::UnknownOrg(org.clone()))
}
