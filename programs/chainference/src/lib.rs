//! Chainference: paid, private LLM inference on Solana with verifiable delivery and billing.
//!
//! Servers register the models they serve and their prices; clients escrow a stake in a
//! request; an allowed server locks it with a bond and a per-request key, the client seals its
//! encrypted prompt, and the server appends the encrypted answer in batches whose Merkle roots
//! become leaves of the server's concurrent Merkle tree (spl-account-compression), then claims
//! payment. With direct delivery only the roots go on chain, the chunks go from the server to
//! the client, and the bill stops at the client's signed acknowledgement. Closing a finished
//! request leaves its receipt as a Light compressed account, which costs no rent. Every path
//! conserves lamports exactly. See `DESIGN.md` §2–§4 and §6.

use anchor_lang::prelude::*;

// Linked, though nothing names it: the soft-float and memory builtins of the sBPF build through
// upstream LLVM (Solana's own toolchain brings its own).
#[cfg(all(target_os = "solana", feature = "upstream-sbf"))]
extern crate solana_compiler_builtins;

pub mod compression;
pub mod constants;
pub mod error;
pub mod events;
pub mod instructions;
mod lamports;
mod math;
pub mod pda;
pub mod receipt;
pub mod signed;
pub mod state;

pub use instructions::*;
pub use state::*;

declare_id!("C9cTNHFDoL8HpZk9MnRtBVH3ekf4pjnK27YFSZqd9BW3");

/// The program's instructions, one handler each in `instructions/`.
#[program]
pub mod chainference {
    use super::*;

    /// Creates the config and the fee treasury for the cluster whose genesis hash is
    /// `cluster`; only the admin key compiled into the program.
    pub fn initialize_config(
        ctx: Context<InitializeConfig>,
        params: ConfigParams,
        cluster: [u8; 32],
    ) -> Result<()> {
        initialize_config::handle_initialize_config(ctx, params, cluster)
    }

    /// Changes fees, bond and default windows; a new fee applies to requests locked afterwards.
    pub fn update_config(ctx: Context<UpdateConfig>, params: ConfigParams) -> Result<()> {
        update_config::handle_update_config(ctx, params)
    }

    /// Sends the collected fees above the treasury's rent to an account the admin names.
    pub fn withdraw_fees(ctx: Context<WithdrawFees>) -> Result<()> {
        withdraw_fees::handle_withdraw_fees(ctx)
    }

    /// Proposes the key the admin role goes to (taken by `accept_admin`).
    pub fn propose_admin(ctx: Context<ProposeAdmin>, new_admin: Pubkey) -> Result<()> {
        propose_admin::handle_propose_admin(ctx, new_admin)
    }

    /// The proposed key takes the admin role.
    pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
        accept_admin::handle_accept_admin(ctx)
    }

    /// Registers the signer's server with its models, prices and endpoint.
    pub fn register_server(ctx: Context<RegisterServer>, params: ServerParams) -> Result<()> {
        register_server::handle_register_server(ctx, params)
    }

    /// Replaces the server's models, prices and endpoint, and makes it active again.
    pub fn update_server(ctx: Context<UpdateServer>, params: ServerParams) -> Result<()> {
        update_server::handle_update_server(ctx, params)
    }

    /// Stops new locks on the server; locks it holds run to their end.
    pub fn deactivate_server(ctx: Context<DeactivateServer>) -> Result<()> {
        deactivate_server::handle_deactivate_server(ctx)
    }

    /// Initializes a response tree (created just before by the system program) and binds it to
    /// the signer's server.
    pub fn create_tree(
        ctx: Context<CreateTree>,
        max_depth: u32,
        max_buffer_size: u32,
    ) -> Result<()> {
        create_tree::handle_create_tree(ctx, max_depth, max_buffer_size)
    }

    /// Opens a request and moves its stake into escrow.
    pub fn create_request(
        ctx: Context<CreateRequest>,
        nonce: u64,
        stake: u64,
        terms: RequestTerms,
    ) -> Result<()> {
        create_request::handle_create_request(ctx, nonce, stake, terms)
    }

    /// Withdraws an open request: stake and rent back to the client.
    pub fn cancel_request(ctx: Context<CancelRequest>) -> Result<()> {
        cancel_request::handle_cancel_request(ctx)
    }

    /// Locks an open request for the signer's server, with a bond and a per-request x25519 key
    /// that the operator signed in the ed25519 instruction right before this one.
    pub fn lock_request(
        ctx: Context<LockRequest>,
        server_key: [u8; 32],
        weights_sha256: [u8; 32],
    ) -> Result<()> {
        lock_request::handle_lock_request(ctx, server_key, weights_sha256)
    }

    /// Adds a chunk of the encrypted prompt; `seal` marks the last and makes the request ready.
    pub fn submit_prompt(
        ctx: Context<SubmitPrompt>,
        ciphertext: Vec<u8>,
        seal: bool,
    ) -> Result<()> {
        submit_prompt::handle_submit_prompt(ctx, ciphertext, seal)
    }

    /// Appends one batch of answer chunks as a leaf of the server's tree.
    pub fn append_batch(
        ctx: Context<AppendBatch>,
        root: [u8; 32],
        chunks: Vec<events::Chunk>,
    ) -> Result<()> {
        append_batch::handle_append_batch(ctx, root, chunks)
    }

    /// Direct delivery: appends one batch's root (its chunks went to the client off chain) as
    /// a leaf of the server's tree.
    pub fn append_root(
        ctx: Context<AppendBatch>,
        first_seq: u32,
        count: u32,
        tokens: u32,
        finished: bool,
        root: [u8; 32],
    ) -> Result<()> {
        append_root::handle_append_root(
            ctx,
            chainference_prover::core::RootClaim {
                first_seq,
                count,
                tokens,
                finished,
                root,
            },
        )
    }

    /// Bills the answer, pays the server and the fee, refunds the rest and the bond.
    pub fn complete_request(ctx: Context<CompleteRequest>) -> Result<()> {
        complete_request::handle_complete_request(ctx)
    }

    /// Ends a request whose window passed, returning stake and bond as the design says.
    pub fn expire_request(ctx: Context<ExpireRequest>) -> Result<()> {
        expire_request::handle_expire_request(ctx)
    }

    /// The client marks a completed answer as bad, once, inside the flag window.
    pub fn flag_response(ctx: Context<FlagResponse>) -> Result<()> {
        flag_response::handle_flag_response(ctx)
    }

    /// The client records which of two paired answers it preferred.
    pub fn record_comparison(ctx: Context<RecordComparison>, first_preferred: bool) -> Result<()> {
        record_comparison::handle_record_comparison(ctx, first_preferred)
    }

    /// The client withdraws refunds its wallet could not take to an account it names.
    pub fn withdraw_client_funds(ctx: Context<WithdrawClientFunds>) -> Result<()> {
        withdraw_client_funds::handle_withdraw_client_funds(ctx)
    }

    /// The operator withdraws pay and bonds its wallet could not take to an account it names.
    pub fn withdraw_server_funds(ctx: Context<WithdrawServerFunds>) -> Result<()> {
        withdraw_server_funds::handle_withdraw_server_funds(ctx)
    }

    /// Closes a completed request after its flag window: writes its receipt as a Light
    /// compressed account (the closer pays Light's fee and gets it back from the rent), then
    /// returns the rest of the rent to the client.
    pub fn close_request(ctx: Context<CloseRequest>) -> Result<()> {
        close_request::handle_close_request(ctx)
    }
}
