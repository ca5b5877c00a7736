//! The state a new block executes against: the committed store, plus at most one block
//! that has been executed but is still being written. This lets a node execute block
//! `n + 1` while block `n` is committed (fsync) on another thread.

use medledger_ledger::StateRead;

use crate::StoreError;
use crate::reader::StoreReader;
use crate::tree::StateTree;
use crate::write::StagedState;

pub struct StateView<'a> {
    base: &'a StoreReader,
    pending: Option<&'a StagedState>,
}

impl<'a> StateView<'a> {
    /// `pending`, if any, must be the block right after `base`'s head.
    pub fn new(base: &'a StoreReader, pending: Option<&'a StagedState>) -> Self {
        StateView { base, pending }
    }

    pub fn base(&self) -> &StoreReader {
        self.base
    }

    /// The state tree the next block's writes apply to.
    pub(crate) fn tree(&self) -> Result<StateTree, StoreError> {
        match self.pending {
            Some(p) => Ok(p.tree.clone()),
            None => self.base.tree(),
        }
    }
}

impl StateRead for StateView<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.pending.and_then(|p| p.writes.get(key)) {
            return v.clone();
        }
        self.base.get(key)
    }
}
