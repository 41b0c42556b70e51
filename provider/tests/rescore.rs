//! Re-scoring through mistral.rs on the tiny Llama (design §12): answers drawn by the request's
//! seeded sampler are the model's own choice at every token when re-scored, and an answer with
//! one token changed, or re-scored under another request's seed, is not.

use anchor_lang::prelude::Pubkey;
use chainference_client::claims::SPECIAL_TOKEN_ALLOWANCE;
use chainference_client::envelope::{Compression, Message, PromptEnvelope, Sampling};
use chainference_client::rescore::{Rescored, Verdict, FAR_MARGIN};
use chainference_client::sampling::SeededSampler;
use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
use chainference_provider::engine::{Engine, Generated};

const MODEL: &str = "test/tiny-llama";

fn prompt(temperature: Option<f64>, max_tokens: u32) -> PromptEnvelope {
    PromptEnvelope {
        messages: vec![Message {
            role: "user".into(),
            content: "the keeper wrote in his ledger".into(),
        }],
        sampling: Sampling {
            temperature,
            ..Sampling::default()
        },
        max_tokens,
        compression: Compression::Zstd,
    }
}

/// What `engine` answers to `prompt` drawing with `sampler`: the text and its tokens.
async fn answer(
    engine: &MistralEngine,
    prompt: &PromptEnvelope,
    sampler: SeededSampler,
) -> (String, u32) {
    let mut steps = engine
        .generate(MODEL, prompt, sampler, "", prompt.max_tokens)
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
            Generated::Failed(error) => panic!("generation failed: {error}"),
            _ => {}
        }
    }
    (text, tokens)
}

/// The tiny Llama written to a folder and loaded to serve answers, and its entry.
async fn tiny_llama() -> (tempfile::TempDir, MistralEngine, MistralModel) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    chainference_fixtures::write_tiny_llama(folder.path()).expect("the tiny model is written");
    let model = MistralModel {
        id: MODEL.into(),
        path: folder.path().to_path_buf(),
    };
    let engine = MistralEngine::load(std::slice::from_ref(&model), 2)
        .await
        .expect("the tiny model loads");
    (folder, engine, model)
}

/// `model` loaded afresh to re-score, as an auditor does (a re-scorer keeps what it ran in its
/// prefix cache, and a run over a text it kept returns logits only past it).
async fn rescorer(model: &MistralModel) -> MistralEngine {
    MistralEngine::load_to_rescore(std::slice::from_ref(model))
        .await
        .expect("the tiny model loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_answer_is_consistent_and_one_changed_token_is_not() {
    let (_folder, engine, model) = tiny_llama().await;
    let prompt = prompt(None, 48);
    let sampler = SeededSampler::new(&Pubkey::new_unique(), &prompt.sampling);
    let (text, tokens) = answer(&engine, &prompt, sampler.clone()).await;
    assert!(
        tokens >= 40,
        "a long enough answer: {tokens} tokens, {text:?}"
    );

    let scores = rescorer(&model)
        .await
        .rescore(MODEL, &prompt, &sampler, &text)
        .await
        .expect("re-scored")
        .scores;
    let rescored = Rescored::of(&scores);
    // Every served token with text is scored; a special one after the last text is not seen.
    let scored = rescored.tokens as u32;
    assert!(
        scored <= tokens && scored + SPECIAL_TOKEN_ALLOWANCE as u32 >= tokens,
        "{scored} tokens scored of {tokens} served"
    );
    assert_eq!(rescored.own_choice, rescored.tokens, "{rescored:?}");
    assert_eq!(rescored.verdict, Verdict::Consistent);

    // One character changed in the middle: that token is not the model's choice.
    let middle = text.len() / 2;
    let replacement = if text.as_bytes()[middle] == b'q' {
        "z"
    } else {
        "q"
    };
    let mut changed = text.clone();
    changed.replace_range(middle..=middle, replacement);
    let scores = rescorer(&model)
        .await
        .rescore(MODEL, &prompt, &sampler, &changed)
        .await
        .expect("re-scored")
        .scores;
    let rescored = Rescored::of(&scores);
    let (at, worst) = rescored.worst.expect("a token falls short");
    assert!(
        worst.margin >= FAR_MARGIN && worst.rank > 1,
        "{worst:?} at {at}"
    );
    assert_eq!(rescored.verdict, Verdict::Inconsistent, "{rescored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_answer_is_reproduced_under_its_seed_and_not_under_another() {
    let (_folder, engine, model) = tiny_llama().await;
    let prompt = prompt(Some(0.8), 48);
    let sampler = SeededSampler::new(&Pubkey::new_unique(), &prompt.sampling);
    let (text, tokens) = answer(&engine, &prompt, sampler.clone()).await;
    assert!(
        tokens >= 40,
        "a long enough answer: {tokens} tokens, {text:?}"
    );
    // The same seed draws the same answer again.
    assert_eq!(answer(&engine, &prompt, sampler.clone()).await.0, text);

    let rescored = Rescored::of(
        &rescorer(&model)
            .await
            .rescore(MODEL, &prompt, &sampler, &text)
            .await
            .expect("re-scored")
            .scores,
    );
    assert_eq!(rescored.own_choice, rescored.tokens, "{rescored:?}");
    assert_eq!(rescored.verdict, Verdict::Consistent);

    let elsewhere = SeededSampler::new(&Pubkey::new_unique(), &prompt.sampling);
    let rescored = Rescored::of(
        &rescorer(&model)
            .await
            .rescore(MODEL, &prompt, &elsewhere, &text)
            .await
            .expect("re-scored")
            .scores,
    );
    assert_eq!(rescored.verdict, Verdict::Inconsistent, "{rescored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_answers_after_others_with_the_same_start_are_reproduced() {
    // A server answers many prompts that begin alike (the chat template, a system turn); the
    // tokens it drew must be the seeded sampler's at every position, the first included,
    // whatever the engine ran before.
    let (_folder, engine, model) = tiny_llama().await;
    let rescorer = rescorer(&model).await;
    for ending in [
        "",
        " and then he slept",
        " by the lamp",
        " before the storm",
    ] {
        let mut prompt = prompt(Some(1.5), 12);
        prompt.messages[0].content.push_str(ending);
        let sampler = SeededSampler::new(&Pubkey::new_unique(), &prompt.sampling);
        let (text, _) = answer(&engine, &prompt, sampler.clone()).await;
        let scores = rescorer
            .rescore(MODEL, &prompt, &sampler, &text)
            .await
            .expect("re-scored")
            .scores;
        let first = scores.first().expect("a token scored");
        assert_eq!(first.margin, 0.0, "the first token of {text:?}: {first:?}");
        let rescored = Rescored::of(&scores);
        assert_eq!(
            rescored.own_choice, rescored.tokens,
            "{text:?}: {rescored:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_tokens_are_scored_again_on_the_served_kernels_until_one_stays_far() {
    let (_folder, engine, model) = tiny_llama().await;
    let prompt = prompt(None, 48);
    let sampler = SeededSampler::new(&Pubkey::new_unique(), &prompt.sampling);
    let (text, _) = answer(&engine, &prompt, sampler.clone()).await;
    let honest = rescorer(&model)
        .await
        .rescore(MODEL, &prompt, &sampler, &text)
        .await
        .expect("re-scored")
        .scores;
    // Other kernels put one honest token far short (F32 did so for one answer in 100 served on
    // 4-bit kernels): scored again on the served engine, it is the model's choice.
    let at = honest.len() / 2;
    let mut scores = honest.clone();
    scores[at].margin = 2.0 * FAR_MARGIN;
    assert_eq!(Rescored::of(&scores).verdict, Verdict::Inconsistent);
    let positions = engine
        .confirm(MODEL, &prompt, &sampler, &mut scores)
        .await
        .expect("confirmed");
    assert_eq!(positions, [at]);
    assert_eq!(
        (scores[at].token, scores[at].margin),
        (honest[at].token, 0.0)
    );
    assert_eq!(Rescored::of(&scores).verdict, Verdict::Consistent);

    // A changed token stays far on the served kernels too, and settles the verdict: the far
    // tokens after it are not run.
    let middle = text.len() / 2;
    let mut changed = text.clone();
    let replacement = if text.as_bytes()[middle] == b'q' {
        "z"
    } else {
        "q"
    };
    changed.replace_range(middle..=middle, replacement);
    let mut scores = rescorer(&model)
        .await
        .rescore(MODEL, &prompt, &sampler, &changed)
        .await
        .expect("re-scored")
        .scores;
    let first_far = scores.iter().position(|score| score.margin >= FAR_MARGIN);
    let first_far = first_far.expect("the changed token falls far short");
    let positions = engine
        .confirm(MODEL, &prompt, &sampler, &mut scores)
        .await
        .expect("confirmed");
    assert_eq!(positions, [first_far]);
    assert!(scores[first_far].margin >= FAR_MARGIN, "{scores:?}");
    assert_eq!(Rescored::of(&scores).verdict, Verdict::Inconsistent);
}
