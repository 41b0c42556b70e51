//! `chainference show REQUEST`: one request, its state, prompt and answer.

use super::ask::{follow_and_print, Printer};
use super::{print_json, request_address, sol, Global, Output};
use anyhow::Result;
use chainference::state::{Request, RequestState};
use chainference_client::history::{read_request, PastRequest};
use serde_json::json;

/// Where a past request stands, in words; a closed one as its receipt says.
pub fn state_of(past: &PastRequest) -> String {
    match (&past.account, &past.receipt) {
        (None, Some((written, verdict))) => {
            let checked = match verdict {
                Ok(leaf) => format!(
                    "receipt checked: leaf {} of Light tree {}",
                    leaf.leaf_index, leaf.tree
                ),
                Err(error) => format!("receipt FAILS: {error}"),
            };
            format!(
                "closed, billed {} for {} answer tokens, {checked}",
                sol(written.receipt.bill),
                written.receipt.answer_tokens
            )
        }
        _ => state_name(past.account.as_ref(), past.cursor.finished),
    }
}

/// A past request's receipt as JSON (`null` while it is not closed).
fn receipt_json(past: &PastRequest) -> serde_json::Value {
    let Some((written, verdict)) = &past.receipt else {
        return serde_json::Value::Null;
    };
    let receipt = &written.receipt;
    json!({
        "state_tree": written.tree.to_string(),
        "checked": verdict.is_ok(),
        "leaf_index": verdict.as_ref().ok().map(|leaf| leaf.leaf_index),
        "error": verdict.as_ref().err().map(ToString::to_string),
        "server": receipt.server.to_string(),
        "prompt_tokens": receipt.prompt_tokens,
        "answer_tokens": receipt.answer_tokens,
        "bill_lamports": receipt.bill,
        "fee_lamports": receipt.fee,
        "leaves": receipt.leaves,
        "completed_at": receipt.completed_at,
        "flagged": receipt.flagged,
        "compared": receipt.compared,
    })
}

/// Where a request stands, in words: from its account while it exists; once it is gone,
/// closed if its answer was `finished`, else expired or cancelled.
pub fn state_name(account: Option<&Request>, finished: bool) -> String {
    match account {
        None if finished => "closed".into(),
        None => "expired or cancelled".into(),
        Some(account) => match account.state {
            RequestState::Open => "open".into(),
            RequestState::Locked => "locked".into(),
            RequestState::Ready => "answering".into(),
            RequestState::Completed => {
                format!("completed, billed {}", sol(account.settlement.bill))
            }
        },
    }
}

/// A past request as JSON.
pub fn past_json(past: &PastRequest) -> serde_json::Value {
    json!({
        "request": past.address.to_string(),
        "model": past.terms.model,
        "state": state_of(past),
        "stake_lamports": past.stake,
        "bill_lamports": past
            .account
            .as_ref()
            .map(|account| account.settlement.bill)
            .or(past.receipt.as_ref().map(|(written, _)| written.receipt.bill)),
        "server": past.account.as_ref().map(|account| account.lock.operator.to_string()),
        "prompt": past.prompt.as_ref().map(|prompt| &prompt.messages),
        "answer": past.answer,
        "answer_saved_here": !past.not_saved_here,
        "answer_tokens": past.cursor.tokens,
        "finish": past.finish.map(|reason| format!("{reason:?}").to_lowercase()),
        "receipt": receipt_json(past),
    })
}

/// The answer as shown: a direct answer not saved in the answers directory says where it is.
pub fn answer_text(past: &PastRequest) -> String {
    if past.not_saved_here {
        "(a direct answer: its chunks are with the client that received it, not in --answers-dir)"
            .into()
    } else {
        past.answer.clone()
    }
}

/// Shows `request`; with `follow`, its answer whole from the start and then live until it is
/// settled.
pub async fn run(global: &Global, request: &str, follow: bool) -> Result<()> {
    let address = request_address(request)?;
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    if follow {
        let mut stdout = std::io::stdout();
        let printer = Printer::new(global.output, &mut stdout);
        return follow_and_print(&chain, &wallet, &address, &global.answers_dir(), printer).await;
    }
    let past = read_request(&chain, &wallet, &address, Some(&global.answers_dir())).await?;
    if global.output == Output::Json {
        print_json(&past_json(&past));
        return Ok(());
    }
    println!(
        "Request {address}: {} ({})",
        past.terms.model,
        state_of(&past)
    );
    println!(
        "Stake {}; {} answer tokens",
        sol(past.stake),
        past.cursor.tokens
    );
    if let Some(prompt) = &past.prompt {
        for message in &prompt.messages {
            println!("[{}] {}", message.role, message.content);
        }
    }
    println!("[answer] {}", answer_text(&past));
    Ok(())
}
