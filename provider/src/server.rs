//! The provider's server account: registered, or updated when the configured models, prices
//! or limits changed, and given a response tree if it has none (its rent is said first: it is
//! never recoverable); while idle, kept marked present by a periodic unchanged update. Each
//! offer pins the digest of the weights the engine loaded; an offer never moves to other
//! weights unless the operator asks (`--update-weights`).

use crate::config::Settings;
use crate::engine::Engine;
use anchor_lang::prelude::Pubkey;
use chainference::compression::tree_account_len;
use chainference::pda::server_address;
use chainference::state::{ModelOffer, Server, ServerParams};
use chainference_client::instructions::{create_tree, register_server, update_server};
use chainference_client::rpc::{Chain, ChainError};
use chainference_client::weights::digest_hex;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

/// Buffer size of the trees the provider creates.
pub const TREE_BUFFER: u32 = 64;

/// Seconds without a lock, completion or update after which an idle provider refreshes its
/// server's `last_active` (one `update_server` transaction), so that sites and clients see it
/// is still there: at most three signatures an hour.
pub const HEARTBEAT_SECS: i64 = 1_200;

/// Why the server account could not be made to match the settings.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The engine loaded weights other than those the model's offer pins on chain.
    #[error("the weights loaded for {model} (sha256 {loaded}) are not the ones its offer pins on chain (sha256 {pinned}): load the pinned file, or restart with --update-weights to pin the loaded one (clients and auditors see the change)")]
    WeightsChanged {
        /// The model's id.
        model: String,
        /// The digest on chain.
        pinned: String,
        /// The digest of what was loaded.
        loaded: String,
    },
}

/// Registers or updates `operator`'s server to match `settings`, its offers pinning the weights
/// `engine` loaded, creates its tree if needed, and returns the tree its answers go to.
pub async fn prepare(
    chain: &Chain,
    operator: &Keypair,
    settings: &Settings,
    engine: &dyn Engine,
) -> Result<Pubkey, PrepareError> {
    let params = params_of(settings, engine);
    let address = server_address(&operator.pubkey());
    let existing: Option<Server> = chain.account(&address, "Server").await?;
    if let Some(server) = &existing {
        if !settings.update_weights {
            if let Some((pinned, loaded)) = repinned(&server.models, &params.models) {
                return Err(PrepareError::WeightsChanged {
                    model: loaded.id.clone(),
                    pinned: digest_hex(&pinned.weights_sha256),
                    loaded: digest_hex(&loaded.weights_sha256),
                });
            }
        }
    }
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

/// The first offer of `offers` that pins other weights than the same model's offer in
/// `registered` does (one that pinned none may pin any), with that registered offer.
fn repinned<'a>(
    registered: &'a [ModelOffer],
    offers: &'a [ModelOffer],
) -> Option<(&'a ModelOffer, &'a ModelOffer)> {
    offers.iter().find_map(|offer| {
        registered
            .iter()
            .find(|pinned| {
                pinned.id == offer.id
                    && pinned.weights_sha256 != [0; 32]
                    && pinned.weights_sha256 != offer.weights_sha256
            })
            .map(|pinned| (pinned, offer))
    })
}

/// The server account's parameters for `settings`, each offer pinning what `engine` loaded.
pub fn params_of(settings: &Settings, engine: &dyn Engine) -> ServerParams {
    ServerParams {
        models: settings
            .models
            .iter()
            .map(|model| model.offer(engine.weights(&model.id).unwrap_or([0; 32])))
            .collect(),
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
pub async fn heartbeat(chain: Chain, operator: Arc<Keypair>, params: ServerParams) {
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
                let update = update_server(&operator.pubkey(), params.clone());
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

    fn offer(id: &str, weights_sha256: [u8; 32]) -> ModelOffer {
        ModelOffer {
            id: id.into(),
            revision: "main".into(),
            quantization: "Q4_1".into(),
            weights_sha256,
            context_length: 2_048,
            input_price: 1,
            output_price: 1,
            min_stake: 0,
        }
    }

    #[test]
    fn an_offer_moving_to_other_weights_is_found_and_a_new_or_unpinned_one_is_not() {
        let registered = [offer("a", [1; 32]), offer("b", [0; 32])];
        let same = [
            offer("a", [1; 32]),
            offer("b", [5; 32]),
            offer("c", [6; 32]),
        ];
        assert!(repinned(&registered, &same).is_none());
        let moved = [offer("b", [5; 32]), offer("a", [2; 32])];
        let (pinned, loaded) = repinned(&registered, &moved).expect("a moved");
        assert_eq!(
            (pinned.weights_sha256, loaded.weights_sha256),
            ([1; 32], [2; 32])
        );
    }

    #[test]
    fn an_idle_server_beats_within_the_sites_recent_window() {
        assert_eq!(until_heartbeat(1_000, 1_000 + HEARTBEAT_SECS - 1), 1);
        assert_eq!(until_heartbeat(1_000, 1_000 + HEARTBEAT_SECS), 0);
        assert_eq!(until_heartbeat(1_000, 1_000 + 10 * HEARTBEAT_SECS), 0);
        // A clock behind the account's time is not a reason to send.
        assert_eq!(until_heartbeat(1_000, 0), HEARTBEAT_SECS);
    }
}
