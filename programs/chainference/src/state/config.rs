//! The protocol's settings and its fee treasury.

use crate::{constants::*, error::ChainferenceError};
use anchor_lang::prelude::*;

/// Protocol settings, PDA `["config"]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    /// The key allowed to update this config and withdraw fees.
    pub admin: Pubkey,
    /// The key the admin proposed to hand its role to (default: none), which takes it by
    /// signing `accept_admin`.
    pub pending_admin: Pubkey,
    /// The cluster's genesis hash, which every signed acknowledgement and per-request key
    /// names, so a signature made on one cluster counts on no other (set at initialization:
    /// a program cannot read the genesis hash).
    pub cluster: [u8; 32],
    /// The fee treasury PDA.
    pub treasury: Pubkey,
    /// Fees, bond and default windows.
    pub params: ConfigParams,
    /// Bump of this PDA.
    pub bump: u8,
}

/// The settable part of the config.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigParams {
    /// Protocol fee in basis points of the bill, taken from the server's share (≤ 2,000).
    pub fee_bps: u16,
    /// The bond a server posts at lock, in basis points of the stake.
    pub bond_bps: u16,
    /// Seconds from creation during which a request may be locked.
    pub lock_window_secs: u32,
    /// Seconds from lock during which the client must seal its prompt.
    pub prompt_window_secs: u32,
    /// Default seconds from lock until the answer must be complete.
    pub time_limit_secs: u32,
    /// Seconds from completion during which the client may flag or compare.
    pub flag_window_secs: u32,
    /// Most seconds between the creations of two compared requests.
    pub comparison_window_secs: u32,
}

impl ConfigParams {
    /// The design's defaults (§10) with the given fee.
    pub const fn with_fee(fee_bps: u16) -> Self {
        Self {
            fee_bps,
            bond_bps: 1_000,
            lock_window_secs: 120,
            prompt_window_secs: 30,
            time_limit_secs: 300,
            flag_window_secs: 3_600,
            comparison_window_secs: 60,
        }
    }

    /// Refuses a fee over its cap, a bond over 100 % and empty windows.
    pub fn validate(&self) -> Result<()> {
        require!(self.fee_bps <= MAX_FEE_BPS, ChainferenceError::FeeTooHigh);
        require!(
            u64::from(self.bond_bps) <= BPS,
            ChainferenceError::BpsOutOfRange
        );
        let windows = [
            self.lock_window_secs,
            self.prompt_window_secs,
            self.time_limit_secs,
            self.flag_window_secs,
            self.comparison_window_secs,
        ];
        require!(
            windows.iter().all(|w| *w > 0) && self.time_limit_secs <= MAX_TIME_LIMIT_SECS,
            ChainferenceError::InvalidWindow
        );
        self.admit_time_limit(self.time_limit_secs)
    }

    /// Refuses a time limit that leaves the answer less than [`MIN_ANSWER_SECS`] after the
    /// prompt window.
    pub fn admit_time_limit(&self, time_limit_secs: u32) -> Result<()> {
        require!(
            u64::from(time_limit_secs)
                >= u64::from(self.prompt_window_secs) + u64::from(MIN_ANSWER_SECS),
            ChainferenceError::TimeLimitTooShort
        );
        Ok(())
    }
}

/// The fee treasury, PDA `["treasury"]`: program-owned and rent-exempt from initialization,
/// so crediting even one lamport of fee never fails.
#[account]
#[derive(InitSpace, Debug)]
pub struct Treasury {
    /// Bump of this PDA.
    pub bump: u8,
}
