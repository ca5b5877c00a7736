//! Encrypted record versions, content-addressed by the SHA-256 of their ciphertext.
//!
//! The store is an `object_store`: a local folder by default (every write fsync'd with
//! its directory), or an S3-compatible bucket (`[fhir.s3]`). Nothing here ever sees
//! plaintext.

use std::sync::Arc;

use medledger_types::Hash32;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::CustodyError;

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

fn location(hash: &Hash32) -> ObjectPath {
    let hex = hash.to_hex();
    // Two levels of fan-out keep directories small.
    ObjectPath::from(format!("{}/{}/{hex}", &hex[..2], &hex[2..4]))
}

impl Blobs {
    /// A local folder, created if missing.
    pub fn local(dir: &std::path::Path) -> Result<Blobs, CustodyError> {
        std::fs::create_dir_all(dir).map_err(|e| CustodyError::Storage(format!("{}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| CustodyError::Storage(e.to_string()))?
            .with_fsync(true);
        Ok(Blobs { store: Arc::new(fs) })
    }

    /// An S3-compatible bucket. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or the
    /// instance's role; call [`Blobs::check`] before serving.
    pub fn s3(cfg: &crate::config::S3Config) -> Result<Blobs, CustodyError> {
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
        let s3 = b
            .build()
            .map_err(|e| CustodyError::Storage(format!("S3 blob store: {e}")))?;
        let store: Arc<dyn ObjectStore> = if cfg.prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                ObjectPath::from(cfg.prefix.trim_matches('/')),
            ))
        };
        Ok(Blobs { store })
    }

    /// Fails with a clear message when the store cannot be reached or refuses us
    /// (wrong credentials, missing bucket), so a node does not start and fail on its
    /// first write.
    pub async fn check(&self) -> Result<(), CustodyError> {
        match self.store.head(&ObjectPath::from("medledger-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(CustodyError::Storage(format!("the blob store cannot be used: {e}"))),
        }
    }

    /// An in-memory store, for tests.
    pub fn memory() -> Blobs {
        Blobs {
            store: Arc::new(object_store::memory::InMemory::new()),
        }
    }

    pub async fn put(&self, hash: &Hash32, sealed: Vec<u8>) -> Result<(), CustodyError> {
        self.store
            .put(&location(hash), sealed.into())
            .await
            .map(|_| ())
            .map_err(|e| CustodyError::Storage(e.to_string()))
    }

    /// The ciphertext, or `None` when it was never stored or has been erased.
    pub async fn get(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, CustodyError> {
        match self.store.get(&location(hash)).await {
            Ok(r) => r
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| CustodyError::Storage(e.to_string())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(CustodyError::Storage(e.to_string())),
        }
    }

    pub async fn delete(&self, hash: &Hash32) -> Result<(), CustodyError> {
        match self.store.delete(&location(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(CustodyError::Storage(e.to_string())),
        }
    }
}
