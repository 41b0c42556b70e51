//! One locked request's life on the provider: wait for the sealed prompt, read it from the
//! ledger and open it, pick up whatever an earlier run posted ([`crate::resume`]), generate,
//! post the answer ([`crate::poster`], or [`crate::direct`] over the endpoint) and claim
//! payment. A client that never sends its prompt
//! is expired at the prompt deadline (the bond comes back, no blame).

use crate::checkpoint::{pass, Checkpoint, Hold};
use crate::direct::post_direct_answer;
use crate::endpoint::Feeds;
use crate::engine::Engine;
use crate::generation::compression_of;
use crate::poster::{post_answer, Posting};
use crate::resume::{read_posted, wait_until_past};
use crate::roots::RootPoster;
use anchor_lang::prelude::Pubkey;
use chainference::error::ChainferenceError;
use chainference::state::{Delivery, Request, RequestState};
use chainference_client::answer::AnswerError;
use chainference_client::envelope::{
    open_prompt, prompt_client_key, server_session, EnvelopeError, PromptEnvelope, SessionKey,
};
use chainference_client::instructions::{complete_request, expire_request, scope};
use chainference_client::ledger::{history_of, prompt_pieces};
use chainference_client::rpc::{Chain, ChainError};
use chainference_prover::core::extend_prompt_hash;
use solana_keypair::Keypair;
use std::sync::Arc;
use std::time::Duration;

/// How often the request is polled while waiting for the prompt.
const POLL: Duration = Duration::from_millis(300);

/// Times a job re-reads the chain after finding its answer overtaken by an earlier run's
/// append.
const ATTEMPTS: usize = 3;

/// Why a job ended early.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The prompt on the ledger does not match the request's prompt hash.
    #[error("the prompt on the ledger does not match the request's prompt hash")]
    PromptIncomplete,
    /// The ledger does not hold the answer the request account has.
    #[error("the ledger does not hold the answer chunks the request account counts")]
    LedgerBehind,
    /// Posted chunks did not open.
    #[error("the posted answer does not open: {0}")]
    Answer(#[from] AnswerError),
    /// An append of an earlier run landed first: the answer must be read again.
    #[error("an earlier run's append landed first")]
    Overtaken,
    /// The answer could not be sealed.
    #[error("sealing the answer failed: {0}")]
    Seal(String),
}

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// Answered and paid.
    Completed {
        /// Answer tokens billed.
        tokens: u32,
        /// Lamports billed.
        bill: u64,
    },
    /// The client never sent its prompt; expired, bond back.
    NoPrompt,
    /// The time limit passed before the answer was complete: the client expires it.
    TooLate,
    /// The request was closed by someone else.
    Gone,
    /// A direct answer the client never acknowledged: nothing can be billed, the client
    /// expires it.
    Unacknowledged,
    /// A direct answer an earlier run started: its chunks were not kept, so it cannot go on;
    /// the client expires it (stake and bond to the client).
    DirectLost,
}

impl JobEnd {
    fn settled(request: &Request) -> Self {
        Self::Completed {
            tokens: request.settlement.tokens,
            bill: request.settlement.bill,
        }
    }
}

/// Everything a job needs.
pub struct Job {
    /// The cluster.
    pub chain: Chain,
    /// The operator, who signs appends and is paid.
    pub operator: Arc<Keypair>,
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// The request.
    pub request: Pubkey,
    /// For a request this run did not lock itself: the block height after which no
    /// transaction of an earlier run can land; nothing is posted before.
    pub quiet_after: Option<u64>,
    /// How appends are sent (lookup table, priority fee).
    pub posting: Arc<Posting>,
    /// The endpoint's answers and the shared root poster, when this provider delivers
    /// directly.
    pub direct: Option<(Feeds, RootPoster)>,
    /// A hook awaited at each [`Checkpoint`] (fault-injection tests).
    pub hold: Option<Hold>,
}

impl Job {
    /// Runs the request from lock (or from wherever an earlier run left it) to payment.
    pub async fn run(self) -> Result<JobEnd, JobError> {
        let started = std::time::Instant::now();
        let Some(ready) = self.wait_for_prompt().await? else {
            return Ok(JobEnd::NoPrompt);
        };
        if ready.state == RequestState::Completed {
            return Ok(JobEnd::settled(&ready));
        }
        let seen = started.elapsed();
        let (key, prompt) = self.open_prompt(&ready).await?;
        tracing::info!(
            request = %self.request,
            ready_after_ms = seen.as_millis() as u64,
            opened_after_ms = started.elapsed().as_millis() as u64,
            "prompt read from the ledger and opened"
        );
        if let Some(height) = self.quiet_after {
            wait_until_past(&self.chain, &self.request, height).await?;
        }
        let max_tokens = match &prompt {
            Ok(prompt) => prompt.max_tokens.min(ready.terms.max_output_tokens).max(1),
            Err(_) => 1,
        };
        let compression = compression_of(&prompt);
        for attempt in 1..=ATTEMPTS {
            let Some(account) = self.account().await? else {
                return Ok(JobEnd::Gone);
            };
            match account.state {
                RequestState::Ready => {}
                RequestState::Completed => return Ok(JobEnd::settled(&account)),
                RequestState::Open | RequestState::Locked => return Ok(JobEnd::Gone),
            }
            if self.chain.now().await? > account.deadline().unwrap_or(i64::MAX) {
                tracing::warn!(request = %self.request, "the time limit passed before the answer was complete; the client will expire it");
                return Ok(JobEnd::TooLate);
            }
            if account.terms.delivery == Delivery::Direct {
                return self
                    .deliver_directly(&account, key, &prompt, max_tokens)
                    .await;
            }
            let posted =
                read_posted(&self.chain, &self.request, &account, key, compression).await?;
            if posted.cursor.next_seq > 0 {
                tracing::info!(request = %self.request, next_seq = posted.cursor.next_seq, tokens = posted.cursor.tokens, finished = posted.cursor.finished, "resuming a posted answer");
            }
            if !posted.cursor.finished {
                match post_answer(&self, &account, key, &prompt, max_tokens, posted).await {
                    Err(JobError::Overtaken) if attempt < ATTEMPTS => {
                        tracing::warn!(request = %self.request, "an earlier run's append landed first; reading the answer again");
                        continue;
                    }
                    result => result?,
                }
            }
            pass(
                &self.hold,
                Checkpoint::Answered {
                    request: self.request,
                },
            )
            .await;
            return self.complete().await;
        }
        Err(JobError::Overtaken)
    }

    /// Delivers the answer to `ready` over the endpoint and claims payment on the client's
    /// acknowledgement.
    async fn deliver_directly(
        &self,
        ready: &Request,
        key: SessionKey,
        prompt: &Result<PromptEnvelope, EnvelopeError>,
        max_tokens: u32,
    ) -> Result<JobEnd, JobError> {
        let (Some((feeds, roots)), 0) = (&self.direct, ready.response.next_seq) else {
            tracing::warn!(request = %self.request, "a direct answer of an earlier run cannot go on (its chunks were not kept); the client will expire it");
            return Ok(JobEnd::DirectLost);
        };
        let scope = scope(&self.chain.genesis_hash(), &self.request);
        let feed = feeds.open(self.request, ready.client, scope);
        let posted = post_direct_answer(self, ready, key, prompt, max_tokens, &feed, roots).await;
        feeds.close_later(self.request);
        posted?;
        let settled = self.account().await?;
        Ok(match settled {
            Some(settled) if settled.state == RequestState::Completed => JobEnd::settled(&settled),
            Some(_) => JobEnd::Unacknowledged,
            None => JobEnd::Gone,
        })
    }

    /// The request account, if it still exists.
    async fn account(&self) -> Result<Option<Request>, ChainError> {
        self.chain.account(&self.request, "Request").await
    }

    /// Claims payment for the answered request (or finds it already claimed by an earlier run).
    async fn complete(&self) -> Result<JobEnd, JobError> {
        let latest = self.account().await?.ok_or(ChainError::BadAccount {
            address: self.request,
            kind: "Request",
        })?;
        if latest.state == RequestState::Ready {
            let sent = self
                .chain
                .send(
                    &[complete_request(&self.request, &latest)],
                    &self.operator,
                    &[],
                )
                .await;
            match sent {
                Ok(_) => {}
                // An earlier run's claim landed first.
                Err(error) if error.refused() == Some(ChainferenceError::RequestNotReady) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let settled = self.account().await?;
        Ok(settled
            .filter(|settled| settled.state == RequestState::Completed)
            .map_or(JobEnd::Gone, |settled| JobEnd::settled(&settled)))
    }

    /// Waits until the request is ready; `None` if the prompt window closed first (the request
    /// is then expired, the bond coming back) or the request is gone.
    async fn wait_for_prompt(&self) -> Result<Option<Request>, JobError> {
        loop {
            let account: Option<Request> = self.chain.account(&self.request, "Request").await?;
            let Some(account) = account else {
                return Ok(None);
            };
            match account.state {
                RequestState::Ready | RequestState::Completed => return Ok(Some(account)),
                RequestState::Open => return Ok(None),
                RequestState::Locked => {}
            }
            let deadline = account.lock.locked_at + i64::from(account.prompt_window_secs);
            if self.chain.now().await? > deadline {
                match self
                    .chain
                    .send(
                        &[expire_request(&self.request, &account)],
                        &self.operator,
                        &[],
                    )
                    .await
                {
                    Ok(_) => {
                        tracing::info!(request = %self.request, "the client never sent its prompt; expired, bond returned");
                        return Ok(None);
                    }
                    Err(error) if error.refused() == Some(ChainferenceError::NotExpired) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reads the sealed prompt from the ledger, checks it against the request's prompt hash,
    /// and opens it. A prompt that does not open is answered with an empty final chunk.
    async fn open_prompt(
        &self,
        ready: &Request,
    ) -> Result<(SessionKey, Result<PromptEnvelope, EnvelopeError>), JobError> {
        // The ledger can lag the account by a moment: read until the hash matches.
        for _ in 0..20 {
            let history = history_of(&self.chain, &self.request).await?;
            let pieces = prompt_pieces(&history);
            let hash = pieces
                .iter()
                .fold([0u8; 32], |hash, piece| extend_prompt_hash(&hash, piece));
            if hash == ready.prompt.hash {
                let sealed = pieces.concat();
                let context = self.chain.key_context(&self.request);
                let seed = operator_seed(&self.operator);
                let client_public = match prompt_client_key(&sealed) {
                    Ok(key) => key,
                    Err(error) => {
                        // Without the client's key no session exists; answer under our own.
                        let own = chainference_client::envelope::server_public_key(&seed, &context);
                        let (_, key) = server_session(&seed, &own, &context)
                            .map_err(|e| JobError::Seal(e.to_string()))?;
                        return Ok((key, Err(error)));
                    }
                };
                let (_, key) = server_session(&seed, &client_public, &context)
                    .map_err(|error| JobError::Seal(error.to_string()))?;
                return Ok((key, open_prompt(&sealed, &key, &context)));
            }
            tokio::time::sleep(POLL).await;
        }
        Err(JobError::PromptIncomplete)
    }
}

/// The 32-byte seed of the operator's key, from which per-request keys derive.
pub fn operator_seed(operator: &Keypair) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&operator.to_bytes()[..32]);
    seed
}
