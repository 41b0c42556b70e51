//! The whole loop with real inference: the tiny Llama through mistral.rs. A greedy answer
//! equals, byte for byte, what mistral.rs generates for the same prompt outside the chain, and
//! every balance is exact to the lamport; a sampled answer re-scores consistent with the
//! weights its lock pinned, and no other weights are taken, by the auditor or the provider; a
//! server that answers with a substitute under SmolLM2's pin is caught, its far tokens confirmed
//! on the pinned file's own quantized kernels.

use crate::scenario::scenario;
use crate::support::*;
use anchor_lang::prelude::Pubkey;
use chainference::state::Request;
use chainference_client::ask::open_sealed_prompt;
use chainference_client::claims::SPECIAL_TOKEN_ALLOWANCE;
use chainference_client::ledger::{history_of, sealed_prompt};
use chainference_client::sampling::SeededSampler;
use chainference_prover::core::bill_for;
use chainference_provider::checkpoint::Checkpoint;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};
use chainference_provider::resume::read_posted;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

const MODEL: &str = "test/tiny-llama";

/// What mistral.rs generates for `request`'s `prompt` on its own, going on from `delivered`:
/// the text, its tokens, and the tokens `delivered` counts as.
pub(crate) async fn alone(
    model: &MistralModel,
    request: &Pubkey,
    prompt: &chainference_client::envelope::PromptEnvelope,
    delivered: &str,
    max_tokens: u32,
) -> (String, u32, u32) {
    let engine = MistralEngine::load(std::slice::from_ref(model), 1)
        .await
        .expect("the tiny model loads");
    let mut steps = engine
        .generate(
            &model.id,
            prompt,
            SeededSampler::new(request, &prompt.sampling),
            delivered,
            max_tokens,
        )
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
    let (expected, tokens, _) = alone(
        &model,
        &Pubkey::default(),
        &prompt(text, max_tokens),
        "",
        max_tokens,
    )
    .await;
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
        alone(&model, &request, &question.prompt, &posted.text, max_tokens).await;

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

/// The tiny Llama written into a new folder; with `tampered`, one weight's last byte changed
/// (still a model that loads, with other weights).
fn tiny_llama_folder(tampered: bool) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    chainference_fixtures::write_tiny_llama(folder.path()).unwrap();
    if tampered {
        let path = folder.path().join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(last) = bytes.last_mut() {
            *last ^= 1;
        }
        std::fs::write(&path, bytes).unwrap();
    }
    folder
}

fn hex(digest: &[u8; 32]) -> String {
    chainference_client::weights::digest_hex(digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sampled_answer_re_scores_consistent_with_the_weights_its_lock_pinned() {
    let weights = tiny_llama_folder(false);
    let model = MistralModel {
        id: "test/tiny-llama-replay".into(),
        path: weights.path().to_path_buf(),
    };
    let pinned = chainference_client::weights::weights_digest(weights.path()).unwrap();
    let engine = MistralEngine::load(std::slice::from_ref(&model), 1)
        .await
        .expect("the tiny model loads");
    // A fixed client, so the request, its seed and the answer are the same in every run (a
    // random one drew, once in a while, an answer too short to judge).
    let scenario = scenario(&model.id)
        .engine(engine)
        .max_concurrent(1)
        .asking("the keeper wrote in his ledger", 48)
        .client(Keypair::new_from_array([22; 32]))
        .start()
        .await;
    let mut question = scenario.question.clone();
    question.prompt.sampling.temperature = Some(0.8);
    let answer = scenario.ask_with(&question).await;
    let request = answer.answered.request.to_string();

    // The offer pins what the engine loaded, as `models` shows it.
    let models = chainference(&["models", "--output", "json"]);
    let models = json_of(&models);
    let offer = models
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["model"] == model.id.as_str())
        .expect("the model is listed");
    assert_eq!(offer["offers"][0]["weights_sha256"], hex(&pinned).as_str());

    // The client discloses this request's key; an auditor re-scores the answer with it.
    let (_keys, key) = keypair_file(&scenario.client);
    let disclosed = chainference(&[
        "-k",
        key.to_str().unwrap(),
        "disclose",
        &request,
        "--output",
        "json",
    ]);
    let disclosed = json_of(&disclosed);
    let request_key = disclosed["request_key"].as_str().unwrap().to_string();
    crate::wait::finalized_history(&scenario.chain, &answer.answered.request).await;
    let audit = |weights: &std::path::Path| {
        chainference(&[
            "audit",
            &request,
            "--request-key",
            &request_key,
            "--replay",
            weights.to_str().unwrap(),
            "--output",
            "json",
        ])
    };
    let replayed = audit(weights.path());
    let report = json_of(&replayed);
    let summary = &report["replay"]["summary"];
    assert_eq!(report["answer"], answer.text.as_str());
    let served = u64::from(answer.answered.answer_tokens);
    assert_eq!(
        summary["verdict"], "consistent",
        "{summary}, {served} tokens served"
    );
    // Every served token with text is scored (a special token after the last text is not).
    let scored = summary["tokens"].as_u64().unwrap();
    assert!(
        scored <= served && scored + SPECIAL_TOKEN_ALLOWANCE >= served,
        "{scored} of {served}"
    );
    assert_eq!(summary["own_choice"], summary["tokens"], "{summary}");

    // Other weights are refused before any token is scored, naming both digests.
    let other = tiny_llama_folder(true);
    let refused = audit(other.path());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("not those the server pinned") && stderr.contains(&hex(&pinned)),
        "{stderr}"
    );
    scenario.provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_substitute_under_the_pin_is_caught_and_its_far_tokens_confirmed_on_the_served_kernels() {
    use chainference_cli::bench::replay::Claiming;
    use chainference_cli::bench::substitutes::{write_substitute, Substitute};
    use chainference_client::rescore::FAR_MARGIN;
    // A lying server: SmolLM2 with its last two layers removed, offered under the pin of the
    // real GGUF file.
    let pinned = smollm2().await;
    let folder = tempfile::tempdir().unwrap();
    let substitute = folder.path().join("truncated.gguf");
    write_substitute(
        &pinned.path,
        &substitute,
        Substitute::Truncated { layers: 2 },
    )
    .unwrap();
    let inner = MistralEngine::load(
        &[MistralModel {
            id: pinned.id.clone(),
            path: substitute,
        }],
        1,
    )
    .await
    .expect("the substitute loads");
    let claims = chainference_client::weights::weights_digest(&pinned.path).unwrap();
    let scenario = scenario(&pinned.id)
        .engine(Claiming { inner, claims })
        .max_concurrent(1)
        .asking("Write a short essay about lighthouses.", 40)
        .client(Keypair::new_from_array([23; 32]))
        .start()
        .await;
    let answer = scenario.ask().await;
    let request = answer.answered.request.to_string();
    crate::wait::finalized_history(&scenario.chain, &answer.answered.request).await;

    // The auditor re-scores on the pinned file dequantized to F32; a token far short of the
    // choice there is scored again by a process of its own on the file's quantized kernels,
    // where it stays far.
    let (_keys, key) = keypair_file(&scenario.client);
    let audited = chainference(&[
        "audit",
        &request,
        "--key",
        key.to_str().unwrap(),
        "--replay",
        pinned.path.to_str().unwrap(),
        "--dequantize",
        "always",
        "--output",
        "json",
    ]);
    let report = json_of(&audited);
    let replay = &report["replay"];
    assert_eq!(replay["dequantized"], true);
    assert_eq!(replay["summary"]["verdict"], "inconsistent", "{replay}");
    let confirmed = replay["confirmed_on_quantized_kernels"].as_array().unwrap();
    let first = confirmed.first().and_then(serde_json::Value::as_u64);
    let first = first.expect("a far token was scored again") as usize;
    let margin = replay["tokens"][first]["margin"].as_f64().unwrap();
    assert!(margin >= FAR_MARGIN, "{margin} at {first}: {replay}");
    scenario.provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_refuses_to_start_with_weights_its_offer_does_not_pin_unless_told() {
    let chain = chain().await;
    let operator = funded(&chain, 3_000_000_000).await;
    let model_id = "test/tiny-llama-pinned";
    let settings = settings(model_id, 100_000, 300_000, 1);
    let start = |folder: &std::path::Path, settings: chainference_provider::config::Settings| {
        let (chain, operator, folder) = (
            chain.clone(),
            operator.insecure_clone(),
            folder.to_path_buf(),
        );
        async move {
            let model = MistralModel {
                id: model_id.into(),
                path: folder,
            };
            let engine = MistralEngine::load(&[model], 1)
                .await
                .expect("the tiny model loads");
            chainference_provider::Provider::start(chain, operator, settings, Arc::new(engine))
                .await
        }
    };
    let first = tiny_llama_folder(false);
    start(first.path(), settings.clone())
        .await
        .expect("the first start registers the offer");
    let other = tiny_llama_folder(true);
    let error = start(other.path(), settings.clone())
        .await
        .err()
        .expect("other weights are refused");
    assert!(
        matches!(
            &error,
            chainference_provider::StartError::Prepare(
                chainference_provider::server::PrepareError::WeightsChanged { .. }
            )
        ),
        "{error}"
    );
    assert!(error.to_string().contains("--update-weights"), "{error}");
    let pinned = |chain: &chainference_client::rpc::Chain| {
        let chain = chain.clone();
        let operator = operator.pubkey();
        async move {
            let server: chainference::state::Server = chain
                .account(&chainference::pda::server_address(&operator), "Server")
                .await
                .unwrap()
                .expect("the server exists");
            server.models[0].weights_sha256
        }
    };
    let digest = |folder: &tempfile::TempDir| {
        chainference_client::weights::weights_digest(folder.path()).unwrap()
    };
    assert_eq!(pinned(&chain).await, digest(&first));

    let told = chainference_provider::config::Settings {
        update_weights: true,
        ..settings
    };
    start(other.path(), told)
        .await
        .expect("re-pinned when told");
    assert_eq!(pinned(&chain).await, digest(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_asked_at_once_are_each_the_models_own() {
    // mistral.rs 0.8.1 mixed the KV caches of sequences it ran interleaved on SmolLM2's GGUF:
    // of four sampled answers asked at once of an engine scheduling two, one came out as words
    // of another ("Tell me a story about bees" answered with the owls of "Describe a day
    // spent with owls"), 12 of its 118 tokens the model's own choice. Each re-scores as the
    // model's own now.
    let model = smollm2().await;
    let engine = Arc::new(
        MistralEngine::load(std::slice::from_ref(&model), 2)
            .await
            .expect("SmolLM2 loads"),
    );
    let asks = [
        "Write a short essay about lighthouses.",
        "Tell me a story about bees.",
        "List some facts about rivers.",
        "Describe a day spent with owls.",
    ]
    .into_iter()
    .zip(1u8..)
    .map(|(text, seed)| {
        let engine = engine.clone();
        let id = model.id.clone();
        tokio::spawn(async move {
            let mut prompt = prompt(text, 60);
            prompt.sampling.temperature = Some(0.7);
            // Fixed requests, so the draws do not depend on which tests ran first.
            let request = Pubkey::new_from_array([seed; 32]);
            let sampler = SeededSampler::new(&request, &prompt.sampling);
            let mut steps = engine
                .generate(&id, &prompt, sampler.clone(), "", 60)
                .expect("generation starts");
            let mut answer = String::new();
            while let Some(step) = steps.recv().await {
                match step {
                    Generated::Text { text, .. } => answer.push_str(&text),
                    Generated::Failed(error) => panic!("mistral.rs failed: {error}"),
                    _ => {}
                }
            }
            (prompt, sampler, answer)
        })
    });
    let rescorer = MistralEngine::load_to_rescore(std::slice::from_ref(&model))
        .await
        .expect("SmolLM2 loads");
    let asks: Vec<_> = asks.collect();
    for asked in asks {
        let (prompt, sampler, answer) = asked.await.expect("answered");
        let scores = rescorer
            .rescore(&model.id, &prompt, &sampler, &answer)
            .await
            .expect("re-scored")
            .scores;
        let rescored = chainference_client::rescore::Rescored::of(&scores);
        assert_eq!(
            rescored.verdict,
            chainference_client::rescore::Verdict::Consistent,
            "{:?}: {answer:?} {rescored:?}",
            prompt.messages[0].content
        );
    }
}
