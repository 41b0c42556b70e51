//! One compressed stream per answer, flushed at each batch so every batch decodes as it
//! arrives; a resumed provider starts a new stream, which the decompressor reads on from.
//!
//! Brotli is the default: its built-in dictionary of English words is what a short answer
//! lacks a history for, and on our prose corpus it packs about a quarter more text into each
//! transaction than zstd (README, benchmarks). zstd stays readable for answers sealed with
//! it. Compressing before encrypting leaks through lengths when an attacker controls part of
//! the text; `--no-compress` ([`Compression::None`]) turns it off.

use super::EnvelopeError;
use std::io::Write;

/// zstd level: near its best ratio on prose at a fraction of level 19's time.
const ZSTD_LEVEL: i32 = 9;
/// Brotli quality: the best; a model's output is far slower than it.
const BROTLI_QUALITY: u32 = 11;
/// Brotli window, log2 bytes (4 MiB: a long answer refers back to its start).
const BROTLI_WINDOW: u32 = 22;
/// Buffer of the brotli writers.
const BROTLI_BUFFER: usize = 4_096;

/// How an answer's text is encoded before it is sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// One zstd stream per answer.
    Zstd,
    /// One brotli stream per answer.
    #[default]
    Brotli,
    /// Plain UTF-8.
    None,
}

/// The provider's side: text in, bytes to seal out.
pub enum AnswerCompressor {
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    /// Brotli.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// No compression.
    None,
}

impl AnswerCompressor {
    /// A compressor starting a new stream (or frame, when resuming).
    pub fn new(mode: Compression) -> Result<Self, EnvelopeError> {
        Ok(match mode {
            Compression::Zstd => {
                Self::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
            Compression::Brotli => Self::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
            Compression::None => Self::None,
        })
    }

    /// Feeds `text`; returns nothing until [`AnswerCompressor::flush`] unless uncompressed.
    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match self {
            Self::Zstd(encoder) => encoder.write_all(text)?,
            Self::Brotli(encoder) => encoder.write_all(text)?,
            Self::None => out.extend_from_slice(text),
        }
        Ok(())
    }

    /// Flushes, so everything pushed so far decodes from the bytes given out so far.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match self {
            Self::Zstd(encoder) => {
                encoder.flush()?;
                out.append(encoder.get_mut());
            }
            Self::Brotli(encoder) => {
                encoder.flush()?;
                out.append(encoder.get_mut());
            }
            Self::None => {}
        }
        Ok(())
    }

    /// Ends the stream (its epilogue).
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match self {
            Self::Zstd(encoder) => out.extend(encoder.finish()?),
            Self::Brotli(encoder) => out.extend((*encoder).into_inner()),
            Self::None => {}
        }
        Ok(())
    }
}

/// The client's side: opened bytes in, text out.
pub enum AnswerDecompressor {
    /// zstd.
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
    /// Brotli.
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    /// No compression.
    None,
}

impl AnswerDecompressor {
    /// A decompressor for answers encoded with `mode`.
    pub fn new(mode: Compression) -> Result<Self, EnvelopeError> {
        Ok(match mode {
            Compression::Zstd => Self::Zstd(zstd::stream::write::Decoder::new(Vec::new())?),
            Compression::Brotli => Self::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
            ))),
            Compression::None => Self::None,
        })
    }

    /// Feeds opened bytes and appends the text they decode to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match self {
            Self::Zstd(decoder) => {
                decoder.write_all(bytes)?;
                decoder.flush()?;
                out.append(decoder.get_mut());
            }
            Self::Brotli(decoder) => {
                decoder.write_all(bytes)?;
                decoder.flush()?;
                out.append(decoder.get_mut());
            }
            Self::None => out.extend_from_slice(bytes),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text pushed in pieces, flushed after each, decodes piece by piece in every mode.
    #[test]
    fn every_flush_makes_everything_so_far_decodable() {
        let pieces = [
            "The keeper climbed the stair at dusk. ",
            "Below, the tide turned over the rocks, ",
            "and the lamp began its slow turning. ",
        ];
        for mode in [Compression::Brotli, Compression::Zstd, Compression::None] {
            let mut compressor = AnswerCompressor::new(mode).unwrap();
            let mut decompressor = AnswerDecompressor::new(mode).unwrap();
            let mut decoded = Vec::new();
            for (index, piece) in pieces.iter().enumerate() {
                let mut bytes = Vec::new();
                compressor.push(piece.as_bytes(), &mut bytes).unwrap();
                compressor.flush(&mut bytes).unwrap();
                decompressor.push(&bytes, &mut decoded).unwrap();
                assert_eq!(
                    String::from_utf8(decoded.clone()).unwrap(),
                    pieces[..=index].concat(),
                    "{mode:?}: all text so far after flush {index}"
                );
            }
            let mut tail = Vec::new();
            compressor.finish(&mut tail).unwrap();
            decompressor.push(&tail, &mut decoded).unwrap();
            assert_eq!(String::from_utf8(decoded).unwrap(), pieces.concat());
        }
    }
}
