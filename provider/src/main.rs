//! `chainference-provider run --config provider.toml`: the provider daemon.

use anyhow::{Context, Result};
use chainference_client::rpc::Chain;
use chainference_provider::config::{ConfigFile, EngineKind};
use chainference_provider::engine::replay::ReplayEngine;
use chainference_provider::engine::Engine;
use chainference_provider::Provider;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Chainference provider: serves inference requests from the chain and gets paid per token.
#[derive(Parser)]
#[command(name = "chainference-provider", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register (or update) the server, then serve requests until stopped.
    Run {
        /// The provider's config file.
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
        /// Pin the weights loaded now in offers that pin other weights on chain (otherwise
        /// the provider refuses to start with them).
        #[arg(long)]
        update_weights: bool,
    },
}

fn main() {
    if let Err(error) = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run()))
    {
        // One line that names the problem and the fix.
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    // A daemon's log: what it locks, answers and is paid (RUST_LOG overrides).
    chainference_client::logging::init("info");
    let Command::Run {
        config,
        update_weights,
    } = Cli::parse().command;
    let mut config = ConfigFile::read(&config)?;
    config.settings.update_weights |= update_weights;
    let operator = chainference_client::wallet::read_keypair(&config.keypair)?;
    // A daemon waits for its node however long it is down.
    let chain =
        Chain::connect_with_patience(&config.rpc_url, &config.ws_url, Duration::MAX).await?;
    let engine: Arc<dyn Engine> = match config.engine {
        EngineKind::Replay => {
            let replay = config
                .replay
                .as_ref()
                .context("engine = \"replay\" needs [replay]")?;
            let corpus = std::fs::read_to_string(&replay.corpus).with_context(|| {
                format!("cannot read the replay corpus {}", replay.corpus.display())
            })?;
            Arc::new(ReplayEngine::new(&corpus, replay.tokens_per_second))
        }
        EngineKind::Mistralrs => mistral(&config).await?,
    };
    let provider = Provider::start(chain, operator, config.settings, engine).await?;
    provider.run().await;
    Ok(())
}

#[cfg(feature = "mistralrs")]
async fn mistral(config: &ConfigFile) -> Result<Arc<dyn Engine>> {
    use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
    let models: Vec<MistralModel> = config
        .settings
        .models
        .iter()
        .filter_map(|model| {
            Some(MistralModel {
                id: model.id.clone(),
                path: model.path.clone()?,
            })
        })
        .collect();
    tracing::info!(count = models.len(), "loading models");
    let engine = MistralEngine::load(&models, usize::from(config.settings.max_concurrent)).await?;
    Ok(Arc::new(engine))
}

#[cfg(not(feature = "mistralrs"))]
async fn mistral(_config: &ConfigFile) -> Result<Arc<dyn Engine>> {
    anyhow::bail!("this build has no mistral.rs: rebuild with `--features mistralrs` (or cuda/metal), or set engine = \"replay\"")
}
