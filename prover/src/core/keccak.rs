//! keccak256: the `sol_keccak256` syscall on chain, the `sha3` crate elsewhere.

use super::Hash;

/// keccak256 of the concatenation of `parts`, without copying them together.
pub fn keccak(parts: &[&[u8]]) -> Hash {
    solana_keccak_hasher::hashv(parts).to_bytes()
}

/// The rs_merkle hasher: plain keccak256, with rs_merkle's concatenation of two children.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keccak256;

impl rs_merkle::Hasher for Keccak256 {
    type Hash = Hash;

    fn hash(data: &[u8]) -> Hash {
        keccak(&[data])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_keccak256_of_the_empty_string() {
        let expected = [
            0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7,
            0x03, 0xc0, 0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04,
            0x5d, 0x85, 0xa4, 0x70,
        ];
        assert_eq!(keccak(&[]), expected);
    }

    #[test]
    fn hashing_parts_equals_hashing_their_concatenation() {
        assert_eq!(keccak(&[b"chain", b"ference"]), keccak(&[b"chainference"]));
    }
}
