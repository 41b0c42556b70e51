//! `chainference models`: every model offered, with its prices, availability and the record
//! of the servers offering it.

use super::servers::{preference, success};
use super::{print_json, Global, Output};
use anchor_lang::prelude::Pubkey;
use anyhow::Result;
use chainference::state::{ModelOffer, Server};
use chainference_client::accounts::servers;
use serde_json::json;
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

/// One model's offers, by server.
pub struct Offers<'a> {
    /// Servers offering it (account address and account), with their offer.
    pub offers: Vec<(&'a Pubkey, &'a Server, &'a ModelOffer)>,
}

impl Offers<'_> {
    /// Servers that could lock a request now (see [`free_now`]).
    pub fn available(&self, now: i64) -> usize {
        self.offers
            .iter()
            .filter(|(_, server, _)| free_now(server, now))
            .count()
    }
}

/// Groups the active servers' offers by model id.
pub fn by_model(list: &[(Pubkey, Server)]) -> BTreeMap<&str, Offers<'_>> {
    let mut models: BTreeMap<&str, Offers<'_>> = BTreeMap::new();
    for (address, server) in list.iter().filter(|(_, server)| server.active) {
        for offer in &server.models {
            models
                .entry(offer.id.as_str())
                .or_insert_with(|| Offers { offers: Vec::new() })
                .offers
                .push((address, server, offer));
        }
    }
    models
}

/// Lists the models.
pub async fn run(global: &Global) -> Result<()> {
    let chain = global.chain().await?;
    let list = servers(&chain).await?;
    let now = chain.now().await?;
    let models = by_model(&list);
    if global.output == Output::Json {
        let entries: Vec<_> = models
            .iter()
            .map(|(id, offers)| {
                json!({
                    "model": id,
                    "available": offers.available(now),
                    "offers": offers.offers.iter().map(|(_, server, offer)| json!({
                        "operator": server.operator.to_string(),
                        "revision": offer.revision,
                        "quantization": offer.quantization,
                        "context_length": offer.context_length,
                        "input_price": offer.input_price,
                        "output_price": offer.output_price,
                        "min_stake": offer.min_stake,
                        "record": super::servers::record_json(server),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&json!(entries));
        return Ok(());
    }
    if models.is_empty() {
        println!("No model is offered on this cluster.");
        return Ok(());
    }
    for (id, offers) in &models {
        println!(
            "{id}  ({} of {} servers available now)",
            offers.available(now),
            offers.offers.len()
        );
        for (_, server, offer) in &offers.offers {
            println!(
                "    {}  in {} / out {} lamports per million tokens  completed {}  success {}  preferred {}  failures {}  paid {}",
                server.operator,
                offer.input_price,
                offer.output_price,
                server.reputation.completed,
                success(server),
                preference(server),
                server.reputation.failures,
                super::sol(server.reputation.lamports_earned),
            );
        }
    }
    Ok(())
}
