use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `update_config`.
#[derive(Accounts)]
pub struct UpdateConfig<'info> {
    /// The config's admin.
    pub admin: Signer<'info>,
    /// The config.
    #[account(mut, has_one = admin @ ChainferenceError::NotAdmin)]
    pub config: Box<Account<'info, Config>>,
}

/// Replaces the config's parameters; locked requests keep the fee they copied.
pub fn handle_update_config(ctx: Context<UpdateConfig>, params: ConfigParams) -> Result<()> {
    params.validate()?;
    ctx.accounts.config.params = params;
    Ok(())
}
