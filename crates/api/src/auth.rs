//! SMART Backend Services-style authentication.
//!
//! A registered member (practitioner, patient, service, admin) signs a JWT client
//! assertion with its registered Ed25519 key (`alg: EdDSA`, `kid`: the key in hex) and
//! exchanges it at `POST /auth/token` (`grant_type=client_credentials`,
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`) for a
//! short-lived opaque bearer token carrying SMART scopes. The client id is
//! `<org>/<member>`. Every FHIR request checks the token, its expiry and that the
//! member's key is still active on the ledger: revoking a member stops its tokens at the
//! next block.
//!
//! The assertion's `aud` must be exactly this node's token URL (`<public_url>/auth/token`),
//! `exp` at most five minutes ahead, `iat`/`nbf` (when present) not in the future, and its
//! `jti` is single-use: used ids are kept durably in the custody journal until they
//! expire, so a restart does not reopen them. At most `MAX_TOKENS` tokens live at once;
//! past that, new ones are refused until old ones expire.
//!
//! Besides EdDSA with the ledger key, an assertion may be signed with ES384 or RS384 (what
//! SMART Backend Services asks servers to accept, and what off-the-shelf backend clients
//! use) under a client key the member registered on the ledger with
//! `identity.set_client_keys` (its JWK Set), named by the header's `kid`; the member is
//! found by the assertion's `iss`, which must equal `sub` and the client id.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medledger_crypto::jws::{self, JwsHeader, VerifyingKey};
use medledger_custody::Actor;
use medledger_fhir::scope::ScopeSet;
use medledger_ledger::StateRead;
use medledger_ledger::identity::set_client_keys::{self, ClientKeyMaterial};
use medledger_ledger::identity::{KeyRecord, KeyStatus, MemberKind};
use medledger_ledger::keys;
use medledger_types::PublicKey;
use medledger_types::codec::Decode;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest client assertion accepted.
const MAX_ASSERTION: usize = 8 * 1024;
/// Most live tokens kept; the oldest expire first anyway.
const MAX_TOKENS: usize = 1_000_000;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub key: PublicKey,
    pub scopes: ScopeSet,
    pub expires_s: u64,
}

#[derive(Default)]
pub struct Tokens {
    live: Mutex<HashMap<String, Caller>>,
}

/// How far a client's clock may run ahead of ours, for `iat` and `nbf`.
const CLOCK_SKEW_SECS: u64 = 60;

fn now_s() -> u64 {
    medledger_node::node::now_ms().0 / 1000
}

/// The scopes each kind of member may hold at most.
pub fn ceiling(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Practitioner => "user/*.cruds",
        // `d` only serves `$erase` of their own records (the guard checks the role).
        MemberKind::Patient => "patient/*.rds",
        MemberKind::Admin | MemberKind::Service => "system/*.cruds",
        MemberKind::Device => "system/Observation.c system/Observation.r",
        // Access logs, consents and erasure of the patients whose records the
        // organisation holds; clinical records only through the patient's consent.
        MemberKind::Privacy => "system/*.rds",
    }
}

/// An OAuth error (RFC 6749 §5.2), which token endpoints use instead of OperationOutcome.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            [("cache-control", "no-store")],
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: u64,
    jti: String,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
}

/// The client id an assertion claims (`iss`), read before its signature is checked only
/// to find the key to check it with.
fn claimed_client(assertion: &str) -> Option<(medledger_types::OrgId, medledger_types::MemberId)> {
    let payload = assertion.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let (org, member) = claims.get("iss")?.as_str()?.split_once('/')?;
    Some((org.parse().ok()?, member.parse().ok()?))
}

/// A token request's form, checked for shape.
#[derive(Debug)]
pub struct TokenRequest {
    pub assertion: String,
    pub scopes: ScopeSet,
}

/// Longest token request form accepted.
pub const MAX_FORM: usize = 16 * 1024;

/// Parses a token request (`application/x-www-form-urlencoded`): the grant type, the
/// assertion type, the assertion and the scopes. Pure, for the fuzzer and the endpoint.
pub fn parse_token_form(content_type: &str, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_FORM {
        return Err(OAuthError::new("invalid_request", "the form is too large"));
    }
    let form: TokenForm = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::new("invalid_request", "the form does not parse"))?;
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ));
    }
    if form.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
        return Err(OAuthError::new(
            "invalid_request",
            format!("client_assertion_type must be {ASSERTION_TYPE}"),
        ));
    }
    let assertion = form
        .client_assertion
        .ok_or_else(|| OAuthError::new("invalid_request", "client_assertion is missing"))?;
    if assertion.len() > MAX_ASSERTION {
        return Err(OAuthError::new("invalid_client", "the client assertion is too long"));
    }
    let requested = form
        .scope
        .ok_or_else(|| OAuthError::new("invalid_request", "scope is missing"))?;
    let scopes = ScopeSet::parse(&requested).map_err(|e| OAuthError::new("invalid_scope", e.to_string()))?;
    Ok(TokenRequest { assertion, scopes })
}

/// `POST /auth/token`
pub async fn token(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    match issue(&app, &headers, &body).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn issue(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let TokenRequest {
        assertion,
        scopes: requested,
    } = parse_token_form(ctype, body)?;
    let custody = app.custody.as_ref().ok_or_else(|| {
        OAuthError::new(
            "temporarily_unavailable",
            "this node keeps no records and issues no tokens",
        )
    })?;

    let state = app
        .node
        .store()
        .reader()
        .map_err(|_| OAuthError::new("temporarily_unavailable", "the ledger cannot be read"))?;
    let mut record: Option<(PublicKey, KeyRecord)> = None;
    let (_, claims) = jws::verify_compact_any(&assertion, MAX_ASSERTION, |h: &JwsHeader| {
        if h.alg == "EdDSA" || h.alg == "Ed25519" {
            // The member's ledger key, named by its hex in `kid`.
            let key: PublicKey = h.kid.as_deref()?.parse().ok()?;
            let rec = state
                .get(&keys::key(&key))
                .and_then(|raw| KeyRecord::decode(&raw).ok())?;
            record = Some((key, rec));
            return Some(VerifyingKey::Ed25519(key));
        }
        // ES384 / RS384: one of the client keys the member registered on the ledger
        // (`identity.set_client_keys`), found by the client id the assertion claims (its
        // `iss`, checked again once the signature holds) and the header's `kid`.
        let (org, member) = claimed_client(&assertion)?;
        let m = medledger_ledger::identity::active_member(&state, &org, &member)?;
        let rec = state
            .get(&keys::key(&m.key))
            .and_then(|raw| KeyRecord::decode(&raw).ok())?;
        let kid = h.kid.as_deref()?;
        let found = set_client_keys::client_keys(&state, &org, &member)
            .into_iter()
            .find(|k| k.kid == kid && k.key.alg() == h.alg)?;
        record = Some((m.key, rec));
        Some(match found.key {
            ClientKeyMaterial::EcP384 { x, y } => VerifyingKey::EcP384 { x, y },
            ClientKeyMaterial::Rsa { n, e } => VerifyingKey::Rsa { n, e },
        })
    })
    .map_err(|e| OAuthError::new("invalid_client", format!("client assertion: {e}")))?;
    let (key, rec) = record.ok_or_else(|| OAuthError::new("invalid_client", "unknown key"))?;
    if rec.status != KeyStatus::Active {
        return Err(OAuthError::new("invalid_client", "this key is revoked or rotated out"));
    }
    if medledger_ledger::identity::vote_org::stops(&state, &rec.org, rec.kind) {
        return Err(OAuthError::new(
            "invalid_client",
            "this member's organisation is suspended by the consortium",
        ));
    }
    let c: AssertionClaims = serde_json::from_value(claims)
        .map_err(|_| OAuthError::new("invalid_client", "the assertion lacks iss, sub, aud, exp or jti"))?;
    let client_id = format!("{}/{}", rec.org, rec.member);
    if c.iss != client_id || c.sub != client_id {
        return Err(OAuthError::new(
            "invalid_client",
            "iss and sub must both be the client id <org>/<member> of the signing key",
        ));
    }
    let token_url = format!("{}/auth/token", app.node.config().public_url());
    let aud_ok = |a: &str| a == token_url;
    let aud_matches = match &c.aud {
        serde_json::Value::String(a) => aud_ok(a),
        serde_json::Value::Array(v) => v.iter().any(|a| a.as_str().is_some_and(aud_ok)),
        _ => false,
    };
    if !aud_matches {
        return Err(OAuthError::new(
            "invalid_client",
            format!("aud must be this server's token URL, {token_url}"),
        ));
    }
    let now = now_s();
    if c.iat.is_some_and(|t| t > now + CLOCK_SKEW_SECS) || c.nbf.is_some_and(|t| t > now + CLOCK_SKEW_SECS) {
        return Err(OAuthError::new(
            "invalid_client",
            "the assertion is not valid yet (iat or nbf is in the future)",
        ));
    }
    if c.iat.is_some_and(|t| t + 300 + CLOCK_SKEW_SECS < now) {
        return Err(OAuthError::new(
            "invalid_client",
            "the assertion was issued too long ago",
        ));
    }
    if c.exp <= now {
        return Err(OAuthError::new("invalid_client", "the assertion has expired"));
    }
    if c.exp > now + 300 + 30 {
        return Err(OAuthError::new(
            "invalid_client",
            "exp may be at most five minutes in the future",
        ));
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(OAuthError::new("invalid_client", "jti must be 1 to 256 characters"));
    }
    let ceiling = ScopeSet::parse(ceiling(rec.kind)).map_err(|e| OAuthError::new("server_error", e.to_string()))?;
    let granted = requested.narrow(&ceiling);
    if granted.is_empty() {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("a {} may hold at most: {}", rec.kind.name(), ceiling),
        ));
    }
    // The assertion is spent only once everything else about it holds, and durably.
    match custody
        .use_assertion(format!("{client_id}|{}", c.jti), c.exp, now)
        .await
    {
        Ok(()) => {}
        Err(medledger_custody::CustodyError::Replayed) => {
            return Err(OAuthError::new(
                "invalid_client",
                "this assertion (jti) was already used",
            ));
        }
        Err(_) => {
            return Err(OAuthError::new(
                "temporarily_unavailable",
                "the node cannot record the assertion",
            ));
        }
    }
    let ttl = app.node.config().fhir.token_ttl_secs;
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let caller = Caller {
        actor: Actor {
            org: rec.org.clone(),
            member: rec.member.clone(),
            kind: rec.kind,
        },
        key,
        scopes: granted.clone(),
        expires_s: now + ttl,
    };
    {
        let mut live = app.tokens.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.len() >= MAX_TOKENS {
            live.retain(|_, c| c.expires_s > now);
        }
        if live.len() >= MAX_TOKENS {
            return Err(OAuthError::new(
                "temporarily_unavailable",
                "this node holds the most live tokens it keeps; try again when some expire",
            ));
        }
        live.insert(token.clone(), caller);
    }
    Ok((
        [("cache-control", "no-store"), ("pragma", "no-cache")],
        Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl,
            "scope": granted.to_string(),
        })),
    )
        .into_response())
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Unknown,
    Expired,
    Revoked,
    OrgSuspended,
}

impl TokenProblem {
    pub fn message(self) -> &'static str {
        match self {
            TokenProblem::Missing => "an access token is required (Authorization: Bearer …; see POST /auth/token)",
            TokenProblem::Unknown => "the access token is not valid here",
            TokenProblem::Expired => "the access token has expired; request a new one",
            TokenProblem::Revoked => "the member behind this token has been revoked",
            TokenProblem::OrgSuspended => "the organisation behind this token is suspended by the consortium",
        }
    }
}

impl Tokens {
    /// The caller behind `Authorization: Bearer …`, re-checked against the ledger.
    pub fn caller(&self, headers: &HeaderMap, state: &dyn StateRead) -> Result<Caller, TokenProblem> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or(TokenProblem::Missing)?
            .trim();
        let caller = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
            .ok_or(TokenProblem::Unknown)?;
        if caller.expires_s <= now_s() {
            return Err(TokenProblem::Expired);
        }
        let rec = medledger_ledger::identity::active_key(state, &caller.key).ok_or(TokenProblem::Revoked)?;
        if medledger_ledger::identity::vote_org::stops(state, &rec.org, rec.kind) {
            return Err(TokenProblem::OrgSuspended);
        }
        Ok(caller)
    }
}
