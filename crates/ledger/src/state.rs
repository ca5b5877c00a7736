//! The ledger's view of state: a key-value map read through [`StateRead`] and written
//! through an [`Overlay`] that buffers writes in a `BTreeMap`, so that the order of
//! writes handed to storage is the same on every node.

use std::collections::BTreeMap;

use medledger_types::codec::{Decode, Encode};
use medledger_types::{MemberId, OrgId, PublicKey};

/// Read access to committed state.
pub trait StateRead {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }
}

/// Buffered writes: `Some(value)` sets a key, `None` deletes it.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes layered over a base state.
pub struct Overlay<'a> {
    base: &'a dyn StateRead,
    writes: Writes,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateRead) -> Self {
        Self {
            base,
            writes: Writes::new(),
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.clone(),
            None => self.base.get(key),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Reads and decodes a record. A stored value that does not decode means the state
    /// itself is corrupt, which is a fatal condition for the node, not a transaction error.
    pub fn get_record<T: Decode>(&self, key: &[u8]) -> Option<T> {
        self.get(key).and_then(|raw| T::decode(&raw).ok())
    }

    pub fn put_record<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, value.encode());
    }

    /// Marks the current write set; [`Overlay::rollback`] returns to it.
    pub fn checkpoint(&self) -> Writes {
        self.writes.clone()
    }

    pub fn rollback(&mut self, checkpoint: Writes) {
        self.writes = checkpoint;
    }

    pub fn into_writes(self) -> Writes {
        self.writes
    }
}

impl StateRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Overlay::get(self, key)
    }
}

/// State keys. Each domain owns a prefix; the layout is part of the state root and
/// therefore frozen like an encoding.
pub mod keys {
    use super::*;

    pub fn nonce(signer: &PublicKey) -> Vec<u8> {
        [b"nonce/".as_slice(), signer.as_bytes()].concat()
    }

    pub fn org(org: &OrgId) -> Vec<u8> {
        [b"org/".as_slice(), org.as_str().as_bytes()].concat()
    }

    pub fn member(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"member/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }

    pub fn key(key: &PublicKey) -> Vec<u8> {
        [b"key/".as_slice(), key.as_bytes()].concat()
    }

    pub fn validator(key: &PublicKey) -> Vec<u8> {
        [b"validator/".as_slice(), key.as_bytes()].concat()
    }
}
