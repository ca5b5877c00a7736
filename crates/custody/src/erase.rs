//! Erasure of a patient's records held here (GDPR Art. 17), crash-safe.
//!
//! 1. **Decide**: the plan (records, ciphertexts) is written durably to the journal. From
//!    then on the records are not served, here or to other nodes.
//! 2. **Receipt**: the `records.erase` transaction is committed. The ledger now says the
//!    records are erased, so no node serves them either.
//! 3. **Destroy**: ciphertexts are deleted from the blob store, then the wrapped data keys
//!    and the identifier hashes, and the plan is forgotten, in one journal transaction.
//!
//! A crash after 1 leaves records unreadable, nothing destroyed and no receipt; after 2,
//! the receipt and data not yet destroyed but unreadable. At start the node finishes
//! every plan it finds: it commits the receipt if the ledger does not have it (or drops
//! the plan if the ledger refuses it for good), then destroys. So there is never data
//! destroyed without a committed receipt, nor a committed receipt with data still
//! served.

use std::time::Duration;

use medledger_ledger::records::{self, RecordState};
use tracing::{info, warn};

use super::journal::ErasurePlan;
use super::{Custody, CustodyError, Erased, LedgerError, crash_point};

impl Custody {
    /// Erases every record of `patient` this node holds.
    pub async fn erase_patient(&self, patient: &str) -> Result<Erased, CustodyError> {
        let state = self.state()?;
        let mine: Vec<(String, String, RecordState)> = self
            .records_of_patient(patient)
            .into_iter()
            .filter_map(|(t, id)| {
                let s = records::record_state(&state, &t, &id)?;
                (&s.custodian == self.org() && !s.erased).then_some((t, id, s))
            })
            .collect();
        if mine.is_empty() {
            return Err(CustodyError::NotFound);
        }
        let ciphertexts = mine
            .iter()
            .flat_map(|(t, id, s)| (1..=s.latest).filter_map(|v| records::version_anchor(&state, t, id, v)))
            .map(|anchor| anchor.ciphertext)
            .collect();
        drop(state);
        let plan = ErasurePlan {
            records: mine
                .iter()
                .map(|(t, id, s)| (t.clone(), id.clone(), s.latest))
                .collect(),
            ciphertexts,
        };
        self.inner.journal.begin_erasure(patient, plan.clone()).await?;
        crash_point("erase-after-decision");
        let receipt = self.commit_erasure(patient, &plan).await?;
        crash_point("erase-after-receipt");
        self.destroy(patient, &plan).await?;
        info!(records = plan.records.len(), "erased a patient's records");
        Ok(Erased {
            tx_hash: receipt.0,
            height: receipt.1.height,
            records: plan.records.len(),
        })
    }

    /// Commits the `records.erase` receipt for the plan's records not erased yet on the
    /// ledger. A definitive refusal by the ledger drops the plan (the records are served
    /// again); a transaction that did not reach a block leaves it for a retry.
    async fn commit_erasure(
        &self,
        patient: &str,
        plan: &ErasurePlan,
    ) -> Result<(medledger_types::Hash32, medledger_node::node::CommittedTx), CustodyError> {
        let body = medledger_ledger::records::erase::RecordsErase {
            custodian: self.org().clone(),
            patient: patient.to_string(),
            records: plan.records.iter().map(|(t, id, _)| (t.clone(), id.clone())).collect(),
        };
        let (hash, committed) = self
            .submit_and_wait(
                medledger_ledger::records::erase::KIND,
                medledger_types::codec::Encode::encode(&body),
            )
            .await?;
        if !committed.outcome.is_ok() {
            self.inner.journal.finish_erasure_without_destroying(patient).await?;
            return Err(LedgerError::Refused(committed.outcome).into());
        }
        Ok((hash, committed))
    }

    /// Destroys ciphertexts, then keys and identifier hashes, and forgets the plan.
    async fn destroy(&self, patient: &str, plan: &ErasurePlan) -> Result<(), CustodyError> {
        for c in &plan.ciphertexts {
            self.inner.blobs.delete(*c).await?;
        }
        // Versions anchored while the decision was being taken are destroyed too.
        let later: Vec<_> = {
            let state = self.state()?;
            plan.records
                .iter()
                .flat_map(|(t, id, latest)| {
                    let now_latest = records::record_state(&state, t, id).map_or(*latest, |r| r.latest);
                    (latest + 1..=now_latest).filter_map(|v| records::version_anchor(&state, t, id, v))
                })
                .map(|anchor| anchor.ciphertext)
                .collect()
        };
        for c in &later {
            self.inner.blobs.delete(*c).await?;
        }
        crash_point("erase-after-blobs");
        self.inner.journal.finish_erasure(patient).await?;
        self.forget_searchable(&plan.records);
        Ok(())
    }

    /// Finishes erasures a crash interrupted (see the module docs).
    pub(super) async fn resume_erasures(self) {
        self.ready().await;
        let plans = match self.inner.journal.erasures() {
            Ok(p) => p,
            Err(e) => {
                warn!("cannot read unfinished erasures: {e}");
                return;
            }
        };
        for (patient, plan) in plans {
            loop {
                match self.resume_one(&patient, &plan).await {
                    Ok(()) => break,
                    Err(CustodyError::Ledger(LedgerError::Stopped)) => return,
                    Err(e) => {
                        warn!("finishing an interrupted erasure failed ({e}); retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    async fn resume_one(&self, patient: &str, plan: &ErasurePlan) -> Result<(), CustodyError> {
        let pending: Vec<(String, String, u64)> = {
            let state = self.state()?;
            plan.records
                .iter()
                .filter(|(t, id, _)| !records::record_state(&state, t, id).is_some_and(|r| r.erased))
                .cloned()
                .collect()
        };
        if !pending.is_empty() {
            let rest = ErasurePlan {
                records: pending,
                ciphertexts: Vec::new(),
            };
            match self.commit_erasure(patient, &rest).await {
                Ok(_) => {}
                // Dropped: the ledger refused it for good (and the plan is gone).
                Err(CustodyError::Ledger(m)) if !self.inner.journal.erasing(patient) => {
                    warn!("an interrupted erasure was refused by the ledger ({m}); the records stay");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.destroy(patient, plan).await?;
        info!(
            records = plan.records.len(),
            "finished an erasure interrupted by a restart"
        );
        Ok(())
    }
}
