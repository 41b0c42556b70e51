//! `chainference demo`: a local node, a provider running SmolLM2-135M-Instruct through
//! mistral.rs, and a client asking it one question, all in one process, with nothing to
//! configure. The answer streams to the terminal; cost and refund follow.

use crate::cli::ask::{ask_and_print, Printer};
use crate::cli::Output;
use crate::localnet::{quiet_stdout, LocalNode};
use crate::smollm2;
use anyhow::{Context, Result};
use chainference::state::ConfigParams;
use chainference_client::market::QuestionBuilder;
use chainference_client::rpc::Chain;
use chainference_provider::config::{ModelSettings, Settings};
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::Provider;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

/// The question asked when none is given.
pub const DEFAULT_PROMPT: &str = "Explain in three sentences what a Merkle tree is.";

/// Runs the demo.
pub async fn run(prompt: Option<String>, output: Output) -> Result<()> {
    let model_path = tokio::task::spawn_blocking(smollm2::model_path).await??;
    // The answer goes to the terminal's stdout alone; the node and the engine stay quiet.
    let mut terminal = quiet_stdout()?;
    eprintln!("Starting a local node…");
    let node = tokio::task::spawn_blocking(|| {
        agave_logger::setup_with_default("off");
        LocalNode::start_with(None, None, ConfigParams::with_fee(0))
    })
    .await??;
    let chain = Chain::connect(&node.rpc_url(), &node.pubsub_url()).await?;

    eprintln!("Loading {} into mistral.rs…", smollm2::MODEL_ID);
    let engine = MistralEngine::load(
        &[MistralModel {
            id: smollm2::MODEL_ID.into(),
            path: model_path,
        }],
        1,
    )
    .await?;
    let operator = Keypair::new();
    node.fund(&operator.pubkey(), 2_000_000_000)?;
    let settings = Settings {
        models: vec![ModelSettings {
            id: smollm2::MODEL_ID.into(),
            revision: "main".into(),
            quantization: "Q4_1".into(),
            path: None,
            context_length: 2_048,
            input_price: 100_000,
            output_price: 400_000,
            min_stake: 0,
        }],
        max_concurrent: 1,
        endpoint: String::new(),
        tree_depth: 14,
        scan_secs: 1,
        compute_unit_price: 0,
        listen: None,
        update_weights: false,
    };
    let provider = Provider::start(chain.clone(), operator, settings, Arc::new(engine))
        .await
        .context("starting the provider")?;
    eprintln!(
        "Provider {} serving {}.",
        provider.operator(),
        smollm2::MODEL_ID
    );
    let serving = tokio::spawn(provider.run());

    let wallet = Keypair::new();
    node.fund(&wallet.pubkey(), 1_000_000_000)?;
    let question = QuestionBuilder::new(
        smollm2::MODEL_ID,
        1_000_000,
        prompt.unwrap_or_else(|| DEFAULT_PROMPT.into()),
    )
    .with_system(Some("You are a helpful assistant.".into()))
    .with_max_tokens(200)
    .with_batch_wait_secs(1.0)
    // The demo's provider is new: it has no record yet.
    .with_accept_newcomers(true)
    .with_answers_dir(Some(std::env::temp_dir().join("chainference-demo-answers")))
    .build(&chain)
    .await?;
    let printer = Printer::new(output, &mut terminal);
    let result = ask_and_print(&chain, &wallet, &question, printer).await;
    serving.abort();
    // The validator's own runtimes must be dropped outside ours.
    tokio::task::spawn_blocking(move || drop(node)).await?;
    result
}
