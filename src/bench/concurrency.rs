//! `chainference bench concurrency`: one provider answering many requests at once with
//! SmolLM2-135M-Instruct on mistral.rs (its scheduler batches the sequences), against the
//! same number of generations handed to mistral.rs directly in the same run. Aggregate
//! tokens/s is every answer token over the time from the first token shown to the last;
//! starvation shows as the spread of each request's first text and tokens/s.

use super::{bed_with_smollm2, generate_alone, median, question, settings, user};
use crate::cli::Output;
use crate::smollm2;
use anyhow::{Context, Result};
use chainference_client::ask::{ask, AskEvent};
use chainference_client::envelope::{Message, PromptEnvelope};
use clap::Args;
use std::io::Write;
use std::time::Instant;

/// `chainference bench concurrency` options.
#[derive(Args, Clone, Debug)]
pub struct ConcurrencyArgs {
    /// Requests at once.
    #[arg(long, default_value_t = 16)]
    pub requests: u16,
    /// Tokens of each answer.
    #[arg(long, default_value_t = 100)]
    pub tokens: u32,
    /// The requests' latency bound, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub latency: f64,
}

/// One request's (or one direct generation's) timings, seconds from when all were asked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Lane {
    /// Tokens.
    pub tokens: u32,
    /// First text.
    pub first_secs: f64,
    /// Last text.
    pub last_secs: f64,
}

/// One way of running the requests.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Run {
    /// Every answer token.
    pub tokens: u64,
    /// Every answer token over the time from the first text to the last.
    pub tokens_per_second: f64,
    /// Median and latest first text.
    pub first_median_secs: f64,
    /// The latest first text.
    pub first_latest_secs: f64,
    /// The slowest and the median request's tokens/s after its first text.
    pub slowest_tokens_per_second: f64,
    /// The median request's tokens/s.
    pub median_tokens_per_second: f64,
    /// Each request.
    pub lanes: Vec<Lane>,
}

impl Run {
    fn of(lanes: Vec<Lane>) -> Self {
        let tokens = lanes.iter().map(|lane| u64::from(lane.tokens)).sum();
        let first = lanes
            .iter()
            .map(|lane| lane.first_secs)
            .fold(f64::MAX, f64::min);
        let last = lanes.iter().map(|lane| lane.last_secs).fold(0.0, f64::max);
        let mut firsts: Vec<f64> = lanes.iter().map(|lane| lane.first_secs).collect();
        let mut rates: Vec<f64> = lanes
            .iter()
            .map(|lane| {
                f64::from(lane.tokens.saturating_sub(1))
                    / (lane.last_secs - lane.first_secs).max(1e-9)
            })
            .collect();
        Self {
            tokens,
            tokens_per_second: tokens as f64 / (last - first).max(1e-9),
            first_median_secs: median(&mut firsts),
            first_latest_secs: firsts.last().copied().unwrap_or(0.0),
            slowest_tokens_per_second: rates.iter().copied().fold(f64::MAX, f64::min),
            median_tokens_per_second: median(&mut rates),
            lanes,
        }
    }
}

/// The report.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The model.
    pub model: String,
    /// Requests at once.
    pub requests: u16,
    /// mistral.rs alone, the same generations handed to it at once.
    pub alone: Run,
    /// Through the chain, one provider.
    pub chain: Run,
    /// The chain's aggregate tokens/s over mistral.rs alone's.
    pub ratio: f64,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &ConcurrencyArgs, output: Output) -> Result<()> {
    anyhow::ensure!(args.requests > 0, "--requests must be above 0");
    let (bed, engine) = bed_with_smollm2(usize::from(args.requests)).await?;
    let messages: Vec<Vec<Message>> = (0..args.requests)
        .map(|index| user(&format!("Tell me story number {index} about the sea.")))
        .collect();

    let (operator, serving) = bed
        .serve(
            settings(smollm2::MODEL_ID, args.requests, 14, 0),
            engine.clone(),
        )
        .await?;
    let mut asking = Vec::new();
    let mut prompts: Vec<PromptEnvelope> = Vec::new();
    let wallets = (0..args.requests)
        .map(|_| bed.wallet(1_000_000_000))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "Asking {} questions at once through the chain…",
        args.requests
    );
    let start = Instant::now();
    for (wallet, messages) in wallets.into_iter().zip(&messages) {
        let mut asked = question(
            smollm2::MODEL_ID,
            messages.clone(),
            args.tokens,
            args.latency,
            operator,
        );
        // Many sequences on a CPU are slow: the longest time limit, so none is cut short.
        asked.terms.time_limit_secs = chainference::constants::MAX_TIME_LIMIT_SECS;
        prompts.push(asked.prompt.clone());
        let chain = bed.chain.clone();
        asking.push(tokio::spawn(async move {
            let mut shown = Vec::new();
            let answered = ask(&chain, &wallet, &asked, |event| {
                if let AskEvent::Text(text) = event {
                    if !text.is_empty() {
                        shown.push(start.elapsed().as_secs_f64());
                    }
                }
            })
            .await?;
            anyhow::Ok(Lane {
                tokens: answered.answer_tokens,
                first_secs: shown.first().copied().unwrap_or(0.0),
                last_secs: shown.last().copied().unwrap_or(0.0),
            })
        }));
    }
    let mut lanes = Vec::new();
    for asked in asking {
        lanes.push(asked.await?.context("a question was not answered")?);
    }
    serving.abort();
    let chain = Run::of(lanes);

    eprintln!(
        "Handing the same {} prompts to mistral.rs at once…",
        args.requests
    );
    let start = Instant::now();
    let mut generating = Vec::new();
    for prompt in prompts {
        let (engine, tokens) = (engine.clone(), args.tokens);
        generating.push(tokio::spawn(async move {
            let generated = generate_alone(&engine, &prompt, tokens, start).await?;
            anyhow::Ok(Lane {
                tokens: generated.tokens,
                first_secs: generated.first.unwrap_or(0.0),
                last_secs: generated.last,
            })
        }));
    }
    let mut lanes = Vec::new();
    for generated in generating {
        lanes.push(generated.await??);
    }
    let alone = Run::of(lanes);
    let report = Report {
        model: smollm2::MODEL_ID.into(),
        requests: args.requests,
        ratio: chain.tokens_per_second / alone.tokens_per_second.max(1e-9),
        alone,
        chain,
    };
    bed.finish(output, &report, print_report).await
}

fn print_report(out: &mut std::fs::File, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "{} requests at once to one provider ({})",
        report.requests, report.model
    )?;
    writeln!(
        out,
        "{:<20} {:>7} {:>13} {:>16} {:>16} {:>14} {:>14}",
        "",
        "tokens",
        "total tok/s",
        "first, median s",
        "first, latest s",
        "median tok/s",
        "slowest tok/s"
    )?;
    for (label, run) in [
        ("mistral.rs alone", &report.alone),
        ("through the chain", &report.chain),
    ] {
        writeln!(
            out,
            "{:<20} {:>7} {:>13.2} {:>16.2} {:>16.2} {:>14.2} {:>14.2}",
            label,
            run.tokens,
            run.tokens_per_second,
            run.first_median_secs,
            run.first_latest_secs,
            run.median_tokens_per_second,
            run.slowest_tokens_per_second
        )?;
    }
    writeln!(
        out,
        "Aggregate tokens/s through the chain over mistral.rs alone: {:.2}.",
        report.ratio
    )?;
    Ok(())
}
