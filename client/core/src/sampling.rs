//! Reproducible sampling (design §12): an answer's randomness derives from its request, so anyone
//! holding the weights, the prompt and the answer can recompute the choice at every token.
//!
//! Sampling is Gumbel-Max. At answer position `p` (the answer's tokens before the one being
//! chosen: 0 for its first; the prompt is not counted, so its tokenization and any cache that
//! served it cannot shift the draws), token `i` of the vocabulary gets the noise `g_i = −ln(−ln u_i)`, where `u_i` comes
//! from the `i`-th 32-bit word of a ChaCha20 keystream keyed by the answer's [seed](answer_seed)
//! with `p` as nonce. The token chosen is the argmax, over the nucleus (`top_p`), of
//! `l_i / T + g_i`: exactly a draw from `softmax(l / T)` restricted to the nucleus, and one that
//! a re-scorer with the same seed reproduces from its own logits ([`SeededSampler::margin`]).
//! With no temperature (or zero) the choice is the argmax of the logits, with no noise.

use anchor_lang::prelude::Pubkey;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use sha2::{Digest, Sha256};

use crate::envelope::Sampling;

/// Domain of [`answer_seed`]'s hash.
pub const SEED_DOMAIN: &[u8] = b"chainference sampling seed v1";

/// The seed of the answer to `request`: `SHA-256(SEED_DOMAIN ‖ request ‖ 0)`, or with the
/// client's own seed from the sealed prompt `SHA-256(SEED_DOMAIN ‖ request ‖ 1 ‖ seed as u64
/// LE)`. The request's address is on chain, so the seed is fixed before the server sees the
/// prompt, and no two requests share one.
pub fn answer_seed(request: &Pubkey, client_seed: Option<u64>) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(SEED_DOMAIN);
    hash.update(request.as_ref());
    match client_seed {
        None => hash.update([0]),
        Some(seed) => {
            hash.update([1]);
            hash.update(seed.to_le_bytes());
        }
    }
    hash.finalize().into()
}

/// The Gumbel noise of the first `vocabulary` tokens at answer position `position`.
pub fn gumbel_noise(seed: &[u8; 32], position: u64, vocabulary: usize) -> Vec<f64> {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&position.to_le_bytes());
    let mut keystream = vec![0u8; vocabulary * 4];
    ChaCha20::new(seed.into(), &nonce.into()).apply_keystream(&mut keystream);
    keystream
        .chunks_exact(4)
        .map(|word| {
            let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            // Strictly inside (0, 1), so both logarithms are finite.
            let uniform = (f64::from(word) + 0.5) / 4_294_967_296.0;
            -(-uniform.ln()).ln()
        })
        .collect()
}

/// One answer's sampler: its seed and the prompt's temperature and nucleus.
#[derive(Clone, Debug, PartialEq)]
pub struct SeededSampler {
    seed: [u8; 32],
    /// Zero: greedy.
    temperature: f64,
    /// One: the whole vocabulary.
    top_p: f64,
}

impl SeededSampler {
    /// The sampler of the answer to `request` under the prompt's `sampling`.
    pub fn new(request: &Pubkey, sampling: &Sampling) -> Self {
        Self {
            seed: answer_seed(request, sampling.seed),
            temperature: sampling
                .temperature
                .filter(|temperature| temperature.is_finite() && *temperature > 0.0)
                .unwrap_or(0.0),
            top_p: sampling
                .top_p
                .filter(|top_p| top_p.is_finite() && *top_p > 0.0 && *top_p < 1.0)
                .unwrap_or(1.0),
        }
    }

    /// Its temperature (0: greedy).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Whether it always takes the most likely token.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// The score of every token at `position` given the model's `logits`: `l / T + g` inside
    /// the nucleus and −∞ outside it (greedy: the logits). The token chosen is the first with
    /// the highest score.
    pub fn scores(&self, position: u64, logits: &[f32]) -> Vec<f64> {
        let logits = logits.iter().map(|&logit| finite_or_floor(logit));
        if self.is_greedy() {
            return logits.collect();
        }
        let nucleus = self.nucleus(logits.clone());
        let noise = gumbel_noise(&self.seed, position, nucleus.len());
        logits
            .zip(nucleus)
            .zip(noise)
            .map(|((logit, inside), noise)| {
                if inside {
                    logit / self.temperature + noise
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect()
    }

    /// The token chosen at `position` (`None` for an empty vocabulary).
    pub fn choose(&self, position: u64, logits: &[f32]) -> Option<u32> {
        argmax(&self.scores(position, logits)).map(|(token, _)| token)
    }

    /// How far `token` falls short of the choice at `position`: 0 when it is the token chosen,
    /// +∞ when it lies outside the nucleus or the vocabulary.
    pub fn margin(&self, position: u64, logits: &[f32], token: u32) -> f64 {
        let scores = self.scores(position, logits);
        let Some((_, best)) = argmax(&scores) else {
            return f64::INFINITY;
        };
        match scores.get(token as usize) {
            Some(score) if score.is_finite() => best - score,
            _ => f64::INFINITY,
        }
    }

    /// Which tokens are in the nucleus: the fewest most likely tokens whose probabilities
    /// (at the temperature) add up to `top_p`, ties broken by the lower token id.
    fn nucleus(&self, logits: impl Iterator<Item = f64> + Clone) -> Vec<bool> {
        let count = logits.clone().count();
        if self.top_p >= 1.0 {
            return vec![true; count];
        }
        let scaled: Vec<f64> = logits.map(|logit| logit / self.temperature).collect();
        let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scaled.iter().map(|score| (score - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
        let mut inside = vec![false; count];
        let mut mass = 0.0;
        for token in order {
            inside[token] = true;
            mass += weights[token] / total;
            if mass >= self.top_p {
                break;
            }
        }
        inside
    }
}

/// A logit as f64, NaN read as −∞ so that it is never chosen.
fn finite_or_floor(logit: f32) -> f64 {
    if logit.is_nan() {
        f64::NEG_INFINITY
    } else {
        f64::from(logit)
    }
}

/// The first index with the highest score, and that score.
fn argmax(scores: &[f64]) -> Option<(u32, f64)> {
    let mut best: Option<(u32, f64)> = None;
    for (index, &score) in scores.iter().enumerate() {
        if best.is_none_or(|(_, top)| score > top) {
            best = Some((u32::try_from(index).ok()?, score));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn sampling(temperature: Option<f64>, top_p: Option<f64>, seed: Option<u64>) -> Sampling {
        Sampling {
            temperature,
            top_p,
            seed,
            stop: Vec::new(),
        }
    }

    /// Vectors computed apart from this code, with Python's hashlib and `cryptography`'s
    /// ChaCha20 (`tools/vectors/sampling.py` prints them).
    #[test]
    fn seeds_and_noise_match_the_test_vectors() {
        let request = Pubkey::new_from_array(std::array::from_fn(|i| i as u8));
        assert_eq!(
            hex(&answer_seed(&request, None)),
            "759dc9958b9ca88c9702dd41ad006b36c70b65f2f1d4954ae8a80296ed20f365"
        );
        assert_eq!(
            hex(&answer_seed(&request, Some(42))),
            "1ada214d99c043b5adff8b89f0618e7c53117b075db3c9884a6a9f5d44c76a4f"
        );
        let noise = gumbel_noise(&answer_seed(&request, None), 7, 4);
        let expected = [
            3.7760292619361295,
            0.6290820254846284,
            1.659314322282943,
            1.2883884197688207,
        ];
        for (got, want) in noise.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{noise:?}");
        }
    }

    #[test]
    fn greedy_takes_the_highest_logit_and_the_first_of_equals() {
        let sampler = SeededSampler::new(&Pubkey::default(), &sampling(None, None, None));
        assert!(sampler.is_greedy());
        assert_eq!(sampler.choose(3, &[0.5, 2.0, 2.0, f32::NAN]), Some(1));
        assert_eq!(sampler.margin(3, &[0.5, 2.0, 2.0], 0), 1.5);
        assert_eq!(sampler.margin(3, &[0.5, 2.0, 2.0], 9), f64::INFINITY);
    }

    #[test]
    fn a_token_outside_the_nucleus_is_never_chosen() {
        let sampler =
            SeededSampler::new(&Pubkey::new_unique(), &sampling(Some(1.0), Some(0.5), None));
        // Token 0 alone carries over half the mass.
        let logits = [5.0, 0.0, 0.0, 0.0];
        for position in 0..200 {
            assert_eq!(sampler.choose(position, &logits), Some(0));
            assert_eq!(sampler.margin(position, &logits, 1), f64::INFINITY);
        }
    }

    #[test]
    fn draws_follow_the_softmax_at_the_temperature() {
        let sampler = SeededSampler::new(&Pubkey::new_unique(), &sampling(Some(0.7), None, None));
        let logits = [1.0f32, 0.0, -1.0];
        let draws = 20_000;
        let mut counts = [0usize; 3];
        for position in 0..draws {
            counts[sampler.choose(position, &logits).unwrap() as usize] += 1;
        }
        let weights: Vec<f64> = logits.iter().map(|l| (f64::from(*l) / 0.7).exp()).collect();
        let total: f64 = weights.iter().sum();
        for (count, weight) in counts.iter().zip(&weights) {
            let expected = weight / total;
            let seen = *count as f64 / draws as f64;
            // Four standard deviations of a binomial proportion at 20,000 draws.
            let sigma = (expected * (1.0 - expected) / draws as f64).sqrt();
            assert!((seen - expected).abs() < 4.0 * sigma, "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn the_chosen_token_has_margin_zero_and_others_do_not(
            logits in proptest::collection::vec(-20.0f32..20.0, 1..64),
            position in 0u64..1_000_000,
            temperature in proptest::option::of(0.05f64..2.0),
            top_p in proptest::option::of(0.05f64..1.0),
            client_seed in proptest::option::of(any::<u64>()),
        ) {
            let sampler = SeededSampler::new(
                &Pubkey::new_from_array([9; 32]),
                &sampling(temperature, top_p, client_seed),
            );
            let chosen = sampler.choose(position, &logits).unwrap();
            prop_assert_eq!(sampler.margin(position, &logits, chosen), 0.0);
            for token in 0..logits.len() as u32 {
                if token != chosen {
                    prop_assert!(sampler.margin(position, &logits, token) >= 0.0);
                }
            }
        }
    }
}
