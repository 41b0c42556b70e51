//! `chainference servers`: every registered server, its models, load and record.

use super::{print_json, sol, Global, Output};
use anyhow::Result;
use chainference::state::Server;
use chainference_client::accounts::servers;
use chainference_client::market::{
    mean_first_chunk_secs, preference_ratio, success_ratio, tokens_per_second,
};
use chainference_client::weights::digest_hex;
use serde_json::json;

/// A server's record as JSON: the counters, the ratios with their Wilson lower bounds (what
/// request filters judge), the lamports paid and its speed.
pub fn record_json(server: &Server) -> serde_json::Value {
    let record = &server.reputation;
    json!({
        "completed": record.completed,
        "flagged": record.flagged,
        "failures": record.failures,
        "comparisons": record.comparisons,
        "preferred": record.preferred,
        "success_lower_bps": record.success_lower_bps(),
        "preference_lower_bps": record.preference_lower_bps(),
        "failure_bps": record.failure_bps(),
        "tokens_served": record.tokens_served,
        "lamports_earned": record.lamports_earned,
        "mean_first_chunk_secs": mean_first_chunk_secs(record),
        "tokens_per_second": tokens_per_second(record),
    })
}

/// The preference ratio `preferred / comparisons` with its Wilson lower bound, or "none".
pub fn preference(server: &Server) -> String {
    let record = &server.reputation;
    match preference_ratio(record) {
        None => "none".into(),
        Some(ratio) => format!(
            "{:.0}% (≥{:.0}%) of {}",
            100.0 * ratio,
            f64::from(record.preference_lower_bps()) / 100.0,
            record.comparisons
        ),
    }
}

/// `(completed − flagged) / completed` as a percentage with its Wilson lower bound (what
/// filters judge), or "new".
pub fn success(server: &Server) -> String {
    let record = &server.reputation;
    match success_ratio(record) {
        None => "new".into(),
        Some(ratio) => format!(
            "{:.0}% (≥{:.0}%)",
            100.0 * ratio,
            f64::from(record.success_lower_bps()) / 100.0
        ),
    }
}

/// Lists the servers.
pub async fn run(global: &Global) -> Result<()> {
    let chain = global.chain().await?;
    let list = servers(&chain).await?;
    if global.output == Output::Json {
        let entries: Vec<_> = list
            .iter()
            .map(|(address, server)| {
                json!({
                    "address": address.to_string(),
                    "operator": server.operator.to_string(),
                    "active": server.active,
                    "endpoint": server.endpoint,
                    "max_concurrent": server.max_concurrent,
                    "active_locks": server.active_locks,
                    "models": server.models.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
                    "offers": server.models.iter().map(|m| json!({
                        "id": m.id,
                        "revision": m.revision,
                        "quantization": m.quantization,
                        "weights_sha256": digest_hex(&m.weights_sha256),
                    })).collect::<Vec<_>>(),
                    "record": record_json(server),
                })
            })
            .collect();
        print_json(&json!(entries));
        return Ok(());
    }
    if list.is_empty() {
        println!("No servers are registered on this cluster.");
        return Ok(());
    }
    for (_, server) in &list {
        println!(
            "{}  {}  load {}/{}  completed {}  success {}  preferred {}  failures {}  paid {}",
            server.operator,
            if server.active { "active" } else { "inactive" },
            server.active_locks,
            server.max_concurrent,
            server.reputation.completed,
            success(server),
            preference(server),
            server.reputation.failures,
            sol(server.reputation.lamports_earned),
        );
        if let (Some(first), Some(speed)) = (
            mean_first_chunk_secs(&server.reputation),
            tokens_per_second(&server.reputation),
        ) {
            println!("    first chunk after {first:.1} s on average, {speed:.1} tokens/s lock to completion");
        }
        for model in &server.models {
            println!(
                "    {} ({} {}, weights sha256 {})  in {} / out {} lamports per million tokens",
                model.id,
                model.revision,
                model.quantization,
                digest_hex(&model.weights_sha256),
                model.input_price,
                model.output_price
            );
        }
    }
    Ok(())
}
