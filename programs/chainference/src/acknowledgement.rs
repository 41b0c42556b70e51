//! The client's acknowledgement of a directly delivered answer (design §9), found in the
//! ed25519 precompile's instruction right before `complete_request`. The runtime has verified
//! that instruction's signature before the program runs; the program checks it verified the
//! request's client over this request's acknowledgement, with every offset inside the
//! precompile's own data (so no other instruction can stand in for the key or the message).

use crate::error::ChainferenceError;
use anchor_lang::prelude::*;
use chainference_prover::core::{precompile_parts, Acknowledgement};
use solana_instructions_sysvar::{load_current_index_checked, load_instruction_at_checked};

/// The acknowledgement `client` signed for `request`, from the instruction before the current
/// one in `instructions` (the instructions sysvar).
pub fn acknowledged(
    instructions: &AccountInfo,
    request: &Pubkey,
    client: &Pubkey,
) -> Result<Acknowledgement> {
    let current = load_current_index_checked(instructions)?;
    let previous = current
        .checked_sub(1)
        .ok_or(ChainferenceError::AcknowledgementMissing)?;
    let precompile = load_instruction_at_checked(usize::from(previous), instructions)?;
    require_keys_eq!(
        precompile.program_id,
        solana_sdk_ids::ed25519_program::ID,
        ChainferenceError::AcknowledgementMissing
    );
    let signed =
        precompile_parts(&precompile.data).ok_or(ChainferenceError::AcknowledgementInvalid)?;
    require!(
        signed.public_key == client.as_ref(),
        ChainferenceError::AcknowledgementInvalid
    );
    Acknowledgement::parse(&request.to_bytes(), signed.message)
        .ok_or_else(|| error!(ChainferenceError::AcknowledgementInvalid))
}
