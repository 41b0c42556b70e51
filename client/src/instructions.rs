//! Instruction builders.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::{InstructionData, ToAccountMetas};
use chainference::compression::{COMPRESSION_PROGRAM_ID, NOOP_PROGRAM_ID};
use chainference::constants::TREE_AUTHORITY;
use chainference_prover::bundle::Chunk;

/// The compute-budget program.
pub const COMPUTE_BUDGET_PROGRAM_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

/// `append_batch`: `chunks` of `request` (locked by `operator`'s server) with their `root`,
/// appended to `tree`.
pub fn append_batch(
    operator: &Pubkey,
    request: &Pubkey,
    tree: &Pubkey,
    root: [u8; 32],
    chunks: &[Chunk],
) -> Instruction {
    let accounts = chainference::accounts::AppendBatch {
        operator: *operator,
        request: *request,
        tree: *tree,
        tree_authority: TREE_AUTHORITY,
        compression_program: COMPRESSION_PROGRAM_ID,
        noop_program: NOOP_PROGRAM_ID,
    };
    let chunks = chunks
        .iter()
        .map(|chunk| chainference::events::Chunk {
            seq: chunk.seq,
            tokens: chunk.tokens,
            is_final: chunk.is_final,
            nonce: chunk.nonce,
            ciphertext: chunk.ciphertext.clone(),
        })
        .collect();
    Instruction {
        program_id: chainference::ID,
        accounts: accounts.to_account_metas(None),
        data: chainference::instruction::AppendBatch { root, chunks }.data(),
    }
}

/// The compute-budget program's `SetComputeUnitLimit`.
pub fn set_compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM_ID,
        accounts: Vec::<AccountMeta>::new(),
        data,
    }
}

/// The compute-budget program's `SetComputeUnitPrice` (micro-lamports per compute unit).
pub fn set_compute_unit_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![3];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM_ID,
        accounts: Vec::<AccountMeta>::new(),
        data,
    }
}
