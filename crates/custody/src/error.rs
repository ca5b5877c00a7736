//! What can go wrong in custody, typed: the API picks a status from the variant, and the
//! failure underneath (redb, I/O, the object store, an HTTP client) is kept as the
//! error's source.
//!
//! Messages go to logs and, through the API, to callers at this and other organisations,
//! so none names a patient, an identifier value or anything of a record's contents.

use std::path::PathBuf;
use std::sync::Arc;

use medledger_crypto::jws::JwsError;
use medledger_ledger::consent::policy::Denial;
use medledger_ledger::describe_outcome;
use medledger_node::mempool::SubmitError;
use medledger_node::tls::TlsError;
use medledger_types::{OrgId, OutcomeCode};
use thiserror::Error;

/// Sources are shared (`Arc`) so that one failure can answer every caller it concerns (a
/// batch of writes, a batch of transfers, a group of blob writers).
#[derive(Debug, Error, Clone)]
pub enum CustodyError {
    #[error("custody storage failed: {0}")]
    Storage(#[from] StorageError),
    #[error("no such record version")]
    NotFound,
    #[error("this record has been erased")]
    Gone,
    #[error("access denied: {0}")]
    Denied(#[from] Refusal),
    #[error("{0}")]
    Conflict(#[from] ConflictKind),
    #[error("the ledger did not accept the transaction: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the custodian could not be reached or refused: {0}")]
    Custodian(#[from] PeerError),
    #[error("the custodian returned data that does not match the ledger anchor")]
    Tampered,
    #[error("{0}")]
    BadRequest(#[from] RequestError),
    #[error("this single-use request was already used")]
    Replayed,
    #[error("{0}")]
    Limit(#[from] LimitKind),
    /// The record does not match the search the reader asked the custodian to match it
    /// against: nothing was served, nothing decrypted.
    #[error("the record does not match the search")]
    NoMatch,
    /// The custodian refused on a ledger behind the height the reader decided at, and its
    /// ledger did not reach that height while it waited: nothing was decided, served or
    /// audited, and the reader may ask again.
    #[error("the custodian's ledger is at height {mine}, behind the reader's {claimed}; try again")]
    Behind { mine: u64, claimed: u64 },
}

/// Custody's own storage, or what it found there, failed.
#[derive(Debug, Error, Clone)]
pub enum StorageError {
    #[error("the ledger store: {0}")]
    Ledger(#[source] Arc<medledger_store::StoreError>),
    #[error("the custody journal: {0}")]
    Journal(#[source] Arc<redb::Error>),
    #[error("a custody journal value: {0}")]
    Encoding(#[source] Arc<serde_json::Error>),
    #[error("the custody journal has stopped")]
    JournalStopped,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("the blob store: {0}")]
    Blobs(#[source] Arc<object_store::Error>),
    #[error("the blob store cannot be used: {0}")]
    BlobsUnusable(#[source] Arc<object_store::Error>),
    #[error("the blob store is shutting down")]
    BlobsStopped,
    #[error("local copy does not match the ledger anchor")]
    LocalCopyMismatch,
    #[error("stored ciphertext does not match the ledger anchor")]
    CiphertextMismatch,
    #[error("a stored version does not decrypt")]
    DoesNotDecrypt,
    #[error("a data key does not unwrap")]
    KeyDoesNotUnwrap,
    #[error("a data key has the wrong length")]
    KeyLength,
}

impl StorageError {
    pub(crate) fn journal(e: impl Into<redb::Error>) -> StorageError {
        StorageError::Journal(Arc::new(e.into()))
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io {
            path,
            source: Arc::new(source),
        }
    }
}

impl From<medledger_store::StoreError> for StorageError {
    fn from(e: medledger_store::StoreError) -> Self {
        StorageError::Ledger(Arc::new(e))
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Encoding(Arc::new(e))
    }
}

impl From<medledger_store::StoreError> for CustodyError {
    fn from(e: medledger_store::StoreError) -> Self {
        CustodyError::Storage(e.into())
    }
}

/// Why a read, a write or a node-to-node request is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The access policy, on this node's ledger.
    #[error(transparent)]
    Policy(#[from] Denial),
    #[error("break-glass is declared at the node of the practitioner's organisation")]
    BreakGlassElsewhere,
    #[error("the ledger refused the break-glass declaration ({})", describe_outcome(*.0))]
    BreakGlassRefused(OutcomeCode),
    #[error("only the custodian organisation may write new versions of a record")]
    NotCustodian,
    /// The custodian refused, for the reason it gave.
    #[error("the custodian refused: {0}")]
    ByCustodian(RemoteMessage),
    #[error("request signature: {0}")]
    Signature(#[source] JwsError),
    #[error("the request is not signed by a node key")]
    NotNodeKey,
    #[error("the connection's certificate is not a node of the signing organisation")]
    CertificateOfAnotherOrg,
    #[error("node-to-node requests need a client certificate (mutual TLS)")]
    NoClientCertificate,
    #[error("issuer does not own the signing key")]
    IssuerNotSigner,
    #[error("request is addressed to another organisation")]
    OtherAudience,
    #[error("request expired or lives too long")]
    Expired,
    #[error("a node may only speak for its own organisation")]
    ReaderOfAnotherOrg,
}

/// What another node said about a refusal: shown to whoever asked, never interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMessage(pub String);

impl std::fmt::Display for RemoteMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    #[error("a record with this id already exists")]
    RecordExists,
}

#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    #[error("this practitioner has reached the consortium's break-glass limit for the last 24 hours")]
    BreakGlass,
}

/// A transaction of this node's own that did not make it into a block as it should.
#[derive(Debug, Error, Clone)]
pub enum LedgerError {
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("no commit receiver")]
    NoCommitReceiver,
    #[error("the node stopped before the block")]
    Stopped,
    /// In a block, with this failed outcome.
    #[error("{}", describe_outcome(*.0))]
    Refused(OutcomeCode),
    #[error("not anchored")]
    NotAnchored,
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// A read from another organisation's node (the custodian) failed.
#[derive(Debug, Error, Clone)]
#[error("{}", peer_message(.org, .cause))]
pub struct PeerError {
    /// The custodian organisation.
    pub org: OrgId,
    #[source]
    pub cause: PeerCause,
}

fn peer_message(org: &OrgId, cause: &PeerCause) -> String {
    match cause {
        PeerCause::NotConfigured => format!("no node of {org} is configured as a peer"),
        other => other.to_string(),
    }
}

#[derive(Debug, Error, Clone)]
pub enum PeerCause {
    #[error("no node of the organisation is configured as a peer")]
    NotConfigured,
    /// This node could not set up TLS to the custodian's nodes.
    #[error("{0}")]
    Tls(#[source] Arc<TlsError>),
    /// This node could not build its HTTP client.
    #[error("{0}")]
    Client(#[source] Arc<reqwest::Error>),
    #[error("{url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: Arc<reqwest::Error>,
    },
    #[error("no custodian node answered")]
    NoAnswer,
    /// The custodian answered with this status, for the reason it gave.
    #[error("{message}")]
    Refused { status: u16, message: RemoteMessage },
    #[error("malformed answer")]
    MalformedAnswer,
    #[error("the answer does not match the request")]
    AnswerMismatch,
    #[error("malformed ciphertext")]
    MalformedCiphertext,
    #[error("malformed wrapped key")]
    MalformedWrappedKey,
    #[error("the transfer queue has stopped")]
    QueueStopped,
    #[error("the transfer was dropped")]
    Dropped,
    /// The custodian's ledger is still behind the reader's (it answered `503 behind`).
    #[error("its ledger is behind this node's; it did not catch up in time")]
    Behind,
}

impl PeerCause {
    /// The failure is this node's own (it could not make a client), not the custodian's.
    pub fn is_local(&self) -> bool {
        matches!(self, PeerCause::Tls(_) | PeerCause::Client(_))
    }
}

/// A malformed request from another node, or an access that cannot be recorded.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    #[error("malformed request claims")]
    MalformedClaims,
    #[error("a request names 1 to 128 record versions")]
    ItemCount,
    #[error("jti must be 1 to 64 characters")]
    Jti,
    #[error("malformed issuer")]
    Issuer,
    #[error("malformed encryption key")]
    EncryptionKey,
    #[error("malformed resource type or id")]
    TypeOrId,
    #[error("versions start at 1")]
    VersionZero,
    #[error("a note is 1 to 500 bytes")]
    Note,
    #[error("action is one of read, vread, history, search, export, verify")]
    Action,
    #[error("malformed reader")]
    Reader,
    #[error("unusable encryption key")]
    UnusableEncryptionKey,
    #[error("an access could not be recorded: an identifier in it is not a valid id")]
    UnencodableAudit,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wording other nodes and API clients see (a reader's node shows the custodian's
    /// reason as it was given).
    #[test]
    fn messages_name_the_reason_and_no_data() {
        let org = OrgId::new("hospital-a").expect("valid org id");
        let cases: Vec<(CustodyError, &str)> = vec![
            (
                Refusal::Policy(Denial::NoConsent).into(),
                "access denied: the patient has not consented to this access",
            ),
            (
                Refusal::ByCustodian(RemoteMessage("request expired or lives too long".into())).into(),
                "access denied: the custodian refused: request expired or lives too long",
            ),
            (
                PeerError {
                    org: org.clone(),
                    cause: PeerCause::NotConfigured,
                }
                .into(),
                "the custodian could not be reached or refused: no node of hospital-a is configured as a peer",
            ),
            (
                PeerError {
                    org,
                    cause: PeerCause::MalformedAnswer,
                }
                .into(),
                "the custodian could not be reached or refused: malformed answer",
            ),
            (
                LedgerError::Refused(OutcomeCode(11)).into(),
                "the ledger did not accept the transaction: record_erased",
            ),
            (
                Refusal::BreakGlassRefused(OutcomeCode(22)).into(),
                "access denied: the ledger refused the break-glass declaration (not_a_practitioner)",
            ),
            (
                ConflictKind::RecordExists.into(),
                "a record with this id already exists",
            ),
            (
                StorageError::LocalCopyMismatch.into(),
                "custody storage failed: local copy does not match the ledger anchor",
            ),
        ];
        for (e, message) in cases {
            assert_eq!(e.to_string(), message);
        }
        assert!(
            RequestError::ItemCount
                .to_string()
                .contains(&format!("1 to {} ", crate::MAX_BATCH))
        );
    }
}
