//! `token`: exchange a member's key for a FHIR access token (SMART Backend Services-style).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use medledger_crypto::jws;
use medledger_node::home::read_key;
use serde_json::json;

use crate::client::NodeArg;
use crate::run::runtime;

#[derive(Args)]
pub struct TokenArgs {
    /// The member's key file.
    #[arg(long)]
    key: PathBuf,
    /// The member's client id, `<org>/<member>`.
    #[arg(long)]
    client_id: String,
    /// SMART scopes to ask for (space-separated).
    #[arg(long, default_value = "system/*.cruds")]
    scope: String,
    #[command(flatten)]
    node: NodeArg,
}

/// A signed client assertion for `aud` (the token URL), valid for four minutes.
pub fn client_assertion(key: &medledger_crypto::Keypair, client_id: &str, aud: &str) -> String {
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
    let exp = medledger_node::node::now_ms().0 / 1000 + 240;
    jws::sign_compact(
        &json!({"typ": "JWT", "kid": key.public().to_string()}),
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "jti": hex::encode(jti)}),
        key,
    )
}

pub fn run(args: TokenArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let key = read_key(&args.key)?;
        let client = args.node.client()?;
        let body = fetch_token(&client, &key, &args.client_id, &args.scope).await?;
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(())
    })
}

/// Exchanges a signed client assertion for an access token; returns the token response.
pub async fn fetch_token(
    client: &crate::client::Client,
    key: &medledger_crypto::Keypair,
    client_id: &str,
    scope: &str,
) -> Result<serde_json::Value> {
    // The assertion's audience is the node's own token URL, as it announces it.
    let aud = client.token_endpoint().await?;
    let assertion = client_assertion(key, client_id, &aud);
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("scope", scope),
    ])?;
    let resp = client
        .http()
        .post(client.url("/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .with_context(|| format!("POST {aud}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("the answer is not JSON")?;
    if !status.is_success() {
        bail!(
            "{status}: {}: {}",
            body["error"].as_str().unwrap_or("error"),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    Ok(body)
}
