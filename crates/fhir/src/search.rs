//! FHIR search (R4 `search.html`) over every type, with HL7's own SearchParameter
//! definitions ([`crate::defs`]): parsing a query, matching it against a resource's
//! [`Indexed`] values (never the resource itself, so a store can answer from its index
//! alone), sort keys, and the canonical query string for a searchset's links.
//!
//! | kind | values | modifiers | prefixes |
//! |---|---|---|---|
//! | token | `[system]\|code`, `code`, `system\|` | `:not`, `:text`, `:missing` | — |
//! | reference | `Type/id`, `id`, an absolute URL | `:Type`, `:identifier`, `:missing` | — |
//! | date | `YYYY[-MM[-DD[Thh:mm[:ss[.fff]][zone]]]]` | `:missing` | `eq ne gt lt ge le sa eb ap` |
//! | string | text (starts with, case and accents ignored) | `:exact`, `:contains`, `:missing` | — |
//! | quantity | `number[\|system\|code]`, `number\|\|code` | `:missing` | as date |
//! | number | a decimal | `:missing` | as date |
//! | uri | the URI | `:below`, `:above`, `:missing` | — |
//!
//! A comma list is an OR; a parameter repeated is an AND. One level of chaining,
//! `subject:Patient.identifier=…` or `subject.name=…`, is parsed here and resolved by
//! the server ([`Clause::chain`]), which turns it into a reference clause.
//!
//! Result parameters: `_count` (0 to 1000), `_offset` (the paging cursor), `_sort`
//! (`-` for descending), `_include` and `_revinclude` (`Type:param[:Target]`),
//! `_elements`, `_summary` (`true`, `text`, `data`, `count`, `false`), `_total`
//! (`none`, `estimate`, `accurate`), `_snapshot` (medledger's: the ledger height a
//! paged search was first answered at), and `_format` / `_pretty` (the server's).
//! Anything else, an unknown modifier, a composite or special parameter, is refused:
//! silently ignoring a filter would return more than was asked for.
//!
//! Errors name the parameter, never its value.

// Input here is hostile: no indexing that could panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::cmp::Ordering;

use thiserror::Error;

use crate::date::{DateParam, Prefix, split_prefix};
use crate::defs::{ParamDef, ParamKind, TypeDef, defs};
use crate::index::{IndexValue, Indexed, fold};
use crate::reference::{valid_id, valid_type};

/// Most parameters in one query.
pub const MAX_PARAMS: usize = 64;
/// Longest parameter value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most comma-separated alternatives in one value.
pub const MAX_ALTERNATIVES: usize = 100;
/// Largest `_count`.
pub const MAX_COUNT: usize = 1000;
/// Largest `_offset`: far beyond any real result set, and safe to add a page to.
pub const MAX_OFFSET: usize = 1_000_000_000;
/// Most `_include` plus `_revinclude`.
pub const MAX_INCLUDES: usize = 8;

/// How much of an unsupported parameter's name an error quotes.
const SHOWN: usize = 40;

/// Parameters the server handles (formats).
const SERVER_PARAMS: [&str; 2] = ["_format", "_pretty"];

/// Why a search query was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("the resource type is not a FHIR R4 resource type")]
    UnknownType,
    #[error("at most {MAX_PARAMS} search parameters are accepted")]
    TooMany,
    #[error("search parameter {param:?} is not defined for {resource_type} (R4 SearchParameter definitions)")]
    Unsupported { param: String, resource_type: &'static str },
    #[error("search parameter {param}: {reason}")]
    Invalid { param: String, reason: &'static str },
}

fn invalid(param: &str, reason: &'static str) -> SearchError {
    SearchError::Invalid {
        param: param.chars().take(SHOWN).collect(),
        reason,
    }
}

/// A token value: `system|code`, `|code` (no system), `system|` (any code in the
/// system) or `code` (any system).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// `None`: any system; `Some(None)`: no system.
    pub system: Option<Option<String>>,
    /// `None`: any code.
    pub code: Option<String>,
}

impl Token {
    /// One token, escapes undone.
    pub fn parse(raw: &str) -> Result<Token, &'static str> {
        const BAD_ESCAPE: &str = "a backslash may only escape \\ , | or $";
        let parts = split_unescaped(raw, b'|');
        let unescaped = |s: &str| unescape(s).ok_or(BAD_ESCAPE);
        let token = match parts.as_slice() {
            [code] => Token {
                system: None,
                code: Some(unescaped(code)?),
            },
            [system, code] => Token {
                system: Some((!system.is_empty()).then(|| unescaped(system)).transpose()?),
                code: (!code.is_empty()).then(|| unescaped(code)).transpose()?,
            },
            _ => return Err("expects [system|]code with at most one unescaped |"),
        };
        match &token {
            Token { code: Some(c), .. } if c.is_empty() => Err("a code is empty"),
            Token {
                system: Some(None),
                code: None,
            } => Err("a token needs a system or a code"),
            _ => Ok(token),
        }
    }

    /// Whether a coding or identifier with this system and code (or value) matches.
    pub fn matches(&self, system: Option<&str>, code: Option<&str>) -> bool {
        let system_ok = match &self.system {
            None => true,
            Some(None) => system.is_none(),
            Some(Some(s)) => system == Some(s.as_str()),
        };
        let code_ok = match &self.code {
            None => true,
            Some(c) => code == Some(c.as_str()),
        };
        system_ok && code_ok
    }
}

/// A number with a prefix, and the interval its precision denotes (`100` is
/// `[99.5, 100.5)`, `100.0` is `[99.95, 100.05)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumberParam {
    pub prefix: Prefix,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl NumberParam {
    fn parse(s: &str) -> Result<NumberParam, &'static str> {
        const BAD: &str = "expects [prefix]decimal";
        let (prefix, rest) = split_prefix(s).ok_or(BAD)?;
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| BAD)?),
            None => (rest, 0),
        };
        let ok = !mantissa.is_empty()
            && mantissa.len() <= 64
            && mantissa
                .strip_prefix('-')
                .unwrap_or(mantissa)
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
            && mantissa.bytes().filter(|b| *b == b'.').count() <= 1;
        if !ok {
            return Err(BAD);
        }
        let value: f64 = rest.parse().map_err(|_| BAD)?;
        if !value.is_finite() {
            return Err(BAD);
        }
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
        let half = 0.5 * 10f64.powi(exponent - decimals);
        Ok(NumberParam {
            prefix,
            value,
            low: value - half,
            high: value + half,
        })
    }

    /// Whether a resource's value `t` matches.
    pub fn matches(&self, t: f64) -> bool {
        // The value itself always matches, also when its precision is finer than f64's.
        let eq = (self.low <= t && t < self.high) || t == self.value;
        match self.prefix {
            Prefix::Eq => eq,
            Prefix::Ne => !eq,
            Prefix::Gt | Prefix::Sa => t > self.value,
            Prefix::Lt | Prefix::Eb => t < self.value,
            Prefix::Ge => t >= self.value,
            Prefix::Le => t <= self.value,
            Prefix::Ap => (t - self.value).abs() <= (self.value * 0.1).abs(),
        }
    }
}

/// One alternative of a clause.
#[derive(Clone, Debug, PartialEq)]
pub enum Criterion {
    Token(Token),
    /// `Type/id` (type given) or `id` (any type the parameter targets), or an absolute URL.
    Reference {
        resource_type: Option<String>,
        id: String,
    },
    Url(String),
    Date(DateParam),
    /// Folded for the default and `:contains`; as written for `:exact`.
    String(String),
    Quantity {
        number: NumberParam,
        system: Option<String>,
        code: Option<String>,
    },
    Number(NumberParam),
    Uri(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    None,
    Missing(bool),
    Exact,
    Contains,
    Not,
    Text,
    /// `subject:Patient=…`
    Type(&'static str),
    Identifier,
    Below,
    Above,
}

/// A chained parameter (`subject:Patient.identifier=…`): the target types to search, and
/// the clause to search them with.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub target_types: Vec<&'static str>,
    pub clause: Box<Clause>,
}

/// One parameter of a query: its alternatives are ORed.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub param: &'static str,
    pub kind: ParamKind,
    pub modifier: Modifier,
    pub criteria: Vec<Criterion>,
    /// Set for a chained parameter until the server resolves it with
    /// [`Clause::resolve_chain`].
    pub chain: Option<Chain>,
    /// As written, for the `self` link.
    name: String,
    raw: String,
}

/// `_include` / `_revinclude`: `Type:param[:Target]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    pub source_type: &'static str,
    pub param: &'static str,
    pub target: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub param: &'static str,
    pub descending: bool,
}

/// A parsed search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    pub resource_type: &'static str,
    /// All must match.
    pub clauses: Vec<Clause>,
    /// `_count`: the page size asked for; `Some(0)` asks for the total only.
    pub count: Option<usize>,
    /// `_offset`: how many matches to skip.
    pub offset: usize,
    pub sort: Vec<Sort>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
    pub elements: Option<Vec<String>>,
    pub summary: Option<Summary>,
    pub total: Option<Total>,
    /// `_snapshot`: the ledger height the first page was answered at; later pages leave
    /// out records created after it, so that paging is stable while records are added.
    pub snapshot: Option<u64>,
}

fn type_def(resource_type: &str) -> Result<&'static TypeDef, SearchError> {
    defs().get(resource_type).ok_or(SearchError::UnknownType)
}

fn whole(param: &str, value: &str, max: usize, reason: &'static str) -> Result<usize, SearchError> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(param, reason));
    }
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or(invalid(param, reason))
}

/// `Type:param[:Target]` of an `_include` or `_revinclude`.
fn include(param: &str, value: &str) -> Result<Include, SearchError> {
    let bad = || invalid(param, "expects Type:parameter[:TargetType]");
    let mut parts = value.split(':');
    let (t, p, target) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() {
        return Err(bad());
    }
    let def = defs().get(t.unwrap_or_default()).ok_or_else(bad)?;
    let p = def.param(p.unwrap_or_default()).ok_or_else(bad)?;
    if p.kind != ParamKind::Reference {
        return Err(invalid(param, "names a parameter that is not a reference"));
    }
    let target = match target {
        None => None,
        Some(t) => Some(
            defs()
                .resource_type(t)
                .filter(|t| p.targets.iter().any(|x| x == t))
                .ok_or_else(bad)?,
        ),
    };
    Ok(Include {
        source_type: def.name,
        param: p.code,
        target,
    })
}

impl SearchQuery {
    /// Parses decoded query pairs for a search on `resource_type`.
    pub fn parse(resource_type: &str, params: &[(String, String)]) -> Result<SearchQuery, SearchError> {
        let def = type_def(resource_type)?;
        if params.len() > MAX_PARAMS {
            return Err(SearchError::TooMany);
        }
        let mut q = SearchQuery {
            resource_type: def.name,
            clauses: Vec::new(),
            count: None,
            offset: 0,
            sort: Vec::new(),
            include: Vec::new(),
            revinclude: Vec::new(),
            elements: None,
            summary: None,
            total: None,
            snapshot: None,
        };
        let mut seen_result = std::collections::BTreeSet::new();
        for (name, value) in params {
            if SERVER_PARAMS.contains(&name.as_str()) {
                continue;
            }
            if value.is_empty() {
                return Err(invalid(name, "has no value"));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(invalid(name, "the value is longer than 1024 bytes"));
            }
            let once = |seen: &mut std::collections::BTreeSet<String>| {
                if seen.insert(name.clone()) {
                    Ok(())
                } else {
                    Err(invalid(name, "may appear only once"))
                }
            };
            match name.as_str() {
                "_count" => {
                    once(&mut seen_result)?;
                    q.count = Some(whole(name, value, MAX_COUNT, "expects a whole number from 0 to 1000")?);
                }
                "_offset" => {
                    once(&mut seen_result)?;
                    q.offset = whole(name, value, MAX_OFFSET, "expects a whole number up to 1000000000")?;
                }
                "_snapshot" => {
                    once(&mut seen_result)?;
                    q.snapshot = Some(whole(name, value, usize::MAX, "expects a ledger height")? as u64);
                }
                "_sort" => {
                    once(&mut seen_result)?;
                    for s in value.split(',') {
                        let (code, descending) = match s.strip_prefix('-') {
                            Some(c) => (c, true),
                            None => (s, false),
                        };
                        let p = def
                            .param(code)
                            .ok_or_else(|| invalid(name, "names a parameter not defined for this type"))?;
                        q.sort.push(Sort {
                            param: p.code,
                            descending,
                        });
                    }
                }
                "_include" | "_revinclude" => {
                    let inc = include(name, value)?;
                    if name == "_include" {
                        if inc.source_type != def.name {
                            return Err(invalid(name, "names another type than the one searched"));
                        }
                        q.include.push(inc);
                    } else {
                        q.revinclude.push(inc);
                    }
                    if q.include.len() + q.revinclude.len() > MAX_INCLUDES {
                        return Err(invalid(name, "at most 8 _include and _revinclude"));
                    }
                }
                "_elements" => {
                    once(&mut seen_result)?;
                    let list: Vec<String> = value.split(',').map(str::to_string).collect();
                    if list
                        .iter()
                        .any(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_alphanumeric()))
                    {
                        return Err(invalid(name, "expects a comma list of element names"));
                    }
                    q.elements = Some(list);
                }
                "_summary" => {
                    once(&mut seen_result)?;
                    q.summary = Some(match value.as_str() {
                        "true" => Summary::True,
                        "text" => Summary::Text,
                        "data" => Summary::Data,
                        "count" => Summary::Count,
                        "false" => Summary::False,
                        _ => return Err(invalid(name, "expects true, text, data, count or false")),
                    });
                }
                "_total" => {
                    once(&mut seen_result)?;
                    q.total = Some(match value.as_str() {
                        "none" => Total::None,
                        "estimate" => Total::Estimate,
                        "accurate" => Total::Accurate,
                        _ => return Err(invalid(name, "expects none, estimate or accurate")),
                    });
                }
                _ => q.clauses.push(Clause::parse(def, name, value)?),
            }
        }
        Ok(q)
    }

    /// Whether a resource's values match every clause. An unresolved chain matches
    /// nothing.
    pub fn matches(&self, indexed: &Indexed) -> bool {
        self.clauses.iter().all(|c| c.matches(indexed))
    }

    /// The chained clauses the server must resolve before matching.
    pub fn chains_mut(&mut self) -> impl Iterator<Item = &mut Clause> {
        self.clauses.iter_mut().filter(|c| c.chain.is_some())
    }

    /// Only the count is asked for.
    pub fn count_only(&self) -> bool {
        self.count == Some(0) || self.summary == Some(Summary::Count)
    }

    /// The one Patient the query is confined to, if a clause on one of the type's
    /// compartment parameters (or `_id` on Patient) names exactly one: the server
    /// searches only that patient's records.
    pub fn patient(&self) -> Option<String> {
        let def = defs().get(self.resource_type)?;
        self.clauses.iter().find_map(|c| {
            if c.chain.is_some() || c.criteria.len() != 1 {
                return None;
            }
            let criterion = c.criteria.first()?;
            if self.resource_type == "Patient" && c.param == "_id" && c.modifier == Modifier::None {
                return match criterion {
                    Criterion::Token(Token {
                        system: None,
                        code: Some(id),
                    }) => Some(id.clone()),
                    _ => None,
                };
            }
            if !confines_to_patient(def, c.param) {
                return None;
            }
            let typed = match c.modifier {
                Modifier::None => None,
                Modifier::Type(t) => Some(t),
                _ => return None,
            };
            match criterion {
                Criterion::Reference { resource_type, id } => {
                    let t = resource_type.as_deref().or(typed);
                    let p = def.param(c.param)?;
                    let patient_only = p.targets.iter().all(|x| x == "Patient")
                        || p.paths.iter().all(|path| path.target.as_deref() == Some("Patient"));
                    (t == Some("Patient") || (t.is_none() && patient_only)).then(|| id.clone())
                }
                _ => None,
            }
        })
    }

    /// The `_id` values asked for, if the query names ids.
    pub fn ids(&self) -> Option<Vec<String>> {
        self.clauses.iter().find_map(|c| {
            (c.param == "_id" && c.modifier == Modifier::None && c.chain.is_none()).then(|| {
                c.criteria
                    .iter()
                    .filter_map(|cr| match cr {
                        Criterion::Token(Token { code: Some(id), .. }) => Some(id.clone()),
                        _ => None,
                    })
                    .collect()
            })
        })
    }

    /// The query as a percent-encoded query string (no leading `?`) for a searchset's
    /// `self` link: the clauses as written, then the result parameters.
    pub fn self_query(&self) -> String {
        self.self_query_with_offset(self.offset)
    }

    /// [`self_query`](Self::self_query) with another `_offset` (0 leaves it out), for
    /// `next` and `previous` links.
    pub fn self_query_with_offset(&self, offset: usize) -> String {
        let mut pairs: Vec<(String, String)> = self.clauses.iter().map(|c| (c.name.clone(), c.raw.clone())).collect();
        if !self.sort.is_empty() {
            let s: Vec<String> = self
                .sort
                .iter()
                .map(|s| format!("{}{}", if s.descending { "-" } else { "" }, s.param))
                .collect();
            pairs.push(("_sort".into(), s.join(",")));
        }
        for (name, list) in [("_include", &self.include), ("_revinclude", &self.revinclude)] {
            for i in list {
                let mut v = format!("{}:{}", i.source_type, i.param);
                if let Some(t) = i.target {
                    v.push(':');
                    v.push_str(t);
                }
                pairs.push((name.into(), v));
            }
        }
        if let Some(e) = &self.elements {
            pairs.push(("_elements".into(), e.join(",")));
        }
        if let Some(s) = self.summary {
            let v = match s {
                Summary::True => "true",
                Summary::Text => "text",
                Summary::Data => "data",
                Summary::Count => "count",
                Summary::False => "false",
            };
            pairs.push(("_summary".into(), v.into()));
        }
        if let Some(t) = self.total {
            let v = match t {
                Total::None => "none",
                Total::Estimate => "estimate",
                Total::Accurate => "accurate",
            };
            pairs.push(("_total".into(), v.into()));
        }
        if let Some(c) = self.count {
            pairs.push(("_count".into(), c.to_string()));
        }
        if let Some(h) = self.snapshot {
            pairs.push(("_snapshot".into(), h.to_string()));
        }
        if offset > 0 {
            pairs.push(("_offset".into(), offset.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Orders two resources' values by `_sort` (then by nothing: the caller breaks ties).
    pub fn compare(&self, a: &Indexed, b: &Indexed) -> Ordering {
        for s in &self.sort {
            let (ka, kb) = (sort_key(a, s.param), sort_key(b, s.param));
            // A resource without a value sorts last either way.
            let o = match (&ka, &kb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                    if s.descending { o.reverse() } else { o }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// What a resource sorts by for one parameter: its smallest value (ascending sorts put
/// the earliest date, lowest number, first string first).
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum SortKey {
    Number(f64),
    Text(String),
}

pub fn sort_key(indexed: &Indexed, param: &str) -> Option<SortKey> {
    indexed
        .get(param)
        .iter()
        .filter_map(|v| match v {
            IndexValue::Date(r) => Some(SortKey::Number(r.start as f64)),
            IndexValue::Number(n) | IndexValue::Quantity { value: n, .. } => Some(SortKey::Number(*n)),
            IndexValue::String(s) => Some(SortKey::Text(fold(s))),
            IndexValue::Token { code: Some(c), .. } => Some(SortKey::Text(c.clone())),
            IndexValue::Token { text: Some(t), .. } => Some(SortKey::Text(fold(t))),
            IndexValue::Reference { target: Some(t), .. } => Some(SortKey::Text(t.clone())),
            IndexValue::Uri(u) => Some(SortKey::Text(u.clone())),
            _ => None,
        })
        .min_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal))
}

/// Whether a resource that matches a reference to `Patient/x` on `param` is in x's
/// compartment: the parameter is one of the type's compartment parameters, or reads only
/// elements they read (Observation `patient` is `subject` narrowed to Patient).
fn confines_to_patient(def: &TypeDef, param: &str) -> bool {
    if def.compartment.contains(&param) {
        return true;
    }
    let Some(p) = def.param(param) else { return false };
    let compartment_paths: Vec<_> = def
        .compartment
        .iter()
        .filter_map(|c| def.param(c))
        .flat_map(|c| c.paths.iter().map(|p| &p.steps))
        .collect();
    p.kind == ParamKind::Reference
        && !p.paths.is_empty()
        && p.paths.iter().all(|path| compartment_paths.contains(&&path.steps))
}

fn modifier(def: &ParamDef, raw: &str) -> Option<Modifier> {
    use ParamKind::*;
    Some(match (raw, def.kind) {
        ("exact", String) => Modifier::Exact,
        ("contains", String) => Modifier::Contains,
        ("not", Token) => Modifier::Not,
        ("text", Token) => Modifier::Text,
        ("identifier", Reference) => Modifier::Identifier,
        ("below", Uri) => Modifier::Below,
        ("above", Uri) => Modifier::Above,
        (t, Reference) => {
            let t = defs().resource_type(t)?;
            def.targets.iter().any(|x| x == t).then_some(Modifier::Type(t))?
        }
        _ => return None,
    })
}

impl Clause {
    fn parse(def: &'static TypeDef, name: &str, value: &str) -> Result<Clause, SearchError> {
        let unsupported = || SearchError::Unsupported {
            param: name.chars().take(SHOWN).collect(),
            resource_type: def.name,
        };
        // `subject:Patient.identifier` / `subject.name`: a chain.
        let (head, chained) = match name.split_once('.') {
            Some((h, rest)) => (h, Some(rest)),
            None => (name, None),
        };
        let (code, modifier_text) = match head.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (head, None),
        };
        let param = def.param(code).ok_or_else(unsupported)?;
        let modifier = match modifier_text {
            None => Modifier::None,
            Some("missing") => {
                if chained.is_some() {
                    return Err(invalid(name, "a chain cannot be :missing"));
                }
                return match value {
                    "true" | "false" => Ok(Clause {
                        param: param.code,
                        kind: param.kind,
                        modifier: Modifier::Missing(value == "true"),
                        criteria: Vec::new(),
                        chain: None,
                        name: name.to_string(),
                        raw: value.to_string(),
                    }),
                    _ => Err(invalid(name, ":missing expects true or false")),
                };
            }
            Some(m) => modifier(param, m).ok_or_else(|| invalid(name, "this modifier does not apply here"))?,
        };
        if let Some(rest) = chained {
            if param.kind != ParamKind::Reference {
                return Err(invalid(name, "only a reference parameter can be chained"));
            }
            if rest.contains('.') {
                return Err(invalid(name, "one level of chaining only"));
            }
            let target_types: Vec<&'static str> = match modifier {
                Modifier::Type(t) => vec![t],
                Modifier::None => param.targets.iter().filter_map(|t| defs().resource_type(t)).collect(),
                _ => return Err(invalid(name, "a chain takes only a type modifier")),
            };
            // The chained parameter must exist on at least one target type.
            let mut inner = None;
            for t in &target_types {
                if let Ok(c) = Clause::parse(type_def(t)?, rest, value) {
                    inner = Some(c);
                    break;
                }
            }
            let inner =
                inner.ok_or_else(|| invalid(name, "the chained parameter is not defined on the target type"))?;
            let target_types = target_types
                .into_iter()
                .filter(|t| defs().get(t).is_some_and(|d| d.param(inner.param).is_some()))
                .collect();
            return Ok(Clause {
                param: param.code,
                kind: param.kind,
                modifier: Modifier::None,
                criteria: Vec::new(),
                chain: Some(Chain {
                    target_types,
                    clause: Box::new(inner),
                }),
                name: name.to_string(),
                raw: value.to_string(),
            });
        }
        let raw_alternatives = split_unescaped(value, b',');
        if raw_alternatives.len() > MAX_ALTERNATIVES {
            return Err(invalid(name, "too many comma-separated alternatives (at most 100)"));
        }
        let mut criteria = Vec::with_capacity(raw_alternatives.len());
        for raw in raw_alternatives {
            if raw.is_empty() {
                return Err(invalid(name, "an alternative in the comma list is empty"));
            }
            criteria.push(criterion(param, modifier, raw).map_err(|reason| invalid(name, reason))?);
        }
        Ok(Clause {
            param: param.code,
            kind: param.kind,
            modifier,
            criteria,
            chain: None,
            name: name.to_string(),
            raw: value.to_string(),
        })
    }

    /// Replaces a chain by the references it resolved to (`Type/id` of every target
    /// resource that matched the chained clause).
    pub fn resolve_chain(&mut self, targets: Vec<(String, String)>) {
        self.chain = None;
        self.criteria = targets
            .into_iter()
            .map(|(t, id)| Criterion::Reference {
                resource_type: Some(t),
                id,
            })
            .collect();
    }

    /// Whether a resource's values satisfy this clause.
    pub fn matches(&self, indexed: &Indexed) -> bool {
        if self.chain.is_some() {
            return false;
        }
        let values = indexed.get(self.param);
        match self.modifier {
            Modifier::Missing(missing) => return values.is_empty() == missing,
            Modifier::Not => {
                return !values
                    .iter()
                    .any(|v| self.criteria.iter().any(|c| hit(c, Modifier::None, v)));
            }
            _ => {}
        }
        values
            .iter()
            .any(|v| self.criteria.iter().any(|c| hit(c, self.modifier, v)))
    }
}

fn unescaped(raw: &str) -> Result<String, &'static str> {
    unescape(raw).ok_or("a backslash may only escape \\ , | or $")
}

fn criterion(param: &ParamDef, modifier: Modifier, raw: &str) -> Result<Criterion, &'static str> {
    Ok(match param.kind {
        ParamKind::Token => match modifier {
            Modifier::Text => Criterion::String(fold(&unescaped(raw)?)),
            _ => Criterion::Token(Token::parse(raw)?),
        },
        ParamKind::Reference => match modifier {
            Modifier::Identifier => Criterion::Token(Token::parse(raw)?),
            _ => {
                let raw = unescaped(raw)?;
                if raw.starts_with("http://") || raw.starts_with("https://") {
                    return Ok(Criterion::Url(raw));
                }
                // A bare id on a parameter named `patient` is a Patient (R4 names the
                // parameter for what it points at; its Group target is for cohorts).
                let typed = match modifier {
                    Modifier::Type(t) => Some(t.to_string()),
                    _ if param.code == "patient" && param.targets.iter().any(|t| t == "Patient") => {
                        Some("Patient".to_string())
                    }
                    _ => None,
                };
                let (t, id) = match raw.split_once('/') {
                    Some((t, id)) => (Some(t.to_string()), id),
                    None => (typed, raw.as_str()),
                };
                if let Some(t) = &t
                    && (!valid_type(t) || (!param.targets.is_empty() && !param.targets.iter().any(|x| x == t)))
                {
                    return Err("expects [Type/]id with a type this parameter may point at");
                }
                if !valid_id(id) {
                    return Err("expects [Type/]id, an id being 1 to 64 of A-Z a-z 0-9 - .");
                }
                Criterion::Reference {
                    resource_type: t,
                    id: id.to_string(),
                }
            }
        },
        ParamKind::Date => Criterion::Date(
            DateParam::parse(raw).map_err(|_| "expects [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|+hh:mm]]]]")?,
        ),
        ParamKind::String => {
            let s = unescaped(raw)?;
            Criterion::String(if modifier == Modifier::Exact { s } else { fold(&s) })
        }
        ParamKind::Number => Criterion::Number(NumberParam::parse(raw)?),
        ParamKind::Quantity => {
            let parts = split_unescaped(raw, b'|');
            let (number, system, code) = match parts.as_slice() {
                [n] => (*n, None, None),
                [n, s, c] => (
                    *n,
                    (!s.is_empty()).then(|| unescaped(s)).transpose()?,
                    (!c.is_empty()).then(|| unescaped(c)).transpose()?,
                ),
                _ => return Err("expects [prefix]number[|system|code]"),
            };
            Criterion::Quantity {
                number: NumberParam::parse(number)?,
                system,
                code,
            }
        }
        ParamKind::Uri => Criterion::Uri(unescaped(raw)?),
    })
}

/// Whether one value satisfies one criterion under `modifier`.
fn hit(c: &Criterion, modifier: Modifier, v: &IndexValue) -> bool {
    match (c, v) {
        (Criterion::Token(t), IndexValue::Token { system, code, .. }) => {
            code.is_some() && t.matches(system.as_deref(), code.as_deref())
        }
        (Criterion::String(q), IndexValue::Token { text: Some(text), .. }) if modifier == Modifier::Text => {
            fold(text).contains(q.as_str())
        }
        (
            Criterion::Token(t),
            IndexValue::Reference {
                identifier: Some((s, val)),
                ..
            },
        ) if modifier == Modifier::Identifier => t.matches(s.as_deref(), Some(val)),
        (
            Criterion::Reference { resource_type, id },
            IndexValue::Reference {
                target: Some(target), ..
            },
        ) => match target.split_once('/') {
            Some((t, i)) if !target.contains("://") => {
                i == id
                    && match (resource_type, modifier) {
                        (Some(rt), _) => rt == t,
                        (None, Modifier::Type(mt)) => mt == t,
                        (None, _) => true,
                    }
            }
            _ => false,
        },
        (Criterion::Url(u), IndexValue::Reference { target: Some(t), .. }) => t == u,
        (Criterion::Date(p), IndexValue::Date(r)) => p.matches(*r),
        (Criterion::String(q), IndexValue::String(s)) => match modifier {
            Modifier::Exact => s == q,
            Modifier::Contains => fold(s).contains(q.as_str()),
            _ => fold(s).starts_with(q.as_str()),
        },
        (Criterion::Number(n), IndexValue::Number(x)) => n.matches(*x),
        (
            Criterion::Quantity { number, system, code },
            IndexValue::Quantity {
                value,
                system: vs,
                code: vc,
                unit,
            },
        ) => {
            let unit_ok = match (system, code) {
                (None, None) => true,
                (Some(s), Some(c)) => vs.as_deref() == Some(s) && vc.as_deref() == Some(c),
                (Some(s), None) => vs.as_deref() == Some(s),
                (None, Some(c)) => vc.as_deref() == Some(c) || unit.as_deref() == Some(c),
            };
            unit_ok && number.matches(*value)
        }
        (Criterion::Uri(u), IndexValue::Uri(x)) => match modifier {
            Modifier::Below => x.starts_with(u.as_str()),
            Modifier::Above => u.starts_with(x.as_str()),
            _ => x == u,
        },
        _ => false,
    }
}

/// Splits on `sep` where it is not escaped by a backslash; escapes are kept.
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b) if *b == sep => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

/// Undoes R4's search escapes; `None` for any other use of a backslash.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '|' | '$')) => out.push(e),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Percent-encodes all but RFC 3986's unreserved characters and `:` `/` `,`, which a
/// query may carry as they are (`,` separates alternatives; an escaped one is `\,`,
/// whose backslash is encoded).
fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b',') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
