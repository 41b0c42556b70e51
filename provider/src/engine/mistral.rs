//! mistral.rs: real inference, streaming, with each model's chat template, several requests at
//! once (its scheduler batches them). Models load from a local folder (`config.json`,
//! `tokenizer.json`, safetensors) or a single GGUF file, never from the network.

use super::{Engine, EngineError, Generated};
use chainference_client::envelope::{FinishReason, PromptEnvelope};
use mistralrs::{
    GgufModelBuilder, Model, ModelDType, RequestBuilder, Response, StopTokens, TextMessageRole,
    TextModelBuilder,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

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
    models: HashMap<String, Arc<Model>>,
}

impl MistralEngine {
    /// Loads every model; `max_concurrent` sequences are scheduled at once. Safetensors
    /// folders load in F32, so greedy sampling gives the same tokens every run.
    pub async fn load(models: &[MistralModel], max_concurrent: usize) -> Result<Self, EngineError> {
        let mut loaded = HashMap::new();
        for model in models {
            let failed = |reason: String| EngineError::Load {
                model: model.id.clone(),
                path: model.path.display().to_string(),
                reason,
            };
            let path = &model.path;
            if !path.exists() {
                return Err(failed("no such file or folder".into()));
            }
            let built = if path.extension().is_some_and(|ext| ext == "gguf") {
                let folder = path.parent().unwrap_or(Path::new("."));
                let file = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .ok_or_else(|| failed("not a file name".into()))?;
                GgufModelBuilder::new(folder.to_string_lossy(), vec![file])
                    .with_max_num_seqs(max_concurrent.max(1))
                    .build()
                    .await
            } else {
                TextModelBuilder::new(path.to_string_lossy())
                    .with_dtype(ModelDType::F32)
                    .with_max_num_seqs(max_concurrent.max(1))
                    .build()
                    .await
            };
            let built = built.map_err(|error| failed(format!("{error:#}")))?;
            loaded.insert(model.id.clone(), Arc::new(built));
        }
        Ok(Self { models: loaded })
    }
}

/// The mistral.rs request for `prompt`: its turns, sampling (greedy unless a temperature is
/// given) and limits.
fn request_for(prompt: &PromptEnvelope, max_tokens: u32) -> RequestBuilder {
    let mut request = RequestBuilder::new();
    for message in &prompt.messages {
        let role = match message.role.as_str() {
            "system" => TextMessageRole::System,
            "assistant" => TextMessageRole::Assistant,
            _ => TextMessageRole::User,
        };
        request = request.add_message(role, &message.content);
    }
    let sampling = &prompt.sampling;
    match sampling.temperature {
        Some(temperature) if temperature > 0.0 => {
            request = request.set_sampler_temperature(temperature);
            if let Some(top_p) = sampling.top_p {
                request = request.set_sampler_topp(top_p);
            }
        }
        _ => request = request.set_deterministic_sampler(),
    }
    if !sampling.stop.is_empty() {
        request = request.set_sampler_stop_toks(StopTokens::Seqs(sampling.stop.clone()));
    }
    request.set_sampler_max_len(max_tokens as usize)
}

/// Generates `prompt` with `model`, sending each token's text on `sender`.
async fn stream(
    model: Arc<Model>,
    request: RequestBuilder,
    sender: mpsc::UnboundedSender<Generated>,
) {
    let mut stream = match model.stream_chat_request(request).await {
        Ok(stream) => stream,
        Err(error) => {
            let _ = sender.send(Generated::Failed(error.to_string()));
            return;
        }
    };
    let mut counted = 0usize;
    while let Some(response) = stream.next().await {
        let step = match response {
            Response::Chunk(chunk) => {
                let Some(choice) = chunk.choices.first() else {
                    continue;
                };
                let text = choice.delta.content.clone().unwrap_or_default();
                // One streamed chunk is one token; the usage on the last settles the count.
                let tokens = chunk
                    .usage
                    .as_ref()
                    .map_or(1, |usage| usage.completion_tokens.saturating_sub(counted));
                counted += tokens;
                if (tokens > 0 || !text.is_empty())
                    && sender
                        .send(Generated::Text {
                            text,
                            tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
                        })
                        .is_err()
                {
                    return;
                }
                match choice.finish_reason.as_deref() {
                    None => continue,
                    Some("length") => Generated::Done(FinishReason::Length),
                    Some(_) => Generated::Done(FinishReason::Stop),
                }
            }
            Response::Done(_) => Generated::Done(FinishReason::Stop),
            Response::ModelError(error, _) => Generated::Failed(error),
            Response::InternalError(error) | Response::ValidationError(error) => {
                Generated::Failed(error.to_string())
            }
            _ => continue,
        };
        let _ = sender.send(step);
        return;
    }
    let _ = sender.send(Generated::Done(FinishReason::Stop));
}

impl Engine for MistralEngine {
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError> {
        let loaded = self
            .models
            .get(model)
            .cloned()
            .ok_or_else(|| EngineError::UnknownModel(model.to_string()))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(stream(loaded, request_for(prompt, max_tokens), sender));
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let error = MistralEngine::load(&[broken], 1)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            error.unwrap_or_default().contains("test/broken"),
            "an empty folder does not load"
        );
    }
}
