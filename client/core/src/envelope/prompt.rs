//! The prompt envelope: messages, sampling and limits as JSON, padded to 256-byte buckets and
//! sealed to the locking server's per-request key.

use super::{
    open, seal, ChunkHeader, Compression, Direction, EnvelopeError, FinishReason, KeyContext,
    SessionKey,
};
use chainference_prover::core::NONCE_LEN;
use serde::{Deserialize, Serialize};
use x25519_dalek::PublicKey;

/// Prompt plaintext is padded to a multiple of this many bytes.
pub const PROMPT_BUCKET: usize = 256;

/// What the client asks the server, sealed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptEnvelope {
    /// The conversation: system, user and assistant turns.
    pub messages: Vec<Message>,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Most answer tokens.
    pub max_tokens: u32,
    /// How the answer's text is to be encoded.
    pub compression: Compression,
}

/// One turn of the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The turn's text.
    pub content: String,
}

/// Sampling settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Temperature; `None` for the server's default.
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold.
    pub top_p: Option<f64>,
    /// Seed for reproducible sampling.
    pub seed: Option<u64>,
    /// Strings that end the answer.
    pub stop: Vec<String>,
}

/// The sealed prompt as it goes on chain: `client public key ‖ nonce ‖ ciphertext`, whose
/// plaintext is `length (u32 LE) ‖ JSON ‖ zero padding` to a multiple of [`PROMPT_BUCKET`].
pub fn seal_prompt(
    envelope: &PromptEnvelope,
    key: &SessionKey,
    client_public: &PublicKey,
    context: &KeyContext,
) -> Result<Vec<u8>, EnvelopeError> {
    let json = serde_json::to_vec(envelope)?;
    let length =
        u32::try_from(json.len()).map_err(|_| EnvelopeError::MalformedPrompt("over 4 GiB"))?;
    let mut plaintext = Vec::with_capacity((json.len() + 4).next_multiple_of(PROMPT_BUCKET));
    plaintext.extend_from_slice(&length.to_le_bytes());
    plaintext.extend_from_slice(&json);
    plaintext.resize(plaintext.len().next_multiple_of(PROMPT_BUCKET), 0);
    let (nonce, ciphertext) = seal(key, context, &prompt_header(), &plaintext);
    let mut sealed = Vec::with_capacity(32 + NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(client_public.as_bytes());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// The length `envelope` has once sealed: the client's key, the nonce, the length prefix and
/// JSON padded to [`PROMPT_BUCKET`], and the AEAD tag (what `submit_prompt` counts, and what
/// the declared prompt tokens must cover: `chainference::state::min_prompt_tokens`).
pub fn sealed_prompt_len(envelope: &PromptEnvelope) -> Result<usize, EnvelopeError> {
    let json = serde_json::to_vec(envelope)?;
    Ok(32 + NONCE_LEN + (4 + json.len()).next_multiple_of(PROMPT_BUCKET) + 16)
}

/// The client's public key at the head of a sealed prompt (the server needs it to derive the
/// session key before opening).
pub fn prompt_client_key(sealed: &[u8]) -> Result<PublicKey, EnvelopeError> {
    let bytes: [u8; 32] = sealed
        .get(..32)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(EnvelopeError::MalformedPrompt("shorter than its header"))?;
    Ok(PublicKey::from(bytes))
}

/// Opens a sealed prompt.
pub fn open_prompt(
    sealed: &[u8],
    key: &SessionKey,
    context: &KeyContext,
) -> Result<PromptEnvelope, EnvelopeError> {
    let nonce: [u8; NONCE_LEN] = sealed
        .get(32..32 + NONCE_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(EnvelopeError::MalformedPrompt("shorter than its header"))?;
    let plaintext = open(
        key,
        context,
        &prompt_header(),
        &nonce,
        &sealed[32 + NONCE_LEN..],
    )?;
    let length = plaintext
        .get(..4)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(EnvelopeError::MalformedPrompt("no length"))? as usize;
    let json = plaintext
        .get(4..4 + length)
        .ok_or(EnvelopeError::MalformedPrompt(
            "length beyond the plaintext",
        ))?;
    Ok(serde_json::from_slice(json)?)
}

/// A prompt is one message: sequence 0, final.
fn prompt_header() -> ChunkHeader {
    ChunkHeader {
        direction: Direction::Prompt,
        seq: 0,
        finish: Some(FinishReason::Stop),
    }
}
