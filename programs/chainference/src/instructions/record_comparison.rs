use crate::{error::ChainferenceError, math, state::*};
use anchor_lang::prelude::*;

/// Accounts of `record_comparison`: two completed requests of the signing client for the same
/// model, created close together, and the two servers that answered them.
#[derive(Accounts)]
pub struct RecordComparison<'info> {
    /// The client of both requests.
    pub client: Signer<'info>,
    /// The first request.
    #[account(mut)]
    pub first: Box<Account<'info, Request>>,
    /// The second request (`dup`: a repeat of the first is refused by name in the handler,
    /// before anything is written).
    #[account(mut, dup)]
    pub second: Box<Account<'info, Request>>,
    /// The server that answered the first.
    #[account(mut, address = first.lock.server @ ChainferenceError::WrongServer)]
    pub first_server: Box<Account<'info, Server>>,
    /// The server that answered the second (`dup`, likewise).
    #[account(mut, dup, address = second.lock.server @ ChainferenceError::WrongServer)]
    pub second_server: Box<Account<'info, Server>>,
    /// The config: the comparison window.
    pub config: Box<Account<'info, Config>>,
}

/// Both servers' comparisons rise and the preferred one's `preferred`; each request once.
pub fn handle_record_comparison(
    ctx: Context<RecordComparison>,
    first_preferred: bool,
) -> Result<()> {
    let now = super::now()?;
    let client = ctx.accounts.client.key();
    let window = ctx.accounts.config.params.comparison_window_secs;
    let (first, second) = (&ctx.accounts.first, &ctx.accounts.second);
    require!(
        first.key() != second.key() && first.lock.server != second.lock.server,
        ChainferenceError::ComparisonNotDistinct
    );
    for request in [first, second] {
        require!(
            request.client == client,
            ChainferenceError::ComparisonClientMismatch
        );
        require!(
            request.state == RequestState::Completed,
            ChainferenceError::RequestNotCompleted
        );
        require!(!request.compared, ChainferenceError::AlreadyCompared);
        require!(
            now <= request.flag_deadline()?,
            ChainferenceError::FlagWindowClosed
        );
    }
    require!(
        first.terms.model == second.terms.model,
        ChainferenceError::ComparisonModelMismatch
    );
    require!(
        first.created_at.abs_diff(second.created_at) <= u64::from(window),
        ChainferenceError::ComparisonTooFarApart
    );

    ctx.accounts.first.compared = true;
    ctx.accounts.second.compared = true;
    for (server, preferred) in [
        (&mut ctx.accounts.first_server, first_preferred),
        (&mut ctx.accounts.second_server, !first_preferred),
    ] {
        let record = &mut server.reputation;
        record.comparisons = math::add(record.comparisons, 1)?;
        record.preferred = math::add(record.preferred, u64::from(preferred))?;
    }
    Ok(())
}
