//! Moving lamports out of accounts this program owns, checked.

use crate::error::ChainferenceError;
use anchor_lang::prelude::*;

/// Moves `amount` lamports from `from` (owned by this program) to `to`.
pub fn transfer<'info>(
    from: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let remaining = from
        .lamports()
        .checked_sub(amount)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    let credited = to
        .lamports()
        .checked_add(amount)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    **from.try_borrow_mut_lamports()? = remaining;
    **to.try_borrow_mut_lamports()? = credited;
    Ok(())
}
