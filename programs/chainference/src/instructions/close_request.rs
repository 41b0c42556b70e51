use crate::receipt::{
    LightAccounts, CPI_AUTHORITY, LIGHT_COMPRESSION_AUTHORITY, LIGHT_COMPRESSION_PROGRAM,
    LIGHT_REGISTERED_PROGRAM, LIGHT_SYSTEM_PROGRAM, MAX_RECEIPT_FEE,
};
use crate::{compression::NOOP_PROGRAM_ID, error::ChainferenceError, lamports, state::*};
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
    /// CHECK: the Light state tree (v1) or output queue (v2) the receipt goes into, chosen by
    /// the closer; Light's account-compression program checks that it is one.
    #[account(mut)]
    pub state_tree: UncheckedAccount<'info>,
    /// CHECK: our PDA that signs for this program in Light's system program.
    #[account(address = CPI_AUTHORITY)]
    pub cpi_authority: UncheckedAccount<'info>,
    /// CHECK: Light's system program, checked by address.
    #[account(address = LIGHT_SYSTEM_PROGRAM)]
    pub light_system_program: UncheckedAccount<'info>,
    /// CHECK: Light's registration of its system program, checked by address.
    #[account(address = LIGHT_REGISTERED_PROGRAM)]
    pub registered_program: UncheckedAccount<'info>,
    /// CHECK: spl-noop, checked by address.
    #[account(address = NOOP_PROGRAM_ID)]
    pub noop_program: UncheckedAccount<'info>,
    /// CHECK: Light's account-compression authority PDA, checked by address.
    #[account(address = LIGHT_COMPRESSION_AUTHORITY)]
    pub compression_authority: UncheckedAccount<'info>,
    /// CHECK: Light's account-compression program, checked by address.
    #[account(address = LIGHT_COMPRESSION_PROGRAM)]
    pub compression_program: UncheckedAccount<'info>,
    /// CHECK: this program, which Light's system program names as the receipt's owner.
    #[account(address = crate::ID)]
    pub this_program: UncheckedAccount<'info>,
    /// The system program, which moves Light's fee.
    pub system_program: Program<'info, System>,
}

/// Closes a completed request once its flag window has passed: writes its [`Receipt`] into
/// the state tree, pays the closer back what Light charged for it out of the rent (which
/// returns the closer to its balance before, so it can always take it), and returns the rest
/// to the client's wallet or, when the wallet cannot take it, its account of this program.
pub fn handler(ctx: Context<CloseRequest>) -> Result<()> {
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
    LightAccounts {
        fee_payer: &closer,
        state_tree: &accounts.state_tree.to_account_info(),
        cpi_authority: &accounts.cpi_authority.to_account_info(),
        light_system_program: &accounts.light_system_program.to_account_info(),
        registered_program: &accounts.registered_program.to_account_info(),
        noop_program: &accounts.noop_program.to_account_info(),
        compression_authority: &accounts.compression_authority.to_account_info(),
        compression_program: &accounts.compression_program.to_account_info(),
        this_program: &accounts.this_program.to_account_info(),
        system_program: &accounts.system_program.to_account_info(),
    }
    .write(Receipt::of(request.key(), request))?;
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
