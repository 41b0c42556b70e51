//! Re-scoring on dequantized weights. candle's quantized matmul on the CPU computes a pass over a
//! whole answer row by row, so it costs per token what generating does (measured on SmolLM2
//! Q4_1, 230 tokens, two threads: 15.5 s a pass quantized, 3.0 s dequantized to F32). `audit
//! --replay` therefore dequantizes a GGUF's weights when they fit in memory. The logits then
//! differ from the server's by float noise (candle's quantized kernels also round each
//! activation row to 8 bits), which the verdict's margins absorb at almost every token; a token
//! that falls [`FAR_MARGIN`] or more short on F32 is scored again on the file's own quantized
//! kernels ([`confirm_far_tokens`]) before the verdict counts it (`chainference bench replay`
//! measured one honest answer in 100 with such a token on F32, the model's choice on the served
//! kernels).
//!
//! [`FAR_MARGIN`]: chainference_client::rescore::FAR_MARGIN

use anyhow::{anyhow, Context, Result};
use candle_core::quantized::gguf_file;
use chainference_client::envelope::PromptEnvelope;
use chainference_client::rescore::TokenScore;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// candle's switch: every quantized matrix it loads afterwards is dequantized to F32. Read once
/// per thread, so it is set before any thread loads a model.
const CANDLE_DEQUANTIZE_ALL: &str = "CANDLE_DEQUANTIZE_ALL";

/// Whether re-scoring dequantizes a GGUF's weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Dequantize {
    /// When the F32 weights take at most half the memory available.
    #[default]
    Auto,
    /// Always (fast; F32 weights take about eight times a 4-bit file's size).
    Always,
    /// Never: the server's own quantized kernels (slow on a CPU, least memory).
    Never,
}

/// Whether re-scoring `weights` runs dequantized under `choice` (safetensors folders load in F32
/// anyway: no).
pub fn decide(weights: &Path, choice: Dequantize) -> Result<bool> {
    let is_gguf = weights.extension().is_some_and(|ext| ext == "gguf");
    Ok(match choice {
        Dequantize::Never => false,
        _ if !is_gguf => false,
        Dequantize::Always => true,
        Dequantize::Auto => match available_memory() {
            Some(available) => f32_bytes(weights)?.saturating_mul(2) <= available,
            None => false,
        },
    })
}

/// Turns dequantizing on for every model loaded afterwards. Call it before the runtime starts:
/// the process is still one thread, and no thread has read candle's switch.
pub fn turn_on() {
    std::env::set_var(CANDLE_DEQUANTIZE_ALL, "1");
}

/// Whether [`turn_on`] was called (or the switch set from outside).
pub fn is_on() -> bool {
    std::env::var_os(CANDLE_DEQUANTIZE_ALL).is_some_and(|value| !value.is_empty() && value != "0")
}

/// The hidden command that confirms far tokens in a process of its own.
pub const CONFIRM_COMMAND: &str = "confirm-far-tokens";

/// Far tokens of an answer re-scored on dequantized weights, to score again on the file's own
/// quantized kernels: what [`confirm_far_tokens`] hands its process (JSON on its standard input).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Confirmation {
    /// The weights file, as the re-scoring loaded it.
    pub weights: PathBuf,
    /// The SHA-256 the server pinned for them (checked again as they load).
    pub pinned: [u8; 32],
    /// The model's id.
    pub model: String,
    /// The request (its address seeds the sampler).
    pub request: [u8; 32],
    /// The decrypted prompt.
    pub prompt: PromptEnvelope,
    /// Every answer token's score on the dequantized weights.
    pub scores: Vec<TokenScore>,
}

/// The scores with far tokens scored again, and their positions: what that process prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confirmed {
    /// Every answer token's score, far ones as the quantized kernels give them.
    pub scores: Vec<TokenScore>,
    /// The positions scored again.
    pub positions: Vec<usize>,
}

/// Scores again `job`'s far tokens on the weights quantized as the file has them, in a process
/// of this binary's own: candle reads its dequantize switch once per thread from the
/// environment, so this process, which dequantized, cannot load the file quantized.
pub async fn confirm_far_tokens(job: &Confirmation) -> Result<Confirmed> {
    let binary = std::env::current_exe().context("finding the chainference binary")?;
    let input = serde_json::to_vec(job)?;
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(binary)
            .arg(CONFIRM_COMMAND)
            .env_remove(CANDLE_DEQUANTIZE_ALL)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&input)?;
        }
        child.wait_with_output()
    })
    .await?
    .context("starting the process that scores far tokens on the quantized weights")?;
    if !output.status.success() {
        return Err(anyhow!(
            "scoring the far tokens again on the quantized weights failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .context("the process that scores far tokens on the quantized weights printed no scores")
}

/// The process [`confirm_far_tokens`] starts: reads its [`Confirmation`] on standard input,
/// loads the weights as the file has them (refused unless they are the pinned ones), and prints
/// the [`Confirmed`] scores as JSON.
pub async fn run_confirm() -> Result<()> {
    use chainference_client::sampling::SeededSampler;
    use chainference_provider::engine::mistral::{MistralEngine, MistralModel};
    use chainference_provider::engine::Engine;
    if is_on() {
        return Err(anyhow!(
            "{CONFIRM_COMMAND} scores on the quantized weights: unset {CANDLE_DEQUANTIZE_ALL}"
        ));
    }
    let job: Confirmation = serde_json::from_reader(std::io::stdin().lock())
        .with_context(|| format!("{CONFIRM_COMMAND} reads what `audit --replay` hands it"))?;
    // Loaded to serve, without a prefix cache: each run goes over the whole answer up to its
    // token (a re-scoring engine's cache keeps a run under the token it drew, never run).
    let engine = MistralEngine::load(
        &[MistralModel {
            id: job.model.clone(),
            path: job.weights.clone(),
        }],
        1,
    )
    .await?;
    if engine.weights(&job.model) != Some(job.pinned) {
        return Err(anyhow!(
            "the weights at {} changed while they were re-scored: run the audit again",
            job.weights.display()
        ));
    }
    let request = anchor_lang::prelude::Pubkey::new_from_array(job.request);
    let sampler = SeededSampler::new(&request, &job.prompt.sampling);
    let mut scores = job.scores;
    let positions = engine
        .confirm(&job.model, &job.prompt, &sampler, &mut scores)
        .await?;
    println!(
        "{}",
        serde_json::to_string(&Confirmed { scores, positions })?
    );
    Ok(())
}

/// The bytes `weights` (a GGUF file) takes as F32: four per element of every tensor.
fn f32_bytes(weights: &Path) -> Result<u64> {
    let mut file = std::fs::File::open(weights)
        .with_context(|| format!("opening the weights {}", weights.display()))?;
    let content = gguf_file::Content::read(&mut file).with_context(|| {
        format!(
            "{} is not a GGUF file: pass the pinned model's .gguf (or a folder of safetensors)",
            weights.display()
        )
    })?;
    Ok(content
        .tensor_infos
        .values()
        .map(|info| info.shape.elem_count() as u64 * 4)
        .sum())
}

/// The memory available to a new allocation (Linux's `MemAvailable`); `None` where unknown.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF holding one 4-bit 64×32 matrix.
    fn small_gguf(path: &Path) {
        use candle_core::quantized::{GgmlDType, QTensor};
        use candle_core::{Device, Tensor};
        let matrix = Tensor::ones((64, 32), candle_core::DType::F32, &Device::Cpu)
            .and_then(|ones| QTensor::quantize(&ones, GgmlDType::Q4_0))
            .expect("quantized");
        let mut file = std::fs::File::create(path).expect("created");
        gguf_file::write(&mut file, &[], &[("weight", &matrix)]).expect("written");
    }

    #[test]
    fn a_gguf_counts_four_bytes_an_element_and_other_weights_are_never_dequantized() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("small.gguf");
        small_gguf(&path);
        assert_eq!(f32_bytes(&path).expect("counted"), 64 * 32 * 4);
        assert!(decide(&path, Dequantize::Always).expect("decided"));
        assert!(!decide(&path, Dequantize::Never).expect("decided"));
        assert!(!decide(folder.path(), Dequantize::Always).expect("decided"));
        // A few kilobytes fit wherever the memory available is known.
        assert_eq!(
            decide(&path, Dequantize::Auto).expect("decided"),
            available_memory().is_some()
        );
    }

    #[test]
    fn a_file_that_is_not_gguf_is_named_with_the_fix() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("weights.gguf");
        std::fs::write(&path, b"not a model").expect("written");
        let error = f32_bytes(&path).expect_err("refused");
        assert!(
            format!("{error:#}").contains("is not a GGUF file"),
            "{error:#}"
        );
    }
}
