//! The provider's configuration: `provider.toml` (cluster, keypair, engine, models and prices)
//! and the settings the daemon runs with.

use chainference::state::ModelOffer;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {reason} (pass --config with the path of a provider.toml; README.md shows one)")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The file is not valid.
    #[error("the config file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Which engine answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// mistral.rs, each model loaded from its `path`.
    #[default]
    Mistralrs,
    /// The replay engine (tests and benchmarks).
    Replay,
}

/// One model the provider serves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ModelSettings {
    /// Hugging Face id, as clients ask for it.
    pub id: String,
    /// The model's revision (a commit or tag).
    #[serde(default = "main_revision")]
    pub revision: String,
    /// Its quantization (`Q4_1`, `F32`, …).
    #[serde(default)]
    pub quantization: String,
    /// A local folder (safetensors) or GGUF file; unused by the replay engine.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Context length in tokens.
    #[serde(default = "default_context")]
    pub context_length: u32,
    /// Lamports per million prompt tokens.
    pub input_price: u64,
    /// Lamports per million answer tokens.
    pub output_price: u64,
    /// Least stake accepted, lamports.
    #[serde(default)]
    pub min_stake: u64,
}

fn main_revision() -> String {
    "main".into()
}

fn default_context() -> u32 {
    2_048
}

impl ModelSettings {
    /// The on-chain offer, pinning the weights whose digest is `weights_sha256`.
    pub fn offer(&self, weights_sha256: [u8; 32]) -> ModelOffer {
        ModelOffer {
            id: self.id.clone(),
            revision: self.revision.clone(),
            quantization: self.quantization.clone(),
            weights_sha256,
            context_length: self.context_length,
            input_price: self.input_price,
            output_price: self.output_price,
            min_stake: self.min_stake,
        }
    }
}

/// The replay engine's corpus and rate.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ReplaySettings {
    /// A text file of prose.
    pub corpus: PathBuf,
    /// Tokens per second (0 = as fast as possible).
    #[serde(default)]
    pub tokens_per_second: f64,
}

/// What the daemon runs with, wherever it came from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Settings {
    /// The models, their prices and limits.
    pub models: Vec<ModelSettings>,
    /// Most requests served at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrent: u16,
    /// The public URL of the direct-delivery endpoint (`ws://` or `wss://`), listed in the
    /// server account; empty with `listen` set: `ws://` and the bound address.
    #[serde(default)]
    pub endpoint: String,
    /// The address the direct-delivery endpoint listens on; without it the provider takes
    /// only requests delivered on chain.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// Depth of the response tree created if the server has none (14, 20 or 24).
    #[serde(default = "default_depth")]
    pub tree_depth: u32,
    /// Seconds between full scans for open requests (the subscription is the fast path).
    #[serde(default = "default_scan")]
    pub scan_secs: u64,
    /// Priority fee of each append, in micro-lamports per compute unit (0: none). Appends
    /// then ask for `batcher::APPEND_COMPUTE_UNITS`, so the fee per append is that times this.
    #[serde(default)]
    pub compute_unit_price: u64,
    /// Whether the server may re-pin an offer to weights other than those it pins on chain
    /// (`--update-weights`); otherwise the provider refuses to start with them.
    #[serde(default)]
    pub update_weights: bool,
}

fn default_concurrency() -> u16 {
    4
}

fn default_depth() -> u32 {
    24
}

fn default_scan() -> u64 {
    5
}

impl Settings {
    /// The interval between scans.
    pub fn scan_interval(&self) -> Duration {
        Duration::from_secs(self.scan_secs.max(1))
    }

    /// The offer for `model`, if served.
    pub fn model(&self, model: &str) -> Option<&ModelSettings> {
        self.models.iter().find(|settings| settings.id == model)
    }
}

/// `provider.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ConfigFile {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// PubSub (WebSocket) URL.
    pub ws_url: String,
    /// The operator's keypair file (Solana CLI JSON).
    pub keypair: PathBuf,
    /// Which engine answers.
    #[serde(default)]
    pub engine: EngineKind,
    /// The replay engine's settings (with `engine = "replay"`).
    #[serde(default)]
    pub replay: Option<ReplaySettings>,
    /// Models, prices and limits.
    #[serde(flatten)]
    pub settings: Settings,
}

impl ConfigFile {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let config: Self = toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if config.settings.models.is_empty() {
            return Err(invalid("no [[models]] are listed".into()));
        }
        if config.engine == EngineKind::Replay && config.replay.is_none() {
            return Err(invalid(
                "engine = \"replay\" needs a [replay] table with a corpus".into(),
            ));
        }
        if config.engine == EngineKind::Mistralrs {
            if let Some(model) = config
                .settings
                .models
                .iter()
                .find(|model| model.path.is_none())
            {
                return Err(invalid(format!(
                    "model {} has no path (a folder or a .gguf file)",
                    model.id
                )));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_config_and_names_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("chainference-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("provider.toml");
        std::fs::write(
            &path,
            r#"
rpc_url = "http://127.0.0.1:8899"
ws_url = "ws://127.0.0.1:8900"
keypair = "operator.json"
max_concurrent = 2

[[models]]
id = "HuggingFaceTB/SmolLM2-135M-Instruct"
path = "SmolLM2-135M-Instruct.Q4_1.gguf"
input_price = 100000
output_price = 200000
"#,
        )
        .unwrap();
        let config = ConfigFile::read(&path).unwrap();
        assert_eq!(config.engine, EngineKind::Mistralrs);
        assert_eq!(config.settings.max_concurrent, 2);
        assert_eq!(config.settings.models[0].revision, "main");
        std::fs::write(
            &path,
            "rpc_url = \"x\"\nws_url = \"y\"\nkeypair = \"k\"\nmodels = []\n",
        )
        .unwrap();
        let error = ConfigFile::read(&path).unwrap_err().to_string();
        assert!(error.contains("no [[models]]"), "{error}");
        let missing = ConfigFile::read(&dir.join("absent.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("--config"), "{missing}");
    }
}
