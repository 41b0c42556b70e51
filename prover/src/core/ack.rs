//! The client's cumulative acknowledgement of a directly delivered answer (design §9): what it
//! signs with its wallet key, and what `complete_request` finds in the ed25519 precompile's
//! instruction before billing.

use super::Hash;

const DOMAIN: &[u8; 16] = b"chainference:ack";

/// Bytes of an acknowledgement's signed message.
pub const ACK_MESSAGE_LEN: usize = DOMAIN.len() + 32 + 4 + 4 + 32;

/// "I received and checked every chunk before `next_seq`, `tokens` tokens, whose leaves chain
/// to `chain`."
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The sequence number after the last chunk received.
    pub next_seq: u32,
    /// Answer tokens those chunks carry.
    pub tokens: u32,
    /// The request's hash chain over the leaves of those chunks' batches.
    pub chain: Hash,
}

impl Acknowledgement {
    /// `"chainference:ack" ‖ request ‖ next_seq ‖ tokens ‖ chain`, integers little-endian.
    pub fn message(&self, request: &[u8; 32]) -> [u8; ACK_MESSAGE_LEN] {
        let mut message = [0u8; ACK_MESSAGE_LEN];
        let (domain, rest) = message.split_at_mut(DOMAIN.len());
        domain.copy_from_slice(DOMAIN);
        let (address, rest) = rest.split_at_mut(32);
        address.copy_from_slice(request);
        let (next_seq, rest) = rest.split_at_mut(4);
        next_seq.copy_from_slice(&self.next_seq.to_le_bytes());
        let (tokens, chain) = rest.split_at_mut(4);
        tokens.copy_from_slice(&self.tokens.to_le_bytes());
        chain.copy_from_slice(&self.chain);
        message
    }

    /// The acknowledgement `message` states for `request`; `None` for any other bytes.
    pub fn parse(request: &[u8; 32], message: &[u8]) -> Option<Self> {
        if message.len() != ACK_MESSAGE_LEN {
            return None;
        }
        let (domain, rest) = message.split_at(DOMAIN.len());
        let (address, rest) = rest.split_at(32);
        if domain != DOMAIN || address != request {
            return None;
        }
        let (next_seq, rest) = rest.split_at(4);
        let (tokens, chain) = rest.split_at(4);
        Some(Self {
            next_seq: u32::from_le_bytes(next_seq.try_into().ok()?),
            tokens: u32::from_le_bytes(tokens.try_into().ok()?),
            chain: chain.try_into().ok()?,
        })
    }
}

/// The ed25519 precompile's header: a signature count and a padding byte, then one offsets
/// record of seven u16.
const PRECOMPILE_HEADER_LEN: usize = 2 + 14;
/// An offset's instruction index meaning "the precompile's own instruction".
const THIS_INSTRUCTION: u16 = u16::MAX;

/// What one ed25519 precompile instruction verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// The signer's public key (32 bytes).
    pub public_key: &'a [u8],
    /// The signature (64 bytes).
    pub signature: &'a [u8],
    /// The signed message.
    pub message: &'a [u8],
}

/// The parts of an ed25519 precompile instruction's `data` that verifies exactly one
/// signature with every part inside that data (so no other instruction can stand in for the
/// key or the message); `None` for any other layout.
pub fn precompile_parts(data: &[u8]) -> Option<SignedParts<'_>> {
    let header = data.get(..PRECOMPILE_HEADER_LEN)?;
    if header[0] != 1 {
        return None;
    }
    let field = |at: usize| u16::from_le_bytes([header[2 + 2 * at], header[3 + 2 * at]]);
    let (signature_offset, signature_index) = (field(0), field(1));
    let (key_offset, key_index) = (field(2), field(3));
    let (message_offset, message_len, message_index) = (field(4), field(5), field(6));
    if [signature_index, key_index, message_index] != [THIS_INSTRUCTION; 3] {
        return None;
    }
    let slice = |offset: u16, len: usize| data.get(usize::from(offset)..usize::from(offset) + len);
    Some(SignedParts {
        public_key: slice(key_offset, 32)?,
        signature: slice(signature_offset, 64)?,
        message: slice(message_offset, usize::from(message_len))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruction_data(key: &[u8; 32], message: &[u8], index: u16) -> alloc::vec::Vec<u8> {
        let key_offset = PRECOMPILE_HEADER_LEN as u16;
        let signature_offset = key_offset + 32;
        let message_offset = signature_offset + 64;
        let mut data = alloc::vec![1, 0];
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
        data.extend_from_slice(&[8; 64]);
        data.extend_from_slice(message);
        data
    }

    #[test]
    fn only_a_single_self_contained_signature_gives_its_parts() {
        let data = instruction_data(&[7; 32], b"ack", THIS_INSTRUCTION);
        assert_eq!(
            precompile_parts(&data),
            Some(SignedParts {
                public_key: &[7; 32],
                signature: &[8; 64],
                message: b"ack"
            })
        );
        // Parts in another instruction, two signatures, short data: refused.
        assert_eq!(
            precompile_parts(&instruction_data(&[7; 32], b"ack", 0)),
            None
        );
        let mut two = data.clone();
        two[0] = 2;
        assert_eq!(precompile_parts(&two), None);
        assert_eq!(precompile_parts(&data[..data.len() - 1]), None);
        assert_eq!(precompile_parts(&data[..10]), None);
    }

    #[test]
    fn a_message_parses_back_only_for_its_own_request() {
        let ack = Acknowledgement {
            next_seq: 7,
            tokens: 1_234,
            chain: [9; 32],
        };
        let message = ack.message(&[1; 32]);
        assert_eq!(Acknowledgement::parse(&[1; 32], &message), Some(ack));
        assert_eq!(Acknowledgement::parse(&[2; 32], &message), None);
        assert_eq!(Acknowledgement::parse(&[1; 32], &message[1..]), None);
        let mut other = message;
        other[0] ^= 1;
        assert_eq!(Acknowledgement::parse(&[1; 32], &other), None);
    }
}
