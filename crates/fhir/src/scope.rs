//! SMART on FHIR scopes (App Launch 2.x, `scopes-and-launch-context`), v2 and v1.
//!
//! A resource scope is `(patient|user|system)/(Type|*).<permissions>`:
//!
//! - v2 permissions are a non-empty subset of `cruds` in that order: `c` = create;
//!   `r` = read, vread and instance history; `u` = update; `d` = delete; `s` = search
//!   and type history.
//! - v1 permissions `read`, `write` and `*` are read as `rs`, `cud` and `cruds`, as a
//!   v2 server should.
//!
//! Constrained v2 scopes (`patient/Observation.rs?category=…`) are refused as
//! [`ScopeError::Unsupported`] until the search side can enforce the constraint.
//! A resource type must be `*` or one of the R4 resource types ([`crate::resource_types`]).
//!
//! In a space-separated request, only words that start with `patient/`, `user/` or
//! `system/` are resource scopes. Every other word (`openid`, `fhirUser`, `profile`,
//! `launch`, `launch/patient`, `offline_access`, …) is ignored rather than refused:
//! OAuth 2.0 (RFC 6749 §3.3) lets a server grant less than was asked, and the token
//! response's `scope` tells the client what it got.
//!
//! A [`ScopeSet`] is kept normalised: one scope per context and type, wildcard
//! permissions not repeated on a type, sorted by context then type, printed in the v2
//! form. Error messages may quote the scope text: scopes are not patient data.

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt;

use thiserror::Error;

/// Longest scope request accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 4096;

/// How much of a refused scope an error message quotes.
const SHOWN: usize = 80;

/// Whose data a scope is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// The patient in context (`patient/`).
    Patient,
    /// Whatever the signed-in user may see (`user/`).
    User,
    /// A backend service acting on its own (`system/`).
    System,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }

    fn from_prefix(s: &str) -> Option<Context> {
        match s {
            "patient" => Some(Context::Patient),
            "user" => Some(Context::User),
            "system" => Some(Context::System),
            _ => None,
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A FHIR RESTful interaction, as scopes grant it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interaction {
    Create,
    Read,
    Vread,
    Update,
    Delete,
    Search,
    HistoryInstance,
    HistoryType,
}

const C: u8 = 1;
const R: u8 = 1 << 1;
const U: u8 = 1 << 2;
const D: u8 = 1 << 3;
const S: u8 = 1 << 4;
const ALL: u8 = C | R | U | D | S;
const LETTERS: &str = "cruds";

impl Interaction {
    /// The permission letter that grants this interaction.
    fn bit(self) -> u8 {
        match self {
            Interaction::Create => C,
            Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => R,
            Interaction::Update => U,
            Interaction::Delete => D,
            Interaction::Search | Interaction::HistoryType => S,
        }
    }
}

/// Why a scope request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScopeError {
    #[error("no SMART resource scope (patient/…, user/… or system/…) was requested")]
    Empty,
    #[error("the scope request is longer than {MAX_SCOPE_LEN} bytes")]
    TooLong,
    #[error("scope {0:?} is not of the form (patient|user|system)/(Type|*).(cruds subset|read|write|*)")]
    Malformed(String),
    #[error("scope {0:?} names a resource type this server does not serve")]
    UnknownType(String),
    #[error("scope {0:?} is constrained (?param=value), which this server does not support")]
    Unsupported(String),
}

fn shown(s: &str) -> String {
    s.chars().take(SHOWN).collect()
}

/// One resource scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub context: Context,
    /// `None` is `*`, every type.
    pub resource: Option<String>,
    perms: u8,
}

impl Scope {
    /// Parses one v1 or v2 resource scope.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let malformed = || ScopeError::Malformed(shown(s));
        let (ctx, rest) = s.split_once('/').ok_or_else(malformed)?;
        let context = Context::from_prefix(ctx).ok_or_else(malformed)?;
        if rest.contains('?') {
            return Err(ScopeError::Unsupported(shown(s)));
        }
        let (ty, perm) = rest.split_once('.').ok_or_else(malformed)?;
        let resource = match ty {
            "*" => None,
            t if crate::resource_type(t).is_some() => Some(t.to_string()),
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err(ScopeError::UnknownType(shown(s)));
            }
            _ => return Err(malformed()),
        };
        let perms = match perm {
            "read" => R | S,
            "write" => C | U | D,
            "*" => ALL,
            letters => v2_permissions(letters).ok_or_else(malformed)?,
        };
        Ok(Scope {
            context,
            resource,
            perms,
        })
    }

    /// Whether this scope grants interaction `i` on `resource_type`.
    pub fn allows(&self, resource_type: &str, i: Interaction) -> bool {
        self.covers(resource_type) && self.perms & i.bit() != 0
    }

    fn covers(&self, resource_type: &str) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource_type)
    }

    /// The granted permissions as v2 letters (`rs`); empty if none.
    pub fn permissions(&self) -> String {
        LETTERS
            .chars()
            .enumerate()
            .filter(|(i, _)| self.perms & (1 << i) != 0)
            .map(|(_, c)| c)
            .collect()
    }
}

/// A non-empty, strictly in-order subset of `cruds`.
fn v2_permissions(letters: &str) -> Option<u8> {
    let mut bits = 0u8;
    let mut last: Option<usize> = None;
    for ch in letters.chars() {
        let pos = LETTERS.find(ch)?;
        if last.is_some_and(|l| pos <= l) {
            return None;
        }
        last = Some(pos);
        bits |= 1 << pos;
    }
    (bits != 0).then_some(bits)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.{}",
            self.context,
            self.resource.as_deref().unwrap_or("*"),
            self.permissions()
        )
    }
}

/// The resource scopes of a request or a token, normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

/// Whether a word of a scope request is a SMART resource scope (the rest is ignored).
fn is_resource_scope(word: &str) -> bool {
    word.split_once('/')
        .is_some_and(|(ctx, _)| Context::from_prefix(ctx).is_some())
}

impl ScopeSet {
    /// Parses a space-separated scope request; see the module documentation for what is
    /// ignored. At least one resource scope is required.
    pub fn parse(s: &str) -> Result<ScopeSet, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let mut scopes = Vec::new();
        for word in s.split_ascii_whitespace().filter(|w| is_resource_scope(w)) {
            scopes.push(Scope::parse(word)?);
        }
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(ScopeSet::normalised(scopes))
    }

    /// Merges scopes of the same context and type, drops permissions a wildcard of the
    /// same context already grants, drops empty scopes and sorts.
    fn normalised(scopes: Vec<Scope>) -> ScopeSet {
        let mut merged: Vec<Scope> = Vec::new();
        for s in scopes {
            match merged
                .iter_mut()
                .find(|m| m.context == s.context && m.resource == s.resource)
            {
                Some(m) => m.perms |= s.perms,
                None => merged.push(s),
            }
        }
        let wildcard = |ctx: Context, merged: &[Scope]| -> u8 {
            merged
                .iter()
                .filter(|m| m.context == ctx && m.resource.is_none())
                .fold(0, |acc, m| acc | m.perms)
        };
        let covered: Vec<u8> = merged
            .iter()
            .map(|m| {
                if m.resource.is_some() {
                    wildcard(m.context, &merged)
                } else {
                    0
                }
            })
            .collect();
        for (m, cover) in merged.iter_mut().zip(covered) {
            m.perms &= !cover;
        }
        merged.retain(|m| m.perms & ALL != 0);
        // `None` (the wildcard) sorts before every type.
        merged.sort_by(|a, b| (a.context, &a.resource).cmp(&(b.context, &b.resource)));
        ScopeSet(merged)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, normalised.
    pub fn scopes(&self) -> &[Scope] {
        &self.0
    }

    /// Whether some scope, of any context, grants interaction `i` on `resource_type`.
    pub fn allows(&self, resource_type: &str, i: Interaction) -> bool {
        self.0.iter().any(|s| s.allows(resource_type, i))
    }

    /// Whether a scope of `context` alone allows `i` on `resource_type` (a bulk export
    /// asks for `system/` scopes).
    pub fn allows_in(&self, context: Context, resource_type: &str, i: Interaction) -> bool {
        self.0
            .iter()
            .any(|s| s.context == context && s.allows(resource_type, i))
    }

    /// The contexts that occur, each once, in the order patient, user, system.
    pub fn contexts(&self) -> Vec<Context> {
        let mut v: Vec<Context> = self.0.iter().map(|s| s.context).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The intersection with `allowed`: each requested scope keeps only the
    /// permissions that some allowed scope of the same context grants for its type. A
    /// requested wildcard narrowed by specific allowed types becomes those types. Used
    /// to cap what a member kind may hold; the result may be empty.
    pub fn narrow(&self, allowed: &ScopeSet) -> ScopeSet {
        let mut out = Vec::new();
        for asked in &self.0 {
            for a in allowed.0.iter().filter(|a| a.context == asked.context) {
                let resource = match (&asked.resource, &a.resource) {
                    (_, None) => asked.resource.clone(),
                    (None, Some(t)) => Some(t.clone()),
                    (Some(x), Some(y)) if x == y => Some(x.clone()),
                    (Some(_), Some(_)) => continue,
                };
                out.push(Scope {
                    context: asked.context,
                    resource,
                    perms: asked.perms & a.perms,
                });
            }
        }
        ScopeSet::normalised(out)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
