//! Medicines: the serialised supply chain of packs, cases and pallets (ADR 014).
//!
//! The full EPCIS events stay with the organisation that captured them; the ledger gets a
//! *commitment* of each (its CBV 2.0 event hash ID and what it does to which EPCs), and
//! keeps one state machine per EPC. Validators never see an event, so they cannot check
//! that a commitment matches it — the trading partners who receive the event recompute
//! its hash and find any lie; the ledger refuses every step that cannot happen.
//!
//! # Records and keys
//!
//! - `supply/item/{epc}` → [`ItemRecord`]: one per instance-level EPC (SGTIN or SSCC
//!   pure identity URN, in its canonical form: as [`EpcUri`] writes it, which is the only
//!   form a transaction may name it in).
//! - `supply/event/{hex hash ID}` → [`EventRecord`]: every committed event, so that a hash
//!   ID is committed once, and corrections are recorded against it.
//! - `supply/recall/{gtin}/{lot}` → [`RecallRecord`]: a recalled lot.
//! - `gs1/prefix/{company prefix}` and `gs1/gln/{gln}` → the owning [`OrgId`]: the registry
//!   of GS1 identifiers, written by genesis (`orgs[].gs1`). The registry's company prefixes
//!   are prefix-free (no prefix is the start of another), so a GTIN has at most one owner
//!   and an EPC's company prefix is the one its owner registered. The consortium changes
//!   the registry by vote ([`vote_gs1`]), which keeps it prefix-free with the counts
//!   `gs1/under/{digits}`.
//!
//! # Who may capture
//!
//! An active admin or service member (the organisation's node) of an organisation whose
//! role takes part in the supply chain: manufacturers, distributors, pharmacies, hospitals
//! and clinics (which dispense too) may commit every step; a regulator may commit
//! observations only (inspections), of any item, held by anyone. Laboratories, insurers
//! and research sponsors may not capture. Commissioning further needs the EPC's company
//! prefix to be registered to the signer's organisation, whatever its role.
//!
//! The step rules (ADR 014 §3) are in [`capture`]; recalls and suspect marks in [`recall`];
//! how an EPCIS event becomes a commitment in [`from_epcis`]. A prescription's fill
//! (`rx.dispense`) dispenses its packs through the same `Dispense` step
//! (`dispense_packs`).

pub mod capture;
pub mod from_epcis;
pub mod recall;
mod steps;
pub mod vote_gs1;

pub use from_epcis::{DocumentError, EventCommitment, FromEpcisError, commitment_of, commitments_of};

use medledger_gs1::ident::EpcUri;
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, Height, OrgId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::identity::{KeyStatus, MemberKind, OrgRole, require_org, signer_record};
use crate::records::{put_opt_str, read_opt};
use crate::state::{Overlay, StateRead, keys, read};

/// Longest EPC URN a transaction may name (the longest SGTIN, with a 20-character serial
/// of escaped characters, is under 100 bytes).
pub const MAX_EPC_LEN: usize = 128;

/// Most levels of aggregation: pallet → case → pack.
pub const MAX_LEVELS: usize = 3;

/// Most items directly inside one parent.
pub const MAX_CHILDREN: usize = 10_000;

/// Most corrections recorded against one event.
pub const MAX_CORRECTIONS: usize = 16;

/// Longest CBV disposition word.
pub const MAX_DISPOSITION: usize = 64;

/// Dispositions after which an item is quarantined: it may not be shipped or dispensed
/// until an observation by its holder records another disposition.
pub const QUARANTINE_DISPOSITIONS: [&str; 5] = ["damaged", "expired", "non_sellable_other", "recalled", "stolen"];

/// Where an item is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemState {
    /// Held by its owner.
    Active,
    /// Shipped by its owner to `to`, not yet received.
    InTransit { to: OrgId },
    /// Final.
    Dispensed,
    /// Final.
    Decommissioned,
    /// Final.
    Destroyed,
}

impl ItemState {
    /// Dispensed, decommissioned or destroyed: nothing happens to the item any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ItemState::Dispensed | ItemState::Decommissioned | ItemState::Destroyed
        )
    }
}

/// `supply/item/{epc}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub state: ItemState,
    /// The organisation that holds it (or shipped it, while it is in transit).
    pub owner: OrgId,
    /// The EPC of the item it is packed in.
    pub parent: Option<String>,
    /// The EPCs packed directly inside it, sorted.
    pub children: Vec<String>,
    /// The GTIN-14 of an SGTIN; `None` for an SSCC.
    pub gtin: Option<String>,
    /// Batch/lot (AI 10) from commissioning.
    pub lot: Option<String>,
    /// Expiry date (AI 17, `YYMMDD`) from commissioning.
    pub expiry: Option<String>,
    /// Marked suspect by the GTIN's owner or a regulator (`supply.recall`).
    pub suspect: bool,
    /// The last observed disposition is one of [`QUARANTINE_DISPOSITIONS`].
    pub quarantined: bool,
    /// The last disposition an observation recorded.
    pub disposition: Option<String>,
    /// The hash ID of the last event that changed the item.
    pub last_event: Hash32,
    pub updated_at: Height,
}

/// `supply/event/{hex hash ID}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The organisation that captured the event and holds it.
    pub capturer: OrgId,
    pub height: Height,
    /// Hash IDs of later events that declared this one in error, in order.
    pub corrected_by: Vec<Hash32>,
}

/// `supply/recall/{gtin}/{lot}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallRecord {
    /// The GTIN's owner or a regulator.
    pub by: OrgId,
    pub height: Height,
}

/// Why an item may not move: the flags checked at shipping and dispensing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    Recalled,
    Suspect,
    Quarantined,
}

impl Hold {
    pub fn name(self) -> &'static str {
        match self {
            Hold::Recalled => "recalled",
            Hold::Suspect => "suspect",
            Hold::Quarantined => "quarantined",
        }
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an organisation's role lets its members capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupplyRights {
    /// Every step.
    Trade,
    /// Observations of any item (a regulator's inspections).
    Inspect,
    None,
}

pub fn rights(role: OrgRole) -> SupplyRights {
    match role {
        OrgRole::Manufacturer | OrgRole::Distributor | OrgRole::Pharmacy | OrgRole::Hospital | OrgRole::Clinic => {
            SupplyRights::Trade
        }
        OrgRole::Regulator => SupplyRights::Inspect,
        OrgRole::Lab | OrgRole::Insurer | OrgRole::ResearchSponsor => SupplyRights::None,
    }
}

/// The signer's organisation and its rights, if the signer is an active admin or service
/// member of an organisation that takes part in the supply chain.
pub(crate) fn supply_signer(state: &Overlay<'_>, signer: &PublicKey) -> Result<(OrgId, SupplyRights), TxError> {
    let rec = signer_record(state, signer)?;
    if rec.status != KeyStatus::Active || !matches!(rec.kind, MemberKind::Admin | MemberKind::Service) {
        return Err(TxError::NotAuthorized);
    }
    match rights(require_org(state, &rec.org)?.role) {
        SupplyRights::None => Err(TxError::NotAuthorized),
        r => Ok((rec.org, r)),
    }
}

/// The item's record, if the EPC is known. `epc` is a canonical EPC URN.
pub fn item(state: &dyn StateRead, epc: &str) -> Option<ItemRecord> {
    read(state, &keys::supply_item(epc))
}

/// The committed event, if any.
pub fn event(state: &dyn StateRead, hash_id: &Hash32) -> Option<EventRecord> {
    read(state, &keys::supply_event(hash_id))
}

/// The recall of a lot, if it is recalled.
pub fn recall_of(state: &dyn StateRead, gtin: &str, lot: &str) -> Option<RecallRecord> {
    read(state, &keys::supply_recall(gtin, lot))
}

/// The organisation a GS1 Company Prefix is registered to.
pub fn prefix_owner(state: &dyn StateRead, prefix: &str) -> Option<OrgId> {
    read(state, &keys::gs1_prefix(prefix))
}

/// The organisation a GLN is registered to.
pub fn gln_owner(state: &dyn StateRead, gln: &str) -> Option<OrgId> {
    read(state, &keys::gs1_gln(gln))
}

/// The owner of a GTIN-14: the organisation whose registered company prefix it carries
/// (after the indicator digit). The registry is prefix-free, so there is at most one.
pub fn gtin_owner(state: &dyn StateRead, gtin: &str) -> Option<OrgId> {
    let digits = gtin.get(1..)?;
    (6..=12).find_map(|l| digits.get(..l).and_then(|p| prefix_owner(state, p)))
}

/// The first hold that stops the item from moving, if any.
pub fn hold(state: &dyn StateRead, rec: &ItemRecord) -> Option<Hold> {
    let recalled = match (&rec.gtin, &rec.lot) {
        (Some(gtin), Some(lot)) => recall_of(state, gtin, lot).is_some(),
        _ => false,
    };
    if recalled {
        Some(Hold::Recalled)
    } else if rec.suspect {
        Some(Hold::Suspect)
    } else if rec.quarantined {
        Some(Hold::Quarantined)
    } else {
        None
    }
}

/// Dispenses the packs of a prescription fill (`rx.dispense`): the `Dispense` step of
/// [`capture`] on each pack, for the signer's organisation `org`. The items' `last_event`
/// becomes the fill's id, which is not an EPCIS event: the fill is kept under
/// `rx/fill/{id}` (ADR 014 §6). An error names the pack by its position in `packs`.
pub(crate) fn dispense_packs(
    state: &mut Overlay<'_>,
    org: &OrgId,
    packs: &[EpcUri],
    fill: Hash32,
    height: Height,
) -> Result<(), TxError> {
    let mut written = std::collections::BTreeSet::new();
    for (i, pack) in packs.iter().enumerate() {
        let commitment = capture::Commitment {
            hash_id: fill,
            step: capture::Step::Dispense,
            epcs: vec![pack.clone()],
            parent: None,
            destination: None,
            lot: None,
            expiry: None,
            corrects: Vec::new(),
        };
        steps::StepRun {
            state: &mut *state,
            org,
            inspector: false,
            index: u32::try_from(i).unwrap_or(u32::MAX),
            event: fill,
            height,
            written: &mut written,
        }
        .apply(&commitment)?;
    }
    Ok(())
}

/// An SGTIN or SSCC pure identity URN, the only EPCs the ledger tracks, in canonical form.
pub(crate) fn read_epc(r: &mut Reader<'_>, what: &'static str) -> Result<EpcUri, DecodeError> {
    let s = r.string(MAX_EPC_LEN, what)?;
    let uri = EpcUri::parse(&s).map_err(|_| DecodeError::Invalid {
        what,
        reason: "not an EPC URN",
    })?;
    if !matches!(uri, EpcUri::Sgtin { .. } | EpcUri::Sscc { .. }) {
        return Err(DecodeError::Invalid {
            what,
            reason: "only SGTIN and SSCC pure identity URNs are tracked",
        });
    }
    if uri.to_string() != s {
        return Err(DecodeError::Invalid {
            what,
            reason: "not in canonical form (lower-case scheme, only the TDS escapes)",
        });
    }
    Ok(uri)
}

pub(crate) fn put_epc(out: &mut Vec<u8>, epc: &EpcUri) {
    put::str(out, &epc.to_string());
}

/// A sequence of EPCs, each at least 20 bytes encoded.
pub(crate) fn read_epcs(r: &mut Reader<'_>, max: usize, what: &'static str) -> Result<Vec<EpcUri>, DecodeError> {
    r.seq(max, 20, what, |r| read_epc(r, what))
}

pub(crate) fn put_epcs(out: &mut Vec<u8>, epcs: &[EpcUri]) {
    put::len(out, epcs.len());
    for e in epcs {
        put_epc(out, e);
    }
}

fn read_stored_str(r: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    r.string(MAX_EPC_LEN, what)
}

impl Encode for ItemState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            ItemState::Active => put::u8(out, 0),
            ItemState::InTransit { to } => {
                put::u8(out, 1);
                to.encode_to(out);
            }
            ItemState::Dispensed => put::u8(out, 2),
            ItemState::Decommissioned => put::u8(out, 3),
            ItemState::Destroyed => put::u8(out, 4),
        }
    }
}

impl Decode for ItemState {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("item state")? {
            0 => ItemState::Active,
            1 => ItemState::InTransit {
                to: OrgId::decode_from(r)?,
            },
            2 => ItemState::Dispensed,
            3 => ItemState::Decommissioned,
            4 => ItemState::Destroyed,
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "item state",
                    tag,
                });
            }
        })
    }
}

impl Encode for ItemRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.state.encode_to(out);
        self.owner.encode_to(out);
        put_opt_str(out, &self.parent);
        put::len(out, self.children.len());
        for c in &self.children {
            put::str(out, c);
        }
        put_opt_str(out, &self.gtin);
        put_opt_str(out, &self.lot);
        put_opt_str(out, &self.expiry);
        put::bool(out, self.suspect);
        put::bool(out, self.quarantined);
        put_opt_str(out, &self.disposition);
        self.last_event.encode_to(out);
        self.updated_at.encode_to(out);
    }
}

impl Decode for ItemRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ItemRecord {
            state: ItemState::decode_from(r)?,
            owner: OrgId::decode_from(r)?,
            parent: read_opt(r, "parent", |r| read_stored_str(r, "parent"))?,
            children: r.seq(MAX_CHILDREN, 4, "children", |r| read_stored_str(r, "child"))?,
            gtin: read_opt(r, "gtin", |r| read_stored_str(r, "gtin"))?,
            lot: read_opt(r, "lot", |r| read_stored_str(r, "lot"))?,
            expiry: read_opt(r, "expiry", |r| read_stored_str(r, "expiry"))?,
            suspect: r.bool("suspect")?,
            quarantined: r.bool("quarantined")?,
            disposition: read_opt(r, "disposition", |r| r.string(MAX_DISPOSITION, "disposition"))?,
            last_event: Hash32::decode_from(r)?,
            updated_at: Height::decode_from(r)?,
        })
    }
}

impl Encode for EventRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.capturer.encode_to(out);
        self.height.encode_to(out);
        put::len(out, self.corrected_by.len());
        for h in &self.corrected_by {
            h.encode_to(out);
        }
    }
}

impl Decode for EventRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EventRecord {
            capturer: OrgId::decode_from(r)?,
            height: Height::decode_from(r)?,
            corrected_by: r.seq(MAX_CORRECTIONS, 32, "corrected by", Hash32::decode_from)?,
        })
    }
}

impl Encode for RecallRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.by.encode_to(out);
        self.height.encode_to(out);
    }
}

impl Decode for RecallRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RecallRecord {
            by: OrgId::decode_from(r)?,
            height: Height::decode_from(r)?,
        })
    }
}
