use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `cancel_request`.
#[derive(Accounts)]
pub struct CancelRequest<'info> {
    /// The request's client, who gets the stake and the rent back.
    #[account(mut)]
    pub client: Signer<'info>,
    /// The request, closed here.
    #[account(mut, has_one = client @ ChainferenceError::NotRequestClient, close = client)]
    pub request: Box<Account<'info, Request>>,
}

/// Withdraws an open request (closing it returns stake and rent).
pub fn handle_cancel_request(ctx: Context<CancelRequest>) -> Result<()> {
    require!(
        ctx.accounts.request.state == RequestState::Open,
        ChainferenceError::RequestNotOpen
    );
    Ok(())
}
