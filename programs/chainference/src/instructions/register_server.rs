use crate::{constants::*, state::*};
use anchor_lang::prelude::*;

/// Accounts of `register_server`.
#[derive(Accounts)]
pub struct RegisterServer<'info> {
    /// The operator; pays the server account's rent.
    #[account(mut)]
    pub operator: Signer<'info>,
    /// The server, created here at its full size (16 models).
    #[account(
        init,
        payer = operator,
        space = 8 + Server::INIT_SPACE,
        seeds = [SERVER_SEED, operator.key().as_ref()],
        bump
    )]
    pub server: Box<Account<'info, Server>>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Registers an active server with no history.
pub fn handle_register_server(ctx: Context<RegisterServer>, params: ServerParams) -> Result<()> {
    params.validate()?;
    let now = super::now()?;
    let server = &mut ctx.accounts.server;
    server.operator = ctx.accounts.operator.key();
    server.active = true;
    server.models = params.models;
    server.endpoint = params.endpoint;
    server.max_concurrent = params.max_concurrent;
    server.registered_at = now;
    server.last_active = now;
    server.bump = ctx.bumps.server;
    Ok(())
}
