//! Posting one answer: text from the engine is compressed and sealed, and batches go out as
//! `append_batch` transactions, one in flight per request, each confirmed before the next
//! (so sequence numbers stay exact). The first batch goes as soon as there is text; later ones
//! when a transaction is full, when the request's latency bound runs out, or at the end. Near
//! the time limit the answer is cut with reason `deadline`, so it can still be billed.

use crate::checkpoint::{pass, Checkpoint};
use crate::engine::Generated;
use crate::job::{Job, JobError};
use crate::resume::Posted;
use chainference::state::Request;
use chainference_client::answer::AnswerSealer;
use chainference_client::batcher::{pack, PendingAnswer, TxShape};
use chainference_client::envelope::{EnvelopeError, FinishReason, PromptEnvelope, SessionKey};
use chainference_client::instructions::append_batch;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::batch_root;
use solana_signer::Signer;
use std::time::Duration;
use tokio::time::Instant;

/// Append transactions: legacy, no compute-budget instructions (see the cost notes in the
/// README for the v0 lookup-table shape).
pub const SHAPE: TxShape = TxShape {
    versioned: false,
    compute_unit_limit: false,
    compute_unit_price: false,
};

/// Text bytes assumed to fill one transaction before compression is known (zstd on prose
/// shrinks about 2.5×; a flush that turns out short just posts a smaller batch).
const FILL_TEXT_BYTES: usize = 1_800;
/// Seconds before the time limit at which an unfinished answer is cut.
const DEADLINE_MARGIN_SECS: i64 = 10;

/// Generates and posts the answer to `ready` (an unopenable prompt gets an empty answer),
/// going on from what is already `posted`: its text is continued, its tokens stay billed, and
/// a new compression stream starts at its next sequence number.
pub async fn post_answer(
    job: &Job,
    ready: &Request,
    key: SessionKey,
    prompt: &Result<PromptEnvelope, EnvelopeError>,
    max_tokens: u32,
    posted: Posted,
) -> Result<(), JobError> {
    let context = job.chain.key_context(&job.request);
    let compression = prompt
        .as_ref()
        .map(|prompt| prompt.compression)
        .unwrap_or_default();
    let mut sealer = AnswerSealer::new(key, context, compression, posted.cursor.next_seq)
        .map_err(|error| JobError::Seal(error.to_string()))?;
    let model = &ready.terms.model;
    let mut steps = match prompt {
        Ok(prompt) => match job.engine.generate(model, prompt, &posted.text, max_tokens) {
            Ok(steps) => Some(steps),
            Err(error) => {
                tracing::error!(request = %job.request, %error, "the engine refused the request");
                None
            }
        },
        Err(error) => {
            tracing::warn!(request = %job.request, %error, "the prompt does not open; answering with an empty final chunk");
            None
        }
    };
    // The chain's clock is read once; the cut is then timed locally.
    let deadline = ready.deadline().unwrap_or(i64::MAX) - DEADLINE_MARGIN_SECS;
    let left = u64::try_from(deadline.saturating_sub(job.chain.now().await?))
        .unwrap_or(0)
        .min(u64::from(chainference::constants::MAX_TIME_LIMIT_SECS));
    let cut_at = Instant::now() + Duration::from_secs(left);
    let wait = match ready.terms.max_batch_wait_ms {
        0 => None,
        ms => Some(Duration::from_millis(u64::from(ms))),
    };
    let mut finish: Option<FinishReason> = if steps.is_none() {
        Some(FinishReason::Stop)
    } else {
        None
    };
    // Tokens billed so far, and tokens billed for text a crash cut off before the client
    // could decode it (generated again, so not billed again).
    let mut tokens: u32 = posted.cursor.tokens;
    let mut overbilled: u32 = 0;
    let mut unflushed_text = 0usize;
    let mut posted_any = false;
    let generation = Instant::now();
    let mut last_post = generation;
    while !sealer.is_finished() {
        // Take what the engine has, waiting for more only while there is nothing to post.
        if let (Some(receiver), None) = (&mut steps, finish) {
            let must_post = !posted_any && sealer.pending_tokens() > 0
                || unflushed_text >= FILL_TEXT_BYTES
                || sealer.pending_len() > 0;
            let timeout = match wait {
                _ if must_post => Duration::ZERO,
                // Text is waiting for the latency bound: no longer than it allows.
                Some(wait) if posted_any && sealer.pending_tokens() > 0 => {
                    wait.saturating_sub(last_post.elapsed())
                }
                _ => Duration::from_secs(1),
            };
            let first = tokio::time::timeout(timeout, receiver.recv()).await;
            let mut received = match first {
                Ok(step) => vec![step],
                Err(_) => Vec::new(),
            };
            while let Ok(step) = receiver.try_recv() {
                received.push(Some(step));
            }
            for step in received {
                match step {
                    Some(Generated::Resumed { tokens: delivered }) => {
                        overbilled = posted.cursor.tokens.saturating_sub(delivered);
                    }
                    Some(Generated::Text {
                        text,
                        tokens: count,
                    }) => {
                        let credit = count.min(overbilled);
                        overbilled -= credit;
                        let count = (count - credit).min(max_tokens.saturating_sub(tokens));
                        tokens += count;
                        unflushed_text += text.len();
                        sealer
                            .push(&text, count)
                            .map_err(|error| JobError::Seal(error.to_string()))?;
                        if tokens >= max_tokens {
                            finish = Some(FinishReason::Length);
                        }
                    }
                    Some(Generated::Done(reason)) => finish = Some(reason),
                    Some(Generated::Failed(error)) => {
                        tracing::error!(request = %job.request, %error, "generation failed; ending the answer here");
                        finish = Some(FinishReason::Stop);
                    }
                    None => finish = finish.or(Some(FinishReason::Stop)),
                }
                if finish.is_some() {
                    break;
                }
            }
            if Instant::now() >= cut_at && finish.is_none() {
                tracing::warn!(request = %job.request, "the time limit is near; ending the answer");
                finish = Some(FinishReason::Deadline);
            }
        }
        if finish.is_some() {
            steps = None; // stops the engine
        }
        let due = finish.is_some()
            || (!posted_any && sealer.pending_tokens() > 0)
            || unflushed_text >= FILL_TEXT_BYTES
            || sealer.pending_len() > 0
            || wait.is_some_and(|wait| last_post.elapsed() >= wait && sealer.pending_tokens() > 0);
        if !due {
            continue;
        }
        sealer
            .flush()
            .map_err(|error| JobError::Seal(error.to_string()))?;
        unflushed_text = 0;
        let mut pending = [PendingAnswer {
            request: job.request,
            tree: ready.lock.tree,
            sealer: &mut sealer,
            finish,
        }];
        let packed =
            pack(&SHAPE, &mut pending).map_err(|error| JobError::Seal(error.to_string()))?;
        for append in packed {
            let root = root_of(&job.request.to_bytes(), &append.chunks)?;
            let instruction = append_batch(
                &job.operator.pubkey(),
                &append.request,
                &append.tree,
                root,
                &append.chunks,
            );
            let sent = Instant::now();
            let first_seq = append.chunks.first().map_or(0, |chunk| chunk.seq);
            let request = job.request;
            job.chain
                .send_watched(&[instruction], &job.operator, &[], |_| {
                    pass(&job.hold, Checkpoint::BatchSent { request, first_seq })
                })
                .await
                .map_err(|error| match error.refusal_name() {
                    Some("SequenceMismatch") => JobError::Overtaken,
                    _ => error.into(),
                })?;
            let next_seq = append.chunks.last().map_or(0, |chunk| chunk.seq + 1);
            pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
            tracing::debug!(
                request = %job.request,
                chunks = append.chunks.len(),
                confirm_ms = sent.elapsed().as_millis() as u64,
                "batch confirmed"
            );
            if !posted_any {
                tracing::info!(
                    request = %job.request,
                    after_ms = generation.elapsed().as_millis() as u64,
                    confirm_ms = sent.elapsed().as_millis() as u64,
                    tokens,
                    "first batch confirmed"
                );
            }
        }
        posted_any = true;
        last_post = Instant::now();
    }
    let seconds = generation.elapsed().as_secs_f64();
    tracing::info!(
        request = %job.request,
        tokens,
        seconds,
        tokens_per_second = f64::from(tokens) / seconds.max(1e-9),
        "answer posted"
    );
    Ok(())
}

/// The batch root the program recomputes from the chunks.
fn root_of(request: &[u8; 32], chunks: &[Chunk]) -> Result<[u8; 32], JobError> {
    let hashes: Vec<_> = chunks.iter().map(|chunk| chunk.hash(request)).collect();
    batch_root(&hashes).map_err(|error| JobError::Seal(format!("{error:?}")))
}
