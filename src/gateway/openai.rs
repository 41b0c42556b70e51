//! OpenAI's wire format, as much of it as `chainference serve` speaks: the bodies of chat and
//! plain completions, their answers whole and streamed as chunks, the model list, and the
//! error object with its status code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chainference_client::envelope::{FinishReason, Message, Sampling};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A chat message as OpenAI sends it: the content is a string or a list of parts, of which
/// text parts are kept.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The text, or parts of it.
    #[serde(default)]
    pub content: Option<Content>,
}

/// A message's content.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts (`{"type": "text", "text": …}`).
    Parts(Vec<Part>),
}

/// One part of a message's content.
#[derive(Clone, Debug, Deserialize)]
pub struct Part {
    /// The part's type; only `text` is served.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its text.
    #[serde(default)]
    pub text: Option<String>,
}

/// `stop`: one string or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// The settings chat and plain completions share.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// The model's Hugging Face id.
    pub model: String,
    /// Most answer tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Most answer tokens (the newer name).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature (0 or absent: greedy).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The client's seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Strings that end the answer.
    #[serde(default)]
    pub stop: Option<Stop>,
    /// Stream server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Answers wanted; only 1 is served.
    #[serde(default)]
    pub n: Option<u32>,
}

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Everything else.
    #[serde(flatten)]
    pub settings: Settings,
}

/// `POST /v1/completions`: a plain prompt, answered as the user's one turn.
#[derive(Clone, Debug, Deserialize)]
pub struct CompletionRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Everything else.
    #[serde(flatten)]
    pub settings: Settings,
}

/// `prompt`: one string (or a list holding one).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// One string.
    One(String),
    /// A list: exactly one string is served.
    Many(Vec<String>),
}

impl Settings {
    /// The answer's token limit, if the body sets one.
    pub fn max_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The sampling the sealed prompt carries; a temperature of 0 is greedy.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature.filter(|&temperature| temperature > 0.0),
            top_p: self.top_p,
            seed: self.seed,
            stop: match &self.stop {
                None => Vec::new(),
                Some(Stop::One(stop)) => vec![stop.clone()],
                Some(Stop::Many(stops)) => stops.clone(),
            },
        }
    }

    /// Refuses what is not served: several answers per call, an empty stop list's strings,
    /// temperatures and nucleus values out of range.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid(
                "n",
                "only n = 1 is served: make one call per answer",
            ));
        }
        if let Some(temperature) = self.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return Err(ApiError::invalid(
                    "temperature",
                    format!("temperature {temperature} is outside 0 to 2"),
                ));
            }
        }
        if let Some(top_p) = self.top_p {
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(ApiError::invalid(
                    "top_p",
                    format!("top_p {top_p} is outside (0, 1]"),
                ));
            }
        }
        if self.sampling().stop.iter().any(String::is_empty) {
            return Err(ApiError::invalid("stop", "a stop string is empty"));
        }
        Ok(())
    }
}

/// The conversation a chat body asks about, in the sealed prompt's terms (`developer` turns
/// are system turns; text parts are joined).
pub fn conversation(messages: &[ChatMessage]) -> Result<Vec<Message>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages is empty: send at least the user's turn",
        ));
    }
    messages
        .iter()
        .map(|message| {
            let role = match message.role.as_str() {
                "system" | "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                other => {
                    return Err(ApiError::invalid(
                        "messages",
                        format!("a message's role is {other:?}: system, developer, user and assistant are served (no tools)"),
                    ))
                }
            };
            let content = match &message.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(piece)) => text.push_str(piece),
                            (kind, _) => {
                                return Err(ApiError::invalid(
                                    "messages",
                                    format!("a content part of type {kind:?} is not served: send text"),
                                ))
                            }
                        }
                    }
                    text
                }
            };
            Ok(Message {
                role: role.into(),
                content,
            })
        })
        .collect()
}

/// The one prompt of a plain completion body.
pub fn plain_prompt(prompt: &Prompt) -> Result<String, ApiError> {
    match prompt {
        Prompt::One(text) => Ok(text.clone()),
        Prompt::Many(list) if list.len() == 1 => Ok(list[0].clone()),
        Prompt::Many(_) => Err(ApiError::invalid(
            "prompt",
            "one prompt a call is served: send a string",
        )),
    }
}

/// OpenAI's name for why an answer ended.
pub fn finish_reason(finish: Option<FinishReason>) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "length",
        _ => "stop",
    }
}

/// Token counts as OpenAI reports them.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Usage {
    /// Prompt tokens billed.
    pub prompt_tokens: u32,
    /// Answer tokens billed.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

impl Usage {
    /// The usage of a bill of `prompt` and `completion` tokens.
    pub fn of(prompt: u32, completion: u32) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

/// An error in OpenAI's shape, with its HTTP status.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong and what to change.
    pub message: String,
    /// OpenAI's `type`.
    pub kind: &'static str,
    /// The body field at fault, if one is.
    pub param: Option<&'static str>,
    /// A code naming the error.
    pub code: &'static str,
}

impl ApiError {
    /// 400: the body is wrong at `param`.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param),
            code: "invalid_value",
        }
    }

    /// An error of `status`, `kind` and `code`.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
        }
    }

    /// The error object OpenAI's clients read.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_body_maps_roles_parts_and_sampling() {
        let body: ChatRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Again?"}
            ],
            "max_completion_tokens": 20,
            "max_tokens": 99,
            "temperature": 0,
            "top_p": 0.9,
            "seed": 7,
            "stop": "\n\n",
            "stream": true,
            "stream_options": {"include_usage": true}
        }))
        .expect("a chat body");
        let turns = conversation(&body.messages).expect("served");
        let roles: Vec<_> = turns.iter().map(|turn| turn.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(turns[1].content, "Hi there");
        assert_eq!(body.settings.max_tokens(), Some(20));
        let sampling = body.settings.sampling();
        assert_eq!(sampling.temperature, None);
        assert_eq!((sampling.top_p, sampling.seed), (Some(0.9), Some(7)));
        assert_eq!(sampling.stop, ["\n\n"]);
        assert!(body.settings.stream);
        body.settings.check().expect("served");
    }

    #[test]
    fn what_is_not_served_is_refused_naming_the_field() {
        let refused = |body: Value| -> ApiError {
            let body: ChatRequest = serde_json::from_value(body).expect("parses");
            body.settings
                .check()
                .and_then(|()| conversation(&body.messages).map(|_| ()))
                .expect_err("refused")
        };
        let user = json!([{"role": "user", "content": "x"}]);
        let error = refused(json!({"model": "m", "messages": user, "n": 2}));
        assert_eq!(
            (error.status, error.param),
            (StatusCode::BAD_REQUEST, Some("n"))
        );
        let error = refused(json!({"model": "m", "messages": user, "temperature": 3.0}));
        assert_eq!(error.param, Some("temperature"));
        let error = refused(json!({"model": "m", "messages": []}));
        assert_eq!(error.param, Some("messages"));
        let error = refused(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}));
        assert!(error.message.contains("\"tool\""), "{}", error.message);
        let error = refused(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
        );
        assert!(error.message.contains("image_url"), "{}", error.message);
        assert_eq!(
            error.body()["error"]["type"],
            json!("invalid_request_error")
        );
    }

    #[test]
    fn a_plain_prompt_is_one_string() {
        assert_eq!(
            plain_prompt(&Prompt::Many(vec!["a".into()])).expect("one"),
            "a"
        );
        assert_eq!(
            plain_prompt(&Prompt::Many(vec!["a".into(), "b".into()]))
                .expect_err("two")
                .param,
            Some("prompt")
        );
    }
}
