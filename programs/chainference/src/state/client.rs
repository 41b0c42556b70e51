//! A client wallet's request counter, and where its payouts wait when the wallet cannot take
//! them.

use anchor_lang::prelude::*;

/// PDA `["client", wallet]`: numbers the wallet's requests so their addresses are never reused
/// and `history` can enumerate them. Refunds the wallet itself could not take (see
/// `lamports::pay`) wait here above its rent, for `withdraw_client_funds`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Client {
    /// The wallet this counter belongs to.
    pub wallet: Pubkey,
    /// The nonce of the wallet's next request; only ever increases.
    pub next_nonce: u64,
    /// Bump of this PDA.
    pub bump: u8,
}
