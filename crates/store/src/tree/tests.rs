//! The tree against `jmt` itself: same roots, and proofs that `jmt` verifies.

use std::collections::BTreeMap;

use jmt::mock::MockTreeStore;
use jmt::{JellyfishMerkleTree, KeyHash as JmtKey, RootHash};
use proptest::prelude::*;
use sha2::Sha256;

use super::*;

type Proof = jmt::proof::SparseMerkleProof<Sha256>;

/// The same writes applied to `jmt` (in its in-memory store) and to our tree.
struct Both {
    jmt: MockTreeStore,
    version: u64,
    tree: StateTree,
    values: BTreeMap<KeyHash, Vec<u8>>,
}

impl Both {
    fn new() -> Both {
        Both {
            jmt: MockTreeStore::default(),
            version: 0,
            tree: StateTree::default(),
            values: BTreeMap::new(),
        }
    }

    fn apply(&mut self, writes: &BTreeMap<KeyHash, Option<Vec<u8>>>) {
        let tree = JellyfishMerkleTree::<_, Sha256>::new(&self.jmt);
        let (_, batch) = tree
            .put_value_set(writes.iter().map(|(k, v)| (JmtKey(*k), v.clone())), self.version)
            .unwrap();
        self.jmt.write_tree_update_batch(batch).unwrap();
        let ups: Vec<(KeyHash, Option<ValueHash>)> =
            writes.iter().map(|(k, v)| (*k, v.as_deref().map(value_hash))).collect();
        self.tree = self.tree.apply(&ups);
        for (k, v) in writes {
            match v {
                Some(v) => self.values.insert(*k, v.clone()),
                None => self.values.remove(k),
            };
        }
        self.version += 1;
    }

    fn jmt_root(&self) -> [u8; 32] {
        let tree = JellyfishMerkleTree::<_, Sha256>::new(&self.jmt);
        tree.get_root_hash(self.version - 1).unwrap().0
    }

    fn check(&self) {
        assert_eq!(self.tree.root_hash(), self.jmt_root(), "root differs from jmt's");
        let rebuilt: Vec<(KeyHash, ValueHash)> = self.values.iter().map(|(k, v)| (*k, value_hash(v))).collect();
        assert_eq!(
            StateTree::from_sorted(&rebuilt).root_hash(),
            self.tree.root_hash(),
            "a tree built from the entries differs from the one updated block by block"
        );
        assert_eq!(self.tree.len(), self.values.len() as u64);
    }

    fn proof(&self, key: &KeyHash) -> Proof {
        borsh::from_slice(&self.tree.path(key).to_jmt_borsh()).expect("a jmt proof")
    }
}

fn key(n: u16) -> KeyHash {
    value_hash(&n.to_be_bytes())
}

#[test]
fn empty_tree_has_the_placeholder_root() {
    assert_eq!(StateTree::default().root_hash(), PLACEHOLDER);
    let mut both = Both::new();
    let mut w = BTreeMap::new();
    w.insert(key(1), Some(b"x".to_vec()));
    both.apply(&w);
    w.insert(key(1), None);
    both.apply(&w);
    assert!(both.tree.is_empty());
    assert_eq!(both.tree.root_hash(), PLACEHOLDER);
}

#[test]
fn keys_sharing_long_prefixes_hash_like_jmt() {
    // Keys that agree on their first 200 bits, then split: branches far below their
    // parents, hashed up through many empty levels.
    let mut both = Both::new();
    let mut w = BTreeMap::new();
    for i in 0..6u8 {
        let mut k = [0xA5u8; 32];
        k[25] = i;
        k[31] = i.wrapping_mul(37);
        w.insert(k, Some(vec![i]));
    }
    w.insert([0u8; 32], Some(b"zero".to_vec()));
    w.insert([0xFF; 32], Some(b"ones".to_vec()));
    both.apply(&w);
    both.check();
    for k in w.keys() {
        let v = both.values[k].clone();
        both.proof(k)
            .verify_existence(RootHash(both.tree.root_hash()), JmtKey(*k), v)
            .unwrap();
    }
    let mut absent = [0xA5u8; 32];
    absent[25] = 9;
    both.proof(&absent)
        .verify_nonexistence(RootHash(both.tree.root_hash()), JmtKey(absent))
        .unwrap();
}

#[test]
fn the_old_version_is_unchanged_by_an_update() {
    let entries: Vec<(KeyHash, ValueHash)> = {
        let mut e: Vec<_> = (0..500u16).map(|i| (key(i), value_hash(&[1]))).collect();
        e.sort();
        e
    };
    let old = StateTree::from_sorted(&entries);
    let root = old.root_hash();
    let mut ups: Vec<(KeyHash, Option<ValueHash>)> = (0..300u16)
        .map(|i| (key(i), if i % 3 == 0 { None } else { Some(value_hash(&[2])) }))
        .collect();
    ups.sort();
    let new = old.apply(&ups);
    assert_ne!(new.root_hash(), root);
    assert_eq!(old.root_hash(), root);
    assert_eq!(old.len(), 500);
    assert_eq!(new.len(), 400);
}

#[test]
fn large_batches_hashed_on_two_threads_match_jmt() {
    let mut both = Both::new();
    for round in 0..3u16 {
        let w: BTreeMap<KeyHash, Option<Vec<u8>>> = (0..5000u16)
            .map(|i| {
                let k = key(i.wrapping_mul(7).wrapping_add(round * 1000));
                let v = if (i + round) % 11 == 0 {
                    None
                } else {
                    Some(vec![round as u8, i as u8])
                };
                (k, v)
            })
            .collect();
        both.apply(&w);
        both.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roots_and_proofs_match_jmt(
        blocks in prop::collection::vec(
            prop::collection::btree_map(0u16..200, prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..8)), 0..40),
            1..8,
        ),
        probes in prop::collection::vec(0u16..260, 1..20),
    ) {
        let mut both = Both::new();
        for block in &blocks {
            let w: BTreeMap<KeyHash, Option<Vec<u8>>> = block.iter().map(|(k, v)| (key(*k), v.clone())).collect();
            both.apply(&w);
            both.check();
        }
        let root = RootHash(both.tree.root_hash());
        for p in probes {
            let k = key(p);
            prop_assert_eq!(both.tree.contains(&k), both.values.contains_key(&k));
            let proof = both.proof(&k);
            match both.values.get(&k) {
                Some(v) => proof.verify_existence(root, JmtKey(k), v.clone()).unwrap(),
                None => proof.verify_nonexistence(root, JmtKey(k)).unwrap(),
            }
            // A proof does not prove another value.
            if let Some(v) = both.values.get(&k) {
                let mut other = v.clone();
                other.push(0);
                prop_assert!(proof.verify_existence(root, JmtKey(k), other).is_err());
                prop_assert!(proof.verify_nonexistence(root, JmtKey(k)).is_err());
            }
        }
    }
}

/// A node is 72 bytes and its reference count 8 more: 80, one of the allocator's size
/// classes. A larger node (or std's `Arc`, 16 bytes of counts) costs the next class, 96,
/// on each of the two nodes a key adds (ADR 013 §10).
#[test]
fn a_node_and_its_count_fit_in_eighty_bytes() {
    assert_eq!(std::mem::size_of::<Node>(), 72);
    assert_eq!(std::mem::size_of::<Arc<Node>>(), 8);
}
