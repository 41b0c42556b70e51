//! Checked arithmetic that fails with the program's own error.

use crate::error::ChainferenceError;
use anchor_lang::prelude::*;

/// `a + b`, or [`ChainferenceError::ArithmeticOverflow`].
pub fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| error!(ChainferenceError::ArithmeticOverflow))
}
