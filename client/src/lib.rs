//! Chainference's client SDK.
//!
//! [`rpc`] connects to a cluster and sends transactions that execute once; [`instructions`]
//! builds the program's instructions and [`ledger`] reads them (and the answer's events) back
//! from transactions. [`envelope`] is the privacy layer of design §5: per-request keys derived
//! from the wallet (client) and the operator key (server), XChaCha20-Poly1305 with the request
//! bound into every chunk's associated data, one zstd stream per answer, and padded prompts.
//! [`answer`] turns an answer's text into sealed chunks and back; [`batcher`] packs them into
//! transactions filled to the byte; [`stream`] checks and orders batches and [`follow`] follows
//! one answer live over PubSub with gaps filled from the ledger; [`direct`] receives an answer
//! from the server's endpoint instead, with only its roots on chain. [`ask`] is a question's whole
//! life; [`history`] reads a past one back; [`audit`] rebuilds and checks a transcript from the
//! finalized ledger alone; [`accounts`] lists servers and requests; [`lookup`] finds or creates
//! the address lookup table a provider's v0 appends load their fixed accounts from; [`receipt`]
//! reads and checks the Light compressed receipt a closed request leaves; [`claims`] checks an
//! answer's token claims against its decrypted text; [`wallet`] reads keypair files; [`logging`]
//! is the binaries' one tracing setup.

pub mod accounts;
pub mod answer;
pub mod ask;
pub mod audit;
pub mod batcher;
pub mod claims;
pub mod direct;
pub mod envelope;
pub mod follow;
pub mod history;
pub mod instructions;
pub mod ledger;
pub mod logging;
pub mod lookup;
pub mod receipt;
pub mod rpc;
pub mod stream;
pub mod wallet;
