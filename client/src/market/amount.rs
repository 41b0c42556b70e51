//! Amounts of SOL as people write and read them.

/// Lamports in one SOL.
pub const LAMPORTS_PER_SOL: u64 = 1_000_000_000;

/// Why a typed amount of SOL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal number of SOL with at most nine decimals.
    #[error("{0:?} is not an amount of SOL (write it like 0.01)")]
    NotAnAmount(String),
    /// Zero, or more lamports than a u64 holds.
    #[error("{0} SOL is not a usable amount (more than 0, less than 18 billion)")]
    OutOfRange(String),
}

/// Lamports as SOL, trimmed.
pub fn sol(lamports: u64) -> String {
    let whole = lamports / LAMPORTS_PER_SOL;
    let fraction = lamports % LAMPORTS_PER_SOL;
    if fraction == 0 {
        format!("{whole} SOL")
    } else {
        let digits = format!("{fraction:09}");
        format!("{whole}.{} SOL", digits.trim_end_matches('0'))
    }
}

/// SOL (as typed, like `0.01`) in lamports, refusing what is not a positive amount.
pub fn lamports_of(sol: &str) -> Result<u64, AmountError> {
    let (whole, fraction) = sol.split_once('.').unwrap_or((sol, ""));
    let valid = !whole.is_empty() || !fraction.is_empty();
    let digits = |text: &str| text.chars().all(|c| c.is_ascii_digit());
    if !valid || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return Err(AmountError::NotAnAmount(sol.into()));
    }
    // Only digits are left, so a part that does not parse is too large.
    let whole: Option<u64> = if whole.is_empty() {
        Some(0)
    } else {
        whole.parse().ok()
    };
    let fraction: Option<u64> = format!("{fraction:0<9}").parse().ok();
    whole
        .zip(fraction)
        .and_then(|(whole, fraction)| {
            whole
                .checked_mul(LAMPORTS_PER_SOL)
                .and_then(|lamports| lamports.checked_add(fraction))
        })
        .filter(|lamports| *lamports > 0)
        .ok_or_else(|| AmountError::OutOfRange(sol.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_of_sol() {
        assert_eq!(lamports_of("0.01"), Ok(10_000_000));
        assert_eq!(lamports_of("2"), Ok(2_000_000_000));
        assert_eq!(lamports_of(".5"), Ok(500_000_000));
        assert!(matches!(lamports_of("0"), Err(AmountError::OutOfRange(_))));
        assert!(matches!(
            lamports_of("99999999999999999999"),
            Err(AmountError::OutOfRange(_))
        ));
        assert!(lamports_of("1.0000000001").is_err());
        assert_eq!(
            lamports_of("abc").map_err(|error| error.to_string()),
            Err("\"abc\" is not an amount of SOL (write it like 0.01)".into())
        );
        assert_eq!(sol(1_500_000_000), "1.5 SOL");
        assert_eq!(sol(5_000), "0.000005 SOL");
    }
}
