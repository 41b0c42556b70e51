use crate::{
    compression::COMPRESSION_PROGRAM_ID, constants::*, error::ChainferenceError, state::*,
};
use anchor_lang::prelude::*;

/// Accounts of `create_tree`. The tree account is created in the same transaction by a
/// top-level system `create_account` owned by spl-account-compression (trees exceed the
/// 10 KiB that a CPI may allocate).
#[derive(Accounts)]
pub struct CreateTree<'info> {
    /// The server's operator.
    pub operator: Signer<'info>,
    /// The server the tree is bound to.
    #[account(mut, has_one = operator @ ChainferenceError::NotOperator)]
    pub server: Box<Account<'info, Server>>,
    /// CHECK: zeroed and owned by spl-account-compression, which checks its size and that it
    /// was never initialized.
    #[account(mut, owner = COMPRESSION_PROGRAM_ID @ ChainferenceError::TreeNotCompressionOwned)]
    pub tree: UncheckedAccount<'info>,
    /// What initializes the tree.
    pub tree_writer: crate::compression::TreeWriter<'info>,
}

/// Initializes the tree with our tree authority and binds it to the server.
pub fn handle_create_tree(
    ctx: Context<CreateTree>,
    max_depth: u32,
    max_buffer_size: u32,
) -> Result<()> {
    require!(
        TREE_SHAPES.contains(&(max_depth, max_buffer_size)),
        ChainferenceError::UnsupportedTreeShape
    );
    require!(
        ctx.accounts.server.trees.len() < MAX_TREES,
        ChainferenceError::TooManyTrees
    );
    ctx.accounts
        .tree_writer
        .init_empty(&ctx.accounts.tree, max_depth, max_buffer_size)?;
    let tree = ctx.accounts.tree.key();
    ctx.accounts.server.trees.push(tree);
    Ok(())
}
