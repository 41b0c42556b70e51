//! Events, logged with `sol_log_data` so that `logsSubscribe` delivers them live.

use anchor_lang::prelude::*;
use anchor_lang::Event;

/// One encrypted chunk of an answer, as posted in `append_batch` (design §4).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the answer, from 0.
    pub seq: u32,
    /// Answer tokens the chunk carries.
    pub tokens: u16,
    /// The answer's last chunk.
    pub is_final: bool,
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
    /// The sealed bytes.
    pub ciphertext: Vec<u8>,
}

impl Chunk {
    /// The view the hashing core takes.
    pub fn as_ref(&self) -> chainference_prover::core::ChunkRef<'_> {
        chainference_prover::core::ChunkRef {
            seq: self.seq,
            tokens: self.tokens,
            is_final: self.is_final,
            nonce: &self.nonce,
            ciphertext: &self.ciphertext,
        }
    }
}

/// Logged by every `append_batch`: the batch's chunks, where its leaf went and the request's
/// hash chain after it.
#[event]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkBatch {
    /// The request answered.
    pub request: Pubkey,
    /// The response tree the leaf was appended to.
    pub tree: Pubkey,
    /// The leaf's index in that tree.
    pub leaf_index: u64,
    /// Sequence number of the first chunk.
    pub first_seq: u32,
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
    /// The request's hash chain after this leaf.
    pub chain: [u8; 32],
    /// The leaf's proof (siblings from the leaf's level up) against the tree's root right after
    /// this append, the root logged by spl-account-compression's change-log event in the same
    /// transaction; so each leaf is proven by its own transaction alone.
    pub proof: Vec<[u8; 32]>,
}

/// Logged by every `append_root` (direct delivery): the batch's claim, where its leaf went and
/// the request's hash chain after it; its chunks went from the provider to the client.
#[event]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootBatch {
    /// The request answered.
    pub request: Pubkey,
    /// The response tree the leaf was appended to.
    pub tree: Pubkey,
    /// The leaf's index in that tree.
    pub leaf_index: u64,
    /// Sequence number of the batch's first chunk.
    pub first_seq: u32,
    /// Its chunks.
    pub count: u32,
    /// Answer tokens its chunks carry.
    pub tokens: u32,
    /// Its last chunk is the answer's final one.
    pub finished: bool,
    /// Its root over the chunk hashes.
    pub root: [u8; 32],
    /// The request's hash chain after this leaf.
    pub chain: [u8; 32],
    /// The leaf's proof against the tree's root right after this append (as in [`ChunkBatch`]).
    pub proof: Vec<[u8; 32]>,
}

/// Logged by `complete_request`: the terms, the locked prices and the bill, so an audit needs
/// only the ledger, however long after the request account is closed.
#[event]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSettled {
    /// The request.
    pub request: Pubkey,
    /// The client's wallet.
    pub client: Pubkey,
    /// The server account that answered.
    pub server: Pubkey,
    /// Its response tree.
    pub tree: Pubkey,
    /// Hugging Face model id.
    pub model: String,
    /// Prompt tokens the client declared.
    pub prompt_tokens: u32,
    /// Most answer tokens allowed.
    pub max_output_tokens: u32,
    /// Lamports escrowed.
    pub stake: u64,
    /// Locked input price, lamports per million tokens.
    pub input_price: u64,
    /// Locked output price, lamports per million tokens.
    pub output_price: u64,
    /// Locked protocol fee, bps.
    pub fee_bps: u16,
    /// Answer tokens billed: those posted, or for direct delivery those the client
    /// acknowledged.
    pub answer_tokens: u32,
    /// Lamports billed.
    pub bill: u64,
    /// The protocol fee out of the bill.
    pub fee: u64,
    /// The request's hash chain over its leaves.
    pub chain: [u8; 32],
    /// Unix time of completion.
    pub completed_at: i64,
}

/// Writes `event` (discriminator ‖ borsh) to the transaction log as `Program data: <base64>`.
pub fn log_event(event: &impl Event) {
    anchor_lang::solana_program::log::sol_log_data(&[&event.data()]);
}
