//! Audit: every access to a record — allowed, denied or failed — as recorded by the node
//! that served it. Entries carry pseudonyms and codes only, never free text.

pub mod record;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, MemberId, OrgId, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::consent::Purpose;
use crate::records::{put_opt_str, read_id, read_opt, read_type};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Read,
    Vread,
    Update,
    Search,
    History,
    Export,
    Erase,
    Verify,
    Consent,
    Login,
    /// A lookup by business identifier at the custodian, by its staff (conditional create
    /// or conditional reference). Anyone else's attempt is refused before any lookup, and
    /// audited as the refused write.
    Lookup,
    /// Placeholder for an entry of the node's journal that no longer decodes.
    Unreadable,
    /// A break-glass declaration (shown in access logs from `consent.break_glass`).
    BreakGlass,
    /// Looking at the ledger's view of a patient: the access log, the consents, or the
    /// drug-monitoring window (recorded with resource type `MedicationDispense`).
    LedgerView,
    /// A FHIR delete: a new, deleted version (history kept; erasure is separate).
    Delete,
}

impl AuditAction {
    const ALL: [AuditAction; 16] = [
        AuditAction::Create,
        AuditAction::Read,
        AuditAction::Vread,
        AuditAction::Update,
        AuditAction::Search,
        AuditAction::History,
        AuditAction::Export,
        AuditAction::Erase,
        AuditAction::Verify,
        AuditAction::Consent,
        AuditAction::Login,
        AuditAction::Lookup,
        AuditAction::Unreadable,
        AuditAction::BreakGlass,
        AuditAction::LedgerView,
        AuditAction::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Read => "read",
            AuditAction::Vread => "vread",
            AuditAction::Update => "update",
            AuditAction::Search => "search",
            AuditAction::History => "history",
            AuditAction::Export => "export",
            AuditAction::Erase => "erase",
            AuditAction::Verify => "verify",
            AuditAction::Consent => "consent",
            AuditAction::Login => "login",
            AuditAction::Lookup => "lookup",
            AuditAction::Unreadable => "unreadable",
            AuditAction::BreakGlass => "break-glass",
            AuditAction::LedgerView => "ledger-view",
            AuditAction::Delete => "delete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Allowed,
    Denied,
    Failed,
}

/// One access, as the serving node saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Random, chosen by the node: the entry's name (the AuditEvent id). Repeats are
    /// recognised by the node's sequence numbers, not by this id.
    pub id: Hash32,
    pub at: TimestampMs,
    pub actor_org: OrgId,
    pub actor_member: MemberId,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    pub purpose: Option<Purpose>,
    pub break_glass: bool,
    pub patient: Option<String>,
    pub resource_type: Option<String>,
    pub record_id: Option<String>,
    pub version: Option<u64>,
}

impl Encode for AuditEntry {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.at.encode_to(out);
        self.actor_org.encode_to(out);
        self.actor_member.encode_to(out);
        put::u8(out, self.action as u8);
        put::u8(out, self.outcome as u8);
        match self.purpose {
            None => put::u8(out, 0),
            Some(p) => {
                put::u8(out, 1);
                p.encode_to(out);
            }
        }
        put::bool(out, self.break_glass);
        put_opt_str(out, &self.patient);
        put_opt_str(out, &self.resource_type);
        put_opt_str(out, &self.record_id);
        match self.version {
            None => put::u8(out, 0),
            Some(v) => {
                put::u8(out, 1);
                put::u64(out, v);
            }
        }
    }
}

impl Decode for AuditEntry {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = Hash32::decode_from(r)?;
        let at = TimestampMs::decode_from(r)?;
        let actor_org = OrgId::decode_from(r)?;
        let actor_member = MemberId::decode_from(r)?;
        let tag = r.u8("audit action")?;
        let action = *AuditAction::ALL.get(tag as usize).ok_or(DecodeError::InvalidTag {
            what: "audit action",
            tag,
        })?;
        let tag = r.u8("audit outcome")?;
        let outcome = *[AuditOutcome::Allowed, AuditOutcome::Denied, AuditOutcome::Failed]
            .get(tag as usize)
            .ok_or(DecodeError::InvalidTag {
                what: "audit outcome",
                tag,
            })?;
        Ok(AuditEntry {
            id,
            at,
            actor_org,
            actor_member,
            action,
            outcome,
            purpose: read_opt(r, "purpose", Purpose::decode_from)?,
            break_glass: r.bool("break glass")?,
            patient: read_opt(r, "patient", |r| read_id(r, "patient"))?,
            resource_type: read_opt(r, "resource type", |r| read_type(r, "resource type"))?,
            record_id: read_opt(r, "record id", |r| read_id(r, "record id"))?,
            version: read_opt(r, "version", |r| r.u64("version"))?,
        })
    }
}
