//! A small HTTP client for a node's API.

use anyhow::{Context, Result, bail};
use medledger_types::codec::Encode;
use medledger_types::{ChainId, Nonce, PublicKey, SignedTx};
use serde_json::Value;

/// `--node URL`: which node's API a command talks to.
#[derive(clap::Args, Clone)]
pub struct NodeArg {
    /// The node's API address.
    #[arg(long = "node", default_value = "http://127.0.0.1:8080", env = "MEDLEDGER_NODE")]
    pub url: String,
}

impl NodeArg {
    pub fn client(&self) -> Result<Client> {
        Client::new(&self.url)
    }
}

pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Result<Client> {
        let base = base.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--node must be an http:// URL, got {base}"
        );
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Client { base, http })
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
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .with_context(|| format!("GET {}", self.url(path)))?;
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

    /// The signer's next nonce as committed on the node.
    pub async fn next_nonce(&self, signer: &PublicKey) -> Result<Nonce> {
        let key = hex::encode(medledger_ledger::keys::nonce(signer));
        let v = self.get(&format!("/v1/state/{key}")).await?;
        match v["value"].as_str() {
            None => Ok(Nonce(0)),
            Some(h) => {
                let raw = hex::decode(h)?;
                let bytes: [u8; 8] = raw.as_slice().try_into().context("nonce value is not 8 bytes")?;
                Ok(Nonce(u64::from_le_bytes(bytes)))
            }
        }
    }
}
