//! The state a new block executes against: the committed store, plus at most one block
//! that has been executed but is still being written. This lets a node execute block
//! `n + 1` while block `n` is committed (fsync) on another thread.

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use medledger_ledger::StateRead;

use crate::reader::StoreReader;
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
}

impl StateRead for StateView<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.pending.and_then(|p| p.writes.get(key)) {
            return v.clone();
        }
        self.base.get(key)
    }
}

impl TreeReader for StateView<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if let Some(node) = self.pending.and_then(|p| p.batch.node_batch.get_node(node_key)) {
            return Ok(Some(node.clone()));
        }
        self.base.get_node_option(node_key)
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        if let Some(v) = self.pending.and_then(|p| p.by_hash.get(&key_hash.0)) {
            return Ok(v.clone());
        }
        self.base.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("tree restore is not supported")
    }
}
