//! `records.anchor`: the custodian anchors new versions of records it holds.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{RecordState, VersionAnchor, put_opt_str, read_id, read_opt, read_type, require_writer};
use crate::error::TxError;
use crate::identity::member_record;
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0201);

/// Most anchors in one transaction.
pub const MAX_ANCHORS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsAnchor {
    pub custodian: OrgId,
    pub anchors: Vec<Anchor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub resource_type: String,
    pub record_id: String,
    pub version: u64,
    pub patient: Option<String>,
    pub ciphertext: Hash32,
    pub author: MemberId,
}

impl Encode for Anchor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.resource_type);
        put::str(out, &self.record_id);
        put::u64(out, self.version);
        put_opt_str(out, &self.patient);
        self.ciphertext.encode_to(out);
        self.author.encode_to(out);
    }
}

impl Decode for Anchor {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Anchor {
            resource_type: read_type(r, "resource type")?,
            record_id: read_id(r, "record id")?,
            version: r.u64("version")?,
            patient: read_opt(r, "patient", |r| read_id(r, "patient"))?,
            ciphertext: Hash32::decode_from(r)?,
            author: MemberId::decode_from(r)?,
        })
    }
}

impl Encode for RecordsAnchor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.custodian.encode_to(out);
        put::len(out, self.anchors.len());
        for a in &self.anchors {
            a.encode_to(out);
        }
    }
}

impl Decode for RecordsAnchor {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let custodian = OrgId::decode_from(r)?;
        let anchors = r.seq(MAX_ANCHORS, 50, "anchors", Anchor::decode_from)?;
        if anchors.is_empty() {
            return Err(DecodeError::Invalid {
                what: "anchors",
                reason: "at least one anchor",
            });
        }
        Ok(RecordsAnchor { custodian, anchors })
    }
}

impl RecordsAnchor {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        require_writer(state, signer, &self.custodian)?;
        // Patients whose Patient record this transaction creates.
        let creating: std::collections::BTreeSet<&str> = self
            .anchors
            .iter()
            .filter(|a| a.resource_type == "Patient" && a.version == 1)
            .map(|a| a.record_id.as_str())
            .collect();
        let mut events = Vec::with_capacity(self.anchors.len());
        for a in &self.anchors {
            let author = member_record(state, &self.custodian, &a.author)?;
            if !author.active {
                return Err(TxError::MemberRevoked {
                    org: self.custodian.clone(),
                    member: a.author.clone(),
                });
            }
            let key = keys::record(&a.resource_type, &a.record_id);
            let current: Option<RecordState> = state.get_record(&key);
            // A new record names a patient only once that patient's Patient record is on
            // the ledger (or created in this transaction): a pseudonym first seen in
            // someone else's record could otherwise be claimed by anchoring a Patient
            // under it.
            if current.is_none()
                && let Some(p) = &a.patient
            {
                let known = creating.contains(p.as_str())
                    || super::record_state(state, "Patient", p).is_some_and(|r| !r.erased);
                if !known {
                    return Err(TxError::UnknownPatient);
                }
            }
            let next = match current {
                None if a.version == 1 => RecordState {
                    custodian: self.custodian.clone(),
                    patient: a.patient.clone(),
                    latest: 1,
                    erased: false,
                },
                None => {
                    return Err(TxError::VersionConflict {
                        expected: 1,
                        got: a.version,
                    });
                }
                Some(r) => {
                    if r.custodian != self.custodian {
                        return Err(TxError::NotCustodian);
                    }
                    if r.erased {
                        return Err(TxError::RecordErased);
                    }
                    if a.version != r.latest + 1 {
                        return Err(TxError::VersionConflict {
                            expected: r.latest + 1,
                            got: a.version,
                        });
                    }
                    if r.patient != a.patient {
                        return Err(TxError::PatientMismatch);
                    }
                    RecordState { latest: a.version, ..r }
                }
            };
            state.put_record(key, &next);
            state.put_record(
                keys::record_version(&a.resource_type, &a.record_id, a.version),
                &VersionAnchor {
                    ciphertext: a.ciphertext,
                    author: a.author.clone(),
                    height: ctx.height,
                    timestamp: ctx.timestamp,
                },
            );
            events.push(Event::RecordAnchored {
                resource_type: a.resource_type.clone(),
                record_id: a.record_id.clone(),
                version: a.version,
                patient: a.patient.clone(),
                custodian: self.custodian.clone(),
            });
        }
        Ok(events)
    }
}
