//! `identity.set_client_keys`: the public keys a member's backend client signs SMART
//! client assertions with, beside its Ed25519 ledger key: ES384 (ECDSA on P-384) and
//! RS384 (RSASSA-PKCS1-v1_5 with SHA-384), the algorithms SMART Backend Services asks
//! servers to accept (RFC 7518 §3.3, §3.4). A member's JWK Set, in the ledger's own
//! encoding; the whole set is replaced each time (an empty set removes it).
//!
//! Signed by an admin of the member's organisation, or by the member with its current
//! Ed25519 key. The keys only let the member ask a node for a bearer token; they never
//! sign a transaction.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{member_record, require_admin, require_org};
use crate::error::TxError;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0106);

/// Most keys in one member's set (two per algorithm, for rotation).
pub const MAX_KEYS: usize = 4;
/// Longest key id.
pub const MAX_KID: usize = 64;
/// RSA moduli from 2048 to 8192 bits (RFC 7518 §3.3 asks at least 2048).
pub const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// A public key a client signs assertions with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientKeyMaterial {
    /// ES384: the P-384 point, its affine coordinates, 48 bytes each (a JWK's `x`, `y`).
    EcP384 { x: Vec<u8>, y: Vec<u8> },
    /// RS384: the modulus and public exponent, big-endian without leading zeros (a
    /// JWK's `n`, `e`).
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl ClientKeyMaterial {
    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            ClientKeyMaterial::EcP384 { .. } => "ES384",
            ClientKeyMaterial::Rsa { .. } => "RS384",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKey {
    /// The JWK's `kid`, which a client assertion's header names.
    pub kid: String,
    pub key: ClientKeyMaterial,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetClientKeys {
    pub org: OrgId,
    pub member: MemberId,
    pub keys: Vec<ClientKey>,
}

/// A member's client keys as kept in state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKeys(pub Vec<ClientKey>);

fn invalid(what: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { what, reason }
}

impl Encode for ClientKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.kid);
        match &self.key {
            ClientKeyMaterial::EcP384 { x, y } => {
                put::u8(out, 0);
                out.extend_from_slice(x);
                out.extend_from_slice(y);
            }
            ClientKeyMaterial::Rsa { n, e } => {
                put::u8(out, 1);
                put::bytes(out, n);
                put::bytes(out, e);
            }
        }
    }
}

impl Decode for ClientKey {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kid = r.string(MAX_KID, "kid")?;
        if kid.is_empty()
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid("kid", "1 to 64 of A-Z a-z 0-9 - _ ."));
        }
        let key = match r.u8("key type")? {
            0 => ClientKeyMaterial::EcP384 {
                x: r.array::<48>("x")?.to_vec(),
                y: r.array::<48>("y")?.to_vec(),
            },
            1 => {
                let n = r.bytes(*RSA_MODULUS_BYTES.end(), "n")?.to_vec();
                let e = r.bytes(8, "e")?.to_vec();
                if !RSA_MODULUS_BYTES.contains(&n.len()) || n.first() == Some(&0) {
                    return Err(invalid("n", "an RSA modulus of 2048 to 8192 bits"));
                }
                if e.is_empty() || e.first() == Some(&0) || e.last().is_none_or(|b| b % 2 == 0) || e == [1] {
                    return Err(invalid("e", "an odd public exponent above 1"));
                }
                ClientKeyMaterial::Rsa { n, e }
            }
            _ => return Err(invalid("key type", "0 (P-384) or 1 (RSA)")),
        };
        Ok(ClientKey { kid, key })
    }
}

impl Encode for ClientKeys {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.0.len());
        for k in &self.0 {
            k.encode_to(out);
        }
    }
}

impl Decode for ClientKeys {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let keys = r.seq(MAX_KEYS, 100, "client keys", ClientKey::decode_from)?;
        let mut kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        kids.sort_unstable();
        if kids.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("kid", "each kid once"));
        }
        Ok(ClientKeys(keys))
    }
}

impl Encode for SetClientKeys {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.org.encode_to(out);
        self.member.encode_to(out);
        ClientKeys(self.keys.clone()).encode_to(out);
    }
}

impl Decode for SetClientKeys {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SetClientKeys {
            org: OrgId::decode_from(r)?,
            member: MemberId::decode_from(r)?,
            keys: ClientKeys::decode_from(r)?.0,
        })
    }
}

impl SetClientKeys {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_org(state, &self.org)?;
        let member = member_record(state, &self.org, &self.member)?;
        if !member.active {
            return Err(TxError::MemberRevoked {
                org: self.org.clone(),
                member: self.member.clone(),
            });
        }
        if *signer != member.key {
            require_admin(state, signer, &self.org)?;
        }
        let key = keys::client_keys(&self.org, &self.member);
        if self.keys.is_empty() {
            state.delete(key);
        } else {
            state.put_record(key, &ClientKeys(self.keys.clone()));
        }
        Ok(vec![Event::ClientKeysSet {
            org: self.org.clone(),
            member: self.member.clone(),
            keys: self.keys.len() as u32,
        }])
    }
}

/// A member's client keys (empty when none are set).
pub fn client_keys(state: &dyn crate::state::StateRead, org: &OrgId, member: &MemberId) -> Vec<ClientKey> {
    crate::state::read::<ClientKeys>(state, &keys::client_keys(org, member))
        .map(|k| k.0)
        .unwrap_or_default()
}
