//! The leaf one batch appends to the server's concurrent Merkle tree.

use super::{keccak, Hash};

const DOMAIN: &[u8] = b"chainference:batch";

/// `keccak256("chainference:batch" ‖ request ‖ first_seq ‖ count ‖ root)`, integers
/// little-endian (`count` as u32).
pub fn batch_leaf(request: &[u8; 32], first_seq: u32, count: u32, root: &Hash) -> Hash {
    keccak(&[
        DOMAIN,
        request,
        &first_seq.to_le_bytes(),
        &count.to_le_bytes(),
        root,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_binds_request_position_and_count() {
        let root = [5u8; 32];
        let leaf = batch_leaf(&[1; 32], 10, 4, &root);
        assert_ne!(batch_leaf(&[2; 32], 10, 4, &root), leaf);
        assert_ne!(batch_leaf(&[1; 32], 11, 4, &root), leaf);
        assert_ne!(batch_leaf(&[1; 32], 10, 5, &root), leaf);
        assert_ne!(batch_leaf(&[1; 32], 10, 4, &[6; 32]), leaf);
    }
}
