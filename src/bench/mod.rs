//! `chainference bench`: figures measured on the local node, each printed with the baseline
//! measured in the same run. `cost` is what an answer costs on chain, `stream` how fast it
//! reaches a client against mistral.rs alone, `concurrency` one provider serving many
//! requests against mistral.rs's own batching, `replay` whether re-scoring tells the pinned
//! weights from [substitutes].

pub mod concurrency;
pub mod cost;
pub mod replay;
pub mod stream;
pub mod substitutes;

use crate::cli::Output;
use crate::localnet::{quiet_stdout, LocalNode};
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use chainference::state::{Delivery, Filters, RequestTerms};
use chainference_client::ask::Question;
use chainference_client::envelope::{Compression, Message, PromptEnvelope, Sampling};
use chainference_client::market::time_limit_for;
use chainference_client::rpc::Chain;
use chainference_client::sampling::SeededSampler;
use chainference_provider::config::{ModelSettings, Settings};
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};
use chainference_provider::Provider;
use clap::Subcommand;
use serde::Serialize;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// The benchmarks.
#[derive(Subcommand, Clone, Debug)]
pub enum Bench {
    /// Lamports per answer token on chain: filled transactions, the curve against the
    /// latency bound, priority fees, the fixed part of a request, against rent.
    Cost(cost::CostArgs),
    /// Streaming with SmolLM2 on mistral.rs: first token to the client's screen and the
    /// client's tokens/s, against mistral.rs alone and the node's confirmation latency.
    Stream(stream::StreamArgs),
    /// One provider answering many requests at once with SmolLM2, against mistral.rs's own
    /// batched throughput.
    Concurrency(concurrency::ConcurrencyArgs),
    /// Re-scoring against the pinned weights: false alarms on honest answers, detection of
    /// substitutes served under the same pin, re-scoring time against generation's.
    Replay(replay::ReplayArgs),
}

/// Runs `bench`, printing its report to the terminal.
pub async fn run(bench: &Bench, output: Output) -> Result<()> {
    match bench {
        Bench::Cost(args) => cost::run(args, output).await,
        Bench::Stream(args) => stream::run(args, output).await,
        Bench::Concurrency(args) => concurrency::run(args, output).await,
        Bench::Replay(args) => replay::run(args, output).await,
    }
}

/// A local node and a connection to it; the terminal's stdout, kept apart from what the
/// hosted programs print.
pub struct Bed {
    /// The node.
    pub node: LocalNode,
    /// A client connection.
    pub chain: Chain,
    /// Where the report goes.
    pub terminal: File,
}

impl Bed {
    /// Starts a quiet local node.
    pub async fn start() -> Result<Self> {
        let terminal = quiet_stdout()?;
        eprintln!("Starting a local node…");
        let node = tokio::task::spawn_blocking(|| {
            agave_logger::setup_with_default("off");
            LocalNode::start(None)
        })
        .await??;
        let chain = Chain::connect(&node.rpc_url(), &node.pubsub_url()).await?;
        Ok(Self {
            node,
            chain,
            terminal,
        })
    }

    /// A new wallet holding `lamports`.
    pub fn wallet(&self, lamports: u64) -> Result<Keypair> {
        let wallet = Keypair::new();
        self.node.fund(&wallet.pubkey(), lamports)?;
        Ok(wallet)
    }

    /// Starts a provider with `settings` and `engine` in the background; its operator and
    /// its task.
    pub async fn serve(
        &self,
        settings: Settings,
        engine: Arc<dyn Engine>,
    ) -> Result<(Pubkey, tokio::task::JoinHandle<()>)> {
        let operator = self.wallet(5_000_000_000)?;
        let provider = Provider::start(self.chain.clone(), operator, settings, engine)
            .await
            .context("starting a provider")?;
        Ok((provider.operator(), tokio::spawn(provider.run())))
    }

    /// Prints `report` as JSON or through `display`, then stops the node.
    pub async fn finish<R: Serialize>(
        mut self,
        output: Output,
        report: &R,
        display: impl FnOnce(&mut File, &R) -> std::io::Result<()>,
    ) -> Result<()> {
        match output {
            Output::Json => writeln!(self.terminal, "{}", serde_json::to_string_pretty(report)?)?,
            Output::Display => display(&mut self.terminal, report)?,
        }
        // The validator's own runtimes must be dropped outside ours.
        let node = self.node;
        tokio::task::spawn_blocking(move || drop(node)).await?;
        Ok(())
    }
}

/// A provider's settings: `model` at fixed prices, `max_concurrent` at once, a tree of
/// `tree_depth`, a priority fee of `compute_unit_price`.
pub fn settings(
    model: &str,
    max_concurrent: u16,
    tree_depth: u32,
    compute_unit_price: u64,
) -> Settings {
    Settings {
        models: vec![ModelSettings {
            id: model.into(),
            revision: "main".into(),
            quantization: String::new(),
            path: None,
            context_length: 8_192,
            input_price: 100_000,
            output_price: 400_000,
            min_stake: 0,
        }],
        max_concurrent,
        endpoint: String::new(),
        tree_depth,
        scan_secs: 1,
        compute_unit_price,
        update_weights: false,
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
    }
}

/// A question to `operator` alone: `messages`, `tokens` long, with `latency_secs` between
/// batches at most (0: filled transactions).
pub fn question(
    model: &str,
    messages: Vec<Message>,
    tokens: u32,
    latency_secs: f64,
    operator: Pubkey,
) -> Question {
    Question {
        terms: RequestTerms {
            model: model.into(),
            max_output_tokens: tokens,
            max_input_price: 100_000,
            max_output_price: 400_000,
            prompt_tokens: 40,
            allowed_servers: vec![operator],
            filters: Filters {
                max_failure_bps: 10_000,
                ..Filters::default()
            },
            time_limit_secs: time_limit_for(tokens),
            max_batch_wait_ms: (latency_secs * 1_000.0) as u32,
            delivery: Delivery::Chain,
            key_version: 1,
        },
        stake: 10_000_000,
        prompt: PromptEnvelope {
            messages,
            sampling: Sampling::default(),
            max_tokens: tokens,
            compression: Compression::Brotli,
        },
        answers_dir: None,
    }
}

/// The folder a bench's direct answers are saved in (their only copy), named for `bench`.
pub fn answers_dir(bench: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chainference-bench-{bench}-{}", std::process::id()))
}

/// One user message.
pub fn user(text: &str) -> Vec<Message> {
    vec![Message {
        role: "user".into(),
        content: text.into(),
    }]
}

/// The node's confirmation latency as a client sees it: `count` transfers sent one after
/// another through [`Chain::send`], each timed from send to `confirmed`; the median, seconds.
pub async fn confirmation_latency(bed: &Bed, count: usize) -> Result<f64> {
    let wallet = bed.wallet(100_000_000)?;
    let mut seconds = Vec::with_capacity(count);
    for lamports in 1..=count as u64 {
        let transfer = anchor_lang::solana_program::system_instruction::transfer(
            &wallet.pubkey(),
            &Pubkey::new_unique(),
            1_000_000 + lamports,
        );
        let sent = Instant::now();
        bed.chain.send(&[transfer], &wallet, &[]).await?;
        seconds.push(sent.elapsed().as_secs_f64());
    }
    Ok(median(&mut seconds))
}

/// The median of `values` (0 if empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// A local node and SmolLM2-135M-Instruct loaded into mistral.rs (fetched on first use) for
/// `max_concurrent` sequences at once.
pub async fn bed_with_smollm2(max_concurrent: usize) -> Result<(Bed, Arc<MistralEngine>)> {
    let model_path = tokio::task::spawn_blocking(crate::smollm2::model_path).await??;
    let bed = Bed::start().await?;
    eprintln!("Loading {} into mistral.rs…", crate::smollm2::MODEL_ID);
    let engine = MistralEngine::load(
        &[MistralModel {
            id: crate::smollm2::MODEL_ID.into(),
            path: model_path,
        }],
        max_concurrent,
    )
    .await?;
    Ok((bed, Arc::new(engine)))
}

/// One generation by mistral.rs alone, seconds from `start`.
pub struct Generation {
    /// Tokens generated.
    pub tokens: u32,
    /// The first token, if any came.
    pub first: Option<f64>,
    /// The last token.
    pub last: f64,
}

/// `prompt` answered by `engine` directly (no chain), each token timed from `start`.
pub async fn generate_alone(
    engine: &MistralEngine,
    prompt: &PromptEnvelope,
    tokens: u32,
    start: Instant,
) -> Result<Generation> {
    let mut steps = engine.generate(
        crate::smollm2::MODEL_ID,
        prompt,
        SeededSampler::new(&Pubkey::default(), &prompt.sampling),
        "",
        tokens,
    )?;
    let mut generation = Generation {
        tokens: 0,
        first: None,
        last: 0.0,
    };
    while let Some(step) = steps.recv().await {
        match step {
            Generated::Text { tokens, .. } => {
                let at = start.elapsed().as_secs_f64();
                generation.first.get_or_insert(at);
                generation.last = at;
                generation.tokens += tokens;
            }
            Generated::Failed(error) => anyhow::bail!("mistral.rs failed: {error}"),
            Generated::Done(_) => break,
            Generated::Resumed { .. } => {}
        }
    }
    Ok(generation)
}
