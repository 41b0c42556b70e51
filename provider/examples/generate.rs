//! mistral.rs alone, for comparison with what a client sees through the chain:
//! `cargo run -p chainference-provider --example generate -- MODEL_PATH [PROMPT] [MAX_TOKENS]`
//! prints the answer, then its tokens, the time to the first token and tokens per second.

use anchor_lang::prelude::Pubkey;
use chainference_client::envelope::{Compression, Message, PromptEnvelope, Sampling};
use chainference_client::sampling::SeededSampler;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};
use std::io::Write;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: generate MODEL_PATH [PROMPT] [MAX_TOKENS]"))?;
    let text = args
        .next()
        .unwrap_or_else(|| "What is a lighthouse for?".into());
    let max_tokens: u32 = args.next().map_or(Ok(200), |n| n.parse())?;
    let model = MistralModel {
        id: "model".into(),
        path: path.into(),
    };
    let engine = MistralEngine::load(&[model], 1).await?;
    let prompt = PromptEnvelope {
        messages: vec![
            Message {
                role: "system".into(),
                content: "You are a helpful assistant.".into(),
            },
            Message {
                role: "user".into(),
                content: text,
            },
        ],
        sampling: Sampling::default(),
        max_tokens,
        compression: Compression::Zstd,
    };
    let start = Instant::now();
    let mut steps = engine.generate(
        "model",
        &prompt,
        SeededSampler::new(&Pubkey::default(), &prompt.sampling),
        "",
        max_tokens,
    )?;
    let (mut tokens, mut first) = (0u32, None);
    while let Some(step) = steps.recv().await {
        match step {
            Generated::Text {
                text,
                tokens: count,
            } => {
                first.get_or_insert_with(|| start.elapsed());
                tokens += count;
                print!("{text}");
                std::io::stdout().flush()?;
            }
            Generated::Resumed { .. } => {}
            Generated::Done(_) => break,
            Generated::Failed(error) => anyhow::bail!(error),
        }
    }
    let total = start.elapsed().as_secs_f64();
    let first = first.unwrap_or_default().as_secs_f64();
    println!();
    eprintln!(
        "{tokens} tokens; first after {first:.2} s; {:.1} tokens/s overall, {:.1} after the first",
        f64::from(tokens) / total,
        f64::from(tokens.saturating_sub(1)) / (total - first).max(1e-9)
    );
    Ok(())
}
