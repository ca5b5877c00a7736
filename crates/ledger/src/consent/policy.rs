//! The access decision every node applies on every read and every search result.
//!
//! In order:
//! 0. nobody of an organisation the consortium has suspended reads anything;
//! 1. the custodian organisation's staff (practitioners, admins, services) read its own
//!    records — a patient registered with the organisation is not staff;
//! 2. a patient reads their own records;
//! 3. directory resources (no patient: Practitioner, Organization) are readable by members;
//! 4. an active, unexpired consent of the patient whose grantee, scope and purpose match
//!    (a study grantee matches the investigators its sponsor lists on the ledger);
//! 5. break-glass: a practitioner stating an emergency is allowed (and flagged);
//! 6. otherwise denied.

use medledger_types::{MemberId, OrgId, TimestampMs};

use super::{Grantee, Purpose, active};
use crate::identity::MemberKind;
use crate::state::StateRead;

pub struct AccessRequest<'a> {
    pub reader_org: &'a OrgId,
    pub reader_member: &'a MemberId,
    pub reader_kind: MemberKind,
    pub resource_type: &'a str,
    pub record_id: &'a str,
    pub patient: Option<&'a str>,
    pub custodian: &'a OrgId,
    pub purpose: Purpose,
    pub break_glass: bool,
}

/// Why a read is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Basis {
    Custodian,
    OwnRecord,
    Directory,
    Consent(String),
    BreakGlass,
}

/// Why a read is refused. Messages never name the patient or the record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the patient has not consented to this access")]
    NoConsent,
    #[error("the patient's consent does not cover this purpose of use")]
    PurposeNotCovered,
    #[error("the reader's organisation is suspended by the consortium")]
    OrgSuspended,
}

pub fn decide(state: &dyn StateRead, req: &AccessRequest<'_>, now: TimestampMs) -> Result<Basis, Denial> {
    if crate::identity::vote_org::is_suspended(state, req.reader_org) {
        return Err(Denial::OrgSuspended);
    }
    let staff = matches!(
        req.reader_kind,
        MemberKind::Practitioner | MemberKind::Admin | MemberKind::Service
    );
    if staff && req.reader_org == req.custodian {
        return Ok(Basis::Custodian);
    }
    let Some(patient) = req.patient else {
        return Ok(Basis::Directory);
    };
    if req.reader_kind == MemberKind::Patient && req.reader_member.as_str() == patient {
        return Ok(Basis::OwnRecord);
    }
    let mut purpose_mismatch = false;
    for (id, c) in active(state, patient) {
        let grantee = match &c.grantee {
            Grantee::Org(o) => o == req.reader_org,
            Grantee::Practitioner { org, member } => org == req.reader_org && member == req.reader_member,
            Grantee::Study(s) => {
                req.reader_kind == MemberKind::Practitioner
                    && crate::research::is_investigator(state, s, req.reader_org, req.reader_member)
            }
        };
        if !grantee || !c.scope.covers(req.resource_type, req.record_id) {
            continue;
        }
        if c.expires.is_some_and(|e| e <= now) {
            continue;
        }
        if !c.purposes.contains(&req.purpose) {
            purpose_mismatch = true;
            continue;
        }
        return Ok(Basis::Consent(id));
    }
    if req.break_glass && req.reader_kind == MemberKind::Practitioner {
        return Ok(Basis::BreakGlass);
    }
    Err(if purpose_mismatch {
        Denial::PurposeNotCovered
    } else {
        Denial::NoConsent
    })
}
