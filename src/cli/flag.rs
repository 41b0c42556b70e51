//! `chainference flag REQUEST`: marks a completed answer as bad, once, inside its flag window;
//! the server's success ratio drops. No refund comes with it (design §6).

use super::{own_request, print_json, Global, Output, OwnRequest};
use anyhow::{bail, Result};
use chainference::state::RequestState;
use chainference_client::instructions::flag_response;
use serde_json::json;

/// Flags `request`'s answer.
pub async fn run(global: &Global, request: &str) -> Result<()> {
    let OwnRequest {
        address,
        wallet,
        chain,
        account,
    } = own_request(
        global,
        request,
        "its flag window has passed and it was closed",
    )
    .await?;
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
