//! What a node hands out as proof, and how anyone checks it offline.
//!
//! A receipt says: transaction `tx_hash` is leaf `leaf_index` of the transparency log,
//! with this leaf (height, position, outcome); here is the RFC 9162 inclusion proof to a
//! tree head of size `tree_size`. The tree head is backed by the validator set, not by
//! the node that answered: it carries the header of the block that produced it and that
//! block's commit certificate (more than two thirds of the genesis voting power signed
//! the header's hash), and the header's log size, root and time must be the tree head's.
//! The answering node also signs the tree head, which makes it accountable for it.

use medledger_crypto::verify;
use medledger_ledger::Genesis;
use medledger_merkle::{ConsistencyProof, InclusionProof, leaf_hash};
use medledger_types::codec::Decode;
use medledger_types::{BlockHeader, Commit, Hash32, LogLeaf, PublicKey, Signature, TreeHead, commit_sign_bytes};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A tree head with a node's signature over [`TreeHead::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    #[serde(flatten)]
    pub head: TreeHead,
    pub signer: PublicKey,
    pub signature: Signature,
    /// The block that produced this tree head, with its commit certificate. Absent only
    /// for the empty log of a new chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<HeadCertificate>,
}

/// A block header and its commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadCertificate {
    pub header: BlockHeader,
    pub commit: Commit,
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
    #[error("the tree head of a non-empty log carries no commit certificate")]
    NoCertificate,
    #[error("the commit certificate does not verify: {0}")]
    Certificate(String),
    #[error("the certified block header does not match the tree head ({0})")]
    HeaderMismatch(&'static str),
}

/// Checks a block's commit certificate against the genesis validator set: every signer
/// is a validator, signs at most once, over `commit_sign_bytes` of this header, and the
/// signers hold more than two thirds of the voting power.
pub fn verify_commit(genesis: &Genesis, header: &BlockHeader, commit: &Commit) -> Result<(), ReceiptError> {
    let fail = |m: String| Err(ReceiptError::Certificate(m));
    if header.chain_id != genesis.chain_id {
        return fail(format!("the block is for chain {}", header.chain_id));
    }
    let total: u64 = genesis.validators.iter().map(|v| v.power).sum();
    let msg = commit_sign_bytes(&genesis.chain_id, header.height, commit.round, &header.hash());
    let mut signed = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    for sig in &commit.signatures {
        let Some(v) = genesis.validators.iter().find(|v| v.public_key == sig.validator) else {
            return fail(format!("signed by {}, which is not a validator", sig.validator));
        };
        if !seen.insert(sig.validator) {
            return fail(format!("validator {} signed twice", sig.validator));
        }
        if verify(&sig.validator, &msg, &sig.signature).is_err() {
            return fail(format!("the signature of {} does not verify", sig.validator));
        }
        signed = signed.saturating_add(v.power);
    }
    if signed.saturating_mul(3) <= total.saturating_mul(2) {
        return fail(format!(
            "it holds {signed} of {total} voting power, more than two thirds are needed"
        ));
    }
    Ok(())
}

impl SignedTreeHead {
    /// Checks the tree head against the genesis validator set: the commit certificate of
    /// the block that produced it, that block's log size, root and time, and the
    /// answering node's signature (it must be a validator).
    pub fn verify(&self, genesis: &Genesis) -> Result<(), ReceiptError> {
        if self.head.chain_id != genesis.chain_id {
            return Err(ReceiptError::ChainMismatch);
        }
        match &self.certificate {
            Some(c) => {
                verify_commit(genesis, &c.header, &c.commit)?;
                let h = &c.header;
                if h.log_size != self.head.tree_size {
                    return Err(ReceiptError::HeaderMismatch("log size"));
                }
                if h.log_root != self.head.root_hash {
                    return Err(ReceiptError::HeaderMismatch("log root"));
                }
                if h.timestamp != self.head.timestamp {
                    return Err(ReceiptError::HeaderMismatch("timestamp"));
                }
            }
            None if self.head.tree_size.0 == 0 => {}
            None => return Err(ReceiptError::NoCertificate),
        }
        if !genesis.validators.iter().any(|v| v.public_key == self.signer) {
            return Err(ReceiptError::UntrustedSigner(self.signer));
        }
        verify(&self.signer, &self.head.sign_bytes(), &self.signature).map_err(|_| ReceiptError::BadSignature)
    }
}

impl Receipt {
    /// Checks everything in the receipt; returns the decoded leaf.
    pub fn verify(&self, genesis: &Genesis) -> Result<LogLeaf, ReceiptError> {
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
        self.tree_head.verify(genesis)?;
        Ok(leaf)
    }
}

/// Checks that `second` extends `first`: both certified by the validator set, and the
/// proof links them.
pub fn verify_consistency(
    first: &SignedTreeHead,
    second: &SignedTreeHead,
    proof: &ConsistencyProof,
    genesis: &Genesis,
) -> Result<(), ReceiptError> {
    first.verify(genesis)?;
    second.verify(genesis)?;
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
