//! Seeds, bounds and defaults (design §10). Every vector and string the program stores or
//! reads from instruction data has a maximum here.

use anchor_lang::prelude::*;

/// Seed of the [`crate::state::Config`] PDA.
#[constant]
pub const CONFIG_SEED: &[u8] = b"config";
/// Seed of the [`crate::state::Treasury`] PDA that collects protocol fees.
#[constant]
pub const TREASURY_SEED: &[u8] = b"treasury";
/// Seed of a [`crate::state::Server`] PDA, followed by the operator's key.
#[constant]
pub const SERVER_SEED: &[u8] = b"server";
/// Seed of a [`crate::state::Client`] PDA, followed by the wallet's key.
#[constant]
pub const CLIENT_SEED: &[u8] = b"client";
/// Seed of a [`crate::state::Request`] PDA, followed by the wallet and the nonce (u64 LE).
#[constant]
pub const REQUEST_SEED: &[u8] = b"request";
/// Seed of the PDA that is the authority of every response tree.
#[constant]
pub const TREE_AUTHORITY_SEED: &[u8] = b"tree_authority";

/// The tree authority PDA and its bump, derived at compile time so no instruction pays for
/// the derivation.
const TREE_AUTHORITY_PDA: ([u8; 32], u8) =
    anchor_lang::derive_program_address(&[TREE_AUTHORITY_SEED], &crate::ID.to_bytes());
/// The PDA that is the authority of every response tree.
pub const TREE_AUTHORITY: Pubkey = Pubkey::new_from_array(TREE_AUTHORITY_PDA.0);
/// Bump of [`TREE_AUTHORITY`].
pub const TREE_AUTHORITY_BUMP: u8 = TREE_AUTHORITY_PDA.1;

/// The only key that may initialize the config (set per deployment; the local one's keypair
/// is `fixtures/keys/admin.json`).
pub const ADMIN: Pubkey = pubkey!("3JxmmnR8buZLR674cd1CCFqgS6vpmhhdgFqfiUxURYn3");

/// Basis points in a whole.
pub use chainference_prover::core::BPS;
/// The highest protocol fee the config accepts, in basis points of the bill.
#[constant]
pub const MAX_FEE_BPS: u16 = 2_000;
/// Prices are lamports per this many tokens.
pub use chainference_prover::core::PRICE_TOKENS;

/// Longest Hugging Face model id.
pub const MAX_MODEL_ID_LEN: usize = 96;
/// Longest model revision (a git commit or tag).
pub const MAX_REVISION_LEN: usize = 64;
/// Longest quantization label.
pub const MAX_QUANTIZATION_LEN: usize = 32;
/// Longest endpoint URL.
pub const MAX_ENDPOINT_LEN: usize = 128;
/// Most models one server offers.
pub const MAX_MODELS: usize = 16;
/// Most response trees one server owns.
pub const MAX_TREES: usize = 4;
/// Most servers a request may allow (none = any).
pub const MAX_ALLOWED_SERVERS: usize = 8;

/// Most answer tokens one request may ask for.
#[constant]
pub const MAX_OUTPUT_TOKENS: u32 = 1_000_000;
/// Most prompt tokens one request may declare.
#[constant]
pub const MAX_PROMPT_TOKENS: u32 = 1_000_000;
/// Most bytes of one encrypted prompt chunk.
pub const MAX_PROMPT_CHUNK_LEN: usize = 1_024;
/// Most bytes of a whole encrypted prompt.
#[constant]
pub const MAX_PROMPT_LEN: u32 = 256 * 1_024;
/// Most ciphertext bytes of one answer chunk.
pub use chainference_prover::core::MAX_CHUNK_LEN;
/// Longest time limit a request may set, in seconds.
#[constant]
pub const MAX_TIME_LIMIT_SECS: u32 = 86_400;
/// Seconds an answer always gets beyond the prompt window: a request's time limit (counted
/// from the lock) is at least its prompt window plus this, so a prompt sealed at the last
/// moment still leaves the server this long to answer.
#[constant]
pub const MIN_ANSWER_SECS: u32 = 30;

/// Sealed prompt bytes that carry no text: the client's x25519 key, the nonce, the AEAD tag,
/// the length prefix and the envelope's JSON keys, plus a whole padding bucket.
pub const PROMPT_OVERHEAD_BYTES: u32 = 32 + 24 + 16 + 4 + 256 + 256;
/// At most this many sealed prompt bytes per declared prompt token. The sealed prompt is JSON,
/// padded but not compressed, so its bytes past [`PROMPT_OVERHEAD_BYTES`] are the text as JSON
/// escapes it; every token of a served tokenizer covers at most that many of them. The longest
/// token of SmolLM2's 49,152-token byte-level BPE vocabulary is a newline and 80 spaces: 81
/// bytes, 82 escaped; ordinary text runs 3–5 bytes a token. An honest count (or the CLI's
/// estimate of a third of the bytes) never falls under `(bytes − overhead) / 128`, while a
/// client declaring 0 tokens for a 256 KiB prompt is refused.
#[constant]
pub const PROMPT_BYTES_PER_TOKEN: u32 = 128;

/// Response tree shapes `create_tree` accepts: (max depth, max buffer size), canopy 0.
pub const TREE_SHAPES: [(u32, u32); 3] = [(14, 64), (20, 64), (24, 64)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compile_time_tree_authority_is_the_canonical_pda() {
        let expected = Pubkey::find_program_address(&[TREE_AUTHORITY_SEED], &crate::ID);
        assert_eq!((TREE_AUTHORITY, TREE_AUTHORITY_BUMP), expected);
    }
}
