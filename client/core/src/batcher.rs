//! Transaction-exact batching: the serialized size of an `append_batch` transaction, computed
//! from its shape, and the packing of the pending answers of several requests into one
//! transaction filled to the byte and never over the 1,232-byte packet.

use crate::answer::AnswerError;
use crate::answer::AnswerSealer;
use crate::envelope::{FinishReason, TAG_LEN};
use anchor_lang::prelude::Pubkey;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{MAX_BATCH_CHUNKS, MAX_CHUNK_LEN, NONCE_LEN};

/// The most bytes a serialized transaction may have.
pub const PACKET_DATA_SIZE: usize = 1_232;

/// `seq` (4), `tokens` (2), `is_final` (1), the nonce and the ciphertext's length prefix (4).
const CHUNK_OVERHEAD: usize = 4 + 2 + 1 + NONCE_LEN + 4;
/// Discriminator (8), root (32) and the chunk vector's length prefix (4).
const APPEND_DATA_OVERHEAD: usize = 8 + 32 + 4;
/// Accounts of `append_batch`: operator, request, tree, tree authority, compression, noop.
const APPEND_ACCOUNTS: usize = 6;
/// Bytes `complete_request` adds beside a final append of the same request in a v0
/// transaction through the provider's lookup table: the client's wallet and counter as static
/// keys (64), the instruction (program index, 9 account indexes, 8 bytes of data, two length
/// prefixes: 20) and the table indexes of the server, treasury, config and instructions sysvar
/// (4), rounded up. The final chunk is sealed only with this much room left, so the final
/// append always carries the completion.
pub const COMPLETION_BYTES: usize = 96;
/// Compute units a provider asks for each append of a transaction when it pays a priority fee
/// (the fee is this limit times the price, used or not): the most an append the packer makes
/// was measured to take on the sBPF build, a filled one-chunk append or a final append with the
/// completion beside it, with a margin (`programs/native/tests/program/compute.rs`
/// checks both fit; COMPUTE.md has the figures).
pub const APPEND_COMPUTE_UNITS: u32 = 72_000;
/// Bytes a chunk's sealing adds to its stream bytes: the flags byte and the AEAD tag.
const SEAL_OVERHEAD: usize = 1 + TAG_LEN;

/// How append transactions are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxShape {
    /// A v0 transaction whose lookup table holds the tree authority, spl-account-compression,
    /// spl-noop and the provider's trees; or a legacy one with every key inline.
    pub versioned: bool,
    /// Whether a `SetComputeUnitLimit` instruction is included.
    pub compute_unit_limit: bool,
    /// Whether a `SetComputeUnitPrice` instruction is included.
    pub compute_unit_price: bool,
}

/// One request's part of a transaction: its tree and its chunks' ciphertext lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendShape {
    /// The response tree.
    pub tree: Pubkey,
    /// Ciphertext bytes of each chunk.
    pub chunk_lens: Vec<usize>,
}

/// Bytes of Solana's compact-u16 encoding of `n`.
fn short_vec_len(n: usize) -> usize {
    match n {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        _ => 3,
    }
}

impl TxShape {
    /// The exact serialized size of a transaction signed by the operator alone carrying these
    /// appends (one instruction each, distinct requests).
    pub fn size(&self, appends: &[AppendShape]) -> usize {
        let mut trees: Vec<&Pubkey> = appends.iter().map(|append| &append.tree).collect();
        trees.sort();
        trees.dedup();
        let budget = usize::from(self.compute_unit_limit) + usize::from(self.compute_unit_price);
        // Static keys: the operator, our program, the compute-budget program if used, each
        // request; legacy transactions also carry the trees and the three fixed accounts.
        let mut static_keys = 2 + usize::from(budget > 0) + appends.len();
        let mut lookups = 0;
        if self.versioned {
            lookups = 1 + 32 + short_vec_len(trees.len()) + trees.len() + short_vec_len(3) + 3;
        } else {
            static_keys += trees.len() + 3;
        }
        let instructions: usize = appends.iter().map(append_instruction_len).sum::<usize>()
            + if self.compute_unit_limit { 3 + 5 } else { 0 }
            + if self.compute_unit_price { 3 + 9 } else { 0 };
        short_vec_len(1)
            + 64
            + usize::from(self.versioned)
            + 3
            + short_vec_len(static_keys)
            + 32 * static_keys
            + 32
            + short_vec_len(appends.len() + budget)
            + instructions
            + lookups
    }

    /// The most ciphertext bytes one more chunk may have if added to the last append of
    /// `appends` (or, with `new_append`, as the first chunk of a new append for that tree), or
    /// `None` if not even an empty chunk fits.
    pub fn room_for_chunk(
        &self,
        appends: &[AppendShape],
        new_append: Option<Pubkey>,
    ) -> Option<usize> {
        let mut trial = appends.to_vec();
        match new_append {
            Some(tree) => trial.push(AppendShape {
                tree,
                chunk_lens: vec![0],
            }),
            None => trial.last_mut()?.chunk_lens.push(0),
        }
        let mut len = PACKET_DATA_SIZE
            .checked_sub(self.size(&trial))?
            .min(MAX_CHUNK_LEN);
        // A longer chunk can also lengthen the data's compact-u16 length prefix: step back.
        loop {
            *trial.last_mut()?.chunk_lens.last_mut()? = len;
            if self.size(&trial) <= PACKET_DATA_SIZE {
                return Some(len);
            }
            len = len.checked_sub(1)?;
        }
    }

    /// The stream bytes one request's answer fills a transaction of its own with (one
    /// chunk): what a provider waits for before it posts a filled batch.
    pub fn answer_room(&self, tree: Pubkey) -> usize {
        self.room_for_chunk(&[], Some(tree))
            .map_or(0, |room| room.saturating_sub(SEAL_OVERHEAD))
    }
}

fn append_instruction_len(append: &AppendShape) -> usize {
    let data = APPEND_DATA_OVERHEAD
        + append
            .chunk_lens
            .iter()
            .map(|len| CHUNK_OVERHEAD + len)
            .sum::<usize>();
    1 + short_vec_len(APPEND_ACCOUNTS) + APPEND_ACCOUNTS + short_vec_len(data) + data
}

/// One request whose answer has bytes to post.
pub struct PendingAnswer<'a> {
    /// The request.
    pub request: Pubkey,
    /// Its response tree.
    pub tree: Pubkey,
    /// Its sealer, flushed at this batch boundary.
    pub sealer: &'a mut AnswerSealer,
    /// `Some` once generation ended: the answer's last chunk goes out when it fits.
    pub finish: Option<FinishReason>,
}

/// One request's append in a packed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedAppend {
    /// The request.
    pub request: Pubkey,
    /// Its tree.
    pub tree: Pubkey,
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
}

/// Packs as much pending answer as fits into one transaction of `shape`: requests in order,
/// each taking chunks cut to the room left, its final chunk only once all its bytes fit with
/// [`COMPLETION_BYTES`] to spare.
pub fn pack(
    shape: &TxShape,
    pending: &mut [PendingAnswer<'_>],
) -> Result<Vec<PackedAppend>, AnswerError> {
    let mut appends: Vec<AppendShape> = Vec::new();
    let mut packed: Vec<PackedAppend> = Vec::new();
    for answer in pending
        .iter_mut()
        .filter(|answer| !answer.sealer.is_finished())
    {
        if answer.finish.is_some() {
            answer.sealer.end_stream()?;
        }
        let mut chunks: Vec<Chunk> = Vec::new();
        while chunks.len() < MAX_BATCH_CHUNKS {
            let new_append = chunks.is_empty().then_some(answer.tree);
            let Some(room) = shape.room_for_chunk(&appends, new_append) else {
                break;
            };
            let Some(room) = room.checked_sub(SEAL_OVERHEAD) else {
                break;
            };
            let sealer = &mut *answer.sealer;
            let chunk = match answer.finish {
                Some(reason)
                    if room
                        .checked_sub(COMPLETION_BYTES)
                        .is_some_and(|left| sealer.final_fits(left)) =>
                {
                    sealer.seal_final(reason)
                }
                _ if sealer.pending_len() > 0 && room > 0 => sealer.seal_chunk(room),
                _ => break,
            };
            let len = chunk.ciphertext.len();
            match new_append {
                Some(tree) => appends.push(AppendShape {
                    tree,
                    chunk_lens: vec![len],
                }),
                None => appends
                    .last_mut()
                    .into_iter()
                    .for_each(|last| last.chunk_lens.push(len)),
            }
            let done = chunk.is_final;
            chunks.push(chunk);
            if done {
                break;
            }
        }
        if !chunks.is_empty() {
            packed.push(PackedAppend {
                request: answer.request,
                tree: answer.tree,
                chunks,
            });
        }
    }
    Ok(packed)
}
