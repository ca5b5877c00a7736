//! State values written by recent blocks and not yet swept into the state table
//! (ADR 013 §8).
//!
//! Writing every block's state values into the `state` B-tree cost a validator about a
//! fifth of its CPU: the keys are SHA-256 hashes, so a block's few thousand writes land on
//! as many different pages, and redb copies and writes back each page a block touches.
//! Instead, a block's writes go to the state log (one sequential value per block, which
//! is what makes them durable) and to this in-memory map; each block then sweeps one
//! sixteenth of the key space — the keys whose hash starts with the nibble `height % 16` —
//! from the map into the table. A page of the table is so written about once per sixteen
//! blocks, with everything that changed on it meanwhile, instead of once per block.
//!
//! After a sweep of all sixteen ranges every write of a block is in the table, so the log
//! keeps only the last [`SWEEP`] blocks; at start the map is rebuilt by replaying them in
//! height order over the table (re-applying a write already swept is harmless: the replay
//! ends with each key's newest value).
//!
//! Readers take the map of their head together with their redb snapshot: the map is
//! persistent (`imbl`), so a snapshot is an O(1) clone, and a key is read from the map
//! first, then from the table.

use std::sync::Arc;

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};

/// A value in the map: `None` is a deleted key (its old value may still be in the table).
pub type DirtyValue = Option<Arc<[u8]>>;

/// The state values not yet in the table, by SHA-256 of the key.
pub type Dirty = imbl::OrdMap<[u8; 32], DirtyValue>;

/// Transactions of recent blocks not yet swept into the transaction index, by hash:
/// height (u64 LE) ‖ index in block (u32 LE), as the index stores them.
pub type RecentTxs = imbl::OrdMap<[u8; 32], [u8; 12]>;

/// Blocks in a full sweep of the key space, and so blocks kept in the state log.
pub const SWEEP: u64 = 16;

/// The range of key hashes swept by the block at `height`: those whose first nibble is
/// `height % 16`.
pub fn sweep_range(height: u64) -> std::ops::RangeInclusive<[u8; 32]> {
    let nibble = (height % SWEEP) as u8;
    let mut lo = [0u8; 32];
    lo[0] = nibble << 4;
    let mut hi = [0xFFu8; 32];
    hi[0] = (nibble << 4) | 0x0F;
    lo..=hi
}

/// Adds a block's entries to `map`, then takes out the range this block sweeps: returned
/// in key order, to be written to the table. The state and the transaction index follow
/// this one rule, so each table's pages are written about once per sixteen blocks.
pub fn add_and_sweep<V: Clone>(
    map: &mut imbl::OrdMap<[u8; 32], V>,
    entries: impl IntoIterator<Item = ([u8; 32], V)>,
    height: u64,
) -> Vec<([u8; 32], V)> {
    for (k, v) in entries {
        map.insert(k, v);
    }
    let swept: Vec<([u8; 32], V)> = map.range(sweep_range(height)).map(|(k, v)| (*k, v.clone())).collect();
    for (k, _) in &swept {
        map.remove(k);
    }
    swept
}

/// [`add_and_sweep`] for a block's state writes (by key hash).
pub fn apply_and_sweep<'a>(
    dirty: &mut Dirty,
    writes: impl IntoIterator<Item = (&'a [u8; 32], &'a Option<Vec<u8>>)>,
    height: u64,
) -> Vec<([u8; 32], DirtyValue)> {
    add_and_sweep(
        dirty,
        writes.into_iter().map(|(kh, v)| (*kh, v.as_deref().map(Arc::from))),
        height,
    )
}

/// A block's state writes as the state log stores them: a version byte, then each
/// (key hash, tag, value) in key-hash order; tag 0 deletes, 1 sets.
pub struct LoggedWrites(pub Vec<([u8; 32], Option<Vec<u8>>)>);

const LOG_VERSION: u8 = 1;
/// Largest state value the log reads back (far above any the ledger writes).
const MAX_VALUE: usize = 16 * 1024 * 1024;

impl LoggedWrites {
    /// Encodes `writes` without copying them into a `LoggedWrites` first.
    pub fn encode_from<'a>(writes: impl ExactSizeIterator<Item = (&'a [u8; 32], &'a Option<Vec<u8>>)>) -> Vec<u8> {
        let mut out = Vec::new();
        put::u8(&mut out, LOG_VERSION);
        put::u32(&mut out, writes.len() as u32);
        for (kh, v) in writes {
            out.extend_from_slice(kh);
            match v {
                None => put::u8(&mut out, 0),
                Some(v) => {
                    put::u8(&mut out, 1);
                    put::bytes(&mut out, v);
                }
            }
        }
        out
    }
}

impl Encode for LoggedWrites {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::encode_from(self.0.iter().map(|(k, v)| (k, v))));
    }
}

impl Decode for LoggedWrites {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("state log version")?;
        if version != LOG_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "state log entry",
                version,
            });
        }
        // Each write takes at least 33 bytes: a count the input cannot hold is refused
        // before anything is allocated for it.
        let max = r.remaining() / 33;
        let n = r.len(max, "state log writes")?;
        let mut writes = Vec::with_capacity(n);
        for _ in 0..n {
            let kh: [u8; 32] = r.array("state log key hash")?;
            let v = match r.u8("state log tag")? {
                0 => None,
                1 => Some(r.bytes(MAX_VALUE, "state log value")?.to_vec()),
                tag => {
                    return Err(DecodeError::InvalidTag {
                        what: "state log tag",
                        tag,
                    });
                }
            };
            writes.push((kh, v));
        }
        Ok(LoggedWrites(writes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kh(first: u8, rest: u8) -> [u8; 32] {
        let mut k = [rest; 32];
        k[0] = first;
        k
    }

    #[test]
    fn sixteen_blocks_sweep_every_key_once() {
        let mut hit = [0u32; 256];
        for h in 0..SWEEP {
            let r = sweep_range(h);
            for first in 0..=255u8 {
                if r.contains(&kh(first, 0)) && r.contains(&kh(first, 0xFF)) {
                    hit[first as usize] += 1;
                }
            }
        }
        assert!(hit.iter().all(|&n| n == 1), "{hit:?}");
        assert_eq!(sweep_range(3), sweep_range(3 + SWEEP));
    }

    #[test]
    fn a_block_sweeps_its_range_with_the_newest_values_and_keeps_the_rest() {
        let mut dirty = Dirty::new();
        let a = kh(0x21, 1); // range 2
        let b = kh(0x35, 2); // range 3
        let c = kh(0x2F, 3); // range 2
        let w1 = [(a, Some(b"1".to_vec())), (b, Some(b"2".to_vec()))];
        let swept = apply_and_sweep(&mut dirty, w1.iter().map(|(k, v)| (k, v)), 1);
        assert!(swept.is_empty(), "range 1 holds nothing");
        let w2 = [(a, Some(b"1b".to_vec())), (c, None)];
        let swept = apply_and_sweep(&mut dirty, w2.iter().map(|(k, v)| (k, v)), 2);
        assert_eq!(swept, vec![(a, Some(Arc::from(&b"1b"[..]))), (c, None)]);
        assert_eq!(dirty.len(), 1);
        assert_eq!(dirty.get(&b), Some(&Some(Arc::from(&b"2"[..]))));
    }

    #[test]
    fn logged_writes_round_trip_and_refuse_hostile_counts() {
        let w = LoggedWrites(vec![(kh(1, 1), Some(b"v".to_vec())), (kh(2, 2), None)]);
        let bytes = w.encode();
        let back = LoggedWrites::decode(&bytes).expect("decodes");
        assert_eq!(back.0, w.0);
        let mut huge = vec![LOG_VERSION];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(LoggedWrites::decode(&huge).is_err());
        let mut bad_tag = bytes.clone();
        bad_tag[1 + 4 + 32] = 7;
        assert!(LoggedWrites::decode(&bad_tag).is_err());
        assert!(LoggedWrites::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
