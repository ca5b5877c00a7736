//! `supply.capture`: the commitments of one capture job's EPCIS events (ADR 014 §2–3).
//!
//! Each commitment is applied, in order, to the state machine of every EPC it names:
//!
//! | step | requires | then |
//! |---|---|---|
//! | `Commission` | the EPC unknown (else a clone); its company prefix registered to the signer's organisation | `Active`, owned by the signer's organisation, lot and expiry kept |
//! | `Pack` | parent and children held; children not in another parent; at most [`MAX_LEVELS`](super::MAX_LEVELS) levels | children's parent set; an unknown SSCC parent is commissioned by the rule above |
//! | `Unpack` | parent held; the children listed are inside it | their parent cleared (all children when none are listed) |
//! | `Ship` | held, not recalled, suspect or quarantined, not inside a parent that stays behind | `InTransit` to the destination; children follow |
//! | `Receive` | in transit to the signer's organisation | owned by it, `Active`; children follow |
//! | `Dispense` | held, not recalled, suspect or quarantined, holds nothing | `Dispensed` (final) |
//! | `Decommission`, `Destroy` | held, holds nothing | `Decommissioned` / `Destroyed` (final) |
//! | `Observe` | held (a regulator: any item not final) | disposition recorded; quarantined when it is one of [`QUARANTINE_DISPOSITIONS`] |
//!
//! "Held" is: owned by the signer's organisation and `Active` — not in transit, not final.
//! A final item is refused by every step. Dispensing refuses a quarantined pack as shipping
//! does (ADR 014's table names only recalls and suspects there; a pack its holder found
//! damaged or expired must not reach a patient either). A dispensed, decommissioned or
//! destroyed item leaves its parent.
//!
//! The whole transaction is one capture job and is all or nothing: the first impossible
//! step refuses it with a [`TxError`] naming the commitment's index and the EPC, and
//! `apply_tx` rolls back every write the earlier commitments made. A hash ID is committed
//! once: a second commitment of it, in this transaction or any earlier one, is refused.
//!
//! Corrections: a commitment whose `corrects` names earlier events (EPCIS
//! `errorDeclaration` with its `correctiveEventIDs`) is a corrective event. It is applied
//! as any other, and its hash ID is appended to each corrected event's `corrected_by`; only
//! the organisation that captured an event may correct it, and a stored state is never
//! edited. The declaration itself has the erroneous event's hash ID (CBV 2.0 leaves
//! `errorDeclaration` out of the hash), so it is the corrective events that are committed.

use std::collections::BTreeSet;

use medledger_gs1::ident::{Element, EpcUri, Lot};
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::steps::StepRun;
use super::{
    EventRecord, MAX_CORRECTIONS, MAX_DISPOSITION, QUARANTINE_DISPOSITIONS, SupplyRights, event, put_epc, put_epcs,
    read_epc, read_epcs, supply_signer,
};
use crate::error::TxError;
use crate::records::{put_opt_str, read_opt};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0601);

/// Most commitments (events of one capture job) in one transaction.
pub const MAX_COMMITMENTS: usize = 1_000;

/// Most EPCs one commitment names.
pub const MAX_EPCS: usize = 10_000;

/// What an event does, from its type, action and CBV bizStep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// ObjectEvent ADD, bizStep `commissioning`.
    Commission,
    /// AggregationEvent ADD (`packing`).
    Pack,
    /// AggregationEvent DELETE (`unpacking`).
    Unpack,
    /// bizStep `shipping`.
    Ship,
    /// bizStep `receiving`.
    Receive,
    /// bizStep `dispensing`.
    Dispense,
    /// bizStep `decommissioning`.
    Decommission,
    /// bizStep `destroying`.
    Destroy,
    /// Any other bizStep (inspecting, storing, …) with its CBV disposition word.
    Observe { disposition: String },
}

impl Step {
    fn tag(&self) -> u8 {
        match self {
            Step::Commission => 0,
            Step::Pack => 1,
            Step::Unpack => 2,
            Step::Ship => 3,
            Step::Receive => 4,
            Step::Dispense => 5,
            Step::Decommission => 6,
            Step::Destroy => 7,
            Step::Observe { .. } => 8,
        }
    }
}

/// One event's commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// The CBV 2.0 event hash ID (the SHA-256 of `ni:///sha-256;…`).
    pub hash_id: Hash32,
    pub step: Step,
    /// The instance-level EPCs: for `Pack` and `Unpack` the children.
    pub epcs: Vec<EpcUri>,
    /// The parent of `Pack` and `Unpack` (required there, refused elsewhere).
    pub parent: Option<EpcUri>,
    /// The owner of the destination of `Ship` (required there, refused elsewhere).
    pub destination: Option<OrgId>,
    /// Lot (AI 10) of `Commission`.
    pub lot: Option<Lot>,
    /// Expiry (AI 17, `YYMMDD`) of `Commission`.
    pub expiry: Option<String>,
    /// Events this one corrects.
    pub corrects: Vec<Hash32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyCapture {
    pub commitments: Vec<Commitment>,
}

fn invalid(what: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { what, reason }
}

fn read_disposition(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let d = r.string(MAX_DISPOSITION, "disposition")?;
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(invalid("disposition", "a CBV disposition word: a-z and _"));
    }
    Ok(d)
}

fn read_step(r: &mut Reader<'_>) -> Result<Step, DecodeError> {
    Ok(match r.u8("step")? {
        0 => Step::Commission,
        1 => Step::Pack,
        2 => Step::Unpack,
        3 => Step::Ship,
        4 => Step::Receive,
        5 => Step::Dispense,
        6 => Step::Decommission,
        7 => Step::Destroy,
        8 => Step::Observe {
            disposition: read_disposition(r)?,
        },
        tag => return Err(DecodeError::InvalidTag { what: "step", tag }),
    })
}

fn read_lot(r: &mut Reader<'_>) -> Result<Lot, DecodeError> {
    let s = r.string(20, "lot")?;
    Lot::parse(&s).map_err(|_| invalid("lot", "1 to 20 characters of GS1 CSET 82"))
}

fn read_expiry(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let s = r.string(6, "expiry")?;
    Element::parse("17", &s).map_err(|_| invalid("expiry", "a GS1 date YYMMDD"))?;
    Ok(s)
}

impl Encode for Commitment {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.hash_id.encode_to(out);
        put::u8(out, self.step.tag());
        if let Step::Observe { disposition } = &self.step {
            put::str(out, disposition);
        }
        put_epcs(out, &self.epcs);
        match &self.parent {
            None => put::u8(out, 0),
            Some(p) => {
                put::u8(out, 1);
                put_epc(out, p);
            }
        }
        match &self.destination {
            None => put::u8(out, 0),
            Some(d) => {
                put::u8(out, 1);
                d.encode_to(out);
            }
        }
        put_opt_str(out, &self.lot.as_ref().map(|l| l.as_str().to_owned()));
        put_opt_str(out, &self.expiry);
        put::len(out, self.corrects.len());
        for h in &self.corrects {
            h.encode_to(out);
        }
    }
}

impl Decode for Commitment {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let c = Commitment {
            hash_id: Hash32::decode_from(r)?,
            step: read_step(r)?,
            epcs: read_epcs(r, MAX_EPCS, "epcs")?,
            parent: read_opt(r, "parent", |r| read_epc(r, "parent"))?,
            destination: read_opt(r, "destination", OrgId::decode_from)?,
            lot: read_opt(r, "lot", read_lot)?,
            expiry: read_opt(r, "expiry", read_expiry)?,
            corrects: r.seq(MAX_CORRECTIONS, 32, "corrects", Hash32::decode_from)?,
        };
        c.check_fields()?;
        Ok(c)
    }
}

impl Commitment {
    /// Each step carries the fields it needs and no others.
    fn check_fields(&self) -> Result<(), DecodeError> {
        let aggregation = matches!(self.step, Step::Pack | Step::Unpack);
        if aggregation != self.parent.is_some() {
            return Err(invalid("parent", "required for pack and unpack, refused otherwise"));
        }
        if (self.step == Step::Ship) != self.destination.is_some() {
            return Err(invalid("destination", "required for ship, refused otherwise"));
        }
        if self.step != Step::Commission && (self.lot.is_some() || self.expiry.is_some()) {
            return Err(invalid("lot", "lot and expiry only for commissioning"));
        }
        if self.epcs.is_empty() && self.step != Step::Unpack {
            return Err(invalid("epcs", "at least one EPC (only unpacking may list none)"));
        }
        Ok(())
    }
}

impl Encode for SupplyCapture {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::len(out, self.commitments.len());
        for c in &self.commitments {
            c.encode_to(out);
        }
    }
}

impl Decode for SupplyCapture {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // A commitment takes at least 32 (hash) + 1 + 4 + 1 + 1 + 1 + 1 + 4 bytes.
        let commitments = r.seq(MAX_COMMITMENTS, 45, "commitments", Commitment::decode_from)?;
        if commitments.is_empty() {
            return Err(invalid("commitments", "at least one"));
        }
        Ok(SupplyCapture { commitments })
    }
}

impl SupplyCapture {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let (org, rights) = supply_signer(state, signer)?;
        let mut written = BTreeSet::new();
        for (i, c) in self.commitments.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if rights == SupplyRights::Inspect && !matches!(c.step, Step::Observe { .. }) {
                return Err(TxError::NotAuthorized);
            }
            if event(state, &c.hash_id).is_some() {
                return Err(TxError::DuplicateEvent {
                    index,
                    hash_id: c.hash_id,
                });
            }
            record_corrections(state, &org, index, c)?;
            let mut run = StepRun {
                state: &mut *state,
                org: &org,
                inspector: rights == SupplyRights::Inspect,
                index,
                event: c.hash_id,
                height: ctx.height,
                written: &mut written,
            };
            run.apply(c)?;
            state.put_record(
                keys::supply_event(&c.hash_id),
                &EventRecord {
                    capturer: org.clone(),
                    height: ctx.height,
                    corrected_by: Vec::new(),
                },
            );
        }
        Ok(vec![Event::SupplyCaptured {
            org,
            items: u32::try_from(written.len()).unwrap_or(u32::MAX),
            hash_ids: self.commitments.iter().map(|c| c.hash_id).collect(),
        }])
    }
}

/// Appends the commitment's hash ID to every event it corrects: events on the ledger,
/// captured by the same organisation.
fn record_corrections(state: &mut Overlay<'_>, org: &OrgId, index: u32, c: &Commitment) -> Result<(), TxError> {
    for corrected in &c.corrects {
        let mut rec = event(state, corrected).ok_or(TxError::UnknownEvent {
            index,
            hash_id: *corrected,
        })?;
        if &rec.capturer != org {
            return Err(TxError::NotAuthorized);
        }
        if rec.corrected_by.len() >= MAX_CORRECTIONS {
            return Err(TxError::TooManyCorrections {
                index,
                hash_id: *corrected,
            });
        }
        rec.corrected_by.push(c.hash_id);
        state.put_record(keys::supply_event(corrected), &rec);
    }
    Ok(())
}

/// Whether an observed disposition puts the item in quarantine.
pub(crate) fn quarantines(disposition: &str) -> bool {
    QUARANTINE_DISPOSITIONS.contains(&disposition)
}
