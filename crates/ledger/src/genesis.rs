//! The genesis file: the consortium's member organisations, their first admins and the
//! validator set. Every node of a network starts from the same genesis; its hash is the
//! parent hash of block 1.

use std::collections::{BTreeMap, BTreeSet};

use medledger_types::codec::{Encode, put};
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, PublicKey, TimestampMs};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::consent::break_glass::{BreakGlassRules, MAX_GRANT_MINUTES, MAX_PER_DAY};
use crate::contracts::ContractParams;
use crate::identity::records::MAX_ORG_NAME;
use crate::identity::{KeyRecord, KeyStatus, MemberKind, MemberRecord, NodeRecord, OrgRecord, OrgRole};
use crate::state::{Writes, keys};

pub const GENESIS_HASH_DOMAIN: &[u8] = b"medledger/genesis/v1\0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    pub genesis_time: TimestampMs,
    pub orgs: Vec<GenesisOrg>,
    pub validators: Vec<GenesisValidator>,
    /// How many organisations (other than the one concerned) must vote to suspend or
    /// reinstate a member organisation. Absent: organisations cannot be suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_quorum: Option<u32>,
    /// Break-glass limits. Absent: the defaults (10 patients a day per practitioner,
    /// 60 minutes per declaration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlassRules>,
    /// The consortium's rules for contract deployments (`contracts/params`). Absent: the
    /// defaults (no vote), and the initial state (and the genesis hash) is what it was
    /// before contracts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contracts: Option<ContractParams>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrg {
    pub id: OrgId,
    pub name: String,
    pub role: OrgRole,
    pub admins: Vec<GenesisAdmin>,
    /// Further members known from the start, never admins or patients. Its `service`
    /// members are the organisation's nodes (they may sign node-to-node requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GenesisMember>,
    /// The GS1 identifiers registered to the organisation (ADR 014 §5). Absent: none, and
    /// the initial state (and the genesis hash) is what it was before the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gs1: Option<GenesisGs1>,
}

/// An organisation's GS1 Company Prefixes and GLNs. Changing them after genesis, by a
/// governance vote, is not built yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisGs1 {
    /// GS1 Company Prefixes, 6 to 12 digits; no prefix may start another organisation's
    /// (or another of its own), so a GTIN has one owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub company_prefixes: Vec<String>,
    /// Global Location Numbers, 13 digits with their check digit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub glns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMember {
    pub member: MemberId,
    pub kind: MemberKind,
    pub public_key: PublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAdmin {
    pub member: MemberId,
    pub public_key: PublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub org: OrgId,
    pub public_key: PublicKey,
    pub power: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    #[error("genesis lists no organisations")]
    NoOrgs,
    #[error("genesis lists no validators")]
    NoValidators,
    #[error("organisation {0} is listed twice")]
    DuplicateOrg(OrgId),
    #[error("organisation {0} has no admin")]
    NoAdmin(OrgId),
    #[error("organisation {0}: name must be 1 to {MAX_ORG_NAME} bytes")]
    BadOrgName(OrgId),
    #[error("key {0} is listed twice (every admin and validator needs its own key)")]
    DuplicateKey(PublicKey),
    #[error("organisation {org} lists member {member} twice")]
    DuplicateAdmin { org: OrgId, member: MemberId },
    #[error("organisation {org}: member {member} is an admin; list admins under admins")]
    AdminInMembers { org: OrgId, member: MemberId },
    #[error("validator {key} belongs to unknown organisation {org}")]
    ValidatorOrg { key: PublicKey, org: OrgId },
    #[error("validator {0} has zero voting power")]
    ZeroPower(PublicKey),
    #[error("total voting power overflows")]
    PowerOverflow,
    #[error("suspend_quorum must be between 1 and the number of organisations less one ({max})")]
    BadQuorum { max: usize },
    #[error(
        "organisation {org}: member {member} is a patient; patients are enrolled on the ledger by the organisation that holds their record"
    )]
    PatientInGenesis { org: OrgId, member: MemberId },
    #[error("organisation {org}: {prefix:?} is not a GS1 Company Prefix (6 to 12 digits)")]
    BadCompanyPrefix { org: OrgId, prefix: String },
    #[error("organisation {org}: {gln:?} is not a GLN (13 digits with a valid check digit)")]
    BadGln { org: OrgId, gln: String },
    #[error("GS1 Company Prefix {0} is listed twice, or is the start of another listed prefix")]
    DuplicateCompanyPrefix(String),
    #[error("GLN {0} is listed twice")]
    DuplicateGln(String),
    #[error("contracts.require_vote needs a suspend_quorum: the quorum is who approves a deployment")]
    ContractVoteWithoutQuorum,
    #[error("break_glass: patients_per_day must be 1 to {MAX_PER_DAY} and grant_minutes 1 to {MAX_GRANT_MINUTES}")]
    BadBreakGlass,
}

impl Genesis {
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.orgs.is_empty() {
            return Err(GenesisError::NoOrgs);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut org_ids = BTreeSet::new();
        let mut seen_keys = BTreeSet::new();
        for org in &self.orgs {
            if !org_ids.insert(org.id.clone()) {
                return Err(GenesisError::DuplicateOrg(org.id.clone()));
            }
            if org.name.is_empty() || org.name.len() > MAX_ORG_NAME {
                return Err(GenesisError::BadOrgName(org.id.clone()));
            }
            if org.admins.is_empty() {
                return Err(GenesisError::NoAdmin(org.id.clone()));
            }
            let mut members = BTreeSet::new();
            for admin in &org.admins {
                if !seen_keys.insert(admin.public_key) {
                    return Err(GenesisError::DuplicateKey(admin.public_key));
                }
                if !members.insert(admin.member.clone()) {
                    return Err(GenesisError::DuplicateAdmin {
                        org: org.id.clone(),
                        member: admin.member.clone(),
                    });
                }
            }
            for m in &org.members {
                if m.kind == MemberKind::Patient {
                    return Err(GenesisError::PatientInGenesis {
                        org: org.id.clone(),
                        member: m.member.clone(),
                    });
                }
                if m.kind == MemberKind::Admin {
                    return Err(GenesisError::AdminInMembers {
                        org: org.id.clone(),
                        member: m.member.clone(),
                    });
                }
                if !seen_keys.insert(m.public_key) {
                    return Err(GenesisError::DuplicateKey(m.public_key));
                }
                if !members.insert(m.member.clone()) {
                    return Err(GenesisError::DuplicateAdmin {
                        org: org.id.clone(),
                        member: m.member.clone(),
                    });
                }
            }
        }
        self.validate_gs1()?;
        if self.break_glass.is_some_and(|r| !r.is_valid()) {
            return Err(GenesisError::BadBreakGlass);
        }
        if self.contracts.is_some_and(|c| c.require_vote) && self.suspend_quorum.is_none() {
            return Err(GenesisError::ContractVoteWithoutQuorum);
        }
        if let Some(q) = self.suspend_quorum {
            let max = self.orgs.len() - 1;
            if q == 0 || q as usize > max {
                return Err(GenesisError::BadQuorum { max });
            }
        }
        let mut total: u64 = 0;
        for v in &self.validators {
            if !org_ids.contains(&v.org) {
                return Err(GenesisError::ValidatorOrg {
                    key: v.public_key,
                    org: v.org.clone(),
                });
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(v.public_key));
            }
            if !seen_keys.insert(v.public_key) {
                return Err(GenesisError::DuplicateKey(v.public_key));
            }
            total = total.checked_add(v.power).ok_or(GenesisError::PowerOverflow)?;
        }
        Ok(())
    }

    /// Every company prefix well-formed and the set prefix-free; every GLN valid and
    /// listed once.
    fn validate_gs1(&self) -> Result<(), GenesisError> {
        let mut prefixes = BTreeSet::new();
        let mut glns = BTreeSet::new();
        for org in &self.orgs {
            let Some(gs1) = &org.gs1 else { continue };
            for p in &gs1.company_prefixes {
                if !(6..=12).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(GenesisError::BadCompanyPrefix {
                        org: org.id.clone(),
                        prefix: p.clone(),
                    });
                }
                if !prefixes.insert(p.as_str()) {
                    return Err(GenesisError::DuplicateCompanyPrefix(p.clone()));
                }
            }
            for g in &gs1.glns {
                if medledger_gs1::ident::Gln::parse(g).is_err() {
                    return Err(GenesisError::BadGln {
                        org: org.id.clone(),
                        gln: g.clone(),
                    });
                }
                if !glns.insert(g.as_str()) {
                    return Err(GenesisError::DuplicateGln(g.clone()));
                }
            }
        }
        // In sorted order, a prefix that starts another is directly followed by one it starts.
        let sorted: Vec<&str> = prefixes.into_iter().collect();
        if let Some(w) = sorted.windows(2).find(|w| w[1].starts_with(w[0])) {
            return Err(GenesisError::DuplicateCompanyPrefix(w[0].to_owned()));
        }
        Ok(())
    }

    /// The state every node starts from.
    pub fn initial_writes(&self) -> Writes {
        let mut w = Writes::new();
        // How many registered prefixes extend each shorter run of digits (see `vote_gs1`).
        let mut under: BTreeMap<String, u64> = BTreeMap::new();
        for org in &self.orgs {
            let rec = OrgRecord {
                name: org.name.clone(),
                role: org.role,
            };
            w.insert(keys::org(&org.id), Some(rec.encode()));
            let all = org
                .admins
                .iter()
                .map(|a| (&a.member, MemberKind::Admin, &a.public_key))
                .chain(org.members.iter().map(|m| (&m.member, m.kind, &m.public_key)));
            for (id, kind, public_key) in all {
                let member = MemberRecord {
                    kind,
                    key: *public_key,
                    active: true,
                };
                w.insert(keys::member(&org.id, id), Some(member.encode()));
                let key = KeyRecord {
                    org: org.id.clone(),
                    member: id.clone(),
                    kind,
                    status: KeyStatus::Active,
                };
                w.insert(keys::key(public_key), Some(key.encode()));
                if kind == MemberKind::Service {
                    let node = NodeRecord { added_at: Height(0) };
                    w.insert(keys::node(&org.id, id), Some(node.encode()));
                }
            }
            if let Some(gs1) = &org.gs1 {
                for p in &gs1.company_prefixes {
                    w.insert(keys::gs1_prefix(p), Some(org.id.encode()));
                    for stem in crate::supply::vote_gs1::stems(p) {
                        under.entry(stem.to_owned()).and_modify(|n| *n += 1).or_insert(1u64);
                    }
                }
                for g in &gs1.glns {
                    w.insert(keys::gs1_gln(g), Some(org.id.encode()));
                }
            }
        }
        for (stem, n) in &under {
            w.insert(keys::gs1_under(stem), Some(n.encode()));
        }
        if let Some(rules) = &self.break_glass {
            w.insert(keys::break_glass_rules(), Some(rules.encode()));
        }
        if let Some(params) = &self.contracts {
            w.insert(crate::contracts::keys::params(), Some(params.encode()));
        }
        for v in &self.validators {
            let mut value = Vec::new();
            v.org.encode_to(&mut value);
            put::u64(&mut value, v.power);
            w.insert(keys::validator(&v.public_key), Some(value));
        }
        if let Some(q) = self.suspend_quorum {
            let mut value = Vec::new();
            put::u64(&mut value, u64::from(q));
            w.insert(keys::suspend_quorum(), Some(value));
        }
        w
    }

    /// The hash that block 1 names as its parent: over the chain id, the genesis time and
    /// the initial state, in key order.
    pub fn hash(&self) -> Hash32 {
        let mut out = GENESIS_HASH_DOMAIN.to_vec();
        self.chain_id.encode_to(&mut out);
        self.genesis_time.encode_to(&mut out);
        let writes = self.initial_writes();
        put::len(&mut out, writes.len());
        for (k, v) in &writes {
            put::bytes(&mut out, k);
            put::bytes(&mut out, v.as_deref().unwrap_or_default());
        }
        Hash32::digest(&[&out])
    }

    /// Total voting power of the validator set.
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }
}

impl Genesis {
    /// The default quorum for `n` organisations: a majority of the others.
    pub fn default_suspend_quorum(n: usize) -> Option<u32> {
        (n >= 2).then(|| ((n - 1) / 2 + 1) as u32)
    }
}
