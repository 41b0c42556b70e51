//! The whole loop with real inference: the tiny Llama through mistral.rs, greedy. The
//! client's decrypted answer equals, byte for byte, what mistral.rs generates for the same
//! prompt outside the chain, and every balance is exact to the lamport.

use crate::scenario::scenario;
use crate::support::*;
use chainference::state::Request;
use chainference_client::ask::open_sealed_prompt;
use chainference_client::ledger::{history_of, sealed_prompt};
use chainference_prover::core::bill_for;
use chainference_provider::checkpoint::Checkpoint;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};
use chainference_provider::resume::read_posted;
use std::sync::Arc;

const MODEL: &str = "test/tiny-llama";

/// What mistral.rs generates for `prompt` on its own, going on from `delivered`: the text,
/// its tokens, and the tokens `delivered` counts as.
async fn alone(
    model: &MistralModel,
    prompt: &chainference_client::envelope::PromptEnvelope,
    delivered: &str,
    max_tokens: u32,
) -> (String, u32, u32) {
    let engine = MistralEngine::load(std::slice::from_ref(model), 1)
        .await
        .expect("the tiny model loads");
    let mut steps = engine
        .generate(&model.id, prompt, delivered, max_tokens)
        .expect("generation starts");
    let (mut text, mut tokens, mut resumed) = (String::new(), 0, 0);
    while let Some(step) = steps.recv().await {
        match step {
            Generated::Text {
                text: piece,
                tokens: count,
            } => {
                text.push_str(&piece);
                tokens += count;
            }
            Generated::Resumed { tokens: count } => resumed = count,
            Generated::Done(_) => break,
            Generated::Failed(error) => panic!("mistral.rs failed: {error}"),
        }
    }
    (text, tokens, resumed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tiny_model_answers_through_the_chain_as_it_does_alone() {
    let folder = tempfile::tempdir().unwrap();
    chainference_fixtures::write_tiny_llama(folder.path()).unwrap();
    let model = MistralModel {
        id: MODEL.into(),
        path: folder.path().to_path_buf(),
    };
    let (text, max_tokens) = ("the keeper wrote in his ledger", 48);
    let (expected, tokens, _) = alone(&model, &prompt(text, max_tokens), "", max_tokens).await;
    assert!(
        !expected.is_empty() && tokens > 0,
        "the model generated something"
    );

    let engine = MistralEngine::load(&[model], 1)
        .await
        .expect("the tiny model loads");
    let (scenario, answer) = scenario(MODEL)
        .engine(engine)
        .max_concurrent(1)
        .asking(text, max_tokens)
        .answered()
        .await;
    assert_eq!(
        answer.text, expected,
        "byte for byte what mistral.rs generates alone"
    );
    assert_eq!(answer.answered.answer_tokens, tokens);
    let bill = bill_for(20, 100_000, tokens, 300_000).unwrap();
    assert_eq!(answer.answered.bill, bill);
    scenario.assert_settled(&answer, bill).await;
    scenario.provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tiny_model_answer_goes_on_from_its_delivered_start_after_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    chainference_fixtures::write_tiny_llama(folder.path()).unwrap();
    let model = MistralModel {
        id: "test/tiny-llama-restart".into(),
        path: folder.path().to_path_buf(),
    };
    let max_tokens = 64;
    let chain = chain().await;
    let engine: Arc<dyn Engine> = Arc::new(
        MistralEngine::load(std::slice::from_ref(&model), 1)
            .await
            .expect("the tiny model loads"),
    );
    let settings = settings(&model.id, 100_000, 300_000, 1);
    let operator = funded(&chain, 3_000_000_000).await;
    let (reached, mut held) = tokio::sync::mpsc::unbounded_channel();
    let first_batch =
        |checkpoint: &Checkpoint| matches!(checkpoint, Checkpoint::BatchConfirmed { .. });
    let provider = serve(
        &chain,
        &operator,
        settings.clone(),
        engine.clone(),
        Some(hold_where(first_batch, reached)),
    )
    .await;
    let client = Arc::new(funded(&chain, 1_000_000_000).await);
    let mut question = question(
        &model.id,
        "the keeper wrote in his ledger",
        max_tokens,
        10_000_000,
    );
    question.terms.time_limit_secs = 400; // room for the restart's wait
    let asking = {
        let (chain, client, question) = (chain.clone(), client.clone(), question.clone());
        tokio::spawn(async move { ask_text(&chain, &client, &question).await })
    };
    let request = held.recv().await.expect("the first batch is confirmed");
    provider.task.abort(); // killed mid-answer
    let _ = provider.task.await;

    // What the client was shown before the kill, read back from the ledger with its key.
    let account: Request = chain.account(&request, "Request").await.unwrap().unwrap();
    let history = history_of(&chain, &request).await.unwrap();
    let (key, prompt) = open_sealed_prompt(
        &chain,
        &client,
        &request,
        account.lock.server_key,
        &sealed_prompt(&history),
    )
    .unwrap();
    let posted = read_posted(&chain, &request, &account, key, prompt.compression)
        .await
        .unwrap();
    assert!(
        !posted.text.is_empty() && !posted.cursor.finished,
        "killed mid-answer"
    );
    let (rest, new_tokens, delivered_tokens) =
        alone(&model, &question.prompt, &posted.text, max_tokens).await;

    let restarted = serve(&chain, &operator, settings, engine, None).await;
    let (text, answered) = asking.await.expect("the client task");
    assert_eq!(
        text,
        format!("{}{rest}", posted.text),
        "the delivered start, then what mistral.rs continues it with"
    );
    assert_eq!(
        answered.answer_tokens,
        posted.cursor.tokens.min(delivered_tokens) + new_tokens,
        "billed for the tokens delivered, none twice"
    );
    assert_eq!(
        answered.bill,
        bill_for(20, 100_000, answered.answer_tokens, 300_000).unwrap()
    );
    restarted.task.abort();
}
