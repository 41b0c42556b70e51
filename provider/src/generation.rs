//! The engine's side of one answer, whichever way it is delivered: text taken from the engine
//! into the sealer, tokens counted within the request's limit (and not billed again for text a
//! resumed run generates again), and the answer ended at the engine's stop, at the token
//! limit, or near the time limit (reason `deadline`, so it can still be billed).

use crate::context::{Job, JobError};
use crate::engine::Generated;
use crate::prompt::Prompt;
use crate::resume::Posted;
use chainference::state::Request;
use chainference_client::answer::AnswerSealer;
use chainference_client::envelope::FinishReason;
use chainference_client::sampling::SeededSampler;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Seconds before the time limit at which an unfinished answer is cut.
const DEADLINE_MARGIN_SECS: i64 = 10;

/// One answer's generation in progress.
pub struct Generation {
    steps: Option<mpsc::UnboundedReceiver<Generated>>,
    finish: Option<FinishReason>,
    /// Tokens billed so far (those an earlier run posted included).
    tokens: u32,
    /// Tokens an earlier run billed for text a crash cut off before the client could decode
    /// it: generated again, so not billed again.
    overbilled: u32,
    posted_tokens: u32,
    max_tokens: u32,
    cut_at: Instant,
    /// Text bytes pushed since the sealer's last flush.
    unflushed_text: usize,
}

impl Generation {
    /// Starts the engine on `prompt` for `ready`, going on from what is already `posted`
    /// (an unopenable prompt or a refusing engine gets an empty answer).
    pub async fn start(
        job: &Job,
        ready: &Request,
        prompt: &Prompt,
        posted: &Posted,
    ) -> Result<Self, JobError> {
        let model = &ready.terms.model;
        let max_tokens = prompt.max_tokens;
        let steps = match &prompt.envelope {
            Ok(envelope) => match job.engine.generate(
                model,
                envelope,
                SeededSampler::new(&job.request, &envelope.sampling),
                &posted.text,
                max_tokens,
            ) {
                Ok(steps) => Some(steps),
                Err(error) => {
                    tracing::error!(%error, "the engine refused the request");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "the prompt does not open; answering with an empty final chunk");
                None
            }
        };
        // The chain's clock is read once; the cut is then timed locally.
        let deadline = ready.deadline().unwrap_or(i64::MAX) - DEADLINE_MARGIN_SECS;
        let left = u64::try_from(deadline.saturating_sub(job.chain.now().await?))
            .unwrap_or(0)
            .min(u64::from(chainference::constants::MAX_TIME_LIMIT_SECS));
        Ok(Self {
            finish: steps.is_none().then_some(FinishReason::Stop),
            steps,
            tokens: posted.cursor.tokens,
            overbilled: 0,
            posted_tokens: posted.cursor.tokens,
            max_tokens,
            cut_at: Instant::now() + Duration::from_secs(left),
            unflushed_text: 0,
        })
    }

    /// Why the answer ended, once it has.
    pub fn finish(&self) -> Option<FinishReason> {
        self.finish
    }

    /// Tokens billed so far.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Text bytes pushed since the sealer was last flushed.
    pub fn unflushed_text(&self) -> usize {
        self.unflushed_text
    }

    /// Flushes `sealer`'s compression stream (a batch boundary).
    pub fn flush(&mut self, sealer: &mut AnswerSealer) -> Result<(), JobError> {
        sealer.flush().map_err(JobError::Seal)?;
        self.unflushed_text = 0;
        Ok(())
    }

    /// Waits up to `timeout` for the engine, then pushes everything it has into `sealer`; once
    /// the answer ends the engine is stopped.
    pub async fn take(
        &mut self,
        sealer: &mut AnswerSealer,
        timeout: Duration,
    ) -> Result<(), JobError> {
        let (Some(receiver), None) = (&mut self.steps, self.finish) else {
            self.steps = None;
            return Ok(());
        };
        let mut received = match tokio::time::timeout(timeout, receiver.recv()).await {
            Ok(step) => vec![step],
            Err(_) => Vec::new(),
        };
        while let Ok(step) = receiver.try_recv() {
            received.push(Some(step));
        }
        for step in received {
            match step {
                Some(Generated::Resumed { tokens: delivered }) => {
                    self.overbilled = self.posted_tokens.saturating_sub(delivered);
                }
                Some(Generated::Text { text, tokens }) => {
                    let credit = tokens.min(self.overbilled);
                    self.overbilled -= credit;
                    let count = (tokens - credit).min(self.max_tokens.saturating_sub(self.tokens));
                    self.tokens += count;
                    self.unflushed_text += text.len();
                    sealer.push(&text, count).map_err(JobError::Seal)?;
                    if self.tokens >= self.max_tokens {
                        self.finish = Some(FinishReason::Length);
                    }
                }
                Some(Generated::Done(reason)) => self.finish = Some(reason),
                Some(Generated::Failed(error)) => {
                    tracing::error!(%error, "generation failed; ending the answer here");
                    self.finish = Some(FinishReason::Stop);
                }
                None => self.finish = self.finish.or(Some(FinishReason::Stop)),
            }
            if self.finish.is_some() {
                break;
            }
        }
        if Instant::now() >= self.cut_at && self.finish.is_none() {
            tracing::warn!("the time limit is near; ending the answer");
            self.finish = Some(FinishReason::Deadline);
        }
        if self.finish.is_some() {
            self.steps = None; // stops the engine
        }
        Ok(())
    }
}
