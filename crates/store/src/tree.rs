//! The authenticated state tree, held in memory (ADR 013).
//!
//! A sparse Merkle tree over the SHA-256 of each state key, with the hashing of the
//! Jellyfish Merkle Tree (`jmt` 0.12) so that roots and proofs are the same as before:
//! an empty subtree hashes to the placeholder, a subtree holding one key to that key's
//! leaf hash, any other subtree to `H("JMT::IntrnalNode" ‖ left ‖ right)` of its halves.
//! The 16-way nodes of JMT are only its storage layout; the tree they hash is this one.
//!
//! Only the branch points are kept (a crit-bit trie): one leaf per key and one branch per
//! pair of neighbouring keys, each branch with its hash. Nodes are immutable and shared
//! (`Arc`), so applying a block's writes makes a new tree that shares every untouched
//! node with the old one: a proposal can be staged on top of the committed tree, or of a
//! block still being written, without changing either.
//!
//! Nothing here is written to disk: the tree is a function of the `state` table and is
//! rebuilt from it when the store opens (and checked against the head's state root).

use triomphe::Arc;

use sha2::{Digest, Sha256};

/// SHA-256 of a state key: the position of its leaf.
pub type KeyHash = [u8; 32];
/// SHA-256 of a state value.
pub type ValueHash = [u8; 32];

const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// Below this many updates a subtree is updated on the calling thread.
const PARALLEL_FROM: usize = 2048;

enum Node {
    Leaf {
        key: KeyHash,
        value_hash: ValueHash,
    },
    /// Keys below differ first at bit `bit` (0 is the most significant bit of byte 0):
    /// those with a 0 there are on the left.
    Branch {
        bit: u8,
        /// The hash of this subtree taken at depth `bit`.
        hash: [u8; 32],
        left: Arc<Node>,
        right: Arc<Node>,
    },
}

/// One version of the state tree; cloning it is cheap.
#[derive(Clone, Default)]
pub struct StateTree {
    root: Option<Arc<Node>>,
}

/// A node of a proof, as `jmt`'s `SparseMerkleNode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofNode {
    Null,
    Internal([u8; 32], [u8; 32]),
    Leaf(KeyHash, ValueHash),
}

/// Where a key's path ends, and the sibling of each level on the way, from the root down.
#[derive(Debug)]
pub struct Path {
    pub leaf: Option<(KeyHash, ValueHash)>,
    pub siblings_from_root: Vec<ProofNode>,
}

fn bit_at(key: &KeyHash, i: usize) -> bool {
    (key[i / 8] >> (7 - i % 8)) & 1 == 1
}

/// The length in bits of the common prefix of two keys (256 if they are equal).
fn common_prefix(a: &KeyHash, b: &KeyHash) -> usize {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return i * 8 + d.leading_zeros() as usize;
        }
    }
    256
}

pub fn value_hash(value: &[u8]) -> ValueHash {
    Sha256::digest(value).into()
}

fn leaf_hash(key: &KeyHash, value_hash: &ValueHash) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LEAF_DOMAIN);
    h.update(key);
    h.update(value_hash);
    h.finalize().into()
}

fn internal_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(INTERNAL_DOMAIN);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

impl Node {
    /// A key in this subtree; all of them share the bits above the subtree's own.
    fn any_key(&self) -> &KeyHash {
        let mut n = self;
        loop {
            match n {
                Node::Leaf { key, .. } => return key,
                Node::Branch { left, .. } => n = left,
            }
        }
    }

    /// The bit this node splits at (256 for a leaf, which does not split).
    fn split_bit(&self) -> usize {
        match self {
            Node::Leaf { .. } => 256,
            Node::Branch { bit, .. } => usize::from(*bit),
        }
    }

    /// The hash of this subtree seen from `depth` (at most its own split bit): a single
    /// key is its leaf hash at any depth; a branch below `depth` is hashed up with an
    /// empty sibling at each level between.
    fn hash_at(&self, depth: usize) -> [u8; 32] {
        match self {
            Node::Leaf { key, value_hash } => leaf_hash(key, value_hash),
            Node::Branch { bit, hash, .. } => {
                let mut h = *hash;
                let b = usize::from(*bit);
                if b > depth {
                    let k = self.any_key();
                    for level in (depth..b).rev() {
                        h = if bit_at(k, level) {
                            internal_hash(&PLACEHOLDER, &h)
                        } else {
                            internal_hash(&h, &PLACEHOLDER)
                        };
                    }
                }
                h
            }
        }
    }

    fn branch(bit: usize, left: Arc<Node>, right: Arc<Node>) -> Arc<Node> {
        let hash = internal_hash(&left.hash_at(bit + 1), &right.hash_at(bit + 1));
        Arc::new(Node::Branch {
            bit: bit as u8,
            hash,
            left,
            right,
        })
    }

    /// This subtree as a proof sibling at `depth`.
    fn proof_node(&self, depth: usize) -> ProofNode {
        match self {
            Node::Leaf { key, value_hash } => ProofNode::Leaf(*key, *value_hash),
            Node::Branch { bit, left, right, .. } => {
                let b = usize::from(*bit);
                if b == depth {
                    ProofNode::Internal(left.hash_at(b + 1), right.hash_at(b + 1))
                } else {
                    let below = self.hash_at(depth + 1);
                    if bit_of_subtree(self, depth) {
                        ProofNode::Internal(PLACEHOLDER, below)
                    } else {
                        ProofNode::Internal(below, PLACEHOLDER)
                    }
                }
            }
        }
    }
}

fn bit_of_subtree(n: &Node, level: usize) -> bool {
    bit_at(n.any_key(), level)
}

/// Two subtrees that split at `bit`; either may be gone.
fn join(bit: usize, left: Option<Arc<Node>>, right: Option<Arc<Node>>) -> Option<Arc<Node>> {
    match (left, right) {
        (Some(l), Some(r)) => Some(Node::branch(bit, l, r)),
        (one, None) | (None, one) => one,
    }
}

/// A tree of sorted, distinct keys.
fn build(entries: &[(KeyHash, ValueHash)], par: bool) -> Option<Arc<Node>> {
    match entries {
        [] => None,
        [(key, value_hash)] => Some(Arc::new(Node::Leaf {
            key: *key,
            value_hash: *value_hash,
        })),
        [first, .., last] => {
            let b = common_prefix(&first.0, &last.0);
            let split = entries.partition_point(|(k, _)| !bit_at(k, b));
            let (l, r) = entries.split_at(split);
            if par && entries.len() >= PARALLEL_FROM {
                let (l, r) = std::thread::scope(|s| {
                    let right = s.spawn(|| build(r, false));
                    let left = build(l, false);
                    (left, right.join().ok().flatten())
                });
                join(b, l, r)
            } else {
                join(b, build(l, par), build(r, par))
            }
        }
    }
}

fn inserts(ups: &[(KeyHash, Option<ValueHash>)]) -> Vec<(KeyHash, ValueHash)> {
    ups.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect()
}

/// Applies sorted, distinct updates (`None`: delete) to a subtree.
fn update(node: Option<&Arc<Node>>, ups: &[(KeyHash, Option<ValueHash>)], par: bool) -> Option<Arc<Node>> {
    let (Some(node), Some(first), Some(last)) = (node, ups.first(), ups.last()) else {
        return match node {
            None => build(&inserts(ups), par),
            Some(n) => Some(n.clone()),
        };
    };
    let rep = node.any_key();
    let own = node.split_bit();
    // The updates' keys are sorted, so the one sharing the shortest prefix with this
    // subtree is the first or the last.
    let c = common_prefix(&first.0, rep).min(common_prefix(&last.0, rep)).min(own);
    if c < own {
        // Some updates leave this subtree's prefix at bit `c`: a new branch there, with
        // this subtree on one side and the new keys of the other side on the other.
        let split = ups.partition_point(|(k, _)| !bit_at(k, c));
        let (zeros, ones) = ups.split_at(split);
        return if bit_at(rep, c) {
            join(c, build(&inserts(zeros), par), update(Some(node), ones, par))
        } else {
            join(c, update(Some(node), zeros, par), build(&inserts(ones), par))
        };
    }
    match &**node {
        // Every update is for this very key; the last one stands.
        Node::Leaf { key, .. } => last.1.map(|value_hash| Arc::new(Node::Leaf { key: *key, value_hash })),
        Node::Branch {
            bit: b, left, right, ..
        } => {
            let b = usize::from(*b);
            let split = ups.partition_point(|(k, _)| !bit_at(k, b));
            let (l_ups, r_ups) = ups.split_at(split);
            let (l, r) = if par && ups.len() >= PARALLEL_FROM && !l_ups.is_empty() && !r_ups.is_empty() {
                std::thread::scope(|s| {
                    let right = s.spawn(|| update(Some(right), r_ups, false));
                    let left = update(Some(left), l_ups, false);
                    (left, right.join().ok().flatten())
                })
            } else {
                (update(Some(left), l_ups, par), update(Some(right), r_ups, par))
            };
            let unchanged =
                |new: &Option<Arc<Node>>, old: &Arc<Node>| new.as_ref().is_some_and(|n| Arc::ptr_eq(n, old));
            if unchanged(&l, left) && unchanged(&r, right) {
                return Some(node.clone());
            }
            join(b, l, r)
        }
    }
}

impl StateTree {
    /// The tree of these entries, sorted by key hash with no repeats (as the `state`
    /// table iterates).
    pub fn from_sorted(entries: &[(KeyHash, ValueHash)]) -> StateTree {
        StateTree {
            root: build(entries, true),
        }
    }

    /// The root hash (the placeholder for an empty tree).
    pub fn root_hash(&self) -> [u8; 32] {
        self.root.as_ref().map_or(PLACEHOLDER, |n| n.hash_at(0))
    }

    /// A new tree with `ups` applied (sorted by key hash, distinct; `None` deletes).
    /// This tree is left as it was.
    pub fn apply(&self, ups: &[(KeyHash, Option<ValueHash>)]) -> StateTree {
        debug_assert!(
            ups.windows(2).all(|w| w[0].0 < w[1].0),
            "updates must be sorted and distinct"
        );
        StateTree {
            root: update(self.root.as_ref(), ups, true),
        }
    }

    /// Whether the tree holds `key`: one descent by the split bits, one comparison at the
    /// leaf (cheaper than a B-tree lookup, so a read of a key that is not in the state
    /// never reaches the database).
    pub fn contains(&self, key: &KeyHash) -> bool {
        let mut cur = self.root.as_deref();
        while let Some(n) = cur {
            match n {
                Node::Leaf { key: k, .. } => return k == key,
                Node::Branch { bit, left, right, .. } => {
                    cur = Some(if bit_at(key, usize::from(*bit)) { right } else { left });
                }
            }
        }
        false
    }

    /// The path to `key`: the leaf it ends at (the key's own, another key's that shares
    /// the path, or none) and the sibling at each level.
    pub fn path(&self, key: &KeyHash) -> Path {
        let mut siblings = Vec::new();
        let mut depth = 0;
        let mut cur = self.root.as_ref();
        loop {
            let Some(n) = cur else {
                return Path {
                    leaf: None,
                    siblings_from_root: siblings,
                };
            };
            match &**n {
                Node::Leaf { key: k, value_hash } => {
                    return Path {
                        leaf: Some((*k, *value_hash)),
                        siblings_from_root: siblings,
                    };
                }
                Node::Branch {
                    bit: b, left, right, ..
                } => {
                    let b = usize::from(*b);
                    let c = common_prefix(key, n.any_key());
                    if c < b {
                        // The key leaves this subtree's prefix at bit `c`: its side is empty.
                        siblings.resize(siblings.len() + (c - depth), ProofNode::Null);
                        siblings.push(n.proof_node(c + 1));
                        return Path {
                            leaf: None,
                            siblings_from_root: siblings,
                        };
                    }
                    siblings.resize(siblings.len() + (b - depth), ProofNode::Null);
                    let (next, other) = if bit_at(key, b) { (right, left) } else { (left, right) };
                    siblings.push(other.proof_node(b + 1));
                    depth = b + 1;
                    cur = Some(next);
                }
            }
        }
    }

    /// How many keys the tree holds.
    pub fn len(&self) -> u64 {
        fn count(n: &Node) -> u64 {
            match n {
                Node::Leaf { .. } => 1,
                Node::Branch { left, right, .. } => count(left) + count(right),
            }
        }
        self.root.as_deref().map_or(0, count)
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }
}

impl Path {
    /// The path in `jmt`'s proof encoding (borsh of `SparseMerkleProof`: the leaf, then
    /// the siblings from the bottom up).
    pub fn to_jmt_borsh(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(70 + 65 * self.siblings_from_root.len());
        match &self.leaf {
            None => out.push(0),
            Some((k, v)) => {
                out.push(1);
                out.extend_from_slice(k);
                out.extend_from_slice(v);
            }
        }
        out.extend_from_slice(&(self.siblings_from_root.len() as u32).to_le_bytes());
        for s in self.siblings_from_root.iter().rev() {
            match s {
                ProofNode::Null => out.push(0),
                ProofNode::Internal(l, r) => {
                    out.push(1);
                    out.extend_from_slice(l);
                    out.extend_from_slice(r);
                }
                ProofNode::Leaf(k, v) => {
                    out.push(2);
                    out.extend_from_slice(k);
                    out.extend_from_slice(v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
