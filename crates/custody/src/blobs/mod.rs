//! Encrypted record versions, content-addressed by the SHA-256 of their ciphertext.
//!
//! [`BlobStore`] is what custody needs of a store; nothing behind it ever sees plaintext.
//! Two kinds serve nodes: [`LocalBlobs`], a folder (the default, `data/blobs` or
//! `[fhir] blob_dir`), and [`S3Blobs`], an S3-compatible bucket (`[fhir.s3]`).
//! [`MemoryBlobs`] is for tests. Every kind passes the same conformance tests.
//!
//! A blob's key is `hh/<hex>`: the first two hex digits of its hash, then the whole hash.
//! One level of 256 folders keeps folders reasonably small (about 4,000 entries per
//! million versions) without creating a new folder for most versions: on ext4 a folder
//! costs far more to create than a file (two levels of 65,536 made most puts a `mkdir`,
//! which dominated the kernel time of creates).

mod local;
mod s3;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use medledger_node::home::Home;
use medledger_types::Hash32;

use crate::StorageError;

pub use local::LocalBlobs;
pub use s3::S3Blobs;

/// What a blob store operation returns.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// Where ciphertexts are kept. Object-safe: custody holds the store the configuration
/// names as an `Arc<dyn BlobStore>`.
pub trait BlobStore: Send + Sync {
    /// Stores a ciphertext under its hash; durable when this completes. Storing a hash
    /// again stores the same bytes again.
    fn put(&self, hash: Hash32, ciphertext: Vec<u8>) -> BlobFuture<'_, ()>;

    /// The ciphertext, or `None` when it was never stored or has been deleted.
    fn get(&self, hash: Hash32) -> BlobFuture<'_, Option<Vec<u8>>>;

    /// Deletes a ciphertext (erasure); durable when this completes. Deleting one that is
    /// not there succeeds.
    fn delete(&self, hash: Hash32) -> BlobFuture<'_, ()>;

    /// Fails when the store cannot be used (a missing folder, wrong credentials, a
    /// missing bucket), so that a node does not start and then fail on its first write.
    fn check(&self) -> BlobFuture<'_, ()>;
}

/// The store a node's configuration names: `[fhir.s3]`, else `[fhir] blob_dir`, else
/// `data/blobs` in its home. A local folder needs a Tokio runtime.
pub fn open(home: &Home) -> Result<Arc<dyn BlobStore>, StorageError> {
    let fhir = &home.config.fhir;
    Ok(match &fhir.s3 {
        Some(s3) => Arc::new(S3Blobs::new(s3)?),
        None if fhir.blob_dir.is_empty() => Arc::new(LocalBlobs::open(&home.blob_dir())?),
        None => Arc::new(LocalBlobs::open(std::path::Path::new(&fhir.blob_dir))?),
    })
}

/// A blob's key in any store: `hh/<hex>`.
fn key(hash: &Hash32) -> String {
    let hex = hash.to_hex();
    format!("{}/{hex}", &hex[..2])
}

/// Blobs in memory, for tests; forgotten when dropped.
#[derive(Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<Hash32, Vec<u8>>>,
}

impl MemoryBlobs {
    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<Hash32, Vec<u8>>> {
        crate::lock(&self.blobs)
    }
}

impl BlobStore for MemoryBlobs {
    fn put(&self, hash: Hash32, ciphertext: Vec<u8>) -> BlobFuture<'_, ()> {
        self.blobs().insert(hash, ciphertext);
        Box::pin(async { Ok(()) })
    }

    fn get(&self, hash: Hash32) -> BlobFuture<'_, Option<Vec<u8>>> {
        let found = self.blobs().get(&hash).cloned();
        Box::pin(async { Ok(found) })
    }

    fn delete(&self, hash: Hash32) -> BlobFuture<'_, ()> {
        self.blobs().remove(&hash);
        Box::pin(async { Ok(()) })
    }

    fn check(&self) -> BlobFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// What every [`BlobStore`] must do, run against each kind.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    fn blob(i: u32) -> (Hash32, Vec<u8>) {
        let body = format!("ciphertext {i}").into_bytes();
        (Hash32::digest(&[&body]), body)
    }

    pub(crate) async fn suite(store: &dyn BlobStore) {
        store.check().await.expect("a usable store passes its check");
        let (h, body) = blob(0);
        assert_eq!(store.get(h).await.unwrap(), None, "never stored");
        store.put(h, body.clone()).await.unwrap();
        assert_eq!(store.get(h).await.unwrap().as_deref(), Some(body.as_slice()));
        store.put(h, body.clone()).await.unwrap();
        assert_eq!(
            store.get(h).await.unwrap().as_deref(),
            Some(body.as_slice()),
            "stored twice"
        );
        store.delete(h).await.unwrap();
        assert_eq!(store.get(h).await.unwrap(), None, "deleted");
        store.delete(h).await.unwrap();
        // Concurrent writers, then every blob reads back.
        let items: Vec<(Hash32, Vec<u8>)> = (1..=100).map(blob).collect();
        let puts = items.iter().map(|(h, b)| store.put(*h, b.clone()));
        for r in futures::future::join_all(puts).await {
            r.unwrap();
        }
        for (h, b) in &items {
            assert_eq!(store.get(*h).await.unwrap().as_deref(), Some(b.as_slice()));
        }
        let deletes = items.iter().take(50).map(|(h, _)| store.delete(*h));
        for r in futures::future::join_all(deletes).await {
            r.unwrap();
        }
        for (i, (h, b)) in items.iter().enumerate() {
            let expected = (i >= 50).then_some(b.as_slice());
            assert_eq!(store.get(*h).await.unwrap().as_deref(), expected, "blob {i}");
        }
    }

    #[tokio::test]
    async fn memory_blobs() {
        suite(&MemoryBlobs::default()).await;
    }
}
