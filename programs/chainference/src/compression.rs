//! The CPI into spl-account-compression: instructions built by hand (its typed `cpi` module is
//! built on Anchor 0.31 and does not compile against this Anchor), signed by our tree
//! authority PDA.

use crate::{
    constants::{TREE_AUTHORITY_BUMP, TREE_AUTHORITY_SEED},
    error::ChainferenceError,
};
use anchor_lang::prelude::*;
use anchor_lang::solana_program::{instruction::Instruction, program::invoke_signed};

/// spl-account-compression's program id (the same on devnet and mainnet).
pub const COMPRESSION_PROGRAM_ID: Pubkey = pubkey!("cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK");
/// spl-noop's program id, which carries the change-log events.
pub const NOOP_PROGRAM_ID: Pubkey = pubkey!("noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV");

/// Anchor discriminator of `init_empty_merkle_tree`.
const INIT_EMPTY_MERKLE_TREE: [u8; 8] = [191, 11, 119, 7, 180, 107, 220, 110];
/// Anchor discriminator of `append`.
const APPEND: [u8; 8] = [149, 120, 18, 222, 236, 225, 88, 203];

/// The accounts every compression instruction we call takes.
pub struct TreeAccounts<'a, 'info> {
    /// The concurrent Merkle tree.
    pub tree: &'a AccountInfo<'info>,
    /// Our tree authority PDA.
    pub authority: &'a AccountInfo<'info>,
    /// spl-noop.
    pub noop: &'a AccountInfo<'info>,
    /// spl-account-compression.
    pub compression: &'a AccountInfo<'info>,
}

impl TreeAccounts<'_, '_> {
    /// Initializes an empty tree of `max_depth` and `max_buffer_size`.
    pub fn init_empty(&self, max_depth: u32, max_buffer_size: u32) -> Result<()> {
        let mut data = Vec::with_capacity(16);
        data.extend_from_slice(&INIT_EMPTY_MERKLE_TREE);
        data.extend_from_slice(&max_depth.to_le_bytes());
        data.extend_from_slice(&max_buffer_size.to_le_bytes());
        self.invoke(data)
    }

    /// Appends `leaf` to the tree.
    pub fn append(&self, leaf: &[u8; 32]) -> Result<()> {
        let mut data = Vec::with_capacity(40);
        data.extend_from_slice(&APPEND);
        data.extend_from_slice(leaf);
        self.invoke(data)
    }

    fn invoke(&self, data: Vec<u8>) -> Result<()> {
        let instruction = Instruction {
            program_id: COMPRESSION_PROGRAM_ID,
            accounts: vec![
                AccountMeta::new(self.tree.key(), false),
                AccountMeta::new_readonly(self.authority.key(), true),
                AccountMeta::new_readonly(self.noop.key(), false),
            ],
            data,
        };
        invoke_signed(
            &instruction,
            &[
                self.tree.clone(),
                self.authority.clone(),
                self.noop.clone(),
                self.compression.clone(),
            ],
            &[&[TREE_AUTHORITY_SEED, &[TREE_AUTHORITY_BUMP]]],
        )?;
        Ok(())
    }
}

/// Length of spl-account-compression's V1 tree header.
const HEADER_LEN: usize = 56;
/// `sequence_number`, `active_index` and `buffer_size` before the change logs.
const TREE_PREFIX_LEN: usize = 24;

/// Bytes of a tree account of `max_depth` and `max_buffer_size` with no canopy: the header,
/// the sequence number, active index and buffer size, the change logs and the rightmost proof.
pub const fn tree_account_len(max_depth: u32, max_buffer_size: u32) -> usize {
    let (depth, buffer) = (max_depth as usize, max_buffer_size as usize);
    HEADER_LEN + TREE_PREFIX_LEN + buffer * change_log_len(depth) + path_len(depth)
}

/// A change log: root, path, index and padding.
const fn change_log_len(depth: usize) -> usize {
    32 + 32 * depth + 8
}

/// The rightmost proof: proof, leaf, index and padding.
const fn path_len(depth: usize) -> usize {
    32 * depth + 32 + 8
}

/// The rightmost leaf's proof (siblings from the leaf's level up), read from the tree's
/// rightmost path; right after an append it proves the appended leaf against the new root.
pub fn rightmost_proof(data: &[u8]) -> Result<Vec<[u8; 32]>> {
    let (buffer, depth) = tree_shape(data)?;
    let start = HEADER_LEN + TREE_PREFIX_LEN + buffer * change_log_len(depth);
    let nodes = data
        .get(start..start + 32 * depth)
        .ok_or_else(|| error!(ChainferenceError::MalformedTree))?;
    Ok(nodes
        .chunks_exact(32)
        .map(|node| node.try_into().unwrap_or_default())
        .collect())
}

/// A tree account's (buffer, depth), from its V1 header.
fn tree_shape(data: &[u8]) -> Result<(usize, usize)> {
    // Account type 1 is an initialized concurrent Merkle tree; header version 0 is V1.
    require!(
        data.first() == Some(&1) && data.get(1) == Some(&0),
        ChainferenceError::MalformedTree
    );
    let buffer = read_u32(data, 2)? as usize;
    let depth = read_u32(data, 6)? as usize;
    require!(
        depth <= 30 && buffer <= 2_048,
        ChainferenceError::MalformedTree
    );
    Ok((buffer, depth))
}

fn read_u32(data: &[u8], at: usize) -> Result<u32> {
    data.get(at..at + 4)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| error!(ChainferenceError::MalformedTree))
}

/// How full a response tree is: leaves appended so far and the most it holds, read from the
/// account's header and its rightmost proof (whose index counts the appended leaves).
pub fn tree_fill(data: &[u8]) -> Result<(u64, u64)> {
    let (buffer, depth) = tree_shape(data)?;
    // The rightmost proof's index sits after its proof and leaf.
    let index_at = HEADER_LEN + TREE_PREFIX_LEN + buffer * change_log_len(depth) + 32 * depth + 32;
    Ok((u64::from(read_u32(data, index_at)?), 1u64 << depth))
}
