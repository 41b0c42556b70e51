//! The provider's server account: registered, or updated when the configured models, prices
//! or limits changed, and given a response tree if it has none (its rent is said first: it is
//! never recoverable); while idle, kept marked present by a periodic unchanged update.

use crate::config::Settings;
use anchor_lang::prelude::Pubkey;
use chainference::compression::tree_account_len;
use chainference::pda::server_address;
use chainference::state::{Server, ServerParams};
use chainference_client::instructions::{create_tree, register_server, update_server};
use chainference_client::rpc::{Chain, ChainError};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

/// Buffer size of the trees the provider creates.
pub const TREE_BUFFER: u32 = 64;

/// Seconds without a lock, completion or update after which an idle provider refreshes its
/// server's `last_active` (one `update_server` transaction), so that sites and clients see it
/// is still there: at most three signatures an hour.
pub const HEARTBEAT_SECS: i64 = 1_200;

/// Registers or updates `operator`'s server to match `settings`, creates its tree if needed,
/// and returns the tree its answers go to.
pub async fn prepare(
    chain: &Chain,
    operator: &Keypair,
    settings: &Settings,
) -> Result<Pubkey, ChainError> {
    let params = params_of(settings);
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

/// The server account's parameters for `settings`.
fn params_of(settings: &Settings) -> ServerParams {
    ServerParams {
        models: settings.models.iter().map(|model| model.offer()).collect(),
        endpoint: settings.endpoint.clone(),
        max_concurrent: settings.max_concurrent,
    }
}

/// Seconds until a server last active at `last_active` is due a heartbeat at chain time
/// `now` (0: due now); a clock behind the account's time waits a whole interval.
fn until_heartbeat(last_active: i64, now: i64) -> i64 {
    let idle = now.saturating_sub(last_active).max(0);
    HEARTBEAT_SECS.saturating_sub(idle).max(0)
}

/// Keeps `operator`'s server marked present: whenever [`HEARTBEAT_SECS`] pass with no lock,
/// completion or update, sends an unchanged `update_server`. Between checks it sleeps until
/// the next one can be due (a lock or completion meanwhile only moves that later), and at
/// least a minute; a failed check or send is retried a minute later. Runs until dropped.
pub async fn heartbeat(chain: Chain, operator: Arc<Keypair>, settings: Settings) {
    let address = server_address(&operator.pubkey());
    // The first check a minute after start: a restarted provider may have been away long.
    let mut wait: i64 = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(wait.max(60).unsigned_abs())).await;
        let due = async {
            let server: Option<Server> = chain.account(&address, "Server").await?;
            let now = chain.now().await?;
            Ok::<_, ChainError>(server.map(|server| until_heartbeat(server.last_active, now)))
        };
        wait = match due.await {
            Ok(Some(0)) => {
                let update = update_server(&operator.pubkey(), params_of(&settings));
                match chain.send(&[update], &operator, &[]).await {
                    Ok(_) => {
                        tracing::debug!(server = %address, "heartbeat");
                        HEARTBEAT_SECS
                    }
                    Err(error) => {
                        tracing::warn!(%error, "heartbeat not sent; retrying");
                        0
                    }
                }
            }
            Ok(Some(left)) => left,
            Ok(None) => HEARTBEAT_SECS,
            Err(error) => {
                tracing::warn!(%error, "heartbeat check failed; retrying");
                0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_server_beats_within_the_sites_recent_window() {
        assert_eq!(until_heartbeat(1_000, 1_000 + HEARTBEAT_SECS - 1), 1);
        assert_eq!(until_heartbeat(1_000, 1_000 + HEARTBEAT_SECS), 0);
        assert_eq!(until_heartbeat(1_000, 1_000 + 10 * HEARTBEAT_SECS), 0);
        // A clock behind the account's time is not a reason to send.
        assert_eq!(until_heartbeat(1_000, 0), HEARTBEAT_SECS);
    }
}
