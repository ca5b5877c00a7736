//! `supply.recall`: recall a lot, or mark serials suspect (or clear the mark) (ADR 014 §4;
//! the ADR's `supply.flag` is this kind's second form).
//!
//! Rules:
//! - Signed by an active admin of the organisation that owns the GTIN's company prefix
//!   (every EPC's, for a suspect mark), or of a regulator.
//! - A recall is of one (GTIN, lot), for good: it is kept under `supply/recall/{gtin}/{lot}`,
//!   whether or not any pack of the lot is on the ledger yet, and recalling it again is
//!   refused. Every holder's shipping and dispensing of the lot's packs is refused from
//!   the next transaction on.
//! - A suspect mark names serials on the ledger; shipping and dispensing them is refused
//!   until the mark is cleared the same way.

use medledger_gs1::ident::{EpcUri, Gtin, Lot};
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::capture::MAX_EPCS;
use super::{RecallRecord, gtin_owner, item, prefix_owner, put_epcs, read_epcs, recall_of};
use crate::error::TxError;
use crate::identity::{OrgRole, require_org, signer_admin};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0602);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "recall", rename_all = "snake_case")]
pub enum SupplyRecall {
    /// Recall every pack of a lot.
    Lot { gtin: Gtin, lot: Lot },
    /// Mark serials suspect (`suspect: true`) or clear the mark.
    Suspect { epcs: Vec<EpcUri>, suspect: bool },
}

fn invalid(what: &'static str) -> DecodeError {
    DecodeError::Invalid {
        what,
        reason: "not a valid GS1 key",
    }
}

impl Encode for SupplyRecall {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            SupplyRecall::Lot { gtin, lot } => {
                put::u8(out, 0);
                put::str(out, gtin.as_str());
                put::str(out, lot.as_str());
            }
            SupplyRecall::Suspect { epcs, suspect } => {
                put::u8(out, 1);
                put_epcs(out, epcs);
                put::bool(out, *suspect);
            }
        }
    }
}

impl Decode for SupplyRecall {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("recall")? {
            0 => {
                let gtin = r.string(14, "gtin")?;
                let lot = r.string(20, "lot")?;
                SupplyRecall::Lot {
                    // Only the 14-digit form, so that one GTIN has one recall key.
                    gtin: Gtin::parse(&gtin)
                        .ok()
                        .filter(|g| g.as_str() == gtin)
                        .ok_or_else(|| invalid("gtin"))?,
                    lot: Lot::parse(&lot).map_err(|_| invalid("lot"))?,
                }
            }
            1 => {
                let epcs = read_epcs(r, MAX_EPCS, "epcs")?;
                if epcs.is_empty() {
                    return Err(DecodeError::Invalid {
                        what: "epcs",
                        reason: "at least one",
                    });
                }
                SupplyRecall::Suspect {
                    epcs,
                    suspect: r.bool("suspect")?,
                }
            }
            tag => return Err(DecodeError::InvalidTag { what: "recall", tag }),
        })
    }
}

impl SupplyRecall {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let org = signer_admin(state, signer)?.org;
        let regulator = require_org(state, &org)?.role == OrgRole::Regulator;
        let owns = |owner: Option<OrgId>| regulator || owner.as_ref() == Some(&org);
        match self {
            SupplyRecall::Lot { gtin, lot } => {
                if !owns(gtin_owner(state, gtin.as_str())) {
                    return Err(TxError::NotAuthorized);
                }
                if recall_of(state, gtin.as_str(), lot.as_str()).is_some() {
                    return Err(TxError::AlreadyRecalled);
                }
                state.put_record(
                    keys::supply_recall(gtin.as_str(), lot.as_str()),
                    &RecallRecord {
                        by: org.clone(),
                        height: ctx.height,
                    },
                );
                Ok(vec![Event::LotRecalled {
                    gtin: gtin.as_str().to_owned(),
                    lot: lot.as_str().to_owned(),
                    by: org,
                }])
            }
            SupplyRecall::Suspect { epcs, suspect } => {
                for (i, uri) in epcs.iter().enumerate() {
                    let index = u32::try_from(i).unwrap_or(u32::MAX);
                    let epc = uri.to_string();
                    if !owns(prefix_owner(state, uri.company_prefix())) {
                        return Err(TxError::NotAuthorized);
                    }
                    let mut rec = item(state, &epc).ok_or_else(|| TxError::UnknownEpc {
                        index,
                        epc: epc.clone(),
                    })?;
                    rec.suspect = *suspect;
                    rec.updated_at = ctx.height;
                    state.put_record(keys::supply_item(&epc), &rec);
                }
                Ok(vec![Event::SuspectMarked {
                    by: org,
                    items: u32::try_from(epcs.len()).unwrap_or(u32::MAX),
                    suspect: *suspect,
                }])
            }
        }
    }
}
