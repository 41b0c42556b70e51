//! The `no_std` hashing core shared with the on-chain program (design §4).
//!
//! Every hash is keccak256 (the `sol_keccak256` syscall on chain) over a domain tag followed by
//! the fields in a fixed, little-endian encoding, so two different kinds of value never share a
//! pre-image.

mod ack;
mod batch;
mod billing;
mod chain;
mod chunk;
mod keccak;
mod leaf;
mod mirror;
mod proof;

pub use ack::{
    precompile_parts, Acknowledgement, Scope, SignedParts, ACK_MESSAGE_LEN, KEY_MESSAGE_LEN,
};
pub use batch::{batch_root, BatchError, MAX_BATCH_CHUNKS, MAX_DIRECT_BATCH_CHUNKS};
pub use billing::{bill_for, fee_for, BPS, PRICE_TOKENS};
pub use chain::{extend_chain, extend_prompt_hash, EMPTY_CHAIN};
pub use chunk::{chunk_hash, ChunkRef, NONCE_LEN};
pub use keccak::{keccak, Keccak256};
pub use leaf::batch_leaf;
pub use mirror::{
    check_chunk, AppliedBatch, BatchRuleError, ResponseCursor, RootClaim, MAX_CHUNK_LEN,
};
pub use proof::root_from_proof;

/// A 32-byte keccak256 digest.
pub type Hash = [u8; 32];
