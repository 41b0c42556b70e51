//! The response trees: spl-account-compression's concurrent Merkle trees, written through the
//! CPI that Anchor's `declare_program!` generates from its published IDL (`idls/`), signed by our
//! tree authority PDA, and read through its typed, versioned header and the tree's layout.

use crate::{
    constants::{TREE_AUTHORITY, TREE_AUTHORITY_BUMP, TREE_AUTHORITY_SEED},
    error::ChainferenceError,
};
use anchor_lang::prelude::*;
use std::mem::size_of;

declare_program!(spl_account_compression);

use spl_account_compression::{
    cpi,
    program::SplAccountCompression,
    types::{CompressionAccountType, ConcurrentMerkleTreeHeader, ConcurrentMerkleTreeHeaderData},
};

// `declare_program!` reads the IDL in the macro; this makes cargo rebuild when it changes.
const _: &[u8] = include_bytes!("../idls/spl_account_compression.json");

/// spl-account-compression's program id (the same on devnet and mainnet), from its IDL.
pub const COMPRESSION_PROGRAM_ID: Pubkey = spl_account_compression::ID_CONST;
/// spl-noop's program id, which carries the change-log events.
pub const NOOP_PROGRAM_ID: Pubkey = pubkey!("noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV");

/// Our tree authority's signature.
const TREE_AUTHORITY_SIGNER: &[&[&[u8]]] = &[&[TREE_AUTHORITY_SEED, &[TREE_AUTHORITY_BUMP]]];

/// What writes into a response tree, besides the tree itself: the accounts every
/// spl-account-compression instruction we call takes.
// Accounts structs name it by its path (`crate::compression::TreeWriter`), beside which Anchor's
// generated client code finds the composite's client module.
#[derive(Accounts)]
pub struct TreeWriter<'info> {
    /// CHECK: the PDA that is every response tree's authority.
    #[account(address = TREE_AUTHORITY)]
    pub tree_authority: UncheckedAccount<'info>,
    /// spl-account-compression.
    pub compression_program: Program<'info, SplAccountCompression>,
    /// CHECK: spl-noop.
    #[account(address = NOOP_PROGRAM_ID)]
    pub noop_program: UncheckedAccount<'info>,
}

impl<'info> TreeWriter<'info> {
    /// Initializes `tree`, an empty tree of `max_depth` and `max_buffer_size`.
    pub fn init_empty(
        &self,
        tree: &AccountInfo<'info>,
        max_depth: u32,
        max_buffer_size: u32,
    ) -> Result<()> {
        let accounts = cpi::accounts::InitEmptyMerkleTree {
            merkle_tree: tree.clone(),
            authority: self.tree_authority.to_account_info(),
            noop: self.noop_program.to_account_info(),
        };
        cpi::init_empty_merkle_tree(self.signed(accounts), max_depth, max_buffer_size)
    }

    /// Appends `leaf` to `tree`.
    pub fn append(&self, tree: &AccountInfo<'info>, leaf: [u8; 32]) -> Result<()> {
        let accounts = cpi::accounts::Append {
            merkle_tree: tree.clone(),
            authority: self.tree_authority.to_account_info(),
            noop: self.noop_program.to_account_info(),
        };
        cpi::append(self.signed(accounts), leaf)
    }

    fn signed<T: ToAccountMetas + ToAccountInfos<'info>>(
        &self,
        accounts: T,
    ) -> CpiContext<'static, 'static, 'static, 'info, T> {
        CpiContext::new_with_signer(
            self.compression_program.key(),
            accounts,
            TREE_AUTHORITY_SIGNER,
        )
    }
}

/// The writer's accounts as a client names them: all three are fixed.
pub const TREE_WRITER_ACCOUNTS: __client_accounts_tree_writer::TreeWriter =
    __client_accounts_tree_writer::TreeWriter {
        tree_authority: TREE_AUTHORITY,
        compression_program: COMPRESSION_PROGRAM_ID,
        noop_program: NOOP_PROGRAM_ID,
    };

/// Bytes of spl-account-compression's V1 tree header: account type, header version, buffer
/// size, depth, authority, creation slot, padding (tied to the IDL's type by a test).
const HEADER_LEN: usize =
    2 * size_of::<u8>() + 2 * size_of::<u32>() + size_of::<Pubkey>() + size_of::<u64>() + 6;

/// A node of the tree.
const NODE_LEN: usize = size_of::<[u8; 32]>();
/// The tree's `sequence_number`, `active_index` and `buffer_size`, before its change logs.
const TREE_PREFIX_LEN: usize = 3 * size_of::<u64>();
/// The `index` and padding that end a change log and the rightmost proof.
const INDEX_LEN: usize = 2 * size_of::<u32>();

/// Bytes of a tree account of `max_depth` and `max_buffer_size` with no canopy: the header,
/// then the tree.
pub const fn tree_account_len(max_depth: u32, max_buffer_size: u32) -> usize {
    HEADER_LEN
        + TreeShape {
            depth: max_depth as usize,
            buffer: max_buffer_size as usize,
        }
        .tree_len()
}

/// A tree's depth and change-log buffer, which lay out spl-concurrent-merkle-tree's
/// `ConcurrentMerkleTree<depth, buffer>` (`repr(C)`; tied to it by a test): its prefix, `buffer`
/// change logs (root, path, index) and the rightmost proof (proof, leaf, index).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TreeShape {
    depth: usize,
    buffer: usize,
}

impl TreeShape {
    /// The shape in an initialized tree account's V1 header.
    pub fn read(data: &[u8]) -> Result<Self> {
        let header = ConcurrentMerkleTreeHeader::deserialize(&mut &data[..])
            .map_err(|_| error!(ChainferenceError::MalformedTree))?;
        let ConcurrentMerkleTreeHeader {
            account_type: CompressionAccountType::ConcurrentMerkleTree,
            header: ConcurrentMerkleTreeHeaderData::V1(header),
        } = header
        else {
            return err!(ChainferenceError::MalformedTree);
        };
        let shape = Self {
            depth: header.max_depth as usize,
            buffer: header.max_buffer_size as usize,
        };
        require!(
            shape.depth <= 30 && shape.buffer <= 2_048,
            ChainferenceError::MalformedTree
        );
        Ok(shape)
    }

    /// How full the tree in account `data` is: leaves appended so far (the rightmost proof's
    /// index counts them) and the most it holds.
    pub fn fill(self, data: &[u8]) -> Result<(u64, u64)> {
        let at = HEADER_LEN + self.rightmost_index_at();
        let index = data
            .get(at..at + size_of::<u32>())
            .and_then(|bytes| bytes.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| error!(ChainferenceError::MalformedTree))?;
        Ok((u64::from(index), 1u64 << self.depth))
    }

    /// The rightmost leaf's proof (siblings from the leaf's level up), read from the rightmost
    /// path of the tree in account `data`; right after an append it proves the appended leaf
    /// against the new root.
    pub fn rightmost_proof(self, data: &[u8]) -> Result<Vec<[u8; 32]>> {
        let at = HEADER_LEN + self.rightmost_proof_at();
        let nodes = data
            .get(at..at + NODE_LEN * self.depth)
            .ok_or_else(|| error!(ChainferenceError::MalformedTree))?;
        Ok(nodes
            .chunks_exact(NODE_LEN)
            .map(|node| node.try_into().unwrap_or_default())
            .collect())
    }

    /// A change log's bytes: root, path, index.
    const fn change_log_len(self) -> usize {
        NODE_LEN * (1 + self.depth) + INDEX_LEN
    }

    /// Where the rightmost proof starts in the tree, after the prefix and the change logs.
    const fn rightmost_proof_at(self) -> usize {
        TREE_PREFIX_LEN + self.buffer * self.change_log_len()
    }

    /// Where the rightmost proof's index is in the tree, after its proof and leaf.
    const fn rightmost_index_at(self) -> usize {
        self.rightmost_proof_at() + NODE_LEN * (self.depth + 1)
    }

    /// The tree's bytes, which end with the rightmost proof's index.
    const fn tree_len(self) -> usize {
        self.rightmost_index_at() + INDEX_LEN
    }
}

/// How full a response tree account is: leaves appended so far and the most it holds.
pub fn tree_fill(data: &[u8]) -> Result<(u64, u64)> {
    TreeShape::read(data)?.fill(data)
}

#[cfg(test)]
mod tests {
    use super::spl_account_compression::types::ConcurrentMerkleTreeHeaderDataV1;
    use super::*;
    use spl_concurrent_merkle_tree::{concurrent_merkle_tree::ConcurrentMerkleTree, path::Path};
    use std::mem::offset_of;

    #[test]
    fn the_header_is_the_idls_type() {
        let header = ConcurrentMerkleTreeHeader {
            account_type: CompressionAccountType::ConcurrentMerkleTree,
            header: ConcurrentMerkleTreeHeaderData::V1(ConcurrentMerkleTreeHeaderDataV1 {
                max_buffer_size: 64,
                max_depth: 14,
                authority: TREE_AUTHORITY,
                creation_slot: 7,
                padding: [0; 6],
            }),
        };
        let mut data = Vec::new();
        header.serialize(&mut data).expect("a header serializes");
        assert_eq!(data.len(), HEADER_LEN);
        assert_eq!(
            TreeShape::read(&data).expect("a V1 header"),
            TreeShape {
                depth: 14,
                buffer: 64
            }
        );

        // An uninitialized account, or another header version, is no tree.
        for (at, byte) in [(0, 0), (1, 1)] {
            let mut other = data.clone();
            other[at] = byte;
            assert!(TreeShape::read(&other).is_err());
        }
    }

    fn offsets_are_spl_concurrent_merkle_trees<const DEPTH: usize, const BUFFER: usize>() {
        let shape = TreeShape {
            depth: DEPTH,
            buffer: BUFFER,
        };
        type Tree<const D: usize, const B: usize> = ConcurrentMerkleTree<D, B>;
        let proof_at = offset_of!(Tree<DEPTH, BUFFER>, rightmost_proof);
        assert_eq!(shape.rightmost_proof_at(), proof_at);
        assert_eq!(
            shape.rightmost_index_at(),
            proof_at + offset_of!(Path<DEPTH>, index)
        );
        assert_eq!(shape.tree_len(), size_of::<Tree<DEPTH, BUFFER>>());
        assert_eq!(
            tree_account_len(DEPTH as u32, BUFFER as u32),
            HEADER_LEN + size_of::<Tree<DEPTH, BUFFER>>()
        );
    }

    #[test]
    fn the_offsets_are_spl_concurrent_merkle_trees() {
        offsets_are_spl_concurrent_merkle_trees::<3, 8>();
        offsets_are_spl_concurrent_merkle_trees::<14, 64>();
        offsets_are_spl_concurrent_merkle_trees::<20, 1024>();
        offsets_are_spl_concurrent_merkle_trees::<30, 2048>();
    }
}
