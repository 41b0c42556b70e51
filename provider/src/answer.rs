//! One answer, whichever way it is delivered: text from the engine ([`crate::generation`]) is
//! compressed and sealed, cut into batches when they are due, and each batch handed to a
//! [`Delivery`]: appends on chain ([`crate::poster`]) or the client's WebSocket with only the
//! roots on chain ([`crate::direct`]). On chain, with no latency bound a batch waits until it
//! fills what the delivery takes at once; with one, the first batch goes as soon as there is
//! text and later ones at most that far apart. Direct delivery takes the text as the engine
//! produces it. Every batch is checked against the program's rules on a mirror of the
//! request's response before it goes out.

use crate::context::{Job, JobError};
use crate::generation::Generation;
use crate::prompt::Prompt;
use crate::resume::Posted;
use anchor_lang::prelude::Pubkey;
use chainference::state::Request;
use chainference_client::answer::AnswerSealer;
use chainference_client::envelope::FinishReason;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{
    AppliedBatch, BatchRuleError, ChunkRef, ResponseCursor, RootClaim,
};
use std::time::Duration;
use tokio::time::Instant;

/// Text bytes compressed between two flushes of the answer's stream when nothing else
/// flushes it: each flush ends a compressed block, so longer runs compress better, while the
/// bytes they give are cut into batches whatever their length.
const FLUSH_TEXT_BYTES: usize = 4_096;

/// What the answer's pending bytes call for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet.
    Nothing,
    /// Transactions filled to the byte, while the pending bytes fill one.
    Full,
    /// Everything pending (the stream flushed first), the last transaction as short as it
    /// comes.
    All,
}

/// How a delivery cuts an answer into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Everything pending as soon as there is any, whatever the latency bound: the delivery
    /// sends text as the engine produces it and closes batches itself.
    Stream,
    /// Transactions filled to the byte: a batch is due once the pending bytes fill `room`.
    Fill {
        /// Stream bytes that fill one transaction.
        room: usize,
    },
}

/// When an answer's batches are due: the delivery's cut, or the request's latency bound.
#[derive(Clone, Copy, Debug)]
struct Cadence {
    /// The longest wait between batches (`None`: only the cut closes a batch).
    wait: Option<Duration>,
    /// How the delivery cuts batches.
    cut: Cut,
}

impl Cadence {
    /// What is due with `pending` sealed-ready bytes and `tokens` tokens not yet batched,
    /// `since_batch` after the last batch (`None` before the first).
    fn due(
        &self,
        finished: bool,
        pending: usize,
        tokens: u64,
        since_batch: Option<Duration>,
    ) -> Due {
        let bound_ran_out = match (self.wait, since_batch) {
            (Some(_), None) => true,
            (Some(wait), Some(since)) => since >= wait,
            (None, _) => false,
        };
        if finished || (bound_ran_out && tokens > 0) {
            return Due::All;
        }
        match self.cut {
            Cut::Stream if tokens > 0 => Due::All,
            Cut::Fill { room } if pending >= room.max(1) => Due::Full,
            _ => Due::Nothing,
        }
    }

    /// How long to wait for the engine before looking again.
    fn patience(&self, tokens: u64, since_batch: Option<Duration>) -> Duration {
        match (self.wait, since_batch) {
            (Some(wait), Some(since)) if tokens > 0 => wait.saturating_sub(since),
            _ => Duration::from_secs(1),
        }
    }
}

/// Where an answer stands after a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More is to come.
    Going,
    /// The final chunk is delivered.
    Done,
    /// The answer stops short (the client stopped acknowledging); what was delivered is
    /// settled.
    Stopped,
}

/// The answer's sealer and the response it makes as the program counts it.
pub(crate) struct Sealing {
    /// The sealer.
    pub sealer: AnswerSealer,
    /// The response with every batch so far: where the next one starts.
    pub cursor: ResponseCursor,
    request: Pubkey,
    max_output_tokens: u32,
}

impl Sealing {
    /// Seals `job`'s answer to `ready` under `prompt`'s key, in the compression it asks for,
    /// going on from `cursor` (what is posted) with a new compression stream.
    fn start(
        job: &Job,
        ready: &Request,
        prompt: &Prompt,
        cursor: ResponseCursor,
    ) -> Result<Self, JobError> {
        let context = job.chain.key_context(&job.request);
        let sealer = AnswerSealer::new(prompt.key, context, prompt.compression(), cursor.next_seq)
            .map_err(JobError::Seal)?;
        Ok(Self {
            sealer,
            cursor,
            request: job.request,
            max_output_tokens: ready.terms.max_output_tokens,
        })
    }

    /// Counts `chunks` as the next batch delivered on chain, by the program's rules; its root
    /// claim.
    pub fn batch(&mut self, chunks: &[Chunk]) -> Result<RootClaim, JobError> {
        self.count(chunks, ResponseCursor::apply)
    }

    /// Counts `chunks` as the next batch delivered directly, by the program's rules; its root
    /// claim.
    pub fn batch_direct(&mut self, chunks: &[Chunk]) -> Result<RootClaim, JobError> {
        self.count(chunks, ResponseCursor::apply_direct)
    }

    fn count(
        &mut self,
        chunks: &[Chunk],
        apply: impl FnOnce(
            &mut ResponseCursor,
            &[u8; 32],
            u32,
            &[ChunkRef<'_>],
        ) -> Result<AppliedBatch, BatchRuleError>,
    ) -> Result<RootClaim, JobError> {
        let before = self.cursor;
        let views: Vec<_> = chunks.iter().map(Chunk::as_ref).collect();
        let applied = apply(
            &mut self.cursor,
            &self.request.to_bytes(),
            self.max_output_tokens,
            &views,
        )
        .map_err(JobError::Batch)?;
        Ok(RootClaim::between(&before, &self.cursor, applied.root))
    }
}

/// A way an answer's batches reach the client.
pub(crate) trait Delivery {
    /// How it cuts batches.
    fn cut(&self) -> Cut;

    /// Seals what `due` calls for from `sealing` (with `finish`, the answer's end) and
    /// delivers it, passing the job's checkpoints.
    async fn deliver(
        &mut self,
        sealing: &mut Sealing,
        due: Due,
        finish: Option<FinishReason>,
    ) -> Result<Progress, JobError>;
}

/// Generates the answer to `ready` (an unopenable prompt gets an empty answer) and hands its
/// batches to `delivery`, going on from what is already `posted`: its text is continued, its
/// tokens stay billed, and a new compression stream starts at its next sequence number.
pub(crate) async fn answer(
    job: &Job,
    ready: &Request,
    prompt: &Prompt,
    posted: Posted,
    mut delivery: impl Delivery,
) -> Result<(), JobError> {
    let first_seq = posted.cursor.next_seq;
    let mut sealing = Sealing::start(job, ready, prompt, posted.cursor)?;
    let mut generation = Generation::start(job, ready, prompt, &posted).await?;
    let cadence = Cadence {
        wait: ready.terms.batch_wait(),
        cut: delivery.cut(),
    };
    let started = Instant::now();
    let mut last_batch: Option<Instant> = None;
    let since_batch = |last_batch: Option<Instant>| last_batch.map(|at| at.elapsed());
    let due_now = |sealer: &AnswerSealer, finished: bool, last_batch: Option<Instant>| {
        cadence.due(
            finished,
            sealer.pending_len(),
            sealer.pending_tokens(),
            since_batch(last_batch),
        )
    };
    loop {
        // Take what the engine has, waiting for more only while nothing is due.
        let sealer = &sealing.sealer;
        let timeout = match due_now(sealer, false, last_batch) {
            Due::Nothing => cadence.patience(sealer.pending_tokens(), since_batch(last_batch)),
            Due::Full | Due::All => Duration::ZERO,
        };
        generation.take(&mut sealing.sealer, timeout).await?;
        let finish = generation.finish();
        let mut due = due_now(&sealing.sealer, finish.is_some(), last_batch);
        // Compressed bytes exist only once the stream is flushed: at a batch that takes all,
        // or after a run of text long enough to fill batches.
        if due == Due::All || generation.unflushed_text() >= FLUSH_TEXT_BYTES {
            generation.flush(&mut sealing.sealer)?;
            due = due_now(&sealing.sealer, finish.is_some(), last_batch);
        }
        if due == Due::Nothing {
            continue;
        }
        let before = sealing.cursor.next_seq;
        let progress = delivery.deliver(&mut sealing, due, finish).await?;
        if before == first_seq && sealing.cursor.next_seq > first_seq {
            tracing::info!(
                after_ms = started.elapsed().as_millis() as u64,
                tokens = generation.tokens(),
                "first batch delivered"
            );
        }
        // The bound counts from here even if the tokens due carried no bytes.
        last_batch = Some(Instant::now());
        match progress {
            Progress::Going => {}
            Progress::Done => break,
            Progress::Stopped => return Ok(()),
        }
    }
    let (tokens, seconds) = (generation.tokens(), started.elapsed().as_secs_f64());
    tracing::info!(
        tokens,
        seconds,
        tokens_per_second = f64::from(tokens) / seconds.max(1e-9),
        "answer posted"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: usize = 850;

    fn filled() -> Cadence {
        Cadence {
            wait: None,
            cut: Cut::Fill { room: ROOM },
        }
    }

    fn bounded(ms: u64) -> Cadence {
        Cadence {
            wait: Some(Duration::from_millis(ms)),
            cut: Cut::Fill { room: ROOM },
        }
    }

    #[test]
    fn with_no_bound_only_filled_transactions_go_until_the_end() {
        let cadence = filled();
        // Text waiting, however long, is not posted until it fills a transaction.
        assert_eq!(cadence.due(false, 0, 40, None), Due::Nothing);
        assert_eq!(cadence.due(false, ROOM - 1, 400, None), Due::Nothing);
        let an_hour = Some(Duration::from_secs(3_600));
        assert_eq!(cadence.due(false, ROOM - 1, 400, an_hour), Due::Nothing);
        assert_eq!(cadence.due(false, ROOM, 400, None), Due::Full);
        assert_eq!(cadence.due(false, 3 * ROOM + 7, 400, an_hour), Due::Full);
        // The end takes everything, the last transaction short.
        assert_eq!(cadence.due(true, 10, 2, an_hour), Due::All);
        assert_eq!(cadence.patience(400, an_hour), Duration::from_secs(1));
    }

    #[test]
    fn a_bound_sends_the_first_text_at_once_and_then_at_most_that_far_apart() {
        let cadence = bounded(500);
        assert_eq!(cadence.due(false, 0, 0, None), Due::Nothing);
        assert_eq!(
            cadence.due(false, 0, 1, None),
            Due::All,
            "first text at once"
        );
        let soon = Some(Duration::from_millis(200));
        let late = Some(Duration::from_millis(500));
        assert_eq!(cadence.due(false, 100, 5, soon), Due::Nothing);
        assert_eq!(
            cadence.due(false, ROOM, 5, soon),
            Due::Full,
            "a full one goes"
        );
        assert_eq!(cadence.due(false, 100, 5, late), Due::All);
        assert_eq!(
            cadence.due(false, 0, 0, late),
            Due::Nothing,
            "nothing to send"
        );
        assert_eq!(
            cadence.patience(5, soon),
            Duration::from_millis(300),
            "waits no longer than the bound leaves"
        );
        // With nothing pending the engine is waited on, not polled in a loop.
        assert_eq!(cadence.patience(0, late), Duration::from_secs(1));
    }

    #[test]
    fn a_streamed_delivery_takes_the_text_as_it_comes_whatever_the_bound() {
        for wait in [None, Some(Duration::from_secs(5))] {
            let cadence = Cadence {
                wait,
                cut: Cut::Stream,
            };
            let soon = Some(Duration::from_millis(1));
            assert_eq!(cadence.due(false, 0, 0, soon), Due::Nothing);
            assert_eq!(cadence.due(false, 0, 1, soon), Due::All, "{wait:?}");
            assert_eq!(cadence.due(true, 0, 0, soon), Due::All);
        }
    }
}
