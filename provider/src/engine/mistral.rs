//! mistral.rs: real inference, streaming, with each model's chat template, several requests at
//! once (its scheduler batches them). Models load from a local folder (`config.json`,
//! `tokenizer.json`, safetensors) or a single GGUF file, never from the network; their weights'
//! digest is taken as they load.
//!
//! Tokens are drawn by the answer's [`SeededSampler`], not by mistral.rs's own sampler (whose
//! random state is shared by every request the engine serves, so no answer could be replayed):
//! a logits processor leaves only the sampler's choice, which mistral.rs's argmax then takes.

use super::{rescoring, Engine, EngineError, Generated, Rescoring};
use chainference_client::envelope::{FinishReason, PromptEnvelope};
use chainference_client::rescore::TokenScore;
use chainference_client::sampling::SeededSampler;
use chainference_client::weights::weights_digest;
use either::Either;
use futures_util::stream::{self, Stream, StreamExt};
use mistralrs::core::RequestMessage;
use mistralrs::{
    Constraint, CustomLogitsProcessor, DType, GgufModelBuilder, Model, ModelDType, NormalRequest,
    Request, RequestBuilder, Response, SamplingParams, StopTokens, Tensor, TextMessageRole,
    TextMessages, TextModelBuilder,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// Sequences a re-scoring engine's prefix cache keeps on a GPU (mistral.rs's default; it
/// evicts the oldest past them there, and re-scoring reads only the latest it kept).
const PREFIX_CACHE_SEQUENCES: usize = 16;

/// One model to load.
#[derive(Clone, Debug)]
pub struct MistralModel {
    /// The Hugging Face id it is offered under.
    pub id: String,
    /// A folder with safetensors weights, or a `.gguf` file.
    pub path: std::path::PathBuf,
}

/// Loaded mistral.rs models, by id.
pub struct MistralEngine {
    models: HashMap<String, Loaded>,
}

/// One loaded model: the engine, its weights' digest, and the turn its answers take.
#[derive(Clone)]
struct Loaded {
    model: Arc<Model>,
    digest: [u8; 32],
    /// One answer (or re-scoring) at a time. mistral.rs 0.8.1 mixes the KV caches of
    /// sequences it runs interleaved on a GGUF model, batched or not: with two answers
    /// generated at once, one came out as words of the other
    /// (e2e `mistral::answers_asked_at_once_are_each_the_models_own`).
    turn: Arc<tokio::sync::Semaphore>,
}

impl MistralEngine {
    /// The loaded `model`.
    fn loaded(&self, model: &str) -> Result<Loaded, EngineError> {
        self.models
            .get(model)
            .cloned()
            .ok_or_else(|| EngineError::UnknownModel(model.to_string()))
    }
}

impl MistralEngine {
    /// Loads every model to serve answers; `max_concurrent` sequences may wait in mistral.rs's
    /// scheduler, and each model answers one at a time (see `Loaded::turn`). Safetensors
    /// folders load in F32, so greedy sampling gives the same tokens every run. No answer's
    /// state is kept once it is served: mistral.rs's prefix cache would keep every one (on the
    /// CPU without bound) and serve one client's prompt state to the next request that begins
    /// the same way.
    pub async fn load(models: &[MistralModel], max_concurrent: usize) -> Result<Self, EngineError> {
        Self::load_with(models, max_concurrent, None).await
    }

    /// Loads every model to re-score answers ([`MistralEngine::rescore`]), one at a time, with
    /// mistral.rs's prefix cache, where re-scoring keeps the answer's state as it goes.
    pub async fn load_to_rescore(models: &[MistralModel]) -> Result<Self, EngineError> {
        Self::load_with(models, 1, Some(PREFIX_CACHE_SEQUENCES)).await
    }

    /// Loads every model, with a prefix cache of `prefix_cache` sequences if any.
    async fn load_with(
        models: &[MistralModel],
        max_concurrent: usize,
        prefix_cache: Option<usize>,
    ) -> Result<Self, EngineError> {
        let mut loaded = HashMap::new();
        for model in models {
            let path = &model.path;
            if !path.exists() {
                return Err(EngineError::Missing {
                    model: model.id.clone(),
                    path: path.display().to_string(),
                });
            }
            let digest = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || weights_digest(&path)).await
            };
            let digest = match digest {
                Ok(digest) => digest.map_err(|source| EngineError::Weights {
                    model: model.id.clone(),
                    source,
                })?,
                Err(error) => {
                    return Err(EngineError::Load {
                        model: model.id.clone(),
                        path: path.display().to_string(),
                        source: error.into(),
                    })
                }
            };
            let gguf = path
                .file_name()
                .filter(|_| path.extension().is_some_and(|ext| ext == "gguf"));
            let built = match gguf {
                Some(file) => {
                    let folder = path.parent().unwrap_or(Path::new("."));
                    GgufModelBuilder::new(
                        folder.to_string_lossy(),
                        vec![file.to_string_lossy().into_owned()],
                    )
                    .with_max_num_seqs(max_concurrent.max(1))
                    .with_prefix_cache_n(prefix_cache)
                    .build()
                    .await
                }
                None => {
                    TextModelBuilder::new(path.to_string_lossy())
                        .with_dtype(ModelDType::F32)
                        .with_max_num_seqs(max_concurrent.max(1))
                        .with_prefix_cache_n(prefix_cache)
                        .build()
                        .await
                }
            };
            let built = built.map_err(|error| EngineError::Load {
                model: model.id.clone(),
                path: path.display().to_string(),
                source: error.into(),
            })?;
            loaded.insert(
                model.id.clone(),
                Loaded {
                    model: Arc::new(built),
                    digest,
                    turn: Arc::new(tokio::sync::Semaphore::new(1)),
                },
            );
        }
        Ok(Self { models: loaded })
    }
}

impl MistralEngine {
    /// Re-scores `answer` to `prompt` (design §12; [`super::rescoring`] says which tokens):
    /// `model` runs over the prompt (its chat template, as a chat request renders it) and the
    /// answer's tokens, every position's logits come back, and each answer token is scored
    /// under `sampler` at its position. On an engine loaded to serve (no prefix cache) the
    /// scores are the same, the runs longer: each runs over the whole answer so far.
    pub async fn rescore(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: &SeededSampler,
        answer: &str,
    ) -> Result<Rescoring, EngineError> {
        let loaded = self.loaded(model)?;
        let _turn = loaded.turn.acquire().await;
        let scorer = Scorer::new(&loaded.model, model);
        let prompt_tokens = scorer.prompt_tokens(prompt).await?;
        rescoring::rescore(&scorer, &prompt_tokens, sampler, answer).await
    }

    /// Scores again each token of `scores` (of an answer to `prompt`, re-scored on other
    /// kernels: weights dequantized to F32) at least [`FAR_MARGIN`] short of the sampler's
    /// choice, on this engine's kernels, which should be the server's (the file loaded as it
    /// is): the first alone, and where it stays far (it settles the verdict) no other; else
    /// the rest from one more run ([`rescoring::confirm`]). Returns the positions scored
    /// again. Load the engine to serve ([`MistralEngine::load`]): a re-scoring engine's prefix
    /// cache keeps each run under the token it drew, which it never ran, and a later run over
    /// the answer going on with that token would read its empty state.
    ///
    /// [`FAR_MARGIN`]: chainference_client::rescore::FAR_MARGIN
    pub async fn confirm(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: &SeededSampler,
        scores: &mut [TokenScore],
    ) -> Result<Vec<usize>, EngineError> {
        let loaded = self.loaded(model)?;
        let _turn = loaded.turn.acquire().await;
        let scorer = Scorer::new(&loaded.model, model);
        let prompt_tokens = scorer.prompt_tokens(prompt).await?;
        rescoring::confirm(&scorer, &prompt_tokens, sampler, scores).await
    }
}

/// One loaded model, as the re-scorer asks it things.
struct Scorer<'a> {
    /// The model.
    model: &'a Model,
    /// Its id, for errors.
    id: &'a str,
    /// Whether each token asked about ends an answer.
    ends: Mutex<HashMap<u32, bool>>,
}

/// One run's logits: a row per position from `skipped` on (mistral.rs does not run again a
/// prefix it has cached).
struct Logits {
    rows: Tensor,
    skipped: usize,
}

impl<'a> Scorer<'a> {
    /// Asks `model`, offered as `id`, things.
    fn new(model: &'a Model, id: &'a str) -> Self {
        Self {
            model,
            id,
            ends: Mutex::default(),
        }
    }
}

impl Scorer<'_> {
    /// A re-scoring failure with its cause.
    fn failed(&self, source: Box<dyn std::error::Error + Send + Sync>) -> EngineError {
        EngineError::Rescore {
            model: self.id.to_string(),
            source,
        }
    }

    /// The tokens of `prompt`'s conversation, as a chat request renders it.
    async fn prompt_tokens(&self, prompt: &PromptEnvelope) -> Result<Vec<u32>, EngineError> {
        let conversation = turns(prompt).fold(TextMessages::new(), |messages, (role, content)| {
            messages.add_message(role, content)
        });
        self.tokenize(Either::Left(conversation), true).await
    }

    /// The tokens of a conversation (with the chat template's specials and generation
    /// prompt, as a chat request renders it) or of answer text (`specials` false).
    async fn tokenize(
        &self,
        text: Either<TextMessages, String>,
        specials: bool,
    ) -> Result<Vec<u32>, EngineError> {
        self.model
            .tokenize(text, None, specials, specials, None)
            .await
            .map_err(|error| self.failed(error.to_string().into()))
    }

    /// Runs the model over `sequence` to draw one token (through `processor` if one is
    /// given) and waits for the response: every position's logits with `raw_logits`, else the
    /// finished answer.
    async fn one_token(
        &self,
        sequence: Vec<u32>,
        processor: Option<Arc<dyn CustomLogitsProcessor>>,
        raw_logits: bool,
    ) -> Result<Response, EngineError> {
        let (responses, mut receiver) = mpsc::channel(1);
        let mut sampling = SamplingParams::deterministic();
        sampling.max_len = Some(1);
        let request = Request::Normal(Box::new(NormalRequest {
            messages: RequestMessage::CompletionTokens(sequence),
            sampling_params: sampling,
            response: responses,
            return_logprobs: false,
            is_streaming: false,
            id: self.model.inner().next_request_id(),
            constraint: Constraint::None,
            suffix: None,
            tools: None,
            tool_choice: None,
            logits_processors: processor.map(|processor| vec![processor]),
            return_raw_logits: raw_logits,
            web_search_options: None,
            model_id: None,
            truncate_sequence: false,
        }));
        self.model
            .inner()
            .get_sender(None)
            .map_err(|error| self.failed(error.to_string().into()))?
            .send(request)
            .await
            .map_err(|error| self.failed(error.to_string().into()))?;
        match receiver.recv().await {
            Some(Response::InternalError(error) | Response::ValidationError(error)) => {
                Err(self.failed(error))
            }
            Some(Response::ModelError(error, _) | Response::CompletionModelError(error, _)) => {
                Err(self.failed(error.into()))
            }
            Some(response) => Ok(response),
            None => Err(self.failed("mistral.rs dropped the request".into())),
        }
    }
}

impl rescoring::Forced for Scorer<'_> {
    type Run = Logits;

    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Scorer::tokenize(self, Either::Right(text.to_string()), false).await
    }

    async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError> {
        self.model
            .detokenize(tokens.to_vec(), true)
            .await
            .map_err(|error| self.failed(error.to_string().into()))
    }

    async fn ends(&self, token: u32) -> Result<bool, EngineError> {
        if let Some(&known) = self
            .ends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
        {
            return Ok(known);
        }
        // mistral.rs stops a sequence on its end-of-sequence tokens before its length: forced
        // to draw `token` as the one token it may, the answer stops there only if `token` ends.
        let ends = match self
            .one_token(vec![token], Some(forced(token)), false)
            .await?
        {
            Response::CompletionDone(done) => done.choices.first().map(|c| c.finish_reason.clone()),
            Response::Done(done) => done.choices.first().map(|c| c.finish_reason.clone()),
            _ => None,
        };
        let ends = match ends.as_deref() {
            Some("stop") => true,
            Some("length") => false,
            _ => return Err(self.failed("mistral.rs did not finish a one-token answer".into())),
        };
        self.ends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, ends);
        Ok(ends)
    }

    async fn run(&self, sequence: Vec<u32>) -> Result<Logits, EngineError> {
        let length = sequence.len();
        let chunks = match self.one_token(sequence, None, true).await? {
            Response::Raw { logits_chunks, .. } => logits_chunks,
            _ => return Err(self.failed("mistral.rs returned no logits".into())),
        };
        let rows = Tensor::cat(&chunks, 0)
            .and_then(|logits| logits.to_dtype(DType::F32))
            .map_err(|error| self.failed(error.into()))?;
        let count = rows.dim(0).map_err(|error| self.failed(error.into()))?;
        Ok(Logits {
            rows,
            skipped: length.saturating_sub(count),
        })
    }

    async fn keep(&self, sequence: &[u32]) -> Result<(), EngineError> {
        // mistral.rs keeps a finished request's state in its prefix cache, under its tokens and
        // the one it drew, which it never ran: a later run going on with that token would read
        // an empty slot. So the state kept is that before `sequence`'s last token (every later
        // run has that token too, and runs it: the logits after it are the first it returns),
        // and the token drawn is forced to another.
        let Some((&last, before)) = sequence
            .split_last()
            .filter(|(_, before)| !before.is_empty())
        else {
            return Ok(());
        };
        let other = u32::from(last == 0);
        self.one_token(before.to_vec(), Some(forced(other)), false)
            .await
            .map(drop)
    }

    fn row(&self, run: &Logits, position: usize) -> Result<Vec<f32>, EngineError> {
        let Some(row) = position.checked_sub(1 + run.skipped) else {
            return Err(self.failed(
                "the model's prefix cache held the answer already: re-score with a freshly loaded model".into(),
            ));
        };
        run.rows
            .get(row)
            .and_then(|row| row.to_vec1())
            .map_err(|error| self.failed(error.into()))
    }
}

/// mistral.rs's sampling for `prompt`: the argmax of what [`seeded`] returns (no penalties, no
/// randomness of its own), the prompt's stop strings, at most `max_tokens` tokens.
fn sampling_for(prompt: &PromptEnvelope, max_tokens: u32) -> SamplingParams {
    let mut params = SamplingParams::deterministic();
    if !prompt.sampling.stop.is_empty() {
        params.stop_toks = Some(StopTokens::Seqs(prompt.sampling.stop.clone()));
    }
    params.max_len = Some(max_tokens as usize);
    params
}

/// The logits processor through which `sampler` chooses every token: it returns 0 for the
/// sampler's choice at the answer position being generated and −∞ for every other token, so
/// mistral.rs's argmax takes exactly that choice. Positions count the answer's tokens from
/// `first` (0 for a fresh answer; a resumed one starts after what was delivered), once per
/// call: mistral.rs calls it once a token. They are not read from the context it passes, which
/// lacks whatever prefix its cache served.
fn seeded(sampler: SeededSampler, first: u64) -> Arc<dyn CustomLogitsProcessor> {
    let next = AtomicU64::new(first);
    Arc::new(
        move |logits: &Tensor, _context: &[u32]| -> mistralrs::Result<Tensor> {
            let values: Vec<f32> = logits.to_dtype(DType::F32)?.to_vec1()?;
            let position = next.fetch_add(1, Ordering::Relaxed);
            let mut chosen = vec![f32::NEG_INFINITY; values.len()];
            if let Some(token) = sampler.choose(position, &values) {
                chosen[token as usize] = 0.0;
            }
            Tensor::new(chosen, logits.device())?.to_dtype(logits.dtype())
        },
    )
}

/// The logits processor that leaves only `token` to draw.
fn forced(token: u32) -> Arc<dyn CustomLogitsProcessor> {
    Arc::new(
        move |logits: &Tensor, _context: &[u32]| -> mistralrs::Result<Tensor> {
            let mut only = vec![f32::NEG_INFINITY; logits.dim(0)?];
            if let Some(value) = only.get_mut(token as usize) {
                *value = 0.0;
            }
            Tensor::new(only, logits.device())?.to_dtype(logits.dtype())
        },
    )
}

/// The conversation's turns with their roles.
fn turns(prompt: &PromptEnvelope) -> impl Iterator<Item = (TextMessageRole, &str)> {
    prompt.messages.iter().map(|message| {
        let role = match message.role.as_str() {
            "system" => TextMessageRole::System,
            "assistant" => TextMessageRole::Assistant,
            _ => TextMessageRole::User,
        };
        (role, message.content.as_str())
    })
}

/// One step of mistral.rs's stream in our terms: the text and tokens it adds, and the end
/// if it ends the answer. `counted` is the completion tokens given out so far.
fn step_of(response: Response, counted: &mut usize) -> (Option<Generated>, Option<Generated>) {
    let finish = |reason: Option<&str>| match reason {
        None => None,
        Some("length") => Some(Generated::Done(FinishReason::Length)),
        Some(_) => Some(Generated::Done(FinishReason::Stop)),
    };
    let text = |text: String, tokens: usize| {
        (tokens > 0 || !text.is_empty()).then(|| Generated::Text {
            text,
            tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        })
    };
    match response {
        Response::Chunk(chunk) => {
            let Some(choice) = chunk.choices.first() else {
                return (None, None);
            };
            // One streamed chunk is one token; the usage on the last settles the count.
            let tokens = chunk
                .usage
                .as_ref()
                .map_or(1, |usage| usage.completion_tokens.saturating_sub(*counted));
            *counted += tokens;
            let content = choice.delta.content.clone().unwrap_or_default();
            (
                text(content, tokens),
                finish(choice.finish_reason.as_deref()),
            )
        }
        Response::CompletionChunk(chunk) => {
            let Some(choice) = chunk.choices.first() else {
                return (None, None);
            };
            *counted += 1;
            (
                text(choice.text.clone(), 1),
                finish(choice.finish_reason.as_deref()),
            )
        }
        Response::Done(_) | Response::CompletionDone(_) => {
            (None, Some(Generated::Done(FinishReason::Stop)))
        }
        Response::ModelError(error, _) | Response::CompletionModelError(error, _) => {
            (None, Some(Generated::Failed(error)))
        }
        Response::InternalError(error) | Response::ValidationError(error) => {
            (None, Some(Generated::Failed(error.to_string())))
        }
        _ => (None, None),
    }
}

/// Forwards mistral.rs's `responses` to `sender` until the answer ends.
async fn forward(
    mut responses: impl Stream<Item = Response> + Unpin,
    sender: mpsc::UnboundedSender<Generated>,
) {
    let mut counted = 0usize;
    while let Some(response) = responses.next().await {
        let (text, end) = step_of(response, &mut counted);
        if let Some(text) = text {
            if sender.send(text).is_err() {
                return;
            }
        }
        if let Some(end) = end {
            let _ = sender.send(end);
            return;
        }
    }
    let _ = sender.send(Generated::Done(FinishReason::Stop));
}

/// Answers `prompt` afresh through the chat API.
async fn chat(
    model: Arc<Model>,
    prompt: PromptEnvelope,
    sampler: SeededSampler,
    max_tokens: u32,
    sender: mpsc::UnboundedSender<Generated>,
) {
    let request = turns(&prompt)
        .fold(RequestBuilder::new(), |request, (role, content)| {
            request.add_message(role, content)
        })
        .set_sampling(sampling_for(&prompt, max_tokens));
    let request = request.add_logits_processor(seeded(sampler, 0));
    match model.stream_chat_request(request).await {
        Ok(stream) => forward(stream, sender).await,
        Err(error) => {
            let _ = sender.send(Generated::Failed(error.to_string()));
        }
    }
}

/// Continues an answer whose start, `delivered`, is already on chain: the chat template's
/// prompt and the delivered text's tokens go in as a raw completion.
async fn continuation(
    model: Arc<Model>,
    prompt: PromptEnvelope,
    sampler: SeededSampler,
    delivered: String,
    max_tokens: u32,
    sender: mpsc::UnboundedSender<Generated>,
) {
    let conversation = turns(&prompt).fold(TextMessages::new(), |messages, (role, content)| {
        messages.add_message(role, content)
    });
    let tokens = async {
        let mut tokens = model
            .tokenize(Either::Left(conversation), None, true, true, None)
            .await?;
        let answer = model
            .tokenize(Either::Right(delivered), None, false, false, None)
            .await?;
        let delivered = answer.len();
        tokens.extend(answer);
        Ok::<_, mistralrs::error::Error>((tokens, delivered))
    };
    let (tokens, delivered) = match tokens.await {
        Ok(tokens) => tokens,
        Err(error) => {
            let _ = sender.send(Generated::Failed(error.to_string()));
            return;
        }
    };
    let delivered = u32::try_from(delivered).unwrap_or(u32::MAX);
    if sender
        .send(Generated::Resumed { tokens: delivered })
        .is_err()
    {
        return;
    }
    let left = max_tokens.saturating_sub(delivered);
    if left == 0 {
        let _ = sender.send(Generated::Done(FinishReason::Length));
        return;
    }
    let (responses, mut receiver) = mpsc::channel(1);
    let request = Request::Normal(Box::new(NormalRequest {
        messages: RequestMessage::CompletionTokens(tokens),
        sampling_params: sampling_for(&prompt, left),
        response: responses,
        return_logprobs: false,
        is_streaming: true,
        id: model.inner().next_request_id(),
        constraint: Constraint::None,
        suffix: None,
        tools: None,
        tool_choice: None,
        logits_processors: Some(vec![seeded(sampler, u64::from(delivered))]),
        return_raw_logits: false,
        web_search_options: None,
        model_id: None,
        truncate_sequence: false,
    }));
    let sent = match model.inner().get_sender(None) {
        Ok(runner) => runner
            .send(request)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match sent {
        Ok(()) => {
            forward(
                stream::poll_fn(|context| receiver.poll_recv(context)),
                sender,
            )
            .await
        }
        Err(error) => {
            let _ = sender.send(Generated::Failed(error));
        }
    }
}

impl Engine for MistralEngine {
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: SeededSampler,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError> {
        let Loaded { model, turn, .. } = self.loaded(model)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let prompt = prompt.clone();
        let delivered = delivered.to_string();
        tokio::spawn(async move {
            // Held until the answer ends (see `Loaded::turn`).
            let Ok(_turn) = turn.acquire_owned().await else {
                return;
            };
            if delivered.is_empty() {
                chat(model, prompt, sampler, max_tokens, sender).await;
            } else {
                continuation(model, prompt, sampler, delivered, max_tokens, sender).await;
            }
        });
        Ok(receiver)
    }

    fn weights(&self, model: &str) -> Option<[u8; 32]> {
        self.models.get(model).map(|loaded| loaded.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::prelude::Pubkey;
    use chainference_client::envelope::{Compression, Message, Sampling};
    use chainference_client::rescore::{Rescored, Verdict};
    use rescoring::Forced;

    /// The tiny Llama's logits with one token lifted at one position of every run: what float
    /// noise between a server's kernels and the re-scorer's may do to a near-tie, made certain.
    struct Lifted<'a> {
        scorer: Scorer<'a>,
        position: usize,
        token: u32,
        lift: f32,
    }

    impl Forced for Lifted<'_> {
        type Run = Logits;

        async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
            Forced::tokenize(&self.scorer, text).await
        }

        async fn decode(&self, tokens: &[u32]) -> Result<String, EngineError> {
            self.scorer.decode(tokens).await
        }

        async fn ends(&self, token: u32) -> Result<bool, EngineError> {
            self.scorer.ends(token).await
        }

        async fn run(&self, sequence: Vec<u32>) -> Result<Logits, EngineError> {
            self.scorer.run(sequence).await
        }

        async fn keep(&self, sequence: &[u32]) -> Result<(), EngineError> {
            self.scorer.keep(sequence).await
        }

        fn row(&self, run: &Logits, position: usize) -> Result<Vec<f32>, EngineError> {
            let mut row = self.scorer.row(run, position)?;
            if let Some(logit) = row
                .get_mut(self.token as usize)
                .filter(|_| position == self.position)
            {
                *logit += self.lift;
            }
            Ok(row)
        }
    }

    /// The tiny Llama written to a temporary folder (kept while it is held), as a model.
    fn tiny_llama() -> (tempfile::TempDir, MistralModel) {
        let folder = tempfile::tempdir().expect("a folder");
        chainference_fixtures::write_tiny_llama(folder.path()).expect("the tiny Llama");
        let model = MistralModel {
            id: "test/tiny-llama".into(),
            path: folder.path().to_path_buf(),
        };
        (folder, model)
    }

    /// The tiny Llama loaded to serve, with its folder (kept while it is held) and its entry.
    async fn loaded_tiny_llama() -> (tempfile::TempDir, MistralModel, MistralEngine) {
        let (folder, model) = tiny_llama();
        let engine = MistralEngine::load(std::slice::from_ref(&model), 1)
            .await
            .expect("the tiny Llama loads");
        (folder, model, engine)
    }

    /// Re-scoring's defect 3 on mistral.rs: a greedy tiny-Llama answer drew a two-character
    /// token ("th") whose first character is a token too ("t"); with the shorter one lifted a
    /// hair over it where it was drawn, the re-scorer used to take the shorter one and score
    /// the rest on a tokenization the server never drew. The drawn one is kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_drawn_token_is_kept_where_noise_lifts_a_shorter_one_over_it() {
        let (_folder, model) = tiny_llama();
        // A re-scorer that ran a sequence holds it in its prefix cache: each pass loads afresh.
        let load = || async {
            MistralEngine::load_to_rescore(std::slice::from_ref(&model))
                .await
                .expect("the tiny Llama loads")
        };
        let prompt = PromptEnvelope {
            messages: vec![Message {
                role: "user".into(),
                content: "the keeper wrote in his ledger".into(),
            }],
            sampling: Sampling::default(),
            max_tokens: 48,
            compression: Compression::Zstd,
        };
        let sampler = SeededSampler::new(&Pubkey::new_from_array([5; 32]), &prompt.sampling);
        let mut steps = load()
            .await
            .generate(&model.id, &prompt, sampler.clone(), "", prompt.max_tokens)
            .expect("generation starts");
        let mut answer = String::new();
        while let Some(step) = steps.recv().await {
            if let Generated::Text { text, .. } = step {
                answer.push_str(&text);
            }
        }
        let honest = load()
            .await
            .rescore(&model.id, &prompt, &sampler, &answer)
            .await
            .expect("re-scored")
            .scores;
        assert!(honest.iter().all(|score| score.margin == 0.0), "{honest:?}");
        let drawn: Vec<u32> = honest.iter().map(|score| score.token).collect();

        let engine = load().await;
        let loaded = engine.loaded(&model.id).expect("loaded");
        let scorer = Scorer::new(&loaded.model, &model.id);
        let prompt_tokens = scorer.prompt_tokens(&prompt).await.expect("tokenized");
        let mut found = None;
        for (index, &token) in drawn.iter().enumerate().skip(1) {
            let text = scorer.decode(&[token]).await.expect("decoded");
            let mut chars = text.chars();
            let (Some(first), Some(_)) = (chars.next(), chars.next()) else {
                continue;
            };
            let shorter = Forced::tokenize(&scorer, &first.to_string()).await;
            if let [shorter] = shorter.expect("tokenized")[..] {
                found = Some((index, token, shorter));
                break;
            }
        }
        let (index, token, shorter) = found.expect("a drawn token of two characters");
        let sequence = prompt_tokens.iter().chain(&drawn).copied().collect();
        let run = scorer.run(sequence).await.expect("run");
        let row = scorer
            .row(&run, prompt_tokens.len() + index)
            .expect("a row");
        let fresh = load().await.loaded(&model.id).expect("loaded");
        let lifted = Lifted {
            position: prompt_tokens.len() + index,
            token: shorter,
            lift: row[token as usize] - row[shorter as usize] + 0.01,
            scorer: Scorer::new(&fresh.model, &model.id),
        };
        let scores = rescoring::rescore(&lifted, &prompt_tokens, &sampler, &answer)
            .await
            .expect("re-scored")
            .scores;
        let tokens: Vec<u32> = scores.iter().map(|score| score.token).collect();
        assert_eq!(tokens, drawn, "{answer:?}: token {index} lifted");
        assert!(scores[index].margin < 0.02, "{:?}", scores[index]);
        assert_eq!(Rescored::of(&scores).verdict, Verdict::Consistent);
    }

    /// Re-scoring refuses to read an end-of-sequence token as a special token in an answer's
    /// middle (an honest SmolLM2 answer was judged a cheat so); mistral.rs says which ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_end_of_sequence_token_is_the_one_that_ends_an_answer() {
        let (_folder, model, engine) = loaded_tiny_llama().await;
        let loaded = engine.loaded(&model.id).expect("loaded");
        let scorer = Scorer::new(&loaded.model, &model.id);
        let [end] = Forced::tokenize(&scorer, "</s>").await.expect("tokenized")[..] else {
            panic!("</s> is one token");
        };
        let [start] = Forced::tokenize(&scorer, "<s>").await.expect("tokenized")[..] else {
            panic!("<s> is one token");
        };
        let [word, ..] = Forced::tokenize(&scorer, "the").await.expect("tokenized")[..] else {
            panic!("the is tokens");
        };
        assert!(scorer.ends(end).await.expect("asked"));
        assert!(!scorer.ends(start).await.expect("asked"));
        assert!(!scorer.ends(word).await.expect("asked"));
        // Asked again, the answer is the one remembered.
        assert!(scorer.ends(end).await.expect("asked"));
    }

    /// A run over a sequence that begins with a kept one runs only past it (mistral.rs's prefix
    /// cache serves the rest), and its logits there are those of a whole run: the kept state
    /// is whole, its last token included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_past_a_kept_sequence_runs_only_past_it_with_a_whole_run_s_logits() {
        let (_folder, model) = tiny_llama();
        let engine = MistralEngine::load_to_rescore(std::slice::from_ref(&model))
            .await
            .expect("the tiny Llama loads");
        let loaded = engine.loaded(&model.id).expect("loaded");
        let scorer = Scorer::new(&loaded.model, &model.id);
        let text =
            "the keeper wrote in his ledger that the lamp was lit at dusk and the sea was calm";
        let sequence = Forced::tokenize(&scorer, text).await.expect("tokenized");
        let kept = sequence.len() / 2;
        let whole = scorer.run(sequence.clone()).await.expect("run");
        assert_eq!(whole.skipped, 0);

        scorer.keep(&sequence[..kept]).await.expect("kept");
        let past = scorer.run(sequence.clone()).await.expect("run");
        assert_eq!(past.skipped, kept - 1, "the run past the kept tokens");
        assert!(scorer.row(&past, kept - 1).is_err());
        for position in kept..sequence.len() {
            let (expected, found) = (scorer.row(&whole, position), scorer.row(&past, position));
            let (expected, found) = (expected.expect("a row"), found.expect("a row"));
            let apart = expected.iter().zip(&found).map(|(a, b)| (a - b).abs());
            let apart = apart.fold(0.0, f32::max);
            assert!(apart < 1e-4, "position {position}: logits {apart} apart");
        }
    }

    /// A serving engine keeps nothing of an answer it served. mistral.rs's prefix cache would
    /// keep every finished answer's state (on the CPU it never evicts one: memory without
    /// bound) and serve it to the next request that begins the same way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_served_answer_leaves_nothing_of_itself_in_the_engine() {
        let (_folder, model, engine) = loaded_tiny_llama().await;
        let prompt = PromptEnvelope {
            messages: vec![Message {
                role: "user".into(),
                content: "the keeper wrote in his ledger".into(),
            }],
            sampling: Sampling::default(),
            max_tokens: 8,
            compression: Compression::Zstd,
        };
        let sampler = SeededSampler::new(&Pubkey::new_from_array([5; 32]), &prompt.sampling);
        let mut steps = engine
            .generate(&model.id, &prompt, sampler, "", prompt.max_tokens)
            .expect("generation starts");
        let mut answer = String::new();
        while let Some(step) = steps.recv().await {
            if let Generated::Text { text, .. } = step {
                answer.push_str(&text);
            }
        }
        let loaded = engine.loaded(&model.id).expect("loaded");
        let scorer = Scorer::new(&loaded.model, &model.id);
        let mut sequence = scorer.prompt_tokens(&prompt).await.expect("tokenized");
        let answer = Forced::tokenize(&scorer, &answer).await.expect("tokenized");
        // The prompt, then a token other than the answer's first: a cached answer would spare
        // the prompt's run.
        let first = answer.first().copied().expect("an answer");
        sequence.push(u32::from(first == 0));
        let run = scorer.run(sequence).await.expect("run");
        assert_eq!(run.skipped, 0, "the served prompt's state was kept");
    }

    #[tokio::test]
    async fn a_model_that_does_not_load_is_named_with_its_path() {
        let missing = MistralModel {
            id: "test/missing".into(),
            path: "/nonexistent/model.gguf".into(),
        };
        let error = MistralEngine::load(&[missing], 1)
            .await
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(
            error.contains("test/missing") && error.contains("/nonexistent/model.gguf"),
            "{error}"
        );

        let empty = tempfile::tempdir().unwrap();
        let broken = MistralModel {
            id: "test/broken".into(),
            path: empty.path().to_path_buf(),
        };
        let error = MistralEngine::load(&[broken], 1).await.err();
        assert!(
            error
                .as_ref()
                .is_some_and(|error| error.to_string().contains("test/broken")),
            "an empty folder does not load"
        );
        // mistral.rs's reason is kept as the cause, not flattened into the message.
        let cause = error.as_ref().and_then(std::error::Error::source);
        assert!(cause.is_some(), "{error:?} carries no cause");
    }
}
