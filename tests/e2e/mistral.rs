//! The whole loop with real inference: the tiny Llama through mistral.rs, greedy. The
//! client's decrypted answer equals, byte for byte, what mistral.rs generates for the same
//! prompt outside the chain, and every balance is exact to the lamport.

use crate::support::*;
use chainference_prover::core::bill_for;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};
use solana_signer::Signer;
use std::sync::Arc;

const MODEL: &str = "test/tiny-llama";

/// What mistral.rs generates for `prompt` on its own: text, tokens, finish.
async fn alone(
    model: &MistralModel,
    prompt: &chainference_client::envelope::PromptEnvelope,
    max_tokens: u32,
) -> (String, u32) {
    let engine = MistralEngine::load(std::slice::from_ref(model), 1)
        .await
        .expect("the tiny model loads");
    let mut steps = engine
        .generate(MODEL, prompt, max_tokens)
        .expect("generation starts");
    let (mut text, mut tokens) = (String::new(), 0);
    while let Some(step) = steps.recv().await {
        match step {
            Generated::Text {
                text: piece,
                tokens: count,
            } => {
                text.push_str(&piece);
                tokens += count;
            }
            Generated::Done(_) => break,
            Generated::Failed(error) => panic!("mistral.rs failed: {error}"),
        }
    }
    (text, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tiny_model_answers_through_the_chain_as_it_does_alone() {
    let folder = tempfile::tempdir().unwrap();
    chainference_fixtures::write_tiny_llama(folder.path()).unwrap();
    let model = MistralModel {
        id: MODEL.into(),
        path: folder.path().to_path_buf(),
    };
    let max_tokens = 48;
    let question = question(
        MODEL,
        "the keeper wrote in his ledger",
        max_tokens,
        10_000_000,
    );
    let (expected, tokens) = alone(&model, &question.prompt, max_tokens).await;
    assert!(
        !expected.is_empty() && tokens > 0,
        "the model generated something"
    );

    let chain = chain().await;
    let engine = MistralEngine::load(&[model], 1)
        .await
        .expect("the tiny model loads");
    let provider = start_provider(
        &chain,
        settings(MODEL, 100_000, 300_000, 1),
        Arc::new(engine),
    )
    .await;
    let client = funded(&chain, 1_000_000_000).await;
    let before = Before::read(&chain, &client.pubkey(), &provider.operator).await;
    let (text, answered) = ask_text(&chain, &client, &question).await;
    assert_eq!(
        text, expected,
        "byte for byte what mistral.rs generates alone"
    );
    assert_eq!(answered.answer_tokens, tokens);
    let bill = bill_for(20, 100_000, tokens, 300_000).unwrap();
    assert_eq!(answered.bill, bill);

    before
        .assert_settled(
            &chain,
            &client.pubkey(),
            &provider.operator,
            &answered.request,
            bill,
        )
        .await;
    provider.task.abort();
}
