//! Chainference's client SDK.
//!
//! [`envelope`] is the privacy layer of design §5: per-request keys derived from the wallet
//! (client) and the operator key (server), XChaCha20-Poly1305 with the request bound into every
//! chunk's associated data, one zstd stream per answer, and padded prompts. [`answer`] turns an
//! answer's text into sealed chunks and back; [`batcher`] packs them into transactions filled
//! to the byte; [`instructions`] builds the program's instructions; [`stream`] reassembles and
//! checks an answer from transaction logs.

pub mod answer;
pub mod batcher;
pub mod envelope;
pub mod instructions;
pub mod stream;
