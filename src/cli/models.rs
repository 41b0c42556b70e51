//! `chainference models`: every model offered, with its prices, availability and the record
//! of the servers offering it.

use super::servers::{preference, success};
use super::{print_json, Global, Output};
use anyhow::Result;
use chainference_client::accounts::servers;
use chainference_client::market::{by_model, Offer};
use chainference_client::weights::digest_hex;
use serde_json::json;

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
                    "offers": offers.offers.iter().map(|&Offer { server, model: offer, .. }| json!({
                        "operator": server.operator.to_string(),
                        "revision": offer.revision,
                        "quantization": offer.quantization,
                        "weights_sha256": digest_hex(&offer.weights_sha256),
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
        for &Offer {
            server,
            model: offer,
            ..
        } in &offers.offers
        {
            println!(
                "    {}  {} {} weights {}  in {} / out {} lamports per million tokens  completed {}  success {}  preferred {}  failures {}  paid {}",
                server.operator,
                offer.revision,
                offer.quantization,
                digest_hex(&offer.weights_sha256),
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
