//! `chainference compare`: one prompt to two servers at once, both answers shown unlabelled in
//! random order, the user's pick recorded on chain (`record_comparison`) once both are paid;
//! then the servers are revealed. Both servers' comparisons rise, the preferred one's
//! `preferred` (design §6).

use super::ask::{build, overclaim_line, server_keys};
use super::{lamports_of, print_json, sol, Global, Output};
use anyhow::{anyhow, bail, Context, Result};
use chainference::state::Request;
use chainference_client::ask::{ask, Answered, AskEvent, Question};
use chainference_client::instructions::record_comparison;
use chainference_client::market::{defaults, QuestionBuilder};
use chainference_client::rpc::Chain;
use clap::Args;
use serde_json::json;
use solana_keypair::Keypair;
use std::io::BufRead;
use std::sync::Arc;

/// `compare`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// Hugging Face id of the model.
    #[arg(long)]
    pub model: String,
    /// The two servers (operator keys), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub servers: Vec<String>,
    /// The most each answer may cost, in SOL.
    #[arg(long = "max-cost")]
    pub max_cost: String,
    /// Most answer tokens for each.
    #[arg(long = "max-tokens", default_value_t = defaults::MAX_TOKENS)]
    pub max_tokens: u32,
    /// Let servers with no record take part (as `ask --accept-newcomers`; by default each needs
    /// 3 completed answers and a success lower bound of 40%).
    #[arg(long = "accept-newcomers")]
    pub accept_newcomers: bool,
    /// Pick without asking (for scripts): 1 or 2, as the answers are shown.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub prefer: Option<u8>,
    /// The prompt.
    pub prompt: String,
}

/// Asks both, shows both blind, records the pick.
pub async fn run(global: &Global, args: &CompareArgs) -> Result<()> {
    if args.servers.len() != 2 || args.servers[0] == args.servers[1] {
        bail!("--servers takes two different operator keys, comma-separated");
    }
    let stake = lamports_of(&args.max_cost)?;
    let wallet = Arc::new(global.wallet()?);
    let chain = global.chain().await?;
    let mut questions = Vec::new();
    for server in server_keys(&args.servers)? {
        let builder = QuestionBuilder::new(&args.model, stake, &args.prompt)
            .with_max_tokens(args.max_tokens)
            .with_servers(vec![server])
            .with_accept_newcomers(args.accept_newcomers)
            .with_answers_dir(Some(global.answers_dir()));
        questions.push(build(builder, global, &chain).await?);
    }
    let display = global.output == Output::Display;
    if display {
        eprintln!("Asking both servers; the answers are shown when both are paid.");
    }
    let [(first_text, first), (second_text, second)] =
        ask_both(&chain, &wallet, [&questions[0], &questions[1]]).await?;
    // Which answer is shown first: from the clock's low bits, so neither server can count on
    // a position.
    let swapped = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|elapsed| elapsed.subsec_nanos() & 1 == 1);
    let shown = if swapped {
        [&second_text, &first_text]
    } else {
        [&first_text, &second_text]
    };
    let pick = match args.prefer {
        Some(pick) => pick,
        None => {
            for (index, text) in shown.iter().enumerate() {
                eprintln!("\n===== Answer {} =====\n{text}", index + 1);
            }
            eprint!("\nWhich answer is better, 1 or 2? ");
            read_pick()?
        }
    };
    let first_preferred = (pick == 1) != swapped;
    let accounts = [
        read_request(&chain, &first).await?,
        read_request(&chain, &second).await?,
    ];
    let instruction = record_comparison(
        (&first.request, &accounts[0]),
        (&second.request, &accounts[1]),
        first_preferred,
    );
    let signature = chain.send(&[instruction], &wallet, &[]).await?;
    let (winner, loser) = if first_preferred {
        (&first, &second)
    } else {
        (&second, &first)
    };
    if display {
        println!(
            "Recorded: you preferred server {} over {} (bills {} and {}).",
            winner.operator,
            loser.operator,
            sol(winner.bill),
            sol(loser.bill)
        );
        for line in [&first, &second].into_iter().filter_map(overclaim_line) {
            println!("{line}");
        }
    } else {
        print_json(&json!({
            "shown": [shown[0], shown[1]],
            "picked": pick,
            "preferred": { "server": winner.operator.to_string(), "request": winner.request.to_string(), "overclaimed": winner.overclaimed.is_some() },
            "other": { "server": loser.operator.to_string(), "request": loser.request.to_string(), "overclaimed": loser.overclaimed.is_some() },
            "signature": signature.to_string(),
        }));
    }
    Ok(())
}

/// Asks both questions, the second once the first request exists (a wallet's requests take
/// consecutive nonces), and waits for both answers.
async fn ask_both(
    chain: &Chain,
    wallet: &Arc<Keypair>,
    questions: [&Question; 2],
) -> Result<[(String, Answered); 2]> {
    let (created, was_created) = tokio::sync::oneshot::channel();
    let first = {
        let (chain, wallet, question) = (chain.clone(), wallet.clone(), questions[0].clone());
        tokio::spawn(async move {
            let mut created = Some(created);
            let mut text = String::new();
            let answered = ask(&chain, &wallet, &question, |event| match event {
                AskEvent::Created(_) => {
                    if let Some(created) = created.take() {
                        let _ = created.send(());
                    }
                }
                AskEvent::Text(piece) => text.push_str(&piece),
                _ => {}
            })
            .await;
            answered.map(|answered| (text, answered))
        })
    };
    // If the first failed before creating its request, its error is the one to report.
    if was_created.await.is_err() {
        first.await??;
        bail!("the first request was not created");
    }
    let mut text = String::new();
    let second = ask(chain, wallet, questions[1], |event| {
        if let AskEvent::Text(piece) = event {
            text.push_str(&piece);
        }
    })
    .await?;
    let first = first.await??;
    Ok([first, (text, second)])
}

async fn read_request(chain: &Chain, answered: &Answered) -> Result<Request> {
    let account: Option<Request> = chain.account(&answered.request, "Request").await?;
    account.ok_or_else(|| {
        anyhow!(
            "request {} was closed before the comparison could be recorded",
            answered.request
        )
    })
}

/// Reads "1" or "2" from standard input.
fn read_pick() -> Result<u8> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading your pick")?;
    match line.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        other => bail!("{other:?} is not a pick: answer 1 or 2 (or pass --prefer 1|2)"),
    }
}
