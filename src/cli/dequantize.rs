//! Re-scoring on dequantized weights. candle's quantized matmul on the CPU computes a pass over a
//! whole answer row by row, so it costs per token what generating does (measured on SmolLM2
//! Q4_1, 230 tokens, two threads: 15.5 s a pass quantized, 3.0 s dequantized to F32). `audit
//! --replay` therefore dequantizes a GGUF's weights when they fit in memory. The logits then
//! differ from the server's by float noise, which the verdict's margins are built to absorb
//! (`chainference bench replay` measures honest answers re-scored this way).

use anyhow::{Context, Result};
use candle_core::quantized::gguf_file;
use clap::ValueEnum;
use std::path::Path;

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
