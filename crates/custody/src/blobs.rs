//! Encrypted record versions, content-addressed by the SHA-256 of their ciphertext.
//!
//! The store is an `object_store`: a local folder by default, or an S3-compatible bucket
//! (`[fhir.s3]`). Nothing here ever sees plaintext.
//!
//! Local writes and deletes are durable before they return. On Linux they are made
//! durable in groups: writes go to the page cache, and one `syncfs` of the folder's file
//! system covers every write that finished before it started (a group commit), instead
//! of two fsyncs (file and directory) per version. Elsewhere each write is fsync'd.

use std::sync::Arc;

use medledger_types::Hash32;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{CustodyError, StorageError};

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Group durability for a local folder (Linux); `None`: each write is durable alone.
    sync: Option<GroupSync>,
}

/// One `syncfs` for many writers. A waiter is answered by a `syncfs` that began after its
/// request arrived, so every write it finished before asking is on disk.
#[derive(Clone)]
struct GroupSync {
    requests: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Result<(), StorageError>>>,
}

impl GroupSync {
    #[cfg(target_os = "linux")]
    fn start(dir: &std::path::Path) -> Result<GroupSync, CustodyError> {
        let folder = std::fs::File::open(dir).map_err(StorageError::io(dir))?;
        let folder = Arc::new(folder);
        let dir = dir.to_path_buf();
        let (requests, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<Result<(), StorageError>>>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                while let Ok(w) = rx.try_recv() {
                    waiters.push(w);
                }
                let f = folder.clone();
                let r = tokio::task::spawn_blocking(move || nix::unistd::syncfs(&*f))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r.map_err(std::io::Error::from))
                    .map_err(StorageError::io(&dir));
                for w in waiters {
                    let _ = w.send(r.clone());
                }
            }
        });
        Ok(GroupSync { requests })
    }

    async fn wait(&self) -> Result<(), CustodyError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests.send(tx).map_err(|_| StorageError::BlobsStopped)?;
        Ok(rx.await.map_err(|_| StorageError::BlobsStopped)??)
    }
}

fn blobs_error(e: object_store::Error) -> CustodyError {
    StorageError::Blobs(Arc::new(e)).into()
}

fn location(hash: &Hash32) -> ObjectPath {
    let hex = hash.to_hex();
    // One level of 256 folders keeps folders reasonably small (about 4,000 entries per
    // million versions) without creating a new folder for most versions: on ext4 a
    // folder costs far more to create than a file (two levels of 65,536 made most puts
    // a `mkdir`, which dominated the kernel time of creates).
    ObjectPath::from(format!("{}/{hex}", &hex[..2]))
}

impl Blobs {
    /// A local folder, created if missing. Needs a Tokio runtime (for the group sync).
    pub fn local(dir: &std::path::Path) -> Result<Blobs, CustodyError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(blobs_error)?;
        #[cfg(target_os = "linux")]
        let (fs, sync) = (fs, Some(GroupSync::start(dir)?));
        #[cfg(not(target_os = "linux"))]
        let (fs, sync) = (fs.with_fsync(true), None);
        Ok(Blobs {
            store: Arc::new(fs),
            sync,
        })
    }

    /// An S3-compatible bucket. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or the
    /// instance's role; call [`Blobs::check`] before serving.
    pub fn s3(cfg: &medledger_node::config::S3Config) -> Result<Blobs, CustodyError> {
        use object_store::aws::AmazonS3Builder;
        // reqwest is built with rustls but no crypto provider of its own: use ring, as the
        // rest of the process does. Installing twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_allow_http(cfg.allow_http);
        if !cfg.endpoint.is_empty() {
            // Path-style requests (`endpoint/bucket/key`) work with every S3-compatible
            // server; virtual-hosted style needs DNS for each bucket.
            b = b.with_endpoint(&cfg.endpoint).with_virtual_hosted_style_request(false);
        }
        let s3 = b.build().map_err(blobs_error)?;
        let store: Arc<dyn ObjectStore> = if cfg.prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                ObjectPath::from(cfg.prefix.trim_matches('/')),
            ))
        };
        Ok(Blobs { store, sync: None })
    }

    /// Fails with a clear message when the store cannot be reached or refuses us
    /// (wrong credentials, missing bucket), so a node does not start and fail on its
    /// first write.
    pub async fn check(&self) -> Result<(), CustodyError> {
        match self.store.head(&ObjectPath::from("medledger-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::BlobsUnusable(Arc::new(e)).into()),
        }
    }

    /// An in-memory store, for tests.
    pub fn memory() -> Blobs {
        Blobs {
            store: Arc::new(object_store::memory::InMemory::new()),
            sync: None,
        }
    }

    /// Stores a ciphertext; durable when this returns.
    pub async fn put(&self, hash: &Hash32, sealed: Vec<u8>) -> Result<(), CustodyError> {
        self.store
            .put(&location(hash), sealed.into())
            .await
            .map_err(blobs_error)?;
        self.durable().await
    }

    async fn durable(&self) -> Result<(), CustodyError> {
        match &self.sync {
            Some(s) => s.wait().await,
            None => Ok(()),
        }
    }

    /// The ciphertext, or `None` when it was never stored or has been erased.
    pub async fn get(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, CustodyError> {
        match self.store.get(&location(hash)).await {
            Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())).map_err(blobs_error),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(blobs_error(e)),
        }
    }

    /// Deletes a ciphertext (erasure); the deletion is durable when this returns.
    pub async fn delete(&self, hash: &Hash32) -> Result<(), CustodyError> {
        match self.store.delete(&location(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => self.durable().await,
            Err(e) => Err(blobs_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_syncs_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::local(dir.path()).unwrap();
        let items: Vec<(Hash32, Vec<u8>)> = (0..200u32)
            .map(|i| {
                let body = format!("ciphertext {i}").into_bytes();
                (Hash32::digest(&[&body]), body)
            })
            .collect();
        let puts = items.iter().map(|(h, b)| blobs.put(h, b.clone()));
        for r in futures::future::join_all(puts).await {
            r.unwrap();
        }
        for (h, b) in &items {
            assert_eq!(blobs.get(h).await.unwrap().as_deref(), Some(b.as_slice()));
        }
        // Each object is one file named by its hash, with no staging leftovers.
        let (h, _) = &items[7];
        let hex = h.to_hex();
        assert!(dir.path().join(&hex[..2]).join(&hex).is_file());
        blobs.delete(h).await.unwrap();
        assert_eq!(blobs.get(h).await.unwrap(), None);
        blobs.delete(h).await.unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(&hex[..2]))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains('#'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
