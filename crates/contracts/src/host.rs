//! What a contract call may read from the ledger: its own state, the facts its caller may
//! see, and the block's time. The ledger implements [`Host`]; [`MemoryHost`] is the
//! in-memory one for tests and tools.

use std::collections::BTreeMap;

use crate::engine::Write;

/// A call's read-only view of the ledger. Writes never go through it: they come back in the
/// [`Outcome`](crate::Outcome) and the caller applies them.
pub trait Host {
    /// The value under `key` in the calling contract's own state.
    fn state_get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// A ledger fact under a namespaced key (`coverage/<member>`, `member/<member>/…`,
    /// `credential/<id>`), or `None` if there is none or the caller may not see it.
    fn fact_get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// The block's time, seconds since the Unix epoch.
    fn block_time_s(&self) -> i64;
}

/// A [`Host`] over in-memory maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryHost {
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub facts: BTreeMap<Vec<u8>, Vec<u8>>,
    pub block_time_s: i64,
}

impl MemoryHost {
    /// Applies a successful call's writes.
    pub fn apply(&mut self, writes: &[Write]) {
        for w in writes {
            match &w.value {
                Some(v) => self.state.insert(w.key.clone(), v.clone()),
                None => self.state.remove(&w.key),
            };
        }
    }
}

impl Host for MemoryHost {
    fn state_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).cloned()
    }

    fn fact_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.facts.get(key).cloned()
    }

    fn block_time_s(&self) -> i64 {
        self.block_time_s
    }
}
