//! `chainference flag REQUEST`: marks a completed answer as bad, once, inside its flag window;
//! the server's success ratio drops. No refund comes with it (design §6).

use super::{print_json, request_address, Global, Output};
use anyhow::{bail, Result};
use chainference::state::{Request, RequestState};
use chainference_client::instructions::flag_response;
use serde_json::json;
use solana_signer::Signer;

/// Flags `request`'s answer.
pub async fn run(global: &Global, request: &str) -> Result<()> {
    let address = request_address(request)?;
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let account: Option<Request> = chain.account(&address, "Request").await?;
    let Some(account) = account else {
        bail!("request {address} does not exist (any more): its flag window has passed and it was closed, or it is on another cluster");
    };
    if account.client != wallet.pubkey() {
        bail!(
            "request {address} belongs to {}, not to this wallet: pass its -k/--keypair",
            account.client
        );
    }
    if account.state != RequestState::Completed {
        bail!("request {address} is not answered yet: flag it once it is completed");
    }
    if account.flagged {
        bail!("request {address} is already flagged: each answer is flagged once");
    }
    let signature = chain
        .send(&[flag_response(&address, &account)], &wallet, &[])
        .await?;
    if global.output == Output::Json {
        print_json(&json!({
            "request": address.to_string(),
            "flagged": true,
            "server": account.lock.operator.to_string(),
            "signature": signature.to_string(),
        }));
    } else {
        println!(
            "Flagged {address}: server {}'s success ratio counts it against it.",
            account.lock.operator
        );
    }
    Ok(())
}
