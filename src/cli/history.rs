//! `chainference history`: every request this wallet made, prompt and answer decrypted from
//! chain data and the wallet alone.

use super::show::{answer_text, past_json, state_of};
use super::{print_json, Global, Output};
use anyhow::Result;
use chainference_client::accounts::request_addresses;
use chainference_client::history::read_request;
use serde_json::json;
use solana_signer::Signer;

/// Prints the wallet's history, newest first.
pub async fn run(global: &Global) -> Result<()> {
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let addresses = request_addresses(&chain, &wallet.pubkey()).await?;
    if addresses.is_empty() && global.output == Output::Display {
        println!("This wallet has made no requests on this cluster.");
        return Ok(());
    }
    let mut entries = Vec::new();
    for address in addresses.into_iter().rev() {
        let past = read_request(&chain, &wallet, &address, Some(&global.answers_dir())).await?;
        if global.output == Output::Json {
            entries.push(past_json(&past));
            continue;
        }
        let question = past
            .prompt
            .as_ref()
            .and_then(|prompt| prompt.messages.iter().rev().find(|m| m.role == "user"))
            .map_or("(no prompt sent)".to_string(), |message| {
                one_line(&message.content, 60)
            });
        println!(
            "{address}  {}  {}  {} tokens  Q: {question}  A: {}",
            past.terms.model,
            state_of(&past),
            past.cursor.tokens,
            one_line(&answer_text(&past), 60)
        );
    }
    if global.output == Output::Json {
        print_json(&json!(entries));
    }
    Ok(())
}

/// `text` on one line, cut to `limit` characters.
fn one_line(text: &str, limit: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
