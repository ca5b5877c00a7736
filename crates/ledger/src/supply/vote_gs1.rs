//! `supply.vote_gs1`: the consortium registers (or withdraws) an organisation's GS1
//! identifiers — Company Prefixes and GLNs — in the ledger's registry (ADR 014 §5).
//!
//! Rules:
//! - A change names one organisation, whether it registers or withdraws, and its
//!   identifiers: Company Prefixes (6 to 12 digits) and GLNs (with their check digit), each
//!   list in ascending order without repeats, at least one identifier in all. The order
//!   makes one change one sequence of bytes, so every organisation votes on the same ballot.
//! - Only an active admin of *another* organisation votes, one vote per organisation: an
//!   organisation cannot register a prefix to itself (it could then commission serials
//!   under someone else's brand). When `suspend_quorum` organisations (from genesis) have
//!   voted for the same change, it happens in that block and its ballot is deleted.
//! - Registering: no identifier may be registered already, and the registry stays
//!   prefix-free — no registered prefix starts the new one, and the new one starts no
//!   registered prefix (so a GTIN has at most one owner). Withdrawing: every identifier
//!   must be registered to the organisation named. Both are checked at every vote, so a
//!   ballot that could not be carried out gathers no votes. Items already commissioned
//!   under a withdrawn prefix keep their records and owners; new serials cannot be
//!   commissioned under it.
//!
//! Keys: `gs1/ballot/{hex SHA-256 of the change}` → the organisations that voted for it;
//! `gs1/under/{digits}` → how many registered prefixes strictly extend those digits (at
//! lengths 6 to 11), which is how "starts a registered prefix" is answered with one read.

use medledger_gs1::ident::Gln;
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{gln_owner, prefix_owner};
use crate::Event;
use crate::error::TxError;
use crate::identity::cast;
use crate::state::{Overlay, StateRead, keys, read};

pub const KIND: TxKind = TxKind(0x0603);

/// Most Company Prefixes in one change.
pub const MAX_PREFIXES: usize = 16;
/// Most GLNs in one change.
pub const MAX_GLNS: usize = 256;
/// Shortest and longest GS1 Company Prefix.
pub const PREFIX_LENGTHS: std::ops::RangeInclusive<usize> = 6..=12;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteGs1 {
    pub org: OrgId,
    /// `true` to register the identifiers to `org`, `false` to withdraw them.
    pub register: bool,
    pub company_prefixes: Vec<String>,
    pub glns: Vec<String>,
}

impl Encode for VoteGs1 {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        put::bool(out, self.register);
        put::len(out, self.company_prefixes.len());
        for p in &self.company_prefixes {
            put::str(out, p);
        }
        put::len(out, self.glns.len());
        for g in &self.glns {
            put::str(out, g);
        }
    }
}

impl Decode for VoteGs1 {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let org = OrgId::decode_from(r)?;
        let register = r.bool("register")?;
        let company_prefixes = r.seq(MAX_PREFIXES, 7, "company prefixes", |r| {
            r.string(*PREFIX_LENGTHS.end(), "company prefix")
        })?;
        let glns = r.seq(MAX_GLNS, 14, "GLNs", |r| r.string(13, "GLN"))?;
        let vote = VoteGs1 {
            org,
            register,
            company_prefixes,
            glns,
        };
        vote.check_form().map_err(|reason| DecodeError::Invalid {
            what: "GS1 registry change",
            reason,
        })?;
        Ok(vote)
    }
}

/// Whether `p` is a well-formed GS1 Company Prefix.
pub fn is_company_prefix(p: &str) -> bool {
    PREFIX_LENGTHS.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
}

impl VoteGs1 {
    /// The checks that need no state: well-formed identifiers, canonical order, not empty,
    /// and prefix-free within the change.
    pub fn check_form(&self) -> Result<(), &'static str> {
        if self.company_prefixes.is_empty() && self.glns.is_empty() {
            return Err("names no identifier");
        }
        if !self.company_prefixes.iter().all(|p| is_company_prefix(p)) {
            return Err("a company prefix is not 6 to 12 digits");
        }
        if !self.glns.iter().all(|g| Gln::parse(g).is_ok()) {
            return Err("a GLN is not 13 digits with a valid check digit");
        }
        if !self.company_prefixes.windows(2).all(|w| w[0] < w[1]) || !self.glns.windows(2).all(|w| w[0] < w[1]) {
            return Err("identifiers must be listed in ascending order, each once");
        }
        // In ascending order, a prefix that starts another is directly followed by one it starts.
        if self
            .company_prefixes
            .windows(2)
            .any(|w| w[1].starts_with(w[0].as_str()))
        {
            return Err("one company prefix starts another");
        }
        Ok(())
    }

    /// The ballot this vote counts towards: the hash of the change itself.
    pub fn ballot_id(&self) -> Hash32 {
        Hash32::digest(&[b"medledger/gs1-ballot".as_slice(), &self.encode()])
    }

    pub fn apply(&self, state: &mut Overlay<'_>, signer: &PublicKey) -> Result<Vec<Event>, TxError> {
        let (voter_org, quorum) = crate::identity::voter(state, signer, &self.org)?;
        if self.register {
            self.check_free(state)?;
        } else {
            self.check_owned(state)?;
        }
        let id = self.ballot_id();
        let (votes, carried) = cast(state, keys::gs1_ballot(&id), voter_org.clone(), quorum)?;
        let mut events = vec![Event::Gs1Voted {
            org: self.org.clone(),
            voter: voter_org,
            register: self.register,
            ballot: id,
            votes,
            quorum,
        }];
        if !carried {
            return Ok(events);
        }
        let owner = self.org.encode();
        for p in &self.company_prefixes {
            if self.register {
                state.put(keys::gs1_prefix(p), owner.clone());
            } else {
                state.delete(keys::gs1_prefix(p));
            }
            for stem in stems(p) {
                let key = keys::gs1_under(stem);
                let count: u64 = state.get_record(&key).unwrap_or(0);
                let count = if self.register {
                    count + 1
                } else {
                    count.saturating_sub(1)
                };
                if count == 0 {
                    state.delete(key);
                } else {
                    state.put_record(key, &count);
                }
            }
        }
        for g in &self.glns {
            if self.register {
                state.put(keys::gs1_gln(g), owner.clone());
            } else {
                state.delete(keys::gs1_gln(g));
            }
        }
        events.push(Event::Gs1Changed {
            org: self.org.clone(),
            register: self.register,
            company_prefixes: self.company_prefixes.clone(),
            glns: self.glns.clone(),
        });
        Ok(events)
    }

    fn check_free(&self, state: &dyn StateRead) -> Result<(), TxError> {
        for p in &self.company_prefixes {
            let clash = prefix_clash(state, p);
            if let Some(id) = clash {
                return Err(TxError::Gs1Taken { id });
            }
        }
        for g in &self.glns {
            if gln_owner(state, g).is_some() {
                return Err(TxError::Gs1Taken { id: g.clone() });
            }
        }
        Ok(())
    }

    fn check_owned(&self, state: &dyn StateRead) -> Result<(), TxError> {
        let owned = |o: Option<OrgId>| o.as_ref() == Some(&self.org);
        for p in &self.company_prefixes {
            if !owned(prefix_owner(state, p)) {
                return Err(TxError::Gs1NotRegistered { id: p.clone() });
            }
        }
        for g in &self.glns {
            if !owned(gln_owner(state, g)) {
                return Err(TxError::Gs1NotRegistered { id: g.clone() });
            }
        }
        Ok(())
    }
}

/// The digits of `p` at each length a shorter company prefix could have (6 up to one less
/// than its own): the prefixes that would start it.
pub fn stems(p: &str) -> impl Iterator<Item = &str> {
    (*PREFIX_LENGTHS.start()..p.len()).filter_map(move |l| p.get(..l))
}

/// What `p` would clash with in the registry, if anything: itself, a registered prefix
/// that starts it, or (described by `p` itself) registered prefixes that it starts.
fn prefix_clash(state: &dyn StateRead, p: &str) -> Option<String> {
    if prefix_owner(state, p).is_some() {
        return Some(p.to_owned());
    }
    if let Some(stem) = stems(p).find(|s| prefix_owner(state, s).is_some()) {
        return Some(stem.to_owned());
    }
    let under: Option<u64> = read(state, &keys::gs1_under(p));
    under
        .filter(|n| *n > 0)
        .map(|_| format!("{p} (a longer registered prefix starts with it)"))
}
