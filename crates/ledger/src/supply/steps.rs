//! The state machine of one EPC: how each [`Step`] of a commitment changes the items it
//! names (the table is in [`super::capture`]).

use std::collections::BTreeSet;

use medledger_gs1::ident::{EpcUri, Lot};
use medledger_types::{Hash32, Height, OrgId};

use super::capture::{Commitment, Step, quarantines};
use super::{Hold, ItemRecord, ItemState, MAX_CHILDREN, MAX_LEVELS, SupplyRights, hold, item, prefix_owner, rights};
use crate::error::TxError;
use crate::identity::require_org;
use crate::state::{Overlay, keys};

/// Why a step is impossible for one EPC.
enum Why {
    Clone,
    NotPrefixOwner,
    Unknown,
    NotHeld,
    NotShippedToYou,
    Final,
    OnHold(Hold),
    Aggregation(&'static str),
}

/// Where a shipment or a receipt takes an item.
enum Move<'m> {
    Ship(&'m OrgId),
    Receive,
}

/// One commitment being applied.
pub(super) struct StepRun<'r, 'a> {
    pub state: &'r mut Overlay<'a>,
    pub org: &'r OrgId,
    /// A regulator: observes any item, commits nothing else.
    pub inspector: bool,
    pub index: u32,
    pub event: Hash32,
    pub height: Height,
    /// Every item written by the transaction so far.
    pub written: &'r mut BTreeSet<String>,
}

impl StepRun<'_, '_> {
    pub fn apply(&mut self, c: &Commitment) -> Result<(), TxError> {
        match (&c.step, &c.parent, &c.destination) {
            (Step::Commission, ..) => c
                .epcs
                .iter()
                .try_for_each(|e| self.commission(e, c.lot.as_ref(), c.expiry.as_deref())),
            (Step::Pack, Some(parent), _) => self.pack(parent, &c.epcs),
            (Step::Unpack, Some(parent), _) => self.unpack(parent, &c.epcs),
            (Step::Ship, _, Some(to)) => {
                if rights(require_org(self.state, to)?.role) != SupplyRights::Trade {
                    return Err(TxError::NotAuthorized);
                }
                self.move_trees(&c.epcs, &Move::Ship(to))
            }
            (Step::Receive, ..) => self.move_trees(&c.epcs, &Move::Receive),
            (Step::Dispense, ..) => self.finish(&c.epcs, ItemState::Dispensed),
            (Step::Decommission, ..) => self.finish(&c.epcs, ItemState::Decommissioned),
            (Step::Destroy, ..) => self.finish(&c.epcs, ItemState::Destroyed),
            (Step::Observe { disposition }, ..) => c.epcs.iter().try_for_each(|e| self.observe(e, disposition)),
            // `Commitment::decode` refuses a pack, unpack or ship without its field.
            (Step::Pack | Step::Unpack | Step::Ship, ..) => Err(TxError::NotAuthorized),
        }
    }

    fn refuse(&self, epc: &str, why: Why) -> TxError {
        let (index, epc) = (self.index, epc.to_owned());
        match why {
            Why::Clone => TxError::EpcClone { index, epc },
            Why::NotPrefixOwner => TxError::NotPrefixOwner { index, epc },
            Why::Unknown => TxError::UnknownEpc { index, epc },
            Why::NotHeld => TxError::NotHeld { index, epc },
            Why::NotShippedToYou => TxError::NotShippedToYou { index, epc },
            Why::Final => TxError::ItemFinal { index, epc },
            Why::OnHold(hold) => TxError::ItemOnHold { index, epc, hold },
            Why::Aggregation(reason) => TxError::Aggregation { index, epc, reason },
        }
    }

    fn load(&self, epc: &str) -> Result<ItemRecord, TxError> {
        item(self.state, epc).ok_or_else(|| self.refuse(epc, Why::Unknown))
    }

    fn save(&mut self, epc: &str, mut rec: ItemRecord) {
        rec.last_event = self.event;
        rec.updated_at = self.height;
        self.state.put_record(keys::supply_item(epc), &rec);
        self.written.insert(epc.to_owned());
    }

    /// Owned by the signer's organisation and `Active`.
    fn check_held(&self, epc: &str, rec: &ItemRecord) -> Result<(), TxError> {
        if rec.state.is_final() {
            return Err(self.refuse(epc, Why::Final));
        }
        if &rec.owner != self.org || rec.state != ItemState::Active {
            return Err(self.refuse(epc, Why::NotHeld));
        }
        Ok(())
    }

    fn check_no_hold(&self, epc: &str, rec: &ItemRecord) -> Result<(), TxError> {
        match hold(self.state, rec) {
            Some(h) => Err(self.refuse(epc, Why::OnHold(h))),
            None => Ok(()),
        }
    }

    fn commission(&mut self, uri: &EpcUri, lot: Option<&Lot>, expiry: Option<&str>) -> Result<(), TxError> {
        let epc = uri.to_string();
        if item(self.state, &epc).is_some() {
            return Err(self.refuse(&epc, Why::Clone));
        }
        if prefix_owner(self.state, uri.company_prefix()).as_ref() != Some(self.org) {
            return Err(self.refuse(&epc, Why::NotPrefixOwner));
        }
        let gtin = match uri {
            EpcUri::Sgtin { gtin, .. } => Some(gtin.as_str().to_owned()),
            _ => None,
        };
        let trade_item = gtin.is_some();
        let rec = ItemRecord {
            state: ItemState::Active,
            owner: self.org.clone(),
            parent: None,
            children: Vec::new(),
            gtin,
            lot: lot.filter(|_| trade_item).map(|l| l.as_str().to_owned()),
            expiry: expiry.filter(|_| trade_item).map(str::to_owned),
            suspect: false,
            quarantined: false,
            disposition: None,
            last_event: self.event,
            updated_at: self.height,
        };
        self.save(&epc, rec);
        Ok(())
    }

    /// The EPCs of the items `rec` is inside, innermost first.
    fn ancestors(&self, rec: &ItemRecord) -> Result<Vec<String>, TxError> {
        let mut out = Vec::new();
        let mut next = rec.parent.clone();
        while let Some(p) = next {
            if out.len() >= MAX_LEVELS {
                break;
            }
            next = self.load(&p)?.parent;
            out.push(p);
        }
        Ok(out)
    }

    /// How many levels the item and what it holds make (1: it holds nothing).
    fn levels(&self, rec: &ItemRecord, depth: usize) -> Result<usize, TxError> {
        let mut deepest = 0;
        if depth < MAX_LEVELS {
            for c in &rec.children {
                deepest = deepest.max(self.levels(&self.load(c)?, depth + 1)?);
            }
        }
        Ok(1 + deepest)
    }

    fn pack(&mut self, parent: &EpcUri, children: &[EpcUri]) -> Result<(), TxError> {
        let pkey = parent.to_string();
        if item(self.state, &pkey).is_none() && matches!(parent, EpcUri::Sscc { .. }) {
            self.commission(parent, None, None)?;
        }
        let mut prec = self.load(&pkey)?;
        self.check_held(&pkey, &prec)?;
        let ancestors = self.ancestors(&prec)?;
        for child in children {
            let ckey = child.to_string();
            if ckey == pkey || ancestors.contains(&ckey) {
                return Err(self.refuse(&ckey, Why::Aggregation("an item cannot be packed inside itself")));
            }
            let mut crec = self.load(&ckey)?;
            self.check_held(&ckey, &crec)?;
            match &crec.parent {
                Some(p) if p == &pkey => continue,
                Some(_) => {
                    return Err(self.refuse(
                        &ckey,
                        Why::Aggregation("already inside another parent; unpack it first"),
                    ));
                }
                None => {}
            }
            if ancestors.len() + 1 + self.levels(&crec, 0)? > MAX_LEVELS {
                return Err(self.refuse(&ckey, Why::Aggregation("more than 3 levels of aggregation")));
            }
            if prec.children.len() >= MAX_CHILDREN {
                return Err(self.refuse(&pkey, Why::Aggregation("the parent holds the most items allowed")));
            }
            crec.parent = Some(pkey.clone());
            if let Err(at) = prec.children.binary_search(&ckey) {
                prec.children.insert(at, ckey.clone());
            }
            self.save(&ckey, crec);
        }
        self.save(&pkey, prec);
        Ok(())
    }

    fn unpack(&mut self, parent: &EpcUri, children: &[EpcUri]) -> Result<(), TxError> {
        let pkey = parent.to_string();
        let mut prec = self.load(&pkey)?;
        self.check_held(&pkey, &prec)?;
        let listed: Vec<String> = if children.is_empty() {
            prec.children.clone()
        } else {
            children.iter().map(EpcUri::to_string).collect()
        };
        for ckey in listed {
            let Ok(at) = prec.children.binary_search(&ckey) else {
                return Err(self.refuse(&ckey, Why::Aggregation("not inside this parent")));
            };
            prec.children.remove(at);
            let mut crec = self.load(&ckey)?;
            crec.parent = None;
            self.save(&ckey, crec);
        }
        self.save(&pkey, prec);
        Ok(())
    }

    /// Collects `epc` and everything inside it, each once.
    fn collect_tree(
        &self,
        epc: String,
        depth: usize,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(String, ItemRecord)>,
    ) -> Result<(), TxError> {
        if depth >= MAX_LEVELS || !seen.insert(epc.clone()) {
            return Ok(());
        }
        let rec = self.load(&epc)?;
        for c in &rec.children {
            self.collect_tree(c.clone(), depth + 1, seen, out)?;
        }
        out.push((epc, rec));
        Ok(())
    }

    /// Ships or receives the listed items; what they hold moves with them.
    fn move_trees(&mut self, epcs: &[EpcUri], mv: &Move<'_>) -> Result<(), TxError> {
        let mut seen = BTreeSet::new();
        let mut trees = Vec::new();
        for e in epcs {
            self.collect_tree(e.to_string(), 0, &mut seen, &mut trees)?;
        }
        for (epc, rec) in &trees {
            if rec.parent.as_ref().is_some_and(|p| !seen.contains(p)) {
                return Err(self.refuse(
                    epc,
                    Why::Aggregation("inside a parent that does not move with it; unpack it first"),
                ));
            }
        }
        for (epc, mut rec) in trees {
            match mv {
                Move::Ship(to) => {
                    self.check_held(&epc, &rec)?;
                    self.check_no_hold(&epc, &rec)?;
                    rec.state = ItemState::InTransit { to: (*to).clone() };
                }
                Move::Receive => {
                    if rec.state.is_final() {
                        return Err(self.refuse(&epc, Why::Final));
                    }
                    if !matches!(&rec.state, ItemState::InTransit { to } if to == self.org) {
                        return Err(self.refuse(&epc, Why::NotShippedToYou));
                    }
                    rec.owner = self.org.clone();
                    rec.state = ItemState::Active;
                }
            }
            self.save(&epc, rec);
        }
        Ok(())
    }

    /// Dispenses, decommissions or destroys the listed items.
    fn finish(&mut self, epcs: &[EpcUri], end: ItemState) -> Result<(), TxError> {
        for e in epcs {
            let epc = e.to_string();
            let mut rec = self.load(&epc)?;
            self.check_held(&epc, &rec)?;
            if end == ItemState::Dispensed {
                self.check_no_hold(&epc, &rec)?;
            }
            if !rec.children.is_empty() {
                return Err(self.refuse(&epc, Why::Aggregation("holds other items; unpack it first")));
            }
            if let Some(p) = rec.parent.take() {
                let mut prec = self.load(&p)?;
                prec.children.retain(|c| c != &epc);
                self.save(&p, prec);
            }
            rec.state = end.clone();
            self.save(&epc, rec);
        }
        Ok(())
    }

    fn observe(&mut self, uri: &EpcUri, disposition: &str) -> Result<(), TxError> {
        let epc = uri.to_string();
        let mut rec = self.load(&epc)?;
        if self.inspector {
            if rec.state.is_final() {
                return Err(self.refuse(&epc, Why::Final));
            }
        } else {
            self.check_held(&epc, &rec)?;
        }
        rec.disposition = Some(disposition.to_owned());
        rec.quarantined = quarantines(disposition);
        self.save(&epc, rec);
        Ok(())
    }
}
