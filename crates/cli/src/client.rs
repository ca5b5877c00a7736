//! A small HTTP client for a node's API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use medledger_types::codec::Encode;
use medledger_types::{ChainId, Nonce, PublicKey, SignedTx};
use serde_json::Value;

/// `--node URL`: which node's API a command talks to, and how.
#[derive(clap::Args, Clone)]
pub struct NodeArg {
    /// The node's API address.
    #[arg(long = "node", default_value = "http://127.0.0.1:8080", env = "MEDLEDGER_NODE")]
    pub url: String,
    /// For an https:// node: the consortium's CA certificate to trust (`medledger init`
    /// writes it to <network>/ca/ca.pem).
    #[arg(long = "ca", env = "MEDLEDGER_CA")]
    pub ca: Option<PathBuf>,
    /// A bearer token (`medledger token`) for the routes that show the ledger's contents
    /// to members only (`tx show`, blocks, state).
    #[arg(long = "token", env = "MEDLEDGER_TOKEN")]
    pub token: Option<String>,
}

impl NodeArg {
    pub fn client(&self) -> Result<Client> {
        Client::new(&self.url, self.ca.as_deref(), self.token.clone())
    }
}

/// An HTTP client for `url`: plain for http://, trusting only the consortium's CA for
/// https:// (there are no built-in roots: a node's certificate comes from its consortium).
pub fn http_client(url: &str, ca: Option<&Path>, timeout: Duration) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(1024);
    if url.starts_with("https://") {
        let ca = ca.context(
            "an https:// node needs --ca (or MEDLEDGER_CA): the consortium's CA certificate, e.g. <network>/ca/ca.pem",
        )?;
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        let config = medledger_node::tls::ca_client_config(&pem).with_context(|| format!("{}", ca.display()))?;
        b = b.use_preconfigured_tls(config);
    }
    Ok(b.build()?)
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    pub fn new(base: &str, ca: Option<&Path>, token: Option<String>) -> Result<Client> {
        let base = base.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--node must be an http:// or https:// URL, got {base}"
        );
        let http = http_client(&base, ca, Duration::from_secs(120))?;
        Ok(Client { base, http, token })
    }

    /// The HTTP client, for requests this type has no helper for.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn answer(resp: reqwest::Response) -> Result<Value> {
        let status = resp.status();
        let body: Value = resp.json().await.context("the node's answer is not JSON")?;
        if !status.is_success() {
            let reason = body["error"]["reason"].as_str().unwrap_or("error");
            let message = body["error"]["message"].as_str().unwrap_or("");
            bail!("{status}: {reason}: {message}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("GET {}", self.url(path)))?;
        Self::answer(resp).await
    }

    pub async fn submit(&self, tx: &SignedTx, wait: bool) -> Result<Value> {
        let resp = self
            .http
            .post(self.url(&format!("/v1/tx?wait={wait}")))
            .header("content-type", "application/octet-stream")
            .body(tx.encode())
            .send()
            .await
            .with_context(|| format!("POST {}", self.url("/v1/tx")))?;
        Self::answer(resp).await
    }

    pub async fn chain_id(&self) -> Result<ChainId> {
        let status = self.get("/v1/status").await?;
        let id = status["chain_id"].as_str().context("status has no chain_id")?;
        Ok(ChainId::new(id)?)
    }

    /// The signer's next nonce on the node (counting its transactions waiting there).
    pub async fn next_nonce(&self, signer: &PublicKey) -> Result<Nonce> {
        let v = self.get(&format!("/v1/nonce/{signer}")).await?;
        v["next_nonce"]
            .as_u64()
            .map(Nonce)
            .context("the node's answer has no next_nonce")
    }

    /// The node's token endpoint, from its SMART configuration.
    pub async fn token_endpoint(&self) -> Result<String> {
        let v = self.get("/.well-known/smart-configuration").await?;
        v["token_endpoint"]
            .as_str()
            .map(str::to_string)
            .context("the node's SMART configuration names no token_endpoint")
    }
}
