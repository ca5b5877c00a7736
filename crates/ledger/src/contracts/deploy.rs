//! `contract.deploy`: an organisation deploys the next version of one of its contracts.
//!
//! Rules, in check order (each refusal its own outcome, ADR 003):
//! - `org` is a member of the consortium (`unknown_org`); the signer is an active admin of
//!   `org` (`not_authorized`: another organisation's admin cannot deploy in its name).
//! - The interface is ABI v1 (`contract_interface`).
//! - The version is the latest active one plus one, from 1 (`version_conflict`). While
//!   that version is pending a vote, deploying it again replaces it and drops its votes.
//! - The code passes [`Engine::check`](medledger_contracts::Engine::check) under the
//!   consensus limits: `contract_code_too_large`, `contract_code_float`,
//!   `contract_code_invalid`, `contract_code_imports`, `contract_code_exports`,
//!   `contract_code_memory`. A refusal writes nothing.
//!
//! Then the code is stored under its SHA-256 unless it is there already, and the version
//! is recorded: active at once, or pending when the consortium requires a vote.
//!
//! The body is bounded: the code is at most the engine's `max_code_bytes` (512 KiB) when
//! decoded. The transaction envelope's own limit (`MAX_TX_BODY`, 64 KiB) binds first today,
//! so deployable code is under 64 KiB until the envelope allows more.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{
    CodeId, ContractName, ContractVersion, INTERFACE_V1, consensus_limits, engine, keys, latest, params, refusal,
    version,
};
use crate::error::TxError;
use crate::identity::vote_org::quorum;
use crate::identity::{require_org, signer_admin};
use crate::state::Overlay;
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0801);

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractDeploy {
    pub org: OrgId,
    pub name: ContractName,
    /// The version deployed: the latest active version plus one.
    pub version: u32,
    /// The ABI the code is written for ([`INTERFACE_V1`]).
    pub interface: u32,
    /// The WebAssembly module.
    #[serde(with = "hex_bytes")]
    pub code: Vec<u8>,
}

impl std::fmt::Debug for ContractDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractDeploy")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("interface", &self.interface)
            .field(
                "code",
                &format_args!("{} bytes, {}", self.code.len(), CodeId::of(&self.code)),
            )
            .finish()
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = v.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("not hex"))
            })
            .collect()
    }
}

impl Encode for ContractDeploy {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.name.encode_to(out);
        put::u32(out, self.version);
        put::u32(out, self.interface);
        put::bytes(out, &self.code);
    }
}

impl Decode for ContractDeploy {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let org = OrgId::decode_from(r)?;
        let name = ContractName::decode_from(r)?;
        let version = r.u32("contract version")?;
        if version == 0 {
            return Err(DecodeError::Invalid {
                what: "contract version",
                reason: "versions start at 1",
            });
        }
        let interface = r.u32("interface")?;
        let code = r.bytes(consensus_limits().max_code_bytes, "contract code")?.to_vec();
        Ok(ContractDeploy {
            org,
            name,
            version,
            interface,
            code,
        })
    }
}

impl ContractDeploy {
    pub fn code_id(&self) -> CodeId {
        CodeId::of(&self.code)
    }

    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_org(state, &self.org)?;
        let deployer = signer_admin(state, signer)?;
        if deployer.org != self.org {
            return Err(TxError::NotAuthorized);
        }
        if self.interface != INTERFACE_V1 {
            return Err(TxError::ContractInterface { got: self.interface });
        }
        let expected = latest(state, &self.org, &self.name).unwrap_or(0).saturating_add(1);
        if self.version != expected {
            return Err(TxError::VersionConflict {
                expected: u64::from(expected),
                got: u64::from(self.version),
            });
        }
        let checked = engine()?.check(&self.code).map_err(refusal)?;
        let id = checked.id();
        let require_vote = params(state).require_vote;
        if require_vote {
            quorum(state).ok_or(TxError::NoGovernance)?;
        }
        // A pending version replaced: its votes were for other code.
        if let Some(pending) = version(state, &self.org, &self.name, self.version) {
            state.delete(keys::ballot(&self.org, &self.name, self.version, &pending.code_id()));
        }
        let code_key = keys::code(&id);
        if state.get(&code_key).is_none() {
            state.put(code_key, self.code.clone());
        }
        let record = ContractVersion {
            code: Hash32(id.0),
            interface: self.interface,
            deployed_at: ctx.height,
            deployed_time: ctx.timestamp,
            deployer: deployer.member,
            activated_at: (!require_vote).then_some(ctx.height),
        };
        state.put_record(keys::version(&self.org, &self.name, self.version), &record);
        if !require_vote {
            state.put_record(keys::latest(&self.org, &self.name), &u64::from(self.version));
        }
        Ok(vec![Event::ContractDeployed {
            org: self.org.clone(),
            name: self.name.clone(),
            version: self.version,
            code: Hash32(id.0),
            active: !require_vote,
        }])
    }
}
