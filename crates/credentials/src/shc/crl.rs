//! Card revocation lists (spec "Revocation"): `{"kid", "method": "rid", "ctr", "rids"}`,
//! published per key at `<iss>/.well-known/crl/<kid>.json`.

use super::ShcError;
use serde_json::Value;

pub const MAX_CRL_BYTES: usize = 4 * 1024 * 1024;
/// A `rid` is at most 24 characters of the base64url alphabet.
pub const MAX_RID_CHARS: usize = 24;

/// One `rids` entry: a revoked `rid`, optionally only for cards issued before a time.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokedRid {
    pub rid: String,
    /// Seconds since the epoch; cards with `nbf` before it are revoked.
    pub before: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Crl {
    pub kid: String,
    pub ctr: u64,
    pub rids: Vec<RevokedRid>,
}

pub fn is_rid(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_RID_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Crl {
    pub fn from_json(text: &str) -> Result<Crl, ShcError> {
        if text.len() > MAX_CRL_BYTES {
            return Err(ShcError::Crl("larger than 4 MiB"));
        }
        let v: Value = serde_json::from_str(text).map_err(|_| ShcError::Crl("not JSON"))?;
        if v.get("method").and_then(Value::as_str) != Some("rid") {
            return Err(ShcError::Crl("method is not rid"));
        }
        let kid = v
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(ShcError::Crl("no kid"))?
            .to_owned();
        // The spec's template shows ctr as a string; its example list has a number.
        let ctr = match v.get("ctr") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or(ShcError::Crl("ctr is not a counter"))?;
        let rids = v
            .get("rids")
            .and_then(Value::as_array)
            .ok_or(ShcError::Crl("no rids array"))?
            .iter()
            .map(|r| {
                let s = r.as_str().ok_or(ShcError::Crl("a rid is not a string"))?;
                let (rid, before) = match s.split_once('.') {
                    None => (s, None),
                    Some((rid, ts)) => {
                        let ok = !ts.is_empty() && ts.len() <= 12 && ts.bytes().all(|b| b.is_ascii_digit());
                        let ts: u64 = ts
                            .parse()
                            .ok()
                            .filter(|_| ok)
                            .ok_or(ShcError::Crl("a rid's timestamp is not a number of seconds"))?;
                        (rid, Some(ts as f64))
                    }
                };
                if !is_rid(rid) {
                    return Err(ShcError::Crl("a rid is not 1-24 base64url characters"));
                }
                Ok(RevokedRid {
                    rid: rid.to_owned(),
                    before,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Crl { kid, ctr, rids })
    }

    /// Whether a card with `rid`, issued at `nbf`, is revoked by this list.
    pub fn revokes(&self, rid: &str, nbf: f64) -> bool {
        self.rids
            .iter()
            .any(|r| r.rid == rid && r.before.is_none_or(|before| nbf < before))
    }
}
