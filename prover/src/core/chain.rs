//! Running hashes kept in the Request account: over the response's leaves and over the
//! sealed prompt's chunks.

use super::{keccak, Hash};

/// The hash chain of a request before its first leaf (and of a prompt before its first chunk).
pub const EMPTY_CHAIN: Hash = [0u8; 32];

const PROMPT_DOMAIN: &[u8] = b"chainference:prompt";

/// The response chain after one more leaf: `keccak256(chain ‖ leaf)`.
pub fn extend_chain(chain: &Hash, leaf: &Hash) -> Hash {
    keccak(&[chain, leaf])
}

/// The prompt hash after one more encrypted prompt chunk:
/// `keccak256("chainference:prompt" ‖ previous ‖ ciphertext)`.
pub fn extend_prompt_hash(previous: &Hash, ciphertext: &[u8]) -> Hash {
    keccak(&[PROMPT_DOMAIN, previous, ciphertext])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_depends_on_order() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let ab = extend_chain(&extend_chain(&EMPTY_CHAIN, &a), &b);
        let ba = extend_chain(&extend_chain(&EMPTY_CHAIN, &b), &a);
        assert_ne!(ab, ba);
    }

    #[test]
    fn prompt_and_response_chains_never_collide() {
        let leaf = [3u8; 32];
        assert_ne!(
            extend_chain(&EMPTY_CHAIN, &leaf),
            extend_prompt_hash(&EMPTY_CHAIN, &leaf)
        );
    }
}
