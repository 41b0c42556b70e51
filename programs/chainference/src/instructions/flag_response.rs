use crate::{error::ChainferenceError, math, state::*};
use anchor_lang::prelude::*;

/// Accounts of `flag_response`.
#[derive(Accounts)]
pub struct FlagResponse<'info> {
    /// The request's client.
    pub client: Signer<'info>,
    /// The completed request.
    #[account(mut, has_one = client @ ChainferenceError::NotRequestClient)]
    pub request: Box<Account<'info, Request>>,
    /// The server that answered it.
    #[account(mut, address = request.lock.server @ ChainferenceError::WrongServer)]
    pub server: Box<Account<'info, Server>>,
}

/// Marks the answer as bad, once, inside the flag window: the server's success ratio drops.
pub fn handle_flag_response(ctx: Context<FlagResponse>) -> Result<()> {
    let request = &mut ctx.accounts.request;
    require!(
        request.state == RequestState::Completed,
        ChainferenceError::RequestNotCompleted
    );
    require!(!request.flagged, ChainferenceError::AlreadyFlagged);
    require!(
        super::now()? <= request.flag_deadline()?,
        ChainferenceError::FlagWindowClosed
    );
    request.flagged = true;
    let record = &mut ctx.accounts.server.reputation;
    record.flagged = math::add(record.flagged, 1)?;
    Ok(())
}
