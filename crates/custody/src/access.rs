//! The access decision and reads.
//!
//! A [`Permit`] is the only way to read a record: [`Custody::authorize`] makes one after
//! the access policy allowed the read on this node's copy of the ledger, and every read
//! ([`Custody::read`]) takes one. The API's access guard decides scope and role before it
//! asks for a permit and writes the audit entry before it reads; the custodian of a record
//! held elsewhere decides again, from its own ledger, when it serves it (`transfer`).

use medledger_crypto::bind::{bind, domains};
use medledger_crypto::envelope::{self, DataKey};
use medledger_ledger::StateRead;
use medledger_ledger::audit::AuditAction;
use medledger_ledger::consent::Purpose;
use medledger_ledger::consent::policy::{self, AccessRequest, Basis, Denial};
use medledger_ledger::records::{RecordState, VersionAnchor};
use medledger_types::{Hash32, OrgId, TimestampMs};

use super::{Actor, Custody, CustodyError, LimitKind, Refusal, StorageError, journal};

/// Permission for one caller to read one record, for one purpose.
#[derive(Clone, Debug)]
pub struct Permit {
    actor: Actor,
    resource_type: String,
    id: String,
    record: RecordState,
    basis: Basis,
    purpose: Purpose,
}

impl Permit {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn record(&self) -> &RecordState {
        &self.record
    }

    pub fn patient(&self) -> Option<&str> {
        self.record.patient.as_deref()
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    pub fn break_glass(&self) -> bool {
        self.basis == Basis::BreakGlass
    }
}

/// Why no permit was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessError {
    NotFound,
    /// Erased, or being erased.
    Gone {
        patient: Option<String>,
    },
    Denied {
        patient: Option<String>,
        denial: Denial,
    },
}

/// Binds a ciphertext to the record version it holds.
pub(super) fn record_aad(org: &OrgId, resource_type: &str, id: &str, version: u64) -> Vec<u8> {
    version_aad(domains::RECORD, org, resource_type, id, version)
}

/// Binds a data key sealed at rest to the record version it opens.
pub(super) fn key_at_rest_aad(org: &OrgId, resource_type: &str, id: &str, version: u64) -> Vec<u8> {
    version_aad(domains::KEY_AT_REST, org, resource_type, id, version)
}

fn version_aad(domain: &str, org: &OrgId, resource_type: &str, id: &str, version: u64) -> Vec<u8> {
    bind(
        domain,
        &[
            org.as_str().as_bytes(),
            resource_type.as_bytes(),
            id.as_bytes(),
            &version.to_le_bytes(),
        ],
    )
}

/// The access decision for `reader_org/reader_member`, on any state.
#[allow(clippy::too_many_arguments)]
pub(super) fn decide_on(
    state: &dyn StateRead,
    reader_org: &OrgId,
    reader_member: &medledger_types::MemberId,
    resource_type: &str,
    id: &str,
    record: &RecordState,
    purpose: Purpose,
    emergency: bool,
    now: TimestampMs,
) -> Result<Basis, Denial> {
    policy::decide(
        state,
        &AccessRequest {
            reader_org,
            reader_member,
            resource_type,
            record_id: id,
            patient: record.patient.as_deref(),
            custodian: &record.custodian,
            purpose,
            emergency,
        },
        now,
    )
}

impl Custody {
    /// Decides whether `actor` may read the record, on this node's committed ledger.
    /// `emergency`: the caller asks for break-glass access (which needs a declaration on
    /// the ledger, see [`Custody::declare_break_glass`]).
    pub fn authorize(
        &self,
        actor: &Actor,
        resource_type: &str,
        id: &str,
        purpose: Purpose,
        emergency: bool,
    ) -> Result<Permit, AccessError> {
        let state = self.state().map_err(|_| AccessError::NotFound)?;
        let record = medledger_ledger::records::record_state(&state, resource_type, id).ok_or(AccessError::NotFound)?;
        let patient = record.patient.clone();
        if record.erased || (&record.custodian == self.org() && self.being_erased(patient.as_deref())) {
            return Err(AccessError::Gone { patient });
        }
        match decide_on(
            &state,
            &actor.org,
            &actor.member,
            resource_type,
            id,
            &record,
            purpose,
            emergency,
            super::now(),
        ) {
            Ok(basis) => Ok(Permit {
                actor: actor.clone(),
                resource_type: resource_type.to_string(),
                id: id.to_string(),
                record,
                basis,
                purpose,
            }),
            Err(denial) => Err(AccessError::Denied { patient, denial }),
        }
    }

    /// Whether an erasure of the patient's records held here is decided and unfinished.
    pub(super) fn being_erased(&self, patient: Option<&str>) -> bool {
        patient.is_some_and(|p| self.inner.journal.erasing(p))
    }

    /// Declares a break-glass access of `actor` (a practitioner of this organisation) to
    /// `patient` on the ledger, unless one is already open; returns once it is in a block.
    pub async fn declare_break_glass(&self, actor: &Actor, patient: &str) -> Result<(), CustodyError> {
        if &actor.org != self.org() {
            return Err(Refusal::BreakGlassElsewhere.into());
        }
        let open = medledger_ledger::consent::break_glass::is_open(
            &self.state()?,
            &actor.org,
            &actor.member,
            patient,
            super::now(),
        );
        if open {
            return Ok(());
        }
        let body = medledger_ledger::consent::break_glass::BreakGlass {
            patient: patient.to_string(),
            reader_org: actor.org.clone(),
            reader_member: actor.member.clone(),
        };
        let (_, committed) = self
            .submit_and_wait(
                medledger_ledger::consent::break_glass::KIND,
                medledger_types::codec::Encode::encode(&body),
            )
            .await?;
        match medledger_ledger::describe_outcome(committed.outcome) {
            "ok" => Ok(()),
            "break_glass_limit" => Err(LimitKind::BreakGlass.into()),
            _ => Err(Refusal::BreakGlassRefused(committed.outcome).into()),
        }
    }

    /// Reads a version wherever it is held: here, or at its custodian through a signed
    /// node-to-node request (the custodian decides and audits again). The caller has
    /// audited the access.
    pub async fn read(
        &self,
        permit: &Permit,
        version: u64,
        action: AuditAction,
        note: Option<&str>,
    ) -> Result<Vec<u8>, CustodyError> {
        if version == 0 || version > permit.record.latest {
            return Err(CustodyError::NotFound);
        }
        if &permit.record.custodian == self.org() {
            self.read_local(permit, version).await
        } else {
            self.fetch_remote(permit, version, action, note, None).await
        }
    }

    /// Reads a version for a search: a record held elsewhere is served by its custodian
    /// only if it matches `query` (a type-level FHIR query string), which the custodian
    /// checks on its search values; `NoMatch` otherwise, and nothing was decrypted.
    pub async fn read_if_matching(
        &self,
        permit: &Permit,
        version: u64,
        action: AuditAction,
        note: Option<&str>,
        query: &str,
    ) -> Result<Vec<u8>, CustodyError> {
        if version == 0 || version > permit.record.latest {
            return Err(CustodyError::NotFound);
        }
        if &permit.record.custodian == self.org() {
            self.read_local(permit, version).await
        } else {
            self.fetch_remote(permit, version, action, note, Some(query)).await
        }
    }

    /// The ciphertext of a version held here, checked against the ledger (for `$verify`).
    pub async fn ciphertext(&self, permit: &Permit, version: u64) -> Result<Vec<u8>, CustodyError> {
        Ok(self.local_ciphertext(permit, version).await?.0)
    }

    /// A version held here, decrypted after checking its ciphertext against the ledger.
    async fn read_local(&self, permit: &Permit, version: u64) -> Result<Vec<u8>, CustodyError> {
        let (sealed, key) = self.local_ciphertext(permit, version).await?;
        let aad = record_aad(self.org(), &permit.resource_type, &permit.id, version);
        medledger_node::metrics::Metrics::add(&self.inner.node.metrics().records_decrypted, 1);
        Ok(envelope::open(&key, &sealed, &aad).map_err(|_| StorageError::DoesNotDecrypt)?)
    }

    /// The checked ciphertext of a version of a permitted record held here, and its data key.
    async fn local_ciphertext(&self, permit: &Permit, version: u64) -> Result<(Vec<u8>, DataKey), CustodyError> {
        let anchor = self
            .version_anchor(&permit.resource_type, &permit.id, version)?
            .ok_or(CustodyError::NotFound)?;
        self.held_ciphertext(&permit.record, &anchor, &permit.resource_type, &permit.id, version)
            .await
    }

    /// The ciphertext of a version held here and its data key, checked against the
    /// record's state and the version's anchor (both read from the ledger by the caller).
    pub(super) async fn held_ciphertext(
        &self,
        record: &RecordState,
        anchor: &VersionAnchor,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<(Vec<u8>, DataKey), CustodyError> {
        if record.erased || self.being_erased(record.patient.as_deref()) {
            return Err(CustodyError::Gone);
        }
        let local = self
            .inner
            .journal
            .version(&journal::version_key(resource_type, id, version))?
            .ok_or(CustodyError::Gone)?;
        if local.ciphertext != anchor.ciphertext {
            return Err(StorageError::LocalCopyMismatch.into());
        }
        let sealed = self
            .inner
            .blobs
            .get(anchor.ciphertext)
            .await?
            .ok_or(CustodyError::Gone)?;
        if Hash32::digest(&[&sealed]) != anchor.ciphertext {
            return Err(StorageError::CiphertextMismatch.into());
        }
        let raw = envelope::open(
            &self.inner.service.kek,
            &local.wrapped_key,
            &key_at_rest_aad(self.org(), resource_type, id, version),
        )
        .map_err(|_| StorageError::KeyDoesNotUnwrap)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| StorageError::KeyLength)?;
        Ok((sealed, DataKey::from_bytes(bytes)))
    }
}
