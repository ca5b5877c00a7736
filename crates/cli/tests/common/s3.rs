//! A real S3-compatible server for tests: s3s-fs (the S3 protocol with SigV4
//! authentication, objects as files under a folder), on a loopback port.

use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "medledger-test-access";
pub const SECRET_KEY: &str = "medledger-test-secret-0123456789";

pub struct S3Server {
    pub endpoint: String,
    pub root: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Serves `root` (each sub-folder is a bucket) until dropped. Needs a Tokio runtime.
    pub async fn start(root: &Path, buckets: &[&str]) -> S3Server {
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server {
            endpoint,
            root: root.to_path_buf(),
            task,
        }
    }

    /// A `[fhir.s3]` section for a node's config.toml.
    pub fn config(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "\n[fhir.s3]\nbucket = {bucket:?}\nprefix = {prefix:?}\nendpoint = {:?}\nregion = \"us-east-1\"\nallow_http = true\n",
            self.endpoint
        )
    }

    /// Every object (file) under `bucket/prefix`.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root.join(bucket).join(prefix), &mut out);
        // s3s-fs keeps its own metadata and upload state in dot-files.
        out.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
