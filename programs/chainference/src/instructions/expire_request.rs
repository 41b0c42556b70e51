use crate::{error::ChainferenceError, lamports, math, state::*};
use anchor_lang::prelude::*;

/// Accounts of `expire_request`; anyone may send it. The server and its operator are needed
/// only for a locked or ready request.
#[derive(Accounts)]
pub struct ExpireRequest<'info> {
    /// The request whose window passed, closed here.
    #[account(mut, close = client)]
    pub request: Box<Account<'info, Request>>,
    /// The client's wallet: gets the stake, the rent and, for a failed answer, the bond.
    #[account(mut, address = request.client @ ChainferenceError::WrongClient)]
    pub client: SystemAccount<'info>,
    /// The locking server.
    #[account(mut)]
    pub server: Option<Box<Account<'info, Server>>>,
    /// The locking server's operator: gets the bond back when the client never sent its prompt.
    #[account(mut)]
    pub operator: Option<SystemAccount<'info>>,
}

/// `Open` past its lock window: stake back. `Locked` past its prompt window: stake to the
/// client, bond to the server, no blame. `Ready` past its time limit: stake and bond to the
/// client, the server's failures up. The rent always goes back to the client.
pub fn handler(ctx: Context<ExpireRequest>) -> Result<()> {
    let now = super::now()?;
    let request = &ctx.accounts.request;
    let deadline = match request.state {
        RequestState::Open => request.lock_deadline()?,
        RequestState::Locked => request.prompt_deadline()?,
        RequestState::Ready => request.deadline()?,
        RequestState::Completed => return err!(ChainferenceError::NotExpirable),
    };
    require!(now > deadline, ChainferenceError::NotExpired);
    if request.state == RequestState::Open {
        return Ok(()); // closing returns stake and rent
    }

    let lock = request.lock;
    let state = request.state;
    let server = ctx
        .accounts
        .server
        .as_mut()
        .ok_or(ChainferenceError::MissingServerAccounts)?;
    require_keys_eq!(server.key(), lock.server, ChainferenceError::WrongServer);
    server.active_locks = server.active_locks.saturating_sub(1);
    if state == RequestState::Ready {
        server.reputation.failures = math::add(server.reputation.failures, 1)?;
        return Ok(()); // closing gives the bond to the client with the stake
    }
    let operator = ctx
        .accounts
        .operator
        .as_ref()
        .ok_or(ChainferenceError::MissingServerAccounts)?;
    require_keys_eq!(
        operator.key(),
        lock.operator,
        ChainferenceError::WrongOperator
    );
    lamports::transfer(&ctx.accounts.request.to_account_info(), operator, lock.bond)
}
