//! An append-only mirror of a response tree: the same roots and proofs as
//! spl-concurrent-merkle-tree, computed from the leaves alone, O(depth) per append.

use crate::core::{keccak, Hash};

/// The deepest tree spl-account-compression makes.
pub const MAX_TREE_DEPTH: usize = 30;

/// A concurrent Merkle tree's append-only mirror.
#[derive(Clone, Debug)]
pub struct TreeMirror {
    depth: usize,
    leaves: u64,
    /// Empty-subtree roots by level (an empty leaf is all zeros).
    zeros: Vec<Hash>,
    /// At each level, the last left child seen, waiting for its right sibling.
    frontier: Vec<Hash>,
    root: Hash,
}

/// The effect of one append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The leaf's index.
    pub leaf_index: u32,
    /// The root after the append.
    pub root: Hash,
    /// The leaf's proof against that root, siblings from the leaf's level up.
    pub proof: Vec<Hash>,
}

/// Why an append was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The tree holds 2^depth leaves already.
    #[error("the tree is full")]
    Full,
}

impl TreeMirror {
    /// An empty tree of `depth` (at most [`MAX_TREE_DEPTH`]).
    pub fn new(depth: usize) -> Self {
        let depth = depth.min(MAX_TREE_DEPTH);
        let mut zeros = Vec::with_capacity(depth + 1);
        zeros.push([0u8; 32]);
        for level in 0..depth {
            zeros.push(keccak(&[&zeros[level], &zeros[level]]));
        }
        Self {
            depth,
            leaves: 0,
            root: zeros[depth],
            frontier: zeros[..depth].to_vec(),
            zeros,
        }
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Leaves appended so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Appends `leaf` and returns its index, the new root and its proof.
    pub fn append(&mut self, leaf: Hash) -> Result<Appended, TreeError> {
        if self.leaves >= 1u64 << self.depth {
            return Err(TreeError::Full);
        }
        let index = self.leaves;
        let mut node = leaf;
        let mut proof = Vec::with_capacity(self.depth);
        for level in 0..self.depth {
            if (index >> level) & 1 == 0 {
                self.frontier[level] = node;
                proof.push(self.zeros[level]);
                node = keccak(&[&node, &self.zeros[level]]);
            } else {
                proof.push(self.frontier[level]);
                node = keccak(&[&self.frontier[level], &node]);
            }
        }
        self.root = node;
        self.leaves += 1;
        Ok(Appended {
            leaf_index: index as u32,
            root: node,
            proof,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::root_from_proof;

    #[test]
    fn every_proof_verifies_against_the_root_of_its_append() {
        let mut tree = TreeMirror::new(5);
        for i in 0u8..32 {
            let leaf = keccak(&[&[i]]);
            let appended = tree.append(leaf).unwrap();
            assert_eq!(
                root_from_proof(&leaf, appended.leaf_index, &appended.proof),
                appended.root
            );
            assert_eq!(tree.root(), appended.root);
        }
        assert_eq!(tree.append([1; 32]), Err(TreeError::Full));
    }
}
