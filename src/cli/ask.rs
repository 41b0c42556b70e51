//! `chainference ask`: one question, its answer streamed to the terminal as it lands on chain
//! (checked and decrypted batch by batch), then tokens, cost, fee and refund. Everything that
//! can be refused is checked before a lamport moves. By default only servers with a record may
//! lock the request (`--accept-newcomers` lets anyone); an answer whose token claims exceed its
//! text is flagged, and the output says so.

use super::models::by_model;
use super::{lamports_of, sol, Global, Output};
use anyhow::{bail, Result};
use chainference::constants::{
    MAX_OUTPUT_TOKENS, MAX_PROMPT_LEN, MAX_PROMPT_TOKENS, MAX_TIME_LIMIT_SECS,
};
use chainference::state::{min_prompt_tokens, Delivery, Filters, Request, RequestTerms};
use chainference_client::accounts::servers;
use chainference_client::ask::{
    ask, resume, Answered, AskEvent, FlagOutcome, Overclaimed, Question,
};
use chainference_client::envelope::{
    sealed_prompt_len, Compression, Message, PromptEnvelope, Sampling,
};
use chainference_client::rpc::Chain;
use chainference_prover::core::bill_for;
use clap::Args;
use serde_json::json;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::io::Write;
use std::str::FromStr;

/// Lamports a request's transactions and rent need beyond the stake (create, prompt and rent
/// of the request account, which comes back at close).
const OVERHEAD_LAMPORTS: u64 = 10_000_000;

/// `ask`'s arguments.
#[derive(Args, Clone, Debug, Default)]
pub struct AskArgs {
    /// Hugging Face id of the model.
    #[arg(long, required_unless_present = "resume")]
    pub model: Option<String>,
    /// The most the answer may cost, in SOL (escrowed as the stake; the rest comes back).
    #[arg(long = "max-cost", required_unless_present = "resume")]
    pub max_cost: Option<String>,
    /// Most answer tokens.
    #[arg(long = "max-tokens", default_value_t = 512)]
    pub max_tokens: u32,
    /// Only these servers (operator keys) may take it.
    #[arg(long = "server")]
    pub servers: Vec<String>,
    /// Only servers with at least this many completed answers [default: 3, so a server with no
    /// record cannot lock the request; 0 with --accept-newcomers].
    #[arg(long = "min-completed", value_name = "N")]
    pub min_completed: Option<u64>,
    /// Only servers whose success ratio (answers not flagged) is at least this percentage,
    /// judged on its Wilson lower bound [default: 40: three completed answers with none flagged
    /// give 43.8%, one flag among three fails it; 0 with --accept-newcomers].
    #[arg(long = "min-success", value_name = "PERCENT", value_parser = percent)]
    pub min_success: Option<u16>,
    /// Let servers with no record lock the request: --min-completed and --min-success default
    /// to 0 (explicit values still apply). A new server is trusted with the whole stake: its
    /// token claims are checked against the text and an overclaiming answer is flagged, but
    /// not refunded.
    #[arg(long = "accept-newcomers")]
    pub accept_newcomers: bool,
    /// Only servers preferred in blind comparisons at least this percentage of the time,
    /// judged on its Wilson lower bound.
    #[arg(long = "min-preference", value_name = "PERCENT", value_parser = percent)]
    pub min_preference: Option<u16>,
    /// Only servers whose answers the time limit cut off at most this percentage of the time.
    #[arg(long = "max-failures", value_name = "PERCENT", value_parser = percent)]
    pub max_failures: Option<u16>,
    /// How the answer travels: `chain` (chunks in the append transactions) or `direct` (from
    /// the server's endpoint, only batch roots on chain: far cheaper; the answer is saved
    /// under --answers-dir, its only copy).
    #[arg(long, value_enum, default_value_t = DeliveryArg::Chain)]
    pub delivery: DeliveryArg,
    /// Longest wait between batches, seconds (0: the server fills transactions, cheapest).
    #[arg(long, default_value_t = 2.0)]
    pub latency: f64,
    /// A system prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Highest input price, lamports per million tokens (default: what --max-cost allows).
    #[arg(long = "max-input-price")]
    pub max_input_price: Option<u64>,
    /// Highest output price, lamports per million tokens (default: what --max-cost allows).
    #[arg(long = "max-output-price")]
    pub max_output_price: Option<u64>,
    /// Sampling temperature (default: greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Don't compress the answer (compression leaks through lengths when an attacker
    /// controls part of the text).
    #[arg(long = "no-compress")]
    pub no_compress: bool,
    /// Write the answer's text to this file as it arrives, instead of to standard output
    /// (progress and the bill still go to standard error).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Reattach to this request instead: its answer whole from the start, then live.
    #[arg(long, value_name = "REQUEST", conflicts_with_all = ["model", "max_cost", "prompt"])]
    pub resume: Option<String>,
    /// The prompt.
    #[arg(required_unless_present = "resume")]
    pub prompt: Option<String>,
}

/// `--delivery`'s values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryArg {
    /// Chunks in the append transactions.
    #[default]
    Chain,
    /// Chunks from the server's endpoint, roots on chain.
    Direct,
}

impl From<DeliveryArg> for Delivery {
    fn from(arg: DeliveryArg) -> Self {
        match arg {
            DeliveryArg::Chain => Delivery::Chain,
            DeliveryArg::Direct => Delivery::Direct,
        }
    }
}

/// A percentage (0 to 100, decimals allowed) as basis points.
fn percent(text: &str) -> std::result::Result<u16, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage: write it like 90"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{text} is not between 0 and 100"));
    }
    Ok((value * 100.0).round() as u16)
}

/// Tokens a text is declared as: one per three bytes, rounded up (above what tokenizers
/// give on prose, so the declared count does not undercharge), plus four per message.
pub fn estimate_tokens(messages: &[Message]) -> u32 {
    let tokens: usize = messages
        .iter()
        .map(|m| m.content.len().div_ceil(3) + 4)
        .sum();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// Seconds the answer may take: a minute plus a tenth of a second a token.
pub fn time_limit_for(max_tokens: u32) -> u32 {
    (60 + max_tokens / 10).min(MAX_TIME_LIMIT_SECS)
}

/// Completed answers a server needs by default to lock a request (`--min-completed`).
pub const DEFAULT_MIN_COMPLETED: u64 = 3;
/// The Wilson lower bound of its success ratio a server needs by default, in basis points
/// (`--min-success 40`): three completed answers with none flagged give 4,384, one flagged
/// among three gives 2,076, so a server needs a clean record of three answers (or, say, nine
/// of ten unflagged: 5,958) before it may lock a default request.
pub const DEFAULT_MIN_SUCCESS_BPS: u16 = 4_000;

/// The reputation filters `args` ask for: by default only servers with a record
/// ([`DEFAULT_MIN_COMPLETED`], [`DEFAULT_MIN_SUCCESS_BPS`]); with `--accept-newcomers` anyone.
/// Explicit `--min-completed` and `--min-success` win either way.
pub fn filters_of(args: &AskArgs) -> Filters {
    let (min_completed, min_success_bps) = if args.accept_newcomers {
        (0, 0)
    } else {
        (DEFAULT_MIN_COMPLETED, DEFAULT_MIN_SUCCESS_BPS)
    };
    Filters {
        min_completed: args.min_completed.unwrap_or(min_completed),
        min_success_bps: args.min_success.unwrap_or(min_success_bps),
        min_preference_bps: args.min_preference.unwrap_or(0),
        max_failure_bps: args.max_failures.unwrap_or(10_000),
    }
}

/// Checks the arguments against the chain's offers and builds the question.
pub async fn question(global: &Global, args: &AskArgs, chain: &Chain) -> Result<Question> {
    let (Some(model), Some(max_cost), Some(text)) = (&args.model, &args.max_cost, &args.prompt)
    else {
        bail!("ask needs --model, --max-cost and a prompt (or --resume REQUEST)");
    };
    let stake = lamports_of(max_cost)?;
    if !(1..=MAX_OUTPUT_TOKENS).contains(&args.max_tokens) {
        bail!("--max-tokens must be between 1 and {MAX_OUTPUT_TOKENS}");
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message {
            role: "system".into(),
            content: system.clone(),
        });
    }
    messages.push(Message {
        role: "user".into(),
        content: text.clone(),
    });
    let estimated = estimate_tokens(&messages);
    let prompt = PromptEnvelope {
        messages,
        sampling: Sampling {
            temperature: args.temperature,
            ..Sampling::default()
        },
        max_tokens: args.max_tokens,
        compression: if args.no_compress {
            Compression::None
        } else {
            Compression::Brotli
        },
    };
    let sealed_len = sealed_prompt_len(&prompt)?;
    // The program refuses a seal whose size needs more declared tokens than these.
    let prompt_tokens = estimated.max(min_prompt_tokens(
        u32::try_from(sealed_len).unwrap_or(u32::MAX),
    ));
    if sealed_len > MAX_PROMPT_LEN as usize || prompt_tokens > MAX_PROMPT_TOKENS {
        bail!(
            "the prompt is too long ({sealed_len} bytes; at most {} KiB sealed): shorten it",
            MAX_PROMPT_LEN / 1024
        );
    }
    // What the stake can pay per million tokens if every token were billed at one price.
    let billable = u128::from(prompt_tokens) + u128::from(args.max_tokens);
    let affordable = u64::try_from(u128::from(stake) * 1_000_000 / billable).unwrap_or(u64::MAX);
    let max_input_price = args.max_input_price.unwrap_or(affordable);
    let max_output_price = args.max_output_price.unwrap_or(affordable);
    let prompt_cost = bill_for(prompt_tokens, max_input_price, 0, 0).unwrap_or(u64::MAX);
    if prompt_cost > stake {
        bail!(
            "--max-cost {} does not cover the prompt (~{prompt_tokens} tokens at up to {max_input_price} lamports per million = {}): raise --max-cost or lower --max-input-price",
            sol(stake),
            sol(prompt_cost)
        );
    }
    let allowed_servers = args
        .servers
        .iter()
        .map(|key| {
            anchor_lang::prelude::Pubkey::from_str(key)
                .map_err(|_| anyhow::anyhow!("--server {key} is not a public key"))
        })
        .collect::<Result<Vec<_>>>()?;
    if allowed_servers.len() > chainference::constants::MAX_ALLOWED_SERVERS {
        bail!(
            "at most {} --server keys",
            chainference::constants::MAX_ALLOWED_SERVERS
        );
    }

    let filters = filters_of(args);
    let list = servers(chain).await?;
    let models = by_model(&list);
    let Some(offers) = models.get(model.as_str()) else {
        bail!(
            "no server offers model {} on {}: `chainference models` lists what is offered",
            model,
            global.url
        );
    };
    let fitting: Vec<_> = offers
        .offers
        .iter()
        .filter(|(_, server, _)| {
            allowed_servers.is_empty() || allowed_servers.contains(&server.operator)
        })
        .filter(|(_, server, _)| filters.admit(&server.reputation).is_ok())
        .collect();
    if fitting.is_empty() {
        bail!("no server offering {} meets --server, --min-completed, --min-success, --min-preference and --max-failures (by default a server needs {DEFAULT_MIN_COMPLETED} completed answers and a success lower bound of {}%; --accept-newcomers lets a server with no record take it): `chainference models` lists who offers it and their record", model, DEFAULT_MIN_SUCCESS_BPS / 100);
    }
    let priced: Vec<_> = fitting
        .iter()
        .filter(|(_, _, offer)| {
            offer.input_price <= max_input_price
                && offer.output_price <= max_output_price
                && offer.min_stake <= stake
        })
        .collect();
    if priced.is_empty() {
        let cheapest = fitting
            .iter()
            .filter_map(|(_, _, offer)| {
                bill_for(
                    prompt_tokens,
                    offer.input_price,
                    args.max_tokens,
                    offer.output_price,
                )
                .map(|bill| bill.max(offer.min_stake))
            })
            .min()
            .unwrap_or(u64::MAX);
        bail!(
            "every server's price for {} is above your caps: {} tokens there need --max-cost {} or more (or fewer --max-tokens)",
            model,
            billable,
            sol(cheapest)
        );
    }
    if priced.iter().all(|(_, _, offer)| {
        u64::from(prompt_tokens) + u64::from(args.max_tokens) > u64::from(offer.context_length)
    }) {
        bail!(
            "the prompt (~{prompt_tokens} tokens) plus --max-tokens {} exceeds {}'s context length: shorten the prompt or lower --max-tokens",
            args.max_tokens,
            model
        );
    }
    let terms = RequestTerms {
        model: model.clone(),
        max_output_tokens: args.max_tokens,
        max_input_price,
        max_output_price,
        prompt_tokens,
        allowed_servers,
        filters,
        time_limit_secs: time_limit_for(args.max_tokens),
        max_batch_wait_ms: (args.latency.max(0.0) * 1000.0) as u32,
        delivery: args.delivery.into(),
        key_version: 1,
    };
    // The program's own rule, so no request is created that no server may lock.
    let proposed = Request::proposed(terms.clone(), stake);
    let refusals: Vec<_> = priced
        .iter()
        .filter_map(|(_, server, _)| proposed.lockable_by(server, 0).err())
        .collect();
    if let (Some(refusal), true) = (refusals.first(), refusals.len() == priced.len()) {
        bail!("no server offering {model} may take this request ({refusal}): `chainference servers` shows who is active, has room and, for --delivery direct, lists an endpoint");
    }
    Ok(Question {
        terms,
        stake,
        prompt,
        answers_dir: Some(global.answers_dir()),
    })
}

/// Asks and prints.
pub async fn run(global: &Global, args: &AskArgs) -> Result<()> {
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let text_file = args.out.as_deref().map(text_file).transpose()?;
    if let Some(request) = &args.resume {
        let request = super::request_address(request)?;
        let mut stdout = std::io::stdout();
        let printer = Printer::new(global.output, &mut stdout).text_to(text_file);
        return follow_and_print(&chain, &wallet, &request, &global.answers_dir(), printer).await;
    }
    let question = question(global, args, &chain).await?;
    let mut stdout = std::io::stdout();
    let printer = Printer::new(global.output, &mut stdout).text_to(text_file);
    ask_and_print(&chain, &wallet, &question, printer).await
}

/// Opens `--out`'s file for the answer's text.
fn text_file(path: &std::path::Path) -> Result<(std::path::PathBuf, std::fs::File)> {
    let file = std::fs::File::create(path).map_err(|error| {
        anyhow::anyhow!(
            "cannot write the answer to {} ({error}): pick a writable --out path",
            path.display()
        )
    })?;
    Ok((path.to_path_buf(), file))
}

/// Asks `question` as `wallet`, streaming the answer through `printer` (the progress and the
/// bill go to stderr).
pub async fn ask_and_print(
    chain: &Chain,
    wallet: &Keypair,
    question: &Question,
    mut printer: Printer<'_>,
) -> Result<()> {
    let balance = chain.balance(&wallet.pubkey()).await?;
    if balance < question.stake + OVERHEAD_LAMPORTS {
        bail!(
            "the wallet {} holds {}; this request needs {} of stake plus about {} for rent and fees: fund the wallet (on devnet: `solana airdrop 1`)",
            wallet.pubkey(),
            sol(balance),
            sol(question.stake),
            sol(OVERHEAD_LAMPORTS)
        );
    }
    let answered = ask(chain, wallet, question, |event| printer.event(event)).await?;
    printer.finish(&answered)
}

/// Reattaches to `request`: its answer whole from the start, then live, then the bill.
pub async fn follow_and_print(
    chain: &Chain,
    wallet: &Keypair,
    request: &anchor_lang::prelude::Pubkey,
    answers_dir: &std::path::Path,
    mut printer: Printer<'_>,
) -> Result<()> {
    let answered = resume(chain, wallet, request, Some(answers_dir), |event| {
        printer.event(event)
    })
    .await?;
    printer.finish(&answered)
}

/// The line saying that `answered`'s server claimed more tokens than its text holds and what
/// became of the flag; `None` when its claims held.
pub fn overclaim_line(answered: &Answered) -> Option<String> {
    let Overclaimed { overclaim, flag } = answered.overclaimed.as_ref()?;
    let claims = format!(
        "The server claimed {} tokens for {} bytes of text: more tokens than its text can hold (a token is at least one byte; {} allowed for tokens without text)",
        overclaim.claimed, overclaim.text_bytes, overclaim.allowance
    );
    Some(match flag {
        FlagOutcome::Flagged => format!(
            "{claims}. The answer was flagged: server {}'s success ratio counts it against it.",
            answered.operator
        ),
        FlagOutcome::AlreadyFlagged => format!("{claims}. The answer was flagged already."),
        FlagOutcome::Failed(reason) => format!(
            "{claims}. Flagging it failed ({reason}): `chainference flag {}` while its flag window lasts.",
            answered.request
        ),
    })
}

/// Prints a question's progress and answer as it arrives, then the bill.
pub struct Printer<'a> {
    display: bool,
    out: &'a mut dyn Write,
    /// Where the text goes instead of `out`, as it arrives (`--out`).
    text_file: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
    answer: String,
}

impl<'a> Printer<'a> {
    /// Prints in `output`'s form to `out` (progress and bill to stderr when displaying).
    pub fn new(output: Output, out: &'a mut dyn Write) -> Self {
        Self {
            display: output == Output::Display,
            out,
            text_file: None,
            answer: String::new(),
        }
    }

    /// Sends the answer's text to a file as it arrives instead (memory stays bounded however
    /// long the answer; a JSON document then names the file).
    pub fn text_to(mut self, file: Option<(std::path::PathBuf, std::fs::File)>) -> Self {
        self.text_file = file.map(|(path, file)| (path, std::io::BufWriter::new(file)));
        self
    }

    /// Shows one step: text streams out at once when displaying, and is kept for JSON.
    pub fn event(&mut self, event: AskEvent) {
        if let (AskEvent::Text(text), Some((path, file))) = (&event, &mut self.text_file) {
            if let Err(error) = file.write_all(text.as_bytes()).and_then(|()| file.flush()) {
                eprintln!("warning: writing {} failed: {error}", path.display());
            }
            return;
        }
        match event {
            AskEvent::Created(request) if self.display => {
                eprintln!("Request {request} created; waiting for a server…")
            }
            AskEvent::Locked { operator } if self.display => {
                eprintln!("Locked by {operator}; prompt sealed to its key.")
            }
            AskEvent::Text(text) if self.display => {
                let _ = write!(self.out, "{text}");
                let _ = self.out.flush();
            }
            AskEvent::Text(text) => self.answer.push_str(&text),
            _ => {}
        }
    }

    /// Prints how it ended: tokens, bill, fee, refund and timings.
    pub fn finish(self, answered: &Answered) -> Result<()> {
        let t = answered.timings;
        let finish = answered.finish.map_or("unfinished".to_string(), |reason| {
            format!("{reason:?}").to_lowercase()
        });
        let answer_file = match self.text_file {
            Some((path, mut file)) => {
                file.flush().map_err(|error| {
                    anyhow::anyhow!("writing the answer to {} failed: {error}", path.display())
                })?;
                Some(path.display().to_string())
            }
            None => None,
        };
        if self.display {
            match &answer_file {
                Some(path) => eprintln!("The answer is in {path}."),
                None => writeln!(self.out)?,
            }
            eprintln!(
                "{} answer tokens ({finish}) in {} batches; cost {} (fee {}), refund {}",
                answered.answer_tokens,
                answered.batches,
                sol(answered.bill),
                sol(answered.fee),
                sol(answered.refund)
            );
            eprintln!(
                "first text after {:.2} s: created {:.2} s, locked {:.2} s, prompt {:.2} s; answered {:.2} s",
                t.first_text.as_secs_f64(),
                t.created.as_secs_f64(),
                t.locked.as_secs_f64(),
                t.prompt_sent.as_secs_f64(),
                t.answered.as_secs_f64()
            );
            if let Some(line) = overclaim_line(answered) {
                eprintln!("{line}");
            }
            return Ok(());
        }
        let document = json!({
            "request": answered.request.to_string(),
            "server": answered.operator.to_string(),
            "answer": self.answer,
            "answer_file": answer_file,
            "finish": finish,
            "prompt_tokens": answered.prompt_tokens,
            "answer_tokens": answered.answer_tokens,
            "batches": answered.batches,
            "bill_lamports": answered.bill,
            "fee_lamports": answered.fee,
            "refund_lamports": answered.refund,
            "overclaimed": answered.overclaimed.as_ref().map(|overclaimed| json!({
                "claimed_tokens": overclaimed.overclaim.claimed,
                "text_bytes": overclaimed.overclaim.text_bytes,
                "allowance": overclaimed.overclaim.allowance,
                "flagged": matches!(overclaimed.flag, FlagOutcome::Flagged | FlagOutcome::AlreadyFlagged),
                "flag_error": match &overclaimed.flag {
                    FlagOutcome::Failed(reason) => Some(reason.as_str()),
                    _ => None,
                },
            })),
            "seconds": {
                "created": t.created.as_secs_f64(),
                "locked": t.locked.as_secs_f64(),
                "prompt_sent": t.prompt_sent.as_secs_f64(),
                "first_text": t.first_text.as_secs_f64(),
                "answered": t.answered.as_secs_f64(),
            },
        });
        writeln!(self.out, "{}", serde_json::to_string_pretty(&document)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainference::state::Reputation;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ask: AskArgs,
    }

    fn args(line: &[&str]) -> AskArgs {
        Cli::try_parse_from([&["ask"], line].concat())
            .expect("the arguments parse")
            .ask
    }

    fn record(completed: u64, flagged: u64) -> Reputation {
        Reputation {
            completed,
            flagged,
            ..Reputation::default()
        }
    }

    const ASK: [&str; 5] = ["--model", "m", "--max-cost", "0.01", "hi"];

    #[test]
    fn a_default_ask_refuses_a_server_with_no_record() {
        let filters = filters_of(&args(&ASK));
        assert_eq!(filters.min_completed, 3);
        assert_eq!(filters.min_success_bps, 4_000);
        assert!(filters.admit(&Reputation::default()).is_err());
        assert!(
            filters.admit(&record(2, 0)).is_err(),
            "two answers are not a record"
        );
    }

    #[test]
    fn the_default_takes_three_clean_answers_and_fails_one_flag_among_three() {
        let filters = filters_of(&args(&ASK));
        assert_eq!(record(3, 0).success_lower_bps(), 4_384);
        assert!(filters.admit(&record(3, 0)).is_ok());
        assert!(filters.admit(&record(3, 1)).is_err());
        assert!(filters.admit(&record(10, 1)).is_ok());
    }

    #[test]
    fn accept_newcomers_admits_a_server_with_no_record_and_explicit_values_win() {
        let newcomers = filters_of(&args(&[&["--accept-newcomers"], &ASK[..]].concat()));
        assert_eq!((newcomers.min_completed, newcomers.min_success_bps), (0, 0));
        assert!(newcomers.admit(&Reputation::default()).is_ok());
        let explicit = filters_of(&args(
            &[&["--accept-newcomers", "--min-completed", "5"], &ASK[..]].concat(),
        ));
        assert_eq!((explicit.min_completed, explicit.min_success_bps), (5, 0));
        let lowered = filters_of(&args(&[&["--min-success", "10"], &ASK[..]].concat()));
        assert_eq!((lowered.min_completed, lowered.min_success_bps), (3, 1_000));
    }
}
