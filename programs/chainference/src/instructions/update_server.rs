use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `update_server` and `deactivate_server`.
#[derive(Accounts)]
pub struct UpdateServer<'info> {
    /// The server's operator.
    pub operator: Signer<'info>,
    /// The server.
    #[account(mut, has_one = operator @ ChainferenceError::NotOperator)]
    pub server: Box<Account<'info, Server>>,
}

/// Replaces the server's offer and makes it active; locked requests keep the prices they copied.
pub fn handle_update_server(ctx: Context<UpdateServer>, params: ServerParams) -> Result<()> {
    params.validate()?;
    let server = &mut ctx.accounts.server;
    server.active = true;
    server.models = params.models;
    server.endpoint = params.endpoint;
    server.max_concurrent = params.max_concurrent;
    server.last_active = super::now()?;
    Ok(())
}
