use crate::{compression::tree_fill, constants::BPS, error::ChainferenceError, signed, state::*};
use anchor_lang::prelude::*;
use anchor_lang::system_program::{transfer, Transfer};

/// Accounts of `lock_request`.
#[derive(Accounts)]
pub struct LockRequest<'info> {
    /// The server's operator: pays the bond.
    #[account(mut)]
    pub operator: Signer<'info>,
    /// The locking server.
    #[account(mut, has_one = operator @ ChainferenceError::NotOperator)]
    pub server: Box<Account<'info, Server>>,
    /// The open request.
    #[account(mut)]
    pub request: Box<Account<'info, Request>>,
    /// CHECK: one of the server's trees (checked in the handler), where the answer goes.
    pub tree: UncheckedAccount<'info>,
    /// The config: bond, fee, and the cluster the key's signature names.
    pub config: Box<Account<'info, Config>>,
    /// CHECK: the instructions sysvar, where the operator's signature of the key is read.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Locks the request for the server if it may ([`Request::lockable_by`]), with the per-request
/// key its operator signed in the ed25519 instruction right before this one (kept beside the
/// key, so a client can check it against the operator it expects before it seals its prompt),
/// and escrows the bond. The lock names the weights it answers with, which must be those the
/// offer pins: the ledger then holds them beside the answer for re-scoring, also once the
/// request is closed.
pub fn handle_lock_request(
    ctx: Context<LockRequest>,
    server_key: [u8; 32],
    weights_sha256: [u8; 32],
) -> Result<()> {
    let now = super::now()?;
    let request = &ctx.accounts.request;
    let server = &ctx.accounts.server;
    let offer = request.lockable_by(server, now)?;
    require!(
        offer.weights_sha256 == weights_sha256,
        ChainferenceError::WeightsNotOffered
    );
    let key_signature = signed::key_signature(
        &ctx.accounts.instructions,
        &signed::scope(&ctx.accounts.config, &request.key()),
        &server.operator,
        &server_key,
    )?;

    let tree = ctx.accounts.tree.key();
    require!(
        server.trees.contains(&tree),
        ChainferenceError::TreeNotBound
    );
    let (leaves, capacity) = tree_fill(&ctx.accounts.tree.try_borrow_data()?)?;
    require!(leaves < capacity, ChainferenceError::TreeFull);

    let params = ctx.accounts.config.params;
    let bond =
        u64::try_from(u128::from(request.stake) * u128::from(params.bond_bps) / u128::from(BPS))
            .map_err(|_| ChainferenceError::ArithmeticOverflow)?;
    let lock = Lock {
        server: server.key(),
        operator: server.operator,
        tree,
        input_price: offer.input_price,
        output_price: offer.output_price,
        weights_sha256,
        fee_bps: params.fee_bps,
        bond,
        server_key,
        key_signature,
        locked_at: now,
    };
    transfer(
        CpiContext::new(
            ctx.accounts.system_program.key(),
            Transfer {
                from: ctx.accounts.operator.to_account_info(),
                to: ctx.accounts.request.to_account_info(),
            },
        ),
        bond,
    )?;
    let request = &mut ctx.accounts.request;
    request.lock = lock;
    request.state = RequestState::Locked;
    let server = &mut ctx.accounts.server;
    server.active_locks += 1; // < max_concurrent ≤ u16::MAX, checked above
    server.last_active = now;
    Ok(())
}
