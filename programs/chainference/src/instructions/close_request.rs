use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `close_request`; anyone may send it.
#[derive(Accounts)]
pub struct CloseRequest<'info> {
    /// The completed request, closed here.
    #[account(mut, close = client)]
    pub request: Box<Account<'info, Request>>,
    /// The client's wallet: gets the rent back.
    #[account(mut, address = request.client @ ChainferenceError::WrongClient)]
    pub client: SystemAccount<'info>,
}

/// Closes a completed request once its flag window has passed.
pub fn handler(ctx: Context<CloseRequest>) -> Result<()> {
    let request = &ctx.accounts.request;
    require!(
        request.state == RequestState::Completed,
        ChainferenceError::RequestNotCompleted
    );
    require!(
        super::now()? > request.flag_deadline()?,
        ChainferenceError::FlagWindowOpen
    );
    Ok(())
}
