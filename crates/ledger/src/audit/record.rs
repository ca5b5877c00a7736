//! `audit.record`: a node anchors the audit entries it wrote durably before answering.
//!
//! A node numbers its entries 0, 1, 2 … in the order it wrote them; a transaction carries
//! a run of consecutive entries starting at `first_seq`. The ledger keeps, per node service
//! key, the next number it expects (`auditnext/{key}`): entries below it are repeats (a node
//! re-submitting after a crash) and are skipped, and a run that starts above it is refused
//! (`audit_gap`) so that no entry can be skipped over. One state write per transaction,
//! however many entries it holds (ADR 009).

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::AuditEntry;
use crate::error::TxError;
use crate::records::require_writer;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0401);

pub const MAX_ENTRIES: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub node_org: OrgId,
    /// The node's sequence number of the first entry; the others follow consecutively.
    pub first_seq: u64,
    pub entries: Vec<AuditEntry>,
}

impl Encode for AuditRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.node_org.encode_to(out);
        put::u64(out, self.first_seq);
        put::len(out, self.entries.len());
        for e in &self.entries {
            e.encode_to(out);
        }
    }
}

impl Decode for AuditRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let node_org = OrgId::decode_from(r)?;
        let first_seq = r.u64("first sequence number")?;
        let entries = r.seq(MAX_ENTRIES, 50, "audit entries", AuditEntry::decode_from)?;
        if entries.is_empty() {
            return Err(DecodeError::Invalid {
                what: "audit entries",
                reason: "at least one entry",
            });
        }
        if first_seq.checked_add(entries.len() as u64).is_none() {
            return Err(DecodeError::Invalid {
                what: "first sequence number",
                reason: "the run of entries overflows",
            });
        }
        Ok(AuditRecord {
            node_org,
            first_seq,
            entries,
        })
    }
}

/// The next audit sequence number the ledger expects from a node's service key.
pub fn next_seq(state: &dyn crate::StateRead, signer: &PublicKey) -> u64 {
    state
        .get(&keys::audit_next(signer))
        .and_then(|raw| <[u8; 8]>::try_from(raw.as_slice()).ok())
        .map_or(0, u64::from_le_bytes)
}

impl AuditRecord {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        _ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_writer(state, signer, &self.node_org)?;
        let next = next_seq(state, signer);
        if self.first_seq > next {
            return Err(TxError::AuditGap {
                expected: next,
                got: self.first_seq,
            });
        }
        let count = self.entries.len() as u64;
        // Decoding refused runs that overflow.
        let end = self.first_seq + count;
        let new = end.saturating_sub(next);
        if new > 0 {
            state.put(keys::audit_next(signer), end.to_le_bytes().to_vec());
        }
        let (new, duplicates) = (new as u32, (count - new) as u32);
        Ok(vec![Event::AuditRecorded {
            node_org: self.node_org.clone(),
            new,
            duplicates,
        }])
    }
}
