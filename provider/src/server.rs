//! The provider's server account: registered, or updated when the configured models, prices
//! or limits changed, and given a response tree if it has none (its rent is said first: it is
//! never recoverable).

use crate::config::Settings;
use anchor_lang::prelude::Pubkey;
use chainference::compression::tree_account_len;
use chainference::pda::server_address;
use chainference::state::{Server, ServerParams};
use chainference_client::instructions::{create_tree, register_server, update_server};
use chainference_client::rpc::{Chain, ChainError};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// Buffer size of the trees the provider creates.
pub const TREE_BUFFER: u32 = 64;

/// Registers or updates `operator`'s server to match `settings`, creates its tree if needed,
/// and returns the tree its answers go to.
pub async fn prepare(
    chain: &Chain,
    operator: &Keypair,
    settings: &Settings,
) -> Result<Pubkey, ChainError> {
    let params = ServerParams {
        models: settings.models.iter().map(|model| model.offer()).collect(),
        endpoint: settings.endpoint.clone(),
        max_concurrent: settings.max_concurrent,
    };
    let address = server_address(&operator.pubkey());
    let existing: Option<Server> = chain.account(&address, "Server").await?;
    match &existing {
        None => {
            chain
                .send(
                    &[register_server(&operator.pubkey(), params)],
                    operator,
                    &[],
                )
                .await?;
            tracing::info!(server = %address, "server registered");
        }
        Some(server)
            if server.models != params.models
                || server.endpoint != params.endpoint
                || server.max_concurrent != params.max_concurrent =>
        {
            chain
                .send(&[update_server(&operator.pubkey(), params)], operator, &[])
                .await?;
            tracing::info!(server = %address, "server updated to the configured models and prices");
        }
        Some(_) => {}
    }
    if let Some(tree) = existing.as_ref().and_then(|server| server.trees.first()) {
        return Ok(*tree);
    }
    let tree = Keypair::new();
    let space = tree_account_len(settings.tree_depth, TREE_BUFFER);
    let rent = chain
        .call(|rpc| async move { rpc.get_minimum_balance_for_rent_exemption(space).await })
        .await?;
    tracing::info!(
        depth = settings.tree_depth,
        rent_sol = rent as f64 / 1e9,
        "creating the response tree; its rent is never recoverable"
    );
    let instructions = create_tree(
        &operator.pubkey(),
        &tree.pubkey(),
        settings.tree_depth,
        TREE_BUFFER,
        rent,
    );
    chain.send(&instructions, operator, &[&tree]).await?;
    Ok(tree.pubkey())
}
