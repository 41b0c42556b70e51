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

#[cfg(test)]
mod tests {
    use super::*;

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
