//! Node-to-node record transfer.
//!
//! The reading node sends the custodian a compact JWS signed with its service key: who
//! reads (a member of the reading node's own organisation), which version, why, and the
//! X25519 key to wrap the data key to. The custodian trusts nothing in it that its own
//! ledger cannot confirm: the signing key must be an active service key of the claimed
//! organisation, the reader an active member of it, and consent must allow the read on
//! the custodian's copy of the ledger. It answers with the ciphertext and the data key
//! re-wrapped with HPKE; the reader checks the ciphertext against the ledger anchor before
//! it unwraps and decrypts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medledger_crypto::envelope;
use medledger_crypto::jws::{self, JwsHeader};
use medledger_crypto::wrap::{self, EncryptionPublicKey};
use medledger_ledger::StateRead;
use medledger_ledger::consent::Purpose;
use medledger_ledger::identity::{KeyRecord, KeyStatus, MemberKind, MemberRecord};
use medledger_ledger::keys;
use medledger_ledger::records::RecordState;
use medledger_types::codec::Decode;
use medledger_types::{Hash32, MemberId, OrgId, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Actor, Custody, CustodyError, decide_on, lock, record_aad};
use crate::node::now_ms;

/// Longest request token accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// How far in the future a request may expire.
const MAX_LIFETIME_SECS: u64 = 120;
const REWRAP_INFO: &[u8] = b"medledger/rewrap/v1";
/// Most re-wrapped keys remembered (about 200 bytes each).
const REWRAP_CACHE: usize = 100_000;

/// The custodian's answer.
#[derive(Serialize, Deserialize)]
pub struct FetchResponse {
    pub ciphertext: String,
    pub wrapped_key: String,
}

#[derive(Serialize, Deserialize)]
struct FetchClaims {
    iss: String,
    aud: String,
    sub: String,
    kind: MemberKind,
    resource_type: String,
    id: String,
    version: u64,
    purpose: Purpose,
    break_glass: bool,
    enc: String,
    exp: u64,
    jti: String,
}

fn rewrap_aad(resource_type: &str, id: &str, version: u64, reader_org: &OrgId) -> Vec<u8> {
    format!("{resource_type}/{id}/{version}/{reader_org}").into_bytes()
}

fn split_member(s: &str) -> Option<(OrgId, MemberId)> {
    let (org, member) = s.split_once('/')?;
    Some((OrgId::new(org).ok()?, MemberId::new(member).ok()?))
}

impl Custody {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_remote(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
        version: u64,
        record: &RecordState,
        purpose: Purpose,
        break_glass: bool,
    ) -> Result<Vec<u8>, CustodyError> {
        let anchor = self
            .version_anchor(resource_type, id, version)?
            .ok_or(CustodyError::NotFound)?;
        let urls = self
            .inner
            .peers_by_org
            .get(&record.custodian)
            .cloned()
            .unwrap_or_default();
        if urls.is_empty() {
            return Err(CustodyError::Custodian(format!(
                "no node of {} is configured as a peer",
                record.custodian
            )));
        }
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
        let claims = FetchClaims {
            iss: format!("{}/{}", self.org(), self.service_member()),
            aud: record.custodian.to_string(),
            sub: format!("{}/{}", actor.org, actor.member),
            kind: actor.kind,
            resource_type: resource_type.to_string(),
            id: id.to_string(),
            version,
            purpose,
            break_glass,
            enc: self.inner.service.encryption.public().to_string(),
            exp: now_ms().0 / 1000 + 60,
            jti: hex::encode(jti),
        };
        let claims = serde_json::to_value(&claims).map_err(|e| CustodyError::Storage(e.to_string()))?;
        let header = json!({"typ": "JWT", "kid": self.inner.service.key.public().to_string()});
        let token = jws::sign_compact(&header, &claims, &self.inner.service.key);
        let mut last = CustodyError::Custodian("no custodian node answered".into());
        for url in urls {
            let resp = match self
                .inner
                .http
                .post(format!("{url}/node/v1/records/fetch"))
                .header("content-type", "application/jose")
                .body(token.clone())
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last = CustodyError::Custodian(format!("{url}: {e}"));
                    continue;
                }
            };
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                let message = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| status.to_string());
                return Err(match status.as_u16() {
                    403 => CustodyError::Denied(format!("the custodian refused: {message}")),
                    404 => CustodyError::NotFound,
                    410 => CustodyError::Gone,
                    _ => CustodyError::Custodian(message),
                });
            }
            let body: FetchResponse =
                serde_json::from_str(&text).map_err(|_| CustodyError::Custodian("malformed answer".into()))?;
            let sealed = B64
                .decode(body.ciphertext)
                .map_err(|_| CustodyError::Custodian("malformed ciphertext".into()))?;
            if Hash32::digest(&[&sealed]) != anchor.ciphertext {
                return Err(CustodyError::Tampered);
            }
            let wrapped = B64
                .decode(body.wrapped_key)
                .map_err(|_| CustodyError::Custodian("malformed wrapped key".into()))?;
            let wrap_aad = rewrap_aad(resource_type, id, version, self.org());
            let wrap_id = Hash32::digest(&[&wrapped, &wrap_aad]);
            let cached = lock(&self.inner.unwrapped).get(&wrap_id).cloned();
            let key = match cached {
                Some(k) => k,
                None => {
                    let k = wrap::unwrap_key(&self.inner.service.encryption, &wrapped, REWRAP_INFO, &wrap_aad)
                        .map_err(|_| CustodyError::Tampered)?;
                    let mut cache = lock(&self.inner.unwrapped);
                    if cache.len() >= REWRAP_CACHE {
                        cache.clear();
                    }
                    cache.insert(wrap_id, k.clone());
                    k
                }
            };
            let aad = record_aad(&record.custodian, resource_type, id, version);
            return envelope::open(&key, &sealed, &aad).map_err(|_| CustodyError::Tampered);
        }
        Err(last)
    }

    /// The custodian's side of a transfer: checks everything against its own ledger.
    pub async fn serve_fetch(&self, token: &str) -> Result<FetchResponse, CustodyError> {
        let state = self.state()?;
        let mut signer: Option<KeyRecord> = None;
        let (_, claims) = jws::verify_compact(token, MAX_REQUEST, |h: &JwsHeader| {
            let key: PublicKey = h.kid.as_deref()?.parse().ok()?;
            let rec = state
                .get(&keys::key(&key))
                .and_then(|raw| KeyRecord::decode(&raw).ok())?;
            if rec.status != KeyStatus::Active || rec.kind != MemberKind::Service {
                return None;
            }
            signer = Some(rec);
            Some(key)
        })
        .map_err(|e| CustodyError::Denied(format!("request signature: {e}")))?;
        let signer = signer.ok_or_else(|| CustodyError::Denied("unknown signing key".into()))?;
        if medledger_ledger::identity::vote_org::is_suspended(&state, &signer.org) {
            return Err(CustodyError::Denied(
                "the requesting organisation is suspended by the consortium".into(),
            ));
        }
        let c: FetchClaims =
            serde_json::from_value(claims).map_err(|_| CustodyError::BadRequest("malformed request claims".into()))?;
        if c.iss != format!("{}/{}", signer.org, signer.member) {
            return Err(CustodyError::Denied("issuer does not own the signing key".into()));
        }
        if c.aud != self.org().as_str() {
            return Err(CustodyError::Denied(
                "request is addressed to another organisation".into(),
            ));
        }
        let now = now_ms().0 / 1000;
        if c.exp <= now || c.exp > now + MAX_LIFETIME_SECS {
            return Err(CustodyError::Denied("request expired or lives too long".into()));
        }
        if !lock(&self.inner.seen_requests).first_use(format!("{}|{}", c.iss, c.jti), c.exp, now) {
            return Err(CustodyError::Denied("request replayed".into()));
        }
        let (reader_org, reader_member) =
            split_member(&c.sub).ok_or_else(|| CustodyError::BadRequest("malformed reader".into()))?;
        if reader_org != signer.org {
            return Err(CustodyError::Denied(
                "a node may only speak for its own organisation".into(),
            ));
        }
        let member = state
            .get(&keys::member(&reader_org, &reader_member))
            .and_then(|raw| MemberRecord::decode(&raw).ok())
            .ok_or_else(|| CustodyError::Denied("reader is not a registered member".into()))?;
        if !member.active || member.kind != c.kind {
            return Err(CustodyError::Denied(
                "reader is revoked or not of the stated kind".into(),
            ));
        }
        let record = medledger_ledger::records::record_state(&state, &c.resource_type, &c.id)
            .filter(|r| &r.custodian == self.org())
            .ok_or(CustodyError::NotFound)?;
        if record.erased {
            return Err(CustodyError::Gone);
        }
        let actor = Actor {
            org: reader_org.clone(),
            member: reader_member,
            kind: c.kind,
        };
        decide_on(
            &state,
            &actor,
            &c.resource_type,
            &c.id,
            &record,
            c.purpose,
            c.break_glass,
        )
        .map_err(|d| CustodyError::Denied(d.to_string()))?;
        let enc: EncryptionPublicKey = c
            .enc
            .parse()
            .map_err(|_| CustodyError::BadRequest("malformed encryption key".into()))?;
        let (mut sealed, key) = self.local_ciphertext(&c.resource_type, &c.id, c.version).await?;
        let cache_key = (
            c.resource_type.clone(),
            c.id.clone(),
            c.version,
            format!("{reader_org}|{enc}"),
        );
        let cached = lock(&self.inner.rewrapped).get(&cache_key).cloned();
        let wrapped = match cached {
            Some(w) => w,
            None => {
                let w = wrap::wrap_key(
                    &enc,
                    &key,
                    REWRAP_INFO,
                    &rewrap_aad(&c.resource_type, &c.id, c.version, &reader_org),
                );
                let mut cache = lock(&self.inner.rewrapped);
                if cache.len() >= REWRAP_CACHE {
                    cache.clear();
                }
                cache.insert(cache_key, w.clone());
                w
            }
        };
        if self.inner.tamper
            && let Some(b) = sealed.last_mut()
        {
            *b ^= 1;
        }
        Ok(FetchResponse {
            ciphertext: B64.encode(sealed),
            wrapped_key: B64.encode(wrapped),
        })
    }
}
