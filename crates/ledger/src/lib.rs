//! The deterministic state machine of medledger.
//!
//! `apply_tx(state, tx, block) -> outcome`: the same state, transaction and block context
//! give the same writes, events and outcome on every node. There are no clocks, no
//! randomness, no hash-map iteration and no floats here; time comes from the block
//! context, which consensus agreed on.
//!
//! A transaction goes through three gates:
//! 1. its signature ([`VerifiedTx`], checked in batches by the caller);
//! 2. the envelope ([`check_envelope`]): chain id, an active registered signer (of an
//!    organisation that is not suspended, unless the signer is a patient), the
//!    signer's next nonce, a known kind with a decodable body — failing any of these is a
//!    [`Rejection`] and the transaction never enters a block;
//! 3. the domain rules of its kind — failing those is a [`TxError`], recorded as the
//!    transaction's outcome; the nonce still advances.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod audit;
pub mod consent;
pub mod contracts;
pub mod error;
pub mod genesis;
pub mod identity;
pub mod payload;
pub mod records;
pub mod research;
pub mod rx;
pub mod state;
pub mod supply;

pub use error::{Rejection, TxError, describe_outcome};
pub use genesis::Genesis;
pub use payload::Payload;
pub use state::{Overlay, StateRead, Writes, keys};

use medledger_types::codec::{Decode, put};
use medledger_types::{ChainId, Height, MemberId, Nonce, OrgId, OutcomeCode, PublicKey, SignedTx, TimestampMs};
use serde::Serialize;

use identity::{KeyRecord, KeyStatus, MemberKind};

/// What every transaction in a block sees: agreed by consensus, not read from a clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub chain_id: ChainId,
    pub height: Height,
    pub timestamp: TimestampMs,
}

/// What applying a transaction changed, for clients and indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    MemberRegistered {
        org: OrgId,
        member: MemberId,
        kind: MemberKind,
    },
    MemberRevoked {
        org: OrgId,
        member: MemberId,
    },
    KeyRotated {
        org: OrgId,
        member: MemberId,
        old_key: PublicKey,
        new_key: PublicKey,
    },
    ClientKeysSet {
        org: OrgId,
        member: MemberId,
        keys: u32,
    },
    RecordAnchored {
        resource_type: String,
        record_id: String,
        version: u64,
        patient: Option<String>,
        custodian: OrgId,
    },
    RecordsErased {
        custodian: OrgId,
        patient: String,
        records: u32,
    },
    ConsentGranted {
        patient: String,
        consent_id: String,
    },
    ConsentRevoked {
        patient: String,
        consent_id: String,
    },
    AuditRecorded {
        node_org: OrgId,
        new: u32,
        duplicates: u32,
    },
    OrgVoted {
        org: OrgId,
        voter: OrgId,
        suspend: bool,
        votes: u32,
        quorum: u32,
    },
    OrgSuspended {
        org: OrgId,
    },
    OrgReinstated {
        org: OrgId,
    },
    StudyRegistered {
        study: String,
        sponsor: OrgId,
        investigators: u32,
    },
    NodeVoted {
        org: OrgId,
        member: MemberId,
        voter: OrgId,
        add: bool,
        votes: u32,
        quorum: u32,
    },
    NodeChanged {
        org: OrgId,
        member: MemberId,
        added: bool,
    },
    BreakGlass {
        patient: String,
        reader_org: OrgId,
        reader_member: MemberId,
    },
    /// A capture job's commitments: the event hash IDs committed and how many items they
    /// changed (the EPCs themselves stay in the transaction).
    SupplyCaptured {
        org: OrgId,
        items: u32,
        hash_ids: Vec<medledger_types::Hash32>,
    },
    LotRecalled {
        gtin: String,
        lot: String,
        by: OrgId,
    },
    SuspectMarked {
        by: OrgId,
        items: u32,
        suspect: bool,
    },
    Gs1Voted {
        org: OrgId,
        voter: OrgId,
        register: bool,
        ballot: medledger_types::Hash32,
        votes: u32,
        quorum: u32,
    },
    Gs1Changed {
        org: OrgId,
        register: bool,
        company_prefixes: Vec<String>,
        glns: Vec<String>,
    },
    /// A prescription anchored (`rx.prescribe`); the patient is in the transaction, not here.
    PrescriptionWritten {
        prescription: medledger_types::Hash32,
        org: OrgId,
        prescriber: MemberId,
    },
    PrescriptionCancelled {
        prescription: medledger_types::Hash32,
        by: OrgId,
    },
    /// A dispense (`rx.dispense`): the fill's number and how many packs left the supply chain.
    PrescriptionFilled {
        prescription: medledger_types::Hash32,
        fill: medledger_types::Hash32,
        pharmacy: OrgId,
        number: u32,
        packs: u32,
    },
    /// What monitoring found at a fill, with the drug table that computed it.
    RxAlerts {
        fill: medledger_types::Hash32,
        table_version: String,
        alerts: Vec<rx::Alert>,
    },
    RxParamsVoted {
        proposal: medledger_types::Hash32,
        voter: OrgId,
        votes: u32,
        quorum: u32,
    },
    RxParamsChanged {
        proposal: medledger_types::Hash32,
    },
    /// A contract version deployed (`contract.deploy`): active at once, or pending the
    /// consortium's vote.
    ContractDeployed {
        org: OrgId,
        name: contracts::ContractName,
        version: u32,
        code: medledger_types::Hash32,
        active: bool,
    },
    ContractVoted {
        org: OrgId,
        name: contracts::ContractName,
        version: u32,
        voter: OrgId,
        votes: u32,
        quorum: u32,
    },
    ContractActivated {
        org: OrgId,
        name: contracts::ContractName,
        version: u32,
    },
}

/// A transaction whose signature has been checked. Only [`verify_txs`] and
/// [`VerifiedTx::verify`] make one, so `apply_tx` cannot be handed an unchecked signature.
/// It also carries the transaction's hash, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    tx: SignedTx,
    hash: medledger_types::Hash32,
}

impl VerifiedTx {
    pub fn verify(tx: SignedTx) -> Result<VerifiedTx, Rejection> {
        medledger_crypto::verify_tx(&tx).map_err(|_| Rejection::BadSignature)?;
        Ok(VerifiedTx::checked(tx))
    }

    fn checked(tx: SignedTx) -> VerifiedTx {
        let hash = tx.hash();
        VerifiedTx { tx, hash }
    }

    pub fn signed(&self) -> &SignedTx {
        &self.tx
    }

    pub fn hash(&self) -> medledger_types::Hash32 {
        self.hash
    }

    pub fn into_signed(self) -> SignedTx {
        self.tx
    }
}

/// Verifies many signatures in one batch; one result per transaction, in order.
pub fn verify_txs(txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, Rejection>> {
    let results = medledger_crypto::verify_txs(&txs);
    txs.into_iter()
        .zip(results)
        .map(|(tx, r)| r.map(|()| VerifiedTx::checked(tx)).map_err(|_| Rejection::BadSignature))
        .collect()
}

/// The signer's next nonce in `state`.
pub fn next_nonce(state: &dyn StateRead, signer: &PublicKey) -> Nonce {
    state
        .get(&keys::nonce(signer))
        .and_then(|raw| u64::decode(&raw).ok())
        .map(Nonce)
        .unwrap_or_default()
}

/// Checks everything about a transaction except its signature and domain rules.
/// `expected_nonce` is the signer's next nonce, which the mempool may have advanced past
/// the committed state for transactions still pending.
pub fn check_envelope(
    state: &dyn StateRead,
    tx: &SignedTx,
    chain_id: &ChainId,
    expected_nonce: Nonce,
) -> Result<Payload, Rejection> {
    let t = &tx.tx;
    if &t.chain_id != chain_id {
        return Err(Rejection::WrongChain {
            expected: chain_id.to_string(),
            got: t.chain_id.to_string(),
        });
    }
    let rec = state
        .get(&keys::key(&t.signer))
        .and_then(|raw| KeyRecord::decode(&raw).ok())
        .ok_or(Rejection::UnknownSigner(t.signer))?;
    if rec.status != KeyStatus::Active {
        return Err(Rejection::RevokedSigner(t.signer));
    }
    // A suspended organisation's keys stop signing — but not its patients': a patient's
    // control over their own records does not depend on the organisation that enrolled them.
    if identity::vote_org::stops(state, &rec.org, rec.kind) {
        return Err(Rejection::OrgSuspended(rec.org));
    }
    if t.nonce < expected_nonce {
        return Err(Rejection::ReplayedNonce {
            expected: expected_nonce,
            got: t.nonce,
        });
    }
    if t.nonce > expected_nonce {
        return Err(Rejection::NonceGap {
            expected: expected_nonce,
            got: t.nonce,
        });
    }
    Payload::decode(t.kind, &t.body)
}

/// What one included transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub outcome: OutcomeCode,
    pub events: Vec<Event>,
    pub error: Option<TxError>,
}

/// Applies one signature-checked transaction. `Err` means the transaction may not be in a
/// block at all; `Ok` carries its outcome, success or ledger error.
pub fn apply_tx(state: &mut Overlay<'_>, tx: &VerifiedTx, ctx: &BlockContext) -> Result<Applied, Rejection> {
    let t = &tx.tx.tx;
    let expected = next_nonce(state, &t.signer);
    let payload = check_envelope(state, &tx.tx, &ctx.chain_id, expected)?;
    let mut nonce = Vec::with_capacity(8);
    put::u64(&mut nonce, expected.0 + 1);
    state.put(keys::nonce(&t.signer), nonce);
    state.commit_checkpoint();
    let checkpoint = state.checkpoint();
    match payload.apply(state, &t.signer, ctx) {
        Ok(events) => Ok(Applied {
            outcome: OutcomeCode::OK,
            events,
            error: None,
        }),
        Err(e) => {
            state.rollback(checkpoint);
            Ok(Applied {
                outcome: e.code(),
                events: Vec::new(),
                error: Some(e),
            })
        }
    }
}

/// The result of executing a whole block.
#[derive(Clone, Debug, Default)]
pub struct BlockOutput {
    pub writes: Writes,
    pub applied: Vec<Applied>,
}

/// A block contained a transaction that may not be in any block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transaction {index} of the block is invalid: {reason}")]
pub struct InvalidBlock {
    pub index: usize,
    pub reason: Rejection,
}

/// Executes a block's transactions in order against `state`.
pub fn execute_block(
    state: &dyn StateRead,
    txs: &[VerifiedTx],
    ctx: &BlockContext,
) -> Result<BlockOutput, InvalidBlock> {
    let mut overlay = Overlay::new(state);
    let mut applied = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let a = apply_tx(&mut overlay, tx, ctx).map_err(|reason| InvalidBlock { index, reason })?;
        applied.push(a);
    }
    Ok(BlockOutput {
        writes: overlay.into_writes(),
        applied,
    })
}
