//! Newtypes for every identifier, index and size that crosses a crate boundary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::codec::{Decode, DecodeError, Encode, Reader, put};

/// Renders and parses fixed-size byte arrays as lowercase hex, in JSON and in text.
macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let raw = hex::decode(s).map_err(|_| ParseIdError::NotHex { what: $what })?;
                Self::from_slice(&raw).ok_or(ParseIdError::WrongLength {
                    what: $what,
                    expected: $len,
                    got: raw.len(),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
        }

        impl Decode for $name {
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.array($what).map(Self)
            }
        }
    };
}

hex_bytes!(
    /// A SHA-256 digest: transaction, block and Merkle hashes.
    Hash32, 32, "hash"
);
hex_bytes!(
    /// An Ed25519 public key (32 bytes, compressed Edwards point).
    PublicKey, 32, "public key"
);
hex_bytes!(
    /// An Ed25519 signature (64 bytes).
    Signature, 64, "signature"
);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// SHA-256 of the concatenation of `parts`.
    pub fn digest(parts: &[&[u8]]) -> Hash32 {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash32(h.finalize().into())
    }
}

/// Why an identifier could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error("{what} is not hex")]
    NotHex { what: &'static str },
    #[error("{what} must be {expected} bytes, got {got}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: &'static str },
}

macro_rules! number {
    ($(#[$doc:meta])* $name:ident, $what:expr) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                put::u64(out, self.0);
            }
        }

        impl Decode for $name {
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.u64($what).map(Self)
            }
        }
    };
}

number!(
    /// A block height; genesis state is height 0, the first block is height 1.
    Height, "height"
);
number!(
    /// A signer's transaction counter: the next transaction must carry exactly the next one.
    Nonce, "nonce"
);
number!(
    /// The position of a leaf in the transparency log, from 0.
    LeafIndex, "leaf index"
);
number!(
    /// The number of leaves in the transparency log.
    TreeSize, "tree size"
);
number!(
    /// Milliseconds since the Unix epoch, as proposed in a block header.
    TimestampMs, "timestamp"
);

impl Height {
    pub fn next(self) -> Height {
        Height(self.0 + 1)
    }
}

/// Longest text identifier (chain, organisation, member).
pub const MAX_ID_LEN: usize = 64;

/// Checks the shape shared by all text identifiers: 1–64 characters of `[A-Za-z0-9._-]`.
///
/// Identifiers are opaque handles chosen by the registering organisation. They must not
/// carry names, record numbers or anything else that identifies a patient; the narrow
/// alphabet keeps free text (and most accidental PHI) out of the ledger.
pub fn validate_id(what: &'static str, s: &str) -> Result<(), ParseIdError> {
    if s.is_empty() || s.len() > MAX_ID_LEN {
        return Err(ParseIdError::Invalid {
            what,
            reason: "must be 1 to 64 characters",
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(ParseIdError::Invalid {
            what,
            reason: "may only contain A-Z, a-z, 0-9, '.', '_' and '-'",
        });
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, ParseIdError> {
                let s = s.into();
                validate_id($what, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                put::str(out, &self.0);
            }
        }

        impl Decode for $name {
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let s = r.string(MAX_ID_LEN, $what)?;
                validate_id($what, &s).map_err(|_| DecodeError::Invalid {
                    what: $what,
                    reason: "not a valid identifier",
                })?;
                Ok(Self(s))
            }
        }
    };
}

text_id!(
    /// Names one network; part of every signed message so a signature cannot be replayed
    /// on another chain.
    ChainId, "chain id"
);
text_id!(
    /// A member organisation of the consortium.
    OrgId, "organisation id"
);
text_id!(
    /// A member of an organisation (practitioner, patient pseudonym, device, service).
    MemberId, "member id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_free_text() {
        assert!(OrgId::new("hospital-a").is_ok());
        assert!(MemberId::new("Jane Doe").is_err());
        assert!(MemberId::new("").is_err());
        assert!(MemberId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn hashes_round_trip_through_hex_and_json() {
        let h = Hash32::digest(&[b"abc"]);
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let json = serde_json_like(&h);
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(h.to_hex().parse::<Hash32>().unwrap(), h);
        assert!("zz".parse::<Hash32>().is_err());
        assert!("abcd".parse::<Hash32>().is_err());
    }

    fn serde_json_like(h: &Hash32) -> String {
        format!("\"{h}\"")
    }
}
