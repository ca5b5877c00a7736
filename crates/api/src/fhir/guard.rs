//! The one access guard. Every FHIR route, every Bundle entry (batch and transaction
//! alike) and every operation goes through it, and it decides in this order:
//!
//! 1. **scope**: the token's SMART scopes allow the interaction on the type;
//! 2. **role**: the caller's kind and organisation allow the operation here — writes and
//!    identifier lookups only by the custodian's own staff; `$erase` and the ledger's views
//!    of a patient (access log, consents) only by the patient or the custodian's privacy
//!    officer; break-glass only by a practitioner naming one patient;
//! 3. **consent**: for a record, the access policy on this node's ledger gives a
//!    [`Permit`] (the custodian of a record held elsewhere decides again when it serves
//!    it);
//! 4. **audit**: every decision — refused at any step, or allowed — is written durably to
//!    the journal before any data is returned. An allowed read of a record held by another
//!    organisation is the exception: its custodian writes the one entry, in its own
//!    journal, before the ciphertext leaves it; this node audits such a read only if it
//!    then fails.
//!
//! A route cannot skip a step: reads take a [`Permit`], which only [`Guard::read`] (audited
//! already) and [`Guard::candidate`] (audited by [`Guard::audit_results`] before the
//! answer is built) hand out, and the steps are in one function per kind of request.

use axum::http::StatusCode;
use medledger_custody::{AccessError, Permit};
use medledger_fhir::scope::Interaction;
use medledger_ledger::audit::{AuditAction, AuditEntry, AuditOutcome};
use medledger_ledger::identity::MemberKind;

use super::{Ctx, FhirError};
use crate::AppState;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    /// A FHIR delete: a new, deleted version.
    Delete,
    Read,
    Vread,
    History,
    Search,
    /// `Patient/$everything`.
    Everything,
    /// `$verify` of a version.
    Verify,
    /// `Patient/$erase`.
    Erase,
    /// The patient's access log from the ledger (`AuditEvent?patient=`).
    AccessLog,
    /// The patient's consents from the ledger (`Consent?patient=`).
    Consents,
    /// Resolving a business identifier (`ifNoneExist`, a conditional reference): for the
    /// custodian's staff only. A search by `identifier` is a search, which returns only
    /// what the caller may read.
    Lookup,
}

impl Op {
    /// Writing `version` of a record: its creation or an update.
    pub fn write(version: u64) -> Op {
        if version == 1 { Op::Create } else { Op::Update }
    }

    /// The SMART interaction the token's scopes must allow.
    fn interaction(self) -> Interaction {
        match self {
            Op::Create | Op::Lookup => Interaction::Create,
            Op::Update => Interaction::Update,
            Op::Delete => Interaction::Delete,
            Op::Read | Op::Everything => Interaction::Read,
            Op::Vread | Op::Verify => Interaction::Vread,
            Op::History => Interaction::HistoryInstance,
            Op::Search | Op::AccessLog | Op::Consents => Interaction::Search,
            Op::Erase => Interaction::Delete,
        }
    }

    /// How the access is named in the audit trail.
    pub fn action(self) -> AuditAction {
        match self {
            Op::Create => AuditAction::Create,
            Op::Update => AuditAction::Update,
            Op::Delete => AuditAction::Delete,
            Op::Read => AuditAction::Read,
            Op::Vread => AuditAction::Vread,
            Op::History => AuditAction::History,
            Op::Search => AuditAction::Search,
            Op::Everything => AuditAction::Export,
            Op::Verify => AuditAction::Verify,
            Op::Erase => AuditAction::Erase,
            Op::AccessLog | Op::Consents => AuditAction::LedgerView,
            Op::Lookup => AuditAction::Lookup,
        }
    }
}

/// What a request touches, for the role step and the audit entry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub resource_type: &'a str,
    pub id: Option<&'a str>,
    pub version: Option<u64>,
    /// The patient the request is about, when it names one (`patient=`, `Patient/{id}`).
    pub patient: Option<&'a str>,
}

/// The guard of one request.
pub struct Guard<'a> {
    app: &'a AppState,
    ctx: &'a Ctx,
}

impl<'a> Guard<'a> {
    pub fn new(app: &'a AppState, ctx: &'a Ctx) -> Self {
        Guard { app, ctx }
    }

    /// The entry recording `op` on `t` by this request's caller.
    pub(super) fn entry(&self, op: Op, outcome: AuditOutcome, t: &Target<'_>) -> Result<AuditEntry, FhirError> {
        let custody = self.app.custody()?;
        let mut e = custody.audit_entry(&self.ctx.caller.actor, op.action());
        e.outcome = outcome;
        e.purpose = Some(self.ctx.purpose);
        e.patient = t.patient.map(str::to_string);
        e.resource_type = Some(t.resource_type.to_string());
        e.record_id = t.id.map(str::to_string);
        e.version = t.version;
        Ok(e)
    }

    /// Writes one audit entry durably.
    pub async fn audit(&self, op: Op, outcome: AuditOutcome, t: Target<'_>) -> Result<(), FhirError> {
        let e = self.entry(op, outcome, &t)?;
        self.app.custody()?.audit(vec![(e, None)]).await?;
        Ok(())
    }

    /// Audits a refusal and returns the error to answer with.
    async fn refuse(&self, op: Op, t: Target<'_>, err: FhirError) -> FhirError {
        match self.audit(op, AuditOutcome::Denied, t).await {
            Ok(()) => err,
            Err(audit_failed) => audit_failed,
        }
    }

    /// Steps 1 and 2 (scope, role). A refusal is audited.
    async fn scope_and_role(&self, op: Op, t: Target<'_>) -> Result<(), FhirError> {
        match self.check_scope_and_role(op, &t) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.refuse(op, t, err).await),
        }
    }

    /// Steps 1 and 2, not audited: the caller audits a refusal.
    fn check_scope_and_role(&self, op: Op, t: &Target<'_>) -> Result<(), FhirError> {
        let caller = &self.ctx.caller;
        if !caller.scopes.allows(t.resource_type, op.interaction()) {
            return Err(FhirError::forbidden(format!(
                "the token's scopes ({}) do not allow {:?} on {}",
                caller.scopes,
                op.interaction(),
                t.resource_type
            )));
        }
        self.role(op, t)
    }

    /// Step 2: who may do what here.
    fn role(&self, op: Op, t: &Target<'_>) -> Result<(), FhirError> {
        let custody = self.app.custody()?;
        let actor = &self.ctx.caller.actor;
        let here = &actor.org == custody.org();
        let is_patient = |p: Option<&str>| -> Result<bool, FhirError> {
            match p {
                Some(p) => Ok(custody.is_patient(actor, p)?),
                None => Ok(false),
            }
        };
        match op {
            Op::Create | Op::Update | Op::Delete | Op::Lookup => {
                let device_reading =
                    actor.kind == MemberKind::Device && op == Op::Create && t.resource_type == "Observation";
                if !here {
                    return Err(FhirError::forbidden(
                        "records are written, and looked up by identifier, at the node of the organisation that holds them",
                    ));
                }
                if !actor.kind.is_staff() && !device_reading {
                    return Err(FhirError::forbidden(format!(
                        "a {} does not write records; the patient's care providers do",
                        actor.kind.name()
                    )));
                }
            }
            Op::Erase => {
                let privacy_here = here && actor.kind == MemberKind::Privacy;
                if !privacy_here && !is_patient(t.patient)? {
                    return Err(FhirError::forbidden(
                        "erasure is asked by the patient or by the privacy officer of the custodian organisation",
                    ));
                }
            }
            Op::AccessLog | Op::Consents => {
                let privacy_here = here
                    && actor.kind == MemberKind::Privacy
                    && t.patient
                        .map(|p| custody.holds_records_of(p))
                        .transpose()?
                        .unwrap_or(false);
                if !privacy_here && !is_patient(t.patient)? {
                    return Err(FhirError::forbidden(
                        "a patient's access log and consents are shown to the patient and to the privacy officer of an organisation that holds their records",
                    ));
                }
            }
            Op::Read | Op::Vread | Op::History | Op::Search | Op::Everything | Op::Verify => {}
        }
        if self.ctx.break_glass.is_some() {
            if actor.kind != MemberKind::Practitioner {
                return Err(FhirError::forbidden("only a practitioner may break the glass"));
            }
            if !matches!(
                op,
                Op::Read | Op::Vread | Op::History | Op::Search | Op::Everything | Op::Verify
            ) {
                return Err(FhirError::invalid("break-glass applies to reads only"));
            }
            if t.patient.is_none() && t.id.is_none() {
                return Err(FhirError::invalid(
                    "a break-glass search names exactly one patient (patient=<id>)",
                ));
            }
        }
        Ok(())
    }

    /// Scope and role for a request that reads no single record by itself: a write, a
    /// search, an export, an erasure, a ledger view, an identifier lookup. Refusals are
    /// audited; what is allowed is audited by the caller (with the write's outcome, or by
    /// [`Guard::audit_results`]) — or here, for lookups and the ledger views, which have
    /// no other audit.
    pub async fn allow(&self, op: Op, t: Target<'_>) -> Result<(), FhirError> {
        let allowed = self.allow_unwritten(op, t).await?;
        self.write(allowed.into_iter().collect()).await
    }

    /// [`Guard::allow`], except that the entry of an allowed lookup, ledger view or search
    /// is handed back instead of written: the caller writes it with others in one durable
    /// write (see [`Guard::write`], [`Guard::audit_results`]) before it answers, and
    /// nothing it does in between may fail without writing it.
    pub async fn allow_unwritten(&self, op: Op, t: Target<'_>) -> Result<Option<AuditEntry>, FhirError> {
        self.scope_and_role(op, t).await?;
        if self.ctx.break_glass.is_some()
            && let Some(patient) = t.patient
        {
            self.declare_break_glass(op, t, patient).await?;
        }
        if matches!(op, Op::Lookup | Op::AccessLog | Op::Consents | Op::Search) {
            return self.entry(op, AuditOutcome::Allowed, &t).map(Some);
        }
        Ok(None)
    }

    /// Writes entries [`Guard::allow_unwritten`] handed back, durably, in one write.
    pub async fn write(&self, entries: Vec<AuditEntry>) -> Result<(), FhirError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.app
            .custody()?
            .audit(entries.into_iter().map(|e| (e, None)).collect())
            .await?;
        Ok(())
    }

    /// Makes sure a break-glass declaration for `patient` is on the ledger.
    async fn declare_break_glass(&self, op: Op, t: Target<'_>, patient: &str) -> Result<(), FhirError> {
        match self
            .app
            .custody()?
            .declare_break_glass(&self.ctx.caller.actor, patient)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = FhirError::from(e);
                Err(self
                    .refuse(
                        op,
                        Target {
                            patient: Some(patient),
                            ..t
                        },
                        err,
                    )
                    .await)
            }
        }
    }

    /// All four steps for reading one record (read, vread, history, `$verify`, the Patient
    /// of `$everything`): the allowed access is audited before this returns.
    pub async fn read(&self, op: Op, resource_type: &str, id: &str, version: Option<u64>) -> Result<Permit, FhirError> {
        let custody = self.app.custody()?;
        let mut t = Target {
            resource_type,
            id: Some(id),
            version,
            patient: None,
        };
        if let Err(err) = self.check_scope_and_role(op, &t) {
            // Named with the patient the record belongs to, so that a refusal at the scope
            // or role step reaches the patient's access log too.
            let owner = custody
                .record_state(resource_type, id)
                .ok()
                .flatten()
                .and_then(|r| r.patient);
            t.patient = owner.as_deref();
            return Err(self.refuse(op, t, err).await);
        }
        let emergency = self.ctx.break_glass.is_some();
        let mut decided = custody.authorize(&self.ctx.caller.actor, resource_type, id, self.ctx.purpose, false);
        if emergency && let Err(AccessError::Denied { patient: Some(p), .. }) = &decided {
            let p = p.clone();
            self.declare_break_glass(op, t, &p).await?;
            decided = custody.authorize(&self.ctx.caller.actor, resource_type, id, self.ctx.purpose, true);
        }
        match decided {
            Ok(permit) => {
                let version = version.unwrap_or(permit.record().latest);
                self.audit_results(op, &[(&permit, version)], Vec::new()).await?;
                Ok(permit)
            }
            Err(AccessError::NotFound) => {
                self.audit(op, AuditOutcome::Failed, t).await?;
                Err(FhirError::not_found(format!("{resource_type} not found")))
            }
            Err(AccessError::Gone { patient }) => {
                t.patient = patient.as_deref();
                self.audit(op, AuditOutcome::Failed, t).await?;
                Err(FhirError::new(
                    StatusCode::GONE,
                    "deleted",
                    "this record has been erased",
                ))
            }
            Err(AccessError::Denied { patient, denial }) => {
                t.patient = patient.as_deref();
                self.audit(op, AuditOutcome::Denied, t).await?;
                Err(FhirError::forbidden(denial.to_string()))
            }
        }
    }

    /// Step 3 for one candidate of a search or an export already allowed by
    /// [`Guard::allow`]: a permit if the caller may read it, else `None` (nothing about
    /// the record is told). Audited by [`Guard::audit_results`] before the answer.
    pub fn candidate(&self, resource_type: &str, id: &str) -> Option<Permit> {
        let custody = self.app.custody().ok()?;
        custody
            .authorize(
                &self.ctx.caller.actor,
                resource_type,
                id,
                self.ctx.purpose,
                self.ctx.break_glass.is_some(),
            )
            .ok()
    }

    /// Step 4 for the records about to be returned (of a read, a search, an export): one
    /// durable write for all of them, with `earlier` entries
    /// ([`Guard::allow_unwritten`]), before the answer is built.
    pub async fn audit_results(
        &self,
        op: Op,
        results: &[(&Permit, u64)],
        earlier: Vec<AuditEntry>,
    ) -> Result<(), FhirError> {
        let custody = self.app.custody()?;
        let mut entries: Vec<_> = earlier.into_iter().map(|e| (e, None)).collect();
        for (permit, version) in results.iter().filter(|(p, _)| !held_elsewhere(p, custody)) {
            let t = Target {
                resource_type: permit.resource_type(),
                id: Some(permit.id()),
                version: Some(*version),
                patient: permit.patient(),
            };
            let mut e = self.entry(op, AuditOutcome::Allowed, &t)?;
            e.break_glass = permit.break_glass();
            let note = permit.break_glass().then(|| self.ctx.break_glass.clone()).flatten();
            entries.push((e, note));
        }
        if !entries.is_empty() {
            custody.audit(entries).await?;
        }
        Ok(())
    }

    /// Audits that a read allowed by [`Guard::read`] then failed (the custodian could not
    /// serve it, or it did not match the ledger).
    pub async fn audit_failed_read(&self, op: Op, permit: &Permit, version: u64) -> Result<(), FhirError> {
        self.audit(
            op,
            AuditOutcome::Failed,
            Target {
                resource_type: permit.resource_type(),
                id: Some(permit.id()),
                version: Some(version),
                patient: permit.patient(),
            },
        )
        .await
    }
}

/// A record held by another organisation is audited by its custodian, durably and before
/// the ciphertext leaves, when it serves the read (ADR 010): this node writes nothing for
/// an allowed read of it, only for one that then fails.
fn held_elsewhere(permit: &Permit, custody: &medledger_custody::Custody) -> bool {
    &permit.record().custodian != custody.org()
}
