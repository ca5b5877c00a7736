//! Why a transaction was refused.
//!
//! Two families, kept apart because they mean different things:
//!
//! - [`Rejection`]: the transaction may not enter a block at all (bad signature, wrong
//!   chain, wrong nonce, unknown or revoked signer, undecodable body). The mempool refuses
//!   it, and a proposed block containing one is invalid.
//! - [`TxError`]: the transaction is well-formed and properly signed but a ledger rule
//!   refuses it. It is still included: the signer's nonce advances and the failure, with
//!   its stable [`TxError::code`], is recorded in the transparency log.

use medledger_types::{DecodeError, Hash32, MemberId, Nonce, OrgId, OutcomeCode, PublicKey, TxKind};

use crate::rx::Schedule;
use crate::supply::Hold;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("transaction is for chain {got:?}, this is {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("signature does not verify")]
    BadSignature,
    #[error("signer {0} is not registered")]
    UnknownSigner(PublicKey),
    #[error("signer {0} has been revoked or rotated out")]
    RevokedSigner(PublicKey),
    #[error("organisation {0} is suspended by the consortium")]
    OrgSuspended(OrgId),
    #[error("nonce {got} was already used (next is {expected})")]
    ReplayedNonce { expected: Nonce, got: Nonce },
    #[error("nonce {got} is ahead of the next one ({expected})")]
    NonceGap { expected: Nonce, got: Nonce },
    #[error("unknown transaction kind {0:?}")]
    UnknownKind(TxKind),
    #[error("malformed transaction body: {0}")]
    MalformedBody(DecodeError),
}

impl Rejection {
    /// A short machine-readable name, used in API error bodies and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownSigner(_) => "unknown_signer",
            Rejection::RevokedSigner(_) => "revoked_signer",
            Rejection::OrgSuspended(_) => "org_suspended",
            Rejection::ReplayedNonce { .. } => "replayed_nonce",
            Rejection::NonceGap { .. } => "nonce_gap",
            Rejection::UnknownKind(_) => "unknown_kind",
            Rejection::MalformedBody(_) => "malformed_body",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxError {
    #[error("signer is not allowed to do this")]
    NotAuthorized,
    #[error("organisation {0} does not exist")]
    UnknownOrg(OrgId),
    #[error("member {org}/{member} already exists")]
    MemberExists { org: OrgId, member: MemberId },
    #[error("member {org}/{member} does not exist")]
    UnknownMember { org: OrgId, member: MemberId },
    #[error("member {org}/{member} is revoked")]
    MemberRevoked { org: OrgId, member: MemberId },
    #[error("key {0} is already registered")]
    KeyInUse(PublicKey),
    #[error("an admin may not revoke itself; another admin of the organisation must")]
    SelfRevocation,
    #[error("no such record")]
    UnknownRecord,
    #[error("version {got} is out of order (next is {expected})")]
    VersionConflict { expected: u64, got: u64 },
    #[error("only the custodian organisation may change this record")]
    NotCustodian,
    #[error("the record has been erased")]
    RecordErased,
    #[error("the record belongs to another patient")]
    PatientMismatch,
    #[error("consent must be signed by the patient it concerns")]
    NotThePatient,
    #[error("a consent with this id already exists")]
    ConsentExists,
    #[error("no such consent")]
    UnknownConsent,
    #[error("the consent is already revoked")]
    ConsentRevoked,
    #[error("the consent would already be expired")]
    ConsentExpired,
    #[error("the patient has the most active consents allowed; revoke one first")]
    TooManyConsents,
    #[error("this genesis does not let organisations be suspended (no suspend_quorum)")]
    NoGovernance,
    #[error("the organisation already has that status")]
    OrgStatusUnchanged,
    #[error("this organisation has already voted on that change")]
    AlreadyVoted,
    #[error("member {org}/{member} is not a practitioner")]
    NotAPractitioner { org: OrgId, member: MemberId },
    #[error("audit entries out of sequence (next is {expected}, got {got})")]
    AuditGap { expected: u64, got: u64 },
    #[error("this patient pseudonym is already enrolled in the network")]
    PatientEnrolled,
    #[error("a patient is enrolled by the organisation that holds the patient's Patient record")]
    NotPatientCustodian,
    #[error("member {org}/{member} is not an active service member")]
    NotAService { org: OrgId, member: MemberId },
    #[error("the member already has that node status")]
    NodeStatusUnchanged,
    #[error("the practitioner has broken the glass for {per_day} patients in the last 24 hours, the most allowed")]
    BreakGlassLimit { per_day: u32 },
    #[error("the organisation's role does not allow this purpose of use")]
    PurposeNotForRole,
    #[error("the record names a patient whose Patient record is not on the ledger")]
    UnknownPatient,
    #[error("event {index}: {epc} is already commissioned (a clone)")]
    EpcClone { index: u32, epc: String },
    #[error("event {index}: the company prefix of {epc} is not registered to the signer's organisation")]
    NotPrefixOwner { index: u32, epc: String },
    #[error("event {index}: {epc} is not on the ledger")]
    UnknownEpc { index: u32, epc: String },
    #[error("event {index}: {epc} is not held by the signer's organisation")]
    NotHeld { index: u32, epc: String },
    #[error("event {index}: {epc} is not in transit to the signer's organisation")]
    NotShippedToYou { index: u32, epc: String },
    #[error("event {index}: {epc} was dispensed, decommissioned or destroyed")]
    ItemFinal { index: u32, epc: String },
    #[error("event {index}: {epc} is {hold}")]
    ItemOnHold { index: u32, epc: String, hold: Hold },
    #[error("event {index}: {epc}: {reason}")]
    Aggregation {
        index: u32,
        epc: String,
        reason: &'static str,
    },
    #[error("event {index}: event {hash_id} is already on the ledger")]
    DuplicateEvent { index: u32, hash_id: Hash32 },
    #[error("event {index}: the corrected event {hash_id} is not on the ledger")]
    UnknownEvent { index: u32, hash_id: Hash32 },
    #[error("the lot is already recalled")]
    AlreadyRecalled,
    #[error("event {index}: event {hash_id} has been corrected the most times allowed")]
    TooManyCorrections { index: u32, hash_id: Hash32 },
    #[error("GS1 identifier {id} is already registered")]
    Gs1Taken { id: String },
    #[error("GS1 identifier {id} is not registered to that organisation")]
    Gs1NotRegistered { id: String },
    #[error("no such prescription")]
    UnknownPrescription,
    #[error("a prescription with this id is already on the ledger")]
    PrescriptionExists,
    #[error("the prescription has been cancelled")]
    PrescriptionCancelled,
    #[error("the prescription has expired")]
    PrescriptionExpired,
    #[error("another organisation has already filled this prescription")]
    FilledElsewhere,
    #[error("a Schedule II prescription is filled once; it has no repeats")]
    ScheduleIIRefill,
    #[error("every fill the prescription allows has been dispensed")]
    NoRepeatsLeft,
    #[error("the quantity exceeds what the prescription leaves for this fill (at most {remaining})")]
    QuantityExceeded { remaining: u64 },
    #[error("a fill with this id is already on the ledger")]
    FillExists,
    #[error("a Schedule II prescription may not allow repeats")]
    ScheduleIIRepeats,
    #[error("a prescription of this schedule allows at most {max} repeats")]
    TooManyRepeats { max: u32 },
    #[error("the ingredient is at least Schedule {least_strict}; the prescription declares a less strict schedule")]
    ScheduleMismatch { least_strict: Schedule },
    #[error("the drug table ({table}) has no MME factor for this opioid in this strength unit")]
    NoMmeFactor { table: String },
    #[error("the validity must end after this block and at most {max_days} days from it")]
    BadValidity { max_days: u32 },
    #[error("the compiled-in drug table does not parse; this release cannot apply prescriptions")]
    DrugTableInvalid,
    #[error("the monitoring thresholds are out of range")]
    BadRxParams,
    #[error("these monitoring thresholds are already in force")]
    RxParamsUnchanged,
    #[error("contract code refused: {reason}")]
    ContractCodeTooLarge { reason: String },
    #[error("contract code refused: {reason}")]
    ContractCodeFloat { reason: String },
    #[error("contract code refused: {reason}")]
    ContractCodeInvalid { reason: String },
    #[error("contract code refused: {reason}")]
    ContractCodeImports { reason: String },
    #[error("contract code refused: {reason}")]
    ContractCodeExports { reason: String },
    #[error("contract code refused: {reason}")]
    ContractCodeMemory { reason: String },
    #[error("contract interface {got} is not supported (ABI v1 is 1)")]
    ContractInterface { got: u32 },
    #[error("no pending contract version with that code")]
    ContractNotPending,
}

impl TxError {
    /// The stable outcome code recorded in the log. Never renumber.
    pub fn code(&self) -> OutcomeCode {
        OutcomeCode(match self {
            TxError::NotAuthorized => 1,
            TxError::UnknownOrg(_) => 2,
            TxError::MemberExists { .. } => 3,
            TxError::UnknownMember { .. } => 4,
            TxError::MemberRevoked { .. } => 5,
            TxError::KeyInUse(_) => 6,
            TxError::SelfRevocation => 7,
            TxError::UnknownRecord => 8,
            TxError::VersionConflict { .. } => 9,
            TxError::NotCustodian => 10,
            TxError::RecordErased => 11,
            TxError::PatientMismatch => 12,
            TxError::NotThePatient => 13,
            TxError::ConsentExists => 14,
            TxError::UnknownConsent => 15,
            TxError::ConsentRevoked => 16,
            TxError::ConsentExpired => 17,
            TxError::TooManyConsents => 18,
            TxError::NoGovernance => 19,
            TxError::OrgStatusUnchanged => 20,
            TxError::AlreadyVoted => 21,
            TxError::NotAPractitioner { .. } => 22,
            TxError::AuditGap { .. } => 23,
            TxError::PatientEnrolled => 24,
            TxError::NotPatientCustodian => 25,
            TxError::NotAService { .. } => 26,
            TxError::NodeStatusUnchanged => 27,
            TxError::BreakGlassLimit { .. } => 28,
            TxError::PurposeNotForRole => 29,
            TxError::UnknownPatient => 30,
            TxError::EpcClone { .. } => 31,
            TxError::NotPrefixOwner { .. } => 32,
            TxError::UnknownEpc { .. } => 33,
            TxError::NotHeld { .. } => 34,
            TxError::NotShippedToYou { .. } => 35,
            TxError::ItemFinal { .. } => 36,
            TxError::ItemOnHold { .. } => 37,
            TxError::Aggregation { .. } => 38,
            TxError::DuplicateEvent { .. } => 39,
            TxError::UnknownEvent { .. } => 40,
            TxError::AlreadyRecalled => 41,
            TxError::TooManyCorrections { .. } => 42,
            TxError::Gs1Taken { .. } => 43,
            TxError::Gs1NotRegistered { .. } => 44,
            TxError::UnknownPrescription => 45,
            TxError::PrescriptionExists => 46,
            TxError::PrescriptionCancelled => 47,
            TxError::PrescriptionExpired => 48,
            TxError::FilledElsewhere => 49,
            TxError::ScheduleIIRefill => 50,
            TxError::NoRepeatsLeft => 51,
            TxError::QuantityExceeded { .. } => 52,
            TxError::FillExists => 53,
            TxError::ScheduleIIRepeats => 54,
            TxError::TooManyRepeats { .. } => 55,
            TxError::ScheduleMismatch { .. } => 56,
            TxError::NoMmeFactor { .. } => 57,
            TxError::BadValidity { .. } => 58,
            TxError::DrugTableInvalid => 59,
            TxError::BadRxParams => 60,
            TxError::RxParamsUnchanged => 61,
            TxError::ContractCodeTooLarge { .. } => 62,
            TxError::ContractCodeFloat { .. } => 63,
            TxError::ContractCodeInvalid { .. } => 64,
            TxError::ContractCodeImports { .. } => 65,
            TxError::ContractCodeExports { .. } => 66,
            TxError::ContractCodeMemory { .. } => 67,
            TxError::ContractInterface { .. } => 68,
            TxError::ContractNotPending => 69,
        })
    }

    pub fn reason(&self) -> &'static str {
        match self {
            TxError::NotAuthorized => "not_authorized",
            TxError::UnknownOrg(_) => "unknown_org",
            TxError::MemberExists { .. } => "member_exists",
            TxError::UnknownMember { .. } => "unknown_member",
            TxError::MemberRevoked { .. } => "member_revoked",
            TxError::KeyInUse(_) => "key_in_use",
            TxError::SelfRevocation => "self_revocation",
            TxError::UnknownRecord => "unknown_record",
            TxError::VersionConflict { .. } => "version_conflict",
            TxError::NotCustodian => "not_custodian",
            TxError::RecordErased => "record_erased",
            TxError::PatientMismatch => "patient_mismatch",
            TxError::NotThePatient => "not_the_patient",
            TxError::ConsentExists => "consent_exists",
            TxError::UnknownConsent => "unknown_consent",
            TxError::ConsentRevoked => "consent_revoked",
            TxError::ConsentExpired => "consent_expired",
            TxError::TooManyConsents => "too_many_consents",
            TxError::NoGovernance => "no_governance",
            TxError::OrgStatusUnchanged => "org_status_unchanged",
            TxError::AlreadyVoted => "already_voted",
            TxError::NotAPractitioner { .. } => "not_a_practitioner",
            TxError::AuditGap { .. } => "audit_gap",
            TxError::PatientEnrolled => "patient_enrolled",
            TxError::NotPatientCustodian => "not_patient_custodian",
            TxError::NotAService { .. } => "not_a_service",
            TxError::NodeStatusUnchanged => "node_status_unchanged",
            TxError::BreakGlassLimit { .. } => "break_glass_limit",
            TxError::PurposeNotForRole => "purpose_not_for_role",
            TxError::UnknownPatient => "unknown_patient",
            TxError::EpcClone { .. } => "epc_clone",
            TxError::NotPrefixOwner { .. } => "not_prefix_owner",
            TxError::UnknownEpc { .. } => "unknown_epc",
            TxError::NotHeld { .. } => "not_held",
            TxError::NotShippedToYou { .. } => "not_shipped_to_you",
            TxError::ItemFinal { .. } => "item_final",
            TxError::ItemOnHold { .. } => "item_on_hold",
            TxError::Aggregation { .. } => "aggregation",
            TxError::DuplicateEvent { .. } => "duplicate_event",
            TxError::UnknownEvent { .. } => "unknown_event",
            TxError::AlreadyRecalled => "already_recalled",
            TxError::TooManyCorrections { .. } => "too_many_corrections",
            TxError::Gs1Taken { .. } => "gs1_taken",
            TxError::Gs1NotRegistered { .. } => "gs1_not_registered",
            TxError::UnknownPrescription => "unknown_prescription",
            TxError::PrescriptionExists => "prescription_exists",
            TxError::PrescriptionCancelled => "prescription_cancelled",
            TxError::PrescriptionExpired => "prescription_expired",
            TxError::FilledElsewhere => "filled_elsewhere",
            TxError::ScheduleIIRefill => "schedule_ii_refill",
            TxError::NoRepeatsLeft => "no_repeats_left",
            TxError::QuantityExceeded { .. } => "quantity_exceeded",
            TxError::FillExists => "fill_exists",
            TxError::ScheduleIIRepeats => "schedule_ii_repeats",
            TxError::TooManyRepeats { .. } => "too_many_repeats",
            TxError::ScheduleMismatch { .. } => "schedule_mismatch",
            TxError::NoMmeFactor { .. } => "no_mme_factor",
            TxError::BadValidity { .. } => "bad_validity",
            TxError::DrugTableInvalid => "drug_table_invalid",
            TxError::BadRxParams => "bad_rx_params",
            TxError::RxParamsUnchanged => "rx_params_unchanged",
            TxError::ContractCodeTooLarge { .. } => "contract_code_too_large",
            TxError::ContractCodeFloat { .. } => "contract_code_float",
            TxError::ContractCodeInvalid { .. } => "contract_code_invalid",
            TxError::ContractCodeImports { .. } => "contract_code_imports",
            TxError::ContractCodeExports { .. } => "contract_code_exports",
            TxError::ContractCodeMemory { .. } => "contract_code_memory",
            TxError::ContractInterface { .. } => "contract_interface",
            TxError::ContractNotPending => "contract_not_pending",
        }
    }
}

/// Describes an outcome code for people (CLI, API).
pub fn describe_outcome(code: OutcomeCode) -> &'static str {
    match code.0 {
        0 => "ok",
        1 => "not_authorized",
        2 => "unknown_org",
        3 => "member_exists",
        4 => "unknown_member",
        5 => "member_revoked",
        6 => "key_in_use",
        7 => "self_revocation",
        8 => "unknown_record",
        9 => "version_conflict",
        10 => "not_custodian",
        11 => "record_erased",
        12 => "patient_mismatch",
        13 => "not_the_patient",
        14 => "consent_exists",
        15 => "unknown_consent",
        16 => "consent_revoked",
        17 => "consent_expired",
        18 => "too_many_consents",
        19 => "no_governance",
        20 => "org_status_unchanged",
        21 => "already_voted",
        22 => "not_a_practitioner",
        23 => "audit_gap",
        24 => "patient_enrolled",
        25 => "not_patient_custodian",
        26 => "not_a_service",
        27 => "node_status_unchanged",
        28 => "break_glass_limit",
        29 => "purpose_not_for_role",
        30 => "unknown_patient",
        31 => "epc_clone",
        32 => "not_prefix_owner",
        33 => "unknown_epc",
        34 => "not_held",
        35 => "not_shipped_to_you",
        36 => "item_final",
        37 => "item_on_hold",
        38 => "aggregation",
        39 => "duplicate_event",
        40 => "unknown_event",
        41 => "already_recalled",
        42 => "too_many_corrections",
        43 => "gs1_taken",
        44 => "gs1_not_registered",
        45 => "unknown_prescription",
        46 => "prescription_exists",
        47 => "prescription_cancelled",
        48 => "prescription_expired",
        49 => "filled_elsewhere",
        50 => "schedule_ii_refill",
        51 => "no_repeats_left",
        52 => "quantity_exceeded",
        53 => "fill_exists",
        54 => "schedule_ii_repeats",
        55 => "too_many_repeats",
        56 => "schedule_mismatch",
        57 => "no_mme_factor",
        58 => "bad_validity",
        59 => "drug_table_invalid",
        60 => "bad_rx_params",
        61 => "rx_params_unchanged",
        62 => "contract_code_too_large",
        63 => "contract_code_float",
        64 => "contract_code_invalid",
        65 => "contract_code_imports",
        66 => "contract_code_exports",
        67 => "contract_code_memory",
        68 => "contract_interface",
        69 => "contract_not_pending",
        _ => "unknown_error",
    }
}
