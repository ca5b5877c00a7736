//! Roots, inclusion proofs and consistency proofs from stored full-subtree nodes
//! (RFC 9162 §2.1.1, §2.1.3, §2.1.4), their verification, and their wire encoding.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, LeafIndex, TreeSize};
use serde::{Deserialize, Serialize};

use crate::error::{MerkleError, VerifyError};
use crate::log::NodeSource;
use crate::{empty_root, node_hash};

/// Most hashes a proof path may carry on the wire. A path has one hash per level at
/// most, and no log comes near 2^63 leaves, so 64 is never reached by a real proof.
pub const MAX_PATH_LEN: usize = 64;

/// An RFC 9162 inclusion proof (§2.1.3): the audit path of one leaf in the tree of
/// `tree_size` leaves, from the leaf's sibling up to the root's child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: LeafIndex,
    pub tree_size: TreeSize,
    pub path: Vec<Hash32>,
}

/// An RFC 9162 consistency proof (§2.1.4): that the tree of `second` leaves extends the
/// tree of `first` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub first: TreeSize,
    pub second: TreeSize,
    pub path: Vec<Hash32>,
}

/// Root of the first `size` leaves (RFC 9162 §2.1.1 `MTH(D[size])`), from the
/// full-subtree nodes of any source, with at most `log2(size) + 1` lookups.
///
/// `size` must not exceed the leaves available: otherwise
/// [`MerkleError::SizeOutOfRange`] (or [`MerkleError::MissingNode`] for a source that
/// does not report its size). Size 0 gives [`empty_root`].
pub fn root_at<S: NodeSource + ?Sized>(src: &S, size: TreeSize) -> Result<Hash32, MerkleError> {
    check_available(src, size.0)?;
    if size.0 == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size.0)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves
/// (RFC 9162 §2.1.3.1 `PATH(m, D[n])`), with `O(log n)` lookups.
///
/// Errors: [`MerkleError::IndexOutOfRange`] unless `index < size` (so always for size
/// 0); [`MerkleError::SizeOutOfRange`] / [`MerkleError::MissingNode`] if the source
/// lacks the leaves.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: LeafIndex,
    size: TreeSize,
) -> Result<InclusionProof, MerkleError> {
    if index.0 >= size.0 {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    check_available(src, size.0)?;
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: size,
        path: path_from(src, 0, index.0, size.0)?,
    })
}

/// The consistency proof from the tree of the first `first` leaves to the tree of the
/// first `second` leaves (RFC 9162 §2.1.4.1 `PROOF(m, D[n])`), with `O(log n)` lookups.
///
/// `first == second` gives an empty proof. `first == 0` is refused with
/// [`MerkleError::InvalidRange`]: the RFC defines no proof from the empty tree, which
/// every tree trivially extends. So is `first > second`. A too-large `second` is
/// [`MerkleError::SizeOutOfRange`] / [`MerkleError::MissingNode`].
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    first: TreeSize,
    second: TreeSize,
) -> Result<ConsistencyProof, MerkleError> {
    let (m, n) = (first.0, second.0);
    if m == 0 || m > n {
        return Err(MerkleError::InvalidRange { first, second });
    }
    check_available(src, n)?;
    let mut path = Vec::new();
    if m < n {
        // The largest full subtree ending at leaf m - 1 is the deepest node the two trees
        // share; the proof is that node (unless it is the whole first tree, i.e. m is a
        // power of two, which the verifier already knows as the first root) followed by
        // its audit path in the second tree. This is SUBPROOF(m, D[n], true) unrolled.
        let level = m.trailing_zeros();
        let index = (m - 1) >> level;
        if index != 0 {
            path.push(get(src, level, index)?);
        }
        path.extend(path_from(src, level, index, n)?);
    }
    Ok(ConsistencyProof { first, second, path })
}

impl InclusionProof {
    /// RFC 9162 §2.1.3.2 verification: recomputes the root from `leaf_hash` and the path
    /// and compares it with `root`. Never panics on hostile input.
    pub fn verify(&self, leaf_hash: &Hash32, root: &Hash32) -> Result<(), VerifyError> {
        let (index, size) = (self.leaf_index.0, self.tree_size.0);
        // Step 1: leaf_index < tree_size (which also rules out tree size 0).
        if index >= size {
            return Err(VerifyError::IndexOutOfRange {
                index: self.leaf_index,
                size: self.tree_size,
            });
        }
        // Not an RFC step, but implied by it: reject a wrong length with a clear error
        // before hashing anything. The loop below would fail such a path anyway.
        let expected = inclusion_path_len(index, size);
        if self.path.len() != expected {
            return Err(VerifyError::WrongPathLength {
                expected,
                got: self.path.len(),
            });
        }
        // Steps 2-3.
        let (mut fnode, mut snode) = (index, size - 1);
        let mut r = *leaf_hash;
        // Step 4.
        for p in &self.path {
            if snode == 0 {
                return Err(VerifyError::WrongPathLength {
                    expected,
                    got: self.path.len(),
                });
            }
            if fnode & 1 == 1 || fnode == snode {
                r = node_hash(p, &r);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        // Step 5.
        if snode != 0 {
            return Err(VerifyError::WrongPathLength {
                expected,
                got: self.path.len(),
            });
        }
        if r != *root {
            return Err(VerifyError::RootMismatch);
        }
        Ok(())
    }
}

impl ConsistencyProof {
    /// RFC 9162 §2.1.4.2 verification: checks that `second_root` (the root at `second`)
    /// extends `first_root` (the root at `first`). Never panics on hostile input.
    ///
    /// `first == second` verifies only with an empty path and equal roots; `first == 0`
    /// and `first > second` are [`VerifyError::InvalidSizes`].
    pub fn verify(&self, first_root: &Hash32, second_root: &Hash32) -> Result<(), VerifyError> {
        let (m, n) = (self.first.0, self.second.0);
        if m == 0 || m > n {
            return Err(VerifyError::InvalidSizes {
                first: self.first,
                second: self.second,
            });
        }
        let expected = consistency_path_len(m, n);
        let wrong_length = VerifyError::WrongPathLength {
            expected,
            got: self.path.len(),
        };
        if self.path.len() != expected {
            return Err(wrong_length);
        }
        if m == n {
            // RFC 9162 §2.1.4.2 prelude: equal sizes need an empty proof and equal roots.
            return if first_root == second_root {
                Ok(())
            } else {
                Err(VerifyError::RootMismatch)
            };
        }
        let mut path = self.path.iter();
        // Steps 1-2: if `first` is a power of two, the path starts at the first root.
        let start = if m.is_power_of_two() {
            *first_root
        } else {
            *path.next().ok_or(wrong_length.clone())?
        };
        // Step 3.
        let (mut fnode, mut snode) = (m - 1, n - 1);
        // Step 4.
        while fnode & 1 == 1 {
            fnode >>= 1;
            snode >>= 1;
        }
        // Step 5.
        let (mut fr, mut sr) = (start, start);
        // Step 6.
        for c in path {
            if snode == 0 {
                return Err(wrong_length);
            }
            if fnode & 1 == 1 || fnode == snode {
                fr = node_hash(c, &fr);
                sr = node_hash(c, &sr);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                sr = node_hash(&sr, c);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        // Step 7.
        if snode != 0 {
            return Err(wrong_length);
        }
        if fr != *first_root || sr != *second_root {
            return Err(VerifyError::RootMismatch);
        }
        Ok(())
    }
}

/// Number of hashes in `PATH(index, D[size])`, for `index < size`: one per ancestor of
/// the leaf that has a sibling. The bits where `index` and `size - 1` differ are levels
/// with a sibling inside the tree; above them, the leaf is on the right edge and has a
/// (left) sibling exactly where `index` has a one bit.
fn inclusion_path_len(index: u64, size: u64) -> usize {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Number of hashes in `PROOF(first, D[second])`, for `0 < first <= second`.
fn consistency_path_len(first: u64, second: u64) -> usize {
    if first == second {
        return 0;
    }
    let level = first.trailing_zeros();
    let index = (first - 1) >> level;
    // The audit path of node (level, index) in the tree of `second` leaves is the audit
    // path of leaf `index` in a tree of ceil(second / 2^level) leaves.
    let size_at_level = ((second - 1) >> level) + 1;
    inclusion_path_len(index, size_at_level) + usize::from(index != 0)
}

fn get<S: NodeSource + ?Sized>(src: &S, level: u32, index: u64) -> Result<Hash32, MerkleError> {
    // Levels are below 64 by construction: they count halvings of a u64 size.
    let level = u8::try_from(level).unwrap_or(u8::MAX);
    src.node(level, index).ok_or(MerkleError::MissingNode { level, index })
}

fn check_available<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<(), MerkleError> {
    match src.leaf_count() {
        Some(available) if size > available.0 => Err(MerkleError::SizeOutOfRange {
            requested: TreeSize(size),
            available,
        }),
        Some(_) => Ok(()),
        None if size == 0 => Ok(()),
        None => get(src, 0, size - 1).map(drop),
    }
}

/// `MTH` of the `len >= 1` leaves starting at `start`, where `start` is a multiple of the
/// largest power of two not above `len`. The range splits into one full subtree per one
/// bit of `len`, largest first; the tree over it is their right fold.
fn range_hash<S: NodeSource + ?Sized>(src: &S, start: u64, len: u64) -> Result<Hash32, MerkleError> {
    let mut acc: Option<Hash32> = None;
    // Walk the one bits of `len` from the smallest (rightmost subtree) up.
    let mut rest = len;
    while rest != 0 {
        let level = rest.trailing_zeros();
        rest &= rest - 1;
        // The subtree for this bit starts after all the larger ones, i.e. after `rest`.
        let index = (start + rest) >> level;
        let hash = get(src, level, index)?;
        acc = Some(match acc {
            None => hash,
            Some(right) => node_hash(&hash, &right),
        });
    }
    Ok(acc.unwrap_or_else(empty_root))
}

/// The audit path of node `(level, index)` in the tree of `size` leaves, bottom up: at
/// each level the sibling's hash, where the sibling exists. A right sibling cut off by
/// the end of the tree is a partial subtree, hashed from its full subtrees.
fn path_from<S: NodeSource + ?Sized>(
    src: &S,
    mut level: u32,
    mut index: u64,
    size: u64,
) -> Result<Vec<Hash32>, MerkleError> {
    let size = u128::from(size);
    let mut path = Vec::with_capacity(MAX_PATH_LEN);
    // The node is the root once it spans 2^level >= size leaves.
    while level < u64::BITS && (1u128 << level) < size {
        let sibling = index ^ 1;
        let sibling_start = u128::from(sibling) << level;
        if sibling < index {
            path.push(get(src, level, sibling)?);
        } else if sibling_start < size {
            let sibling_end = (u128::from(sibling) + 1) << level;
            if sibling_end <= size {
                path.push(get(src, level, sibling)?);
            } else {
                // Both fit in u64: sibling_start < size <= u64::MAX.
                let start = u64::try_from(sibling_start).unwrap_or(u64::MAX);
                let len = u64::try_from(size - sibling_start).unwrap_or(0);
                path.push(range_hash(src, start, len)?);
            }
        }
        // Otherwise the sibling lies wholly beyond the tree: the node is promoted
        // unchanged to the next level and contributes no hash.
        index >>= 1;
        level += 1;
    }
    Ok(path)
}

fn encode_path(out: &mut Vec<u8>, path: &[Hash32]) {
    put::len(out, path.len());
    for hash in path {
        hash.encode_to(out);
    }
}

fn decode_path(r: &mut Reader<'_>) -> Result<Vec<Hash32>, DecodeError> {
    r.seq(MAX_PATH_LEN, Hash32::LEN, "merkle proof path", |r| {
        Hash32::decode_from(r)
    })
}

/// `leaf_index: u64 | tree_size: u64 | path: u32 count, then 32-byte hashes`.
impl Encode for InclusionProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.leaf_index.encode_to(out);
        self.tree_size.encode_to(out);
        encode_path(out, &self.path);
    }
}

/// At most [`MAX_PATH_LEN`] path hashes; the proof's shape is checked by `verify`.
impl Decode for InclusionProof {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(InclusionProof {
            leaf_index: LeafIndex::decode_from(r)?,
            tree_size: TreeSize::decode_from(r)?,
            path: decode_path(r)?,
        })
    }
}

/// `first: u64 | second: u64 | path: u32 count, then 32-byte hashes`.
impl Encode for ConsistencyProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.first.encode_to(out);
        self.second.encode_to(out);
        encode_path(out, &self.path);
    }
}

/// At most [`MAX_PATH_LEN`] path hashes; the proof's shape is checked by `verify`.
impl Decode for ConsistencyProof {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConsistencyProof {
            first: TreeSize::decode_from(r)?,
            second: TreeSize::decode_from(r)?,
            path: decode_path(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force path length: count the levels with an existing sibling.
    fn slow_inclusion_len(index: u64, size: u64) -> usize {
        let (mut i, mut level, mut count) = (index, 0u32, 0);
        while (1u128 << level) < u128::from(size) {
            let s = i ^ 1;
            if s < i || (u128::from(s) << level) < u128::from(size) {
                count += 1;
            }
            i >>= 1;
            level += 1;
        }
        count
    }

    #[test]
    fn path_length_formula_matches_brute_force() {
        for size in 1..200u64 {
            for index in 0..size {
                assert_eq!(
                    inclusion_path_len(index, size),
                    slow_inclusion_len(index, size),
                    "index {index} size {size}"
                );
            }
        }
        assert_eq!(inclusion_path_len(0, u64::MAX), 64);
        assert_eq!(inclusion_path_len(u64::MAX - 1, u64::MAX), 63);
        assert_eq!(inclusion_path_len(0, 1), 0);
    }

    #[test]
    fn consistency_length_edge_cases_do_not_overflow() {
        assert_eq!(consistency_path_len(1, 1), 0);
        assert_eq!(consistency_path_len(1, 8), 3);
        assert_eq!(consistency_path_len(6, 8), 3);
        assert_eq!(consistency_path_len(2, 5), 2);
        assert_eq!(consistency_path_len(1, u64::MAX), 64);
        assert_eq!(consistency_path_len(u64::MAX - 1, u64::MAX), 64);
        assert_eq!(consistency_path_len(3, u64::MAX), 65);
        assert_eq!(consistency_path_len(1 << 63, u64::MAX), 1);
    }
}
