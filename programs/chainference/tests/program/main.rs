//! The program on a real Solana runtime (LiteSVM with Chainference, spl-account-compression and
//! spl-noop as builtins, CPIs executed for real): the whole lifecycle to the lamport, every
//! refusal by name, and lamport conservation over random instruction sequences.

mod common;
mod conservation;
mod lifecycle;
mod refusals;
