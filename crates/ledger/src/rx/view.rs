//! Who may see a patient's monitoring view: the alerts that the patient's window
//! ([`super::PatientWindow`]) and a draft order raise, as the API's CDS Hooks service shows
//! them (issue 14, ADR 014 §14).
//!
//! Everything about the reader comes from the ledger; the request only names the patient
//! and, optionally, prescriptions the reader holds (by their ledger id, which only those
//! who saw the prescription know). In order:
//!
//! 1. the reader is an active member, of an organisation the consortium has not suspended,
//!    and one of its staff: a practitioner, an admin or a service (a backend system acting
//!    for its practitioners) — not a patient, a device or a privacy officer;
//! 2. a member of a **regulator** sees every patient's view (prescription monitoring is
//!    its oversight);
//! 3. otherwise the organisation is a hospital, a clinic or a pharmacy that **treats the
//!    patient**, which here means one of:
//!    - it is the custodian of the patient's `Patient` record on the ledger (not erased);
//!    - it wrote or filled an **active** prescription (not cancelled, validity not ended)
//!      behind one of the patient's monitored fills in the window;
//!    - the reader names an active prescription of this patient that its organisation
//!      wrote, or that it may fill: not filled yet, or filled by it (a pharmacy with the
//!      prescription in hand);
//!    - an active, unexpired consent of the patient covers it: granted to the
//!      organisation (its staff) or to this practitioner, for `MedicationDispense` (or
//!      every type), for treatment;
//! 4. everyone else is refused — other organisations' staff included, whatever their role.
//!
//! A refusal names neither the patient nor what was looked for.

use medledger_types::{Hash32, MemberId, OrgId, TimestampMs};

use super::{PrescriptionRecord, RxStatus, prescription, window};
use crate::consent::{Grantee, Purpose, active};
use crate::identity::{MemberKind, OrgRole, active_member, org_record, vote_org};
use crate::records::record_state;
use crate::state::StateRead;

/// The resource type a consent must cover for the monitoring view, and the one its
/// accesses are audited under: the view is made of the patient's dispenses.
pub const VIEW_TYPE: &str = "MedicationDispense";

/// Why a reader may see the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewBasis {
    Regulator,
    /// Custodian of the patient's `Patient` record.
    PatientCustodian,
    /// Wrote or filled an active prescription behind a monitored fill.
    MonitoredFill,
    /// Named an active prescription of the patient it wrote or may fill.
    PrescriptionInHand,
    /// A consent of the patient (its id).
    Consent(String),
}

/// Why a reader may not see the view. Messages never name the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ViewDenial {
    #[error("the reader is not an active member")]
    NotAMember,
    #[error("the reader's organisation is suspended by the consortium")]
    OrgSuspended,
    #[error("the monitoring view is shown to organisations' practitioners, admins and services")]
    NotStaff,
    #[error(
        "the monitoring view is shown to the hospitals, clinics and pharmacies that treat the patient, and to the regulator"
    )]
    NotTreating,
}

/// Whether `org/member` may see `patient`'s monitoring view at `now`, naming
/// `prescriptions` it holds.
pub fn may_view(
    state: &dyn StateRead,
    org: &OrgId,
    member: &MemberId,
    patient: &str,
    prescriptions: &[Hash32],
    now: TimestampMs,
) -> Result<ViewBasis, ViewDenial> {
    let reader = active_member(state, org, member).ok_or(ViewDenial::NotAMember)?;
    if vote_org::stops(state, org, reader.kind) {
        return Err(ViewDenial::OrgSuspended);
    }
    if !reader.kind.is_staff() {
        return Err(ViewDenial::NotStaff);
    }
    let role = org_record(state, org).ok_or(ViewDenial::NotAMember)?.role;
    if role == OrgRole::Regulator {
        return Ok(ViewBasis::Regulator);
    }
    if !matches!(role, OrgRole::Hospital | OrgRole::Clinic | OrgRole::Pharmacy) {
        return Err(ViewDenial::NotTreating);
    }
    if record_state(state, "Patient", patient).is_some_and(|r| !r.erased && &r.custodian == org) {
        return Ok(ViewBasis::PatientCustodian);
    }
    let active = |rx: &PrescriptionRecord| rx.status == RxStatus::Active && now < rx.order.valid_until;
    let monitored = window(state, patient).fills.into_iter().any(|f| {
        (&f.prescriber_org == org || &f.pharmacy == org)
            && prescription(state, &f.prescription).is_some_and(|rx| active(&rx))
    });
    if monitored {
        return Ok(ViewBasis::MonitoredFill);
    }
    let in_hand = prescriptions.iter().filter_map(|id| prescription(state, id)).any(|rx| {
        rx.order.patient == patient && active(&rx) && (&rx.org == org || rx.pharmacy.as_ref().is_none_or(|p| p == org))
    });
    if in_hand {
        return Ok(ViewBasis::PrescriptionInHand);
    }
    active_consent(state, org, member, reader.kind, patient, now)
        .map(ViewBasis::Consent)
        .ok_or(ViewDenial::NotTreating)
}

/// The id of an unexpired consent of the patient covering the reader for the view.
fn active_consent(
    state: &dyn StateRead,
    org: &OrgId,
    member: &MemberId,
    kind: MemberKind,
    patient: &str,
    now: TimestampMs,
) -> Option<String> {
    active(state, patient).into_iter().find_map(|(id, c)| {
        let grantee = match &c.grantee {
            Grantee::Org(o) => o == org,
            Grantee::Practitioner { org: o, member: m } => kind == MemberKind::Practitioner && o == org && m == member,
            Grantee::Study(_) => false,
        };
        let covers = grantee
            && c.scope.covers(VIEW_TYPE, "")
            && c.purposes.contains(&Purpose::Treatment)
            && c.expires.is_none_or(|e| e > now);
        covers.then_some(id)
    })
}
