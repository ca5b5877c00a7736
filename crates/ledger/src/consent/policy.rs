//! The access decision every node applies on every read and every search result: the
//! reader's node before it asks, and the custodian again, on its own copy of the ledger,
//! before it answers.
//!
//! Everything about the reader comes from the ledger, never from the request: the reader
//! is named by organisation and member, and its kind, its standing, its organisation's
//! role, its break-glass declarations and the patient's consents are read from state. The
//! request states only what is asked (record, purpose, whether it is an emergency).
//!
//! In order:
//! 0. the reader must be an active member of an organisation the consortium has not
//!    suspended (a patient keeps reading their own records whatever happens to the
//!    organisation that enrolled them);
//! 1. the custodian organisation's staff (practitioners, admins, services) read its own
//!    records — a patient registered with the organisation, a device or a privacy officer
//!    is not staff;
//! 2. shared reference data (a record of a type outside the Patient compartment:
//!    Organization, Location, Medication, Practitioner …) is readable by members; a record
//!    of a compartment type that names no single patient is not shared at all
//!    ([`COMPARTMENT_TYPES`]);
//! 3. a patient reads their own records ([`crate::identity::is_patient`]: the whole
//!    identity, never a bare member id);
//! 4. the purpose must be one the reader's organisation may claim ([`purpose_allowed`]:
//!    an insurer reads for payment or operations, never for treatment);
//! 5. an active, unexpired consent of the patient whose grantee, scope and purpose match:
//!    an organisation grantee covers that organisation's staff only; a practitioner
//!    grantee that practitioner; a study grantee the investigators its sponsor lists;
//! 6. break-glass: an active practitioner who asks for it, with an unexpired
//!    `consent.break_glass` declaration for this patient on the ledger;
//! 7. otherwise denied.

use medledger_types::{MemberId, OrgId, TimestampMs};

use super::{Grantee, Purpose, active};
use crate::identity::{MemberKind, OrgRole};
use crate::state::StateRead;

pub struct AccessRequest<'a> {
    pub reader_org: &'a OrgId,
    pub reader_member: &'a MemberId,
    pub resource_type: &'a str,
    pub record_id: &'a str,
    pub patient: Option<&'a str>,
    pub custodian: &'a OrgId,
    pub purpose: Purpose,
    /// The reader asks for emergency access (break-glass). It opens records only with a
    /// matching declaration on the ledger.
    pub emergency: bool,
}

/// The resource types of FHIR R4's Patient compartment (HL7's
/// `CompartmentDefinition-patient`: the 66 types it gives search parameters for, Patient
/// among them), sorted. `medledger-fhir` derives the same list from HL7's file, and a test
/// (in `medledger-api`) checks that the two agree. A record of one of these types that
/// names no patient (or several) is read by its custodian's staff only.
pub const COMPARTMENT_TYPES: [&str; 66] = [
    "Account",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "BodyStructure",
    "CarePlan",
    "CareTeam",
    "ChargeItem",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "Communication",
    "CommunicationRequest",
    "Composition",
    "Condition",
    "Consent",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "Encounter",
    "EnrollmentRequest",
    "EpisodeOfCare",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "Group",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "Invoice",
    "List",
    "MeasureReport",
    "Media",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationRequest",
    "MedicationStatement",
    "MolecularSequence",
    "NutritionOrder",
    "Observation",
    "Patient",
    "Person",
    "Procedure",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchSubject",
    "RiskAssessment",
    "Schedule",
    "ServiceRequest",
    "Specimen",
    "SupplyDelivery",
    "SupplyRequest",
    "VisionPrescription",
];

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
    #[error("the reader's organisation may not read for this purpose of use")]
    PurposeNotForRole,
    #[error("the reader's organisation is suspended by the consortium")]
    OrgSuspended,
    #[error("the reader is not an active member")]
    NotAMember,
    #[error("break-glass access is declared on the ledger first, by an active practitioner")]
    NoBreakGlass,
    #[error("this record names no single patient and is held for its custodian's staff only")]
    CustodianOnly,
}

/// Which purposes of use an organisation of each role may claim when it reads another
/// organisation's records (its own records its staff read for any purpose).
///
/// | role | treatment | payment | operations | research |
/// |---|---|---|---|---|
/// | hospital, clinic | yes | yes | yes | yes |
/// | lab | yes | yes | yes | yes |
/// | pharmacy | yes | yes | yes | no |
/// | insurer | no | yes | yes | no |
/// | research sponsor | no | no | no | yes |
/// | manufacturer, distributor, regulator | no | no | no | no |
pub fn purpose_allowed(role: OrgRole, purpose: Purpose) -> bool {
    use OrgRole::*;
    use Purpose::*;
    match purpose {
        Treatment => matches!(role, Hospital | Clinic | Lab | Pharmacy),
        Payment | Operations => matches!(role, Hospital | Clinic | Lab | Pharmacy | Insurer),
        Research => matches!(role, Hospital | Clinic | Lab | ResearchSponsor),
    }
}

pub fn decide(state: &dyn StateRead, req: &AccessRequest<'_>, now: TimestampMs) -> Result<Basis, Denial> {
    let reader = crate::identity::active_member(state, req.reader_org, req.reader_member).ok_or(Denial::NotAMember)?;
    if crate::identity::vote_org::stops(state, req.reader_org, reader.kind) {
        return Err(Denial::OrgSuspended);
    }
    let kind = reader.kind;
    if kind.is_staff() && req.reader_org == req.custodian {
        return Ok(Basis::Custodian);
    }
    let Some(patient) = req.patient else {
        return if COMPARTMENT_TYPES.binary_search(&req.resource_type).is_ok() {
            Err(Denial::CustodianOnly)
        } else {
            Ok(Basis::Directory)
        };
    };
    if kind == MemberKind::Patient && crate::identity::is_patient(state, req.reader_org, req.reader_member, patient) {
        return Ok(Basis::OwnRecord);
    }
    // A member's organisation is on the ledger (members are registered into one).
    let org = crate::identity::org_record(state, req.reader_org).ok_or(Denial::NotAMember)?;
    if !purpose_allowed(org.role, req.purpose) {
        return Err(Denial::PurposeNotForRole);
    }
    let mut purpose_mismatch = false;
    for (id, c) in active(state, patient) {
        let grantee = match &c.grantee {
            Grantee::Org(o) => o == req.reader_org && kind.is_staff(),
            Grantee::Practitioner { org, member } => {
                kind == MemberKind::Practitioner && org == req.reader_org && member == req.reader_member
            }
            Grantee::Study(s) => {
                kind == MemberKind::Practitioner
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
    if req.emergency {
        let declared = kind == MemberKind::Practitioner
            && req.purpose == Purpose::Treatment
            && super::break_glass::is_open(state, req.reader_org, req.reader_member, patient, now);
        return if declared {
            Ok(Basis::BreakGlass)
        } else {
            Err(Denial::NoBreakGlass)
        };
    }
    Err(if purpose_mismatch {
        Denial::PurposeNotCovered
    } else {
        Denial::NoConsent
    })
}
