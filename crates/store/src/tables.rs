//! The redb tables. Their layout is a storage format: change it only with a migration.

use redb::TableDefinition;

/// `"head"` → encoded `ChainHead`; `"genesis"` → genesis hash.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// height → encoded `Block`.
pub const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// transaction hash → height (u64 LE) ‖ index in block (u32 LE).
pub const TX_INDEX: TableDefinition<&[u8; 32], &[u8; 12]> = TableDefinition::new("tx_index");
/// leaf index → encoded `LogLeaf`.
pub const LEAVES: TableDefinition<u64, &[u8]> = TableDefinition::new("log_leaves");
/// (level, index) → hash of the full subtree of the transparency log at that position,
/// for levels 1 and up; level 0 (the leaf hashes) is `leaf_hash` of `LEAVES`.
pub const LOG_NODES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("log_nodes");
/// SHA-256 of the state key (the JMT key hash) → current value.
pub const STATE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("state");
/// version (u64 BE) ‖ borsh(nibble path) → borsh(Node): the nodes of the Jellyfish
/// Merkle Tree. Big-endian versions make each block's new nodes an append.
pub const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// (version it became stale at, node key as in `JMT_NODES`) → nothing: nodes no longer
/// reachable from the latest root, deleted in sorted batches by the pruner.
pub const JMT_STALE: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("jmt_stale");

/// The key of a JMT node in `JMT_NODES`.
pub fn jmt_node_key(key: &jmt::storage::NodeKey) -> Result<Vec<u8>, std::io::Error> {
    let mut out = key.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut out, key.nibble_path())?;
    Ok(out)
}
