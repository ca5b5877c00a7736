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
/// SHA-256 of the state key (the JMT key hash) → value. The newest values of keys written
/// in the last few blocks may not be here yet: they are in `STATE_LOG` (and in memory).
pub const STATE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("state");
/// height → the block's state writes (`dirty::LoggedWrites`), for the last `dirty::SWEEP`
/// blocks: what of them is not yet in `STATE` is rebuilt from here at start (ADR 013 §8).
pub const STATE_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("state_log");
/// Before ADR 013: the nodes of the state tree and the index of replaced ones. The tree
/// is now held in memory and rebuilt from `STATE`; a store that still has these tables
/// drops them when it is opened for writing.
pub const LEGACY_JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
pub const LEGACY_JMT_STALE: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("jmt_stale");
