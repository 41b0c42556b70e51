//! The client's acknowledgement of a directly delivered answer (design §9), found in the
//! ed25519 precompile's instruction right before `complete_request`. The runtime has verified
//! that instruction's signature before the program runs; the program checks it verified the
//! request's client over this request's acknowledgement, with every offset inside the
//! precompile's own data (so no other instruction can stand in for the key or the message).

use crate::error::ChainferenceError;
use anchor_lang::prelude::*;
use chainference_prover::core::Acknowledgement;
use solana_instructions_sysvar::{load_current_index_checked, load_instruction_at_checked};

/// The precompile's header: a signature count and a padding byte, then one offsets record.
const HEADER_LEN: usize = 2 + 14;
/// An offset's instruction index meaning "this instruction".
const THIS_INSTRUCTION: u16 = u16::MAX;

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
    let (public_key, message) =
        signed_parts(&precompile.data).ok_or(ChainferenceError::AcknowledgementInvalid)?;
    require!(
        public_key == client.as_ref(),
        ChainferenceError::AcknowledgementInvalid
    );
    Acknowledgement::parse(&request.to_bytes(), message)
        .ok_or_else(|| error!(ChainferenceError::AcknowledgementInvalid))
}

/// The public key and message of an ed25519 instruction verifying exactly one signature whose
/// parts all lie in its own data.
fn signed_parts(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let header = data.get(..HEADER_LEN)?;
    if header[0] != 1 {
        return None;
    }
    let field = |at: usize| u16::from_le_bytes([header[2 + 2 * at], header[3 + 2 * at]]);
    let (signature_index, key_offset, key_index) = (field(1), field(2), field(3));
    let (message_offset, message_len, message_index) = (field(4), field(5), field(6));
    if [signature_index, key_index, message_index] != [THIS_INSTRUCTION; 3] {
        return None;
    }
    let slice = |offset: u16, len: usize| data.get(usize::from(offset)..usize::from(offset) + len);
    Some((
        slice(key_offset, 32)?,
        slice(message_offset, usize::from(message_len))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruction_data(key: &[u8; 32], message: &[u8], index: u16) -> Vec<u8> {
        let key_offset = HEADER_LEN as u16;
        let signature_offset = key_offset + 32;
        let message_offset = signature_offset + 64;
        let mut data = vec![1, 0];
        for field in [
            signature_offset,
            index,
            key_offset,
            index,
            message_offset,
            message.len() as u16,
            index,
        ] {
            data.extend_from_slice(&field.to_le_bytes());
        }
        data.extend_from_slice(key);
        data.extend_from_slice(&[0; 64]);
        data.extend_from_slice(message);
        data
    }

    #[test]
    fn only_a_single_self_contained_signature_gives_its_parts() {
        let data = instruction_data(&[7; 32], b"ack", THIS_INSTRUCTION);
        assert_eq!(signed_parts(&data), Some((&[7u8; 32][..], &b"ack"[..])));
        // Parts in another instruction, two signatures, short data: refused.
        assert_eq!(signed_parts(&instruction_data(&[7; 32], b"ack", 0)), None);
        let mut two = data.clone();
        two[0] = 2;
        assert_eq!(signed_parts(&two), None);
        assert_eq!(signed_parts(&data[..data.len() - 1]), None);
        assert_eq!(signed_parts(&data[..10]), None);
    }
}
