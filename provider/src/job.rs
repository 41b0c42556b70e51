//! One locked request's life on the provider: wait for the sealed prompt and open it
//! ([`crate::prompt`]), pick up whatever an earlier run posted ([`crate::resume`]), run the
//! answer ([`crate::answer`]) on chain or directly over the endpoint, and claim payment. A
//! client that never sends its prompt is expired at the prompt deadline (the bond comes
//! back, no blame).

use crate::answer::answer;
use crate::checkpoint::{pass, Checkpoint};
use crate::context::{Job, JobError};
use crate::direct::Direct;
use crate::poster::OnChain;
use crate::prompt::Prompt;
use crate::resume::{read_posted, wait_until_past, Posted};
use chainference::error::ChainferenceError;
use chainference::state::{Delivery, Request, RequestState};
use chainference_client::instructions::{complete_request, expire_request, scope};
use chainference_client::rpc::ChainError;
use std::ops::ControlFlow;
use std::time::Duration;

/// How often the request is polled while waiting for the prompt.
const POLL: Duration = Duration::from_millis(300);

/// Times a job re-reads the chain after finding its answer overtaken by an earlier run's
/// append.
const ATTEMPTS: usize = 3;

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
        let prompt = Prompt::open(&self, &ready).await?;
        tracing::info!(
            ready_after_ms = seen.as_millis() as u64,
            opened_after_ms = started.elapsed().as_millis() as u64,
            "prompt read from the ledger and opened"
        );
        if let Some(height) = self.quiet_after {
            wait_until_past(&self.chain, height).await?;
        }
        for attempt in 1..=ATTEMPTS {
            let account = match self.answerable().await? {
                ControlFlow::Continue(account) => account,
                ControlFlow::Break(end) => return Ok(end),
            };
            if account.terms.delivery == Delivery::Direct {
                return self.deliver_directly(&account, &prompt).await;
            }
            match self.post_on_chain(&account, &prompt).await {
                Err(JobError::Overtaken) if attempt < ATTEMPTS => {
                    tracing::warn!(
                        "an earlier run's append landed first; reading the answer again"
                    );
                    continue;
                }
                result => result?,
            }
            let request = self.request;
            pass(&self.hold, Checkpoint::Answered { request }).await;
            return self.complete().await;
        }
        Err(JobError::Overtaken)
    }

    /// The request account if it is still to be answered (ready, within its time limit), or
    /// how the job ends.
    async fn answerable(&self) -> Result<ControlFlow<JobEnd, Request>, JobError> {
        let Some(account) = self.account().await? else {
            return Ok(ControlFlow::Break(JobEnd::Gone));
        };
        match account.state {
            RequestState::Ready => {}
            RequestState::Completed => return Ok(ControlFlow::Break(JobEnd::settled(&account))),
            RequestState::Open | RequestState::Locked => {
                return Ok(ControlFlow::Break(JobEnd::Gone))
            }
        }
        if self.chain.now().await? > account.deadline().unwrap_or(i64::MAX) {
            tracing::warn!(
                "the time limit passed before the answer was complete; the client will expire it"
            );
            return Ok(ControlFlow::Break(JobEnd::TooLate));
        }
        Ok(ControlFlow::Continue(account))
    }

    /// Appends the answer to `ready` on chain, going on from whatever an earlier run posted.
    async fn post_on_chain(&self, ready: &Request, prompt: &Prompt) -> Result<(), JobError> {
        let compression = prompt.compression();
        let posted =
            read_posted(&self.chain, &self.request, ready, prompt.key, compression).await?;
        let cursor = &posted.cursor;
        if cursor.next_seq > 0 {
            tracing::info!(
                next_seq = cursor.next_seq,
                tokens = cursor.tokens,
                finished = cursor.finished,
                "resuming a posted answer"
            );
        }
        if cursor.finished {
            return Ok(());
        }
        answer(self, ready, prompt, posted, OnChain::new(self, ready)).await
    }

    /// Delivers the answer to `ready` over the endpoint and claims payment on the client's
    /// acknowledgement.
    async fn deliver_directly(&self, ready: &Request, prompt: &Prompt) -> Result<JobEnd, JobError> {
        let (Some((feeds, roots)), 0) = (&self.direct, ready.response.next_seq) else {
            tracing::warn!("a direct answer of an earlier run cannot go on (its chunks were not kept); the client will expire it");
            return Ok(JobEnd::DirectLost);
        };
        let scope = scope(&self.chain.genesis_hash(), &self.request);
        let feed = feeds.open(self.request, ready.client, scope);
        let direct = Direct::new(self, ready, &feed, roots);
        let posted = answer(self, ready, prompt, Posted::default(), direct).await;
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
                        tracing::info!("the client never sent its prompt; expired, bond returned");
                        return Ok(None);
                    }
                    Err(error) if error.refused() == Some(ChainferenceError::NotExpired) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
