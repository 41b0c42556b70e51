//! Delivery direct to the client (design §9): the sealed chunks go to the client over
//! the [`crate::endpoint`], and only each batch's root goes on chain, and only once the client
//! has acknowledged that batch, so the roots on chain always commit to exactly what the client
//! acknowledged, and so to what is billed. A batch closes when the request's latency bound
//! runs out (the first as soon as there is text), or with no bound every
//! [`DIRECT_BATCH_TOKENS`] tokens, and at the end ([`crate::answer`] runs the answer). The next batch is published only once the
//! client has acknowledged everything before the previous one, so a client that stops
//! acknowledging gets at most two batches it does not pay for; the server then completes on
//! what was acknowledged ([`crate::roots`] sends the roots of several requests together). The
//! last acknowledged roots, the client's latest acknowledgement (through the ed25519
//! precompile) and `complete_request` go in one transaction; with nothing acknowledged the
//! request is completed on its prompt alone, bond back and no failure on the server's record.

use crate::answer::{Cut, Delivery, Due, Progress, Sealing};
use crate::checkpoint::{pass, Checkpoint};
use crate::context::{Job, JobError};
use crate::endpoint::Feed;
use crate::roots::RootPoster;
use anchor_lang::solana_program::instruction::Instruction;
use chainference::state::Request;
use chainference_client::answer::{AnswerSealer, MAX_CHUNK_PLAINTEXT};
use chainference_client::direct::{DirectBatch, SignedAck};
use chainference_client::envelope::FinishReason;
use chainference_client::instructions::{acknowledgement, append_root, complete_request, scope};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::RootClaim;
use solana_signer::Signer;
use std::time::Duration;

/// Tokens a batch closes at when the request sets no latency bound: the most a client that
/// stops acknowledging can get unpaid is two such batches.
pub const DIRECT_BATCH_TOKENS: u64 = 8_192;
/// Sealed bytes that close a batch whatever its tokens (a batch holds at most 64 chunks of at
/// most 1 KiB).
const DIRECT_BATCH_BYTES: usize = 48 * 1_024;
/// How long the client may take to acknowledge a batch before the answer stops there.
const ACK_PATIENCE: Duration = Duration::from_secs(20);

/// One answer's batches published on its request's feed, with the roots of those the client
/// acknowledged posted on chain.
pub(crate) struct Direct<'a> {
    job: &'a Job,
    ready: &'a Request,
    feed: &'a Feed,
    roots: &'a RootPoster,
    /// The batches published so far.
    sent: Sent,
    /// Where the last published batch starts.
    previous_start: u32,
}

impl<'a> Direct<'a> {
    /// Publishes `ready`'s answer on `feed`, its roots going through `roots`.
    pub fn new(job: &'a Job, ready: &'a Request, feed: &'a Feed, roots: &'a RootPoster) -> Self {
        Self {
            job,
            ready,
            feed,
            roots,
            sent: Sent::default(),
            previous_start: 0,
        }
    }

    /// Completes the request on `ack`: the roots it covers that are not on chain yet, the
    /// client's acknowledgement, then `complete_request`, in one transaction; with no
    /// acknowledgement the completion alone, which bills the prompt.
    async fn settle(&mut self, ack: Option<SignedAck>) -> Result<(), JobError> {
        let (job, ready, request) = (self.job, self.ready, self.job.request);
        let roots = self.sent.acknowledged_roots(job, ready, ack);
        // One append's compute for each root and one for the completion with its
        // acknowledgement (measured: programs/native/tests/program/compute.rs).
        let mut instructions = job.posting.budget_for(roots.len() + 1);
        instructions.extend(roots.into_iter().map(|(append, _)| append));
        match &ack {
            Some(ack) => instructions.push(acknowledgement(
                &scope(&job.chain.genesis_hash(), &request),
                &ready.client,
                &ack.ack(),
                &ack.signature,
            )),
            None => {
                tracing::warn!("the client acknowledged nothing; completing on the prompt alone");
            }
        }
        instructions.push(complete_request(&request, ready));
        let next_seq = ack.map_or(0, |ack| ack.next_seq);
        let tables = job.posting.tables(&job.posting.shape(&ready.lock.tree));
        job.chain
            .send_watched(&instructions, &job.operator, &[], tables, |_| {
                pass(
                    &job.hold,
                    Checkpoint::BatchSent {
                        request,
                        first_seq: next_seq,
                    },
                )
            })
            .await?;
        pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
        Ok(())
    }
}

impl Delivery for Direct<'_> {
    fn cut(&self) -> Cut {
        Cut::Whole {
            bytes: DIRECT_BATCH_BYTES,
            tokens: DIRECT_BATCH_TOKENS,
        }
    }

    /// Seals everything pending as one batch and publishes it once the client has
    /// acknowledged everything before the previous one, then posts the roots of what it
    /// acknowledged; the final batch, or a client that stopped acknowledging, settles.
    async fn deliver(
        &mut self,
        sealing: &mut Sealing,
        _due: Due,
        finish: Option<FinishReason>,
    ) -> Result<Progress, JobError> {
        let chunks = seal_batch(&mut sealing.sealer, finish)?;
        if chunks.is_empty() {
            return Ok(Progress::Going);
        }
        let claim = sealing.batch(&chunks)?;
        // The batch before the last one sent must be acknowledged first.
        let acked = self
            .feed
            .ack_reaching(self.previous_start, ACK_PATIENCE)
            .await;
        if acked.map_or(0, |ack| ack.next_seq) < self.previous_start {
            tracing::warn!(
                "the client stopped acknowledging; ending the answer at what it acknowledged"
            );
            self.settle(acked).await?;
            return Ok(Progress::Stopped);
        }
        self.feed.publish(
            DirectBatch {
                first_seq: claim.first_seq,
                chunks,
            },
            sealing.cursor,
        );
        self.sent.claims.push(claim);
        if claim.finished {
            let ack = self
                .feed
                .ack_reaching(sealing.cursor.next_seq, ACK_PATIENCE)
                .await;
            self.settle(ack).await?;
            return Ok(Progress::Done);
        }
        let (job, ready) = (self.job, self.ready);
        let acknowledged = self
            .sent
            .acknowledged_roots(job, ready, self.feed.latest_ack());
        for (append, next_seq) in acknowledged {
            self.roots.post(append).await?;
            let request = job.request;
            pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
        }
        self.previous_start = claim.first_seq;
        Ok(Progress::Going)
    }
}

/// The batches published so far and how many of their roots are on chain.
#[derive(Default)]
struct Sent {
    /// Each published batch's root claim, in order.
    claims: Vec<RootClaim>,
    /// How many of them have their root on chain.
    rooted: usize,
}

impl Sent {
    /// The `append_root`s of the published batches that `ack` covers and whose roots are not
    /// on chain yet (counted as on chain from now on), each with the sequence number after its
    /// batch; none beyond what was acknowledged.
    fn acknowledged_roots(
        &mut self,
        job: &Job,
        ready: &Request,
        ack: Option<SignedAck>,
    ) -> Vec<(Instruction, u32)> {
        let reach = ack.map_or(0, |ack| ack.next_seq);
        let due: Vec<(Instruction, u32)> = self.claims[self.rooted..]
            .iter()
            .map(|claim| (claim, claim.first_seq + claim.count))
            .take_while(|(_, end)| *end <= reach)
            .map(|(claim, end)| {
                let append = append_root(
                    &job.operator.pubkey(),
                    &job.request,
                    &ready.lock.tree,
                    claim,
                );
                (append, end)
            })
            .collect();
        self.rooted += due.len();
        due
    }
}

/// Seals everything pending as one batch: with `finish`, the stream's end and the final chunk.
fn seal_batch(
    sealer: &mut AnswerSealer,
    finish: Option<FinishReason>,
) -> Result<Vec<Chunk>, JobError> {
    let mut chunks = Vec::new();
    match finish {
        Some(reason) => {
            sealer.end_stream().map_err(JobError::Seal)?;
            while !sealer.final_fits(MAX_CHUNK_PLAINTEXT) {
                chunks.push(sealer.seal_chunk(MAX_CHUNK_PLAINTEXT));
            }
            chunks.push(sealer.seal_final(reason));
        }
        None => {
            while sealer.pending_len() > 0 {
                chunks.push(sealer.seal_chunk(MAX_CHUNK_PLAINTEXT));
            }
        }
    }
    Ok(chunks)
}
