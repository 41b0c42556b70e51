//! The programs as a cluster runs them: the sBPF builds of this source tree's Chainference and
//! of spl-account-compression (cut to the provider's tree shapes), which `build.rs` makes with
//! `tools/sbf/build`, or takes from `CHAINFERENCE_SBF_DIR`. spl-noop's official build comes
//! with Light's package ([`crate::light`]).

use anchor_lang::prelude::Pubkey;
use chainference::compression::COMPRESSION_PROGRAM_ID;

/// One program's sBPF build.
#[derive(Clone, Copy, Debug)]
pub struct SbfProgram {
    /// Its program id.
    pub id: Pubkey,
    /// Its file name (`chainference.so`).
    pub file: &'static str,
    /// The ELF.
    pub elf: &'static [u8],
}

/// Chainference's sBPF build.
pub const CHAINFERENCE: SbfProgram = SbfProgram {
    id: chainference::ID,
    file: "chainference.so",
    elf: include_bytes!(concat!(env!("CHAINFERENCE_SBF_DIR"), "/chainference.so")),
};

/// spl-account-compression 1.0.0's sBPF build, for trees of depth 14 with a 64-entry buffer
/// (what local nodes use; `tools/sbf/build` says why not deeper).
pub const COMPRESSION: SbfProgram = SbfProgram {
    id: COMPRESSION_PROGRAM_ID,
    file: "spl_account_compression.so",
    elf: include_bytes!(concat!(
        env!("CHAINFERENCE_SBF_DIR"),
        "/spl_account_compression.so"
    )),
};

/// The programs this tree builds.
pub const PROGRAMS: [SbfProgram; 2] = [CHAINFERENCE, COMPRESSION];
