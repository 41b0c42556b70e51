use crate::receipt::MAX_RECEIPT_FEE;
use crate::{error::ChainferenceError, lamports, state::*};
use anchor_lang::prelude::*;

/// Accounts of `close_request`; anyone may send it.
#[derive(Accounts)]
pub struct CloseRequest<'info> {
    /// The completed request, closed here.
    #[account(mut)]
    pub request: Box<Account<'info, Request>>,
    /// CHECK: the client's wallet, by address: gets the rent back, less Light's fee for the
    /// receipt, whatever owns it (see `client_account`).
    #[account(mut, address = request.client @ ChainferenceError::WrongClient)]
    pub client: UncheckedAccount<'info>,
    /// The client's account of this program: takes the rent when the wallet cannot.
    #[account(mut, constraint = client_account.wallet == request.client @ ChainferenceError::WrongClient)]
    pub client_account: Box<Account<'info, Client>>,
    /// Whoever closes it: pays Light's fee during the CPI and is paid it back from the rent.
    #[account(mut)]
    pub closer: Signer<'info>,
    /// What writes the receipt into the Light state tree the closer chooses.
    pub receipt_writer: crate::receipt::ReceiptWriter<'info>,
}

/// Closes a completed request once its flag window has passed: writes its [`Receipt`] into
/// the state tree, pays the closer back what Light charged for it out of the rent (which
/// returns the closer to its balance before, so it can always take it), and returns the rest
/// to the client's wallet or, when the wallet cannot take it, its account of this program.
pub fn handle_close_request(ctx: Context<CloseRequest>) -> Result<()> {
    let accounts = &ctx.accounts;
    let request = &accounts.request;
    require!(
        request.state == RequestState::Completed,
        ChainferenceError::RequestNotCompleted
    );
    require!(
        super::now()? > request.flag_deadline()?,
        ChainferenceError::FlagWindowOpen
    );
    let closer = accounts.closer.to_account_info();
    let before = closer.lamports();
    accounts
        .receipt_writer
        .write(&closer, Receipt::of(request.key(), request))?;
    let charged = before
        .checked_sub(closer.lamports())
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    require!(
        charged <= MAX_RECEIPT_FEE,
        ChainferenceError::ReceiptFeeTooHigh
    );
    lamports::transfer(&request.to_account_info(), &closer, charged)?;
    lamports::close(
        &request.to_account_info(),
        &accounts.client,
        &accounts.client_account.to_account_info(),
    )
}
