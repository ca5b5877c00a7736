//! Contracts: the ledger side of user-deployed WebAssembly contracts (issue 15,
//! [ADR 015](../../../../docs/adr/015-contracts.md), "The ledger side").
//!
//! The ledger stores contract code and its versions, and offers the facts a contract reads
//! ([`facts`]). It does not run calls in `apply`: the provider's and the payer's nodes run
//! a call off-ledger with [`medledger_contracts::Engine`] and the ledger records what they
//! agree on (built with claims). What the ledger does run, on every validator, is
//! [`Engine::check`](medledger_contracts::Engine::check) of deployed code under
//! [`consensus_limits`], so that no node can be handed code another node would refuse.
//!
//! # Rules
//!
//! - An active admin of an organisation deploys version N+1 of one of the organisation's
//!   contracts ([`deploy`]): its name ([`ContractName`]), the wasm code and the interface
//!   version (ABI v1 = [`INTERFACE_V1`]). The code must pass the engine's check; a refusal
//!   is recorded as the transaction's outcome (one code per kind of refusal) and writes
//!   nothing.
//! - Code is stored once by its SHA-256 ([`CodeId`]); a second deployment of the same bytes,
//!   by any organisation, reuses it. Versions are never deleted or changed once active, so
//!   a past call can always be re-run on the code it ran on.
//! - When the consortium parameter `require_vote` is on ([`ContractParams`], set in
//!   genesis), a new version is *pending* until the genesis `suspend_quorum` of other
//!   organisations' admins vote for it ([`vote`]); otherwise it is active at once. A
//!   contract has at most one pending version, N+1 after the latest active N; deploying
//!   N+1 again replaces a pending one (and drops the votes it had).
//!
//! # Records and keys
//!
//! - `contract-code/{hex code id}` → the module's bytes, as deployed.
//! - `contract/{org}/{name}/{version}` → [`ContractVersion`]; `{version}` is decimal,
//!   from 1.
//! - `contract/{org}/{name}/latest` → the latest active version (`u32`); absent until the
//!   first version is active.
//! - `contract-ballot/{org}/{name}/{version}/{hex code id}` → the consortium's
//!   [`Ballot`](crate::identity::Ballot) on a pending version.
//! - `contracts/params` → [`ContractParams`] (absent: the defaults, no vote).
//! - `contract_state/{org}/{name}/{key}` → a contract's own state (written by
//!   [`facts::apply_call_writes`]).

pub mod deploy;
pub mod facts;
pub mod vote;

use std::fmt;
use std::str::FromStr;

use medledger_contracts::{CodeError, Engine, Limits};
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, Height, MemberId, OrgId, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::records::read_opt;
use crate::state::{StateRead, read};

pub use medledger_contracts::CodeId;

/// ABI v1 of `medledger_contracts` (the only interface so far).
pub const INTERFACE_V1: u32 = 1;

/// Longest contract name.
pub const MAX_NAME_LEN: usize = 64;

/// The limits every validator checks code (and every node runs calls) under: consensus
/// parameters, changed only by a coordinated upgrade (ADR 015 §3).
pub fn consensus_limits() -> Limits {
    Limits::default()
}

/// The engine under [`consensus_limits`].
pub fn engine() -> Result<Engine, TxError> {
    Engine::new(consensus_limits()).map_err(|e| TxError::ContractCodeInvalid { reason: e.to_string() })
}

/// A contract's name within its organisation: 1 to 64 of `a-z`, `0-9` and `-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ContractName(String);

/// Why a string is not a contract name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a contract name is 1 to 64 of a-z, 0-9 and '-'")]
pub struct BadContractName;

impl ContractName {
    pub fn new(s: impl Into<String>) -> Result<Self, BadContractName> {
        let s = s.into();
        let ok = (1..=MAX_NAME_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s)) } else { Err(BadContractName) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContractName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContractName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContractName({:?})", self.0)
    }
}

impl FromStr for ContractName {
    type Err = BadContractName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for ContractName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Encode for ContractName {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.0);
    }
}

impl Decode for ContractName {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let s = r.string(MAX_NAME_LEN, "contract name")?;
        Self::new(s).map_err(|_| DecodeError::Invalid {
            what: "contract name",
            reason: "1 to 64 of a-z, 0-9 and '-'",
        })
    }
}

/// `contract/{org}/{name}/{version}`: one version of a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractVersion {
    /// SHA-256 of the code, stored at `contract-code/{hex}`.
    pub code: Hash32,
    /// The ABI the code was deployed for.
    pub interface: u32,
    pub deployed_at: Height,
    pub deployed_time: TimestampMs,
    /// The admin of the organisation who deployed it.
    pub deployer: MemberId,
    /// When the version became active; `None` while it waits for the consortium's vote.
    pub activated_at: Option<Height>,
}

impl ContractVersion {
    pub fn is_active(&self) -> bool {
        self.activated_at.is_some()
    }

    pub fn code_id(&self) -> CodeId {
        CodeId(self.code.0)
    }
}

impl Encode for ContractVersion {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.code.encode_to(out);
        put::u32(out, self.interface);
        self.deployed_at.encode_to(out);
        self.deployed_time.encode_to(out);
        self.deployer.encode_to(out);
        match &self.activated_at {
            None => put::u8(out, 0),
            Some(h) => {
                put::u8(out, 1);
                h.encode_to(out);
            }
        }
    }
}

impl Decode for ContractVersion {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ContractVersion {
            code: Hash32::decode_from(r)?,
            interface: r.u32("interface")?,
            deployed_at: Height::decode_from(r)?,
            deployed_time: TimestampMs::decode_from(r)?,
            deployer: MemberId::decode_from(r)?,
            activated_at: read_opt(r, "activated at", Height::decode_from)?,
        })
    }
}

/// `contracts/params`: the consortium's rules for deployments. Absent: the default, every
/// deployment active at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractParams {
    /// A new version waits for the genesis `suspend_quorum` of other organisations' votes.
    #[serde(default)]
    pub require_vote: bool,
}

impl Encode for ContractParams {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::bool(out, self.require_vote);
    }
}

impl Decode for ContractParams {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ContractParams {
            require_vote: r.bool("require vote")?,
        })
    }
}

/// The rules in force.
pub fn params(state: &dyn StateRead) -> ContractParams {
    read(state, &keys::params()).unwrap_or_default()
}

/// Version `version` of `org`'s contract `name`, pending or active.
pub fn version(state: &dyn StateRead, org: &OrgId, name: &ContractName, version: u32) -> Option<ContractVersion> {
    read(state, &keys::version(org, name, version))
}

/// The latest active version's number.
pub fn latest(state: &dyn StateRead, org: &OrgId, name: &ContractName) -> Option<u32> {
    read::<u64>(state, &keys::latest(org, name)).and_then(|v| u32::try_from(v).ok())
}

/// The code stored under `id`.
pub fn code(state: &dyn StateRead, id: &CodeId) -> Option<Vec<u8>> {
    state.get(&keys::code(id))
}

/// The outcome of a refused check. Each kind of refusal has its own outcome code; the
/// message (wasmi's words) is for people only and is not part of the log leaf.
pub(crate) fn refusal(e: CodeError) -> TxError {
    let reason = e.to_string();
    match e {
        CodeError::TooLarge { .. } => TxError::ContractCodeTooLarge { reason },
        CodeError::Float(_) => TxError::ContractCodeFloat { reason },
        CodeError::Invalid(_) => TxError::ContractCodeInvalid { reason },
        CodeError::UnknownImport { .. } | CodeError::ImportSignature { .. } => TxError::ContractCodeImports { reason },
        CodeError::MissingExport(_) | CodeError::ExportType(_) => TxError::ContractCodeExports { reason },
        CodeError::MemoryTooLarge { .. } => TxError::ContractCodeMemory { reason },
    }
}

/// The contracts domain's state keys (frozen, like an encoding).
pub mod keys {
    use super::{CodeId, ContractName};
    use medledger_types::OrgId;

    fn contract_prefix(org: &OrgId, name: &ContractName) -> Vec<u8> {
        [
            b"contract/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            name.as_str().as_bytes(),
            b"/",
        ]
        .concat()
    }

    /// `contract-code/{hex code id}`
    pub fn code(id: &CodeId) -> Vec<u8> {
        [b"contract-code/".as_slice(), id.to_string().as_bytes()].concat()
    }

    /// `contract/{org}/{name}/{version}`, the version in decimal.
    pub fn version(org: &OrgId, name: &ContractName, version: u32) -> Vec<u8> {
        [contract_prefix(org, name), version.to_string().into_bytes()].concat()
    }

    /// `contract/{org}/{name}/latest`
    pub fn latest(org: &OrgId, name: &ContractName) -> Vec<u8> {
        [contract_prefix(org, name), b"latest".to_vec()].concat()
    }

    /// `contract-ballot/{org}/{name}/{version}/{hex code id}`
    pub fn ballot(org: &OrgId, name: &ContractName, version: u32, code: &CodeId) -> Vec<u8> {
        [
            b"contract-ballot/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            name.as_str().as_bytes(),
            b"/",
            version.to_string().as_bytes(),
            b"/",
            code.to_string().as_bytes(),
        ]
        .concat()
    }

    /// `contracts/params`
    pub fn params() -> Vec<u8> {
        b"contracts/params".to_vec()
    }

    /// `contract_state/{org}/{name}/`: the prefix of a contract's own state.
    pub fn state_prefix(org: &OrgId, name: &ContractName) -> Vec<u8> {
        [
            b"contract_state/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            name.as_str().as_bytes(),
            b"/",
        ]
        .concat()
    }

    /// `contract_state/{org}/{name}/{key}`: the key is the contract's, raw bytes.
    pub fn state(org: &OrgId, name: &ContractName, key: &[u8]) -> Vec<u8> {
        [state_prefix(org, name).as_slice(), key].concat()
    }
}
