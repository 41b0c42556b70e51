//! Proofs of a leaf against a root of spl-account-compression's concurrent Merkle tree.

use super::{keccak, Hash};

/// The root that `leaf` at `index` with `siblings` (from the leaf's level up) proves: at each
/// level the node is hashed with its sibling, `keccak256(left ‖ right)`, on the side the
/// index's bit says, as spl-concurrent-merkle-tree does.
pub fn root_from_proof(leaf: &Hash, index: u32, siblings: &[Hash]) -> Hash {
    siblings
        .iter()
        .enumerate()
        .fold(*leaf, |node, (level, sibling)| {
            if (index >> level) & 1 == 0 {
                keccak(&[&node, sibling])
            } else {
                keccak(&[sibling, &node])
            }
        })
}
