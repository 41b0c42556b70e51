//! The whole loop with real inference: the tiny Llama through mistral.rs, greedy. The
//! client's decrypted answer equals, byte for byte, what mistral.rs generates for the same
//! prompt outside the chain, and every balance is exact to the lamport.

use crate::support::*;
use chainference::state::Request;
use chainference_client::ask::{ask, AskEvent, PROMPT_PIECE};
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
    let client_before = chain.balance(&client.pubkey()).await.unwrap();
    let provider_before = chain.balance(&provider.operator).await.unwrap();
    let mut text = String::new();
    let answered = ask(&chain, &client, &question, |event| {
        if let AskEvent::Text(piece) = event {
            text.push_str(&piece);
        }
    })
    .await
    .expect("answered");
    assert_eq!(
        text, expected,
        "byte for byte what mistral.rs generates alone"
    );
    assert_eq!(answered.answer_tokens, tokens);
    let bill = bill_for(20, 100_000, tokens, 300_000).unwrap();
    assert_eq!(answered.bill, bill);

    let request: Request = chain
        .account(&answered.request, "Request")
        .await
        .unwrap()
        .unwrap();
    let prompt_pieces = u64::from(request.prompt.bytes).div_ceil(PROMPT_PIECE as u64);
    let client_after = chain.balance(&client.pubkey()).await.unwrap();
    assert_eq!(
        client_before - client_after,
        SIGNATURE_FEE * (1 + prompt_pieces)
            + request.rent
            + counter_rent(&chain, &client.pubkey()).await
            + bill
    );
    let provider_after = chain.balance(&provider.operator).await.unwrap();
    assert_eq!(
        provider_after + SIGNATURE_FEE * (2 + u64::from(request.response.leaves)),
        provider_before + bill
    );
    provider.task.abort();
}
