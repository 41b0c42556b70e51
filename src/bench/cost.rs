//! `chainference bench cost`: what an answer costs on chain, read back from the ledger of a
//! local node. Replay providers (the prose corpus in `fixtures/corpus`) answer real requests
//! through the real client; every append transaction's fee and size is then read with
//! `getTransaction`. The marginal cost per answer token is the appends' fees plus the tree's
//! rent amortized over its capacity; the request's fixed part (create, prompt, lock,
//! complete) is reported apart; the baseline is the rent of an account holding the same
//! answer, what writing answers into accounts would cost. Direct delivery is measured the
//! same way: its appends are `append_root`s, its chunks came from the provider's endpoint.

use super::{answers_dir, question, settings, user, Bed};
use crate::cli::Output;
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use chainference::compression::tree_account_len;
use chainference::state::Delivery;
use chainference_client::ask::{ask, Answered, Question};
use chainference_client::batcher::APPEND_COMPUTE_UNITS;
use chainference_client::direct::SavedAnswer;
use chainference_client::ledger::{history_of, Recorded, RecordedTransaction};
use chainference_client::rpc::Chain;
use chainference_provider::engine::replay::ReplayEngine;
use chainference_provider::server::TREE_BUFFER;
use clap::Args;
use std::io::Write;
use std::sync::Arc;

/// The replay corpus: English prose written for this project.
const CORPUS: &str = include_str!("../../fixtures/corpus/prose.txt");
/// The model id the bench's providers serve.
const MODEL: &str = "bench/replay-prose";
/// Depth of the tree whose rent the figures amortize: the provider's default on a cluster.
const TREE_DEPTH: u32 = 24;
/// Depth of the trees the bench's providers append to: the local node's spl-account-compression
/// build serves depth 14 only (tools/sbf/build says why); a leaf costs the same at any depth.
const LOCAL_TREE_DEPTH: u32 = 14;

/// `chainference bench cost` options.
#[derive(Args, Clone, Debug)]
pub struct CostArgs {
    /// Tokens of each answer.
    #[arg(long, default_value_t = 4_000)]
    pub tokens: u32,
    /// Filled answers measured (as fast as the replay engine goes).
    #[arg(long, default_value_t = 4)]
    pub answers: u32,
    /// Tokens per second of the answers on the latency curve.
    #[arg(long, default_value_t = 30.0)]
    pub rate: f64,
    /// Latency bounds on the curve, seconds (0 = filled transactions).
    #[arg(long, value_delimiter = ',', default_values_t = [0.4, 1.0, 2.0, 5.0, 0.0])]
    pub latencies: Vec<f64>,
    /// The stated priority fee, micro-lamports per compute unit.
    #[arg(long, default_value_t = 10_000)]
    pub priority_price: u64,
    /// Direct answers with a 1 s latency bound at `--rate` asked of one provider at once,
    /// whose roots share transactions (one such answer is also asked alone, and `--answers`
    /// as fast as they come).
    #[arg(long = "direct-together", default_value_t = 8)]
    pub direct_together: u32,
    /// Tokens of one long direct answer at `LONG_RATE` tokens a second, whose roots go on
    /// chain a few at a time before its completion (0: none).
    #[arg(long = "direct-long", default_value_t = 20_000)]
    pub direct_long: u32,
}

/// One configuration's answers, as the ledger has them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Figures {
    /// What was run.
    pub label: String,
    /// The request's latency bound, seconds (0: filled transactions).
    pub latency_secs: f64,
    /// Tokens per second generated (0: as fast as the engine goes).
    pub tokens_per_second: f64,
    /// Priority fee, micro-lamports per compute unit.
    pub compute_unit_price: u64,
    /// Answers measured.
    pub answers: u32,
    /// Answer tokens, all answers.
    pub tokens: u64,
    /// Answer text, bytes.
    pub text_bytes: u64,
    /// Ciphertext delivered, bytes (on chain, or from the endpoint for direct delivery).
    pub ciphertext_bytes: u64,
    /// How the answers were delivered.
    pub delivery: String,
    /// Append transactions (`append_batch`, or `append_root` for direct delivery).
    pub appends: u64,
    /// Mean serialized size of an append transaction, bytes (of 1,232).
    pub append_bytes_mean: f64,
    /// Mean compute units of an append transaction, as the node metered them.
    pub append_compute_units_mean: f64,
    /// The most compute units an append transaction consumed.
    pub append_compute_units_max: u64,
    /// Fees of the appends, lamports.
    pub append_fees: u64,
    /// Answers whose completion rode in the final append's transaction.
    pub completions_shared: u32,
    /// The marginal fees: every fee of the requests less their fixed part, lamports.
    pub marginal_fees: u64,
    /// The tree's rent for the leaves used, amortized over its capacity, lamports.
    pub tree_rent: f64,
    /// Marginal cost: the marginal fees and the amortized tree rent per answer token,
    /// lamports.
    pub lamports_per_token: f64,
    /// The fixed part of each request, lamports, mean: the fees of its create, prompt and lock
    /// transactions and of its completion (a transaction's base fee where the completion rode
    /// with the final append).
    pub fixed_lamports: f64,
    /// The same answers' ciphertext in rent-exempt accounts, per token, lamports (baseline).
    pub rent_per_token: f64,
}

/// The whole report.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// Tokens of each answer.
    pub tokens_per_answer: u32,
    /// Text bytes per token in the corpus (SmolLM2's tokenizer: 4.71).
    pub corpus_bytes_per_token: f64,
    /// Rent of the depth-24 tree, lamports, and leaves it holds.
    pub tree_rent: u64,
    /// Leaves of the tree.
    pub tree_capacity: u64,
    /// The most compute units an append transaction consumed, as the node metered them.
    pub append_compute_units_max: u64,
    /// Compute units an append with a priority fee asks for.
    pub priced_append_compute_unit_limit: u32,
    /// Each configuration.
    pub runs: Vec<Figures>,
}

/// A provider the bench runs: its engine's pace and its priority fee.
struct Lane {
    operator: Pubkey,
    rate: f64,
    price: u64,
}

/// One answer to measure: which lane, which latency bound, which delivery.
struct Plan {
    label: String,
    lane: usize,
    latency_secs: f64,
    delivery: Delivery,
    tokens: u32,
}

/// Tokens a second of the long direct answer: a fast model's pace.
const LONG_RATE: f64 = 2_000.0;

/// Runs the benchmark and prints its figures.
pub async fn run(args: &CostArgs, output: Output) -> Result<()> {
    anyhow::ensure!(
        args.tokens > 0 && args.answers > 0 && args.rate > 0.0,
        "--tokens, --answers and --rate must be above 0"
    );
    let bed = Bed::start().await?;
    let chain = bed.chain.clone();
    let corpus_engine = ReplayEngine::new(CORPUS, 0.0);
    let corpus_bytes_per_token = CORPUS.len() as f64 / corpus_engine.corpus_tokens() as f64;

    // Five providers: filled answers as fast as they come, the same with a priority fee,
    // answers at a human pace for the latency curve, direct answers at that pace asked
    // together, and a long direct answer at a fast model's pace.
    let paces = [
        (0.0, 0),
        (0.0, args.priority_price),
        (args.rate, 0),
        (args.rate, 0),
        (LONG_RATE, 0),
    ];
    let started = futures_util::future::try_join_all(paces.iter().map(|&(rate, price)| {
        let mut settings = settings(MODEL, 16, LOCAL_TREE_DEPTH, price);
        // The replay engine has no context of its own; the long direct answer needs room.
        settings.models[0].context_length = args.direct_long.max(args.tokens) + 1_024;
        bed.serve(settings, Arc::new(ReplayEngine::new(CORPUS, rate)))
    }))
    .await?;
    let mut lanes = Vec::new();
    let mut serving = Vec::new();
    for ((operator, task), (rate, price)) in started.into_iter().zip(paces) {
        lanes.push(Lane {
            operator,
            rate,
            price,
        });
        serving.push(task);
    }
    let plan = |label: String, lane: usize, latency_secs: f64, delivery: Delivery| Plan {
        label,
        lane,
        latency_secs,
        delivery,
        tokens: args.tokens,
    };
    let mut plans: Vec<Plan> = (0..args.answers)
        .map(|_| plan("filled".into(), 0, 0.0, Delivery::Chain))
        .collect();
    plans.push(plan(
        format!("filled, priority {} µL/CU", args.priority_price),
        1,
        0.0,
        Delivery::Chain,
    ));
    let paced = |latency: f64| match latency {
        0.0 => format!("filled at {} tok/s", args.rate),
        secs => format!("latency {secs} s at {} tok/s", args.rate),
    };
    for latency in &args.latencies {
        plans.push(plan(paced(*latency), 2, *latency, Delivery::Chain));
    }
    for _ in 0..args.answers {
        plans.push(plan("direct, filled".into(), 0, 0.0, Delivery::Direct));
    }
    plans.push(plan(
        format!("direct, {}, alone", paced(1.0)),
        2,
        1.0,
        Delivery::Direct,
    ));
    for _ in 0..args.direct_together {
        let label = format!("direct, {}, {} together", paced(1.0), args.direct_together);
        plans.push(plan(label, 3, 1.0, Delivery::Direct));
    }
    if args.direct_long > 0 {
        plans.push(Plan {
            tokens: args.direct_long,
            ..plan(
                format!("direct, {} tokens at {LONG_RATE} tok/s", args.direct_long),
                4,
                0.0,
                Delivery::Direct,
            )
        });
    }
    // Direct answers are saved here (their only copy), to count their ciphertext.
    let answers_dir = answers_dir("cost");
    eprintln!(
        "Asking {} questions of {} tokens at once (the paced ones take about {:.0} s)…",
        plans.len(),
        args.tokens,
        f64::from(args.tokens) / args.rate
    );
    let questions: Vec<Question> = plans
        .iter()
        .enumerate()
        .map(|(index, plan)| {
            let mut question = question(
                MODEL,
                user(&format!("Bench question {index}.")),
                plan.tokens,
                plan.latency_secs,
                lanes[plan.lane].operator,
            );
            question.terms.delivery = plan.delivery;
            question.answers_dir = Some(answers_dir.clone());
            question
        })
        .collect();
    let mut asking = Vec::new();
    for question in &questions {
        let wallet = bed.wallet(1_000_000_000)?;
        let (chain, question) = (chain.clone(), question.clone());
        asking.push(tokio::spawn(async move {
            ask(&chain, &wallet, &question, |_| {}).await
        }));
    }
    let mut answers = Vec::new();
    for asked in asking {
        answers.push(asked.await?.context("a bench question was not answered")?);
    }
    for task in serving {
        task.abort();
    }

    let tree_len = tree_account_len(TREE_DEPTH, TREE_BUFFER);
    let tree_rent = rent(&chain, tree_len).await?;
    let tree_capacity = 1u64 << TREE_DEPTH;
    let mut runs: Vec<Figures> = Vec::new();
    for ((plan, question), answered) in plans.iter().zip(&questions).zip(&answers) {
        let history = history_of(&chain, &answered.request).await?;
        let text = corpus_engine.expected_text(&question.prompt, answered.answer_tokens);
        let mut figures = measure(plan, &lanes[plan.lane], text.len(), answered, &history);
        if plan.delivery == Delivery::Direct {
            let saved = SavedAnswer::read(&SavedAnswer::path_in(&answers_dir, &answered.request))?;
            figures.ciphertext_bytes = saved
                .batches
                .iter()
                .flat_map(|batch| &batch.chunks)
                .map(|chunk| chunk.ciphertext.len() as u64)
                .sum();
        }
        figures.tree_rent = figures.appends as f64 * tree_rent as f64 / tree_capacity as f64;
        figures.rent_per_token =
            rent(&chain, figures.ciphertext_bytes as usize).await? as f64 / figures.tokens as f64;
        match runs.iter_mut().find(|run| run.label == figures.label) {
            Some(run) => merge(run, &figures),
            None => runs.push(figures),
        }
    }
    let _ = std::fs::remove_dir_all(&answers_dir);
    for run in &mut runs {
        run.lamports_per_token = (run.marginal_fees as f64 + run.tree_rent) / run.tokens as f64;
    }
    let report = Report {
        tokens_per_answer: args.tokens,
        corpus_bytes_per_token,
        tree_rent,
        tree_capacity,
        append_compute_units_max: runs
            .iter()
            .map(|run| run.append_compute_units_max)
            .max()
            .unwrap_or(0),
        priced_append_compute_unit_limit: APPEND_COMPUTE_UNITS,
        runs,
    };
    bed.finish(output, &report, print_report).await
}

/// One answer's figures from its transactions on the ledger.
fn measure(
    plan: &Plan,
    lane: &Lane,
    text_bytes: usize,
    answered: &Answered,
    history: &[RecordedTransaction],
) -> Figures {
    let (appends, rest): (Vec<&RecordedTransaction>, Vec<&RecordedTransaction>) = history
        .iter()
        .partition(|transaction| !transaction.batches.is_empty() || !transaction.roots.is_empty());
    let ciphertext_bytes = appends
        .iter()
        .flat_map(|transaction| &transaction.batches)
        .flat_map(|batch| &batch.chunks)
        .map(|chunk| chunk.ciphertext.len() as u64)
        .sum();
    let completing = appends
        .iter()
        .find(|transaction| transaction.settled.is_some());
    let shared = completing.is_some();
    // A one-signature transaction's fee, as the create paid it: what a completion of its own
    // would have cost.
    let base_fee = history
        .iter()
        .find(|transaction| {
            transaction
                .instructions
                .iter()
                .any(|instruction| matches!(instruction, Recorded::Create { .. }))
        })
        .map_or(0, |transaction| transaction.fee);
    // A transaction of several requests' roots is paid for by each in proportion.
    let append_fees: u64 = appends
        .iter()
        .map(|transaction| match transaction.all_roots {
            0 | 1 => transaction.fee,
            all => transaction.fee * transaction.roots.len() as u64 / all as u64,
        })
        .sum();
    // The completion's signatures: the operator's, and a direct answer's acknowledgement.
    let completion_in_appends = completing.map_or(0, |transaction| {
        base_fee * (1 + u64::from(transaction.acknowledgement.is_some()))
    });
    Figures {
        label: plan.label.clone(),
        latency_secs: plan.latency_secs,
        tokens_per_second: lane.rate,
        compute_unit_price: lane.price,
        delivery: format!("{:?}", plan.delivery).to_lowercase(),
        answers: 1,
        tokens: u64::from(answered.answer_tokens),
        text_bytes: text_bytes as u64,
        ciphertext_bytes,
        appends: appends.len() as u64,
        append_bytes_mean: appends.iter().map(|t| t.bytes as f64).sum::<f64>()
            / appends.len().max(1) as f64,
        append_compute_units_mean: appends.iter().map(|t| t.compute_units as f64).sum::<f64>()
            / appends.len().max(1) as f64,
        append_compute_units_max: appends.iter().map(|t| t.compute_units).max().unwrap_or(0),
        append_fees,
        completions_shared: u32::from(shared),
        marginal_fees: append_fees.saturating_sub(completion_in_appends),
        tree_rent: 0.0,
        lamports_per_token: 0.0,
        fixed_lamports: (rest.iter().map(|transaction| transaction.fee).sum::<u64>()
            + completion_in_appends) as f64,
        rent_per_token: 0.0,
    }
}

/// Adds one more answer's figures to a configuration's.
fn merge(run: &mut Figures, more: &Figures) {
    let answers = f64::from(run.answers);
    run.append_bytes_mean = weighted_mean(
        (run.append_bytes_mean, run.appends),
        (more.append_bytes_mean, more.appends),
    );
    run.append_compute_units_mean = weighted_mean(
        (run.append_compute_units_mean, run.appends),
        (more.append_compute_units_mean, more.appends),
    );
    run.append_compute_units_max = run
        .append_compute_units_max
        .max(more.append_compute_units_max);
    run.fixed_lamports = (run.fixed_lamports * answers + more.fixed_lamports) / (answers + 1.0);
    run.rent_per_token = weighted_mean(
        (run.rent_per_token, run.tokens),
        (more.rent_per_token, more.tokens),
    );
    run.answers += 1;
    run.tokens += more.tokens;
    run.text_bytes += more.text_bytes;
    run.ciphertext_bytes += more.ciphertext_bytes;
    run.appends += more.appends;
    run.append_fees += more.append_fees;
    run.completions_shared += more.completions_shared;
    run.marginal_fees += more.marginal_fees;
    run.tree_rent += more.tree_rent;
}

/// The mean of two means, each weighted by its count (0 when both counts are 0).
fn weighted_mean((a, a_count): (f64, u64), (b, b_count): (f64, u64)) -> f64 {
    (a * a_count as f64 + b * b_count as f64) / (a_count + b_count).max(1) as f64
}

/// The rent-exempt minimum of an account of `len` bytes.
async fn rent(chain: &Chain, len: usize) -> Result<u64> {
    Ok(chain
        .call(|rpc| async move { rpc.get_minimum_balance_for_rent_exemption(len).await })
        .await?)
}

fn print_report(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "Cost of answers on chain: {} tokens each, replay engine over the prose corpus \
         ({:.2} bytes a token; SmolLM2's tokenizer: 4.71)",
        report.tokens_per_answer, report.corpus_bytes_per_token
    )?;
    writeln!(
        out,
        "Tree: depth 24, rent {} lamports over {} leaves ({:.6} lamports a leaf)",
        report.tree_rent,
        report.tree_capacity,
        report.tree_rent as f64 / report.tree_capacity as f64
    )?;
    writeln!(
        out,
        "{:<42} {:>7} {:>7} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9} {:>10} {:>11}",
        "run",
        "answers",
        "appends",
        "tx bytes",
        "CU mean",
        "CU max",
        "text/ct",
        "L/token",
        "fixed L",
        "rent L/tok",
        "L/1k bytes"
    )?;
    for run in &report.runs {
        writeln!(
            out,
            "{:<42} {:>7} {:>7} {:>8.0} {:>8.0} {:>8} {:>9.2} {:>10.3} {:>9.0} {:>10.1} {:>11.2}",
            run.label,
            run.answers,
            run.appends,
            run.append_bytes_mean,
            run.append_compute_units_mean,
            run.append_compute_units_max,
            run.text_bytes as f64 / run.ciphertext_bytes.max(1) as f64,
            run.lamports_per_token,
            run.fixed_lamports,
            run.rent_per_token,
            (run.marginal_fees as f64 + run.tree_rent) * 1_000.0 / run.text_bytes.max(1) as f64,
        )?;
    }
    writeln!(
        out,
        "L/token: the marginal cost, the request's fees less its fixed part, with the tree's \
         rent, per answer token; fixed L: its create, prompt, lock and complete (the \
         completion's signatures, with a direct answer's acknowledgement, where it rode with \
         the final append: {} of {} answers); rent L/tok: the same ciphertext kept in \
         rent-exempt accounts (the baseline). Direct: chunks from the provider's endpoint as \
         they are generated (text/ct: a chunk a token costs ciphertext, off chain), a root \
         per 2,048-token batch on chain, four a transaction once acknowledged and the rest with \
         the completion, roots of requests posting at once sharing a transaction.",
        report
            .runs
            .iter()
            .map(|run| run.completions_shared)
            .sum::<u32>(),
        report.runs.iter().map(|run| run.answers).sum::<u32>()
    )?;
    writeln!(
        out,
        "Append transactions took at most {} compute units as the node metered them (sBPF); \
         appends with a priority fee ask for {} each.",
        report.append_compute_units_max, report.priced_append_compute_unit_limit
    )?;
    Ok(())
}
