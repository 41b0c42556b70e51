//! `chainference cancel REQUEST`: withdraws an open request; stake and rent come back.

use super::{own_request, print_json, Global, Output, OwnRequest};
use anyhow::{bail, Result};
use chainference::state::RequestState;
use chainference_client::instructions::cancel_request;
use serde_json::json;
use solana_signer::Signer;

/// Cancels `request`.
pub async fn run(global: &Global, request: &str) -> Result<()> {
    let OwnRequest {
        address,
        wallet,
        chain,
        account,
    } = own_request(global, request, "it was closed").await?;
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
