//! What the website shows of the market, read from the Server accounts: each server with its
//! offers, load and record, and each model with its prices and how many servers are free now.
//! The same structs are the JSON of `/api/servers` and `/api/models` and the rows of the pages.

use anchor_lang::prelude::Pubkey;
use chainference::state::{ModelOffer, Server};
use chainference_client::market::{
    by_model, free_now, mean_first_chunk_secs, preference_ratio, success_ratio, tokens_per_second,
    Offer, LAMPORTS_PER_SOL,
};
use chainference_client::weights::digest_hex;
use serde::Serialize;

/// The market as of one read of the chain.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Market {
    /// The chain's clock (unix seconds) when it was read.
    pub as_of: i64,
    /// Every registered server, by account address.
    pub servers: Vec<ServerView>,
    /// Every model an active server offers, by id.
    pub models: Vec<ModelView>,
}

/// One registered server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerView {
    /// The Server account.
    pub address: String,
    /// The operator's wallet (who is paid).
    pub operator: String,
    /// Whether it takes new requests.
    pub active: bool,
    /// Free now: active, under its concurrency and active recently.
    pub free_now: bool,
    /// Its direct-delivery endpoint, if any.
    pub endpoint: String,
    /// Requests it holds locked now.
    pub locks: u16,
    /// The most it holds at once.
    pub max_concurrent: u16,
    /// When it registered (unix seconds).
    pub registered_at: i64,
    /// When it last registered, updated, locked or completed (unix seconds).
    pub last_active: i64,
    /// Its offers.
    pub models: Vec<OfferView>,
    /// Its record.
    pub record: RecordView,
}

/// One model a server offers, at its prices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfferView {
    /// Hugging Face model id.
    pub id: String,
    /// Hugging Face revision.
    pub revision: String,
    /// Quantization served.
    pub quantization: String,
    /// SHA-256 of the weights served, hex (`none`: not pinned).
    pub weights_sha256: String,
    /// Context length, tokens.
    pub context_length: u32,
    /// Prompt price.
    pub input_price: Price,
    /// Answer price.
    pub output_price: Price,
    /// The smallest stake it locks, lamports.
    pub min_stake: u64,
}

/// A price per million tokens, in lamports (as the program stores it) and in SOL.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Price {
    /// Lamports per million tokens.
    pub lamports_per_million: u64,
    /// SOL per million tokens.
    pub sol_per_million: f64,
}

impl Price {
    /// A price of `lamports` per million tokens.
    pub fn new(lamports_per_million: u64) -> Self {
        Self {
            lamports_per_million,
            sol_per_million: lamports_per_million as f64 / LAMPORTS_PER_SOL as f64,
        }
    }
}

/// A server's record: the counters and the ratios filters judge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordView {
    /// Answers completed and paid.
    pub completed: u64,
    /// Completed answers their clients flagged.
    pub flagged: u64,
    /// Requests it locked and failed to answer in time.
    pub failures: u64,
    /// Blind comparisons it took part in.
    pub comparisons: u64,
    /// Comparisons it won.
    pub preferred: u64,
    /// `(completed − flagged) / completed`, if it completed any.
    pub success_ratio: Option<f64>,
    /// The Wilson lower bound of the success ratio, basis points.
    pub success_lower_bps: u16,
    /// `preferred / comparisons`, if it was compared.
    pub preference_ratio: Option<f64>,
    /// The Wilson lower bound of the preference ratio, basis points.
    pub preference_lower_bps: u16,
    /// Answer tokens it was paid for.
    pub tokens_served: u64,
    /// Lamports it was paid.
    pub lamports_paid: u64,
    /// Mean seconds from lock to first chunk, over completed answers.
    pub mean_first_chunk_secs: Option<f64>,
    /// Tokens per second from lock to completion, over completed answers.
    pub tokens_per_second: Option<f64>,
}

/// One model, over the active servers offering it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelView {
    /// Hugging Face model id.
    pub id: String,
    /// Active servers offering it.
    pub servers: usize,
    /// Those free now.
    pub free_now: usize,
    /// Prompt prices: cheapest and median.
    pub input_price: PriceRange,
    /// Answer prices: cheapest and median.
    pub output_price: PriceRange,
    /// Each offer, cheapest answer price first.
    pub offers: Vec<ModelOfferView>,
}

/// The cheapest and the median of some prices.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PriceRange {
    /// The lowest.
    pub cheapest: Price,
    /// The middle one (the lower middle's and upper middle's mean, rounded down, for an
    /// even count).
    pub median: Price,
}

/// One server's offer of a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelOfferView {
    /// The Server account.
    pub server: String,
    /// The operator's wallet.
    pub operator: String,
    /// Hugging Face revision.
    pub revision: String,
    /// Quantization served.
    pub quantization: String,
    /// SHA-256 of the weights served, hex (`none`: not pinned).
    pub weights_sha256: String,
    /// Prompt price.
    pub input_price: Price,
    /// Answer price.
    pub output_price: Price,
    /// Whether the server is free now.
    pub free_now: bool,
    /// Its completed answers.
    pub completed: u64,
    /// The Wilson lower bound of its success ratio, basis points.
    pub success_lower_bps: u16,
}

impl Market {
    /// The market that `servers` make at chain time `now`.
    pub fn of(servers: &[(Pubkey, Server)], now: i64) -> Self {
        let models = by_model(servers)
            .into_iter()
            .filter_map(|(id, mut offers)| {
                offers.sort_cheapest_first();
                let rows: Vec<_> = offers
                    .offers
                    .iter()
                    .map(|offer| ModelOfferView::of(offer, now))
                    .collect();
                Some(ModelView {
                    id: id.to_string(),
                    servers: rows.len(),
                    free_now: offers.available(now),
                    input_price: offers.input_prices()?.into(),
                    output_price: offers.output_prices()?.into(),
                    offers: rows,
                })
            })
            .collect();
        Self {
            as_of: now,
            servers: servers
                .iter()
                .map(|(address, server)| ServerView::of(address, server, now))
                .collect(),
            models,
        }
    }

    /// The model `id`, if an active server offers it.
    pub fn model(&self, id: &str) -> Option<&ModelView> {
        self.models.iter().find(|model| model.id == id)
    }
}

impl ServerView {
    fn of(address: &Pubkey, server: &Server, now: i64) -> Self {
        Self {
            address: address.to_string(),
            operator: server.operator.to_string(),
            active: server.active,
            free_now: free_now(server, now),
            endpoint: server.endpoint.clone(),
            locks: server.active_locks,
            max_concurrent: server.max_concurrent,
            registered_at: server.registered_at,
            last_active: server.last_active,
            models: server.models.iter().map(OfferView::of).collect(),
            record: RecordView::of(server),
        }
    }
}

impl ModelOfferView {
    fn of(offer: &Offer<'_>, now: i64) -> Self {
        let Offer {
            address,
            server,
            model,
        } = *offer;
        Self {
            server: address.to_string(),
            operator: server.operator.to_string(),
            revision: model.revision.clone(),
            quantization: model.quantization.clone(),
            weights_sha256: digest_hex(&model.weights_sha256),
            input_price: Price::new(model.input_price),
            output_price: Price::new(model.output_price),
            free_now: free_now(server, now),
            completed: server.reputation.completed,
            success_lower_bps: server.reputation.success_lower_bps(),
        }
    }
}

impl OfferView {
    fn of(offer: &ModelOffer) -> Self {
        Self {
            id: offer.id.clone(),
            revision: offer.revision.clone(),
            quantization: offer.quantization.clone(),
            weights_sha256: digest_hex(&offer.weights_sha256),
            context_length: offer.context_length,
            input_price: Price::new(offer.input_price),
            output_price: Price::new(offer.output_price),
            min_stake: offer.min_stake,
        }
    }
}

impl RecordView {
    fn of(server: &Server) -> Self {
        let record = &server.reputation;
        Self {
            completed: record.completed,
            flagged: record.flagged,
            failures: record.failures,
            comparisons: record.comparisons,
            preferred: record.preferred,
            success_ratio: success_ratio(record),
            success_lower_bps: record.success_lower_bps(),
            preference_ratio: preference_ratio(record),
            preference_lower_bps: record.preference_lower_bps(),
            tokens_served: record.tokens_served,
            lamports_paid: record.lamports_earned,
            mean_first_chunk_secs: mean_first_chunk_secs(record),
            tokens_per_second: tokens_per_second(record),
        }
    }
}

impl From<chainference_client::market::PriceRange> for PriceRange {
    fn from(range: chainference_client::market::PriceRange) -> Self {
        Self {
            cheapest: Price::new(range.cheapest),
            median: Price::new(range.median),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainference::state::Reputation;

    fn server(operator: Pubkey, price: u64, locks: u16, last_active: i64) -> Server {
        Server {
            operator,
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
            reputation: Reputation {
                completed: 4,
                flagged: 1,
                tokens_served: 400,
                lamports_earned: 1_000,
                first_chunk_secs: 6,
                completion_secs: 100,
                ..Reputation::default()
            },
            bump: 0,
        }
    }

    #[test]
    fn a_model_has_its_cheapest_and_median_price_and_free_servers() {
        let now = 10_000;
        let servers: Vec<_> = [
            (300_000, 0, now),
            (100_000, 2, now),
            (
                200_000,
                0,
                now - 2 * chainference_client::market::RECENT_SECS,
            ),
            (500_000, 1, now - 10),
        ]
        .into_iter()
        .map(|(price, locks, last)| {
            let operator = Pubkey::new_unique();
            (Pubkey::new_unique(), server(operator, price, locks, last))
        })
        .collect();
        let market = Market::of(&servers, now);
        let model = market.model("org/model").expect("offered");
        assert_eq!(model.servers, 4);
        // Full (2 of 2 locks) and long idle are not free; the other two are.
        assert_eq!(model.free_now, 2);
        assert_eq!(model.output_price.cheapest.lamports_per_million, 100_000);
        assert_eq!(model.output_price.median.lamports_per_million, 250_000);
        assert_eq!(model.input_price.median.lamports_per_million, 125_000);
        assert_eq!(model.output_price.cheapest.sol_per_million, 0.0001);
        let prices: Vec<_> = model
            .offers
            .iter()
            .map(|offer| offer.output_price.lamports_per_million)
            .collect();
        assert_eq!(prices, [100_000, 200_000, 300_000, 500_000]);
        let record = &market.servers[0].record;
        assert_eq!(record.success_ratio, Some(0.75));
        assert_eq!(record.mean_first_chunk_secs, Some(1.5));
        assert_eq!(record.tokens_per_second, Some(4.0));
        assert_eq!(record.preference_ratio, None);
    }

    #[test]
    fn inactive_servers_offer_nothing() {
        let mut quiet = server(Pubkey::new_unique(), 1, 0, 0);
        quiet.active = false;
        let market = Market::of(&[(Pubkey::new_unique(), quiet)], 0);
        assert_eq!(market.servers.len(), 1);
        assert!(!market.servers[0].free_now);
        assert!(market.models.is_empty());
    }
}
