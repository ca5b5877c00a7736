//! `consent.break_glass`: a practitioner declares an emergency access to one patient's
//! records, on the ledger, before any record is read.
//!
//! Rules:
//! - Signed by the practitioner's own key, or by a node key of the practitioner's
//!   organisation acting for them (the node that received the request).
//! - The reader is an active practitioner of an organisation in good standing whose role
//!   may treat patients ([`super::policy::purpose_allowed`]).
//! - It names exactly one patient pseudonym. The reason stays off the ledger (it is free
//!   text); the declaration itself, with reader and patient, is public to members and
//!   shown in the patient's access log.
//! - A practitioner breaks the glass for at most `patients_per_day` distinct patients in
//!   any 24 hours of block time (genesis `break_glass`; default 10). Declaring again for
//!   a patient already in the window renews that access and counts once.
//! - The access lasts `grant_minutes` of block time from the declaration (default 60).
//!   Every node — the reader's and each custodian's — reads the declaration from its own
//!   copy of the ledger; nothing the request says can stand in for it.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{MemberId, OrgId, PublicKey, TimestampMs, TxKind};
use serde::{Deserialize, Serialize};

use super::Purpose;
use super::policy::purpose_allowed;
use crate::error::TxError;
use crate::identity::{MemberKind, node_key, require_org, signer_record};
use crate::records::read_id;
use crate::state::{Overlay, StateRead, keys, read};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0303);

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Largest `patients_per_day` a genesis may set.
pub const MAX_PER_DAY: u32 = 1000;
/// Longest `grant_minutes` a genesis may set (one day).
pub const MAX_GRANT_MINUTES: u32 = 24 * 60;

/// The consortium's break-glass limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRules {
    /// Distinct patients one practitioner may break the glass for in 24 hours.
    pub patients_per_day: u32,
    /// How long one declaration opens the patient's records, in minutes.
    pub grant_minutes: u32,
}

impl Default for BreakGlassRules {
    fn default() -> Self {
        BreakGlassRules {
            patients_per_day: 10,
            grant_minutes: 60,
        }
    }
}

impl BreakGlassRules {
    pub fn is_valid(&self) -> bool {
        (1..=MAX_PER_DAY).contains(&self.patients_per_day) && (1..=MAX_GRANT_MINUTES).contains(&self.grant_minutes)
    }

    fn grant_ms(&self) -> u64 {
        u64::from(self.grant_minutes) * 60_000
    }
}

impl Encode for BreakGlassRules {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u32(out, self.patients_per_day);
        put::u32(out, self.grant_minutes);
    }
}

impl Decode for BreakGlassRules {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BreakGlassRules {
            patients_per_day: r.u32("patients per day")?,
            grant_minutes: r.u32("grant minutes")?,
        })
    }
}

/// The rules in force: from genesis, or the defaults.
pub fn rules(state: &dyn StateRead) -> BreakGlassRules {
    read(state, &keys::break_glass_rules()).unwrap_or_default()
}

/// `breakglass/{org}/{member}`: the practitioner's declarations of the last 24 hours,
/// oldest first, one per patient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Declarations(Vec<(String, TimestampMs)>);

impl Encode for Declarations {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.0.len());
        for (patient, at) in &self.0 {
            put::str(out, patient);
            at.encode_to(out);
        }
    }
}

impl Decode for Declarations {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Declarations(r.seq(MAX_PER_DAY as usize, 13, "declarations", |r| {
            Ok((read_id(r, "patient")?, TimestampMs::decode_from(r)?))
        })?))
    }
}

/// Whether `org/member` has an unexpired break-glass declaration for `patient` at `now`.
pub fn is_open(state: &dyn StateRead, org: &OrgId, member: &MemberId, patient: &str, now: TimestampMs) -> bool {
    let Some(declared) = read::<Declarations>(state, &keys::break_glass(org, member)) else {
        return false;
    };
    let grant = rules(state).grant_ms();
    declared
        .0
        .iter()
        .any(|(p, at)| p == patient && at.0.saturating_add(grant) > now.0)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlass {
    pub patient: String,
    pub reader_org: OrgId,
    pub reader_member: MemberId,
}

impl Encode for BreakGlass {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.patient);
        self.reader_org.encode_to(out);
        self.reader_member.encode_to(out);
    }
}

impl Decode for BreakGlass {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BreakGlass {
            patient: read_id(r, "patient")?,
            reader_org: OrgId::decode_from(r)?,
            reader_member: MemberId::decode_from(r)?,
        })
    }
}

impl BreakGlass {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let org = require_org(state, &self.reader_org)?;
        let reader = crate::identity::active_member(state, &self.reader_org, &self.reader_member)
            .filter(|m| m.kind == MemberKind::Practitioner)
            .ok_or_else(|| TxError::NotAPractitioner {
                org: self.reader_org.clone(),
                member: self.reader_member.clone(),
            })?;
        let by_reader = reader.key == *signer;
        if !by_reader && node_key(state, signer).is_none_or(|k| k.org != self.reader_org) {
            // Make the refusal say who may sign, for a key that exists at all.
            signer_record(state, signer)?;
            return Err(TxError::NotAuthorized);
        }
        if !purpose_allowed(org.role, Purpose::Treatment) {
            return Err(TxError::PurposeNotForRole);
        }
        let key = keys::break_glass(&self.reader_org, &self.reader_member);
        let mut declared: Declarations = state.get_record(&key).unwrap_or_default();
        declared
            .0
            .retain(|(_, at)| at.0.saturating_add(DAY_MS) > ctx.timestamp.0);
        let limit = rules(state).patients_per_day as usize;
        match declared.0.iter().position(|(p, _)| p == &self.patient) {
            Some(i) => {
                declared.0.remove(i);
            }
            None if declared.0.len() >= limit => {
                return Err(TxError::BreakGlassLimit { per_day: limit as u32 });
            }
            None => {}
        }
        declared.0.push((self.patient.clone(), ctx.timestamp));
        state.put_record(key, &declared);
        Ok(vec![Event::BreakGlass {
            patient: self.patient.clone(),
            reader_org: self.reader_org.clone(),
            reader_member: self.reader_member.clone(),
        }])
    }
}
