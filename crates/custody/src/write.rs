//! Writing record versions: reserve a version number, encrypt, keep the ciphertext and the
//! wrapped key durably, anchor on the ledger (many versions per transaction).

use std::time::Duration;

use medledger_crypto::envelope::{self, DataKey};
use medledger_ledger::records::anchor::Anchor;
use medledger_types::Hash32;
use tokio::sync::mpsc;

use super::access::{key_at_rest_aad, record_aad};
use super::{
    Anchored, ConflictKind, Custody, CustodyError, LedgerError, LocalVersion, NewVersion, Refusal, journal, lock,
};

/// Anchors that go into one ledger transaction together (one write, or a whole
/// transaction Bundle that fits in [`MAX_BODY`]).
pub(super) struct AnchorJob {
    anchors: Vec<Anchor>,
    done: tokio::sync::oneshot::Sender<Result<Anchored, CustodyError>>,
}

/// Most body bytes of one transaction the node signs: under the protocol's
/// `MAX_TX_BODY`, so that every validator decodes it (about 400 anchors or 350 audit
/// entries).
pub const MAX_BODY: usize = 60 * 1024;

fn anchor_len(a: &Anchor) -> usize {
    medledger_types::codec::Encode::encode(a).len()
}

/// Splits items into consecutive runs whose encodings fit in [`MAX_BODY`] together.
pub(super) fn fit<T>(items: &[T], len: impl Fn(&T) -> usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = len(item);
        if i > start && bytes + n > MAX_BODY - 128 {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

impl Custody {
    /// Reserves the next version of a record this node holds (1 for a new record).
    pub fn reserve_version(&self, resource_type: &str, id: &str, create: bool) -> Result<u64, CustodyError> {
        let current = self.record_state(resource_type, id)?;
        let mut reserved = lock(&self.inner.reserved);
        let key = (resource_type.to_string(), id.to_string());
        let base = match (&current, create) {
            (Some(_), true) => return Err(ConflictKind::RecordExists.into()),
            (None, true) => 0,
            (None, false) => reserved.get(&key).copied().ok_or(CustodyError::NotFound)?,
            (Some(r), false) => {
                if &r.custodian != self.org() {
                    return Err(Refusal::NotCustodian.into());
                }
                if r.erased || self.being_erased(r.patient.as_deref()) {
                    return Err(CustodyError::Gone);
                }
                r.latest
            }
        };
        let next = reserved.get(&key).copied().unwrap_or(0).max(base) + 1;
        reserved.insert(key, next);
        Ok(next)
    }

    /// Gives back a version reserved by [`Custody::reserve_version`] that will not be written.
    pub fn release_reserved(&self, resource_type: &str, id: &str, version: u64) {
        let mut reserved = lock(&self.inner.reserved);
        let key = (resource_type.to_string(), id.to_string());
        if reserved.get(&key) == Some(&version) {
            reserved.remove(&key);
        }
    }

    /// Encrypts, stores and anchors a version; returns once the anchor is durable.
    pub async fn store_version(&self, v: NewVersion) -> Result<Anchored, CustodyError> {
        self.store_versions(vec![v])
            .await
            .pop()
            .unwrap_or_else(|| Err(LedgerError::NotAnchored.into()))
    }

    /// Encrypts and stores several versions, then anchors them together: in one ledger
    /// transaction when their anchors fit in [`MAX_BODY`] (about 400), otherwise in
    /// consecutive ones.
    pub async fn store_versions(&self, versions: Vec<NewVersion>) -> Vec<Result<Anchored, CustodyError>> {
        let sealed = futures::future::join_all(versions.iter().map(|v| self.seal_and_keep(v))).await;
        let mut results: Vec<Result<Anchored, CustodyError>> = Vec::with_capacity(versions.len());
        let mut ready = Vec::new();
        for (i, r) in sealed.into_iter().enumerate() {
            match r {
                Ok(anchor) => {
                    ready.push((i, anchor));
                    results.push(Err(LedgerError::NotAnchored.into()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        for range in fit(&ready, |(_, a)| anchor_len(a)) {
            let chunk = &ready[range];
            let (done, rx) = tokio::sync::oneshot::channel();
            let job = AnchorJob {
                anchors: chunk.iter().map(|(_, a)| a.clone()).collect(),
                done,
            };
            let r = match self.inner.anchors.send(job).await {
                Ok(()) => rx.await.unwrap_or_else(|_| Err(LedgerError::ShuttingDown.into())),
                Err(_) => Err(LedgerError::ShuttingDown.into()),
            };
            for (i, _) in chunk {
                results[*i] = r.clone();
            }
        }
        for v in &versions {
            self.release_reserved(&v.resource_type, &v.id, v.version);
        }
        results
    }

    /// Encrypts a version, stores the ciphertext and the wrapped key durably; returns its
    /// anchor, not yet submitted.
    async fn seal_and_keep(&self, v: &NewVersion) -> Result<Anchor, CustodyError> {
        let org = self.org().clone();
        let key = DataKey::generate();
        let sealed = envelope::seal(
            &key,
            &v.plaintext,
            &record_aad(&org, &v.resource_type, &v.id, v.version),
        );
        let hash = Hash32::digest(&[&sealed]);
        let wrapped_key = envelope::seal(
            &self.inner.service.kek,
            key.as_bytes(),
            &key_at_rest_aad(&org, &v.resource_type, &v.id, v.version),
        );
        let identifiers = v
            .identifiers
            .iter()
            .map(|(system, value)| {
                journal::identifier_key(
                    &self.inner.service.identifier_key,
                    &v.resource_type,
                    system.as_deref(),
                    value,
                )
            })
            .collect();
        let searchable = crate::Searchable {
            version: v.version,
            values: v.search.clone(),
        };
        let sealed_search = self.seal_search(&v.resource_type, &v.id, &searchable)?;
        // The ciphertext and the wrapped key are made durable side by side: nothing is
        // anchored until both are, and a crash in between leaves only unanchored leftovers.
        let keep_key = self.inner.journal.put_version(
            &v.resource_type,
            &v.id,
            v.version,
            LocalVersion {
                wrapped_key,
                ciphertext: hash,
                patient: v.patient.clone(),
                last_updated_ms: v.last_updated_ms,
            },
            identifiers,
            sealed_search,
        );
        let keep_ciphertext = async { Ok::<_, CustodyError>(self.inner.blobs.put(hash, sealed).await?) };
        tokio::try_join!(keep_ciphertext, keep_key)?;
        // A search trusts these values only for the version the ledger says is current.
        self.keep_searchable(&v.resource_type, &v.id, &searchable);
        Ok(Anchor {
            resource_type: v.resource_type.clone(),
            record_id: v.id.clone(),
            version: v.version,
            patient: v.patient.clone(),
            ciphertext: hash,
            author: v.author.clone(),
        })
    }

    /// The id of a record this node holds with the given business identifier. Only the
    /// access guard calls this, for the custodian's own staff, and audits it.
    pub fn resolve_identifier(
        &self,
        resource_type: &str,
        system: Option<&str>,
        value: &str,
    ) -> Result<Option<String>, CustodyError> {
        self.inner.journal.identifier(&journal::identifier_key(
            &self.inner.service.identifier_key,
            resource_type,
            system,
            value,
        ))
    }

    pub(super) async fn anchor_loop(self, mut rx: mpsc::Receiver<AnchorJob>) {
        let mut carry: Option<AnchorJob> = None;
        loop {
            let first = match carry.take() {
                Some(j) => j,
                None => match rx.recv().await {
                    Some(j) => j,
                    None => return,
                },
            };
            let mut bytes: usize = first.anchors.iter().map(anchor_len).sum();
            let mut jobs = vec![first];
            // Gather what arrives within a few milliseconds into one transaction; a job
            // is never split, so a Bundle's anchors stay together.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(5);
            while bytes < MAX_BODY - 128 {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(j)) if bytes + j.anchors.iter().map(anchor_len).sum::<usize>() <= MAX_BODY - 128 => {
                        bytes += j.anchors.iter().map(anchor_len).sum::<usize>();
                        jobs.push(j);
                    }
                    Ok(Some(j)) => {
                        carry = Some(j);
                        break;
                    }
                    _ => break,
                }
            }
            let body = medledger_ledger::records::anchor::RecordsAnchor {
                custodian: self.org().clone(),
                anchors: jobs.iter().flat_map(|j| j.anchors.iter().cloned()).collect(),
            };
            let accepted = self.inner.node.submit_own(
                &self.inner.service.key,
                medledger_ledger::records::anchor::KIND,
                medledger_types::codec::Encode::encode(&body),
            );
            tokio::spawn(async move {
                let result = match accepted {
                    Err(e) => Err(LedgerError::Submit(e).into()),
                    Ok(a) => match a.committed {
                        None => Err(LedgerError::NoCommitReceiver.into()),
                        Some(rx) => match rx.await {
                            Err(_) => Err(LedgerError::Stopped.into()),
                            Ok(Err(e)) => Err(LedgerError::Submit(e).into()),
                            Ok(Ok(c)) if !c.outcome.is_ok() => Err(LedgerError::Refused(c.outcome).into()),
                            Ok(Ok(c)) => Ok(Anchored {
                                tx_hash: a.hash,
                                height: c.height,
                                leaf_index: c.leaf_index,
                            }),
                        },
                    },
                };
                for j in jobs {
                    let _ = j.done.send(result.clone());
                }
            });
        }
    }
}
