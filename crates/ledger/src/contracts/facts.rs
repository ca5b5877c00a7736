//! What a contract call may read from the ledger, and how a successful call's writes reach
//! the contract's own state.
//!
//! [`LedgerFacts`] is the [`Host`] a node gives [`Engine::call`](medledger_contracts::Engine::call):
//! a read-only view of state for one contract (`org`'s contract `name`) called on behalf of
//! one organisation (the *caller*, e.g. the provider whose claim a payer's contract
//! adjudicates). It answers:
//!
//! - `state_get(key)`: the contract's own state, `contract_state/{org}/{name}/{key}`.
//! - `fact_get(key)`: namespaced facts, each an ABI value sequence
//!   ([`medledger_contracts::abi`]):
//!
//!   | key | value | who may see it |
//!   |---|---|---|
//!   | `identity/org/{org}/role` | `Str` the role (`hospital`, `insurer`, …, as in genesis) | any caller |
//!   | `identity/org/{org}/standing` | `Bool` in good standing (not suspended) | any caller |
//!   | `identity/member/{org}/{member}` | `Str` the member's kind (`practitioner`, `service`, …), `Bool` active | members of the caller's organisation or of the contract's; never a patient |
//!
//! - `block_time_s`: the block's time.
//!
//! Everything else is `None`: a fact the caller may not see looks exactly like one that is
//! not there. A caller that is not an organisation of the consortium in good standing sees
//! no fact at all. A patient member is never answered, so a contract cannot probe which
//! organisation enrolled a pseudonym. The namespaces the ABI also documents —
//! `coverage/…`, `member/…` (a plan member's data), `priorauth/…`, `credential/…` — have no
//! ledger domain yet and are answered `None`.
//!
//! [`apply_call_writes`] applies an [`Outcome::Ok`]'s writes under the contract's state
//! namespace, all or nothing, after checking them against the consensus [`Limits`]: the
//! outcome comes from a node's off-ledger run, so it is checked like any other input.

use medledger_contracts::abi::{self, Value};
use medledger_contracts::{Host, LimitKind, Limits, Outcome, Write};
use medledger_types::{MemberId, OrgId, TimestampMs};

use super::{ContractName, keys, latest};
use crate::identity::records::MemberRecord;
use crate::identity::{MemberKind, OrgRole, org_record, vote_org};
use crate::state::{Overlay, StateRead, keys as state_keys, read};

/// A contract's read-only view of the ledger, for one caller.
pub struct LedgerFacts<'a> {
    state: &'a dyn StateRead,
    org: OrgId,
    name: ContractName,
    caller: OrgId,
    block_time_s: i64,
}

impl<'a> LedgerFacts<'a> {
    /// The view of `org`'s contract `name` called on behalf of `caller` in a block at `time`.
    pub fn new(state: &'a dyn StateRead, org: OrgId, name: ContractName, caller: OrgId, time: TimestampMs) -> Self {
        Self {
            state,
            org,
            name,
            caller,
            block_time_s: i64::try_from(time.0 / 1000).unwrap_or(i64::MAX),
        }
    }

    fn caller_in_good_standing(&self) -> bool {
        org_record(self.state, &self.caller).is_some() && !vote_org::is_suspended(self.state, &self.caller)
    }

    fn fact(&self, key: &str) -> Option<Vec<Value>> {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["identity", "org", org, "role"] => {
                let record = org_record(self.state, &OrgId::new(*org).ok()?)?;
                Some(vec![Value::Str(role_name(record.role).to_owned())])
            }
            ["identity", "org", org, "standing"] => {
                let org = OrgId::new(*org).ok()?;
                org_record(self.state, &org)?;
                Some(vec![Value::Bool(!vote_org::is_suspended(self.state, &org))])
            }
            ["identity", "member", org, member] => {
                let org = OrgId::new(*org).ok()?;
                if org != self.caller && org != self.org {
                    return None;
                }
                let member = MemberId::new(*member).ok()?;
                let record: MemberRecord = read(self.state, &state_keys::member(&org, &member))?;
                if record.kind == MemberKind::Patient {
                    return None;
                }
                Some(vec![
                    Value::Str(record.kind.name().to_owned()),
                    Value::Bool(record.active),
                ])
            }
            _ => None,
        }
    }
}

impl Host for LedgerFacts<'_> {
    fn state_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(&keys::state(&self.org, &self.name, key))
    }

    fn fact_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !self.caller_in_good_standing() {
            return None;
        }
        let key = std::str::from_utf8(key).ok()?;
        self.fact(key).map(|values| abi::encode(&values))
    }

    fn block_time_s(&self) -> i64 {
        self.block_time_s
    }
}

/// A role's name, as genesis spells it.
pub fn role_name(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Hospital => "hospital",
        OrgRole::Clinic => "clinic",
        OrgRole::Lab => "lab",
        OrgRole::Pharmacy => "pharmacy",
        OrgRole::Manufacturer => "manufacturer",
        OrgRole::Distributor => "distributor",
        OrgRole::Insurer => "insurer",
        OrgRole::ResearchSponsor => "research_sponsor",
        OrgRole::Regulator => "regulator",
    }
}

/// Why a call's writes were not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateWriteError {
    #[error("only a successful call's writes are applied")]
    NotOk,
    #[error("the contract has no active version")]
    UnknownContract,
    #[error("the writes exceed the limit on {0:?}")]
    Limit(LimitKind),
    #[error("a key is written twice")]
    DuplicateKey,
}

/// Applies a successful call's writes to `org`'s contract `name`'s state in `state`, all
/// or nothing; returns how many keys were written or deleted. The writes are checked
/// against `limits` (count, key and value sizes, total bytes) and must name each key once;
/// the engine's own per-call accounting is at least as strict, so the writes of any
/// `Outcome::Ok` it produced under the same limits pass.
pub fn apply_call_writes(
    state: &mut Overlay<'_>,
    org: &OrgId,
    name: &ContractName,
    outcome: &Outcome,
    limits: &Limits,
) -> Result<usize, StateWriteError> {
    let Outcome::Ok { writes, .. } = outcome else {
        return Err(StateWriteError::NotOk);
    };
    if latest(state, org, name).is_none() {
        return Err(StateWriteError::UnknownContract);
    }
    check_writes(writes, limits)?;
    for w in writes {
        let key = keys::state(org, name, &w.key);
        match &w.value {
            Some(v) => state.put(key, v.clone()),
            None => state.delete(key),
        }
    }
    Ok(writes.len())
}

fn check_writes(writes: &[Write], limits: &Limits) -> Result<(), StateWriteError> {
    if writes.len() > limits.max_writes {
        return Err(StateWriteError::Limit(LimitKind::Writes));
    }
    let mut total: usize = 0;
    let mut seen = std::collections::BTreeSet::new();
    for w in writes {
        if w.key.len() > limits.max_key_bytes {
            return Err(StateWriteError::Limit(LimitKind::KeySize));
        }
        let value_len = w.value.as_ref().map_or(0, Vec::len);
        if value_len > limits.max_value_bytes {
            return Err(StateWriteError::Limit(LimitKind::ValueSize));
        }
        total = total.saturating_add(w.key.len()).saturating_add(value_len);
        if total > limits.max_write_bytes {
            return Err(StateWriteError::Limit(LimitKind::WriteBytes));
        }
        if !seen.insert(w.key.as_slice()) {
            return Err(StateWriteError::DuplicateKey);
        }
    }
    Ok(())
}
