//! SMART on FHIR scopes, v2 (`user/Observation.rs`) and v1 (`user/Observation.read`).

use std::fmt;

use thiserror::Error;

use crate::SUPPORTED_TYPES;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    Patient,
    User,
    System,
}

/// A FHIR interaction, as scopes grant it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
const R: u8 = 2;
const U: u8 = 4;
const D: u8 = 8;
const S: u8 = 16;

impl Interaction {
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

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScopeError {
    #[error("no SMART scope was requested")]
    Empty,
    #[error("scope {0:?} is not of the form (patient|user|system)/(Type|*).(cruds|read|write|*)")]
    Malformed(String),
    #[error("scope {0:?}: resource type is not served here")]
    UnknownType(String),
    #[error("scope {0:?}: constrained scopes (?param=value) are not supported")]
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// `None` is `*`.
    pub resource: Option<String>,
    perms: u8,
}

fn shown(s: &str) -> String {
    s.chars().take(80).collect()
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s.contains('?') {
            return Err(ScopeError::Unsupported(shown(s)));
        }
        let bad = || ScopeError::Malformed(shown(s));
        let (ctx, rest) = s.split_once('/').ok_or_else(bad)?;
        let context = match ctx {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Err(bad()),
        };
        let (ty, perm) = rest.rsplit_once('.').ok_or_else(bad)?;
        let resource = match ty {
            "*" => None,
            t if SUPPORTED_TYPES.contains(&t) => Some(t.to_string()),
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err(ScopeError::UnknownType(shown(s)));
            }
            _ => return Err(bad()),
        };
        let perms = match perm {
            "read" => R | S,
            "write" => C | U | D,
            "*" => C | R | U | D | S,
            letters => {
                // A non-empty, in-order subset of "cruds".
                let mut bits = 0u8;
                let mut last = None;
                for ch in letters.chars() {
                    let pos = "cruds".find(ch).ok_or_else(bad)?;
                    if last.is_some_and(|l| pos <= l) {
                        return Err(bad());
                    }
                    last = Some(pos);
                    bits |= 1 << pos;
                }
                if bits == 0 {
                    return Err(bad());
                }
                bits
            }
        };
        Ok(Scope {
            context,
            resource,
            perms,
        })
    }

    pub fn allows(&self, resource_type: &str, i: Interaction) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource_type) && self.perms & i.bit() != 0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctx = match self.context {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        };
        let letters: String = "cruds"
            .chars()
            .enumerate()
            .filter(|(i, _)| self.perms & (1 << i) != 0)
            .map(|(_, c)| c)
            .collect();
        write!(f, "{ctx}/{}.{letters}", self.resource.as_deref().unwrap_or("*"))
    }
}

/// The scopes of a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

/// Requested scopes that are not about resources (OpenID, launch context).
fn ignorable(s: &str) -> bool {
    matches!(
        s,
        "openid" | "fhirUser" | "profile" | "offline_access" | "online_access"
    ) || s.starts_with("launch")
}

impl ScopeSet {
    pub fn parse(s: &str) -> Result<ScopeSet, ScopeError> {
        if s.len() > 4096 {
            return Err(ScopeError::Malformed("(too long)".into()));
        }
        let mut out = Vec::new();
        for word in s.split_ascii_whitespace() {
            if ignorable(word) {
                continue;
            }
            out.push(Scope::parse(word)?);
        }
        if out.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(ScopeSet(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, resource_type: &str, i: Interaction) -> bool {
        self.0.iter().any(|s| s.allows(resource_type, i))
    }

    pub fn contexts(&self) -> Vec<Context> {
        let mut v: Vec<Context> = self.0.iter().map(|s| s.context).collect();
        v.sort();
        v.dedup();
        v
    }

    /// What of `self` the `allowed` scopes grant: each scope keeps the permissions some
    /// allowed scope of the same context gives for its type.
    pub fn narrow(&self, allowed: &ScopeSet) -> ScopeSet {
        let mut out = Vec::new();
        for s in &self.0 {
            let mut perms = 0u8;
            for a in &allowed.0 {
                if a.context != s.context {
                    continue;
                }
                let covers = match (&a.resource, &s.resource) {
                    (None, _) => true,
                    (Some(x), Some(y)) => x == y,
                    (Some(_), None) => false,
                };
                if covers {
                    perms |= a.perms & s.perms;
                }
            }
            // A wildcard request narrowed by specific types becomes those types.
            if s.resource.is_none() {
                for a in &allowed.0 {
                    if a.context == s.context && a.resource.is_some() && a.perms & s.perms != 0 {
                        out.push(Scope {
                            context: s.context,
                            resource: a.resource.clone(),
                            perms: a.perms & s.perms,
                        });
                    }
                }
            }
            if perms != 0 {
                out.push(Scope {
                    context: s.context,
                    resource: s.resource.clone(),
                    perms,
                });
            }
        }
        out.dedup();
        ScopeSet(out)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2() {
        let s = ScopeSet::parse("user/Observation.rs patient/*.read openid launch/patient").unwrap();
        assert!(s.allows("Observation", Interaction::Read));
        assert!(s.allows("Observation", Interaction::Search));
        assert!(!s.allows("Observation", Interaction::Create));
        assert!(s.allows("Condition", Interaction::Vread));
        assert_eq!(s.to_string(), "user/Observation.rs patient/*.rs");
        let w = ScopeSet::parse("system/*.write").unwrap();
        assert!(w.allows("Patient", Interaction::Create) && w.allows("Patient", Interaction::Update));
        assert!(!w.allows("Patient", Interaction::Read));
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "user/Observation",
            "admin/*.r",
            "user/Observation.sr",
            "user/Observation.x",
            "user/.r",
            "user/Obs-1.r",
            "",
        ] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            ScopeSet::parse("user/Specimen.r"),
            Err(ScopeError::UnknownType(_))
        ));
        assert!(matches!(
            ScopeSet::parse("user/Observation.rs?category=lab"),
            Err(ScopeError::Unsupported(_))
        ));
        assert_eq!(ScopeSet::parse("openid"), Err(ScopeError::Empty));
    }

    #[test]
    fn narrowing_caps_to_the_ceiling() {
        let ceiling = ScopeSet::parse("patient/*.rs").unwrap();
        let asked = ScopeSet::parse("patient/Observation.cruds system/*.cruds").unwrap();
        let got = asked.narrow(&ceiling);
        assert_eq!(got.to_string(), "patient/Observation.rs");
        let dev = ScopeSet::parse("system/Observation.c system/Observation.r").unwrap();
        let got = ScopeSet::parse("system/*.cruds").unwrap().narrow(&dev);
        assert!(got.allows("Observation", Interaction::Create));
        assert!(!got.allows("Patient", Interaction::Read));
        assert!(ScopeSet::parse("user/*.rs").unwrap().narrow(&ceiling).is_empty());
    }
}
