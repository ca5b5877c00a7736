//! One way to bind data to its context: every AEAD associated-data string and every keyed
//! hash input in medledger is
//!
//! ```text
//! domain || 0x00 || for each field: u32 little-endian length || field bytes
//! ```
//!
//! where `domain` names the purpose and version (`medledger/record/v2`, ...). Length
//! prefixes make the encoding unambiguous: no choice of field values (a `|` or a `/` in an
//! identifier system, an empty field) can make two different tuples bind to the same
//! bytes, and the domain keeps one purpose's bytes from being valid for another. The
//! domains in use are listed in [`domains`] and frozen by golden vectors.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Every binding domain in use. Changing one is a format change.
pub mod domains {
    /// A record version's ciphertext: organisation, type, id, version.
    pub const RECORD: &str = "medledger/record/v2";
    /// A data key sealed at rest under the node's key-encryption key: organisation,
    /// type, id, version.
    pub const KEY_AT_REST: &str = "medledger/key-at-rest/v1";
    /// A data key sealed to a reading node in a transfer: type, id, version, reader
    /// organisation.
    pub const TRANSFER_KEY: &str = "medledger/transfer-key/v1";
    /// The keyed hash of a business identifier: type, system present (one byte, 0 or 1),
    /// system, value.
    pub const IDENTIFIER: &str = "medledger/identifier/v2";
    /// A record's search values sealed at rest under the node's key-encryption key:
    /// organisation, type, id.
    pub const SEARCH_VALUES: &str = "medledger/search-values/v1";
}

/// The canonical binding of `fields` under `domain`.
pub fn bind(domain: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 1 + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    out.extend_from_slice(domain.as_bytes());
    out.push(0);
    for f in fields {
        // Fields are identifiers and small numbers, far below 4 GiB; a longer one would
        // be cut in its length, so refuse to pretend: saturate, and the bytes still differ.
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// HMAC-SHA-256 (RFC 2104) of the binding of `fields` under `domain`.
pub fn keyed_hash(key: &[u8; 32], domain: &str, fields: &[&[u8]]) -> [u8; 32] {
    hmac_sha256(key, &bind(domain, fields))
}

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        // HMAC takes keys of any length: this cannot happen.
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let a = bind("d", &[b"a|b", b"c"]);
        let b = bind("d", &[b"a", b"b|c"]);
        let c = bind("d", &[b"a|b|c"]);
        let d = bind("d", &[b"", b"a|b|c"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(c, d);
        assert_ne!(bind("d1", &[b"x"]), bind("d", &[b"1x"]));
        assert_eq!(
            hex::encode(bind("medledger/x/v1", &[b"ab", b""])),
            "6d65646c65646765722f782f763100020000006162 00000000".replace(' ', "")
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1 and 2 of RFC 4231 (HMAC-SHA-256).
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = [0x0b; 32];
        assert_eq!(keyed_hash(&key, "d", &[b"v"]), hmac_sha256(&key, &bind("d", &[b"v"])));
        assert_ne!(keyed_hash(&key, "d", &[b"v"]), keyed_hash(&[0x0c; 32], "d", &[b"v"]));
    }
}
