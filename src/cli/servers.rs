//! `chainference servers`: every registered server, its models, load and record.

use super::{print_json, sol, Global, Output};
use anyhow::Result;
use chainference::state::Server;
use chainference_client::accounts::servers;
use serde_json::json;

/// A server's record as JSON.
pub fn record_json(server: &Server) -> serde_json::Value {
    let record = &server.reputation;
    json!({
        "completed": record.completed,
        "flagged": record.flagged,
        "failures": record.failures,
        "comparisons": record.comparisons,
        "preferred": record.preferred,
        "tokens_served": record.tokens_served,
        "lamports_earned": record.lamports_earned,
    })
}

/// `(completed − flagged) / completed` as a percentage, or "new".
pub fn success(server: &Server) -> String {
    let record = &server.reputation;
    if record.completed == 0 {
        "new".into()
    } else {
        let good = record.completed.saturating_sub(record.flagged);
        format!("{:.0}%", 100.0 * good as f64 / record.completed as f64)
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
            "{}  {}  load {}/{}  completed {}  success {}  failures {}  earned {}",
            server.operator,
            if server.active { "active" } else { "inactive" },
            server.active_locks,
            server.max_concurrent,
            server.reputation.completed,
            success(server),
            server.reputation.failures,
            sol(server.reputation.lamports_earned),
        );
        for model in &server.models {
            println!(
                "    {} ({} {})  in {} / out {} lamports per million tokens",
                model.id, model.revision, model.quantization, model.input_price, model.output_price
            );
        }
    }
    Ok(())
}
