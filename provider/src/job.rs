//! One locked request's life on the provider: wait for the sealed prompt, read it from the
//! ledger and open it, generate, post the answer ([`crate::poster`]) and claim payment. A
//! client that never sends its prompt is expired at the prompt deadline (the bond comes back,
//! no blame).

use crate::engine::Engine;
use crate::poster::post_answer;
use anchor_lang::prelude::Pubkey;
use chainference::state::{Request, RequestState};
use chainference_client::envelope::{
    open_prompt, prompt_client_key, server_session, EnvelopeError, PromptEnvelope, SessionKey,
};
use chainference_client::instructions::{complete_request, expire_request};
use chainference_client::ledger::{history_of, prompt_pieces};
use chainference_client::rpc::{Chain, ChainError};
use chainference_prover::core::extend_prompt_hash;
use solana_keypair::Keypair;
use std::sync::Arc;
use std::time::Duration;

/// How often the request is polled while waiting for the prompt.
const POLL: Duration = Duration::from_millis(300);

/// Why a job ended early.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The prompt on the ledger does not match the request's prompt hash.
    #[error("the prompt on the ledger does not match the request's prompt hash")]
    PromptIncomplete,
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
    /// The request was closed by someone else.
    Gone,
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
}

impl Job {
    /// Runs the request from lock to payment.
    pub async fn run(self) -> Result<JobEnd, JobError> {
        let started = std::time::Instant::now();
        let Some(ready) = self.wait_for_prompt().await? else {
            return Ok(JobEnd::NoPrompt);
        };
        if ready.state == RequestState::Completed {
            return Ok(JobEnd::Gone);
        }
        let seen = started.elapsed();
        let (key, prompt) = self.open_prompt(&ready).await?;
        tracing::info!(
            request = %self.request,
            ready_after_ms = seen.as_millis() as u64,
            opened_after_ms = started.elapsed().as_millis() as u64,
            "prompt read from the ledger and opened"
        );
        let max_tokens = match &prompt {
            Ok(prompt) => prompt.max_tokens.min(ready.terms.max_output_tokens).max(1),
            Err(_) => 1,
        };
        post_answer(&self, &ready, key, prompt, max_tokens).await?;
        let latest: Option<Request> = self.chain.account(&self.request, "Request").await?;
        let latest = latest.ok_or(ChainError::BadAccount {
            address: self.request,
            kind: "Request",
        })?;
        self.chain
            .send(
                &[complete_request(&self.request, &latest)],
                &self.operator,
                &[],
            )
            .await?;
        let settled: Option<Request> = self.chain.account(&self.request, "Request").await?;
        Ok(settled.map_or(JobEnd::Gone, |settled| JobEnd::Completed {
            tokens: settled.response.tokens,
            bill: settled.settlement.bill,
        }))
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
                    Err(error) if error.refusal_name() == Some("NotExpired") => {}
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
