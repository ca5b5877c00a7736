//! Type-level search (`GET /fhir/{type}?…`) with HL7's R4 search parameters
//! (`medledger_fhir::search`): chains, `_sort`, `_include` / `_revinclude`,
//! `_elements` / `_summary`, `_total`, and paging that stays stable while records are
//! added (`_snapshot`).
//!
//! Every candidate passes the guard's consent check before it is read; every record
//! returned (matches and includes) is audited before the answer is built. Nothing is
//! said about records the caller may not read: not their number, nor whether they
//! match.

use std::collections::BTreeSet;

use medledger_custody::{CustodyError, Permit};
use medledger_fhir::index::{IndexValue, Indexed, extract};
use medledger_fhir::search::{Include, SearchQuery, Summary, Total};
use serde_json::{Value, json};

use super::guard::{Guard, Op, Target};
use super::{Ctx, FhirError};
use crate::AppState;

const DEFAULT_PAGE: usize = 50;
/// Most records a chain may resolve to.
const MAX_CHAIN_TARGETS: usize = 1000;
/// Most records `_include` and `_revinclude` add to one page.
const MAX_INCLUDED: usize = 1000;

/// A record a search considers: its permit, its search values, and the resource once
/// it has been read.
struct Found {
    permit: Permit,
    indexed: Indexed,
    resource: Option<Value>,
}

/// What looking at a candidate gave.
enum Candidate {
    Found(Box<Found>),
    /// The caller may not read it, it is gone or deleted: not counted, not mentioned.
    Hidden,
    /// It could not be fetched from its custodian.
    Unavailable,
}

struct Searcher<'a> {
    app: &'a AppState,
    ctx: &'a Ctx,
    guard: Guard<'a>,
    /// `_snapshot`: records created above this height are left out.
    snapshot: Option<u64>,
}

impl Searcher<'_> {
    /// The ids to consider for a search of `resource_type` confined to `patient` (or to
    /// `ids`), in a stable order.
    fn candidates(
        &self,
        resource_type: &str,
        ids: Option<Vec<String>>,
        patient: Option<&str>,
    ) -> Result<Vec<String>, FhirError> {
        let custody = self.app.custody()?;
        let mut out: Vec<String> = if let Some(ids) = ids {
            ids
        } else if let Some(p) = patient {
            if resource_type == "Patient" {
                vec![p.to_string()]
            } else {
                custody
                    .records_of_patient(p)
                    .into_iter()
                    .filter(|(t, _)| t == resource_type)
                    .map(|(_, id)| id)
                    .collect()
            }
        } else {
            custody.ids_of_type(resource_type)
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A candidate the caller may read, with its search values: from the custodian's
    /// search values when this node holds the record (nothing decrypted), else read and
    /// extracted.
    async fn look(&self, resource_type: &str, id: &str, patient: Option<&str>) -> Result<Candidate, FhirError> {
        self.look_for(resource_type, id, patient, None).await
    }

    /// [`Searcher::look`], asking the custodian of a record held elsewhere to serve it
    /// only if it matches `query` (a type-level query string without paging): a record
    /// that does not match is neither sent nor decrypted.
    async fn look_for(
        &self,
        resource_type: &str,
        id: &str,
        patient: Option<&str>,
        query: Option<&str>,
    ) -> Result<Candidate, FhirError> {
        let custody = self.app.custody()?;
        let Some(permit) = self.guard.candidate(resource_type, id) else {
            return Ok(Candidate::Hidden);
        };
        if self.ctx.break_glass.is_some() && permit.patient() != patient {
            return Ok(Candidate::Hidden);
        }
        if let Some(snapshot) = self.snapshot {
            let created = custody.version_anchor(resource_type, id, 1)?;
            if created.is_none_or(|a| a.height.0 > snapshot) {
                return Ok(Candidate::Hidden);
            }
        }
        if &permit.record().custodian == custody.org()
            && let Some(s) = custody.searchable(resource_type, id)
            && s.version == permit.record().latest
        {
            return Ok(match s.values {
                Some(indexed) => Candidate::Found(Box::new(Found {
                    permit,
                    indexed,
                    resource: None,
                })),
                None => Candidate::Hidden,
            });
        }
        let mut found = Found {
            permit,
            indexed: Indexed::default(),
            resource: None,
        };
        if !self.load_if(&mut found, query).await? {
            // Refused, gone or not matching at the custodian: not counted.
            return Ok(if query.is_some() {
                Candidate::Hidden
            } else {
                Candidate::Unavailable
            });
        }
        match &found.resource {
            Some(r) if super::interact::is_deleted(r) => Ok(Candidate::Hidden),
            Some(r) => {
                found.indexed = extract(r);
                Ok(Candidate::Found(Box::new(found)))
            }
            None => Ok(Candidate::Hidden),
        }
    }

    /// Reads (decrypts) a record found by its search values; `false` if it could not be
    /// read (refused or gone at its custodian, unavailable, not JSON, or deleted), or if
    /// its custodian found it does not match `only_if`.
    async fn load(&self, f: &mut Found) -> Result<bool, FhirError> {
        self.load_if(f, None).await
    }

    async fn load_if(&self, f: &mut Found, only_if: Option<&str>) -> Result<bool, FhirError> {
        if f.resource.is_some() {
            return Ok(true);
        }
        let custody = self.app.custody()?;
        let latest = f.permit.record().latest;
        let (action, note) = (Op::Search.action(), self.ctx.break_glass.as_deref());
        let read = match only_if {
            Some(q) => custody.read_if_matching(&f.permit, latest, action, note, q).await,
            None => custody.read(&f.permit, latest, action, note).await,
        };
        let bytes = match read {
            Ok(b) => b,
            Err(CustodyError::Denied(_) | CustodyError::Gone | CustodyError::NotFound | CustodyError::NoMatch) => {
                return Ok(false);
            }
            Err(e) => {
                tracing::warn!("search: a record could not be read: {e}");
                return Ok(false);
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(r) if !super::interact::is_deleted(&r) => {
                f.resource = Some(r);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Resolves each chained clause (`subject:Patient.identifier=…`) into the references
    /// of the target records the caller may read that match the chained parameter.
    async fn resolve_chains(&self, query: &mut SearchQuery) -> Result<(), FhirError> {
        for clause in query.chains_mut() {
            let Some(chain) = clause.chain.clone() else { continue };
            let mut targets = Vec::new();
            for t in &chain.target_types {
                let Ok(def) = SearchQuery::parse(t, &[]) else { continue };
                let mut inner = def;
                inner.clauses.push((*chain.clause).clone());
                let patient = inner.patient();
                for id in self.candidates(t, inner.ids(), patient.as_deref())? {
                    if let Candidate::Found(f) = self.look(t, &id, patient.as_deref()).await?
                        && inner.matches(&f.indexed)
                    {
                        targets.push((t.to_string(), id));
                        if targets.len() > MAX_CHAIN_TARGETS {
                            return Err(FhirError::invalid(
                                "a chained parameter matches more than 1000 records; narrow it",
                            ));
                        }
                    }
                }
            }
            clause.resolve_chain(targets);
        }
        Ok(())
    }

    /// `_include`: the records the page's matches point at through the parameter.
    async fn includes(
        &self,
        page: &[Found],
        includes: &[Include],
        seen: &mut BTreeSet<(String, String)>,
    ) -> Result<Vec<Found>, FhirError> {
        let mut out = Vec::new();
        for inc in includes {
            for f in page {
                for v in f.indexed.get(inc.param) {
                    let IndexValue::Reference { target: Some(t), .. } = v else {
                        continue;
                    };
                    let Some((ty, id)) = t.split_once('/') else { continue };
                    if t.contains("://") || inc.target.is_some_and(|x| x != ty) {
                        continue;
                    }
                    let Some(ty) = medledger_fhir::resource_type(ty) else {
                        continue;
                    };
                    if !self
                        .ctx
                        .caller
                        .scopes
                        .allows(ty, medledger_fhir::scope::Interaction::Read)
                        || !seen.insert((ty.to_string(), id.to_string()))
                    {
                        continue;
                    }
                    if let Candidate::Found(mut found) = self.look(ty, id, None).await?
                        && self.load(&mut found).await?
                    {
                        out.push(*found);
                    }
                    if out.len() >= MAX_INCLUDED {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// `_revinclude`: the records of another type that point at the page's matches.
    async fn revincludes(
        &self,
        page: &[Found],
        revincludes: &[Include],
        seen: &mut BTreeSet<(String, String)>,
    ) -> Result<Vec<Found>, FhirError> {
        let mut out = Vec::new();
        let wanted: BTreeSet<String> = page
            .iter()
            .map(|f| format!("{}/{}", f.permit.resource_type(), f.permit.id()))
            .collect();
        let patients: BTreeSet<Option<String>> = page.iter().map(|f| f.permit.patient().map(str::to_string)).collect();
        for inc in revincludes {
            if !self
                .ctx
                .caller
                .scopes
                .allows(inc.source_type, medledger_fhir::scope::Interaction::Read)
            {
                continue;
            }
            // Records pointing at a patient's record are in that patient's compartment
            // (or not patient-bound at all): look only there when the page is one
            // patient's.
            let mut ids = Vec::new();
            for p in &patients {
                ids.extend(self.candidates(inc.source_type, None, p.as_deref())?);
            }
            ids.sort();
            ids.dedup();
            for id in ids {
                if seen.contains(&(inc.source_type.to_string(), id.clone())) {
                    continue;
                }
                let Candidate::Found(mut found) = self.look(inc.source_type, &id, None).await? else {
                    continue;
                };
                let points_here = found.indexed.get(inc.param).iter().any(|v| match v {
                    IndexValue::Reference { target: Some(t), .. } => {
                        wanted.contains(t) && inc.target.is_none_or(|x| t.starts_with(&format!("{x}/")))
                    }
                    _ => false,
                });
                if points_here && self.load(&mut found).await? {
                    seen.insert((inc.source_type.to_string(), id));
                    out.push(*found);
                    if out.len() >= MAX_INCLUDED {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Which top-level elements `_elements` / `_summary` keep.
enum Keep {
    Listed(Vec<String>),
    /// `_summary=true`: the type's summary elements (`name*` for a choice element).
    Summary(Vec<String>),
    Text,
    Data,
}

impl Keep {
    fn of(query: &SearchQuery, resource_type: &str) -> Option<Keep> {
        Some(match (&query.elements, query.summary) {
            (Some(list), _) => Keep::Listed(list.clone()),
            (None, Some(Summary::True)) => Keep::Summary(
                medledger_fhir::defs::defs()
                    .get(resource_type)
                    .map(|d| d.summary.clone())
                    .unwrap_or_default(),
            ),
            (None, Some(Summary::Text)) => Keep::Text,
            (None, Some(Summary::Data)) => Keep::Data,
            _ => return None,
        })
    }

    fn keeps(&self, element: &str) -> bool {
        match self {
            Keep::Listed(list) => list.iter().any(|e| e == element),
            Keep::Summary(list) => list.iter().any(|s| match s.strip_suffix('*') {
                Some(prefix) => element
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())),
                None => s == element,
            }),
            Keep::Text => element == "text",
            Keep::Data => element != "text",
        }
    }
}

/// `_elements` / `_summary`: the subset of a resource to return, marked `SUBSETTED`.
fn subset(mut resource: Value, query: &SearchQuery) -> Value {
    let resource_type = resource["resourceType"].as_str().unwrap_or_default().to_string();
    let Some(keep) = Keep::of(query, &resource_type) else {
        return resource;
    };
    if let Some(o) = resource.as_object_mut() {
        o.retain(|k, _| matches!(k.as_str(), "resourceType" | "id" | "meta") || keep.keeps(k.trim_start_matches('_')));
        let meta = o.entry("meta").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let tags = m.entry("tag").or_insert_with(|| json!([]));
            if let Some(t) = tags.as_array_mut() {
                t.push(
                    json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}),
                );
            }
        }
    }
    resource
}

/// One page of a search.
pub async fn search_page(
    app: &AppState,
    ctx: &Ctx,
    resource_type: &'static str,
    query: &SearchQuery,
    base: &str,
) -> Result<Value, FhirError> {
    let mut query = query.clone();
    let patient = query.patient();
    let mut ledger_entries = Vec::new();
    if resource_type == "AuditEvent"
        && let Some(p) = &patient
    {
        ledger_entries = super::views::access_log(app, ctx, p, base).await?;
    }
    if resource_type == "Consent"
        && let Some(p) = &patient
    {
        ledger_entries = super::views::ledger_consents(app, ctx, p, base).await?;
    }
    let searcher = Searcher {
        app,
        ctx,
        guard: Guard::new(app, ctx),
        snapshot: query.snapshot,
    };
    let guard = &searcher.guard;
    // Written with the results' entries, below: nothing in between fails.
    let searched = guard
        .allow_unwritten(
            Op::Search,
            Target {
                resource_type,
                patient: patient.as_deref(),
                ..Target::default()
            },
        )
        .await?;
    let snapshot = query.snapshot.unwrap_or(app.node.head().height.0);
    app.custody()?.caught_up().await;
    searcher.resolve_chains(&mut query).await?;
    let count = query.count.unwrap_or(DEFAULT_PAGE).min(app.node.config().fhir.max_page);
    let count_only = query.count_only();
    // Sorting or an accurate total needs every match; otherwise the scan stops once the
    // page is full and one more match shows there is a next page. Matching uses search
    // values only: a record is decrypted only if it is on the page.
    let scan_all = !query.sort.is_empty() || query.total == Some(Total::Accurate) || count_only;
    let mut matched: Vec<Found> = Vec::new();
    let mut total = 0usize;
    let mut unavailable = 0usize;
    // What a custodian matches a record held elsewhere against: the filters, without
    // result parameters (chains were resolved here and are not sent).
    let filters = {
        let mut f = query.clone();
        f.count = None;
        f.offset = 0;
        f.sort.clear();
        f.include.clear();
        f.revinclude.clear();
        f.elements = None;
        f.summary = None;
        f.total = None;
        f.snapshot = None;
        (!f.clauses.iter().any(|c| {
            c.chain.is_some() || c.criteria.is_empty() && matches!(c.modifier, medledger_fhir::search::Modifier::None)
        }))
        .then(|| f.self_query())
    };
    for id in searcher.candidates(resource_type, query.ids(), patient.as_deref())? {
        let found = match searcher
            .look_for(resource_type, &id, patient.as_deref(), filters.as_deref())
            .await?
        {
            Candidate::Found(f) => f,
            Candidate::Hidden => continue,
            Candidate::Unavailable => {
                unavailable += 1;
                continue;
            }
        };
        if !query.matches(&found.indexed) {
            continue;
        }
        total += 1;
        if count_only {
            continue;
        }
        matched.push(*found);
        if !scan_all && matched.len() > query.offset + count {
            break;
        }
    }
    if !query.sort.is_empty() {
        matched.sort_by(|a, b| {
            query
                .compare(&a.indexed, &b.indexed)
                .then_with(|| a.permit.id().cmp(b.permit.id()))
        });
    }
    let rest = matched.split_off(query.offset.min(matched.len()));
    let more = rest.len() > count;
    let mut matched = Vec::with_capacity(count);
    for mut f in rest.into_iter().take(count) {
        if searcher.load(&mut f).await? {
            matched.push(f);
        } else {
            unavailable += 1;
        }
    }
    let mut seen: BTreeSet<(String, String)> = matched
        .iter()
        .map(|f| (f.permit.resource_type().to_string(), f.permit.id().to_string()))
        .collect();
    let mut included = searcher.includes(&matched, &query.include, &mut seen).await?;
    included.extend(searcher.revincludes(&matched, &query.revinclude, &mut seen).await?);
    let results: Vec<(&Permit, u64)> = matched
        .iter()
        .chain(included.iter())
        .map(|f| (&f.permit, f.permit.record().latest))
        .collect();
    guard
        .audit_results(Op::Search, &results, searched.into_iter().collect())
        .await?;
    let mut entries = ledger_entries;
    let entry = |f: Found, mode: &str| {
        json!({
            "fullUrl": format!("{base}/{}/{}", f.permit.resource_type(), f.permit.id()),
            "resource": subset(f.resource.unwrap_or_default(), &query),
            "search": {"mode": mode},
        })
    };
    entries.extend(matched.into_iter().map(|f| entry(f, "match")));
    entries.extend(included.into_iter().map(|f| entry(f, "include")));
    if unavailable > 0 {
        entries.push(json!({
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "incomplete",
                           "diagnostics": "some records the caller may read could not be fetched from their custodian; the results may be incomplete"}]
            },
            "search": {"mode": "outcome"},
        }));
    }
    let mut q = query.clone();
    q.snapshot = Some(snapshot);
    let link = |relation: &str, offset: usize| json!({"relation": relation, "url": format!("{base}/{resource_type}?{}", q.self_query_with_offset(offset))});
    let mut links = vec![link("self", query.offset)];
    if more {
        links.push(link("next", query.offset + count));
    }
    if query.offset > 0 {
        links.push(link("previous", query.offset.saturating_sub(count)));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries,
    });
    let known = count_only || !more || scan_all;
    if known && query.total != Some(Total::None) {
        bundle["total"] = json!(total);
    }
    Ok(bundle)
}
