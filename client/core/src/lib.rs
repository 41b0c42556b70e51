//! Chainference's client core: everything a front end needs that takes no connection, so the
//! test harness, the client and the provider build on the same code.
//!
//! [`instructions`] builds the program's instructions. [`envelope`] is the privacy layer of
//! design §5: per-request keys derived from the wallet (client) and the operator key (server),
//! XChaCha20-Poly1305 with the request bound into every chunk's associated data, one zstd stream
//! per answer, and padded prompts. [`answer`] turns an answer's text into sealed chunks and
//! back; [`batcher`] packs them into transactions filled to the byte; [`stream`] checks and
//! orders the batches read back; [`claims`] checks an answer's token claims against its
//! decrypted text; [`receipt`] reads and checks the Light compressed receipt a closed request
//! leaves; [`sampling`] draws each answer token reproducibly from a seed its request fixes, and
//! [`rescore`] weighs an answer's tokens against the pinned weights' choices;
//! [`wallet`] reads keypair files.

pub mod answer;
pub mod batcher;
pub mod claims;
pub mod envelope;
pub mod instructions;
pub mod receipt;
pub mod rescore;
pub mod sampling;
pub mod stream;
pub mod wallet;
