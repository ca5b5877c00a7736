//! What a node hands out as proof, and how anyone checks it offline.
//!
//! A receipt says: transaction `tx_hash` is leaf `leaf_index` of the transparency log,
//! with this leaf (height, position, outcome); here is the RFC 9162 inclusion proof to a
//! tree head of size `tree_size`, and the tree head signed by the node that answered.

use medledger_crypto::verify;
use medledger_merkle::{ConsistencyProof, InclusionProof, leaf_hash};
use medledger_types::codec::Decode;
use medledger_types::{Hash32, LogLeaf, PublicKey, Signature, TreeHead};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A tree head with a node's signature over [`TreeHead::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    #[serde(flatten)]
    pub head: TreeHead,
    pub signer: PublicKey,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: Hash32,
    pub leaf_index: u64,
    /// The leaf's canonical encoding, hex.
    pub leaf: String,
    pub inclusion_proof: InclusionProof,
    pub tree_head: SignedTreeHead,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("the leaf is not valid hex or does not decode: {0}")]
    BadLeaf(String),
    #[error("the leaf is for transaction {leaf}, the receipt names {receipt}")]
    WrongTx { leaf: Hash32, receipt: Hash32 },
    #[error("the proof is for leaf {proof} of a tree of {proof_size}, the receipt says leaf {leaf} of {head_size}")]
    Mismatch {
        proof: u64,
        proof_size: u64,
        leaf: u64,
        head_size: u64,
    },
    #[error("the inclusion proof does not lead to the tree head's root: {0}")]
    Inclusion(String),
    #[error("the consistency proof does not verify: {0}")]
    Consistency(String),
    #[error("the tree head's signature does not verify")]
    BadSignature,
    #[error("the tree head is signed by {0}, which is not a trusted key")]
    UntrustedSigner(PublicKey),
    #[error("the two tree heads are for different chains")]
    ChainMismatch,
}

impl SignedTreeHead {
    /// Checks the signature, and that the signer is one of `trusted` (the genesis validators).
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<(), ReceiptError> {
        if !trusted.contains(&self.signer) {
            return Err(ReceiptError::UntrustedSigner(self.signer));
        }
        verify(&self.signer, &self.head.sign_bytes(), &self.signature).map_err(|_| ReceiptError::BadSignature)
    }
}

impl Receipt {
    /// Checks everything in the receipt; returns the decoded leaf.
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<LogLeaf, ReceiptError> {
        let raw = hex::decode(&self.leaf).map_err(|_| ReceiptError::BadLeaf("not hex".into()))?;
        let leaf = LogLeaf::decode(&raw).map_err(|e| ReceiptError::BadLeaf(e.to_string()))?;
        if leaf.tx_hash != self.tx_hash {
            return Err(ReceiptError::WrongTx {
                leaf: leaf.tx_hash,
                receipt: self.tx_hash,
            });
        }
        let p = &self.inclusion_proof;
        if p.leaf_index.0 != self.leaf_index || p.tree_size != self.tree_head.head.tree_size {
            return Err(ReceiptError::Mismatch {
                proof: p.leaf_index.0,
                proof_size: p.tree_size.0,
                leaf: self.leaf_index,
                head_size: self.tree_head.head.tree_size.0,
            });
        }
        p.verify(&leaf_hash(&raw), &self.tree_head.head.root_hash)
            .map_err(|e| ReceiptError::Inclusion(e.to_string()))?;
        self.tree_head.verify(trusted)?;
        Ok(leaf)
    }
}

/// Checks that `second` extends `first`: both signed by trusted keys, and the proof links them.
pub fn verify_consistency(
    first: &SignedTreeHead,
    second: &SignedTreeHead,
    proof: &ConsistencyProof,
    trusted: &[PublicKey],
) -> Result<(), ReceiptError> {
    first.verify(trusted)?;
    second.verify(trusted)?;
    if first.head.chain_id != second.head.chain_id {
        return Err(ReceiptError::ChainMismatch);
    }
    if proof.first != first.head.tree_size || proof.second != second.head.tree_size {
        return Err(ReceiptError::Consistency(
            "proof sizes differ from the tree heads".into(),
        ));
    }
    proof
        .verify(&first.head.root_hash, &second.head.root_hash)
        .map_err(|e| ReceiptError::Consistency(e.to_string()))
}
