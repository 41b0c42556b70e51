//! One zstd stream per answer, flushed at each batch so every batch decodes as it arrives; a
//! resumed provider starts a new frame, which the decompressor reads on from.
//!
//! Compressing before encrypting leaks through lengths when an attacker controls part of the
//! text; `--no-compress` ([`Compression::None`]) turns it off.

use super::EnvelopeError;
use std::io::Write;

/// zstd level used by default: near the best ratio on prose at a fraction of level 19's time.
const DEFAULT_LEVEL: i32 = 9;

/// How an answer's text is encoded before it is sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// One zstd stream per answer.
    #[default]
    Zstd,
    /// Plain UTF-8.
    None,
}

/// The provider's side: text in, bytes to seal out.
pub struct AnswerCompressor {
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
}

impl AnswerCompressor {
    /// A compressor starting a new stream (or frame, when resuming).
    pub fn new(mode: Compression) -> Result<Self, EnvelopeError> {
        let encoder = match mode {
            Compression::Zstd => Some(zstd::stream::write::Encoder::new(
                Vec::new(),
                DEFAULT_LEVEL,
            )?),
            Compression::None => None,
        };
        Ok(Self { encoder })
    }

    /// Feeds `text`; returns nothing until [`AnswerCompressor::flush`] unless uncompressed.
    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match &mut self.encoder {
            Some(encoder) => encoder.write_all(text)?,
            None => out.extend_from_slice(text),
        }
        Ok(())
    }

    /// Flushes a block, so everything pushed so far decodes from the bytes given out so far.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        if let Some(encoder) = &mut self.encoder {
            encoder.flush()?;
            out.append(encoder.get_mut());
        }
        Ok(())
    }

    /// Ends the stream (the frame's epilogue).
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        if let Some(encoder) = self.encoder {
            out.extend(encoder.finish()?);
        }
        Ok(())
    }
}

/// The client's side: opened bytes in, text out.
pub struct AnswerDecompressor {
    decoder: Option<zstd::stream::write::Decoder<'static, Vec<u8>>>,
}

impl AnswerDecompressor {
    /// A decompressor for answers encoded with `mode`.
    pub fn new(mode: Compression) -> Result<Self, EnvelopeError> {
        let decoder = match mode {
            Compression::Zstd => Some(zstd::stream::write::Decoder::new(Vec::new())?),
            Compression::None => None,
        };
        Ok(Self { decoder })
    }

    /// Feeds opened bytes and appends the text they decode to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match &mut self.decoder {
            Some(decoder) => {
                decoder.write_all(bytes)?;
                decoder.flush()?;
                out.append(decoder.get_mut());
            }
            None => out.extend_from_slice(bytes),
        }
        Ok(())
    }
}
