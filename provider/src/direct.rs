//! Posting one answer by direct delivery (design §9): the sealed chunks go to the client over
//! the [`crate::endpoint`], and only each batch's root goes on chain, and only once the client
//! has acknowledged that batch, so the roots on chain always commit to exactly what the client
//! acknowledged, and so to what is billed. A batch closes when the request's latency bound
//! runs out (the first as soon as there is text), or with no bound every
//! [`DIRECT_BATCH_TOKENS`] tokens, and at the end. The next batch is published only once the
//! client has acknowledged everything before the previous one, so a client that stops
//! acknowledging gets at most two batches it does not pay for; the server then completes on
//! what was acknowledged ([`crate::roots`] sends the roots of several requests together). The
//! last acknowledged roots, the client's latest acknowledgement (through the ed25519
//! precompile) and `complete_request` go in one transaction; with nothing acknowledged the
//! request is completed on its prompt alone, bond back and no failure on the server's record.

use crate::checkpoint::{pass, Checkpoint};
use crate::endpoint::Feed;
use crate::generation::{sealer_for, Generation};
use crate::job::{Job, JobError};
use crate::poster::{log_posted, FLUSH_TEXT_BYTES};
use crate::resume::Posted;
use crate::roots::RootPoster;
use anchor_lang::solana_program::instruction::Instruction;
use chainference::state::Request;
use chainference_client::answer::{AnswerSealer, MAX_CHUNK_PLAINTEXT};
use chainference_client::direct::{DirectBatch, SignedAck};
use chainference_client::envelope::{EnvelopeError, FinishReason, PromptEnvelope, SessionKey};
use chainference_client::instructions::{acknowledgement, append_root, complete_request, scope};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{ResponseCursor, RootClaim};
use solana_message::AddressLookupTableAccount;
use solana_signer::Signer;
use std::time::Duration;
use tokio::time::Instant;

/// Tokens a batch closes at when the request sets no latency bound: the most a client that
/// stops acknowledging can get unpaid is two such batches.
pub const DIRECT_BATCH_TOKENS: u64 = 8_192;
/// Sealed bytes that close a batch whatever its tokens (a batch holds at most 64 chunks of at
/// most 1 KiB).
const DIRECT_BATCH_BYTES: usize = 48 * 1_024;
/// How long the client may take to acknowledge a batch before the answer stops there.
const ACK_PATIENCE: Duration = Duration::from_secs(20);

/// Generates the answer to `ready`, publishes its batches on `feed`, posts the roots of the
/// acknowledged ones, and claims payment on the client's latest acknowledgement.
pub async fn post_direct_answer(
    job: &Job,
    ready: &Request,
    key: SessionKey,
    prompt: &Result<PromptEnvelope, EnvelopeError>,
    max_tokens: u32,
    feed: &Feed,
    roots: &RootPoster,
) -> Result<(), JobError> {
    let mut sealer = sealer_for(job, key, prompt, 0)?;
    let mut generation =
        Generation::start(job, ready, prompt, &Posted::default(), max_tokens).await?;
    let shape = job.posting.shape(&ready.lock.tree);
    let tables = job.posting.tables(&shape);
    let wait = ready.terms.batch_wait();
    let started = Instant::now();
    let mut cursor = ResponseCursor::new();
    let mut sent = Sent::default();
    let mut last_batch: Option<Instant> = None;
    let mut previous_start = 0u32;
    loop {
        let patience = match (wait, last_batch) {
            (Some(wait), Some(at)) => wait.saturating_sub(at.elapsed()),
            _ => Duration::from_secs(1),
        };
        generation.take(&job.request, &mut sealer, patience).await?;
        if generation.unflushed_text() >= FLUSH_TEXT_BYTES {
            generation.flush(&mut sealer)?;
        }
        let finish = generation.finish();
        let pending = sealer.pending_tokens();
        let due = finish.is_some()
            || sealer.pending_len() >= DIRECT_BATCH_BYTES
            || match wait {
                Some(wait) => pending > 0 && last_batch.is_none_or(|at| at.elapsed() >= wait),
                None => pending >= DIRECT_BATCH_TOKENS,
            };
        if !due {
            continue;
        }
        generation.flush(&mut sealer)?;
        let chunks = seal_batch(&mut sealer, finish)?;
        if chunks.is_empty() {
            last_batch = Some(Instant::now());
            continue;
        }
        let before = cursor;
        let views: Vec<_> = chunks.iter().map(Chunk::as_ref).collect();
        let applied = cursor
            .apply(
                &job.request.to_bytes(),
                ready.terms.max_output_tokens,
                &views,
            )
            .map_err(|rule| JobError::Seal(rule.to_string()))?;
        let claim = RootClaim::between(&before, &cursor, applied.root);
        // The batch before the last one sent must be acknowledged first.
        let acked = feed.ack_reaching(previous_start, ACK_PATIENCE).await;
        if acked.map_or(0, |ack| ack.next_seq) < previous_start {
            tracing::warn!(request = %job.request, "the client stopped acknowledging; ending the answer at what it acknowledged");
            return settle(job, ready, acked, &mut sent, tables).await;
        }
        feed.publish(
            DirectBatch {
                first_seq: claim.first_seq,
                chunks,
            },
            cursor,
        );
        sent.claims.push(claim);
        if claim.finished {
            let ack = feed.ack_reaching(cursor.next_seq, ACK_PATIENCE).await;
            settle(job, ready, ack, &mut sent, tables).await?;
            log_posted(&job.request, generation.tokens(), started);
            return Ok(());
        }
        for (append, next_seq) in sent.acknowledged_roots(job, ready, feed.latest_ack()) {
            roots.post(append).await?;
            let request = job.request;
            pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
        }
        last_batch = Some(Instant::now());
        previous_start = claim.first_seq;
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
            sealer
                .end_stream()
                .map_err(|error| JobError::Seal(error.to_string()))?;
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

/// Completes the request on `ack`: the roots it covers that are not on chain yet, the client's
/// acknowledgement, then `complete_request`, in one transaction; with no acknowledgement the
/// completion alone, which bills the prompt.
async fn settle(
    job: &Job,
    ready: &Request,
    ack: Option<SignedAck>,
    sent: &mut Sent,
    tables: &[AddressLookupTableAccount],
) -> Result<(), JobError> {
    let request = job.request;
    let roots = sent.acknowledged_roots(job, ready, ack);
    // One append's compute for each root and one for the completion with its acknowledgement
    // (measured: programs/chainference/tests/program/compute.rs).
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
            tracing::warn!(%request, "the client acknowledged nothing; completing on the prompt alone");
        }
    }
    instructions.push(complete_request(&request, ready));
    let next_seq = ack.map_or(0, |ack| ack.next_seq);
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
