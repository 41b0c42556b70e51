use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `accept_admin`.
#[derive(Accounts)]
pub struct AcceptAdmin<'info> {
    /// The proposed admin, proving it holds its key.
    pub new_admin: Signer<'info>,
    /// The config.
    #[account(mut, constraint = config.pending_admin == new_admin.key() @ ChainferenceError::NotProposedAdmin)]
    pub config: Box<Account<'info, Config>>,
}

/// Hands the admin role to the proposed key.
pub fn handle_accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.admin = config.pending_admin;
    config.pending_admin = Pubkey::default();
    Ok(())
}
