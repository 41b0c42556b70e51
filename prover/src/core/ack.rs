//! What parties sign off chain and the program checks through the ed25519 precompile: the
//! client's cumulative acknowledgement of a directly delivered answer (design §9), and the
//! operator's signature of its per-request key (design §5). Each message names its domain, the
//! program and the cluster (genesis hash) it counts on, and the request, so a signature made
//! for one deployment, cluster or request is worth nothing on another.

use super::Hash;

const ACK_DOMAIN: &[u8; 16] = b"chainference:ack";
const KEY_DOMAIN: &[u8; 16] = b"chainference:key";

/// Bytes of the scope every signed message starts with after its domain.
const SCOPE_LEN: usize = 32 + 32 + 32;

/// Bytes of an acknowledgement's signed message.
pub const ACK_MESSAGE_LEN: usize = ACK_DOMAIN.len() + SCOPE_LEN + 4 + 4 + 32;
/// Bytes of a per-request key's signed message.
pub const KEY_MESSAGE_LEN: usize = KEY_DOMAIN.len() + SCOPE_LEN + 32;

/// Where a signature counts: one request of one program on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The Chainference program's id.
    pub program: Hash,
    /// The cluster's genesis hash.
    pub cluster: Hash,
    /// The request account.
    pub request: Hash,
}

impl Scope {
    /// `domain ‖ program ‖ cluster ‖ request ‖ body`.
    fn message<const N: usize>(&self, domain: &[u8; 16], body: &[u8]) -> [u8; N] {
        let mut message = [0u8; N];
        let parts: [&[u8]; 5] = [domain, &self.program, &self.cluster, &self.request, body];
        let mut at = 0;
        for part in parts {
            message[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        message
    }

    /// The body of `message` if it is `domain` and this scope's.
    fn body<'a>(&self, domain: &[u8; 16], message: &'a [u8]) -> Option<&'a [u8]> {
        let (head, body) = message.split_at_checked(domain.len() + SCOPE_LEN)?;
        let (tag, scope) = head.split_at(domain.len());
        let same = tag == domain
            && scope[..32] == self.program
            && scope[32..64] == self.cluster
            && scope[64..] == self.request;
        same.then_some(body)
    }

    /// What the operator signs for its per-request x25519 `key` at lock.
    pub fn key_message(&self, key: &[u8; 32]) -> [u8; KEY_MESSAGE_LEN] {
        self.message(KEY_DOMAIN, key)
    }

    /// The per-request key `message` signs in this scope; `None` for any other bytes.
    pub fn parse_key(&self, message: &[u8]) -> Option<[u8; 32]> {
        if message.len() != KEY_MESSAGE_LEN {
            return None;
        }
        self.body(KEY_DOMAIN, message)?.try_into().ok()
    }
}

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
    /// `"chainference:ack" ‖ program ‖ cluster ‖ request ‖ next_seq ‖ tokens ‖ chain`,
    /// integers little-endian.
    pub fn message(&self, scope: &Scope) -> [u8; ACK_MESSAGE_LEN] {
        let mut body = [0u8; 40];
        body[..4].copy_from_slice(&self.next_seq.to_le_bytes());
        body[4..8].copy_from_slice(&self.tokens.to_le_bytes());
        body[8..].copy_from_slice(&self.chain);
        scope.message(ACK_DOMAIN, &body)
    }

    /// The acknowledgement `message` states in `scope`; `None` for any other bytes.
    pub fn parse(scope: &Scope, message: &[u8]) -> Option<Self> {
        if message.len() != ACK_MESSAGE_LEN {
            return None;
        }
        let body = scope.body(ACK_DOMAIN, message)?;
        Some(Self {
            next_seq: u32::from_le_bytes(body[..4].try_into().ok()?),
            tokens: u32::from_le_bytes(body[4..8].try_into().ok()?),
            chain: body[8..].try_into().ok()?,
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

    const SCOPE: Scope = Scope {
        program: [1; 32],
        cluster: [2; 32],
        request: [3; 32],
    };

    #[test]
    fn a_message_parses_back_only_in_its_own_scope() {
        let ack = Acknowledgement {
            next_seq: 7,
            tokens: 1_234,
            chain: [9; 32],
        };
        let message = ack.message(&SCOPE);
        assert_eq!(Acknowledgement::parse(&SCOPE, &message), Some(ack));
        for other in [
            Scope {
                program: [4; 32],
                ..SCOPE
            },
            Scope {
                cluster: [4; 32],
                ..SCOPE
            },
            Scope {
                request: [4; 32],
                ..SCOPE
            },
        ] {
            assert_eq!(Acknowledgement::parse(&other, &message), None);
        }
        assert_eq!(Acknowledgement::parse(&SCOPE, &message[1..]), None);
        let mut tampered = message;
        tampered[0] ^= 1;
        assert_eq!(Acknowledgement::parse(&SCOPE, &tampered), None);
    }

    #[test]
    fn a_key_message_is_no_acknowledgement_and_parses_only_in_its_scope() {
        let message = SCOPE.key_message(&[5; 32]);
        assert_eq!(SCOPE.parse_key(&message), Some([5; 32]));
        let other = Scope {
            cluster: [4; 32],
            ..SCOPE
        };
        assert_eq!(other.parse_key(&message), None);
        assert_eq!(Acknowledgement::parse(&SCOPE, &message), None);
        let ack = Acknowledgement::default().message(&SCOPE);
        assert_eq!(SCOPE.parse_key(&ack), None);
    }
}
