//! A registered inference server: what it offers, its trees and its record.

use crate::{constants::*, error::ChainferenceError};
use anchor_lang::prelude::*;

/// PDA `["server", operator]`. Never closed: its history is its reputation.
#[account]
#[derive(InitSpace, Debug)]
pub struct Server {
    /// The wallet that runs the server, signs its locks and appends, and is paid.
    pub operator: Pubkey,
    /// Whether the server takes new locks.
    pub active: bool,
    /// What the server offers.
    #[max_len(MAX_MODELS)]
    pub models: Vec<ModelOffer>,
    /// Optional endpoint URL (direct delivery, listings).
    #[max_len(MAX_ENDPOINT_LEN)]
    pub endpoint: String,
    /// Most requests locked at once.
    pub max_concurrent: u16,
    /// Requests locked and not yet completed or expired.
    pub active_locks: u16,
    /// The response trees bound to this server (no other server may append to them).
    #[max_len(MAX_TREES)]
    pub trees: Vec<Pubkey>,
    /// Unix time of registration.
    pub registered_at: i64,
    /// Unix time of the server's last lock, append or completion.
    pub last_active: i64,
    /// What the server did (design §6).
    pub reputation: Reputation,
    /// Bump of this PDA.
    pub bump: u8,
}

/// One model a server offers, with its prices.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Debug, PartialEq, Eq)]
pub struct ModelOffer {
    /// Hugging Face model id, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`.
    #[max_len(MAX_MODEL_ID_LEN)]
    pub id: String,
    /// The model's revision (commit or tag).
    #[max_len(MAX_REVISION_LEN)]
    pub revision: String,
    /// Quantization, e.g. `Q4_1` or `F32`.
    #[max_len(MAX_QUANTIZATION_LEN)]
    pub quantization: String,
    /// SHA-256 of the weights it serves (the GGUF file, or the safetensors files in name
    /// order, design §12); all zeros when the server pins none (an engine without weights).
    pub weights_sha256: [u8; 32],
    /// Context length in tokens.
    pub context_length: u32,
    /// Lamports per million prompt tokens.
    pub input_price: u64,
    /// Lamports per million answer tokens.
    pub output_price: u64,
    /// The smallest stake the server accepts for this model.
    pub min_stake: u64,
}

/// A server's record (design §6).
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Reputation {
    /// Answers completed and paid.
    pub completed: u64,
    /// Completed answers their clients flagged.
    pub flagged: u64,
    /// Requests that expired in `Ready` while this server held them.
    pub failures: u64,
    /// Blind comparisons this server took part in.
    pub comparisons: u64,
    /// Comparisons this server won.
    pub preferred: u64,
    /// Answer tokens delivered.
    pub tokens_served: u64,
    /// Lamports earned, after the protocol fee.
    pub lamports_earned: u64,
    /// Sum over completed answers of seconds from lock to first chunk.
    pub first_chunk_secs: u64,
    /// Sum over completed answers of seconds from lock to completion.
    pub completion_secs: u64,
}

impl Reputation {
    /// Wilson lower bound (z = 1.96) of `(completed − flagged) / completed`, in bps.
    pub fn success_lower_bps(&self) -> u16 {
        wilson_lower_bps(self.completed.saturating_sub(self.flagged), self.completed)
    }

    /// Wilson lower bound (z = 1.96) of `preferred / comparisons`, in bps.
    pub fn preference_lower_bps(&self) -> u16 {
        wilson_lower_bps(self.preferred, self.comparisons)
    }

    /// `failures / (completed + failures)` in bps, rounded up; 0 with no history.
    pub fn failure_bps(&self) -> u16 {
        let trials = u128::from(self.completed) + u128::from(self.failures);
        if trials == 0 {
            return 0;
        }
        let bps = (u128::from(self.failures) * u128::from(BPS)).div_ceil(trials);
        bps as u16 // ≤ 10,000
    }
}

/// Wilson score interval's lower bound at z = 1.96, in basis points, in integer arithmetic so
/// the program and every client compute the same value:
/// `(2s + z² − z·√(z² + 4s(n−s)/n)) / (2(n + z²))`. No trials gives 0.
pub fn wilson_lower_bps(successes: u64, trials: u64) -> u16 {
    if trials == 0 {
        return 0;
    }
    let (s, n) = (u128::from(successes.min(trials)), u128::from(trials));
    const Z2_E8: u128 = 384_160_000; // z² = 3.8416, in units of 1e-8
    const Z_E2: u128 = 196; // z = 1.96, in units of 1e-2
    const Z2_E6: u128 = 3_841_600;
    // √(z² + 4s(n−s)/n) in units of 1e-4.
    // 4s(n−s)/n in units of 1e-8, split into quotient and remainder so nothing overflows.
    let product = s * (n - s); // ≤ n²/4 < 2^126
    let spread_e8 = 400_000_000 * (product / n) + 400_000_000 * (product % n) / n;
    let root_e4 = isqrt(Z2_E8 + spread_e8);
    let numerator_e6 = (2 * s * 1_000_000 + Z2_E6).saturating_sub(Z_E2 * root_e4);
    let denominator_e6 = 2 * (n * 1_000_000 + Z2_E6);
    (numerator_e6 * u128::from(BPS) / denominator_e6) as u16 // < 10,000: the bound is below 1
}

/// Integer square root (floor): Newton's method from a power of two above the root, a handful
/// of steps for any u128.
fn isqrt(value: u128) -> u128 {
    if value < 2 {
        return value;
    }
    let bits = 128 - value.leading_zeros();
    let mut x = 1u128 << bits.div_ceil(2);
    loop {
        let next = (x + value / x) / 2;
        if next >= x {
            return x;
        }
        x = next;
    }
}

impl Server {
    /// The offer for `model`, if the server serves it.
    pub fn offer(&self, model: &str) -> Option<&ModelOffer> {
        self.models.iter().find(|offer| offer.id == model)
    }
}

/// What `register_server` and `update_server` set.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServerParams {
    /// The models offered (1 to 16, distinct ids).
    pub models: Vec<ModelOffer>,
    /// Endpoint URL, or empty.
    pub endpoint: String,
    /// Most requests locked at once (≥ 1).
    pub max_concurrent: u16,
}

impl ServerParams {
    /// Refuses oversized fields, duplicate models and a zero `max_concurrent`.
    pub fn validate(&self) -> Result<()> {
        require!(!self.models.is_empty(), ChainferenceError::NoModels);
        require!(
            self.models.len() <= MAX_MODELS,
            ChainferenceError::TooManyModels
        );
        for (i, offer) in self.models.iter().enumerate() {
            require!(
                !offer.id.is_empty() && offer.id.len() <= MAX_MODEL_ID_LEN,
                ChainferenceError::InvalidModelId
            );
            require!(
                offer.revision.len() <= MAX_REVISION_LEN,
                ChainferenceError::RevisionTooLong
            );
            require!(
                offer.quantization.len() <= MAX_QUANTIZATION_LEN,
                ChainferenceError::QuantizationTooLong
            );
            require!(
                self.models[..i]
                    .iter()
                    .all(|earlier| earlier.id != offer.id),
                ChainferenceError::DuplicateModel
            );
        }
        require!(
            self.endpoint.len() <= MAX_ENDPOINT_LEN,
            ChainferenceError::EndpointTooLong
        );
        require!(
            self.max_concurrent >= 1,
            ChainferenceError::InvalidMaxConcurrent
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formula in floating point, for comparison.
    fn wilson_f64(s: f64, n: f64) -> f64 {
        let z = 1.96f64;
        let p = s / n;
        (p + z * z / (2.0 * n) - z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt())
            / (1.0 + z * z / n)
    }

    #[test]
    fn wilson_matches_the_formula_within_one_bps() {
        for (s, n) in [
            (0, 1),
            (1, 1),
            (5, 10),
            (9, 10),
            (95, 100),
            (1, 1_000),
            (999_999, 1_000_000),
        ] {
            let expected = wilson_f64(s as f64, n as f64) * 10_000.0;
            let got = f64::from(wilson_lower_bps(s, n));
            assert!(
                (got - expected).abs() <= 1.0,
                "s={s} n={n}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn wilson_is_zero_without_history_and_grows_with_evidence() {
        assert_eq!(wilson_lower_bps(0, 0), 0);
        assert!(wilson_lower_bps(10, 10) < wilson_lower_bps(100, 100));
        assert!(wilson_lower_bps(u64::MAX, u64::MAX) <= 10_000);
    }

    #[test]
    fn isqrt_is_the_floor_of_the_root() {
        for value in
            (0u128..2_000).chain([u128::from(u64::MAX), u128::MAX, (1 << 100) - 1, 1 << 100])
        {
            let root = isqrt(value);
            assert!(root * root <= value, "{value}");
            assert!(
                (root + 1)
                    .checked_mul(root + 1)
                    .is_none_or(|square| square > value),
                "{value}"
            );
        }
    }

    #[test]
    fn failure_rate_rounds_up() {
        let r = Reputation {
            completed: 2,
            failures: 1,
            ..Default::default()
        };
        assert_eq!(r.failure_bps(), 3_334);
        assert_eq!(Reputation::default().failure_bps(), 0);
    }
}
