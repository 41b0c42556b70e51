use crate::{error::ChainferenceError, state::*};
use anchor_lang::prelude::*;

/// Accounts of `deactivate_server`.
#[derive(Accounts)]
pub struct DeactivateServer<'info> {
    /// The server's operator.
    pub operator: Signer<'info>,
    /// The server.
    #[account(mut, has_one = operator @ ChainferenceError::NotOperator)]
    pub server: Box<Account<'info, Server>>,
}

/// Stops new locks; the locks the server holds run to their end.
pub fn handle_deactivate_server(ctx: Context<DeactivateServer>) -> Result<()> {
    ctx.accounts.server.active = false;
    Ok(())
}
