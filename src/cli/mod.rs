//! The `chainference` commands, one file each, and what they share: the cluster (Solana CLI
//! monikers), the wallet, and the output format.

pub mod ask;
pub mod audit;
pub mod cancel;
pub mod close;
pub mod compare;
#[cfg(feature = "mistralrs")]
pub mod dequantize;
pub mod flag;
pub mod history;
pub mod models;
pub mod servers;
pub mod show;

use anyhow::Result;
pub use chainference_client::market::{lamports_of, sol};
use chainference_client::rpc::Chain;
use chainference_client::wallet::read_keypair;
use clap::{Args, ValueEnum};
use solana_keypair::Keypair;
use std::path::PathBuf;

/// Options every command takes.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// The cluster: a URL or a moniker (localnet, devnet, mainnet-beta, testnet).
    #[arg(short = 'u', long = "url", global = true, default_value = "localnet")]
    pub url: String,
    /// The PubSub URL (derived from --url if not given: ws(s), port + 1).
    #[arg(long = "ws", global = true)]
    pub ws: Option<String>,
    /// The wallet's keypair file.
    #[arg(
        short = 'k',
        long = "keypair",
        global = true,
        default_value = "~/.config/solana/id.json"
    )]
    pub keypair: PathBuf,
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Display)]
    pub output: Output,
    /// Seconds to wait for an unreachable RPC (a node starting or restarting) before giving
    /// up; 0 fails at once.
    #[arg(
        long = "wait-for-node",
        global = true,
        default_value_t = 120,
        value_name = "SECS"
    )]
    pub wait_for_node: u64,
    /// Where directly delivered answers are saved, one `<request>.json` each: their only
    /// copy, read back by `history` and `audit`.
    #[arg(
        long = "answers-dir",
        global = true,
        default_value = "~/.local/share/chainference/answers",
        value_name = "DIR"
    )]
    pub answers_dir: PathBuf,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Display,
    /// One JSON document.
    Json,
}

impl Global {
    /// The JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        match self.url.as_str() {
            "localnet" | "l" => "http://127.0.0.1:8899".into(),
            "devnet" | "d" => "https://api.devnet.solana.com".into(),
            "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com".into(),
            "testnet" | "t" => "https://api.testnet.solana.com".into(),
            url => url.into(),
        }
    }

    /// The PubSub URL: `--ws`, or the RPC URL with ws(s) and, where a port is given, port + 1
    /// (the Solana CLI's rule).
    pub fn pubsub_url(&self) -> String {
        if let Some(ws) = &self.ws {
            return ws.clone();
        }
        pubsub_url_for(&self.rpc_url())
    }

    /// Connects to the cluster.
    pub async fn chain(&self) -> Result<Chain> {
        let patience = std::time::Duration::from_secs(self.wait_for_node);
        Ok(Chain::connect_with_patience(&self.rpc_url(), &self.pubsub_url(), patience).await?)
    }

    /// The directory direct answers are saved in.
    pub fn answers_dir(&self) -> PathBuf {
        chainference_client::wallet::expand_home(&self.answers_dir)
    }

    /// Reads the wallet.
    pub fn wallet(&self) -> Result<Keypair> {
        Ok(read_keypair(&self.keypair)?)
    }
}

/// The PubSub URL the Solana CLI derives from an RPC URL.
pub fn pubsub_url_for(rpc_url: &str) -> String {
    let (scheme, rest) = match rpc_url.split_once("://") {
        Some(("https", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", rpc_url),
    };
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, ""), |(host, path)| (host, path));
    let host = match host.rsplit_once(':') {
        Some((name, port)) => match port.parse::<u16>() {
            Ok(port) => format!("{name}:{}", port.saturating_add(1)),
            Err(_) => host.to_string(),
        },
        None => host.to_string(),
    };
    if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

/// One of the wallet's own requests, read for a command that changes it.
pub struct OwnRequest {
    /// Its address.
    pub address: anchor_lang::prelude::Pubkey,
    /// The wallet, its client.
    pub wallet: Keypair,
    /// The connection.
    pub chain: Chain,
    /// The account as it stands.
    pub account: chainference::state::Request,
}

/// Reads the request typed as `request`, refusing by name one that is gone (`gone` says why it
/// may be) or that belongs to another wallet.
pub async fn own_request(global: &Global, request: &str, gone: &str) -> Result<OwnRequest> {
    use solana_signer::Signer;
    let address = request_address(request)?;
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let account: Option<chainference::state::Request> = chain.account(&address, "Request").await?;
    let Some(account) = account else {
        anyhow::bail!(
            "request {address} does not exist (any more): {gone}, or it is on another cluster"
        );
    };
    if account.client != wallet.pubkey() {
        anyhow::bail!(
            "request {address} belongs to {}, not to this wallet: pass its -k/--keypair",
            account.client
        );
    }
    Ok(OwnRequest {
        address,
        wallet,
        chain,
        account,
    })
}

/// A request address as typed.
pub fn request_address(text: &str) -> Result<anchor_lang::prelude::Pubkey> {
    std::str::FromStr::from_str(text).map_err(|_| {
        anyhow::anyhow!("{text} is not a request address (see `chainference history`)")
    })
}

/// Prints `value` as JSON.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_solana_cli() {
        assert_eq!(
            pubsub_url_for("http://127.0.0.1:8899"),
            "ws://127.0.0.1:8900"
        );
        assert_eq!(
            pubsub_url_for("https://api.devnet.solana.com"),
            "wss://api.devnet.solana.com"
        );
        assert_eq!(
            pubsub_url_for("https://rpc.example.com:443/key"),
            "wss://rpc.example.com:444/key"
        );
    }
}
