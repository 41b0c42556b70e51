//! Chainference's provider daemon.
//!
//! Data flows one way: [`discovery`] finds open requests, the [`Provider`] keeps those it may
//! and wants to serve and locks them with its per-request key, a [`job`] per lock waits for
//! the sealed [`prompt`] and opens it, and runs the [`answer`]: an [`engine`] generates
//! ([`generation`]), and the answer is sealed, batched and delivered, either appended on chain
//! ([`poster`]) or sent to the client over the [`endpoint`] with only its roots on chain
//! ([`direct`], [`roots`]), before the job claims payment. [`server`] keeps the on-chain server
//! account in step with the [`config`]. Discovery also finds requests this server holds locked
//! with no job running (after a restart, or a job that failed): [`resume`] picks them up from
//! the chain.
//!
//! Modules build on each other in one direction: [`context`] (a job's shared state and error)
//! under the stages ([`prompt`], [`resume`], [`generation`], [`answer`] and its two deliveries),
//! and [`job`] on top of them.

pub mod answer;
pub mod checkpoint;
pub mod config;
pub mod context;
pub mod direct;
pub mod discovery;
pub mod endpoint;
pub mod engine;
pub mod generation;
pub mod job;
pub mod poster;
pub mod posting;
pub mod prompt;
pub mod resume;
pub mod roots;
pub mod server;

use anchor_lang::prelude::Pubkey;
use chainference::pda::server_address;
use chainference::state::{Request, RequestState, Server};
use chainference_client::envelope::server_public_key;
use chainference_client::instructions::{lock_request, scope};
use chainference_client::lookup::provider_table;
use chainference_client::rpc::{Chain, ChainError};
use checkpoint::Hold;
use config::Settings;
use context::Job;
use endpoint::Feeds;
use engine::Engine;
use posting::Posting;
use prompt::operator_seed;
use roots::RootPoster;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::{self, JoinSet};
use tracing::Instrument;

/// Why a provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The server account could not be made to match the settings.
    #[error(transparent)]
    Prepare(#[from] server::PrepareError),
    /// The endpoint's address could not be bound.
    #[error("cannot listen on {address} for direct delivery: {error} (choose another `listen` address in the provider config)")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// A running provider: one operator, one engine, one response tree.
pub struct Provider {
    chain: Chain,
    operator: Arc<Keypair>,
    settings: Settings,
    engine: Arc<dyn Engine>,
    tree: Pubkey,
    posting: Arc<Posting>,
    /// The direct-delivery endpoint's listener (until `run` serves it) and its answers.
    endpoint: Option<(Option<tokio::net::TcpListener>, Feeds)>,
    /// No transaction signed before this run started can land after this block height.
    quiet_after: u64,
    hold: Option<Hold>,
}

impl Provider {
    /// Binds the direct-delivery endpoint if the settings `listen` (its URL, when not set,
    /// becomes `ws://` and the bound address), registers or updates the server, makes sure it
    /// has a tree, and finds or creates the lookup table its appends load their fixed accounts
    /// from.
    pub async fn start(
        chain: Chain,
        operator: Keypair,
        mut settings: Settings,
        engine: Arc<dyn Engine>,
    ) -> Result<Self, StartError> {
        let endpoint = match settings.listen {
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(|error| StartError::Listen { address, error })?;
                if settings.endpoint.is_empty() {
                    let bound = listener
                        .local_addr()
                        .map_err(|error| StartError::Listen { address, error })?;
                    settings.endpoint = format!("ws://{bound}");
                }
                Some((Some(listener), Feeds::default()))
            }
            None => None,
        };
        let tree = server::prepare(&chain, &operator, &settings, engine.as_ref()).await?;
        let posting = Arc::new(Posting {
            table: provider_table(&chain, &operator, &tree).await?,
            compute_unit_price: settings.compute_unit_price,
        });
        let (_, quiet_after) = chain.latest_blockhash().await?;
        Ok(Self {
            chain,
            operator: Arc::new(operator),
            settings,
            engine,
            tree,
            posting,
            endpoint,
            quiet_after,
            hold: None,
        })
    }

    /// Makes every job await `hold` at each [`checkpoint::Checkpoint`] (fault-injection tests
    /// hold a job there and kill the provider).
    pub fn with_hold(mut self, hold: Hold) -> Self {
        self.hold = Some(hold);
        self
    }

    /// The operator's public key.
    pub fn operator(&self) -> Pubkey {
        self.operator.pubkey()
    }

    /// The response tree answers go to.
    pub fn tree(&self) -> Pubkey {
        self.tree
    }

    /// The URL the server account lists as its endpoint (empty: none).
    pub fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }

    /// Serves requests until the task is dropped.
    pub async fn run(mut self) {
        let (found_sender, mut found) = mpsc::unbounded_channel();
        // Dropped with this future (a stopped provider stops discovering and serving).
        let mut finder = JoinSet::new();
        let direct = match &mut self.endpoint {
            Some((listener, feeds)) => {
                if let Some(listener) = listener.take() {
                    finder.spawn(endpoint::serve(listener, feeds.clone()));
                }
                let (roots, sending) = RootPoster::new(
                    self.chain.clone(),
                    self.operator.clone(),
                    self.posting.clone(),
                );
                finder.spawn(sending);
                Some((feeds.clone(), roots))
            }
            None => None,
        };
        finder.spawn(server::heartbeat(
            self.chain.clone(),
            self.operator.clone(),
            server::params_of(&self.settings, self.engine.as_ref()),
        ));
        finder.spawn(discovery::discover(
            self.chain.clone(),
            self.operator(),
            self.settings.scan_interval(),
            found_sender,
        ));
        let mut jobs: JoinSet<()> = JoinSet::new();
        // Requests with a job running (by task), and open requests already tried.
        let mut running: HashMap<task::Id, Pubkey> = HashMap::new();
        let mut tried: HashSet<Pubkey> = HashSet::new();
        tracing::info!(operator = %self.operator(), tree = %self.tree, "serving");
        loop {
            tokio::select! {
                Some((address, request)) = found.recv() => {
                    if running.values().any(|running| *running == address) {
                        continue;
                    }
                    let quiet_after = if request.state == RequestState::Open {
                        let room = jobs.len() < usize::from(self.settings.max_concurrent);
                        if !room || !self.may_lock(&address, &request).await || !tried.insert(address) {
                            continue;
                        }
                        if let Err(error) = self.lock(&address, &request.terms.model).await {
                            tracing::debug!(request = %address, %error, "lock lost or refused");
                            continue;
                        }
                        tracing::info!(request = %address, model = %request.terms.model, "locked");
                        None
                    } else if request.lock.operator == self.operator() {
                        tracing::info!(request = %address, state = ?request.state, "found a request of ours with no job; resuming it");
                        Some(self.quiet_after)
                    } else {
                        continue;
                    };
                    let task = self.spawn_job(&mut jobs, address, quiet_after, &direct);
                    running.insert(task, address);
                }
                Some(done) = jobs.join_next_with_id(), if !jobs.is_empty() => {
                    let task = match done {
                        Ok((task, ())) => task,
                        Err(error) => {
                            let request = running.get(&error.id());
                            tracing::error!(?request, %error, "job panicked; it resumes at the next scan");
                            error.id()
                        }
                    };
                    running.remove(&task);
                }
                else => break,
            }
        }
    }

    /// Starts the job of the request at `address` in `jobs`, in a span that carries the
    /// request, and logs how it ended; returns its task.
    fn spawn_job(
        &self,
        jobs: &mut JoinSet<()>,
        address: Pubkey,
        quiet_after: Option<u64>,
        direct: &Option<(Feeds, RootPoster)>,
    ) -> task::Id {
        let job = Job {
            chain: self.chain.clone(),
            operator: self.operator.clone(),
            engine: self.engine.clone(),
            request: address,
            quiet_after,
            posting: self.posting.clone(),
            direct: direct.clone(),
            hold: self.hold.clone(),
        };
        let run = async move {
            match job.run().await {
                Ok(end) => tracing::info!(?end, "job ended"),
                Err(error) => tracing::error!(%error, "job failed; it resumes at the next scan"),
            }
        };
        let span = tracing::info_span!("job", request = %address);
        jobs.spawn(run.instrument(span)).id()
    }

    /// Whether this server serves `request`'s model and may lock it now by the program's own
    /// rule ([`Request::lockable_by`]), judged on its Server account and the cluster's clock,
    /// so it never pays for a lock the program refuses; a refusal is logged by name.
    async fn may_lock(&self, address: &Pubkey, request: &Request) -> bool {
        if self.settings.model(&request.terms.model).is_none() {
            return false;
        }
        let server = self
            .chain
            .account::<Server>(&server_address(&self.operator()), "Server")
            .await;
        let (Ok(Some(server)), Ok(now)) = (server, self.chain.now().await) else {
            tracing::debug!(request = %address, "cannot read the server account or the clock; not locking");
            return false;
        };
        match request.lockable_by(&server, now) {
            Ok(_) => true,
            Err(rule) => {
                tracing::debug!(request = %address, ?rule, "the program would refuse this lock");
                false
            }
        }
    }

    /// Locks `request` for `model` with this server's per-request key, signed by the operator
    /// so the client can tell it is this server's (design §5), naming the weights the engine
    /// loaded (those its offer pins).
    async fn lock(&self, request: &Pubkey, model: &str) -> Result<(), ChainError> {
        let context = self.chain.key_context(request);
        let key = server_public_key(&operator_seed(&self.operator), &context).to_bytes();
        let scope = scope(&self.chain.genesis_hash(), request);
        let signature = self.operator.sign_message(&scope.key_message(&key)).into();
        let weights = self.engine.weights(model).unwrap_or([0; 32]);
        let lock = lock_request(
            &self.operator(),
            &scope,
            &self.tree,
            key,
            weights,
            &signature,
        );
        self.chain.send(&lock, &self.operator, &[]).await?;
        Ok(())
    }
}
