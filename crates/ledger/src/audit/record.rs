//! `audit.record`: a node anchors the audit entries it wrote durably before answering.
//! Re-submitting an entry (after a crash) is harmless: an id already on the ledger is
//! skipped.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{AuditEntry, AuditLocator};
use crate::error::TxError;
use crate::records::require_writer;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0401);

pub const MAX_ENTRIES: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub node_org: OrgId,
    pub entries: Vec<AuditEntry>,
}

impl Encode for AuditRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.node_org.encode_to(out);
        put::len(out, self.entries.len());
        for e in &self.entries {
            e.encode_to(out);
        }
    }
}

impl Decode for AuditRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let node_org = OrgId::decode_from(r)?;
        let entries = r.seq(MAX_ENTRIES, 50, "audit entries", AuditEntry::decode_from)?;
        if entries.is_empty() {
            return Err(DecodeError::Invalid {
                what: "audit entries",
                reason: "at least one entry",
            });
        }
        Ok(AuditRecord { node_org, entries })
    }
}

impl AuditRecord {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_writer(state, signer, &self.node_org)?;
        let (mut new, mut duplicates) = (0u32, 0u32);
        for e in &self.entries {
            let key = keys::audit(&e.id);
            if state.get(&key).is_some() {
                duplicates += 1;
                continue;
            }
            state.put_record(key, &AuditLocator { height: ctx.height });
            new += 1;
        }
        Ok(vec![Event::AuditRecorded {
            node_org: self.node_org.clone(),
            new,
            duplicates,
        }])
    }
}
