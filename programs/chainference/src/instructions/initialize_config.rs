use crate::{constants::*, error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `initialize_config`.
#[derive(Accounts)]
pub struct InitializeConfig<'info> {
    /// The admin key compiled into the program; pays for both accounts.
    #[account(mut, address = ADMIN @ ChainferenceError::NotAdmin)]
    pub admin: Signer<'info>,
    /// The config, created here.
    #[account(init, payer = admin, space = 8 + Config::INIT_SPACE, seeds = [CONFIG_SEED], bump)]
    pub config: Box<Account<'info, Config>>,
    /// The fee treasury, created rent-exempt here.
    #[account(init, payer = admin, space = 8 + Treasury::INIT_SPACE, seeds = [TREASURY_SEED], bump)]
    pub treasury: Account<'info, Treasury>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Creates the config and the treasury for the cluster whose genesis hash is `cluster`.
pub fn handle_initialize_config(
    ctx: Context<InitializeConfig>,
    params: ConfigParams,
    cluster: [u8; 32],
) -> Result<()> {
    params.validate()?;
    ctx.accounts.treasury.bump = ctx.bumps.treasury;
    let config = &mut ctx.accounts.config;
    config.admin = ctx.accounts.admin.key();
    config.treasury = ctx.accounts.treasury.key();
    config.params = params;
    config.cluster = cluster;
    config.bump = ctx.bumps.config;
    Ok(())
}
