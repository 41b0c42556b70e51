//! The encryption envelope (design §5).

mod aead;
mod compress;
mod keys;
mod prompt;

pub use aead::{
    open, open_final, seal, seal_with_nonce, ChunkHeader, Direction, FinishReason, TAG_LEN,
};
pub use compress::{AnswerCompressor, AnswerDecompressor, Compression};
pub use keys::{
    client_secret, client_session, key_message, server_key_is_signed, server_public_key,
    server_secret, server_session, session_key, ClientSignature, KeyContext, SessionKey,
    KEY_MESSAGE,
};
pub use prompt::{
    open_prompt, prompt_client_key, seal_prompt, sealed_prompt_len, Message, PromptEnvelope,
    Sampling, PROMPT_BUCKET,
};

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Authentication failed: a wrong key, another request's or cluster's data, or a chunk
    /// altered in transit.
    #[error("the chunk does not decrypt with this key for this request (wrong key, wrong request or cluster, or altered data)")]
    Decrypt,
    /// The wallet signed the key message differently twice: it is not deterministic, so keys
    /// derived from it would be lost.
    #[error("the wallet signed the key message differently twice; it cannot derive stable encryption keys")]
    UnstableSignature,
    /// The other side's public key is a low-order point.
    #[error("the peer's x25519 key is invalid (low order)")]
    WeakPeerKey,
    /// The key message could not be framed as a Solana off-chain message.
    #[error("the key message is not a valid Solana off-chain message")]
    OffchainMessage,
    /// The sealed prompt is shorter than its header or its padding is inconsistent.
    #[error("the sealed prompt is malformed: {0}")]
    MalformedPrompt(&'static str),
    /// The prompt's JSON could not be written or read.
    #[error("the prompt envelope's JSON is invalid: {0}")]
    PromptJson(#[from] serde_json::Error),
    /// zstd failed.
    #[error("compression failed: {0}")]
    Compression(#[from] std::io::Error),
    /// The answer decompresses to more text than any answer to its request can be (a
    /// decompression bomb, or a server ignoring the request's limits).
    #[error("the server's answer decompresses past {limit} bytes of text, more than this request's answer can be: refusing it")]
    TextOverLimit {
        /// The most text the answer may decode to, bytes.
        limit: usize,
    },
}
