//! `chainference ask`: one question, its answer streamed to the terminal as it lands on chain
//! (checked and decrypted batch by batch), then tokens, cost, fee and refund. Everything that
//! can be refused is checked before a lamport moves. By default only servers with a record may
//! lock the request (`--accept-newcomers` lets anyone); an answer whose token claims exceed its
//! text is flagged, and the output says so. The flags map onto the client library's
//! [`QuestionBuilder`], whose refusals are told here in the flags' terms.

use super::{lamports_of, sol, Global, Output};
use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, bail, Result};
use chainference::constants::{MAX_ALLOWED_SERVERS, MAX_OUTPUT_TOKENS};
use chainference::state::Delivery;
use chainference_client::ask::{
    ask, resume, Answered, AskEvent, FlagOutcome, Overclaimed, Question,
};
use chainference_client::envelope::Compression;
use chainference_client::market::{
    check_funds, defaults, FundsError, QuestionBuilder, QuestionError, OVERHEAD_LAMPORTS,
};
use chainference_client::rpc::Chain;
use clap::Args;
use serde_json::json;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

/// `ask`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct AskArgs {
    /// Hugging Face id of the model.
    #[arg(long, required_unless_present = "resume")]
    pub model: Option<String>,
    /// The most the answer may cost, in SOL (escrowed as the stake; the rest comes back).
    #[arg(long = "max-cost", required_unless_present = "resume")]
    pub max_cost: Option<String>,
    /// Most answer tokens.
    #[arg(long = "max-tokens", default_value_t = defaults::MAX_TOKENS)]
    pub max_tokens: u32,
    /// Which servers may answer, at what price, how often they post.
    #[command(flatten)]
    pub market: MarketArgs,
    /// How the answer travels: `chain` (chunks in the append transactions) or `direct` (from
    /// the server's endpoint, only batch roots on chain: far cheaper; the answer is saved
    /// under --answers-dir, its only copy).
    #[arg(long, value_enum, default_value_t = DeliveryArg::Chain)]
    pub delivery: DeliveryArg,
    /// A system prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Sampling temperature (default: greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
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

/// The market flags `ask` and `serve` share: which servers may answer, at what price caps, how
/// often they post, and the answer's encoding.
#[derive(Args, Clone, Debug)]
pub struct MarketArgs {
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
    /// Longest wait between batches, seconds (0: the server fills transactions, cheapest).
    #[arg(long, default_value_t = defaults::BATCH_WAIT_SECS)]
    pub latency: f64,
    /// Highest input price, lamports per million tokens (default: what the stake allows).
    #[arg(long = "max-input-price")]
    pub max_input_price: Option<u64>,
    /// Highest output price, lamports per million tokens (default: what the stake allows).
    #[arg(long = "max-output-price")]
    pub max_output_price: Option<u64>,
    /// Don't compress the answer (compression leaks through lengths when an attacker
    /// controls part of the text).
    #[arg(long = "no-compress")]
    pub no_compress: bool,
}

impl MarketArgs {
    /// `builder` with these flags applied.
    pub fn apply(&self, builder: QuestionBuilder) -> Result<QuestionBuilder> {
        Ok(builder
            .with_compression(if self.no_compress {
                Compression::None
            } else {
                Compression::Brotli
            })
            .with_servers(server_keys(&self.servers)?)
            .with_accept_newcomers(self.accept_newcomers)
            .with_min_completed(self.min_completed)
            .with_min_success_bps(self.min_success)
            .with_min_preference_bps(self.min_preference)
            .with_max_failure_bps(self.max_failures)
            .with_max_input_price(self.max_input_price)
            .with_max_output_price(self.max_output_price)
            .with_batch_wait_secs(self.latency))
    }
}

/// `--delivery`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryArg {
    /// Chunks in the append transactions.
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

/// The question `args` ask for, as a builder (direct answers saved under `answers_dir`).
pub fn builder(args: &AskArgs, answers_dir: PathBuf) -> Result<QuestionBuilder> {
    let (Some(model), Some(max_cost), Some(text)) = (&args.model, &args.max_cost, &args.prompt)
    else {
        bail!("ask needs --model, --max-cost and a prompt (or --resume REQUEST)");
    };
    let builder = QuestionBuilder::new(model, lamports_of(max_cost)?, text)
        .with_system(args.system.clone())
        .with_max_tokens(args.max_tokens)
        .with_temperature(args.temperature)
        .with_delivery(args.delivery.into())
        .with_answers_dir(Some(answers_dir));
    args.market.apply(builder)
}

/// `--server` keys as operator keys.
pub fn server_keys(keys: &[String]) -> Result<Vec<Pubkey>> {
    keys.iter()
        .map(|key| Pubkey::from_str(key).map_err(|_| anyhow!("--server {key} is not a public key")))
        .collect()
}

/// Checks the arguments against the chain's offers and builds the question.
pub async fn question(global: &Global, args: &AskArgs, chain: &Chain) -> Result<Question> {
    build(builder(args, global.answers_dir())?, global, chain).await
}

/// Builds `builder`'s question against the chain's offers, a refusal told in the flags' terms.
pub async fn build(builder: QuestionBuilder, global: &Global, chain: &Chain) -> Result<Question> {
    builder
        .build(chain)
        .await
        .map_err(|error| refusal(error, &global.url))
}

/// A refusal as one line naming the flag to change (`url`: the cluster asked).
fn refusal(error: QuestionError, url: &str) -> anyhow::Error {
    match error {
        QuestionError::TokenLimit(_) => {
            anyhow!("--max-tokens must be between 1 and {MAX_OUTPUT_TOKENS}")
        }
        QuestionError::StakeBelowPrompt {
            stake,
            prompt_tokens,
            max_input_price,
            prompt_cost,
        } => anyhow!(
            "--max-cost {} does not cover the prompt (~{prompt_tokens} tokens at up to {max_input_price} lamports per million = {}): raise --max-cost or lower --max-input-price",
            sol(stake),
            sol(prompt_cost)
        ),
        QuestionError::TooManyServers(_) => anyhow!("at most {MAX_ALLOWED_SERVERS} --server keys"),
        QuestionError::ModelNotOffered(model) => anyhow!(
            "no server offers model {model} on {url}: `chainference models` lists what is offered"
        ),
        QuestionError::NoServerAdmitted(model) => anyhow!(
            "no server offering {model} meets --server, --min-completed, --min-success, --min-preference and --max-failures (by default a server needs {} completed answers and a success lower bound of {}%; --accept-newcomers lets a server with no record take it): `chainference models` lists who offers it and their record",
            defaults::MIN_COMPLETED,
            defaults::MIN_SUCCESS_BPS / 100
        ),
        QuestionError::AboveCaps {
            model,
            tokens,
            cheapest_stake,
        } => anyhow!(
            "every server's price for {model} is above your caps: {tokens} tokens there need --max-cost {} or more (or fewer --max-tokens)",
            sol(cheapest_stake)
        ),
        QuestionError::ContextTooShort {
            model,
            prompt_tokens,
            max_tokens,
        } => anyhow!(
            "the prompt (~{prompt_tokens} tokens) plus --max-tokens {max_tokens} exceeds {model}'s context length: shorten the prompt or lower --max-tokens"
        ),
        QuestionError::NoServerMayLock { model, refusal } => anyhow!(
            "no server offering {model} may take this request ({refusal}): `chainference servers` shows who is active, has room and, for --delivery direct, lists an endpoint"
        ),
        // Told the same in any front end.
        error @ (QuestionError::PromptTooLong { .. }
        | QuestionError::Envelope(_)
        | QuestionError::Chain(_)) => error.into(),
    }
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
    check_funds(chain, &wallet.pubkey(), question.stake)
        .await
        .map_err(|error| match error {
            FundsError::Short {
                wallet,
                balance,
                stake,
            } => anyhow!(
                "the wallet {wallet} holds {}; this request needs {} of stake plus about {} for rent and fees: fund the wallet (on devnet: `solana airdrop 1`)",
                sol(balance),
                sol(stake),
                sol(OVERHEAD_LAMPORTS)
            ),
            FundsError::Chain(error) => error.into(),
        })?;
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ask: AskArgs,
    }

    fn builder_of(line: &[&str]) -> Result<QuestionBuilder> {
        let args = Cli::try_parse_from([&["ask"], line].concat())
            .expect("the arguments parse")
            .ask;
        builder(&args, PathBuf::new())
    }

    const ASK: [&str; 5] = ["--model", "m", "--max-cost", "0.01", "hi"];

    #[test]
    fn the_reputation_flags_reach_the_filters() {
        let filters = builder_of(&ASK).expect("a question").filters();
        assert_eq!((filters.min_completed, filters.min_success_bps), (3, 4_000));
        let explicit = builder_of(
            &[
                &["--accept-newcomers", "--min-completed", "5"][..],
                &["--min-preference", "12.5", "--max-failures", "20"],
                &ASK[..],
            ]
            .concat(),
        )
        .expect("a question")
        .filters();
        assert_eq!(
            (
                explicit.min_completed,
                explicit.min_success_bps,
                explicit.min_preference_bps,
                explicit.max_failure_bps
            ),
            (5, 0, 1_250, 2_000)
        );
    }

    #[test]
    fn bad_flags_are_refused_by_name() {
        let refused = |line: &[&str]| builder_of(line).expect_err("refused").to_string();
        assert!(refused(&["--model", "m", "--max-cost", "zero", "hi"]).contains("0.01"));
        assert_eq!(
            refused(&[&["--server", "nope"], &ASK[..]].concat()),
            "--server nope is not a public key"
        );
        assert_eq!(
            refusal(QuestionError::TokenLimit(0), "localnet").to_string(),
            format!("--max-tokens must be between 1 and {MAX_OUTPUT_TOKENS}")
        );
    }
}
