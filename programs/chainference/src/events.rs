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

/// Writes `event` (discriminator ‖ borsh) to the transaction log as `Program data: <base64>`.
pub fn log_event(event: &impl Event) {
    let data = event.data();
    #[cfg(target_os = "solana")]
    anchor_lang::solana_program::log::sol_log_data(&[&data]);
    // Natively the syscall is a stub; the runtime that hosts the program routes it to the log.
    #[cfg(not(target_os = "solana"))]
    anchor_lang::compat::solana_sysvar::program_stubs::sol_log_data(&[&data]);
}
