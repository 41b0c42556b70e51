//! Inference engines: what turns a decrypted prompt into a stream of text pieces. The daemon
//! takes any [`Engine`]: mistral.rs for real answers ([`mistral`], feature `mistralrs`), and
//! [`replay`], which emits a fixed prose corpus at a set rate for tests and benchmarks.

#[cfg(feature = "mistralrs")]
pub mod mistral;
pub mod replay;
#[cfg(any(feature = "mistralrs", test))]
mod rescoring;
#[cfg(feature = "mistralrs")]
pub use rescoring::Rescoring;

use chainference_client::envelope::{FinishReason, PromptEnvelope};
use chainference_client::sampling::SeededSampler;
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
    /// A model's weights could not be digested.
    #[error("model {model}'s weights could not be digested")]
    Weights {
        /// The model's id.
        model: String,
        /// What failed.
        #[source]
        source: chainference_client::weights::WeightsError,
    },
    /// Re-scoring an answer failed.
    #[error("model {model} could not re-score the answer")]
    Rescore {
        /// The model's id.
        model: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// Starts answering `prompt` with `model`, at most `max_tokens` answer tokens in all,
    /// drawing each token with `sampler` (an engine that samples at all samples with it, so
    /// the answer can be re-scored). A non-empty `delivered` is the start of the answer
    /// already on chain (a resumed job): the engine continues it in completion mode, sending
    /// [`Generated::Resumed`] first.
    fn generate(
        &self,
        model: &str,
        prompt: &PromptEnvelope,
        sampler: SeededSampler,
        delivered: &str,
        max_tokens: u32,
    ) -> Result<mpsc::UnboundedReceiver<Generated>, EngineError>;

    /// The SHA-256 of the weights `model` was loaded from ([`chainference_client::weights`]),
    /// which its offer pins; `None` for an engine without weights.
    fn weights(&self, model: &str) -> Option<[u8; 32]>;
}
