//! XChaCha20-Poly1305 with a random 24-byte nonce per chunk and the request, direction,
//! sequence and finish bound into the associated data.

use super::{EnvelopeError, KeyContext, SessionKey};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chainference_prover::core::NONCE_LEN;
use rand_core::{OsRng, RngCore};

/// Bytes the AEAD tag adds to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Which way a chunk travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Prompt = 0,
    /// Server to client.
    Response = 1,
}

/// Why an answer ended, bound into its final chunk so a cut-short answer cannot pass as
/// complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model stopped by itself.
    Stop = 0,
    /// The token limit was reached.
    Length = 1,
    /// The request's time limit was near.
    Deadline = 2,
}

impl FinishReason {
    const ALL: [Self; 3] = [Self::Stop, Self::Length, Self::Deadline];
}

/// What a chunk's associated data binds besides the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Which way it travels.
    pub direction: Direction,
    /// Its sequence number.
    pub seq: u32,
    /// `Some` on the final chunk.
    pub finish: Option<FinishReason>,
}

/// `program id ‖ genesis hash ‖ request ‖ direction ‖ seq ‖ final ‖ [finish reason]`.
fn associated_data(context: &KeyContext, header: &ChunkHeader) -> Vec<u8> {
    let mut aad = Vec::with_capacity(103);
    aad.extend_from_slice(&context.program_id);
    aad.extend_from_slice(&context.genesis_hash);
    aad.extend_from_slice(&context.request);
    aad.push(header.direction as u8);
    aad.extend_from_slice(&header.seq.to_le_bytes());
    aad.push(u8::from(header.finish.is_some()));
    if let Some(reason) = header.finish {
        aad.push(reason as u8);
    }
    aad
}

/// Seals `plaintext` under a fresh random nonce; returns the nonce and the ciphertext.
pub fn seal(
    key: &SessionKey,
    context: &KeyContext,
    header: &ChunkHeader,
    plaintext: &[u8],
) -> ([u8; NONCE_LEN], Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = seal_with_nonce(key, context, header, &nonce, plaintext);
    (nonce, ciphertext)
}

/// Seals `plaintext` under `nonce` (for test vectors; never reuse a nonce under one key).
pub fn seal_with_nonce(
    key: &SessionKey,
    context: &KeyContext,
    header: &ChunkHeader,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let aad = associated_data(context, header);
    // Encryption with a 32-byte key fails only on inputs over 256 GiB.
    XChaCha20Poly1305::new(&key.0.into())
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap_or_default()
}

/// Opens a chunk sealed with `header`.
pub fn open(
    key: &SessionKey,
    context: &KeyContext,
    header: &ChunkHeader,
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let aad = associated_data(context, header);
    XChaCha20Poly1305::new(&key.0.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| EnvelopeError::Decrypt)
}

/// Opens a final chunk, learning its finish reason from which one authenticates.
pub fn open_final(
    key: &SessionKey,
    context: &KeyContext,
    direction: Direction,
    seq: u32,
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Result<(Vec<u8>, FinishReason), EnvelopeError> {
    FinishReason::ALL
        .into_iter()
        .find_map(|reason| {
            let header = ChunkHeader {
                direction,
                seq,
                finish: Some(reason),
            };
            open(key, context, &header, nonce, ciphertext)
                .ok()
                .map(|plaintext| (plaintext, reason))
        })
        .ok_or(EnvelopeError::Decrypt)
}
