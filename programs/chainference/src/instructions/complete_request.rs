use crate::{error::ChainferenceError, events::*, lamports, math, signed, state::*};
use anchor_lang::prelude::*;
use chainference_prover::core::{fee_for, Acknowledgement};

/// Accounts of `complete_request`.
#[derive(Accounts)]
pub struct CompleteRequest<'info> {
    /// The operator of the server that locked the request: gets its share and the bond (or
    /// its server account does, when the wallet cannot take them).
    #[account(mut)]
    pub operator: Signer<'info>,
    /// The ready request with its final chunk posted.
    #[account(mut, constraint = request.lock.operator == operator.key() @ ChainferenceError::NotLockingServer)]
    pub request: Box<Account<'info, Request>>,
    /// The locking server, whose record this completion adds to.
    #[account(mut, address = request.lock.server @ ChainferenceError::WrongServer)]
    pub server: Box<Account<'info, Server>>,
    /// CHECK: the client's wallet, by address: gets what the bill leaves of the stake, whatever
    /// owns it (see `client_account`).
    #[account(mut, address = request.client @ ChainferenceError::WrongClient)]
    pub client: UncheckedAccount<'info>,
    /// The client's account of this program: gets the refund when the wallet cannot take it.
    #[account(mut, constraint = client_account.wallet == request.client @ ChainferenceError::WrongClient)]
    pub client_account: Box<Account<'info, Client>>,
    /// The fee treasury.
    #[account(mut)]
    pub treasury: Account<'info, Treasury>,
    /// The config: the cluster a direct answer's acknowledgement names.
    pub config: Box<Account<'info, Config>>,
    /// CHECK: the instructions sysvar, where a direct answer's acknowledgement is read.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
}

/// Bills `prompt_tokens × input + answer tokens × output` (per million, rounded up once,
/// capped by the stake), where the answer's tokens are those posted, or for direct delivery
/// those the client acknowledged in the ed25519 instruction just before this one (none: the
/// prompt alone); pays the server its share and the bond, the treasury the fee (rounded down,
/// out of the server's share), and refunds the rest of the stake, each payee's wallet or, when
/// it cannot take the payment, its account of this program; logs [`RequestSettled`] for
/// audits.
pub fn handle_complete_request(ctx: Context<CompleteRequest>) -> Result<()> {
    let now = super::now()?;
    let request = &ctx.accounts.request;
    require!(
        request.state == RequestState::Ready,
        ChainferenceError::RequestNotReady
    );
    require!(
        now <= request.deadline()?,
        ChainferenceError::TimeLimitPassed
    );
    let tokens = match request.terms.delivery {
        Delivery::Chain => {
            require!(
                request.response.leaves > 0,
                ChainferenceError::NoChunksPosted
            );
            require!(
                request.response.finished,
                ChainferenceError::FinalChunkMissing
            );
            request.response.tokens
        }
        Delivery::Direct => acknowledged_tokens(
            request,
            signed::acknowledgement(
                &ctx.accounts.instructions,
                &signed::scope(&ctx.accounts.config, &request.key()),
                &request.client,
            )?,
        )?,
    };

    let lock = request.lock;
    let bill = bill_for(
        request.terms.prompt_tokens,
        lock.input_price,
        tokens,
        lock.output_price,
    )
    .ok_or(ChainferenceError::ArithmeticOverflow)?
    .min(request.stake);
    let fee = fee_for(bill, lock.fee_bps);
    let server_share = bill - fee;
    let refund = request.stake - bill;

    let from = ctx.accounts.request.to_account_info();
    lamports::pay(
        &from,
        &ctx.accounts.operator,
        &ctx.accounts.server.to_account_info(),
        math::add(server_share, lock.bond)?,
    )?;
    // The treasury is ours and rent-exempt from initialization: it always takes the fee.
    lamports::transfer(&from, &ctx.accounts.treasury.to_account_info(), fee)?;
    lamports::pay(
        &from,
        &ctx.accounts.client,
        &ctx.accounts.client_account.to_account_info(),
        refund,
    )?;

    let request = &mut ctx.accounts.request;
    request.state = RequestState::Completed;
    request.settlement = Settlement {
        tokens,
        bill,
        fee,
        completed_at: now,
    };
    let first_chunk_secs = request
        .response
        .first_chunk_at
        .saturating_sub(lock.locked_at);
    let completion_secs = now.saturating_sub(lock.locked_at);
    log_event(&RequestSettled {
        request: request.key(),
        client: request.client,
        server: lock.server,
        tree: lock.tree,
        model: request.terms.model.clone(),
        prompt_tokens: request.terms.prompt_tokens,
        max_output_tokens: request.terms.max_output_tokens,
        stake: request.stake,
        input_price: lock.input_price,
        output_price: lock.output_price,
        fee_bps: lock.fee_bps,
        answer_tokens: tokens,
        bill,
        fee,
        chain: request.response.chain,
        completed_at: now,
    });

    let server = &mut ctx.accounts.server;
    server.active_locks = server.active_locks.saturating_sub(1);
    server.last_active = now;
    let record = &mut server.reputation;
    record.completed = math::add(record.completed, 1)?;
    record.tokens_served = math::add(record.tokens_served, u64::from(tokens))?;
    record.lamports_earned = math::add(record.lamports_earned, server_share)?;
    record.first_chunk_secs = math::add(record.first_chunk_secs, first_chunk_secs.unsigned_abs())?;
    record.completion_secs = math::add(record.completion_secs, completion_secs.unsigned_abs())?;
    Ok(())
}

/// The tokens a direct answer is billed for: those of the client's acknowledgement, which
/// must name exactly the posted answer (its sequence, tokens and hash chain), so the roots on
/// chain commit to exactly what is billed; without one, nothing may have been posted and only
/// the prompt is billed (a client that stops acknowledging cannot stop the server from being
/// paid for what it acknowledged, nor turn the answer into the server's failure).
fn acknowledged_tokens(request: &Request, ack: Option<Acknowledgement>) -> Result<u32> {
    let posted = &request.response;
    let Some(ack) = ack else {
        require!(
            posted.leaves == 0,
            ChainferenceError::AcknowledgementMissing
        );
        return Ok(0);
    };
    require!(
        (ack.next_seq, ack.tokens, ack.chain) == (posted.next_seq, posted.tokens, posted.chain),
        ChainferenceError::AcknowledgementMismatch
    );
    Ok(ack.tokens)
}
