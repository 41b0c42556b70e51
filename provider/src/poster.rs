//! Posting one answer: text from the engine is compressed and sealed, and batches go out as
//! v0 `append_batch` transactions that load their fixed accounts from the provider's lookup
//! table, one in flight per request, each confirmed before the next (so sequence numbers stay
//! exact). With no latency bound every batch fills its transaction to the byte and only the
//! last may be short; with one, the first batch goes as soon as there is text and later ones
//! when a transaction is full or the bound runs out. The final batch claims payment in its
//! own transaction when there is room. [`crate::generation`] feeds the sealer from the engine.

use crate::checkpoint::{pass, Checkpoint};
use crate::generation::{sealer_for, Generation};
use crate::job::{Job, JobError};
use crate::resume::Posted;
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use chainference::error::ChainferenceError;
use chainference::state::Request;
use chainference_client::answer::AnswerSealer;
use chainference_client::batcher::APPEND_COMPUTE_UNITS;
use chainference_client::batcher::{pack, PendingAnswer, TxShape, PACKET_DATA_SIZE};
use chainference_client::envelope::{EnvelopeError, PromptEnvelope, SessionKey};
use chainference_client::instructions::{append_batch, complete_request};
use chainference_client::rpc::transaction_size;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::batch_root;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_message::AddressLookupTableAccount;
use solana_signer::Signer;
use std::time::Duration;
use tokio::time::Instant;

/// The most compute units a transaction may ask for.
const MAX_COMPUTE_UNITS: u32 = 1_400_000;

/// Text bytes compressed between two flushes of the answer's stream when nothing else
/// flushes it: each flush ends a compressed block, so longer runs compress better, while the bytes
/// they give are cut into transactions whatever their length.
pub(crate) const FLUSH_TEXT_BYTES: usize = 4_096;

/// How a provider's appends are sent.
#[derive(Clone, Debug)]
pub struct Posting {
    /// The lookup table holding the appends' fixed accounts and the provider's tree.
    pub table: AddressLookupTableAccount,
    /// Priority fee in micro-lamports per compute unit (0: none, and no compute-budget
    /// instructions).
    pub compute_unit_price: u64,
}

impl Posting {
    /// The shape of appends to `tree`: v0 through the table when it holds the tree (an older
    /// tree's appends go as legacy transactions).
    pub(crate) fn shape(&self, tree: &Pubkey) -> TxShape {
        let priced = self.compute_unit_price > 0;
        TxShape {
            versioned: self.table.addresses.contains(tree),
            compute_unit_limit: priced,
            compute_unit_price: priced,
        }
    }

    /// The lookup tables a transaction of `shape` loads.
    pub(crate) fn tables(&self, shape: &TxShape) -> &[AddressLookupTableAccount] {
        if shape.versioned {
            std::slice::from_ref(&self.table)
        } else {
            &[]
        }
    }

    /// The compute-budget instructions that go before each append.
    pub(crate) fn budget(&self) -> Vec<Instruction> {
        self.budget_for(1)
    }

    /// The compute-budget instructions before a transaction of `appends` appends.
    pub(crate) fn budget_for(&self, appends: usize) -> Vec<Instruction> {
        if self.compute_unit_price == 0 {
            return Vec::new();
        }
        let units = u32::try_from(appends)
            .unwrap_or(u32::MAX)
            .saturating_mul(APPEND_COMPUTE_UNITS)
            .min(MAX_COMPUTE_UNITS);
        vec![
            ComputeBudgetInstruction::set_compute_unit_limit(units),
            ComputeBudgetInstruction::set_compute_unit_price(self.compute_unit_price),
        ]
    }

    /// The lookup tables a transaction of roots loads (its trees' accounts from the provider's
    /// table where it holds them).
    pub(crate) fn root_tables(&self) -> &[AddressLookupTableAccount] {
        std::slice::from_ref(&self.table)
    }
}

/// What the answer's pending bytes call for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// Nothing yet.
    Nothing,
    /// Transactions filled to the byte, while the pending bytes fill one.
    Full,
    /// Everything pending, the last transaction as short as it comes.
    All,
}

/// When an answer's batches go out: filled transactions, or the latency bound.
#[derive(Clone, Copy, Debug)]
struct Cadence {
    /// The longest wait between batches (`None`: fill every transaction).
    wait: Option<Duration>,
    /// Stream bytes that fill one transaction.
    room: usize,
}

impl Cadence {
    /// What is due with `pending` sealed-ready bytes and `tokens` tokens not yet posted,
    /// `since_post` after the last batch (`None` before the first).
    fn due(
        &self,
        finished: bool,
        pending: usize,
        tokens: u64,
        since_post: Option<Duration>,
    ) -> Due {
        let bound_ran_out = match (self.wait, since_post) {
            (Some(_), None) => true,
            (Some(wait), Some(since)) => since >= wait,
            (None, _) => false,
        };
        if finished || (bound_ran_out && tokens > 0) {
            Due::All
        } else if pending >= self.room.max(1) {
            Due::Full
        } else {
            Due::Nothing
        }
    }

    /// How long to wait for the engine before looking again.
    fn patience(&self, tokens: u64, since_post: Option<Duration>) -> Duration {
        match (self.wait, since_post) {
            (Some(wait), Some(since)) if tokens > 0 => wait.saturating_sub(since),
            _ => Duration::from_secs(1),
        }
    }
}

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
    let mut sealer = sealer_for(job, key, prompt, posted.cursor.next_seq)?;
    let mut generation = Generation::start(job, ready, prompt, &posted, max_tokens).await?;
    let tree = ready.lock.tree;
    let shape = job.posting.shape(&tree);
    let tables = job.posting.tables(&shape);
    let cadence = Cadence {
        wait: ready.terms.batch_wait(),
        room: shape.answer_room(tree),
    };
    let started = Instant::now();
    let mut last_post: Option<Instant> = None;
    let since_post = |last_post: Option<Instant>| last_post.map(|at| at.elapsed());
    let due_now = |sealer: &AnswerSealer, finished: bool, last_post: Option<Instant>| {
        cadence.due(
            finished,
            sealer.pending_len(),
            sealer.pending_tokens(),
            since_post(last_post),
        )
    };
    while !sealer.is_finished() {
        // Take what the engine has, waiting for more only while nothing is due.
        let timeout = match due_now(&sealer, false, last_post) {
            Due::Nothing => cadence.patience(sealer.pending_tokens(), since_post(last_post)),
            Due::Full | Due::All => Duration::ZERO,
        };
        generation.take(&job.request, &mut sealer, timeout).await?;
        let finish = generation.finish();
        let mut due = due_now(&sealer, finish.is_some(), last_post);
        // Compressed bytes exist only once the stream is flushed: at a batch that takes all,
        // or after a run of text long enough to fill transactions.
        if due == Due::All || generation.unflushed_text() >= FLUSH_TEXT_BYTES {
            generation.flush(&mut sealer)?;
            due = due_now(&sealer, finish.is_some(), last_post);
        }
        // Filled transactions while the bytes fill one; everything when all is due.
        let batch_moment = due == Due::All;
        while due != Due::Nothing && !sealer.is_finished() {
            let mut pending = [PendingAnswer {
                request: job.request,
                tree,
                sealer: &mut sealer,
                finish,
            }];
            let packed =
                pack(&shape, &mut pending).map_err(|error| JobError::Seal(error.to_string()))?;
            for append in packed {
                post_append(job, ready, &append.chunks, tree, tables).await?;
                if last_post.is_none() {
                    tracing::info!(
                        request = %job.request,
                        after_ms = started.elapsed().as_millis() as u64,
                        tokens = generation.tokens(),
                        "first batch confirmed"
                    );
                }
                last_post = Some(Instant::now());
            }
            due = match due {
                Due::All if sealer.pending_len() > 0 || finish.is_some() => Due::All,
                _ if sealer.pending_len() >= cadence.room.max(1) => Due::Full,
                _ => Due::Nothing,
            };
        }
        if batch_moment {
            // The bound counts from here even if the tokens due carried no bytes.
            last_post = Some(Instant::now());
        }
    }
    log_posted(&job.request, generation.tokens(), started);
    Ok(())
}

/// Logs an answer's pace once it is posted.
pub(crate) fn log_posted(request: &Pubkey, tokens: u32, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        %request,
        tokens,
        seconds,
        tokens_per_second = f64::from(tokens) / seconds.max(1e-9),
        "answer posted"
    );
}

/// Sends one append of `chunks` (with the priority fee's instructions, if any) and waits for
/// it to be confirmed, passing the job's checkpoints on the way. The final append claims
/// payment in the same transaction when `complete_request` fits beside it (one signature
/// fewer a request); the job then finds the request completed.
async fn post_append(
    job: &Job,
    ready: &Request,
    chunks: &[Chunk],
    tree: Pubkey,
    tables: &[AddressLookupTableAccount],
) -> Result<(), JobError> {
    let root = root_of(&job.request.to_bytes(), chunks)?;
    let mut instructions = job.posting.budget();
    instructions.push(append_batch(
        &job.operator.pubkey(),
        &job.request,
        &tree,
        root,
        chunks,
    ));
    if chunks.last().is_some_and(|chunk| chunk.is_final) {
        instructions.push(complete_request(&job.request, ready));
        let fits = transaction_size(&job.operator.pubkey(), &instructions, tables)
            .is_ok_and(|size| size <= PACKET_DATA_SIZE);
        if !fits {
            instructions.pop();
        }
    }
    let sent = Instant::now();
    let first_seq = chunks.first().map_or(0, |chunk| chunk.seq);
    let request = job.request;
    job.chain
        .send_watched(&instructions, &job.operator, &[], tables, |_| {
            pass(&job.hold, Checkpoint::BatchSent { request, first_seq })
        })
        .await
        .map_err(|error| match error.refused() {
            Some(ChainferenceError::SequenceMismatch) => JobError::Overtaken,
            _ => error.into(),
        })?;
    let next_seq = chunks.last().map_or(0, |chunk| chunk.seq + 1);
    pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
    tracing::debug!(
        %request,
        chunks = chunks.len(),
        confirm_ms = sent.elapsed().as_millis() as u64,
        "batch confirmed"
    );
    Ok(())
}

/// The batch root the program recomputes from the chunks.
fn root_of(request: &[u8; 32], chunks: &[Chunk]) -> Result<[u8; 32], JobError> {
    let hashes: Vec<_> = chunks.iter().map(|chunk| chunk.hash(request)).collect();
    batch_root(&hashes).map_err(|error| JobError::Seal(format!("{error:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: usize = 850;

    fn filled() -> Cadence {
        Cadence {
            wait: None,
            room: ROOM,
        }
    }

    fn bounded(ms: u64) -> Cadence {
        Cadence {
            wait: Some(Duration::from_millis(ms)),
            room: ROOM,
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
    }
}
