//! Re-scoring an answer against the weights its offer pinned (design §12): with the model's
//! logits at every answer position (the answer's tokens forced), each claimed token is scored
//! under the answer's [`SeededSampler`], and the scores add up to a verdict.
//!
//! The statistic is Token-DiFR's (Karvonen et al., arXiv 2511.20621): with the sampling seed
//! shared, an honest server's token is, at almost every position, exactly the one the
//! re-scorer's sampler chooses (margin 0), and where float noise (other kernels, threads or
//! batch shapes) flips a near-tie, it falls short by a hair. A substitute model shifts the
//! logits, so its tokens fall short of the choice by real margins. An answer is inconsistent
//! when any token falls short by [`FAR_MARGIN`] or more (a choice the pinned weights would not
//! make), or when its margins, each capped at [`MARGIN_CAP`], average over [`MAX_MEAN_MARGIN`]
//! (many small shifts). `chainference bench replay` measures both on honest answers and on
//! substitutes.

use crate::sampling::SeededSampler;
use serde::{Deserialize, Serialize};

/// Answers shorter than this are too short to tell.
pub const MIN_TOKENS: usize = 32;
/// A margin counts at most this much toward the mean (in units of the sampler's scores).
pub const MARGIN_CAP: f64 = 5.0;
/// Most mean capped margin an answer may show and be consistent.
pub const MAX_MEAN_MARGIN: f64 = 0.25;
/// A token this far (or farther) below the choice is not one the pinned weights would take.
pub const FAR_MARGIN: f64 = 1.0;

/// One claimed token, scored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenScore {
    /// The token id.
    pub token: u32,
    /// Its rank under the model's logits (1: the most likely; ties share the better rank).
    pub rank: u32,
    /// Its log-probability (natural) under the sampler's distribution: `softmax(l / T)`, or
    /// `softmax(l)` for a greedy answer.
    pub logprob: f64,
    /// How far it falls short of the sampler's choice ([`SeededSampler::margin`]; a token
    /// outside the nucleus or the vocabulary: `f64::MAX`, so it stays a number in JSON).
    pub margin: f64,
}

/// Scores `token` at answer `position` given the model's `logits` there.
pub fn score_token(
    sampler: &SeededSampler,
    position: u64,
    logits: &[f32],
    token: u32,
) -> TokenScore {
    let claimed = logits
        .get(token as usize)
        .copied()
        .filter(|logit| !logit.is_nan())
        .unwrap_or(f32::NEG_INFINITY);
    let better = logits.iter().filter(|&&logit| logit > claimed).count();
    let temperature = sampler.temperature().max(f64::MIN_POSITIVE);
    let scale = if sampler.is_greedy() {
        1.0
    } else {
        temperature
    };
    let scaled = |logit: f32| f64::from(logit) / scale;
    let max = logits
        .iter()
        .filter(|logit| !logit.is_nan())
        .map(|&logit| scaled(logit))
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = logits
        .iter()
        .filter(|logit| !logit.is_nan())
        .map(|&logit| (scaled(logit) - max).exp())
        .sum();
    TokenScore {
        token,
        rank: u32::try_from(better + 1).unwrap_or(u32::MAX),
        logprob: scaled(claimed) - max - total.ln(),
        margin: sampler.margin(position, logits, token).min(f64::MAX),
    }
}

/// What re-scoring concluded about one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer is what the pinned weights give for this prompt and seed.
    Consistent,
    /// Its tokens fall short of the pinned weights' choices beyond honest float noise.
    Inconsistent,
    /// Under [`MIN_TOKENS`] tokens.
    TooShortToTell,
}

/// One answer's scores, summed up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rescored {
    /// Tokens scored.
    pub tokens: usize,
    /// Tokens that are the model's own choice under the seed (margin 0).
    pub own_choice: usize,
    /// Tokens at least [`FAR_MARGIN`] below the choice.
    pub far: usize,
    /// Claimed tokens by rank under the logits: 1, 2 to 5, 6 to 50, over 50.
    pub ranks: [usize; 4],
    /// Mean log-probability of the claimed tokens.
    pub mean_logprob: f64,
    /// Mean margin, each capped at [`MARGIN_CAP`].
    pub mean_margin: f64,
    /// The position (in the answer) and score of the token that falls shortest.
    pub worst: Option<(usize, TokenScore)>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Rescored {
    /// Sums up an answer's token `scores`.
    pub fn of(scores: &[TokenScore]) -> Self {
        let tokens = scores.len();
        let mut ranks = [0usize; 4];
        for score in scores {
            let bucket = match score.rank {
                1 => 0,
                2..=5 => 1,
                6..=50 => 2,
                _ => 3,
            };
            ranks[bucket] += 1;
        }
        let mean = |sum: f64| {
            if tokens == 0 {
                0.0
            } else {
                sum / tokens as f64
            }
        };
        let mean_margin = mean(scores.iter().map(|s| s.margin.min(MARGIN_CAP)).sum());
        let worst = scores
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, score)| score.margin > 0.0)
            .max_by(|(_, a), (_, b)| a.margin.total_cmp(&b.margin));
        let far = scores.iter().filter(|s| s.margin >= FAR_MARGIN).count();
        let verdict = if tokens < MIN_TOKENS {
            Verdict::TooShortToTell
        } else if far > 0 || mean_margin > MAX_MEAN_MARGIN {
            Verdict::Inconsistent
        } else {
            Verdict::Consistent
        };
        Self {
            tokens,
            own_choice: scores.iter().filter(|s| s.margin == 0.0).count(),
            far,
            ranks,
            mean_logprob: mean(scores.iter().map(|s| s.logprob).sum()),
            mean_margin,
            worst,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Sampling;
    use anchor_lang::prelude::Pubkey;

    fn greedy() -> SeededSampler {
        SeededSampler::new(&Pubkey::default(), &Sampling::default())
    }

    #[test]
    fn a_token_is_ranked_and_weighed_under_the_logits() {
        let logits = [2.0f32, 0.0, 2.0, -1.0];
        let score = score_token(&greedy(), 5, &logits, 1);
        assert_eq!((score.rank, score.margin), (3, 2.0));
        let total: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((score.logprob - (1.0 / total).ln()).abs() < 1e-12);
        assert_eq!(score_token(&greedy(), 5, &logits, 2).rank, 1);
        assert_eq!(score_token(&greedy(), 5, &logits, 9).margin, f64::MAX);
    }

    fn scores(count: usize, margin: f64) -> Vec<TokenScore> {
        (0..count)
            .map(|i| TokenScore {
                token: i as u32,
                rank: if margin == 0.0 { 1 } else { 7 },
                logprob: -0.5,
                margin,
            })
            .collect()
    }

    #[test]
    fn the_verdict_follows_the_mean_capped_margin_and_the_length() {
        assert_eq!(
            Rescored::of(&scores(MIN_TOKENS - 1, 9.0)).verdict,
            Verdict::TooShortToTell
        );
        let honest = Rescored::of(&scores(100, 0.0));
        assert_eq!(
            (honest.verdict, honest.own_choice, honest.ranks),
            (Verdict::Consistent, 100, [100, 0, 0, 0])
        );
        assert_eq!(honest.worst, None);
        // Float noise at a near-tie: a hair below the choice, still consistent.
        let mut noise = scores(100, 0.0);
        noise[40].margin = 1e-4;
        let rescored = Rescored::of(&noise);
        assert_eq!(
            (rescored.verdict, rescored.own_choice, rescored.far),
            (Verdict::Consistent, 99, 0)
        );
        assert_eq!(rescored.worst.map(|(at, _)| at), Some(40));
        // One token the weights would not choose condemns the answer.
        let mut forced = scores(100, 0.0);
        forced[70].margin = FAR_MARGIN;
        assert_eq!(Rescored::of(&forced).verdict, Verdict::Inconsistent);
        // Many small shifts do too.
        let substitute = Rescored::of(&scores(100, 0.3));
        assert_eq!(
            (substitute.verdict, substitute.far, substitute.ranks[2]),
            (Verdict::Inconsistent, 0, 100)
        );
    }
}
