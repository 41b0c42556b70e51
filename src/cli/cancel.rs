//! `chainference cancel REQUEST`: withdraws an open request; stake and rent come back.

use super::{print_json, request_address, Global, Output};
use anyhow::{bail, Result};
use chainference::state::{Request, RequestState};
use chainference_client::instructions::cancel_request;
use serde_json::json;
use solana_signer::Signer;

/// Cancels `request`.
pub async fn run(global: &Global, request: &str) -> Result<()> {
    let address = request_address(request)?;
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let account: Option<Request> = chain.account(&address, "Request").await?;
    let Some(account) = account else {
        bail!(
            "request {address} does not exist (any more): it was closed, or is on another cluster"
        );
    };
    if account.client != wallet.pubkey() {
        bail!(
            "request {address} belongs to {}, not to this wallet: pass its -k/--keypair",
            account.client
        );
    }
    if account.state != RequestState::Open {
        bail!(
            "request {address} is already locked by {}: it can no longer be cancelled",
            account.lock.operator
        );
    }
    let signature = chain
        .send(&[cancel_request(&wallet.pubkey(), &address)], &wallet, &[])
        .await?;
    if global.output == Output::Json {
        print_json(
            &json!({"request": address.to_string(), "cancelled": true, "signature": signature.to_string()}),
        );
    } else {
        println!("Cancelled {address}; its stake and rent are back.");
    }
    Ok(())
}
