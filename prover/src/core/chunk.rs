//! One encrypted chunk of an answer and its hash.

use super::{keccak, Hash};

/// Length of the XChaCha20-Poly1305 nonce carried by every chunk.
pub const NONCE_LEN: usize = 24;

const DOMAIN: &[u8] = b"chainference:chunk";

/// A borrowed view of one chunk: the fields its hash commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef<'a> {
    /// Position of the chunk in the answer, from 0, with no gaps.
    pub seq: u32,
    /// Answer tokens the server claims this chunk carries.
    pub tokens: u16,
    /// Whether this is the answer's last chunk.
    pub is_final: bool,
    /// The AEAD nonce the chunk was sealed with.
    pub nonce: &'a [u8; NONCE_LEN],
    /// The sealed bytes.
    pub ciphertext: &'a [u8],
}

/// `keccak256("chainference:chunk" ‖ request ‖ seq ‖ tokens ‖ final ‖ nonce ‖ ciphertext)`,
/// integers little-endian, `final` one byte (0 or 1).
pub fn chunk_hash(request: &[u8; 32], chunk: &ChunkRef<'_>) -> Hash {
    keccak(&[
        DOMAIN,
        request,
        &chunk.seq.to_le_bytes(),
        &chunk.tokens.to_le_bytes(),
        &[u8::from(chunk.is_final)],
        chunk.nonce,
        chunk.ciphertext,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk<'a>(nonce: &'a [u8; NONCE_LEN], ciphertext: &'a [u8]) -> ChunkRef<'a> {
        ChunkRef {
            seq: 7,
            tokens: 3,
            is_final: false,
            nonce,
            ciphertext,
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let request = [1u8; 32];
        let nonce = [2u8; NONCE_LEN];
        let base = chunk(&nonce, b"sealed");
        let h = chunk_hash(&request, &base);
        let other_nonce = [3u8; NONCE_LEN];
        let variants = [
            ChunkRef { seq: 8, ..base },
            ChunkRef { tokens: 4, ..base },
            ChunkRef {
                is_final: true,
                ..base
            },
            ChunkRef {
                nonce: &other_nonce,
                ..base
            },
            ChunkRef {
                ciphertext: b"sealee",
                ..base
            },
        ];
        for variant in &variants {
            assert_ne!(chunk_hash(&request, variant), h, "{variant:?}");
        }
        assert_ne!(chunk_hash(&[9u8; 32], &base), h);
    }
}
