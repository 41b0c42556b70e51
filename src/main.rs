//! `chainference`: paid, private LLM inference on Solana.

use chainference_cli::cli::{
    self, ask::AskArgs, audit::AuditArgs, close::CloseArgs, compare::CompareArgs, Global,
};
use clap::{Parser, Subcommand};

/// Paid, private LLM inference on Solana, with delivery and billing anyone can verify.
#[derive(Parser)]
#[command(name = "chainference", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered servers, their models, load and record.
    Servers,
    /// List the models offered, with prices, availability and reputation.
    Models,
    /// Serve the website: servers, models and requests, live from the chain, with the same
    /// data as JSON under /api.
    Web(chainference_cli::web::WebArgs),
    /// Ask a question; the answer streams as it lands on chain.
    Ask(Box<AskArgs>),
    /// Serve an OpenAI-compatible API (chat and plain completions, streamed or whole, and the
    /// models offered) that pays each answer from the wallet, within --budget and --max-cost.
    Serve(Box<chainference_cli::gateway::ServeArgs>),
    /// Cancel an open request (stake and rent come back).
    Cancel {
        /// The request's address.
        request: String,
    },
    /// Close answered requests past their flag window: each leaves a rent-free receipt (a
    /// Light compressed account) and its rent comes back.
    Close(CloseArgs),
    /// Every request of this wallet, prompt and answer decrypted from the chain.
    History,
    /// One request: state, prompt and answer.
    Show {
        /// The request's address.
        request: String,
        /// Print the answer whole from the start, then follow it live until it is settled.
        #[arg(long)]
        follow: bool,
    },
    /// Rebuild one answer's transcript from the finalized ledger and check its delivery and
    /// bill (every leaf against its append's root, the hash chain, the tokens billed).
    Audit(AuditArgs),
    /// Print the key that opens one request's prompt and answer and nothing else, for an
    /// auditor's `chainference audit REQUEST --request-key KEY` (with this wallet, `-k`).
    Disclose {
        /// The request's address.
        request: String,
    },
    /// Check a transcript bundle offline (no RPC); fails, naming what, on any mismatch.
    Verify {
        /// The bundle (`chainference audit --bundle FILE` writes one).
        bundle: std::path::PathBuf,
    },
    /// Send one prompt to two servers, pick the better answer blind, and record the pick.
    Compare(Box<CompareArgs>),
    /// Flag a completed answer as bad (once, inside its flag window; no refund).
    Flag {
        /// The request's address.
        request: String,
    },
    /// Run a local node: a Solana test validator with the Chainference program,
    /// spl-account-compression and spl-noop, its config initialized, and a faucet.
    #[cfg(feature = "localnet")]
    Localnet {
        /// Ledger folder (a temporary one if not given); a folder a node ran in before is
        /// started again where that node stopped.
        #[arg(long)]
        ledger: Option<std::path::PathBuf>,
        /// JSON-RPC port (PubSub listens on the next one).
        #[arg(long, default_value_t = 8899)]
        rpc_port: u16,
    },
    /// Benchmarks on a local node, each printing its figures beside a baseline measured in
    /// the same run.
    #[cfg(all(feature = "localnet", feature = "mistralrs"))]
    #[command(subcommand)]
    Bench(chainference_cli::bench::Bench),
    /// Node, provider (SmolLM2-135M-Instruct on mistral.rs) and client in one command.
    #[cfg(all(feature = "localnet", feature = "mistralrs"))]
    Demo {
        /// The question (a default one if not given).
        #[arg(long)]
        prompt: Option<String>,
    },
    /// `audit --replay`'s own: scores far tokens again on the quantized weights (JSON in and
    /// out), in a process that never dequantized.
    #[cfg(feature = "mistralrs")]
    #[command(name = cli::dequantize::CONFIRM_COMMAND, hide = true)]
    ConfirmFarTokens,
}

fn main() {
    let parsed = Cli::parse();
    // Our crates' tracing to stderr (RUST_LOG, warnings by default); the `log` records of the
    // validator's crates stay with the local node's own logger.
    chainference_client::logging::init("warn");
    if let Err(error) = run(parsed) {
        // One line that names the problem and the fix.
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(parsed: Cli) -> anyhow::Result<()> {
    let global = parsed.global;
    #[cfg(feature = "localnet")]
    if let Command::Localnet { ledger, rpc_port } = parsed.command {
        return chainference_cli::localnet::run(ledger, rpc_port);
    }
    if let Command::Verify { bundle } = &parsed.command {
        return cli::audit::run_verify(&global, bundle);
    }
    #[cfg(feature = "mistralrs")]
    if let Command::Audit(args) = &parsed.command {
        cli::audit::prepare(args)?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match parsed.command {
            Command::Servers => cli::servers::run(&global).await,
            Command::Models => cli::models::run(&global).await,
            Command::Web(args) => chainference_cli::web::run(&global, &args).await,
            Command::Ask(args) => cli::ask::run(&global, &args).await,
            Command::Serve(args) => chainference_cli::gateway::run(&global, &args).await,
            Command::Cancel { request } => cli::cancel::run(&global, &request).await,
            Command::Close(args) => cli::close::run(&global, &args).await,
            Command::History => cli::history::run(&global).await,
            Command::Show { request, follow } => cli::show::run(&global, &request, follow).await,
            Command::Audit(args) => cli::audit::run(&global, &args).await,
            Command::Disclose { request } => cli::audit::run_disclose(&global, &request).await,
            Command::Flag { request } => cli::flag::run(&global, &request).await,
            Command::Compare(args) => cli::compare::run(&global, &args).await,
            Command::Verify { .. } => Ok(()),
            #[cfg(feature = "localnet")]
            Command::Localnet { .. } => Ok(()),
            #[cfg(all(feature = "localnet", feature = "mistralrs"))]
            Command::Bench(bench) => chainference_cli::bench::run(&bench, global.output).await,
            #[cfg(all(feature = "localnet", feature = "mistralrs"))]
            Command::Demo { prompt } => chainference_cli::demo::run(prompt, global.output).await,
            #[cfg(feature = "mistralrs")]
            Command::ConfirmFarTokens => cli::dequantize::run_confirm().await,
        }
    })
}
