//! Delivery on chain: an answer's batches go out as v0 `append_batch` transactions that load
//! their fixed accounts from the provider's lookup table, one in flight per request, each
//! confirmed before the next (so sequence numbers stay exact). Batches fill their transaction
//! to the byte, only the last of a due run being short; the final batch claims payment in its
//! own transaction when there is room.

use crate::answer::{Cut, Delivery, Due, Progress, Sealing};
use crate::checkpoint::{pass, Checkpoint};
use crate::context::{Job, JobError};
use chainference::error::ChainferenceError;
use chainference::state::Request;
use chainference_client::batcher::{pack, PendingAnswer, TxShape, PACKET_DATA_SIZE};
use chainference_client::envelope::FinishReason;
use chainference_client::instructions::{append_batch, complete_request};
use chainference_client::rpc::transaction_size;
use chainference_prover::bundle::Chunk;
use solana_signer::Signer;
use tokio::time::Instant;

/// Appends of one answer to its request's tree.
pub(crate) struct OnChain<'a> {
    job: &'a Job,
    ready: &'a Request,
    shape: TxShape,
}

impl<'a> OnChain<'a> {
    /// Appends to `ready`'s tree, shaped by `job`'s posting.
    pub fn new(job: &'a Job, ready: &'a Request) -> Self {
        let shape = job.posting.shape(&ready.lock.tree);
        Self { job, ready, shape }
    }

    /// Stream bytes that fill one append.
    fn room(&self) -> usize {
        self.shape.answer_room(self.ready.lock.tree)
    }

    /// Sends one append of `chunks` under `root` (with the priority fee's instructions, if
    /// any) and waits for it to be confirmed, passing the job's checkpoints on the way. The
    /// final append claims payment in the same transaction when `complete_request` fits beside
    /// it (one signature fewer a request); the job then finds the request completed.
    async fn post_append(&self, chunks: &[Chunk], root: [u8; 32]) -> Result<(), JobError> {
        let (job, request) = (self.job, self.job.request);
        let tables = job.posting.tables(&self.shape);
        let mut instructions = job.posting.budget();
        instructions.push(append_batch(
            &job.operator.pubkey(),
            &request,
            &self.ready.lock.tree,
            root,
            chunks,
        ));
        if chunks.last().is_some_and(|chunk| chunk.is_final) {
            instructions.push(complete_request(&request, self.ready));
            let fits = transaction_size(&job.operator.pubkey(), &instructions, tables)
                .is_ok_and(|size| size <= PACKET_DATA_SIZE);
            if !fits {
                instructions.pop();
            }
        }
        let sent = Instant::now();
        let first_seq = chunks.first().map_or(0, |chunk| chunk.seq);
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
            chunks = chunks.len(),
            confirm_ms = sent.elapsed().as_millis() as u64,
            "batch confirmed"
        );
        Ok(())
    }
}

impl Delivery for OnChain<'_> {
    fn cut(&self) -> Cut {
        Cut::Fill { room: self.room() }
    }

    /// Posts filled appends while the pending bytes fill one; everything when all is due.
    async fn deliver(
        &mut self,
        sealing: &mut Sealing,
        mut due: Due,
        finish: Option<FinishReason>,
    ) -> Result<Progress, JobError> {
        let room = self.room().max(1);
        while due != Due::Nothing && !sealing.sealer.is_finished() {
            let mut pending = [PendingAnswer {
                request: self.job.request,
                tree: self.ready.lock.tree,
                sealer: &mut sealing.sealer,
                finish,
            }];
            let packed = pack(&self.shape, &mut pending).map_err(JobError::Seal)?;
            for append in packed {
                let claim = sealing.batch(&append.chunks)?;
                self.post_append(&append.chunks, claim.root).await?;
            }
            let pending = sealing.sealer.pending_len();
            due = match due {
                Due::All if pending > 0 || finish.is_some() => Due::All,
                _ if pending >= room => Due::Full,
                _ => Due::Nothing,
            };
        }
        Ok(if sealing.sealer.is_finished() {
            Progress::Done
        } else {
            Progress::Going
        })
    }
}
