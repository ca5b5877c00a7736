//! Encrypted record versions, content-addressed by the SHA-256 of their ciphertext.
//!
//! The store is an `object_store`: a local folder by default (every write fsync'd with
//! its directory). Nothing here ever sees plaintext.

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
