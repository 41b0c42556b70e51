//! `chainference web`: the website listing servers, models and requests, read from the chain
//! through the client library. Pages are server-rendered ([`html`]) from the same structs the
//! JSON API under `/api` returns ([`market`], [`request`]); the market is re-read every
//! `--refresh` seconds and pushed to open pages as server-sent events.

pub mod html;
pub mod market;
pub mod request;

use anyhow::{Context, Result};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use chainference_client::accounts::servers;
use chainference_client::rpc::{Chain, ChainError};
use clap::Args;
use futures_util::Stream;
use html::Page;
use market::Market;
use request::{Audits, RequestError, RequestView};
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// `web`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct WebArgs {
    /// Address and port to serve on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Seconds between reads of the chain while the site runs.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub refresh: f64,
}

/// The market as last read, and why the read after it failed, if it did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The market.
    pub market: Market,
    /// The error of the latest read, if it failed (the market is then the one before).
    pub error: Option<String>,
}

/// The website: a connection, the market kept fresh, and the audits made so far.
#[derive(Clone)]
pub struct Site {
    chain: Chain,
    refresh: Duration,
    market: watch::Receiver<Arc<Snapshot>>,
    audits: Arc<Audits>,
}

/// Serves the site on `--listen` until interrupted.
pub async fn run(global: &crate::cli::Global, args: &WebArgs) -> Result<()> {
    if !(args.refresh.is_finite() && args.refresh >= 0.1) {
        anyhow::bail!(
            "--refresh {} is not a usable interval: give 0.1 seconds or more",
            args.refresh
        );
    }
    let chain = global.chain().await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: pick a free --listen address",
            args.listen
        )
    })?;
    let site = Site::start(chain, Duration::from_secs_f64(args.refresh)).await?;
    println!(
        "Serving http://{} (servers, models, requests; JSON under /api)",
        listener.local_addr()?
    );
    site.serve(listener).await
}

impl Site {
    /// Reads the market once and keeps it fresh every `refresh` while the site lives.
    pub async fn start(chain: Chain, refresh: Duration) -> Result<Self, ChainError> {
        let first = read_market(&chain).await?;
        let (sender, market) = watch::channel(Arc::new(Snapshot {
            market: first,
            error: None,
        }));
        tokio::spawn(keep_fresh(chain.clone(), refresh, sender));
        Ok(Self {
            chain,
            refresh,
            market,
            audits: Arc::default(),
        })
    }

    /// The routes: pages, their event streams, and the JSON API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(servers_page))
            .route("/servers", get(servers_page))
            .route("/models", get(models_page))
            .route("/requests", get(find_request))
            .route("/requests/{address}", get(request_page))
            .route("/events/servers", get(servers_events))
            .route("/events/models", get(models_events))
            .route("/events/requests/{address}", get(request_events))
            .route("/api/servers", get(servers_json))
            .route("/api/models", get(models_json))
            .route("/api/requests/{address}", get(request_json))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: TcpListener) -> Result<()> {
        axum::serve(listener, self.router())
            .await
            .context("the web server stopped")
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.market.borrow().clone()
    }
}

/// Reads the Server accounts and the chain's clock.
async fn read_market(chain: &Chain) -> Result<Market, ChainError> {
    let list = servers(chain).await?;
    let now = chain.now().await?;
    Ok(Market::of(&list, now))
}

/// Re-reads the market every `refresh` until no page or handler is left to read it; a failed
/// read keeps the market before it and says why.
async fn keep_fresh(chain: Chain, refresh: Duration, sender: watch::Sender<Arc<Snapshot>>) {
    loop {
        tokio::time::sleep(refresh).await;
        if sender.is_closed() {
            return;
        }
        let next = match read_market(&chain).await {
            Ok(market) => Snapshot {
                market,
                error: None,
            },
            Err(error) => {
                tracing::warn!(%error, "reading the market failed; keeping the last one");
                Snapshot {
                    market: sender.borrow().market.clone(),
                    error: Some(error.to_string()),
                }
            }
        };
        sender.send_if_modified(|current| {
            let changed = **current != next;
            if changed {
                *current = Arc::new(next);
            }
            changed
        });
    }
}

async fn servers_page(State(site): State<Site>) -> Html<String> {
    let rows = html::servers(&site.snapshot());
    Html(html::page(
        Page::Servers,
        "Servers",
        "/events/servers",
        &rows,
    ))
}

async fn models_page(State(site): State<Site>) -> Html<String> {
    let rows = html::models(&site.snapshot());
    Html(html::page(Page::Models, "Models", "/events/models", &rows))
}

/// The request lookup form's query.
#[derive(Deserialize)]
struct Lookup {
    address: String,
}

async fn find_request(Query(lookup): Query<Lookup>) -> Response {
    let address = lookup.address.trim();
    match request::parse_address(address) {
        Ok(address) => Redirect::to(&format!("/requests/{address}")).into_response(),
        Err(error) => page_error(&error),
    }
}

async fn request_page(State(site): State<Site>, Path(address): Path<String>) -> Response {
    match site.read_request(&address).await {
        Ok(view) => Html(html::page(
            Page::Request,
            &format!("Request {}", view.address),
            &format!("/events/requests/{}", view.address),
            &html::request(&view),
        ))
        .into_response(),
        Err(error) => page_error(&error),
    }
}

async fn servers_json(State(site): State<Site>) -> Response {
    let snapshot = site.snapshot();
    market_json(&snapshot, "servers", &snapshot.market.servers)
}

async fn models_json(State(site): State<Site>) -> Response {
    let snapshot = site.snapshot();
    market_json(&snapshot, "models", &snapshot.market.models)
}

/// `{as_of, error, <name>: list}`.
fn market_json(snapshot: &Snapshot, name: &str, list: &impl serde::Serialize) -> Response {
    let mut body = serde_json::json!({
        "as_of": snapshot.market.as_of,
        "error": snapshot.error,
    });
    body[name] = serde_json::json!(list);
    Json(body).into_response()
}

async fn request_json(State(site): State<Site>, Path(address): Path<String>) -> Response {
    match site.read_request(&address).await {
        Ok(view) => Json(view).into_response(),
        Err(error) => (
            status_of(&error),
            Json(serde_json::json!({ "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn servers_events(
    State(site): State<Site>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    market_events(site, html::servers)
}

async fn models_events(
    State(site): State<Site>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    market_events(site, html::models)
}

/// Pushes `render`ed rows each time they change, starting with the current ones.
fn market_events(
    site: Site,
    render: fn(&Snapshot) -> String,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut market = site.market.clone();
    market.mark_changed();
    let stream = futures_util::stream::unfold(
        (market, String::new()),
        move |(mut market, mut sent)| async move {
            loop {
                market.changed().await.ok()?;
                let rows = render(&market.borrow_and_update());
                if rows != sent {
                    sent.clone_from(&rows);
                    let event = Event::default().event("rows").data(rows);
                    return Some((Ok(event), (market, sent)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn request_events(
    State(site): State<Site>,
    Path(address): Path<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(
        (site, address, String::new(), true),
        |(site, address, mut sent, first)| async move {
            if !first {
                tokio::time::sleep(site.refresh).await;
            }
            loop {
                let rows = match site.read_request(&address).await {
                    Ok(view) => html::request(&view),
                    Err(error) => format!(
                        "<p class=\"warning\">{}</p>",
                        html::escape(&error.to_string())
                    ),
                };
                if rows != sent {
                    sent.clone_from(&rows);
                    let event = Event::default().event("rows").data(rows);
                    return Some((Ok(event), (site, address, sent, false)));
                }
                tokio::time::sleep(site.refresh).await;
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

impl Site {
    async fn read_request(&self, address: &str) -> Result<RequestView, RequestError> {
        let address = request::parse_address(address)?;
        request::read(&self.chain, &self.audits, &address).await
    }
}

fn status_of(error: &RequestError) -> StatusCode {
    match error {
        RequestError::NotAnAddress(_) => StatusCode::BAD_REQUEST,
        RequestError::NotFound(_) => StatusCode::NOT_FOUND,
        RequestError::Chain(_) => StatusCode::BAD_GATEWAY,
    }
}

fn page_error(error: &RequestError) -> Response {
    (
        status_of(error),
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html::error_page("Request not shown", &error.to_string()),
    )
        .into_response()
}
