//! Moving lamports out of accounts this program owns, checked, and paying parties so that no
//! payee can refuse a payout: a wallet whose state would make the transaction fail (given to
//! another program, emptied under the rent-exempt minimum, grown with data, executable) is paid
//! into its own account of this program instead (the client's [`crate::state::Client`], the
//! operator's [`crate::state::Server`]), which always can take lamports and from which the
//! wallet withdraws to any destination it names.

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

/// Whether crediting `amount` to `to` leaves a transaction the runtime accepts whatever owns
/// `to`: it is not executable, and it ends rent-exempt for its size (the runtime refuses an
/// account that ends under its rent-exempt minimum unless it started there and shrank).
pub fn can_receive(to: &AccountInfo, amount: u64) -> Result<bool> {
    let after = to
        .lamports()
        .checked_add(amount)
        .ok_or(ChainferenceError::ArithmeticOverflow)?;
    Ok(!to.executable && after >= Rent::get()?.minimum_balance(to.data_len()))
}

/// Pays `amount` from `from` (ours) to `wallet`, or to `fallback` (the wallet's own account of
/// this program) when the wallet cannot take it.
pub fn pay<'info>(
    from: &AccountInfo<'info>,
    wallet: &AccountInfo<'info>,
    fallback: &AccountInfo<'info>,
    amount: u64,
) -> Result<()> {
    let to = if can_receive(wallet, amount)? {
        wallet
    } else {
        fallback
    };
    transfer(from, to, amount)
}

/// Closes `account` (ours): every lamport it holds is paid to `wallet` (or `fallback`, as
/// [`pay`]), then it is handed back to the system program with no data.
pub fn close<'info>(
    account: &AccountInfo<'info>,
    wallet: &AccountInfo<'info>,
    fallback: &AccountInfo<'info>,
) -> Result<()> {
    pay(account, wallet, fallback, account.lamports())?;
    account.assign(&anchor_lang::system_program::ID);
    account.resize(0)?;
    Ok(())
}

/// Moves everything `from` (ours) holds above its rent-exempt minimum to `to`; refuses when
/// that is nothing. Returns the amount.
pub fn withdraw_surplus<'info>(from: &AccountInfo<'info>, to: &AccountInfo<'info>) -> Result<u64> {
    let floor = Rent::get()?.minimum_balance(from.data_len());
    let surplus = from.lamports().saturating_sub(floor);
    require!(surplus > 0, ChainferenceError::NothingToWithdraw);
    transfer(from, to, surplus)?;
    Ok(surplus)
}
