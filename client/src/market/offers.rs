//! The market as the Server accounts make it: each model's offers, which servers are free now,
//! the spread of prices and what a server's record says of its speed and quality.

use anchor_lang::prelude::Pubkey;
use chainference::state::{bill_for, Filters, ModelOffer, Reputation, Server};
use std::collections::BTreeMap;

/// How long after its last lock, completion or update a server still counts as present
/// (providers refresh `last_active` while idle more often than this).
pub const RECENT_SECS: i64 = 3_600;

/// Whether `server` could lock a request now (chain time `now`): active, below its
/// concurrency and active within [`RECENT_SECS`].
pub fn free_now(server: &Server, now: i64) -> bool {
    server.active
        && server.active_locks < server.max_concurrent
        && now.saturating_sub(server.last_active) <= RECENT_SECS
}

/// One server's offer of a model.
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    /// The Server account's address.
    pub address: &'a Pubkey,
    /// The Server account.
    pub server: &'a Server,
    /// What it offers the model at.
    pub model: &'a ModelOffer,
}

/// One model's offers, by server.
#[derive(Clone, Debug)]
pub struct Offers<'a> {
    /// The active servers offering it, in the order of the list they came from.
    pub offers: Vec<Offer<'a>>,
}

impl<'a> Offers<'a> {
    /// Servers that could lock a request now (see [`free_now`]).
    pub fn available(&self, now: i64) -> usize {
        self.offers
            .iter()
            .filter(|offer| free_now(offer.server, now))
            .count()
    }

    /// Orders the offers by answer price, cheapest first (equal prices keep their order).
    pub fn sort_cheapest_first(&mut self) {
        self.offers.sort_by_key(|offer| offer.model.output_price);
    }

    /// The cheapest and median prompt prices; `None` without offers.
    pub fn input_prices(&self) -> Option<PriceRange> {
        PriceRange::of(self.offers.iter().map(|offer| offer.model.input_price))
    }

    /// The cheapest and median answer prices; `None` without offers.
    pub fn output_prices(&self) -> Option<PriceRange> {
        PriceRange::of(self.offers.iter().map(|offer| offer.model.output_price))
    }

    /// The offers of servers in `allowed` (empty: any) whose record meets `filters`.
    pub fn admitted(&self, allowed: &[Pubkey], filters: &Filters) -> Vec<Offer<'a>> {
        self.offers
            .iter()
            .filter(|offer| allowed.is_empty() || allowed.contains(&offer.server.operator))
            .filter(|offer| filters.admit(&offer.server.reputation).is_ok())
            .copied()
            .collect()
    }
}

/// The least stake, in lamports, any of `offers` takes for `prompt_tokens` and `answer_tokens`:
/// its worst bill or its minimum stake, whichever is more (`u64::MAX` if none is computable).
pub fn cheapest_stake(offers: &[Offer<'_>], prompt_tokens: u32, answer_tokens: u32) -> u64 {
    offers
        .iter()
        .filter_map(|offer| {
            bill_for(
                prompt_tokens,
                offer.model.input_price,
                answer_tokens,
                offer.model.output_price,
            )
            .map(|bill| bill.max(offer.model.min_stake))
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// Groups the active servers' offers by model id.
pub fn by_model(list: &[(Pubkey, Server)]) -> BTreeMap<&str, Offers<'_>> {
    let mut models: BTreeMap<&str, Offers<'_>> = BTreeMap::new();
    for (address, server) in list.iter().filter(|(_, server)| server.active) {
        for model in &server.models {
            models
                .entry(model.id.as_str())
                .or_insert_with(|| Offers { offers: Vec::new() })
                .offers
                .push(Offer {
                    address,
                    server,
                    model,
                });
        }
    }
    models
}

/// The cheapest and the median of some prices, lamports per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceRange {
    /// The lowest.
    pub cheapest: u64,
    /// The middle one (the lower middle's and upper middle's mean, rounded down, for an even
    /// count).
    pub median: u64,
}

impl PriceRange {
    /// The cheapest and median of `prices`; `None` if there are none.
    pub fn of(prices: impl Iterator<Item = u64>) -> Option<Self> {
        let mut prices: Vec<u64> = prices.collect();
        prices.sort_unstable();
        let cheapest = *prices.first()?;
        let middle = prices.len() / 2;
        let median = if prices.len() % 2 == 1 {
            prices[middle]
        } else {
            // Mean of the two middle values without overflow.
            let (low, high) = (prices[middle - 1], prices[middle]);
            low + (high - low) / 2
        };
        Some(Self { cheapest, median })
    }
}

/// `(completed − flagged) / completed`, if the server completed any answer.
pub fn success_ratio(record: &Reputation) -> Option<f64> {
    ratio(
        record.completed.saturating_sub(record.flagged),
        record.completed,
    )
}

/// `preferred / comparisons`, if the server was ever compared.
pub fn preference_ratio(record: &Reputation) -> Option<f64> {
    ratio(record.preferred, record.comparisons)
}

/// `part / whole`, if `whole` is not 0.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Mean seconds from lock to first chunk over completed answers.
pub fn mean_first_chunk_secs(record: &Reputation) -> Option<f64> {
    ratio(record.first_chunk_secs, record.completed)
}

/// Tokens served per second from lock to completion, over completed answers.
pub fn tokens_per_second(record: &Reputation) -> Option<f64> {
    ratio(record.tokens_served, record.completion_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(price: u64, locks: u16, last_active: i64) -> Server {
        Server {
            operator: Pubkey::new_unique(),
            active: true,
            models: vec![ModelOffer {
                id: "org/model".into(),
                revision: "main".into(),
                quantization: "Q4_K_M".into(),
                weights_sha256: [7; 32],
                context_length: 2_048,
                input_price: price / 2,
                output_price: price,
                min_stake: 0,
            }],
            endpoint: String::new(),
            max_concurrent: 2,
            active_locks: locks,
            trees: Vec::new(),
            registered_at: 0,
            last_active,
            reputation: Reputation::default(),
            bump: 0,
        }
    }

    #[test]
    fn offers_group_by_model_and_count_the_servers_free_now() {
        let now = 10_000;
        let list: Vec<_> = [
            (300_000, 0, now),
            (100_000, 2, now),
            (200_000, 0, now - 2 * RECENT_SECS),
            (500_000, 1, now - 10),
        ]
        .into_iter()
        .map(|(price, locks, last)| (Pubkey::new_unique(), server(price, locks, last)))
        .collect();
        let mut models = by_model(&list);
        let offers = models.get_mut("org/model").expect("offered");
        // Full (2 of 2 locks) and long idle are not free; the other two are.
        assert_eq!(offers.available(now), 2);
        offers.sort_cheapest_first();
        let prices: Vec<_> = offers.offers.iter().map(|o| o.model.output_price).collect();
        assert_eq!(prices, [100_000, 200_000, 300_000, 500_000]);
        let output = offers.output_prices().expect("prices");
        assert_eq!((output.cheapest, output.median), (100_000, 250_000));
        assert_eq!(offers.input_prices().expect("prices").median, 125_000);
    }

    #[test]
    fn inactive_servers_offer_nothing() {
        let mut quiet = server(1, 0, 0);
        quiet.active = false;
        assert!(by_model(&[(Pubkey::new_unique(), quiet)]).is_empty());
    }

    #[test]
    fn the_median_of_one_price_is_that_price() {
        let range = PriceRange::of([u64::MAX].into_iter()).expect("one");
        assert_eq!(range.median, u64::MAX);
        let range = PriceRange::of([u64::MAX, u64::MAX - 2].into_iter()).expect("two");
        assert_eq!(range.median, u64::MAX - 1);
        assert!(PriceRange::of(std::iter::empty()).is_none());
    }

    #[test]
    fn a_record_gives_its_ratios_and_speed() {
        let record = Reputation {
            completed: 4,
            flagged: 1,
            tokens_served: 400,
            first_chunk_secs: 6,
            completion_secs: 100,
            ..Reputation::default()
        };
        assert_eq!(success_ratio(&record), Some(0.75));
        assert_eq!(preference_ratio(&record), None);
        assert_eq!(mean_first_chunk_secs(&record), Some(1.5));
        assert_eq!(tokens_per_second(&record), Some(4.0));
        assert_eq!(success_ratio(&Reputation::default()), None);
    }
}
