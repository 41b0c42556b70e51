//! The bill of an answer: one definition for the program and every auditor.

/// Prices are lamports per this many tokens.
pub const PRICE_TOKENS: u64 = 1_000_000;

/// Basis points in a whole.
pub const BPS: u64 = 10_000;

/// `⌈(prompt_tokens·input_price + answer_tokens·output_price) / 1,000,000⌉`, rounded once at the
/// end, or `None` if it doesn't fit in u64.
pub fn bill_for(
    prompt_tokens: u32,
    input_price: u64,
    answer_tokens: u32,
    output_price: u64,
) -> Option<u64> {
    let total = u128::from(prompt_tokens)
        .checked_mul(u128::from(input_price))?
        .checked_add(u128::from(answer_tokens).checked_mul(u128::from(output_price))?)?;
    u64::try_from(total.div_ceil(u128::from(PRICE_TOKENS))).ok()
}

/// The protocol fee out of `bill`, rounded down: `bill × fee_bps / 10,000`.
pub fn fee_for(bill: u64, fee_bps: u16) -> u64 {
    (u128::from(bill) * u128::from(fee_bps) / u128::from(BPS)) as u64 // ≤ bill for fee_bps ≤ 10,000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bill_rounds_up_once_and_the_fee_down() {
        // 3 tokens at 1 lamport per million each: 3/1e6, rounded up once to 1.
        assert_eq!(bill_for(1, 1, 2, 1), Some(1));
        assert_eq!(bill_for(1_000, 2_000, 500, 4_000), Some(4));
        assert_eq!(bill_for(0, 0, 0, 0), Some(0));
        assert_eq!(bill_for(u32::MAX, u64::MAX, u32::MAX, u64::MAX), None);
        assert_eq!(fee_for(3_025, 500), 151);
        assert_eq!(fee_for(u64::MAX, 10_000), u64::MAX);
    }
}
