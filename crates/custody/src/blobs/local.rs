//! Blobs in a local folder, one file per blob, durable before a write or delete returns.
//!
//! A blob is written to a staging file next to its place (`<hex>#<n>`) and renamed into
//! place, so a reader never sees part of one. On Linux writes are made durable in groups:
//! they go to the page cache, and one `syncfs` of the folder's file system covers every
//! write that finished before it started (a group commit), instead of two fsyncs (file
//! and folder) per version. Elsewhere each write fsyncs its file and its folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use medledger_types::Hash32;

use super::{BlobFuture, BlobStore, key};
use crate::StorageError;

pub struct LocalBlobs {
    dir: PathBuf,
    durability: Durability,
    /// Numbers staging files, so that concurrent writes of one blob do not collide.
    staging: AtomicU64,
}

/// How writes and deletes are made durable.
enum Durability {
    /// Each one fsyncs its file and its folders.
    EachWrite,
    /// Many share one `syncfs`.
    #[cfg(target_os = "linux")]
    Group(GroupSync),
}

impl LocalBlobs {
    /// A folder, created if missing. On Linux it needs a Tokio runtime (for the group
    /// sync).
    pub fn open(dir: &Path) -> Result<LocalBlobs, StorageError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        #[cfg(target_os = "linux")]
        let durability = Durability::Group(GroupSync::start(dir)?);
        #[cfg(not(target_os = "linux"))]
        let durability = Durability::EachWrite;
        Ok(LocalBlobs::with(dir, durability))
    }

    /// A folder, created if missing, where each write and delete is fsync'd on its own
    /// (what `open` does where there is no `syncfs`).
    pub fn open_fsync_each(dir: &Path) -> Result<LocalBlobs, StorageError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        Ok(LocalBlobs::with(dir, Durability::EachWrite))
    }

    fn with(dir: &Path, durability: Durability) -> LocalBlobs {
        LocalBlobs {
            dir: dir.to_path_buf(),
            durability,
            staging: AtomicU64::new(0),
        }
    }

    fn path(&self, hash: &Hash32) -> PathBuf {
        self.dir.join(key(hash))
    }

    fn fsync_each(&self) -> bool {
        matches!(self.durability, Durability::EachWrite)
    }

    /// Waits until every write and delete finished so far is durable (a no-op when each
    /// one was fsync'd).
    async fn durable(&self) -> Result<(), StorageError> {
        match &self.durability {
            Durability::EachWrite => Ok(()),
            #[cfg(target_os = "linux")]
            Durability::Group(sync) => sync.wait().await,
        }
    }
}

impl BlobStore for LocalBlobs {
    fn put(&self, hash: Hash32, ciphertext: Vec<u8>) -> BlobFuture<'_, ()> {
        let path = self.path(&hash);
        let n = self.staging.fetch_add(1, Ordering::Relaxed);
        let staging = path.with_file_name(format!("{}#{n}", hash.to_hex()));
        let (root, fsync) = (self.dir.clone(), self.fsync_each());
        Box::pin(async move {
            blocking(&self.dir, move || {
                write_file(&root, &staging, &path, &ciphertext, fsync)
            })
            .await?;
            self.durable().await
        })
    }

    fn get(&self, hash: Hash32) -> BlobFuture<'_, Option<Vec<u8>>> {
        let path = self.path(&hash);
        Box::pin(async move {
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StorageError::io(path)(e)),
            }
        })
    }

    fn delete(&self, hash: Hash32) -> BlobFuture<'_, ()> {
        let path = self.path(&hash);
        let fsync = self.fsync_each();
        Box::pin(async move {
            blocking(&self.dir, move || remove_file(&path, fsync)).await?;
            self.durable().await
        })
    }

    fn check(&self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            let meta = tokio::fs::metadata(&self.dir)
                .await
                .map_err(StorageError::io(&self.dir))?;
            if meta.is_dir() {
                Ok(())
            } else {
                Err(StorageError::io(&self.dir)(std::io::ErrorKind::NotADirectory.into()))
            }
        })
    }
}

/// Runs file system calls on `dir` off the async threads.
async fn blocking(
    dir: &Path,
    f: impl FnOnce() -> Result<(), StorageError> + Send + 'static,
) -> Result<(), StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::io(dir)(std::io::Error::other(e)))?
}

/// Writes `bytes` to `staging`, then renames it to `path`. With `fsync`, the file, its
/// folder and (when the folder is new) the root are synced.
fn write_file(root: &Path, staging: &Path, path: &Path, bytes: &[u8], fsync: bool) -> Result<(), StorageError> {
    let folder = path.parent().unwrap_or(root);
    let created = match std::fs::create_dir(folder) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(StorageError::io(folder)(e)),
    };
    let written = (|| {
        let mut file = std::fs::File::create_new(staging)?;
        file.write_all(bytes)?;
        if fsync {
            file.sync_all()?;
        }
        std::fs::rename(staging, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(staging);
        return Err(StorageError::io(path)(e));
    }
    if fsync {
        sync_folder(folder)?;
        if created {
            sync_folder(root)?;
        }
    }
    Ok(())
}

fn remove_file(path: &Path, fsync: bool) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io(path)(e)),
    }
    match path.parent() {
        Some(folder) if fsync => sync_folder(folder),
        _ => Ok(()),
    }
}

/// Makes a folder's entries durable (Unix; elsewhere a folder cannot be opened to sync).
fn sync_folder(folder: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    std::fs::File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io(folder))?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

/// One `syncfs` for many writers. A waiter is answered by a `syncfs` that began after its
/// request arrived, so every write it finished before asking is on disk.
#[cfg(target_os = "linux")]
struct GroupSync {
    requests: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Result<(), StorageError>>>,
}

#[cfg(target_os = "linux")]
impl GroupSync {
    fn start(dir: &Path) -> Result<GroupSync, StorageError> {
        let folder = std::sync::Arc::new(std::fs::File::open(dir).map_err(StorageError::io(dir))?);
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

    async fn wait(&self) -> Result<(), StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests.send(tx).map_err(|_| StorageError::BlobsStopped)?;
        rx.await.map_err(|_| StorageError::BlobsStopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_blobs() {
        let dir = tempfile::tempdir().unwrap();
        conformance::suite(&LocalBlobs::open(dir.path()).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_blobs_fsync_each() {
        let dir = tempfile::tempdir().unwrap();
        conformance::suite(&LocalBlobs::open_fsync_each(dir.path()).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_file_per_blob_named_by_its_hash_and_no_staging_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let body = b"ciphertext".to_vec();
        let h = Hash32::digest(&[&body]);
        let puts = (0..8).map(|_| blobs.put(h, body.clone()));
        for r in futures::future::join_all(puts).await {
            r.unwrap();
        }
        let hex = h.to_hex();
        let file = dir.path().join(&hex[..2]).join(&hex);
        assert_eq!(std::fs::read(&file).unwrap(), body);
        let names = |folder: &Path| -> Vec<String> {
            std::fs::read_dir(folder)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&dir.path().join(&hex[..2])), vec![hex.clone()]);
        blobs.delete(h).await.unwrap();
        assert!(names(&dir.path().join(&hex[..2])).is_empty());
    }

    #[tokio::test]
    async fn a_file_where_the_folder_should_be_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open_fsync_each(dir.path()).unwrap();
        std::fs::remove_dir(dir.path()).unwrap();
        std::fs::write(dir.path(), b"not a folder").unwrap();
        let err = blobs.check().await.unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
        std::fs::remove_file(dir.path()).unwrap();
    }
}
