use crate::{compression::*, constants::*, error::ChainferenceError, state::*};
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

/// Initializes the tree with our tree authority and binds it to the server.
pub fn handler(ctx: Context<CreateTree>, max_depth: u32, max_buffer_size: u32) -> Result<()> {
    require!(
        TREE_SHAPES.contains(&(max_depth, max_buffer_size)),
        ChainferenceError::UnsupportedTreeShape
    );
    require!(
        ctx.accounts.server.trees.len() < MAX_TREES,
        ChainferenceError::TooManyTrees
    );
    TreeAccounts {
        tree: &ctx.accounts.tree,
        authority: &ctx.accounts.tree_authority,
        noop: &ctx.accounts.noop_program,
        compression: &ctx.accounts.compression_program,
    }
    .init_empty(max_depth, max_buffer_size)?;
    let tree = ctx.accounts.tree.key();
    ctx.accounts.server.trees.push(tree);
    Ok(())
}
