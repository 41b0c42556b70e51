use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `propose_admin`.
#[derive(Accounts)]
pub struct ProposeAdmin<'info> {
    /// The config's admin.
    pub admin: Signer<'info>,
    /// The config.
    #[account(mut, has_one = admin @ ChainferenceError::NotAdmin)]
    pub config: Box<Account<'info, Config>>,
}

/// Names the key the admin role goes to once that key accepts it (the default key withdraws a
/// proposal); the current admin keeps the role until then.
pub fn handle_propose_admin(ctx: Context<ProposeAdmin>, new_admin: Pubkey) -> Result<()> {
    ctx.accounts.config.pending_admin = new_admin;
    Ok(())
}
