//! Blobs in an S3-compatible bucket (`[fhir.s3]`), through `object_store`'s S3 client.
//! A write or delete is durable once the server has answered it.

use std::sync::Arc;

use medledger_node::config::S3Config;
use medledger_types::Hash32;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{BlobFuture, BlobStore, key};
use crate::StorageError;

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
}

fn blobs_error(e: object_store::Error) -> StorageError {
    StorageError::Blobs(Arc::new(e))
}

impl S3Blobs {
    /// A bucket, with keys under `cfg.prefix`. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or the
    /// instance's role; [`BlobStore::check`] tells whether they are accepted.
    pub fn new(cfg: &S3Config) -> Result<S3Blobs, StorageError> {
        S3Blobs::with_credentials(AmazonS3Builder::from_env(), cfg)
    }

    /// A bucket, with the credentials `b` holds.
    fn with_credentials(b: AmazonS3Builder, cfg: &S3Config) -> Result<S3Blobs, StorageError> {
        // reqwest is built with rustls but no crypto provider of its own: use ring, as the
        // rest of the process does. Installing twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = b
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
        Ok(S3Blobs { store })
    }
}

fn location(hash: &Hash32) -> ObjectPath {
    ObjectPath::from(key(hash))
}

impl BlobStore for S3Blobs {
    fn put(&self, hash: Hash32, ciphertext: Vec<u8>) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.store
                .put(&location(&hash), ciphertext.into())
                .await
                .map_err(blobs_error)?;
            Ok(())
        })
    }

    fn get(&self, hash: Hash32) -> BlobFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            match self.store.get(&location(&hash)).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())).map_err(blobs_error),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(blobs_error(e)),
            }
        })
    }

    fn delete(&self, hash: Hash32) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            match self.store.delete(&location(&hash)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(blobs_error(e)),
            }
        })
    }

    fn check(&self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            match self.store.head(&ObjectPath::from("medledger-probe")).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(StorageError::BlobsUnusable(Arc::new(e))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;
    use s3s::auth::SimpleAuth;
    use s3s::service::S3ServiceBuilder;

    use super::*;
    use crate::blobs::conformance;

    const ACCESS_KEY: &str = "medledger-test-access";
    const SECRET_KEY: &str = "medledger-test-secret-0123456789";

    /// An S3 server (s3s-fs: SigV4, objects as files under `root`) on a loopback port,
    /// with bucket `records`; returns its endpoint.
    async fn serve(root: &std::path::Path) -> String {
        std::fs::create_dir_all(root.join("records")).unwrap();
        let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        endpoint
    }

    fn blobs(endpoint: &str, secret: &str) -> S3Blobs {
        let cfg = S3Config {
            bucket: "records".into(),
            prefix: "node0/blobs".into(),
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            allow_http: true,
        };
        let credentials = AmazonS3Builder::new()
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(secret);
        S3Blobs::with_credentials(credentials, &cfg).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = serve(dir.path()).await;
        conformance::suite(&blobs(&endpoint, SECRET_KEY)).await;
        // Keys live under the prefix, as `hh/<hex>`.
        let body = b"under the prefix".to_vec();
        let h = Hash32::digest(&[&body]);
        blobs(&endpoint, SECRET_KEY).put(h, body).await.unwrap();
        let hex = h.to_hex();
        assert!(
            dir.path()
                .join("records/node0/blobs")
                .join(&hex[..2])
                .join(&hex)
                .is_file()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_secret_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = serve(dir.path()).await;
        let refused = blobs(&endpoint, "a wrong secret").check().await.unwrap_err();
        assert!(matches!(refused, StorageError::BlobsUnusable(_)), "{refused:?}");
    }
}
