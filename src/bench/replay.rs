//! `chainference bench replay`: does re-scoring tell the pinned weights from a substitute?
//!
//! Providers on a local node answer with SmolLM2-135M-Instruct Q4_1 (the pinned weights) and
//! with substitutes served under the same pin, as a lying server would: the same GGUF
//! requantized as Q4_0, the same with its last layers removed, and another model (the tiny
//! Llama the tests use); `--substitute` picks some. Half the answers are greedy, half sampled at
//! temperature 0.7. Each is re-scored by `chainference audit --replay` against the pinned file,
//! in its own process with `--rescore-threads` threads (generation ran on all of the machine's),
//! and judged on its first 50, 100 and `--tokens` tokens; a few honest answers are re-scored
//! again on all threads, to time re-scoring against generation on the same threads. The report
//! gives the false-alarm rate on honest answers and the detection rate of each substitute, per
//! temperature and length (with the fewest far tokens any one answer had: how near the closest
//! came to passing), and the re-scoring time per token against generation's.

use super::substitutes::{write_substitute, Substitute};
use super::{question, settings, user, Bed};
use crate::cli::Output;
use crate::smollm2;
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, Context, Result};
use chainference_client::ask::ask;
use chainference_client::envelope::PromptEnvelope;
use chainference_client::rescore::{Rescored, TokenScore, Verdict};
use chainference_client::sampling::SeededSampler;
use chainference_client::weights::weights_digest;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, EngineError, Generated};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// `chainference bench replay` options.
#[derive(Args, Clone, Debug)]
pub struct ReplayArgs {
    /// Honest answers (half greedy, half sampled).
    #[arg(long, default_value_t = 100)]
    pub honest: usize,
    /// Answers by each substitute (half greedy, half sampled).
    #[arg(long, default_value_t = 20)]
    pub per_substitute: usize,
    /// The substitutes served (repeat the flag for several; all three by default).
    #[arg(long = "substitute", value_enum, default_values_t = Cheat::value_variants().to_vec())]
    pub substitutes: Vec<Cheat>,
    /// Tokens of each answer; verdicts on its first 50, 100 and all of them.
    #[arg(long, default_value_t = 200)]
    pub tokens: u32,
    /// Threads each re-scoring for the verdicts runs with (generation runs on all: honest
    /// answers must pass when re-scored with another count). Timing compares both on all.
    #[arg(long, default_value_t = 1)]
    pub rescore_threads: usize,
    /// Questions in flight at once per provider.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u16,
    /// The number of the first question asked (the honest answers', then each substitute's in
    /// turn): runs over disjoint ranges of the 800 distinct questions add up.
    #[arg(long, default_value_t = 0)]
    pub first_question: usize,
}

/// A substitute a lying server serves under the pinned weights' digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cheat {
    /// The pinned GGUF requantized as Q4_0 (a cheaper quantization).
    #[value(name = "q4-0")]
    Q4_0,
    /// The pinned GGUF without its last two layers.
    Truncated,
    /// Another model (the tiny Llama).
    OtherModel,
}

/// The temperature of sampled answers.
const SAMPLED: f64 = 0.7;
/// Layers the truncated substitute lacks.
const LAYERS_REMOVED: u32 = 2;
/// The confidence of the bounds on each share of answers judged inconsistent.
const CONFIDENCE: f64 = 0.95;
/// Honest answers re-scored again on all threads to time re-scoring against generation.
const TIMED: usize = 5;
/// Distinct questions [`topic`] asks; past them they repeat (and greedy answers with them).
const QUESTIONS: usize = TOPICS.len() * ASKS.len() * FOR.len();

/// An engine serving one model's weights under another's pin: what a lying server does.
pub struct Claiming {
    /// The engine that answers (the substitute's weights).
    pub inner: MistralEngine,
    /// The digest it claims to serve (the pinned weights').
    pub claims: [u8; 32],
}

impl Engine for Claiming {
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: SeededSampler,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError> {
        self.inner
            .generate(model, prompt, sampler, delivered, max_tokens)
    }

    fn weights(&self, _model: &str) -> Option<[u8; 32]> {
        Some(self.claims)
    }
}

/// Verdicts of one kind of answer at one temperature and length.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    /// Answers at least this long.
    pub judged: usize,
    /// Of those, judged inconsistent.
    pub inconsistent: usize,
    /// Mean capped margin over them.
    pub mean_margin: f64,
    /// Share of their tokens that were the model's own choice.
    pub own_choice: f64,
    /// The largest margin of any one token (the honest rows' tail sets `FAR_MARGIN`'s room).
    pub max_margin: f64,
    /// The fewest tokens at least `FAR_MARGIN` short in any one answer (a substitute's answer
    /// passes only with none: how near the closest came), scored on F32 where re-scoring
    /// dequantized, the first of them confirmed on the quantized kernels.
    pub fewest_far: usize,
    /// Their mean over the answers.
    pub mean_far: f64,
    /// With [`CONFIDENCE`], the share of such answers judged inconsistent is at least this (one
    /// sided, Clopper–Pearson): a substitute's detection rate, as far as `judged` shows it.
    pub inconsistent_at_least: f64,
    /// With [`CONFIDENCE`], at most this: an honest false-alarm rate.
    pub inconsistent_at_most: f64,
}

/// One served model's answers, judged.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Which weights answered.
    pub served: String,
    /// Whether they are the pinned ones (verdicts of inconsistent are false alarms).
    pub honest: bool,
    /// Greedy (`None`) or sampled.
    pub temperature: Option<f64>,
    /// Per length judged: (tokens, tally).
    pub lengths: Vec<(u32, Tally)>,
    /// What re-scoring its answers cost.
    pub cost: Cost,
}

/// What re-scoring a row's answers cost in requests to the model, a token of the answer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Mean over the answers of requests a token.
    pub mean_runs_per_token: f64,
    /// The most in any one answer.
    pub max_runs_per_token: f64,
    /// Answers whose budget of requests was spent before their end (other ways of drawing
    /// the text were no longer weighed past it).
    pub budget_spent: usize,
}

impl Cost {
    /// The cost of re-scoring `answers`.
    fn of<'a>(answers: impl Iterator<Item = &'a Judged>) -> Self {
        let mut cost = Self::default();
        let mut rates = Vec::new();
        for answer in answers {
            rates.extend(answer.runs_per_token());
            cost.budget_spent += usize::from(answer.stopped.is_some());
        }
        cost.max_runs_per_token = rates.iter().copied().fold(0.0, f64::max);
        if !rates.is_empty() {
            cost.mean_runs_per_token = rates.iter().sum::<f64>() / rates.len() as f64;
        }
        cost
    }
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The pinned model.
    pub model: String,
    /// Threads re-scoring for the verdicts ran with.
    pub rescore_threads: usize,
    /// Threads generation and the timed re-scorings ran with (all the machine's).
    pub all_threads: usize,
    /// Rows: the pinned weights first, then each substitute.
    pub rows: Vec<Row>,
    /// Seconds per token generating with the pinned weights through mistral.rs alone.
    pub generation_secs_per_token: f64,
    /// Seconds per token re-scoring on all threads (the model's passes over prompt and answer,
    /// loading left out; median over up to [`TIMED`] honest answers); `None` without any.
    pub rescore_secs_per_token: Option<f64>,
    /// The same with `rescore_threads` threads, over every answer (each re-scored beside the
    /// generation of later ones).
    pub rescore_secs_per_token_verdicts: f64,
}

/// One answer through the chain: who served it, how, and the client's key file.
#[derive(Clone)]
struct Asked {
    served: usize,
    temperature: Option<f64>,
    request: Pubkey,
    key: PathBuf,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &ReplayArgs, output: Output) -> Result<()> {
    anyhow::ensure!(args.tokens >= 100, "--tokens must be at least 100");
    // Each substitute once, however often `--substitute` names it, in a fixed order.
    let chosen: Vec<Cheat> = Cheat::value_variants()
        .iter()
        .copied()
        .filter(|cheat| args.substitutes.contains(cheat))
        .collect();
    let asked = args
        .per_substitute
        .saturating_mul(chosen.len())
        .saturating_add(args.honest);
    check_questions(args.first_question, asked)?;
    let pinned_path = tokio::task::spawn_blocking(smollm2::model_path).await??;
    let pinned = weights_digest(&pinned_path)?;
    let work = tempfile::tempdir().context("a temporary folder for the substitutes")?;
    eprintln!("Writing the substitutes…");
    let mut served: Vec<(String, PathBuf)> = vec![("pinned Q4_1".into(), pinned_path.clone())];
    for cheat in chosen {
        let substitute = match cheat {
            Cheat::Q4_0 => Substitute::Q4_0,
            Cheat::Truncated => Substitute::Truncated {
                layers: LAYERS_REMOVED,
            },
            Cheat::OtherModel => {
                let tiny = work.path().join("tiny-llama");
                chainference_fixtures::write_tiny_llama(&tiny).context("writing the tiny Llama")?;
                served.push(("another model (the tiny Llama)".into(), tiny));
                continue;
            }
        };
        let path = work
            .path()
            .join(format!("substitute-{}.gguf", served.len()));
        let (source, target) = (pinned_path.clone(), path.clone());
        tokio::task::spawn_blocking(move || write_substitute(&source, &target, substitute))
            .await??;
        served.push((substitute.name(), path));
    }

    let bed = Bed::start().await?;
    let concurrency = args.concurrency.max(1);
    let mut serving = Vec::new();
    let mut operators = Vec::new();
    let mut honest_engine = None;
    for (name, path) in &served {
        eprintln!("Serving {name}…");
        let inner = MistralEngine::load(
            &[MistralModel {
                id: smollm2::MODEL_ID.into(),
                path: path.clone(),
            }],
            usize::from(concurrency),
        )
        .await?;
        let engine: Arc<dyn Engine> = if honest_engine.is_none() {
            let engine = Arc::new(inner);
            honest_engine = Some(engine.clone());
            engine
        } else {
            Arc::new(Claiming {
                inner,
                claims: pinned,
            })
        };
        let (operator, task) = bed
            .serve(settings(smollm2::MODEL_ID, concurrency, 14, 0), engine)
            .await?;
        operators.push(operator);
        serving.push(task);
    }
    let honest_engine = honest_engine.ok_or_else(|| anyhow!("no pinned engine"))?;

    let keys = work.path().join("keys");
    std::fs::create_dir_all(&keys)?;
    // Each answer is re-scored as soon as it is in, one at a time, beside the generation of
    // the next ones.
    let auditor = Auditor {
        rpc: bed.node.rpc_url(),
        ws: bed.node.pubsub_url(),
        weights: pinned_path.clone(),
    };
    let (to_judge, mut judging) = mpsc::unbounded_channel::<Asked>();
    let judge = {
        let (auditor, threads) = (auditor.clone(), args.rescore_threads);
        let names: Vec<String> = served.iter().map(|(name, _)| name.clone()).collect();
        tokio::spawn(async move {
            let mut judged = Vec::new();
            while let Some(answer) = judging.recv().await {
                let rescored = auditor.rescore(&answer, threads).await?;
                let summary = Rescored::of(&rescored.scores);
                eprintln!(
                    "re-scored {} ({}, {}): {:?}, {} of {} tokens own, {} far, largest margin {:.2}, {} scored again quantized, {} model runs{}",
                    answer.request,
                    names[answer.served],
                    sampling(answer.temperature),
                    summary.verdict,
                    summary.own_choice,
                    summary.tokens,
                    summary.far,
                    summary.worst.map_or(0.0, |(_, worst)| worst.margin),
                    rescored.confirmed,
                    rescored.runs,
                    rescored
                        .stopped
                        .map_or(String::new(), |at| format!(", budget spent at token {at}")),
                );
                judged.push((answer.served, answer.temperature, rescored));
            }
            anyhow::Ok(judged)
        })
    };
    // Each provider answers `concurrency` questions at a time; a lane gives each that many, so
    // no question waits past its lock window behind others to the same provider.
    let mut queues: Vec<std::collections::VecDeque<(usize, Option<f64>, usize)>> = Vec::new();
    let mut total = 0;
    for (index, _) in served.iter().enumerate() {
        let count = if index == 0 {
            args.honest
        } else {
            args.per_substitute
        };
        let first = args.first_question + total;
        queues.push(
            (0..count)
                .map(|number| (index, (number % 2 == 1).then_some(SAMPLED), first + number))
                .collect(),
        );
        total += count;
    }
    eprintln!(
        "Asking {total} questions of {} tokens through the chain, from number {}…",
        args.tokens, args.first_question
    );
    let mut asked = Vec::new();
    loop {
        let lane: Vec<_> = queues
            .iter_mut()
            .flat_map(|queue| {
                let take = usize::from(concurrency).min(queue.len());
                queue.drain(..take).collect::<Vec<_>>()
            })
            .collect();
        if lane.is_empty() {
            break;
        }
        let mut asking = Vec::new();
        for (index, temperature, number) in lane {
            let wallet = bed.wallet(1_000_000_000)?;
            let key = keys.join(format!("{number}.json"));
            chainference_client::wallet::write_keypair(&wallet, &key)?;
            let mut question = question(
                smollm2::MODEL_ID,
                user(&topic(number)),
                args.tokens,
                0.0,
                operators[index],
            );
            question.terms.time_limit_secs = chainference::constants::MAX_TIME_LIMIT_SECS;
            question.prompt.sampling.temperature = temperature;
            let chain = bed.chain.clone();
            asking.push(tokio::spawn(async move {
                let answered = ask(&chain, &wallet, &question, |_| {}).await?;
                anyhow::Ok(Asked {
                    served: index,
                    temperature,
                    request: answered.request,
                    key,
                })
            }));
        }
        for question in asking {
            let answer = question.await?.context("a question was not answered")?;
            if to_judge.send(answer.clone()).is_err() {
                judge.await??;
                return Err(anyhow!("re-scoring stopped"));
            }
            asked.push(answer);
        }
        eprintln!("{} of {total} answered", asked.len());
    }
    for task in serving {
        task.abort();
    }
    drop(to_judge);
    eprintln!("Re-scoring the last answers…");
    let judged = judge.await??;

    let mut rows = Vec::new();
    for (index, (name, _)) in served.iter().enumerate() {
        for temperature in [None, Some(SAMPLED)] {
            let answers: Vec<&Judged> = judged
                .iter()
                .filter(|(served, t, ..)| *served == index && *t == temperature)
                .map(|(_, _, rescored)| rescored)
                .collect();
            let lengths = [50, 100, args.tokens]
                .into_iter()
                .map(|length| {
                    let scores = answers.iter().map(|answer| &answer.scores);
                    (length, tally(scores, length as usize))
                })
                .collect();
            rows.push(Row {
                served: name.clone(),
                honest: index == 0,
                temperature,
                lengths,
                cost: Cost::of(answers.into_iter()),
            });
        }
    }
    let mut per_token: Vec<f64> = judged
        .iter()
        .filter_map(|(_, _, rescored)| rescored.secs_per_token())
        .collect();
    let rescore_secs_per_token_verdicts = super::median(&mut per_token);
    let all_threads = std::thread::available_parallelism().map_or(1, usize::from);

    eprintln!("Timing re-scoring on all {all_threads} threads…");
    let mut per_token = Vec::new();
    for answer in asked.iter().filter(|answer| answer.served == 0).take(TIMED) {
        let rescored = auditor.rescore(answer, all_threads).await?;
        per_token.extend(rescored.secs_per_token());
    }
    let rescore_secs_per_token = (!per_token.is_empty()).then(|| super::median(&mut per_token));

    eprintln!("Timing generation with the pinned weights alone…");
    let mut generation = Vec::new();
    for number in 0..5 {
        let question = question(
            smollm2::MODEL_ID,
            user(&topic(number)),
            args.tokens,
            0.0,
            Pubkey::default(),
        );
        let start = Instant::now();
        let generated =
            super::generate_alone(&honest_engine, &question.prompt, args.tokens, start).await?;
        if generated.tokens > 1 {
            let first = generated.first.unwrap_or(0.0);
            generation.push((generated.last - first) / f64::from(generated.tokens - 1));
        }
    }
    let report = Report {
        model: smollm2::MODEL_ID.into(),
        rescore_threads: args.rescore_threads,
        all_threads,
        rows,
        generation_secs_per_token: super::median(&mut generation),
        rescore_secs_per_token,
        rescore_secs_per_token_verdicts,
    };
    bed.finish(output, &report, print_report).await
}

/// What the questions are about.
const TOPICS: [&str; 20] = [
    "lighthouses",
    "bread baking",
    "the moon",
    "rivers",
    "chess",
    "bees",
    "winter",
    "trains",
    "volcanoes",
    "libraries",
    "the ocean",
    "bicycles",
    "mountains",
    "clocks",
    "gardens",
    "music",
    "deserts",
    "bridges",
    "owls",
    "rain",
];
/// How they ask.
const ASKS: [&str; 5] = [
    "Write a short essay about",
    "Tell me a story about",
    "Explain to a child how to think about",
    "List some facts about",
    "Describe a day spent with",
];
/// Past the first hundred, for someone: greedy answers to one prompt are all the same.
const FOR: [&str; 8] = [
    "",
    ", for a child",
    ", for a sailor",
    ", for a scientist",
    ", for a history book",
    ", for a travel guide",
    ", for a farmer",
    ", for a newspaper",
];

/// How an answer was sampled, for the report: greedy or at its temperature.
fn sampling(temperature: Option<f64>) -> String {
    temperature.map_or("greedy".into(), |t| format!("T={t}"))
}

/// Checks that the `asked` questions from number `first` on are distinct ones.
fn check_questions(first: usize, asked: usize) -> Result<()> {
    match first.checked_add(asked) {
        Some(end) if end <= QUESTIONS => Ok(()),
        _ => Err(anyhow!(
            "{asked} questions asked from number {first}, but only {QUESTIONS} are distinct \
             (numbers 0 to {}): lower --first-question or the answers asked",
            QUESTIONS - 1
        )),
    }
}

/// The `number`-th question of the bench: varied topics, so answers differ ([`QUESTIONS`]
/// before they repeat).
fn topic(number: usize) -> String {
    let asks = TOPICS.len() * ASKS.len();
    format!(
        "{} {}{}.",
        ASKS[(number / TOPICS.len()) % ASKS.len()],
        TOPICS[number % TOPICS.len()],
        FOR[(number / asks) % FOR.len()]
    )
}

/// What re-scoring needs: the node's addresses and the pinned weights.
#[derive(Clone)]
struct Auditor {
    rpc: String,
    ws: String,
    weights: PathBuf,
}

/// One answer re-scored.
struct Judged {
    /// Every token's score.
    scores: Vec<TokenScore>,
    /// Seconds the model took (loading left out; a process that scores far tokens again on
    /// the quantized weights counted whole).
    seconds: f64,
    /// Tokens scored again on the quantized weights.
    confirmed: usize,
    /// Requests re-scoring made to the model (F32 weights; the quantized runs left out).
    runs: usize,
    /// Where other ways of drawing the text stopped being weighed, the budget spent.
    stopped: Option<usize>,
}

impl Judged {
    /// Seconds a token, if it has any.
    fn secs_per_token(&self) -> Option<f64> {
        (!self.scores.is_empty()).then(|| self.seconds / self.scores.len() as f64)
    }

    /// Requests to the model a token, if it has any.
    fn runs_per_token(&self) -> Option<f64> {
        (!self.scores.is_empty()).then(|| self.runs as f64 / self.scores.len() as f64)
    }
}

impl Auditor {
    /// Re-scores `answer` with `chainference audit --replay` in its own process with
    /// `threads` threads.
    async fn rescore(&self, answer: &Asked, threads: usize) -> Result<Judged> {
        let binary = std::env::current_exe().context("finding the chainference binary")?;
        let request = answer.request.to_string();
        for _ in 0..120 {
            let mut command = std::process::Command::new(&binary);
            command
                .env("RAYON_NUM_THREADS", threads.to_string())
                .args(["-u", &self.rpc, "--ws", &self.ws])
                .args(["audit", &request, "--key"])
                .arg(&answer.key)
                .arg("--replay")
                .arg(&self.weights)
                .args(["--output", "json"]);
            let run = tokio::task::spawn_blocking(move || command.output()).await??;
            let stderr = String::from_utf8_lossy(&run.stderr);
            if !run.status.success() {
                if stderr.contains("finalized") {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                return Err(anyhow!("audit of {request} failed: {stderr}"));
            }
            let report: serde_json::Value = serde_json::from_slice(&run.stdout)?;
            let replay = &report["replay"];
            return Ok(Judged {
                scores: serde_json::from_value(replay["tokens"].clone())?,
                seconds: replay["seconds"].as_f64().unwrap_or(0.0),
                confirmed: replay["confirmed_on_quantized_kernels"]
                    .as_array()
                    .map_or(0, Vec::len),
                runs: serde_json::from_value(replay["model_runs"].clone())?,
                stopped: serde_json::from_value(replay["ways_stopped_at"].clone())?,
            });
        }
        Err(anyhow!("{request} was not finalized within two minutes"))
    }
}

/// The verdicts on the first `length` tokens of every answer at least that long.
fn tally<'a>(answers: impl Iterator<Item = &'a Vec<TokenScore>>, length: usize) -> Tally {
    let mut tally = Tally::default();
    let (mut margins, mut own, mut tokens, mut far) = (0.0, 0usize, 0usize, 0usize);
    for scores in answers.filter(|scores| scores.len() >= length) {
        let rescored = Rescored::of(&scores[..length]);
        tally.fewest_far = if tally.judged == 0 {
            rescored.far
        } else {
            tally.fewest_far.min(rescored.far)
        };
        far += rescored.far;
        tally.judged += 1;
        if rescored.verdict == Verdict::Inconsistent {
            tally.inconsistent += 1;
        }
        margins += rescored.mean_margin;
        own += rescored.own_choice;
        if let Some((_, worst)) = rescored.worst {
            tally.max_margin = tally.max_margin.max(worst.margin);
        }
        tokens += rescored.tokens;
    }
    if tally.judged > 0 {
        tally.mean_margin = margins / tally.judged as f64;
        tally.own_choice = own as f64 / tokens.max(1) as f64;
        tally.mean_far = far as f64 / tally.judged as f64;
    }
    (tally.inconsistent_at_least, tally.inconsistent_at_most) =
        share_bounds(tally.inconsistent, tally.judged);
    tally
}

/// One-sided Clopper–Pearson bounds, each holding with [`CONFIDENCE`], on a share seen as
/// `hits` of `n`: the least share under which `hits` or more would still be seen with the
/// remaining probability, and the greatest under which `hits` or fewer would.
fn share_bounds(hits: usize, n: usize) -> (f64, f64) {
    let alpha = 1.0 - CONFIDENCE;
    // The logarithm of `base` to the power `exponent`: 0 for a power of 0, whatever the base
    // rounded to.
    let ln_power = |exponent: usize, base: f64| {
        if exponent == 0 {
            0.0
        } else {
            exponent as f64 * base.ln()
        }
    };
    // P(X <= k) for X ~ Binomial(n, p), each term in logarithms.
    let at_most = |k: usize, p: f64| -> f64 {
        let (mut ln_choose, mut sum) = (0.0f64, 0.0);
        for j in 0..=k.min(n) {
            if j > 0 {
                ln_choose += ((n - j + 1) as f64).ln() - (j as f64).ln();
            }
            sum += (ln_choose + ln_power(j, p) + ln_power(n - j, 1.0 - p)).exp();
        }
        sum
    };
    // The share where `rises` (increasing in it) reaches `alpha`, by bisection.
    let solve = |rises: &dyn Fn(f64) -> f64| {
        let (mut low, mut high) = (0.0, 1.0);
        for _ in 0..64 {
            let middle = (low + high) / 2.0;
            if rises(middle) < alpha {
                low = middle;
            } else {
                high = middle;
            }
        }
        (low + high) / 2.0
    };
    if n == 0 {
        return (0.0, 1.0);
    }
    let lower = if hits == 0 {
        0.0
    } else {
        solve(&|p| 1.0 - at_most(hits - 1, p))
    };
    let upper = if hits >= n {
        1.0
    } else {
        1.0 - solve(&|q| at_most(hits, 1.0 - q))
    };
    (lower, upper)
}

fn print_report(out: &mut std::fs::File, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "Re-scoring against the pinned {} (Q4_1), {} thread(s); verdicts on the first 50 / 100 / {} tokens",
        report.model,
        report.rescore_threads,
        report.rows.first().and_then(|row| row.lengths.last()).map_or(0, |(tokens, _)| *tokens)
    )?;
    writeln!(
        out,
        "{:<34} {:>8} {:>66} {:>66} {:>66}",
        "served",
        "sampling",
        "inconsistent/judged (%, 95% bound), own, max margin, far fewest+ (mean)",
        "",
        ""
    )?;
    for row in &report.rows {
        let cells: Vec<String> = row
            .lengths
            .iter()
            .map(|(_, tally)| {
                let bound = if row.honest {
                    format!("<= {:.1}%", 100.0 * tally.inconsistent_at_most)
                } else {
                    format!(">= {:.1}%", 100.0 * tally.inconsistent_at_least)
                };
                format!(
                    "{}/{} ({:.1}%, {bound}), own {:.3}, {}, far {}+ ({:.1})",
                    tally.inconsistent,
                    tally.judged,
                    100.0 * tally.inconsistent as f64 / tally.judged.max(1) as f64,
                    tally.own_choice,
                    if tally.max_margin >= f64::MAX {
                        "outside".to_string()
                    } else {
                        format!("{:.2}", tally.max_margin)
                    },
                    tally.fewest_far,
                    tally.mean_far,
                )
            })
            .collect();
        writeln!(
            out,
            "{:<34} {:>8} {:>66} {:>66} {:>66}",
            row.served,
            sampling(row.temperature),
            cells.first().map_or("", String::as_str),
            cells.get(1).map_or("", String::as_str),
            cells.get(2).map_or("", String::as_str),
        )?;
    }
    writeln!(
        out,
        "Requests to the model re-scoring made, a token (mean, most in one answer; answers whose budget was spent):"
    )?;
    for row in &report.rows {
        let Cost {
            mean_runs_per_token,
            max_runs_per_token,
            budget_spent,
        } = row.cost;
        writeln!(
            out,
            "{:<34} {:>8} {mean_runs_per_token:.2}, {max_runs_per_token:.2}; {budget_spent}",
            row.served,
            sampling(row.temperature),
        )?;
    }
    let all_threads = match report.rescore_secs_per_token {
        Some(rescore) => {
            let generation = report.generation_secs_per_token.max(1e-12);
            let pace = if rescore <= generation {
                format!("{:.1}x faster", generation / rescore.max(1e-12))
            } else {
                format!("{:.1}x slower", rescore / generation)
            };
            format!(
                "re-scoring {:.2} ms a token against generation's {:.2} ms a token ({pace})",
                rescore * 1e3,
                report.generation_secs_per_token * 1e3,
            )
        }
        None => format!(
            "re-scoring not timed (no honest answer to time), generation {:.2} ms a token",
            report.generation_secs_per_token * 1e3,
        ),
    };
    writeln!(
        out,
        "On all {} threads, {all_threads}; with {} thread(s) beside generation, re-scoring {:.2} ms a token (model loading left out).",
        report.all_threads,
        report.rescore_threads,
        report.rescore_secs_per_token_verdicts * 1e3,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A score `margin` short of the choice.
    fn score(margin: f64) -> TokenScore {
        TokenScore {
            token: 0,
            rank: 1,
            logprob: 0.0,
            margin,
        }
    }

    #[test]
    fn a_row_s_cost_is_its_answers_requests_a_token_and_where_budgets_ran_out() {
        let judged = |tokens: usize, runs: usize, stopped: Option<usize>| Judged {
            scores: vec![score(0.0); tokens],
            seconds: 1.0,
            confirmed: 0,
            runs,
            stopped,
        };
        let answers = [
            judged(100, 150, None),
            judged(50, 400, Some(30)),
            judged(0, 1, None),
        ];
        let cost = Cost::of(answers.iter());
        // 1.5 and 8 a token; the empty answer has no rate.
        assert_eq!(cost.mean_runs_per_token, 4.75);
        assert_eq!(cost.max_runs_per_token, 8.0);
        assert_eq!(cost.budget_spent, 1);
        // A row with no answers costs 0 (a sum of no floats is -0.0).
        let none = Cost::of(std::iter::empty());
        assert_eq!(none.mean_runs_per_token.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn a_tally_counts_the_fewest_far_tokens_of_the_answers_long_enough() {
        let far = chainference_client::rescore::FAR_MARGIN;
        let answer = |far_tokens: usize, tokens: usize| -> Vec<TokenScore> {
            (0..tokens)
                .map(|index| score(if index < far_tokens { far } else { 0.0 }))
                .collect()
        };
        // Two far tokens, five, and a short answer with none that is not judged at 60.
        let answers = [answer(2, 60), answer(5, 80), answer(0, 40)];
        let tally = tally(answers.iter(), 60);
        assert_eq!(tally.judged, 2);
        assert_eq!(tally.inconsistent, 2);
        assert_eq!(tally.fewest_far, 2);
        assert!((tally.mean_far - 3.5).abs() < 1e-12, "{}", tally.mean_far);
        let all = super::tally(answers.iter(), 40);
        assert_eq!((all.judged, all.inconsistent, all.fewest_far), (3, 2, 0));
    }

    #[test]
    fn share_bounds_are_clopper_pearson_s() {
        // No miss in 60: the share caught is at least 0.05^(1/60) (and a miss rate of 0 at most
        // 1 - that); 5 of 10: the one-sided 95% bounds are 0.2224 and 0.7776.
        let (lower, upper) = share_bounds(60, 60);
        assert!((lower - 0.05f64.powf(1.0 / 60.0)).abs() < 1e-9, "{lower}");
        assert_eq!(upper, 1.0);
        let (lower, upper) = share_bounds(0, 100);
        assert_eq!(lower, 0.0);
        assert!((upper - (1.0 - 0.05f64.powf(0.01))).abs() < 1e-9, "{upper}");
        let (lower, upper) = share_bounds(5, 10);
        assert!((lower - 0.222441).abs() < 1e-5, "{lower}");
        assert!((upper - (1.0 - 0.222441)).abs() < 1e-5, "{upper}");
        assert_eq!(share_bounds(0, 0), (0.0, 1.0));
    }

    #[test]
    fn the_questions_differ_for_800_and_the_first_hundred_stay_as_they_were() {
        assert_eq!(QUESTIONS, 800);
        let questions: std::collections::HashSet<String> = (0..QUESTIONS).map(topic).collect();
        assert_eq!(questions.len(), QUESTIONS);
        assert_eq!(topic(0), "Write a short essay about lighthouses.");
        assert_eq!(topic(99), "Describe a day spent with rain.");
        assert_eq!(topic(QUESTIONS), topic(0));
    }

    #[test]
    fn questions_past_the_distinct_ones_are_refused() {
        assert!(check_questions(0, QUESTIONS).is_ok());
        assert!(check_questions(640, 160).is_ok());
        let refused = check_questions(641, 160).unwrap_err().to_string();
        assert!(refused.contains("--first-question"), "{refused}");
        assert!(check_questions(usize::MAX, 1).is_err());
    }
}
