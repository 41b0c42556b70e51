//! `chainference serve`: an OpenAI-compatible API on the user's machine that pays per answer.
//! `GET /v1/models` lists the market's models; `POST /v1/chat/completions` and
//! `POST /v1/completions` each become one request on chain from the wallet, its stake sized
//! at the cheapest admitted offer for the call's max tokens, and answer as OpenAI's API does,
//! whole or streamed as server-sent events. Every answer names its request (`id`, the
//! `x-chainference-request` header) for a later `chainference audit`; its cost in lamports
//! comes in the `x-chainference-cost` header (whole answers) and the last chunk (streamed).
//! Spending is bounded by `--budget` and `--max-cost` before any transaction ([`budget`]).

pub mod budget;
pub mod call;
pub mod openai;

use crate::cli::ask::{DeliveryArg, MarketArgs};
use crate::cli::Global;
use anyhow::{bail, Context, Result};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use budget::Budget;
use chainference_client::accounts::servers;
use chainference_client::market::{by_model, defaults, lamports_of};
use chainference_client::rpc::Chain;
use clap::Args;
use openai::ApiError;
use serde_json::json;
use solana_keypair::Keypair;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The environment variable `--api-key` falls back on (a key on the command line shows in
/// process listings).
pub const API_KEY_VARIABLE: &str = "CHAINFERENCE_API_KEY";

/// `serve`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address and port to serve on (anything but loopback needs --api-key).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The most all calls together may spend while the server runs, in SOL (calls in flight
    /// hold their whole stake until they settle).
    #[arg(long, value_name = "SOL")]
    pub budget: Option<String>,
    /// The most one call may cost, in SOL: a call whose stake (its max tokens at the cheapest
    /// offer) is above it gets 402 before any transaction.
    #[arg(long = "max-cost", value_name = "SOL")]
    pub max_cost: Option<String>,
    /// The bearer key callers must send (`Authorization: Bearer KEY`, the `api_key` of
    /// OpenAI's clients), or from the environment's `CHAINFERENCE_API_KEY`; required unless
    /// --listen is a loopback address.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_key: Option<String>,
    /// Answer tokens of a call that sets no max_tokens.
    #[arg(long = "max-tokens", default_value_t = defaults::MAX_TOKENS)]
    pub max_tokens: u32,
    /// How answers travel: `direct` from the server's endpoint (roots on chain), `chain`
    /// (chunks on chain); by default direct where every admitted server lists an endpoint.
    #[arg(long, value_enum)]
    pub delivery: Option<DeliveryArg>,
    /// Which servers may answer, at what price, how often they post.
    #[command(flatten)]
    pub market: MarketArgs,
}

/// The gateway: the chain, the wallet that pays, the spending limits and the market flags.
pub struct Gateway {
    chain: Chain,
    wallet: Arc<Keypair>,
    budget: Arc<Budget>,
    api_key: Option<String>,
    max_tokens: u32,
    delivery: Option<DeliveryArg>,
    market: MarketArgs,
    answers_dir: PathBuf,
    /// Held from reading the wallet's next request nonce until that request exists, so calls
    /// at once never take the same nonce.
    creating: Arc<tokio::sync::Mutex<()>>,
}

impl Gateway {
    /// A gateway paying from `wallet` on `chain` under `args`, saving direct answers under
    /// `answers_dir`; refused if it would listen beyond loopback without a key.
    pub fn new(
        chain: Chain,
        wallet: Keypair,
        args: &ServeArgs,
        answers_dir: PathBuf,
    ) -> Result<Self> {
        let api_key = args
            .api_key
            .clone()
            .or_else(|| std::env::var(API_KEY_VARIABLE).ok())
            .filter(|key| !key.is_empty());
        if !args.listen.ip().is_loopback() && api_key.is_none() {
            bail!(
                "--listen {} is reachable from other machines and this server spends the wallet's SOL: set --api-key (or listen on 127.0.0.1)",
                args.listen
            );
        }
        let sol = |flag: &str, value: &Option<String>| -> Result<Option<u64>> {
            value
                .as_deref()
                .map(|value| lamports_of(value).with_context(|| format!("{flag} {value}")))
                .transpose()
        };
        // Bad --server keys are refused now, not at every call.
        args.market
            .apply(chainference_client::market::QuestionBuilder::new("", 0, ""))?;
        Ok(Self {
            chain,
            wallet: Arc::new(wallet),
            budget: Budget::new(
                sol("--budget", &args.budget)?,
                sol("--max-cost", &args.max_cost)?,
            ),
            api_key,
            max_tokens: args.max_tokens,
            delivery: args.delivery,
            market: args.market.clone(),
            answers_dir,
            creating: Arc::default(),
        })
    }

    /// The API's routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(call::chat))
            .route("/v1/completions", post(call::completion))
            .layer(middleware::from_fn_with_state(self.clone(), authorize))
            .with_state(self)
    }

    /// Serves the API on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Lamports spent by settled calls and held by calls in flight.
    pub fn committed(&self) -> u64 {
        self.budget.committed()
    }
}

/// Serves `chainference serve` until interrupted.
pub async fn run(global: &Global, args: &ServeArgs) -> Result<()> {
    let wallet = global.wallet()?;
    let chain = global.chain().await?;
    let gateway = Arc::new(Gateway::new(chain, wallet, args, global.answers_dir())?);
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: pick a free --listen address",
            args.listen
        )
    })?;
    let address = listener.local_addr()?;
    eprintln!(
        "Serving the OpenAI API at http://{address}/v1 (base_url), paying from {}",
        solana_signer::Signer::pubkey(gateway.wallet.as_ref())
    );
    gateway.serve(listener).await?;
    Ok(())
}

/// Refuses a call without the bearer key, when one is set.
async fn authorize(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    if let Some(key) = &gateway.api_key {
        let sent = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if sent != Some(key.as_str()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
                "this server needs its --api-key as a bearer token: set the client's api_key to it",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `GET /v1/models`: every model offered, with how many servers offer it and the cheapest
/// prices (lamports per million tokens).
async fn models(State(gateway): State<Arc<Gateway>>) -> Result<Json<serde_json::Value>, ApiError> {
    let list = servers(&gateway.chain).await.map_err(call::chain_down)?;
    let now = unix_now();
    let data: Vec<_> = by_model(&list)
        .iter()
        .map(|(model, offers)| {
            json!({
                "id": model,
                "object": "model",
                "created": 0,
                "owned_by": model.split_once('/').map_or("chainference", |(owner, _)| owner),
                "servers": offers.offers.len(),
                "free_now": offers.available(now),
                "input_price_per_million": offers.input_prices().map(|range| range.cheapest),
                "output_price_per_million": offers.output_prices().map(|range| range.cheapest),
            })
        })
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}
