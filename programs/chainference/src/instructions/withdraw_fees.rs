use crate::{error::ChainferenceError, lamports, state::*};
use anchor_lang::prelude::*;

/// Accounts of `withdraw_fees`.
#[derive(Accounts)]
pub struct WithdrawFees<'info> {
    /// The config's admin.
    pub admin: Signer<'info>,
    /// The config.
    #[account(has_one = admin @ ChainferenceError::NotAdmin, has_one = treasury)]
    pub config: Box<Account<'info, Config>>,
    /// The fee treasury.
    #[account(mut)]
    pub treasury: Account<'info, Treasury>,
    /// CHECK: any account the admin names; it gets the fees.
    #[account(mut)]
    pub destination: UncheckedAccount<'info>,
}

/// Sends the collected fees to `destination`, leaving the treasury its rent-exempt minimum
/// (so crediting the next fee never fails).
pub fn handle_withdraw_fees(ctx: Context<WithdrawFees>) -> Result<()> {
    lamports::withdraw_surplus(
        &ctx.accounts.treasury.to_account_info(),
        &ctx.accounts.destination,
    )?;
    Ok(())
}
