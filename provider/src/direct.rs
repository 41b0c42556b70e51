//! Delivery direct to the client (design §9): the sealed chunks go to the client over the
//! [`crate::endpoint`] as the engine produces them, and only each batch's root goes on chain,
//! and only once the client has acknowledged that batch, so the roots on chain always commit
//! to exactly what the client acknowledged, and so to what is billed. A batch closes every
//! [`DIRECT_BATCH_TOKENS`] tokens (or [`MAX_DIRECT_BATCH_CHUNKS`] chunks, or
//! `DIRECT_BATCH_BYTES`) and at the end, and the client acknowledges it then. A new batch
//! starts only once the client has acknowledged everything before the previous one, so a
//! client that stops acknowledging gets at most two batches it does not pay for; the server
//! then completes on what was acknowledged. Roots go on chain only as often as the server
//! needs: the acknowledged ones together once [`ROOTS_AT_ONCE`] of them wait (sharing
//! transactions with other requests' roots through [`crate::roots`]), and the rest with the
//! completion: those acknowledged roots, the client's latest acknowledgement (through the
//! ed25519 precompile) and `complete_request` in one transaction. With nothing acknowledged
//! the request is completed on its prompt alone, bond back and no failure on the server's
//! record.

use crate::answer::{Cut, Delivery, Due, Progress, Sealing};
use crate::checkpoint::{pass, Checkpoint};
use crate::context::{Job, JobError};
use crate::endpoint::Feed;
use crate::roots::{RootPoster, MAX_ROOTS_A_TRANSACTION};
use anchor_lang::solana_program::instruction::Instruction;
use chainference::state::Request;
use chainference_client::answer::{AnswerSealer, MAX_CHUNK_PLAINTEXT};
use chainference_client::batcher::PACKET_DATA_SIZE;
use chainference_client::direct::{DirectPiece, SignedAck};
use chainference_client::envelope::FinishReason;
use chainference_client::instructions::{acknowledgement, append_root, complete_request, scope};
use chainference_client::rpc::transaction_size;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{RootClaim, MAX_DIRECT_BATCH_CHUNKS};
use rand_core::{OsRng, RngCore};
use solana_signer::Signer;
use std::time::Duration;

/// Tokens a batch closes at: the most a client that stops acknowledging can get unpaid is two
/// such batches, and the client acknowledges this often.
pub const DIRECT_BATCH_TOKENS: u32 = 2_048;
/// Sealed bytes that close a batch whatever its tokens.
const DIRECT_BATCH_BYTES: usize = 256 * 1_024;
/// Acknowledged roots that wait before they go on chain together (a transaction's worth);
/// fewer ride with the completion. A long answer's roots then cost 5,000 lamports for 4 ×
/// 2,048 tokens: 0.61 lamports a token.
pub const ROOTS_AT_ONCE: usize = MAX_ROOTS_A_TRANSACTION;
/// How long the client may take to acknowledge a batch before the answer stops there.
const ACK_PATIENCE: Duration = Duration::from_secs(20);

/// One answer's chunks published on its request's feed as they are sealed, with the roots of
/// the batches the client acknowledged posted on chain.
pub(crate) struct Direct<'a> {
    job: &'a Job,
    ready: &'a Request,
    feed: &'a Feed,
    roots: &'a RootPoster,
    /// The closed batches so far.
    sent: Sent,
    /// The open batch's chunks, published already.
    open: Vec<Chunk>,
    /// Where the last closed batch starts.
    previous_start: u32,
    /// The stream's number, drawn anew for each answer started ([`DirectPiece::stream`]).
    stream: u64,
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
            open: Vec::new(),
            previous_start: 0,
            stream: OsRng.next_u64(),
        }
    }

    /// Completes the request on `ack`: the roots it covers that are not on chain yet, the
    /// client's acknowledgement, then `complete_request`, in one transaction; with no
    /// acknowledgement the completion alone, which bills the prompt.
    async fn settle(&mut self, ack: Option<SignedAck>) -> Result<(), JobError> {
        let (job, ready, request) = (self.job, self.ready, self.job.request);
        let mut roots: Vec<Instruction> = self
            .sent
            .acknowledged_roots(job, ready, ack)
            .into_iter()
            .map(|(append, _)| append)
            .collect();
        let mut completion = Vec::new();
        match &ack {
            Some(ack) => completion.push(acknowledgement(
                &scope(&job.chain.genesis_hash(), &request),
                &ready.client,
                &ack.ack(),
                &ack.signature,
            )),
            None => {
                tracing::warn!("the client acknowledged nothing; completing on the prompt alone");
            }
        }
        completion.push(complete_request(&request, ready));
        // One append's compute for each root and one for the completion with its
        // acknowledgement (measured: programs/native/tests/program/compute.rs).
        let settlement = |roots: &[Instruction]| {
            let mut instructions = job.posting.budget_for(roots.len() + 1);
            instructions.extend_from_slice(roots);
            instructions.extend_from_slice(&completion);
            instructions
        };
        let tables = job.posting.tables(&job.posting.shape(&ready.lock.tree));
        // Roots that do not fit beside the completion go first, in transactions of their own.
        let mut ahead = roots.len().saturating_sub(MAX_ROOTS_A_TRANSACTION);
        while ahead < roots.len() {
            let size =
                transaction_size(&job.operator.pubkey(), &settlement(&roots[ahead..]), tables);
            if size.is_ok_and(|size| size <= PACKET_DATA_SIZE) {
                break;
            }
            ahead += 1;
        }
        let rest = roots.split_off(ahead);
        self.roots.post_all(roots).await?;
        let instructions = settlement(&rest);
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
}

impl Direct<'_> {
    /// Publishes `chunks`, continuing the open batch (opening one if none is: once the
    /// client has acknowledged everything before the previous batch), and closes the batch
    /// when it is full or `finished`. `None` while the batch stays open.
    async fn publish(
        &mut self,
        sealing: &mut Sealing,
        chunks: Vec<Chunk>,
        finished: bool,
    ) -> Result<Option<Published>, JobError> {
        if self.open.is_empty() {
            let acked = self
                .feed
                .ack_reaching(self.previous_start, ACK_PATIENCE)
                .await;
            if acked.map_or(0, |ack| ack.next_seq) < self.previous_start {
                tracing::warn!(
                    "the client stopped acknowledging; ending the answer at what it acknowledged"
                );
                self.settle(acked).await?;
                return Ok(Some(Published::Stopped));
            }
        }
        let first_seq = sealing.cursor.next_seq + self.open.len() as u32;
        self.open.extend(chunks.iter().cloned());
        let tokens: u32 = self.open.iter().map(|chunk| u32::from(chunk.tokens)).sum();
        let bytes: usize = self.open.iter().map(|chunk| chunk.ciphertext.len()).sum();
        let full = tokens >= DIRECT_BATCH_TOKENS
            || bytes >= DIRECT_BATCH_BYTES
            || self.open.len() + MAX_CHUNKS_A_DELIVERY > MAX_DIRECT_BATCH_CHUNKS;
        let closes = finished || full;
        let end = if closes {
            let claim = sealing.batch_direct(&self.open)?;
            self.open.clear();
            Some((claim, sealing.cursor))
        } else {
            None
        };
        self.feed.publish(
            DirectPiece {
                stream: self.stream,
                first_seq,
                chunks,
                closes,
            },
            end.map(|(_, cursor)| cursor),
        );
        Ok(end.map(|(claim, _)| Published::Closed(claim)))
    }
}

/// What publishing a delivery's chunks came to, when not just more of the open batch.
enum Published {
    /// The batch closed with this claim.
    Closed(RootClaim),
    /// The client stopped acknowledging; the request is settled.
    Stopped,
}

/// Most chunks one delivery seals: an engine step's text, or what waited while the previous
/// batch's acknowledgement was awaited (64 KiB of compressed text).
const MAX_CHUNKS_A_DELIVERY: usize = 64;

impl Delivery for Direct<'_> {
    fn cut(&self) -> Cut {
        Cut::Stream
    }

    /// Seals everything pending and publishes it on the open batch, closing the batch when
    /// it is full or the answer ends; the final batch, or a client that stopped
    /// acknowledging, settles. Once [`ROOTS_AT_ONCE`] acknowledged roots wait, they go on
    /// chain together.
    async fn deliver(
        &mut self,
        sealing: &mut Sealing,
        _due: Due,
        finish: Option<FinishReason>,
    ) -> Result<Progress, JobError> {
        let mut chunks = seal_pending(&mut sealing.sealer, finish)?;
        while !chunks.is_empty() {
            let rest = chunks.split_off(chunks.len().min(MAX_CHUNKS_A_DELIVERY));
            let finished = finish.is_some() && rest.is_empty();
            match self.publish(sealing, chunks, finished).await? {
                None => {}
                Some(Published::Stopped) => return Ok(Progress::Stopped),
                Some(Published::Closed(claim)) => {
                    self.sent.claims.push(claim);
                    self.previous_start = claim.first_seq;
                    if claim.finished {
                        let ack = self
                            .feed
                            .ack_reaching(sealing.cursor.next_seq, ACK_PATIENCE)
                            .await;
                        self.settle(ack).await?;
                        return Ok(Progress::Done);
                    }
                    self.post_waiting_roots().await?;
                }
            }
            chunks = rest;
        }
        Ok(Progress::Going)
    }
}

impl Direct<'_> {
    /// Posts the acknowledged roots not on chain yet, once [`ROOTS_AT_ONCE`] of them wait.
    async fn post_waiting_roots(&mut self) -> Result<(), JobError> {
        let ack = self.feed.latest_ack();
        if self.sent.acknowledged(ack).len() < ROOTS_AT_ONCE {
            return Ok(());
        }
        let (job, ready) = (self.job, self.ready);
        let roots = self.sent.acknowledged_roots(job, ready, ack);
        let Some(next_seq) = roots.last().map(|(_, next_seq)| *next_seq) else {
            return Ok(());
        };
        self.roots
            .post_all(roots.into_iter().map(|(append, _)| append).collect())
            .await?;
        let request = job.request;
        pass(&job.hold, Checkpoint::BatchConfirmed { request, next_seq }).await;
        Ok(())
    }
}

/// The batches closed so far and how many of their roots are on chain.
#[derive(Default)]
struct Sent {
    /// Each closed batch's root claim, in order.
    claims: Vec<RootClaim>,
    /// How many of them have their root on chain.
    rooted: usize,
}

impl Sent {
    /// The claims of the closed batches that `ack` covers and whose roots are not on chain
    /// yet; none beyond what was acknowledged.
    fn acknowledged(&self, ack: Option<SignedAck>) -> &[RootClaim] {
        let reach = ack.map_or(0, |ack| ack.next_seq);
        let waiting = &self.claims[self.rooted..];
        let covered = waiting
            .iter()
            .take_while(|claim| claim.first_seq + claim.count <= reach)
            .count();
        &waiting[..covered]
    }

    /// The `append_root`s of [`Self::acknowledged`] (counted as on chain from now on), each
    /// with the sequence number after its batch.
    fn acknowledged_roots(
        &mut self,
        job: &Job,
        ready: &Request,
        ack: Option<SignedAck>,
    ) -> Vec<(Instruction, u32)> {
        let due: Vec<(Instruction, u32)> = self
            .acknowledged(ack)
            .iter()
            .map(|claim| {
                let append = append_root(
                    &job.operator.pubkey(),
                    &job.request,
                    &ready.lock.tree,
                    claim,
                );
                (append, claim.first_seq + claim.count)
            })
            .collect();
        self.rooted += due.len();
        due
    }
}

/// Seals everything pending as chunks: with `finish`, the stream's end and the final chunk.
fn seal_pending(
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
