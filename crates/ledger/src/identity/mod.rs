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
//! Member ids are opaque handles (see `medledger_types::ids::validate_id`): a patient is
//! registered under a pseudonym, never a name or record number.

pub mod records;
pub mod register_member;
pub mod revoke_member;
pub mod rotate_key;
pub mod vote_org;

pub use records::{KeyRecord, KeyStatus, MemberKind, MemberRecord, OrgRecord, OrgRole};

use medledger_types::{OrgId, PublicKey};

use crate::error::TxError;
use crate::state::{Overlay, keys};

/// The signer's key record, which [`crate::check_envelope`] has already found active.
pub(crate) fn signer_record(state: &Overlay<'_>, signer: &PublicKey) -> Result<KeyRecord, TxError> {
    state
        .get_record::<KeyRecord>(&keys::key(signer))
        .ok_or(TxError::NotAuthorized)
}

/// Fails unless `signer` is an active admin of `org`.
pub(crate) fn require_admin(state: &Overlay<'_>, signer: &PublicKey, org: &OrgId) -> Result<(), TxError> {
    let rec = signer_record(state, signer)?;
    if rec.status == KeyStatus::Active && rec.kind == MemberKind::Admin && &rec.org == org {
        Ok(())
    } else {
        Err(TxError::NotAuthorized)
    }
}

/// The member's record, or `UnknownMember`.
pub(crate) fn member_record(
    state: &Overlay<'_>,
    org: &OrgId,
    member: &medledger_types::MemberId,
) -> Result<MemberRecord, TxError> {
    state
        .get_record(&keys::member(org, member))
        .ok_or_else(|| TxError::UnknownMember {
            org: org.clone(),
            member: member.clone(),
        })
}

pub(crate) fn require_org(state: &Overlay<'_>, org: &OrgId) -> Result<OrgRecord, TxError> {
    state
        .get_record::<OrgRecord>(&keys::org(org))
        .ok_or_else(|| TxError::UnknownOrg(org.clone()))
}
