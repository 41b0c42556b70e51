use super::append_batch::{appendable, batch_rule_error, AppendBatch};
use crate::{events::*, state::*};
use anchor_lang::prelude::*;
use chainference_prover::core::RootClaim;

/// Direct delivery: checks the batch's claim continues the answer (the prover core's rules on
/// what the program can see; the client checks the chunks themselves against this root) and
/// appends its leaf, logging the claim with the leaf's proof. Several requests' roots may go
/// in one transaction, an instruction each.
pub fn handle_append_root(ctx: Context<AppendBatch>, claim: RootClaim) -> Result<()> {
    let now = appendable(&ctx.accounts.request, Delivery::Direct)?;
    let request = &ctx.accounts.request;
    let mut cursor = request.response.cursor();
    let leaf = cursor
        .apply_root(
            &request.key().to_bytes(),
            request.terms.max_output_tokens,
            &claim,
        )
        .map_err(batch_rule_error)?;

    let (leaf_index, proof) = ctx.accounts.append_leaf(&leaf, &cursor, now)?;
    let request = &ctx.accounts.request;
    log_event(&RootBatch {
        request: request.key(),
        tree: request.lock.tree,
        leaf_index,
        first_seq: claim.first_seq,
        count: claim.count,
        tokens: claim.tokens,
        finished: claim.finished,
        root: claim.root,
        chain: cursor.chain,
        proof,
    });
    Ok(())
}
