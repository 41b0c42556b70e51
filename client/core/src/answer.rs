//! An answer's text to sealed chunks (the provider's side) and back (the client's side).
//!
//! Text is compressed as one stream per answer and flushed at each batch; the flushed bytes are
//! cut into chunks of whatever size the next transaction has room for, each sealed under a
//! fresh nonce with its sequence number (and, on the last, the finish reason) bound in.
//!
//! A chunk's plaintext is `flags ‖ stream bytes`. [`NEW_STREAM`] marks the first chunk of a
//! stream: the answer's first, or the first a resumed provider posts, whose compressor starts
//! afresh. The client then drops the old stream's undecodable tail (bytes of a block the crash
//! cut off, which no one has seen as text) and decodes on.

use crate::envelope::{
    open, open_final, seal, AnswerCompressor, AnswerDecompressor, ChunkHeader, Compression,
    Direction, EnvelopeError, FinishReason, KeyContext, SessionKey, TAG_LEN,
};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::MAX_CHUNK_LEN;

/// Most stream bytes one chunk carries (after its flags byte).
pub const MAX_CHUNK_PLAINTEXT: usize = MAX_CHUNK_LEN - TAG_LEN - 1;

/// Flag of a chunk that starts a new compression stream.
pub const NEW_STREAM: u8 = 1;

/// Most bytes of text one answer token may stand for when a request's `max_output_tokens`
/// bounds its answer's text ([`AnswerOpener::with_token_limit`]). A token is a piece of a
/// tokenizer's vocabulary; the longest pieces of common vocabularies (runs of spaces or
/// punctuation) are well under 256 bytes; an average English token is about 4 bytes.
pub const MAX_TEXT_BYTES_PER_TOKEN: usize = 256;

/// Most text any answer is opened into, whatever its request allows: 64 MiB, some 16 million
/// tokens of English, past any model's output limit. A few kilobytes of compressed stream can
/// stand for gigabytes; past this the answer is refused.
pub const MAX_ANSWER_TEXT: usize = 64 << 20;

/// Why an answer could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// Encryption or compression failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A chunk arrived out of order.
    #[error("chunk {found} arrived where chunk {expected} was due")]
    OutOfOrder {
        /// The sequence number due.
        expected: u32,
        /// The one that arrived.
        found: u32,
    },
    /// A chunk's plaintext lacks its flags byte.
    #[error("chunk {0} has no flags byte")]
    MissingFlags(u32),
    /// A chunk followed the final one.
    #[error("chunk {0} follows the answer's final chunk")]
    AfterFinal(u32),
    /// The answer ended inside a UTF-8 character.
    #[error("the answer ends inside a UTF-8 character")]
    TruncatedUtf8,
    /// The text is not UTF-8.
    #[error("the answer is not valid UTF-8")]
    InvalidUtf8,
}

/// The provider's side of one answer.
pub struct AnswerSealer {
    key: SessionKey,
    context: KeyContext,
    compressor: Option<AnswerCompressor>,
    next_seq: u32,
    /// Encoded bytes not yet sealed.
    pending: Vec<u8>,
    /// Tokens of the text pushed and not yet carried by a sealed chunk.
    pending_tokens: u64,
    /// Text bytes pushed and not yet flushed into `pending`.
    unflushed: bool,
    /// The next chunk starts the stream.
    starts_stream: bool,
    /// The final chunk was sealed.
    finished: bool,
}

impl AnswerSealer {
    /// Starts sealing an answer at `first_seq` (0, or where a resumed answer goes on, with a
    /// new compression frame).
    pub fn new(
        key: SessionKey,
        context: KeyContext,
        compression: Compression,
        first_seq: u32,
    ) -> Result<Self, AnswerError> {
        Ok(Self {
            key,
            context,
            compressor: Some(AnswerCompressor::new(compression)?),
            next_seq: first_seq,
            pending: Vec::new(),
            pending_tokens: 0,
            unflushed: false,
            starts_stream: true,
            finished: false,
        })
    }

    /// Adds generated text that the model produced as `tokens` tokens.
    pub fn push(&mut self, text: &str, tokens: u32) -> Result<(), AnswerError> {
        if let Some(compressor) = &mut self.compressor {
            compressor.push(text.as_bytes(), &mut self.pending)?;
        }
        self.pending_tokens += u64::from(tokens);
        self.unflushed |= !text.is_empty();
        Ok(())
    }

    /// Makes everything pushed so far decodable from the pending bytes (a batch boundary).
    pub fn flush(&mut self) -> Result<(), AnswerError> {
        if let (Some(compressor), true) = (&mut self.compressor, self.unflushed) {
            compressor.flush(&mut self.pending)?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Encoded bytes waiting to be sealed.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the final chunk was sealed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Tokens waiting to be carried by a chunk.
    pub fn pending_tokens(&self) -> u64 {
        self.pending_tokens
    }

    /// The sequence number the next chunk gets.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Seals up to `max_plaintext` pending bytes as the next (non-final) chunk. The chunk
    /// carries the pending tokens in proportion to the bytes it takes (all of them if it takes
    /// every pending byte), at most `u16::MAX`.
    pub fn seal_chunk(&mut self, max_plaintext: usize) -> Chunk {
        let take = self
            .pending
            .len()
            .min(max_plaintext.min(MAX_CHUNK_PLAINTEXT));
        let tokens = if take == self.pending.len() {
            self.pending_tokens
        } else {
            self.pending_tokens * take as u64 / self.pending.len().max(1) as u64
        };
        let tokens = tokens.min(u64::from(u16::MAX));
        let plaintext: Vec<u8> = self.pending.drain(..take).collect();
        self.pending_tokens -= tokens;
        self.seal(&plaintext, tokens as u16, None)
    }

    /// Ends the compression stream (its epilogue joins the pending bytes); the answer then
    /// takes no more text.
    pub fn end_stream(&mut self) -> Result<(), AnswerError> {
        if let Some(compressor) = self.compressor.take() {
            compressor.finish(&mut self.pending)?;
        }
        Ok(())
    }

    /// Whether the final chunk, carrying every pending byte and token, fits in `max_plaintext`
    /// stream bytes (after [`AnswerSealer::end_stream`]).
    pub fn final_fits(&self, max_plaintext: usize) -> bool {
        self.compressor.is_none()
            && self.pending.len() <= max_plaintext.min(MAX_CHUNK_PLAINTEXT)
            && self.pending_tokens <= u64::from(u16::MAX)
    }

    /// Seals every pending byte and token as the final chunk, with `reason`; check
    /// [`AnswerSealer::final_fits`] first.
    pub fn seal_final(&mut self, reason: FinishReason) -> Chunk {
        let plaintext = std::mem::take(&mut self.pending);
        let tokens = self.pending_tokens.min(u64::from(u16::MAX));
        self.pending_tokens -= tokens;
        self.finished = true;
        self.seal(&plaintext, tokens as u16, Some(reason))
    }

    /// Ends the stream and seals the rest: chunks of at most `max_plaintext` bytes, the last
    /// one final with `reason`.
    pub fn finish(
        mut self,
        reason: FinishReason,
        max_plaintext: usize,
    ) -> Result<Vec<Chunk>, AnswerError> {
        self.end_stream()?;
        let limit = max_plaintext.clamp(1, MAX_CHUNK_PLAINTEXT);
        let mut chunks = Vec::new();
        while !self.final_fits(limit) {
            chunks.push(self.seal_chunk(limit));
        }
        chunks.push(self.seal_final(reason));
        Ok(chunks)
    }

    fn seal(&mut self, stream_bytes: &[u8], tokens: u16, finish: Option<FinishReason>) -> Chunk {
        let header = ChunkHeader {
            direction: Direction::Response,
            seq: self.next_seq,
            finish,
        };
        let mut plaintext = Vec::with_capacity(1 + stream_bytes.len());
        plaintext.push(if std::mem::take(&mut self.starts_stream) {
            NEW_STREAM
        } else {
            0
        });
        plaintext.extend_from_slice(stream_bytes);
        let (nonce, ciphertext) = seal(&self.key, &self.context, &header, &plaintext);
        self.next_seq += 1;
        Chunk {
            seq: header.seq,
            tokens,
            is_final: finish.is_some(),
            nonce,
            ciphertext,
        }
    }
}

/// The client's side of one answer: chunks in order in, text out, at most
/// [`MAX_ANSWER_TEXT`] bytes of it (less with [`AnswerOpener::with_token_limit`]).
pub struct AnswerOpener {
    key: SessionKey,
    context: KeyContext,
    decompressor: AnswerDecompressor,
    next_seq: u32,
    /// Bytes of a UTF-8 character split across chunks.
    carry: Vec<u8>,
    finish: Option<FinishReason>,
}

impl AnswerOpener {
    /// Opens an answer encoded with `compression`, from its first chunk, into at most
    /// [`MAX_ANSWER_TEXT`] bytes of text.
    pub fn new(
        key: SessionKey,
        context: KeyContext,
        compression: Compression,
    ) -> Result<Self, AnswerError> {
        Ok(Self {
            key,
            context,
            decompressor: AnswerDecompressor::new(compression, MAX_ANSWER_TEXT)?,
            next_seq: 0,
            carry: Vec::new(),
            finish: None,
        })
    }

    /// Bounds the text by the request's `max_output_tokens`: at most that many times
    /// [`MAX_TEXT_BYTES_PER_TOKEN`] bytes (and never past [`MAX_ANSWER_TEXT`]); more is refused
    /// with [`EnvelopeError::TextOverLimit`].
    pub fn with_token_limit(mut self, max_output_tokens: u32) -> Self {
        let limit = (max_output_tokens as usize).saturating_mul(MAX_TEXT_BYTES_PER_TOKEN);
        self.decompressor.limit_to(limit);
        self
    }

    /// How the answer ended, once its final chunk is opened.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// Opens the next chunk and returns the text it completes.
    pub fn open(&mut self, chunk: &Chunk) -> Result<String, AnswerError> {
        if self.finish.is_some() {
            return Err(AnswerError::AfterFinal(chunk.seq));
        }
        if chunk.seq != self.next_seq {
            return Err(AnswerError::OutOfOrder {
                expected: self.next_seq,
                found: chunk.seq,
            });
        }
        let plaintext = if chunk.is_final {
            let (plaintext, reason) = open_final(
                &self.key,
                &self.context,
                Direction::Response,
                chunk.seq,
                &chunk.nonce,
                &chunk.ciphertext,
            )?;
            self.finish = Some(reason);
            plaintext
        } else {
            let header = ChunkHeader {
                direction: Direction::Response,
                seq: chunk.seq,
                finish: None,
            };
            open(
                &self.key,
                &self.context,
                &header,
                &chunk.nonce,
                &chunk.ciphertext,
            )?
        };
        self.next_seq += 1;
        let (flags, stream_bytes) = plaintext
            .split_first()
            .ok_or(AnswerError::MissingFlags(chunk.seq))?;
        if flags & NEW_STREAM != 0 {
            self.decompressor.restart()?;
            self.carry.clear();
        }
        let mut bytes = std::mem::take(&mut self.carry);
        self.decompressor.push(stream_bytes, &mut bytes)?;
        let complete = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => return Err(AnswerError::InvalidUtf8),
        };
        self.carry = bytes.split_off(complete);
        if self.finish.is_some() && !self.carry.is_empty() {
            return Err(AnswerError::TruncatedUtf8);
        }
        String::from_utf8(bytes).map_err(|_| AnswerError::InvalidUtf8)
    }
}
