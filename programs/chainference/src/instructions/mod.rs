//! One handler a file, named for its instruction (`handle_<instruction>`); each accounts struct
//! reads as the instruction's contract.
//!
//! Existing accounts are identified by Anchor's owner and discriminator checks: every account
//! type is created only at its PDA, so no seeds are re-derived (each derivation costs 1,500 CU
//! on chain).

pub mod accept_admin;
pub mod append_batch;
pub mod append_root;
pub mod cancel_request;
pub mod close_request;
pub mod complete_request;
pub mod create_request;
pub mod create_tree;
pub mod deactivate_server;
pub mod expire_request;
pub mod flag_response;
pub mod initialize_config;
pub mod lock_request;
pub mod propose_admin;
pub mod record_comparison;
pub mod register_server;
pub mod submit_prompt;
pub mod update_config;
pub mod update_server;
pub mod withdraw_client_funds;
pub mod withdraw_fees;
pub mod withdraw_server_funds;

// Anchor's `#[program]` needs each accounts struct's generated client modules at the crate
// root; the glob re-exports bring them.
pub use accept_admin::*;
pub use append_batch::*;
pub use cancel_request::*;
pub use close_request::*;
pub use complete_request::*;
pub use create_request::*;
pub use create_tree::*;
pub use deactivate_server::*;
pub use expire_request::*;
pub use flag_response::*;
pub use initialize_config::*;
pub use lock_request::*;
pub use propose_admin::*;
pub use record_comparison::*;
pub use register_server::*;
pub use submit_prompt::*;
pub use update_config::*;
pub use update_server::*;
pub use withdraw_client_funds::*;
pub use withdraw_fees::*;
pub use withdraw_server_funds::*;

use anchor_lang::prelude::*;

/// The cluster's unix time.
fn now() -> Result<i64> {
    Ok(Clock::get()?.unix_timestamp)
}
