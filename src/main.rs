//! `chainference`: paid, private LLM inference on Solana. For now: `chainference localnet`.

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Paid, private LLM inference on Solana, with delivery and billing anyone can verify.
#[derive(Parser)]
#[command(name = "chainference", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local node: a Solana test validator with the Chainference program,
    /// spl-account-compression and spl-noop, its config initialized.
    #[cfg(feature = "localnet")]
    Localnet {
        /// Ledger folder (a temporary one if not given).
        #[arg(long)]
        ledger: Option<std::path::PathBuf>,
    },
}

// The lean build (no local node) has no command yet: the client's commands come next.
#[cfg_attr(not(feature = "localnet"), allow(unreachable_code))]
fn main() -> Result<()> {
    match Cli::parse().command {
        #[cfg(feature = "localnet")]
        Command::Localnet { ledger } => chainference_cli::localnet::run(ledger),
    }
}
