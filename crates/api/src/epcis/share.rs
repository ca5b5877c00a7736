//! Events shared between nodes (ADR 014 §15): a query at one node also shows what the
//! other organisations' nodes hold and would show the caller's organisation.
//!
//! The full events stay with their capturer's node. When a member of an organisation this
//! node signs for (its own, or a member it hosts, `api.epcis_hosted`) queries
//! `GET /epcis/events` or `GET /epcis/epcs/{epc}/events`, the node asks every other
//! organisation's node (`p2p.peers`) the same query at `POST /node/v1/epcis/events`, in a
//! compact JWS signed with that organisation's key here (the node's service key, or the
//! hosted member's key), and merges the answers into one page.
//!
//! - **The answering node** takes the signer's organisation from the ledger (an active
//!   service key of an organisation in good standing), checks the audience (its own
//!   organisation), the expiry (at most [`LIFETIME_S`] ahead) and that the `jti` is new,
//!   and answers what that organisation may see by the same rules as a query of its own
//!   members: the capturer, the regulator, the trading partners on the path.
//! - **The asking node** believes no event it cannot check: it hashes each answered event
//!   (CBV 2.0) and keeps it only if the ledger holds a commitment with that hash, and only
//!   in the place its event time gives it. A node that does not answer within
//!   [`PEER_TIMEOUT`] is named in the `medledger-unanswered` header; the query still
//!   answers what the others showed.
//! - A caller of another organisation (a member querying at a node that neither is theirs
//!   nor hosts them) sees this node's events only: the node holds no key to ask for them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use medledger_crypto::Keypair;
use medledger_crypto::jws::{self, JwsHeader};
use medledger_gs1::epcis::{Format, parse_document};
use medledger_ledger::StateRead;
use medledger_ledger::identity::{KeyRecord, MemberKind};
use medledger_types::{Hash32, OrgId, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::EpcisError;
use super::query::{Place, Query, Shown, Viewer, find};
use crate::AppState;

/// The route one node asks another's events at.
pub const ROUTE: &str = "/node/v1/epcis/events";
/// The response header naming the organisations whose nodes did not answer.
pub const UNANSWERED_HEADER: &str = "medledger-unanswered";
/// How far ahead an ask may expire.
pub const LIFETIME_S: u64 = 60;
/// How long the asking node waits for each other node.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest ask accepted (the query string is bounded by the HTTP server's too).
const MAX_ASK: usize = 16 * 1024;
/// Longest answer read: a page and one of events, each bounded by the capture limits.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// Most ask ids remembered; past that, expired ones are forgotten first.
const MAX_SEEN: usize = 100_000;

/// What one node asks another.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    /// The organisation of the node asked.
    aud: String,
    /// Unix seconds.
    exp: u64,
    /// Single use.
    jti: String,
    /// The caller's query string, as given (the answering node parses it the same way).
    query: String,
    /// The path's EPC, for `GET /epcis/epcs/{epc}/events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epc: Option<String>,
}

/// What the node asked answers.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    /// In order, after the query's place; at most a page and one.
    events: Vec<AnsweredEvent>,
    /// Whether some matched that the asking organisation may not see.
    hidden: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct AnsweredEvent {
    /// The event's place, as a `nextPageToken`.
    place: String,
    event: Value,
}

/// What the other nodes showed.
#[derive(Default)]
pub struct Elsewhere {
    pub shown: Vec<Shown>,
    pub hidden: bool,
    pub unanswered: Vec<OrgId>,
}

/// The ask ids already served, until they expire.
#[derive(Default)]
pub struct SeenAsks(Mutex<HashMap<String, u64>>);

impl SeenAsks {
    /// Whether `id` is new (and remembers it until `exp`); `false` also when too many live
    /// ids are remembered to take another.
    fn first_use(&self, id: String, exp: u64, now: u64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, e| *e > now);
            if seen.len() >= MAX_SEEN {
                return false;
            }
        }
        seen.insert(id, exp).is_none()
    }
}

fn now_s() -> u64 {
    medledger_node::node::now_ms().0 / 1000
}

/// Asks the other organisations' nodes the query on behalf of `org`, if this node signs
/// for `org`; answers only what checks against the ledger.
pub async fn forward(app: &AppState, org: &OrgId, query: &str, epc: Option<&str>) -> Elsewhere {
    let (Some(epcis), Some(custody)) = (app.epcis.as_ref(), app.custody.as_ref()) else {
        return Elsewhere::default();
    };
    let Some(key) = epcis.signer_for(org) else {
        return Elsewhere::default();
    };
    let mut asks = tokio::task::JoinSet::new();
    for (peer, urls) in custody.peer_apis() {
        if peer == epcis.org() {
            continue;
        }
        let token = sign_ask(key, peer, query, epc);
        let client = custody.peer_client(peer).map_err(|e| e.to_string());
        let (peer, urls) = (peer.clone(), urls.clone());
        asks.spawn(async move {
            let answer = match client {
                Ok(client) => ask(&client, &urls, &token).await,
                Err(e) => Err(e),
            };
            (peer, answer)
        });
    }
    let answers = asks.join_all().await;
    let Ok(state) = app.node.store().reader() else {
        return Elsewhere {
            unanswered: answers.into_iter().map(|(peer, _)| peer).collect(),
            ..Elsewhere::default()
        };
    };
    let mut out = Elsewhere::default();
    for (peer, answer) in answers {
        match answer {
            Ok(answer) => {
                out.hidden |= answer.hidden;
                for e in answer.events {
                    match checked(&state, e) {
                        Ok(shown) => out.shown.push(shown),
                        Err(why) => tracing::warn!(%peer, "an event another node answered is dropped: {why}"),
                    }
                }
            }
            Err(why) => {
                tracing::warn!(%peer, "another node did not answer an EPCIS query: {why}");
                out.unanswered.push(peer);
            }
        }
    }
    out
}

fn sign_ask(key: &Keypair, peer: &OrgId, query: &str, epc: Option<&str>) -> String {
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
    let ask = Ask {
        aud: peer.to_string(),
        exp: now_s() + LIFETIME_S,
        jti: hex::encode(jti),
        query: query.to_owned(),
        epc: epc.map(str::to_owned),
    };
    let claims = serde_json::to_value(&ask).unwrap_or_default();
    let header = json!({"typ": "JWT", "kid": key.public().to_string()});
    jws::sign_compact(&header, &claims, key)
}

/// Sends the ask to each address of the node in turn until one answers.
async fn ask(client: &reqwest::Client, urls: &[String], token: &str) -> Result<Answer, String> {
    let mut last = "no API address is configured for it".to_owned();
    for url in urls {
        match tokio::time::timeout(PEER_TIMEOUT, ask_one(client, url, token)).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("{url} did not answer within {PEER_TIMEOUT:?}"),
        }
    }
    Err(last)
}

async fn ask_one(client: &reqwest::Client, url: &str, token: &str) -> Result<Answer, String> {
    let mut resp = client
        .post(format!("{url}{ROUTE}"))
        .header("content-type", "application/jose")
        .body(token.to_owned())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("{url} answered more than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let detail = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(format!("{url} answered {status}: {detail}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url} answered something else than events: {e}"))
}

/// The answered event, if it hashes (CBV 2.0) to a commitment on the ledger and its place
/// is the one its event time and hash give it.
fn checked(state: &dyn StateRead, answered: AnsweredEvent) -> Result<Shown, String> {
    let place = Place::parse(&answered.place).ok_or("its place is not a page token")?;
    let document = json!({
        "@context": super::render::context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2000-01-01T00:00:00Z",
        "epcisBody": {"eventList": [answered.event.clone()]}
    });
    let bytes = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
    let parsed = parse_document(&bytes, Format::JsonLd).map_err(|e| format!("it does not read as EPCIS: {e}"))?;
    let [event] = parsed.events.as_slice() else {
        return Err("it is not one event".into());
    };
    let digest = event.hash_id().digest();
    let key = if event.error_declaration.is_some() {
        format!("{}/declaration", hex::encode(digest))
    } else {
        hex::encode(digest)
    };
    if place != Place(event.event_time.unix_millis_rounded(), key) {
        return Err("its place is not its event time and hash".into());
    }
    if medledger_ledger::supply::event(state, &Hash32(digest)).is_none() {
        return Err("the ledger holds no commitment with its hash".into());
    }
    Ok(Shown {
        place,
        event: answered.event,
    })
}

/// The signer of an ask: an active service key of an organisation in good standing.
fn service_signer(state: &dyn StateRead, key: &PublicKey) -> Option<KeyRecord> {
    medledger_ledger::identity::active_key(state, key)
        .filter(|r| r.kind == MemberKind::Service && !medledger_ledger::identity::vote_org::is_suspended(state, &r.org))
}

fn unauthorized(detail: impl Into<String>) -> EpcisError {
    EpcisError::new(StatusCode::UNAUTHORIZED, "SecurityException", "Unauthorized", detail)
}

/// `POST /node/v1/epcis/events`: another node asks, for its organisation, the events this
/// node holds.
pub async fn node_events(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, EpcisError> {
    let epcis = app.epcis()?;
    let token = std::str::from_utf8(&body)
        .map_err(|_| unauthorized("the ask must be a compact JWS"))?
        .trim();
    let state = app
        .node
        .store()
        .reader()
        .map_err(|_| EpcisError::unavailable("the ledger cannot be read"))?;
    let mut signer = None;
    let (_, claims) = jws::verify_compact(token, MAX_ASK, |h: &JwsHeader| {
        let key: PublicKey = h.kid.as_deref()?.parse().ok()?;
        signer = Some(service_signer(&state, &key)?);
        Some(key)
    })
    .map_err(|e| unauthorized(format!("the ask's signature: {e}")))?;
    let signer = signer.ok_or_else(|| unauthorized("the ask is not signed by an organisation's service key"))?;
    let ask: Ask = serde_json::from_value(claims).map_err(|e| EpcisError::validation(format!("the ask: {e}")))?;
    if ask.aud != epcis.org().as_str() {
        return Err(EpcisError::forbidden("the ask is addressed to another organisation"));
    }
    let now = now_s();
    if ask.exp <= now || ask.exp > now + 2 * LIFETIME_S {
        return Err(unauthorized("the ask has expired or lives too long"));
    }
    if ask.jti.len() > 64
        || !epcis
            .seen_asks
            .first_use(format!("{}|{}", signer.org, ask.jti), ask.exp, now)
    {
        return Err(unauthorized("the ask was already used"));
    }
    let mut q = Query::parse(Some(&ask.query))?;
    if let Some(epc) = &ask.epc {
        q.of_epc(&state, epc)?;
    }
    let viewer = Viewer::of(&state, signer.org.clone(), epcis.org().clone());
    let found = find(&app, &state, &viewer, &q)?;
    let answer = Answer {
        events: found
            .shown
            .into_iter()
            .map(|s| AnsweredEvent {
                place: s.place.token(),
                event: s.event,
            })
            .collect(),
        hidden: found.hidden,
    };
    Ok(Json(serde_json::to_value(&answer).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ask id is served once; when the memory is full, expired ids make room and live
    /// ones are not forgotten.
    #[test]
    fn an_ask_is_served_once() {
        let seen = SeenAsks::default();
        assert!(seen.first_use("a|1".into(), 100, 10));
        assert!(!seen.first_use("a|1".into(), 100, 10));
        assert!(seen.first_use("b|1".into(), 100, 10), "another signer's id");
        {
            let mut m = seen.0.lock().unwrap();
            m.clear();
            for i in 0..MAX_SEEN {
                m.insert(format!("live|{i}"), 100);
            }
        }
        assert!(!seen.first_use("c|1".into(), 100, 10), "full of live ids: refused");
        {
            let mut m = seen.0.lock().unwrap();
            m.insert("live|0".into(), 5);
        }
        assert!(seen.first_use("c|1".into(), 100, 10), "an expired id made room");
        assert!(!seen.first_use("live|1".into(), 100, 10));
    }

    fn answered(place: Option<String>, edit: impl FnOnce(&mut Value)) -> (AnsweredEvent, String) {
        let doc = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2025-03-03T09:00:00.000Z",
            "epcisBody": {"eventList": [{
                "type": "ObjectEvent",
                "eventTime": "2025-03-03T09:00:00.000Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:0614141.012345.S1"],
                "action": "OBSERVE",
                "bizStep": "shipping",
                "disposition": "in_transit",
                "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"}
            }]}
        });
        let parsed = parse_document(&serde_json::to_vec(&doc).unwrap(), Format::JsonLd).unwrap();
        let e = &parsed.events[0];
        let digest = hex::encode(e.hash_id().digest());
        let mut event = super::super::render::event_json(e, &e.hash_id().to_string());
        edit(&mut event);
        let place = place.unwrap_or_else(|| Place(e.event_time.unix_millis_rounded(), digest.clone()).token());
        (AnsweredEvent { place, event }, digest)
    }

    /// A lying node gains nothing: an event without a commitment on the ledger, one edited
    /// after it was committed, one moved to another place in the order, and one that is
    /// not EPCIS are all dropped.
    #[test]
    fn an_answered_event_is_kept_only_as_the_ledger_committed_it() {
        let empty = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
        let (event, _) = answered(None, |_| {});
        assert!(checked(&empty, event).unwrap_err().contains("no commitment"));
        let (edited, _) = answered(None, |e| e["epcList"] = json!(["urn:epc:id:sgtin:0614141.012345.S2"]));
        assert!(checked(&empty, edited).unwrap_err().contains("place"));
        let (_, digest) = answered(None, |_| {});
        let (moved, _) = answered(Some(Place(0, digest).token()), |_| {});
        assert!(checked(&empty, moved).unwrap_err().contains("place"));
        let (junk, _) = answered(None, |e| *e = json!({"type": "NotAnEvent"}));
        assert!(checked(&empty, junk).unwrap_err().contains("EPCIS"));
    }

    /// A page token reads back to the place it was written from; others are refused.
    #[test]
    fn places_read_back_from_their_tokens() {
        let d = "ab".repeat(32);
        for place in [
            Place(1_700_000_000_000, d.clone()),
            Place(-5, format!("{d}/declaration")),
        ] {
            assert_eq!(Place::parse(&place.token()), Some(place));
        }
        for bad in [
            "",
            "12",
            "x.ab",
            &format!("1.{d}.other"),
            &format!("1.{}", "zz".repeat(32)),
            "30",
        ] {
            assert_eq!(Place::parse(bad), None, "{bad:?}");
        }
    }
}
