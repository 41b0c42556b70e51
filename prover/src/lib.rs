//! Chainference's hashing core and, with the `std` feature, the off-chain prover.
//!
//! The [`core`] module is `no_std` and is compiled into the on-chain program, so a chunk hash,
//! a batch root, a batch leaf, the rules a batch follows and the bill have exactly one
//! definition, shared by the program, the provider, the client and auditors. With `std`:
//! [`change_log`] reads spl-account-compression's change-log events, [`bundle`] is the
//! transcript bundle an auditor keeps, [`verify`] checks one offline, and [`tree`] mirrors a
//! response tree's roots and proofs.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod core;

#[cfg(feature = "std")]
pub mod bundle;
#[cfg(feature = "std")]
pub mod change_log;
#[cfg(feature = "std")]
pub mod encoding;
#[cfg(feature = "std")]
pub mod tree;
#[cfg(feature = "std")]
pub mod verify;
