//! Small genesis documents for the domain tests.

use medledger_crypto::Keypair;
use medledger_ledger::Genesis;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::OrgRole;
use medledger_types::{ChainId, MemberId, OrgId, TimestampMs};

use super::State;

/// An organisation whose one admin, member `admin`, holds `admin`; no other members and
/// no GS1 identifiers.
pub fn org_with_admin(id: &str, role: OrgRole, admin: &Keypair) -> GenesisOrg {
    GenesisOrg {
        id: OrgId::new(id).unwrap(),
        name: id.to_string(),
        role,
        admins: vec![GenesisAdmin {
            member: MemberId::new("admin").unwrap(),
            public_key: admin.public(),
        }],
        members: Vec::new(),
        gs1: None,
    }
}

/// A chain of `orgs` whose one validator (key seed 99) belongs to `validator_org`; no
/// suspend quorum, no break-glass rules, genesis time 0.
pub fn genesis(chain: &str, orgs: Vec<GenesisOrg>, validator_org: &str) -> Genesis {
    Genesis {
        suspend_quorum: None,
        break_glass: None,
        contracts: None,
        chain_id: ChainId::new(chain).unwrap(),
        genesis_time: TimestampMs(0),
        orgs,
        validators: vec![GenesisValidator {
            org: OrgId::new(validator_org).unwrap(),
            public_key: Keypair::from_seed([99; 32]).public(),
            power: 1,
        }],
    }
}

/// The state a valid genesis starts from.
pub fn state_of(genesis: &Genesis) -> State {
    genesis.validate().unwrap();
    genesis
        .initial_writes()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect()
}
