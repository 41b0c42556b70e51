//! The root of one batch: the rs_merkle (keccak256) root of its chunk hashes.

use super::{Hash, Keccak256};
use rs_merkle::MerkleTree;

/// The most chunks one batch delivered on chain may hold (bounds the program's work per
/// append).
pub const MAX_BATCH_CHUNKS: usize = 64;
/// The most chunks one directly delivered batch may hold: the program sees only its root, so
/// its work does not grow with them, and chunks sent as the engine produces them carry a token
/// or a few each.
pub const MAX_DIRECT_BATCH_CHUNKS: usize = 4_096;

/// Why a batch root could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// A batch must hold at least one chunk.
    Empty,
    /// A batch may hold at most [`MAX_DIRECT_BATCH_CHUNKS`] chunks.
    TooManyChunks,
}

/// The batch root: rs_merkle's root over `chunk_hashes` in order, where a node's parent is
/// `keccak256(left ‖ right)`, an odd node is promoted unchanged and a single chunk's root is
/// its own hash.
pub fn batch_root(chunk_hashes: &[Hash]) -> Result<Hash, BatchError> {
    if chunk_hashes.len() > MAX_DIRECT_BATCH_CHUNKS {
        return Err(BatchError::TooManyChunks);
    }
    MerkleTree::<Keccak256>::from_leaves(chunk_hashes)
        .root()
        .ok_or(BatchError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keccak;

    #[test]
    fn one_chunk_is_its_own_root() {
        let h = keccak(&[b"only"]);
        assert_eq!(batch_root(&[h]), Ok(h));
    }

    #[test]
    fn odd_nodes_are_promoted() {
        let [a, b, c] = [keccak(&[b"a"]), keccak(&[b"b"]), keccak(&[b"c"])];
        let ab = keccak(&[&a, &b]);
        assert_eq!(batch_root(&[a, b, c]), Ok(keccak(&[&ab, &c])));
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        assert_eq!(batch_root(&[]), Err(BatchError::Empty));
        let many = [[0u8; 32]; MAX_DIRECT_BATCH_CHUNKS + 1];
        assert_eq!(batch_root(&many), Err(BatchError::TooManyChunks));
    }
}
