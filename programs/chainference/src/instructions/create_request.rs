use crate::{constants::*, error::ChainferenceError, state::*};
use anchor_lang::prelude::*;
use anchor_lang::system_program::{transfer, Transfer};

/// Accounts of `create_request`.
#[derive(Accounts)]
#[instruction(nonce: u64)]
pub struct CreateRequest<'info> {
    /// The client's wallet: pays the rent and the stake.
    #[account(mut)]
    pub client: Signer<'info>,
    /// The wallet's request counter, created with its first request.
    #[account(
        init_if_needed,
        payer = client,
        space = 8 + Client::INIT_SPACE,
        seeds = [CLIENT_SEED, client.key().as_ref()],
        bump
    )]
    pub client_counter: Box<Account<'info, Client>>,
    /// The request, at the address of the counter's next nonce.
    #[account(
        init,
        payer = client,
        space = 8 + Request::INIT_SPACE,
        seeds = [REQUEST_SEED, client.key().as_ref(), &nonce.to_le_bytes()],
        bump
    )]
    pub request: Box<Account<'info, Request>>,
    /// The config: windows and the default time limit.
    pub config: Box<Account<'info, Config>>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Opens the request and escrows `stake` lamports in it.
pub fn handle_create_request(
    ctx: Context<CreateRequest>,
    nonce: u64,
    stake: u64,
    mut terms: RequestTerms,
) -> Result<()> {
    terms.validate()?;
    let counter = &mut ctx.accounts.client_counter;
    require_eq!(nonce, counter.next_nonce, ChainferenceError::StaleNonce);
    // The worst bill must be computable, and the stake must at least pay for the prompt.
    crate::state::bill_for(
        terms.prompt_tokens,
        terms.max_input_price,
        terms.max_output_tokens,
        terms.max_output_price,
    )
    .ok_or(ChainferenceError::ArithmeticOverflow)?;
    let prompt_cost = crate::state::bill_for(terms.prompt_tokens, terms.max_input_price, 0, 0)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    require!(
        stake > 0 && stake >= prompt_cost,
        ChainferenceError::StakeTooSmall
    );

    counter.wallet = ctx.accounts.client.key();
    counter.bump = ctx.bumps.client_counter;
    counter.next_nonce = nonce
        .checked_add(1)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;

    let params = ctx.accounts.config.params;
    if terms.time_limit_secs == 0 {
        terms.time_limit_secs = params.time_limit_secs;
    }
    params.admit_time_limit(terms.time_limit_secs)?;
    let rent = ctx.accounts.request.to_account_info().lamports();
    transfer(
        CpiContext::new(
            ctx.accounts.system_program.key(),
            Transfer {
                from: ctx.accounts.client.to_account_info(),
                to: ctx.accounts.request.to_account_info(),
            },
        ),
        stake,
    )?;

    let request = &mut ctx.accounts.request;
    request.client = ctx.accounts.client.key();
    request.nonce = nonce;
    request.state = RequestState::Open;
    request.terms = terms;
    request.stake = stake;
    request.rent = rent;
    request.created_at = super::now()?;
    request.lock_window_secs = params.lock_window_secs;
    request.prompt_window_secs = params.prompt_window_secs;
    request.flag_window_secs = params.flag_window_secs;
    request.bump = ctx.bumps.request;
    Ok(())
}
