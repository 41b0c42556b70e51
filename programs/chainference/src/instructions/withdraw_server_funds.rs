use crate::{error::ChainferenceError, lamports, state::*};
use anchor_lang::prelude::*;

/// Accounts of `withdraw_server_funds`.
#[derive(Accounts)]
pub struct WithdrawServerFunds<'info> {
    /// The server's operator.
    pub operator: Signer<'info>,
    /// The server, holding pay and bonds its operator's wallet could not take.
    #[account(mut, has_one = operator @ ChainferenceError::NotOperator)]
    pub server: Box<Account<'info, Server>>,
    /// CHECK: any account the operator names; it gets the lamports.
    #[account(mut)]
    pub destination: UncheckedAccount<'info>,
}

/// Sends everything the server account holds above its rent to `destination`.
pub fn handle_withdraw_server_funds(ctx: Context<WithdrawServerFunds>) -> Result<()> {
    lamports::withdraw_surplus(
        &ctx.accounts.server.to_account_info(),
        &ctx.accounts.destination,
    )?;
    Ok(())
}
