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
/// (level, index) → hash of the full subtree of the transparency log at that position.
pub const LOG_NODES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("log_nodes");
/// state key → current value.
pub const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// JMT key hash → state key (the preimage, to find the value in `STATE`).
pub const KEY_HASHES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("jmt_key_hashes");
/// borsh(NodeKey) → borsh(Node): the live nodes of the Jellyfish Merkle Tree.
pub const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
