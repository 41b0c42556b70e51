//! `chainference bench stream`: one answer by SmolLM2-135M-Instruct on mistral.rs, through
//! the chain to a client, against the same generation by mistral.rs alone in the same run,
//! with the node's confirmation latency measured beside them. The engine is timed where the
//! provider gets its tokens, so "first token to the client's screen" is measured on one
//! clock: the first generated token, then the moment the client has it checked and
//! decrypted.

use super::{
    answers_dir, bed_with_smollm2, confirmation_latency, generate_alone, question, settings,
};
use crate::cli::ask::DeliveryArg;
use crate::cli::Output;
use crate::smollm2;
use anyhow::{Context, Result};
use chainference_client::ask::{ask, AskEvent};
use chainference_client::envelope::{Message, PromptEnvelope};
use chainference_client::sampling::SeededSampler;
use chainference_provider::engine::mistral::MistralEngine;
use chainference_provider::engine::{Engine, EngineError, Generated};
use clap::Args;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// `chainference bench stream` options.
#[derive(Args, Clone, Debug)]
pub struct StreamArgs {
    /// Tokens of the answer.
    #[arg(long, default_value_t = 200)]
    pub tokens: u32,
    /// The request's latency bound, seconds (a batch at least this often).
    #[arg(long, default_value_t = 0.4)]
    pub latency: f64,
    /// How the answer travels (`direct`: from the provider's endpoint, roots on chain).
    #[arg(long, value_enum, default_value_t = DeliveryArg::Chain)]
    pub delivery: DeliveryArg,
    /// The question.
    #[arg(long, default_value = "Tell me the story of a lighthouse keeper.")]
    pub prompt: String,
}

/// Timings of one generation, seconds from the moment the engine was asked for it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Pace {
    /// Tokens generated.
    pub tokens: u32,
    /// The first token.
    pub first_token_secs: f64,
    /// The last token.
    pub last_token_secs: f64,
    /// Tokens per second after the first.
    pub tokens_per_second: f64,
}

impl Pace {
    fn new(tokens: u32, first: f64, last: f64) -> Self {
        Self {
            tokens,
            first_token_secs: first,
            last_token_secs: last,
            tokens_per_second: f64::from(tokens.saturating_sub(1)) / (last - first).max(1e-9),
        }
    }
}

/// The report.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// How the answer travelled.
    pub delivery: String,
    /// The model.
    pub model: String,
    /// The request's latency bound, seconds.
    pub latency_secs: f64,
    /// The node's confirmation latency (median of 10 transfers), seconds.
    pub confirmation_secs: f64,
    /// mistral.rs alone, same prompt, same machine, same run.
    pub alone: Pace,
    /// The provider's engine inside the whole loop.
    pub provider: Pace,
    /// What the client displayed (tokens counted by the provider's claim).
    pub client: Pace,
    /// From the first generated token to its display at the client, seconds.
    pub first_token_to_display_secs: f64,
    /// Batches the answer took.
    pub batches: u32,
    /// The client's tokens/s over mistral.rs alone's.
    pub ratio: f64,
    /// The client's tokens/s over the provider's engine's in the same loop: what the chain
    /// path itself keeps of the model's pace, the CPU it shares with the node aside.
    pub ratio_to_engine: f64,
}

/// What [`Timed`] saw, seconds from the bench's clock.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// When the provider asked for the generation.
    called: Option<f64>,
    /// Each text step handed on, with its tokens.
    steps: Vec<(f64, u32)>,
}

/// An engine that notes when it is called and when each of its steps is handed on.
struct Timed {
    inner: Arc<MistralEngine>,
    start: Instant,
    seen: Arc<Mutex<Seen>>,
}

impl Engine for Timed {
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: SeededSampler,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError> {
        let (start, seen) = (self.start, self.seen.clone());
        if let Ok(mut seen) = seen.lock() {
            seen.called.get_or_insert(start.elapsed().as_secs_f64());
        }
        let mut inner = self
            .inner
            .generate(model, prompt, sampler, delivered, max_tokens)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(step) = inner.recv().await {
                if let Generated::Text { tokens, .. } = &step {
                    if let Ok(mut seen) = seen.lock() {
                        seen.steps.push((start.elapsed().as_secs_f64(), *tokens));
                    }
                }
                if sender.send(step).is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }

    fn weights(&self, model: &str) -> Option<[u8; 32]> {
        self.inner.weights(model)
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &StreamArgs, output: Output) -> Result<()> {
    let (bed, engine) = bed_with_smollm2(1).await?;
    let messages = vec![
        Message {
            role: "system".into(),
            content: "You are a helpful assistant.".into(),
        },
        Message {
            role: "user".into(),
            content: args.prompt.clone(),
        },
    ];
    let confirmation_secs = confirmation_latency(&bed, 10).await?;

    // Through the chain: the provider's engine timed, the client's display timed, one clock.
    let start = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let timed = Timed {
        inner: engine.clone(),
        start,
        seen: seen.clone(),
    };
    let (operator, serving) = bed
        .serve(settings(smollm2::MODEL_ID, 1, 14, 0), Arc::new(timed))
        .await?;
    let wallet = bed.wallet(1_000_000_000)?;
    let mut asked = question(
        smollm2::MODEL_ID,
        messages.clone(),
        args.tokens,
        args.latency,
        operator,
    );
    asked.terms.delivery = args.delivery.into();
    let answers_dir = answers_dir("stream");
    asked.answers_dir = Some(answers_dir.clone());
    eprintln!("Asking through the chain…");
    let mut shown: Vec<f64> = Vec::new();
    let answered = ask(&bed.chain, &wallet, &asked, |event| {
        if let AskEvent::Text(text) = event {
            if !text.is_empty() {
                shown.push(start.elapsed().as_secs_f64());
            }
        }
    })
    .await
    .context("the question was not answered")?;
    serving.abort();
    let _ = std::fs::remove_dir_all(&answers_dir);
    // Both timed from the moment the provider asked its engine for the answer.
    let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    let origin = seen.called.unwrap_or(0.0);
    let provider = Pace::new(
        seen.steps.iter().map(|(_, tokens)| tokens).sum(),
        seen.steps.first().map_or(0.0, |(at, _)| at - origin),
        seen.steps.last().map_or(0.0, |(at, _)| at - origin),
    );
    let client = Pace::new(
        answered.answer_tokens,
        shown.first().map_or(0.0, |at| at - origin),
        shown.last().map_or(0.0, |at| at - origin),
    );

    // mistral.rs alone, the same prompt and sampling, the node idle beside it.
    eprintln!("Generating with mistral.rs alone…");
    let generated = generate_alone(&engine, &asked.prompt, args.tokens, Instant::now()).await?;
    let alone = Pace::new(
        generated.tokens,
        generated.first.unwrap_or(0.0),
        generated.last,
    );

    let report = Report {
        delivery: format!("{:?}", args.delivery).to_lowercase(),
        model: smollm2::MODEL_ID.into(),
        latency_secs: args.latency,
        confirmation_secs,
        first_token_to_display_secs: client.first_token_secs - provider.first_token_secs,
        batches: answered.batches,
        ratio: client.tokens_per_second / alone.tokens_per_second.max(1e-9),
        ratio_to_engine: client.tokens_per_second / provider.tokens_per_second.max(1e-9),
        alone,
        provider,
        client,
    };
    bed.finish(output, &report, print_report).await
}

fn print_report(out: &mut std::fs::File, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "Streaming {} ({} delivery) with a {:.1} s latency bound; node confirmation latency {:.2} s (median of 10)",
        report.model, report.delivery, report.latency_secs, report.confirmation_secs
    )?;
    writeln!(
        out,
        "{:<26} {:>7} {:>14} {:>13} {:>8}",
        "", "tokens", "first token s", "last token s", "tok/s"
    )?;
    for (label, pace) in [
        ("mistral.rs alone", &report.alone),
        ("provider's engine", &report.provider),
        ("client display", &report.client),
    ] {
        writeln!(
            out,
            "{:<26} {:>7} {:>14.2} {:>13.2} {:>8.2}",
            label, pace.tokens, pace.first_token_secs, pace.last_token_secs, pace.tokens_per_second
        )?;
    }
    writeln!(
        out,
        "First generated token to the client's screen: {:.1} ms ({} batches). Client tokens/s \
         over mistral.rs alone: {:.2}; over the provider's engine in the same loop: {:.2}.",
        report.first_token_to_display_secs * 1_000.0,
        report.batches,
        report.ratio,
        report.ratio_to_engine
    )?;
    Ok(())
}
