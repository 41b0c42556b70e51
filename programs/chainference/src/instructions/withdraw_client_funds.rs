use crate::{error::ChainferenceError, lamports, state::*};
use anchor_lang::prelude::*;

/// Accounts of `withdraw_client_funds`.
#[derive(Accounts)]
pub struct WithdrawClientFunds<'info> {
    /// The client's wallet.
    pub wallet: Signer<'info>,
    /// The wallet's account of this program, holding refunds its wallet could not take.
    #[account(mut, has_one = wallet @ ChainferenceError::WrongClient)]
    pub client_account: Box<Account<'info, Client>>,
    /// CHECK: any account the wallet names; it gets the lamports.
    #[account(mut)]
    pub destination: UncheckedAccount<'info>,
}

/// Sends everything the client's account holds above its rent to `destination`.
pub fn handle_withdraw_client_funds(ctx: Context<WithdrawClientFunds>) -> Result<()> {
    lamports::withdraw_surplus(
        &ctx.accounts.client_account.to_account_info(),
        &ctx.accounts.destination,
    )?;
    Ok(())
}
