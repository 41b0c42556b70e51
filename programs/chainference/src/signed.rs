//! Signatures made off chain that the program reads from the ed25519 precompile's instruction
//! right before the current one: the client's acknowledgement of a direct answer (design §9)
//! and the operator's signature of its per-request key (design §5). The runtime has verified
//! that instruction's signature before the program runs; the program checks it verified the
//! expected signer over the expected message in this request's [`Scope`] (program, cluster,
//! request), with every offset inside the precompile's own data, so no other instruction can
//! stand in for the key or the message.

use crate::error::ChainferenceError;
use crate::state::Config;
use anchor_lang::prelude::*;
use chainference_prover::core::{precompile_parts, Acknowledgement, Scope, SignedParts};
use solana_instructions_sysvar::{load_current_index_checked, load_instruction_at_checked};

/// Where a signature about `request` counts: this program on the config's cluster.
pub fn scope(config: &Config, request: &Pubkey) -> Scope {
    Scope {
        program: crate::ID.to_bytes(),
        cluster: config.cluster,
        request: request.to_bytes(),
    }
}

/// The data of the ed25519 precompile's instruction right before the current one in
/// `instructions` (the instructions sysvar); `None` when there is none.
fn previous_ed25519(instructions: &AccountInfo) -> Result<Option<Vec<u8>>> {
    let current = load_current_index_checked(instructions)?;
    let Some(previous) = current.checked_sub(1) else {
        return Ok(None);
    };
    let instruction = load_instruction_at_checked(usize::from(previous), instructions)?;
    Ok((instruction.program_id == solana_sdk_ids::ed25519_program::ID).then_some(instruction.data))
}

/// The one signature `data` verifies, if `signer` made it.
fn signed_by<'a>(data: &'a [u8], signer: &Pubkey) -> Option<SignedParts<'a>> {
    precompile_parts(data).filter(|signed| signed.public_key == signer.as_ref())
}

/// The acknowledgement `client` signed in `scope`, if an ed25519 instruction precedes this
/// one (`None`: nothing was acknowledged); one that is not the client's is refused.
pub fn acknowledgement(
    instructions: &AccountInfo,
    scope: &Scope,
    client: &Pubkey,
) -> Result<Option<Acknowledgement>> {
    let Some(data) = previous_ed25519(instructions)? else {
        return Ok(None);
    };
    signed_by(&data, client)
        .and_then(|signed| Acknowledgement::parse(scope, signed.message))
        .map(Some)
        .ok_or_else(|| error!(ChainferenceError::AcknowledgementInvalid))
}

/// `operator`'s signature of `key` in `scope`, from the ed25519 instruction that must precede
/// this one.
pub fn key_signature(
    instructions: &AccountInfo,
    scope: &Scope,
    operator: &Pubkey,
    key: &[u8; 32],
) -> Result<[u8; 64]> {
    let data = previous_ed25519(instructions)?.ok_or(ChainferenceError::KeySignatureMissing)?;
    signed_by(&data, operator)
        .filter(|signed| scope.parse_key(signed.message).as_ref() == Some(key))
        .and_then(|signed| signed.signature.try_into().ok())
        .ok_or_else(|| error!(ChainferenceError::KeySignatureInvalid))
}
