use crate::{error::ChainferenceError, lamports, math, state::*};
use anchor_lang::prelude::*;

/// Accounts of `expire_request`; anyone may send it. The server and its operator are needed
/// only for a locked or ready request.
#[derive(Accounts)]
pub struct ExpireRequest<'info> {
    /// The request whose window passed, closed here.
    #[account(mut)]
    pub request: Box<Account<'info, Request>>,
    /// CHECK: the client's wallet, by address: gets the stake, the rent and, for a failed
    /// answer, the bond, whatever owns it (see `client_account`).
    #[account(mut, address = request.client @ ChainferenceError::WrongClient)]
    pub client: UncheckedAccount<'info>,
    /// The client's account of this program: takes what the wallet cannot.
    #[account(mut, constraint = client_account.wallet == request.client @ ChainferenceError::WrongClient)]
    pub client_account: Box<Account<'info, Client>>,
    /// The locking server: takes the bond when its operator's wallet cannot.
    #[account(mut)]
    pub server: Option<Box<Account<'info, Server>>>,
    /// CHECK: the locking server's operator, checked against the lock: gets the bond back when
    /// the client never sent its prompt.
    #[account(mut)]
    pub operator: Option<UncheckedAccount<'info>>,
}

/// `Open` past its lock window: stake back. `Locked` past its prompt window: stake to the
/// client, bond to the server, no blame. `Ready` past its time limit: stake and bond to the
/// client, the server's failures up. The rent always goes back to the client. No payee's
/// wallet can refuse its share (see [`lamports::pay`]).
pub fn handle_expire_request(ctx: Context<ExpireRequest>) -> Result<()> {
    let now = super::now()?;
    let request = &ctx.accounts.request;
    let deadline = match request.state {
        RequestState::Open => request.lock_deadline()?,
        RequestState::Locked => request.prompt_deadline()?,
        RequestState::Ready => request.deadline()?,
        RequestState::Completed => return err!(ChainferenceError::NotExpirable),
    };
    require!(now > deadline, ChainferenceError::NotExpired);
    let lock = request.lock;
    let state = request.state;
    if state != RequestState::Open {
        let server = ctx
            .accounts
            .server
            .as_mut()
            .ok_or(ChainferenceError::MissingServerAccounts)?;
        require_keys_eq!(server.key(), lock.server, ChainferenceError::WrongServer);
        server.active_locks = server.active_locks.saturating_sub(1);
        if state == RequestState::Ready {
            // Closing gives the bond to the client with the stake.
            server.reputation.failures = math::add(server.reputation.failures, 1)?;
        } else {
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
            lamports::pay(
                &ctx.accounts.request.to_account_info(),
                operator,
                &server.to_account_info(),
                lock.bond,
            )?;
        }
    }
    lamports::close(
        &ctx.accounts.request.to_account_info(),
        &ctx.accounts.client,
        &ctx.accounts.client_account.to_account_info(),
    )
}
