use crate::{compression::TreeShape, error::ChainferenceError, events::*, state::*};
use anchor_lang::prelude::*;
use chainference_prover::core::{BatchRuleError, ResponseCursor};

/// Accounts of `append_batch` and `append_root`: only the server's signer, the request, its
/// tree and fixed accounts, so that a lookup table leaves the most room for chunks.
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
    /// What appends to the tree.
    pub tree_writer: crate::compression::TreeWriter<'info>,
}

/// Checks the batch continues the answer (the prover core's rules, shared with every client),
/// recomputes its root from this instruction's own data, appends its leaf to the tree and logs
/// the chunks with the leaf's proof against the tree's new root.
pub fn handle_append_batch(
    ctx: Context<AppendBatch>,
    root: [u8; 32],
    chunks: Vec<Chunk>,
) -> Result<()> {
    let now = appendable(&ctx.accounts.request, Delivery::Chain)?;
    let request = &ctx.accounts.request;
    let request_key = request.key().to_bytes();
    let first_seq = request.response.next_seq;
    let mut cursor = request.response.cursor();
    let views: Vec<_> = chunks.iter().map(Chunk::as_ref).collect();
    let applied = cursor
        .apply(&request_key, request.terms.max_output_tokens, &views)
        .map_err(batch_rule_error)?;
    require!(applied.root == root, ChainferenceError::BatchRootMismatch);

    let (leaf_index, proof) = ctx.accounts.append_leaf(&applied.leaf, &cursor, now)?;
    let request = &ctx.accounts.request;
    log_event(&ChunkBatch {
        request: request.key(),
        tree: request.lock.tree,
        leaf_index,
        first_seq,
        chunks,
        chain: cursor.chain,
        proof,
    });
    Ok(())
}

/// Refuses a request that is not ready for batches of `delivery` or past its time limit;
/// returns the cluster's time.
pub(super) fn appendable(request: &Request, delivery: Delivery) -> Result<i64> {
    require!(
        request.state == RequestState::Ready,
        ChainferenceError::RequestNotReady
    );
    require!(
        request.terms.delivery == delivery,
        match delivery {
            Delivery::Chain => ChainferenceError::NotChainDelivery,
            Delivery::Direct => ChainferenceError::NotDirectDelivery,
        }
    );
    let now = super::now()?;
    require!(
        now <= request.deadline()?,
        ChainferenceError::TimeLimitPassed
    );
    Ok(now)
}

impl AppendBatch<'_> {
    /// Appends `leaf` to the request's tree, moves the request to `cursor` (stamping the first
    /// chunk's time at `now`), and returns the leaf's index and its proof against the new root.
    pub(super) fn append_leaf(
        &mut self,
        leaf: &[u8; 32],
        cursor: &ResponseCursor,
        now: i64,
    ) -> Result<(u64, Vec<[u8; 32]>)> {
        let (shape, (leaf_index, capacity)) = {
            let data = self.tree.try_borrow_data()?;
            let shape = TreeShape::read(&data)?;
            (shape, shape.fill(&data)?)
        };
        require!(leaf_index < capacity, ChainferenceError::TreeFull);
        self.tree_writer.append(&self.tree, *leaf)?;
        let proof = shape.rightmost_proof(&self.tree.try_borrow_data()?)?;
        let request = &mut self.request;
        if request.response.leaves == 0 {
            request.response.first_chunk_at = now;
        }
        request.response.set_cursor(cursor);
        Ok((leaf_index, proof))
    }
}

/// The program's error for a broken batch rule.
pub(super) fn batch_rule_error(error: BatchRuleError) -> ChainferenceError {
    match error {
        BatchRuleError::Empty => ChainferenceError::EmptyBatch,
        BatchRuleError::TooManyChunks { .. } => ChainferenceError::BatchTooLarge,
        BatchRuleError::ChunkAfterFinal => ChainferenceError::ChunkAfterFinal,
        BatchRuleError::SequenceMismatch { .. } => ChainferenceError::SequenceMismatch,
        BatchRuleError::ChunkTooLarge { .. } => ChainferenceError::ChunkTooLarge,
        BatchRuleError::FinalNotLast { .. } => ChainferenceError::FinalNotLast,
        BatchRuleError::TokensOverLimit { .. } => ChainferenceError::TokensOverLimit,
    }
}
