//! The ledger's view of state: a key-value map read through [`StateRead`] and written
//! through an [`Overlay`] that buffers writes in a `BTreeMap`, so that the order of
//! writes handed to storage is the same on every node.

use std::cell::RefCell;
use std::collections::BTreeMap;

use medledger_types::codec::{Decode, Encode};
use medledger_types::{MemberId, OrgId, PublicKey};

/// Read access to committed state.
pub trait StateRead {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

/// Reads and decodes a record; `None` when absent (or, in a corrupt state, undecodable).
pub fn read<T: Decode>(state: &dyn StateRead, key: &[u8]) -> Option<T> {
    state.get(key).and_then(|raw| T::decode(&raw).ok())
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }
}

/// Buffered writes: `Some(value)` sets a key, `None` deletes it.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes layered over a base state.
///
/// A transaction's writes can be undone: [`Overlay::checkpoint`] starts an undo journal
/// that records each key's previous entry, so rolling back costs as much as the
/// transaction wrote, not as much as the whole block.
pub struct Overlay<'a> {
    base: &'a dyn StateRead,
    writes: Writes,
    journal: Vec<Undo>,
    /// Base reads already made: the base never changes under an overlay, and a block
    /// reads the same few keys (its signers, their organisations) again and again.
    read_cache: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

/// A key and the entry it had in the write set before a write (`None`: no entry).
type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

/// A point to roll back to; see [`Overlay::checkpoint`].
#[derive(Clone, Copy, Debug)]
pub struct Checkpoint(usize);

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateRead) -> Self {
        Self {
            base,
            writes: Writes::new(),
            journal: Vec::new(),
            read_cache: RefCell::new(BTreeMap::new()),
        }
    }

    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let previous = self.writes.insert(key.clone(), value);
        self.journal.push((key, previous));
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.writes.get(key) {
            return v.clone();
        }
        if let Some(v) = self.read_cache.borrow().get(key) {
            return v.clone();
        }
        let v = self.base.get(key);
        self.read_cache.borrow_mut().insert(key.to_vec(), v.clone());
        v
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.set(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.set(key, None);
    }

    /// Reads and decodes a record. A stored value that does not decode means the state
    /// itself is corrupt, which is a fatal condition for the node, not a transaction error.
    pub fn get_record<T: Decode>(&self, key: &[u8]) -> Option<T> {
        read(self, key)
    }

    pub fn put_record<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, value.encode());
    }

    /// Marks the current write set; [`Overlay::rollback`] returns to it. Checkpoints nest:
    /// rolling back to an earlier one also undoes every later one.
    pub fn checkpoint(&mut self) -> Checkpoint {
        Checkpoint(self.journal.len())
    }

    /// Undoes every write since `checkpoint`.
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        while self.journal.len() > checkpoint.0 {
            let Some((key, previous)) = self.journal.pop() else {
                break;
            };
            match previous {
                Some(v) => self.writes.insert(key, v),
                None => self.writes.remove(&key),
            };
        }
    }

    /// Forgets the undo journal (after a transaction is final), keeping the writes.
    pub fn commit_checkpoint(&mut self) {
        self.journal.clear();
    }

    pub fn into_writes(self) -> Writes {
        self.writes
    }
}

impl StateRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Overlay::get(self, key)
    }
}

/// State keys. Each domain owns a prefix; the layout is part of the state root and
/// therefore frozen like an encoding.
pub mod keys {
    use super::*;

    pub fn nonce(signer: &PublicKey) -> Vec<u8> {
        [b"nonce/".as_slice(), signer.as_bytes()].concat()
    }

    pub fn org(org: &OrgId) -> Vec<u8> {
        [b"org/".as_slice(), org.as_str().as_bytes()].concat()
    }

    pub fn member(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"member/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }

    /// A member's SMART client keys (`identity.set_client_keys`).
    pub fn client_keys(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"client-keys/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }

    pub fn key(key: &PublicKey) -> Vec<u8> {
        [b"key/".as_slice(), key.as_bytes()].concat()
    }

    pub fn validator(key: &PublicKey) -> Vec<u8> {
        [b"validator/".as_slice(), key.as_bytes()].concat()
    }

    pub fn record(resource_type: &str, id: &str) -> Vec<u8> {
        [b"record/".as_slice(), resource_type.as_bytes(), b"/", id.as_bytes()].concat()
    }

    pub fn record_version(resource_type: &str, id: &str, version: u64) -> Vec<u8> {
        [
            b"recver/".as_slice(),
            resource_type.as_bytes(),
            b"/",
            id.as_bytes(),
            b"/",
            &version.to_be_bytes(),
        ]
        .concat()
    }

    pub fn erasure(patient: &str, custodian: &OrgId) -> Vec<u8> {
        [
            b"erasure/".as_slice(),
            patient.as_bytes(),
            b"/",
            custodian.as_str().as_bytes(),
        ]
        .concat()
    }

    pub fn consent(patient: &str, id: &str) -> Vec<u8> {
        [b"consent/".as_slice(), patient.as_bytes(), b"/", id.as_bytes()].concat()
    }

    pub fn consents(patient: &str) -> Vec<u8> {
        [b"consents/".as_slice(), patient.as_bytes()].concat()
    }

    /// The next audit sequence number expected from a node's service key.
    pub fn audit_next(signer: &PublicKey) -> Vec<u8> {
        [b"auditnext/".as_slice(), signer.as_bytes()].concat()
    }

    pub fn study(id: &str) -> Vec<u8> {
        [b"study/".as_slice(), id.as_bytes()].concat()
    }

    pub fn org_status(org: &OrgId) -> Vec<u8> {
        [b"orgstatus/".as_slice(), org.as_str().as_bytes()].concat()
    }

    /// How many organisations' votes suspend or reinstate one (from genesis).
    pub fn suspend_quorum() -> Vec<u8> {
        b"consortium/suspend_quorum".to_vec()
    }

    /// The one enrolment of a patient pseudonym, network-wide.
    pub fn patient(pseudonym: &str) -> Vec<u8> {
        [b"patient/".as_slice(), pseudonym.as_bytes()].concat()
    }

    /// A service member that is one of its organisation's nodes.
    pub fn node(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"node/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }

    /// The consortium's ballot on adding or removing a node.
    pub fn node_ballot(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"nodevote/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }

    /// Break-glass limits (from genesis; absent: the defaults).
    pub fn break_glass_rules() -> Vec<u8> {
        b"consortium/break_glass".to_vec()
    }

    /// A tracked EPC (SGTIN or SSCC URN, canonical form): `supply/item/{epc}`.
    pub fn supply_item(epc: &str) -> Vec<u8> {
        [b"supply/item/".as_slice(), epc.as_bytes()].concat()
    }

    /// A committed EPCIS event: `supply/event/{hex hash ID}`.
    pub fn supply_event(hash_id: &medledger_types::Hash32) -> Vec<u8> {
        [b"supply/event/".as_slice(), hash_id.to_hex().as_bytes()].concat()
    }

    /// A recalled lot: `supply/recall/{gtin}/{lot}` (the GTIN is always 14 digits).
    pub fn supply_recall(gtin: &str, lot: &str) -> Vec<u8> {
        [b"supply/recall/".as_slice(), gtin.as_bytes(), b"/", lot.as_bytes()].concat()
    }

    /// A ballot on a change of the GS1 registry: `gs1/ballot/{hex ballot id}`.
    pub fn gs1_ballot(id: &medledger_types::Hash32) -> Vec<u8> {
        [b"gs1/ballot/".as_slice(), id.to_hex().as_bytes()].concat()
    }

    /// How many registered company prefixes strictly extend `digits`.
    pub fn gs1_under(digits: &str) -> Vec<u8> {
        [b"gs1/under/".as_slice(), digits.as_bytes()].concat()
    }

    /// The organisation a GS1 Company Prefix is registered to.
    pub fn gs1_prefix(prefix: &str) -> Vec<u8> {
        [b"gs1/prefix/".as_slice(), prefix.as_bytes()].concat()
    }

    /// The organisation a GLN is registered to.
    pub fn gs1_gln(gln: &str) -> Vec<u8> {
        [b"gs1/gln/".as_slice(), gln.as_bytes()].concat()
    }

    /// A prescription: `rx/prescription/{hex id}`.
    pub fn rx_prescription(id: &medledger_types::Hash32) -> Vec<u8> {
        [b"rx/prescription/".as_slice(), id.to_hex().as_bytes()].concat()
    }

    /// A dispense of a prescription: `rx/fill/{hex id}`.
    pub fn rx_fill(id: &medledger_types::Hash32) -> Vec<u8> {
        [b"rx/fill/".as_slice(), id.to_hex().as_bytes()].concat()
    }

    /// A patient's monitoring window: `rx/patient/{pseudonym}`.
    pub fn rx_patient(pseudonym: &str) -> Vec<u8> {
        [b"rx/patient/".as_slice(), pseudonym.as_bytes()].concat()
    }

    /// The monitoring thresholds voted by the consortium (absent: the defaults).
    pub fn rx_params() -> Vec<u8> {
        b"rx/params".to_vec()
    }

    /// The ballot on one proposal of thresholds: `rx/params-ballot/{hex proposal hash}`.
    pub fn rx_params_ballot(proposal: &medledger_types::Hash32) -> Vec<u8> {
        [b"rx/params-ballot/".as_slice(), proposal.to_hex().as_bytes()].concat()
    }

    /// A practitioner's break-glass accesses of the last day.
    pub fn break_glass(org: &OrgId, member: &MemberId) -> Vec<u8> {
        [
            b"breakglass/".as_slice(),
            org.as_str().as_bytes(),
            b"/",
            member.as_str().as_bytes(),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_earlier_values_and_absences() {
        let base: BTreeMap<Vec<u8>, Vec<u8>> = [(b"a".to_vec(), b"1".to_vec())].into();
        let mut o = Overlay::new(&base);
        o.put(b"b".to_vec(), b"2".to_vec());
        let cp = o.checkpoint();
        o.put(b"a".to_vec(), b"9".to_vec());
        o.put(b"b".to_vec(), b"8".to_vec());
        o.delete(b"a".to_vec());
        o.put(b"c".to_vec(), b"7".to_vec());
        o.rollback(cp);
        assert_eq!(o.get(b"a"), Some(b"1".to_vec()));
        assert_eq!(o.get(b"b"), Some(b"2".to_vec()));
        assert_eq!(o.get(b"c"), None);
        let writes = o.into_writes();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes.get(b"b".as_slice()), Some(&Some(b"2".to_vec())));
    }
}
