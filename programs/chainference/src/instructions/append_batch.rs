use crate::{compression::*, constants::*, error::ChainferenceError, events::*, state::*};
use anchor_lang::prelude::*;
use chainference_prover::core::{
    batch_leaf, batch_root, chunk_hash, extend_chain, MAX_BATCH_CHUNKS,
};

/// Accounts of `append_batch`: only the server's signer, the request, its tree and fixed
/// accounts, so that a lookup table leaves the most room for chunks.
#[derive(Accounts)]
pub struct AppendBatch<'info> {
    /// The operator of the server that locked the request.
    pub operator: Signer<'info>,
    /// The ready request.
    #[account(mut, constraint = request.lock.operator == operator.key() @ ChainferenceError::NotLockingServer)]
    pub request: Box<Account<'info, Request>>,
    /// CHECK: the tree the request was locked with.
    #[account(mut, address = request.lock.tree @ ChainferenceError::TreeNotBound)]
    pub tree: UncheckedAccount<'info>,
    /// CHECK: the PDA that is every response tree's authority.
    #[account(address = TREE_AUTHORITY)]
    pub tree_authority: UncheckedAccount<'info>,
    /// CHECK: spl-account-compression.
    #[account(address = COMPRESSION_PROGRAM_ID)]
    pub compression_program: UncheckedAccount<'info>,
    /// CHECK: spl-noop.
    #[account(address = NOOP_PROGRAM_ID)]
    pub noop_program: UncheckedAccount<'info>,
}

/// Checks the batch continues the answer, recomputes its root from this instruction's own
/// data, appends its leaf to the tree and logs the chunks.
pub fn handler(ctx: Context<AppendBatch>, root: [u8; 32], chunks: Vec<Chunk>) -> Result<()> {
    let request = &ctx.accounts.request;
    require!(
        request.state == RequestState::Ready,
        ChainferenceError::RequestNotReady
    );
    let now = super::now()?;
    require!(
        now <= request.deadline()?,
        ChainferenceError::TimeLimitPassed
    );
    require!(!chunks.is_empty(), ChainferenceError::EmptyBatch);
    require!(
        chunks.len() <= MAX_BATCH_CHUNKS,
        ChainferenceError::BatchTooLarge
    );
    require!(
        !request.response.finished,
        ChainferenceError::ChunkAfterFinal
    );

    let first_seq = request.response.next_seq;
    let mut tokens = request.response.tokens;
    let mut hashes = Vec::with_capacity(chunks.len());
    let request_key = request.key().to_bytes();
    for (i, chunk) in chunks.iter().enumerate() {
        require!(
            Some(chunk.seq) == first_seq.checked_add(i as u32),
            ChainferenceError::SequenceMismatch
        );
        require!(
            chunk.ciphertext.len() <= MAX_CHUNK_LEN,
            ChainferenceError::ChunkTooLarge
        );
        require!(
            !chunk.is_final || i + 1 == chunks.len(),
            ChainferenceError::FinalNotLast
        );
        tokens = tokens
            .checked_add(u32::from(chunk.tokens))
            .filter(|total| *total <= request.terms.max_output_tokens)
            .ok_or(ChainferenceError::TokensOverLimit)?;
        hashes.push(chunk_hash(&request_key, &chunk.as_ref()));
    }
    let computed = batch_root(&hashes).map_err(|_| ChainferenceError::EmptyBatch)?;
    require!(computed == root, ChainferenceError::BatchRootMismatch);
    let count = chunks.len() as u32; // ≤ 64
    let leaf = batch_leaf(&request_key, first_seq, count, &root);

    let (leaf_index, capacity) = tree_fill(&ctx.accounts.tree.try_borrow_data()?)?;
    require!(leaf_index < capacity, ChainferenceError::TreeFull);
    TreeAccounts {
        tree: &ctx.accounts.tree,
        authority: &ctx.accounts.tree_authority,
        noop: &ctx.accounts.noop_program,
        compression: &ctx.accounts.compression_program,
    }
    .append(&leaf)?;

    let request = &mut ctx.accounts.request;
    let request_address = request.key();
    let tree = request.lock.tree;
    let response = &mut request.response;
    if response.leaves == 0 {
        response.first_chunk_at = now;
    }
    response.next_seq = first_seq + count; // checked per chunk above
    response.tokens = tokens;
    response.leaves = response
        .leaves
        .checked_add(1)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    response.chain = extend_chain(&response.chain, &leaf);
    response.finished = chunks.last().is_some_and(|chunk| chunk.is_final);
    log_event(&ChunkBatch {
        request: request_address,
        tree,
        leaf_index,
        first_seq,
        chunks,
        chain: response.chain,
    });
    Ok(())
}
