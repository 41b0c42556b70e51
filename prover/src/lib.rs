//! Chainference's hashing core and, with the `std` feature, the off-chain prover.
//!
//! The [`core`] module is `no_std` and is compiled into the on-chain program, so a chunk hash,
//! a batch root, a batch leaf and the request's hash chain have exactly one definition,
//! shared by the program, the provider, the client and auditors.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod core;
