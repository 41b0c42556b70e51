//! `chainference close [REQUEST…]`: closes this wallet's answered requests whose flag window
//! has passed. Each leaves a receipt, a Light compressed account that costs no rent, and its
//! rent comes back less Light's fee (300 lamports into a v1 tree).

use super::{print_json, request_address, sol, Global, Output};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Result};
use chainference::state::{Request, RequestState};
use chainference_client::accounts::request_addresses;
use chainference_client::instructions::close_request;
use chainference_client::ledger::read_transaction;
use chainference_client::receipt::V1_STATE_TREES;
use chainference_client::rpc::Chain;
use clap::Args;
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::str::FromStr;

/// `close`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct CloseArgs {
    /// The requests to close (every closable one of this wallet if none is given).
    pub requests: Vec<String>,
    /// The Light state tree the receipts go into (Light's first public v1 tree by default).
    #[arg(long = "state-tree", value_name = "ADDRESS")]
    pub state_tree: Option<String>,
}

/// One request closed.
struct Closed {
    address: Pubkey,
    rent: u64,
    signature: String,
    leaf: Option<u32>,
    tree: Pubkey,
}

/// Closes the requests.
pub async fn run(global: &Global, args: &CloseArgs) -> Result<()> {
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let state_tree = match &args.state_tree {
        Some(text) => Pubkey::from_str(text).map_err(|_| {
            anyhow!("{text} is not an address: pass a Light state tree's address to --state-tree")
        })?,
        None => V1_STATE_TREES[0],
    };
    let named = !args.requests.is_empty();
    let addresses = if named {
        args.requests
            .iter()
            .map(|text| request_address(text))
            .collect::<Result<Vec<_>>>()?
    } else {
        request_addresses(&chain, &wallet.pubkey()).await?
    };
    let now = chain.now().await?;
    let mut closed = Vec::new();
    let mut waiting = 0;
    for address in addresses {
        let account: Option<Request> = chain.account(&address, "Request").await?;
        let verdict = match &account {
            None => Err(format!("request {address} does not exist (any more): it was closed, cancelled or expired, or it is on another cluster")),
            Some(account) if account.state != RequestState::Completed => Err(format!("request {address} is not answered yet: only completed requests close")),
            Some(account) if now <= account.flag_deadline()? => {
                waiting += 1;
                Err(format!("request {address}'s flag window is open until unix time {}: close it after that", account.flag_deadline()?))
            }
            Some(account) => Ok(account),
        };
        match verdict {
            Ok(account) => {
                closed.push(close(&chain, &wallet, &address, account, &state_tree).await?)
            }
            Err(reason) if named => bail!(reason),
            Err(_) => {}
        }
    }
    if global.output == Output::Json {
        print_json(&json!(closed
            .iter()
            .map(|closed| json!({
                "request": closed.address.to_string(),
                "signature": closed.signature,
                "rent_lamports": closed.rent,
                "state_tree": closed.tree.to_string(),
                "leaf_index": closed.leaf,
            }))
            .collect::<Vec<_>>()));
        return Ok(());
    }
    for closed in &closed {
        let leaf = closed.leaf.map_or_else(
            || "its leaf is not in the tree's change log yet".into(),
            |leaf| format!("leaf {leaf} of Light tree {}", closed.tree),
        );
        println!(
            "Closed {}: {} rent back less Light's fee; receipt written, {leaf}.",
            closed.address,
            sol(closed.rent)
        );
    }
    if closed.is_empty() {
        println!("Nothing to close: no answered request of this wallet is past its flag window.");
    }
    if waiting > 0 {
        println!("{waiting} answered request(s) are still inside their flag window.");
    }
    Ok(())
}

/// Closes one request and reads its receipt back from the closing transaction.
async fn close(
    chain: &Chain,
    wallet: &Keypair,
    address: &Pubkey,
    account: &Request,
    state_tree: &Pubkey,
) -> Result<Closed> {
    let instruction = close_request(&wallet.pubkey(), address, &account.client, state_tree);
    let signature = chain.send(&[instruction], wallet, &[]).await?;
    let recorded = read_transaction(chain, &signature, address, CommitmentConfig::confirmed())
        .await?
        .ok_or_else(|| anyhow!("the closing transaction {signature} is not readable yet: run `chainference history` to see its receipt"))?;
    let written = recorded
        .receipt
        .ok_or_else(|| anyhow!("the closing transaction {signature} wrote no receipt"))?;
    let leaf = chain
        .check_receipt(&written)
        .await?
        .ok()
        .map(|leaf| leaf.leaf_index);
    Ok(Closed {
        address: *address,
        rent: account.rent,
        signature: signature.to_string(),
        leaf,
        tree: written.tree,
    })
}
