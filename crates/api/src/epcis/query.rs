//! `GET /epcis/events` and `GET /epcis/epcs/{epc}/events` (EPCIS 2.0 §8.2.7.1
//! SimpleEventQuery parameters, REST binding §12.3), answering an `EPCISQueryDocument` in
//! JSON-LD.
//!
//! Parameters (each at most once; a list's values separated by `|`):
//!
//! | parameter | matches |
//! |---|---|
//! | `eventType` | the event type |
//! | `EQ_action` | `ADD`, `OBSERVE`, `DELETE` |
//! | `EQ_bizStep`, `EQ_disposition` | CBV words (bare, URN or Web URI) or other URIs |
//! | `EQ_readPoint`, `EQ_bizLocation` | the location id as written |
//! | `MATCH_epc` | `epcList` and `childEPCs` |
//! | `MATCH_parentID` | `parentID` |
//! | `MATCH_anyEPC` | any instance EPC of the event, `parentID` included |
//! | `MATCH_epcClass` | the quantity lists' classes |
//! | `GE_eventTime`, `LT_eventTime`, `GE_recordTime`, `LT_recordTime` | timestamps with a zone |
//! | `perPage` (1–1000, default 30), `nextPageToken` | pages, oldest event first |
//!
//! An EPC value matches as written or as its canonical EPC URN (a Digital Link of a
//! registered SGTIN or SSCC matches its URN); a value ending in `*` matches by prefix.
//! An unknown parameter, a repeated one or a bad value is a `400`
//! `QueryParameterException`.
//!
//! What is served: the events this node holds whose commitment the ledger records as
//! captured by this node's organisation, and of those only what the caller may see
//! ([`super`]): all of them to this organisation and to a regulator, to any other
//! organisation the events that name an EPC it holds or is being shipped (ledger
//! state), or that name it (by GLN) as the `owning_party` destination. Events captured
//! at other nodes are asked of those nodes, for a caller of an organisation this node
//! signs for ([`super::share`]), and merged into the same order: event time, then the
//! event's key; the `nextPageToken` is the last shown event's place in that order.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use medledger_fhir::scope::Interaction;
use medledger_gs1::epcis::{CbvValue, Epc, Timestamp, Vocabulary};
use medledger_gs1::ident::{DigitalLink, ElementString};
use medledger_ledger::StateRead;
use medledger_ledger::identity::OrgRole;
use medledger_ledger::supply::{self, ItemState};
use medledger_types::{Hash32, OrgId};
use serde_json::{Value, json};

use super::store::StoredEvent;
use super::{EpcisError, authenticate, render};
use crate::AppState;

const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 1000;

/// A parsed query.
#[derive(Default, Debug)]
pub struct Query {
    event_type: Option<Vec<String>>,
    action: Option<Vec<String>>,
    biz_step: Option<Vec<String>>,
    disposition: Option<Vec<String>>,
    read_point: Option<Vec<String>>,
    biz_location: Option<Vec<String>>,
    match_epc: Option<Vec<String>>,
    match_parent: Option<Vec<String>>,
    match_any: Option<Vec<String>>,
    match_class: Option<Vec<String>>,
    ge_event_time: Option<i64>,
    lt_event_time: Option<i64>,
    ge_record_time: Option<i64>,
    lt_record_time: Option<i64>,
    per_page: usize,
    /// Where the page starts: after this place in the order (`nextPageToken`).
    after: Option<Place>,
}

/// An event's place in the order every node pages in: event time, then the event's key in
/// the store (its digest, `/declaration` after an error declaration's). The
/// `nextPageToken` is the last shown event's place, so pages merged from several nodes
/// continue where they stopped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place(pub i64, pub String);

impl Place {
    pub fn of(e: &StoredEvent) -> Place {
        Place(e.index.event_time_ms, super::store::key_of(e))
    }

    /// The token: `<event time ms>.<key>` (`/` in the key written as `.`).
    pub fn token(&self) -> String {
        format!("{}.{}", self.0, self.1.replace('/', "."))
    }

    pub fn parse(token: &str) -> Option<Place> {
        let (ms, key) = token.split_once('.')?;
        let ms = ms.parse::<i64>().ok()?;
        let (digest, rest) = key.split_at_checked(64)?;
        if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match rest {
            "" => Some(Place(ms, digest.to_owned())),
            ".declaration" => Some(Place(ms, format!("{digest}/declaration"))),
            _ => None,
        }
    }
}

/// An event as a query answers it: its place in the order and its JSON-LD.
#[derive(Clone, Debug)]
pub struct Shown {
    pub place: Place,
    pub event: Value,
}

fn time(name: &str, v: &str) -> Result<i64, EpcisError> {
    v.parse::<Timestamp>()
        .map(|t| t.unix_millis_rounded())
        .map_err(|e| EpcisError::query_parameter(format!("{name}: {e}")))
}

fn list(v: &str) -> Vec<String> {
    v.split('|').map(str::to_owned).collect()
}

fn cbv_list(vocabulary: Vocabulary, v: &str) -> Vec<String> {
    v.split('|').map(|w| CbvValue::parse(vocabulary, w).to_uri()).collect()
}

impl Query {
    /// Parses the query string.
    pub fn parse(raw: Option<&str>) -> Result<Query, EpcisError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| EpcisError::query_parameter(format!("the query string: {e}")))?;
        let mut q = Query {
            per_page: DEFAULT_PER_PAGE,
            ..Query::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for (name, v) in pairs {
            if !seen.insert(name.clone()) {
                return Err(EpcisError::query_parameter(format!("{name} is given twice")));
            }
            if v.is_empty() {
                return Err(EpcisError::query_parameter(format!("{name} has no value")));
            }
            match name.as_str() {
                "eventType" => {
                    let types = list(&v);
                    if let Some(t) = types.iter().find(|t| {
                        !matches!(
                            t.as_str(),
                            "ObjectEvent"
                                | "AggregationEvent"
                                | "TransactionEvent"
                                | "TransformationEvent"
                                | "AssociationEvent"
                        )
                    }) {
                        return Err(EpcisError::query_parameter(format!(
                            "eventType: {t:?} is not an EPCIS event type"
                        )));
                    }
                    q.event_type = Some(types);
                }
                "EQ_action" => q.action = Some(list(&v)),
                "EQ_bizStep" => q.biz_step = Some(cbv_list(Vocabulary::BizStep, &v)),
                "EQ_disposition" => q.disposition = Some(cbv_list(Vocabulary::Disposition, &v)),
                "EQ_readPoint" => q.read_point = Some(list(&v)),
                "EQ_bizLocation" => q.biz_location = Some(list(&v)),
                "MATCH_epc" => q.match_epc = Some(list(&v)),
                "MATCH_parentID" => q.match_parent = Some(list(&v)),
                "MATCH_anyEPC" => q.match_any = Some(list(&v)),
                "MATCH_epcClass" => q.match_class = Some(list(&v)),
                "GE_eventTime" => q.ge_event_time = Some(time(&name, &v)?),
                "LT_eventTime" => q.lt_event_time = Some(time(&name, &v)?),
                "GE_recordTime" => q.ge_record_time = Some(time(&name, &v)?),
                "LT_recordTime" => q.lt_record_time = Some(time(&name, &v)?),
                "perPage" => {
                    q.per_page = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                        .ok_or_else(|| EpcisError::query_parameter(format!("perPage must be 1 to {MAX_PER_PAGE}")))?;
                }
                "nextPageToken" => {
                    q.after = Some(
                        Place::parse(&v)
                            .ok_or_else(|| EpcisError::query_parameter("nextPageToken is not one this server gave"))?,
                    );
                }
                other => {
                    return Err(EpcisError::query_parameter(format!(
                        "{:?} is not a query parameter this server supports",
                        other.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        Ok(q)
    }

    /// Restricts the query to the path's EPC, in the forms [`resolve_epc`] gives.
    pub(super) fn of_epc(&mut self, state: &dyn StateRead, epc: &str) -> Result<(), EpcisError> {
        if self.match_any.is_some() {
            return Err(EpcisError::query_parameter("MATCH_anyEPC is the path's EPC here"));
        }
        self.match_any = Some(resolve_epc(state, epc)?);
        Ok(())
    }

    /// Whether the event matches every given parameter.
    pub fn matches(&self, e: &StoredEvent) -> bool {
        let i = &e.index;
        let one_of = |wanted: &Option<Vec<String>>, have: Option<&str>| {
            wanted
                .as_ref()
                .is_none_or(|w| have.is_some_and(|h| w.iter().any(|x| x == h)))
        };
        let epcs_match = |wanted: &Option<Vec<String>>, have: &[&String]| {
            wanted.as_ref().is_none_or(|w| {
                w.iter().any(|pattern| {
                    have.iter().any(|h| match pattern.strip_suffix('*') {
                        Some(prefix) => h.starts_with(prefix),
                        None => *h == pattern,
                    })
                })
            })
        };
        let listed: Vec<&String> = i.epcs.iter().chain(&i.canonical).collect();
        let parent: Vec<&String> = i
            .parent_id
            .iter()
            .chain(i.canonical.first().filter(|_| i.parent_id.is_some()))
            .collect();
        let any: Vec<&String> = i.epcs.iter().chain(&i.parent_id).chain(&i.canonical).collect();
        let classes: Vec<&String> = i.epc_classes.iter().collect();
        let in_range = |t: i64, ge: Option<i64>, lt: Option<i64>| ge.is_none_or(|g| t >= g) && lt.is_none_or(|l| t < l);
        one_of(&self.event_type, Some(&i.event_type))
            && one_of(&self.action, i.action.as_deref())
            && one_of(&self.biz_step, i.biz_step.as_deref())
            && one_of(&self.disposition, i.disposition.as_deref())
            && one_of(&self.read_point, i.read_point.as_deref())
            && one_of(&self.biz_location, i.biz_location.as_deref())
            && epcs_match(&self.match_epc, &listed)
            && epcs_match(&self.match_parent, &parent)
            && epcs_match(&self.match_any, &any)
            && epcs_match(&self.match_class, &classes)
            && in_range(i.event_time_ms, self.ge_event_time, self.lt_event_time)
            && in_range(i.record_time_ms, self.ge_record_time, self.lt_record_time)
    }
}

/// Who is asking, and what of the ledger they may see through.
pub(super) struct Viewer {
    pub(super) org: OrgId,
    /// The regulator sees every event.
    pub(super) all: bool,
    /// This node's organisation, the capturer of events stored without one.
    pub(super) own: OrgId,
}

impl Viewer {
    /// The view of `org` on the events this node holds.
    pub(super) fn of(state: &dyn StateRead, org: OrgId, own: OrgId) -> Viewer {
        let all = medledger_ledger::identity::org_record(state, &org).is_some_and(|o| o.role == OrgRole::Regulator);
        Viewer { org, all, own }
    }

    /// Whether `org` may see the event: it captured it, holds or is shipped one of its
    /// EPCs, or is its `owning_party` destination. A node hosting another member's events
    /// (ADR 014 §13) shows them to its own organisation by these rules only.
    fn sees(&self, state: &dyn StateRead, e: &StoredEvent) -> bool {
        if self.all || capturer(e, &self.own) == &self.org {
            return true;
        }
        let holds = e.index.canonical.iter().any(|epc| {
            supply::item(state, epc).is_some_and(|item| {
                item.owner == self.org || matches!(&item.state, ItemState::InTransit { to } if *to == self.org)
            })
        });
        holds
            || e.index
                .destinations
                .iter()
                .filter_map(|d| gln_of(d))
                .any(|gln| supply::gln_owner(state, &gln).as_ref() == Some(&self.org))
    }
}

/// The GLN of an SGLN or PGLN URN, or of a Digital Link (414)/(417).
fn gln_of(id: &str) -> Option<String> {
    if let Ok(uri) = medledger_gs1::ident::EpcUri::parse(id) {
        return uri
            .to_elements()
            .ok()
            .and_then(|es| es.get("414").or_else(|| es.get("417")).map(str::to_owned));
    }
    if let Some(rest) = id.strip_prefix("urn:epc:id:pgln:") {
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 12 {
            let check = medledger_gs1::ident::check_digit(&digits)?;
            return Some(format!("{digits}{check}"));
        }
    }
    let dl = DigitalLink::parse(id).ok()?;
    let es = dl.elements();
    es.get("414").or_else(|| es.get("417")).map(str::to_owned)
}

struct Context {
    state: medledger_store::StoreReader,
    viewer: Viewer,
}

fn context(app: &AppState, headers: &HeaderMap) -> Result<Context, EpcisError> {
    let caller = authenticate(app, headers, Interaction::Search)?;
    let own = app.epcis()?.org().clone();
    let state = app
        .node
        .store()
        .reader()
        .map_err(|_| EpcisError::unavailable("the ledger cannot be read"))?;
    Ok(Context {
        viewer: Viewer::of(&state, caller.actor.org, own),
        state,
    })
}

/// What a query found among the events this node holds.
pub(super) struct Found {
    /// Those the viewer may see, after the query's place, in order: at most a page and one.
    pub(super) shown: Vec<Shown>,
    /// Whether some matched that the viewer may not see.
    pub(super) hidden: bool,
}

/// The events held here that match `q` and are on the ledger, as `viewer` may see them.
pub(super) fn find(app: &AppState, state: &dyn StateRead, viewer: &Viewer, q: &Query) -> Result<Found, EpcisError> {
    let all = app.epcis()?.events.all();
    let mut found = Found {
        shown: Vec::new(),
        hidden: false,
    };
    for e in all.iter().map(|e| e.as_ref()) {
        if found.shown.len() > q.per_page {
            break;
        }
        let place = Place::of(e);
        if q.after.as_ref().is_some_and(|a| &place <= a) || !q.matches(e) || !on_ledger(state, &viewer.own, e) {
            continue;
        }
        if viewer.sees(state, e) {
            found.shown.push(Shown {
                place,
                event: e.event.clone(),
            });
        } else {
            found.hidden = true;
        }
    }
    Ok(found)
}

/// The organisation that captured a stored event.
fn capturer<'a>(e: &'a StoredEvent, own: &'a OrgId) -> &'a OrgId {
    e.capturer.as_ref().unwrap_or(own)
}

/// Whether the ledger records the event as captured by the organisation it was stored for.
fn on_ledger(state: &dyn StateRead, own: &OrgId, e: &StoredEvent) -> bool {
    let own = capturer(e, own);
    let Ok(bytes) = hex::decode(&e.digest) else {
        return false;
    };
    let Ok(digest) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        return false;
    };
    supply::event(state, &Hash32(digest)).is_some_and(|r| &r.capturer == own)
}

fn document(events: &[Shown]) -> Value {
    json!({
        "@context": render::context(),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": crate::fhir::time::instant(medledger_node::node::now_ms().0),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events.iter().map(|e| e.event.clone()).collect::<Vec<_>>()}
            }
        }
    })
}

/// The page of `shown` (in order, deduplicated) the query asks for, with the link to the
/// next one, and the organisations whose nodes did not answer in a header.
fn answer(mut shown: Vec<Shown>, q: &Query, base: &str, unanswered: &[OrgId]) -> Response {
    shown.sort_by(|a, b| a.place.cmp(&b.place));
    shown.dedup_by(|a, b| a.place == b.place);
    let more = shown.len() > q.per_page;
    shown.truncate(q.per_page);
    let body = serde_json::to_vec(&document(&shown)).unwrap_or_default();
    let mut r = (StatusCode::OK, [("content-type", super::EPCIS_JSON)], body).into_response();
    let h = r.headers_mut();
    h.insert("gs1-epcis-version", HeaderValue::from_static("2.0.0"));
    h.insert("gs1-cbv-version", HeaderValue::from_static("2.0.0"));
    if let (true, Some(last)) = (more, shown.last()) {
        let next = last.place.token();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "<{base}perPage={}&nextPageToken={next}>; rel=\"next\"",
            q.per_page
        )) {
            h.insert("link", v);
        }
        if let Ok(v) = HeaderValue::from_str(&next) {
            h.insert("gs1-next-page-token", v);
        }
    }
    if !unanswered.is_empty() {
        let names: Vec<&str> = unanswered.iter().map(OrgId::as_str).collect();
        if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
            h.insert(super::share::UNANSWERED_HEADER, v);
        }
    }
    r
}

/// `GET /epcis/events`: what this node holds and, for an organisation it signs for, what
/// the other organisations' nodes show that organisation ([`super::share`]).
pub async fn events(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, EpcisError> {
    let q = Query::parse(raw.as_deref())?;
    let (viewer, found) = {
        let cx = context(&app, &headers)?;
        let found = find(&app, &cx.state, &cx.viewer, &q)?;
        (cx.viewer, found)
    };
    let mut shown = found.shown;
    let elsewhere = super::share::forward(&app, &viewer.org, raw.as_deref().unwrap_or(""), None).await;
    shown.extend(elsewhere.shown);
    Ok(answer(shown, &q, "/epcis/events?", &elsewhere.unanswered))
}

/// The EPC in a path: an EPC URN, a Digital Link or a bracketed element string, as the
/// canonical URN when it is a tracked SGTIN or SSCC under a registered prefix.
pub fn resolve_epc(state: &dyn StateRead, text: &str) -> Result<Vec<String>, EpcisError> {
    let bad = |e: String| EpcisError::query_parameter(format!("{:?}: {e}", text.chars().take(100).collect::<String>()));
    let as_link = if text.starts_with('(') {
        let es = ElementString::parse_bracketed(text).map_err(|e| bad(e.to_string()))?;
        DigitalLink::from_elements(&es, "https://id.gs1.org")
            .map_err(|e| bad(e.to_string()))?
            .to_string()
    } else {
        text.to_owned()
    };
    let mut out = vec![text.to_owned()];
    if let Ok(uri) = supply::from_epcis::tracked_epc(&Epc(as_link.clone()), state) {
        out.push(uri.to_string());
    } else if as_link != text {
        out.push(as_link);
    }
    out.dedup();
    Ok(out)
}

/// `GET /epcis/epcs/{epc}/events`: the events naming the EPC (as any of its EPCs or the
/// parent), oldest first, here and (as for `/epcis/events`) at the other nodes; `403` when
/// the caller may see none of those found.
pub async fn epc_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(epc): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, EpcisError> {
    let mut q = Query::parse(raw.as_deref())?;
    let (viewer, found) = {
        let cx = context(&app, &headers)?;
        q.of_epc(&cx.state, &epc)?;
        let found = find(&app, &cx.state, &cx.viewer, &q)?;
        (cx.viewer, found)
    };
    let mut shown = found.shown;
    let elsewhere = super::share::forward(&app, &viewer.org, raw.as_deref().unwrap_or(""), Some(&epc)).await;
    shown.extend(elsewhere.shown);
    if shown.is_empty() && (found.hidden || elsewhere.hidden) {
        return Err(EpcisError::forbidden(
            "the events of this EPC are shown to its trading partners and the regulator",
        ));
    }
    Ok(answer(
        shown,
        &q,
        &format!("/epcis/epcs/{epc}/events?"),
        &elsewhere.unanswered,
    ))
}
