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

/// The client's side: opened bytes in, text out, never more text than its limit.
///
/// A few hundred bytes of zstd or brotli can stand for gigabytes (a run of one byte costs the
/// encoder next to nothing), so the decoders write into a sink that refuses to grow past the
/// limit: a stream that decodes to more is refused as it decodes, not after.
pub struct AnswerDecompressor {
    mode: Compression,
    /// The most text all its streams together may decode to.
    limit: usize,
    decoder: Decoder,
}

/// One stream's decoder, writing into a [`Bounded`] sink.
enum Decoder {
    Zstd(zstd::stream::write::Decoder<'static, Bounded>),
    Brotli(Box<brotli::DecompressorWriter<Bounded>>),
    None(Bounded),
}

/// Decoded text waiting to be taken, and how much more may come.
struct Bounded {
    text: Vec<u8>,
    room: usize,
    overflowed: bool,
}

impl Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.len() > self.room {
            self.overflowed = true;
            return Err(std::io::Error::other("decoded text over its limit"));
        }
        self.room -= bytes.len();
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// zstd's window, log2 bytes, at most: ours is far smaller (level 9), and a frame may not make
/// the client allocate more than 16 MiB for it.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

impl Decoder {
    fn new(mode: Compression, room: usize) -> Result<Self, EnvelopeError> {
        let sink = Bounded {
            text: Vec::new(),
            room,
            overflowed: false,
        };
        Ok(match mode {
            Compression::Zstd => {
                let mut decoder = zstd::stream::write::Decoder::new(sink)?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Self::Zstd(decoder)
            }
            Compression::Brotli => Self::Brotli(Box::new(brotli::DecompressorWriter::new(
                sink,
                BROTLI_BUFFER,
            ))),
            Compression::None => Self::None(sink),
        })
    }

    fn sink(&mut self) -> &mut Bounded {
        match self {
            Self::Zstd(decoder) => decoder.get_mut(),
            Self::Brotli(decoder) => decoder.get_mut(),
            Self::None(sink) => sink,
        }
    }
}

impl AnswerDecompressor {
    /// A decompressor for answers encoded with `mode` that decode to at most `limit` bytes of
    /// text, over all their streams.
    pub fn new(mode: Compression, limit: usize) -> Result<Self, EnvelopeError> {
        Ok(Self {
            mode,
            limit,
            decoder: Decoder::new(mode, limit)?,
        })
    }

    /// Lowers the limit to `limit` bytes of text in all (it never rises).
    pub fn limit_to(&mut self, limit: usize) {
        let decoded = self.limit - self.decoder.sink().room;
        self.limit = self.limit.min(limit);
        self.decoder.sink().room = self.limit.saturating_sub(decoded);
    }

    /// Starts decoding a new stream (a resumed provider's), within what is left of the limit.
    pub fn restart(&mut self) -> Result<(), EnvelopeError> {
        let room = self.decoder.sink().room;
        self.decoder = Decoder::new(self.mode, room)?;
        Ok(())
    }

    /// Feeds opened bytes and appends the text they decode to `out`; refuses them with
    /// [`EnvelopeError::TextOverLimit`] if the text would pass the limit.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        let written = match &mut self.decoder {
            Decoder::Zstd(decoder) => decoder.write_all(bytes).and_then(|()| decoder.flush()),
            Decoder::Brotli(decoder) => decoder.write_all(bytes).and_then(|()| decoder.flush()),
            Decoder::None(sink) => sink.write_all(bytes),
        };
        let sink = self.decoder.sink();
        if sink.overflowed {
            sink.text.clear();
            return Err(EnvelopeError::TextOverLimit { limit: self.limit });
        }
        written?;
        out.append(&mut sink.text);
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
            let mut decompressor = AnswerDecompressor::new(mode, 1 << 20).unwrap();
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

    fn compressed(mode: Compression, text: &str) -> Vec<u8> {
        let mut compressor = AnswerCompressor::new(mode).unwrap();
        let mut bytes = Vec::new();
        compressor.push(text.as_bytes(), &mut bytes).unwrap();
        compressor.finish(&mut bytes).unwrap();
        bytes
    }

    /// The limit counts every stream's text together, and text past it is refused, not kept.
    #[test]
    fn text_past_the_limit_is_refused_in_every_mode_and_across_streams() {
        let stream = "x".repeat(600);
        for mode in [Compression::Brotli, Compression::Zstd, Compression::None] {
            let bytes = compressed(mode, &stream);
            let mut decompressor = AnswerDecompressor::new(mode, 1_000).unwrap();
            let mut text = Vec::new();
            decompressor.push(&bytes, &mut text).unwrap();
            decompressor.restart().unwrap();
            let refused = decompressor.push(&bytes, &mut text);
            assert!(
                matches!(refused, Err(EnvelopeError::TextOverLimit { limit: 1_000 })),
                "{mode:?}: {refused:?}"
            );
            assert_eq!(
                text.len(),
                600,
                "{mode:?}: nothing past the limit is handed out"
            );
        }
    }

    /// Lowering the limit counts what was decoded already; it never raises it.
    #[test]
    fn a_lowered_limit_counts_what_was_decoded() {
        let bytes = compressed(Compression::Zstd, &"y".repeat(600));
        let mut decompressor = AnswerDecompressor::new(Compression::Zstd, 1_000).unwrap();
        let mut text = Vec::new();
        decompressor
            .push(&bytes[..bytes.len() / 2], &mut text)
            .unwrap();
        decompressor.limit_to(usize::MAX);
        decompressor.limit_to(text.len() + 10);
        let refused = decompressor.push(&bytes[bytes.len() / 2..], &mut text);
        assert!(
            matches!(refused, Err(EnvelopeError::TextOverLimit { .. })),
            "{refused:?}"
        );
    }
}
