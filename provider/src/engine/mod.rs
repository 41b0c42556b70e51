//! Inference engines: what turns a decrypted prompt into a stream of text pieces. The daemon
//! takes any [`Engine`]: mistral.rs for real answers ([`mistral`], feature `mistralrs`), and
//! [`replay`], which emits a fixed prose corpus at a set rate for tests and benchmarks.

#[cfg(feature = "mistralrs")]
pub mod mistral;
pub mod replay;

use chainference_client::envelope::{FinishReason, PromptEnvelope};
use tokio::sync::mpsc;

/// One step of a generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generated {
    /// Text the model produced as `tokens` tokens.
    Text {
        /// The text.
        text: String,
        /// Tokens it took.
        tokens: u32,
    },
    /// The first step of a continuation: the tokens the answer's delivered start counts as
    /// (what the engine's own tokenizer makes of it).
    Resumed {
        /// Tokens of the delivered start.
        tokens: u32,
    },
    /// The answer ended.
    Done(FinishReason),
    /// The engine failed mid-answer; what was produced stands.
    Failed(String),
}

/// Why an engine could not start a generation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine does not serve this model.
    #[error("model {0} is not loaded by this engine")]
    UnknownModel(String),
    /// A model's file or folder does not exist.
    #[error("model {model} did not load from {path}: no such file or folder")]
    Missing {
        /// The model's id.
        model: String,
        /// Where it was to load from.
        path: String,
    },
    /// A model did not load (the cause is the source).
    #[error("model {model} did not load from {path}")]
    Load {
        /// The model's id.
        model: String,
        /// Where it was loaded from.
        path: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Generates answers. Implementations run the generation in their own task and send its steps
/// on the returned channel; dropping the receiver stops it.
pub trait Engine: Send + Sync + 'static {
    /// Starts answering `prompt` with `model`, at most `max_tokens` answer tokens in all. A
    /// non-empty `delivered` is the start of the answer already on chain (a resumed job): the
    /// engine continues it in completion mode, sending [`Generated::Resumed`] first.
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError>;
}
