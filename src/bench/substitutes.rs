//! Substitutes a cheating server could serve in place of the weights its offer pins, written
//! from the served GGUF file: the same model at a cheaper quantization (every Q4_1 matrix
//! dequantized and quantized again as Q4_0, which drops Q4_1's per-block minimum: 4.5 bits a
//! weight instead of 5), or with its last layers removed.

use anyhow::{anyhow, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// A way to cheapen the served model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Substitute {
    /// Every Q4_1 tensor requantized as Q4_0.
    Q4_0,
    /// The last `layers` transformer blocks removed.
    Truncated {
        /// Blocks removed.
        layers: u32,
    },
}

impl Substitute {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Self::Q4_0 => "requantized Q4_1 -> Q4_0".into(),
            Self::Truncated { layers } => format!("last {layers} layers removed"),
        }
    }
}

/// Writes `substitute` of the GGUF model at `source` to `target`.
pub fn write_substitute(source: &Path, target: &Path, substitute: Substitute) -> Result<()> {
    let mut reader =
        File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|error| anyhow!("{} is not a GGUF file: {error}", source.display()))?;
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|value| value.to_string().ok())
        .ok_or_else(|| anyhow!("{} names no architecture", source.display()))?
        .clone();
    let block_count_key = format!("{architecture}.block_count");
    let blocks = content
        .metadata
        .get(&block_count_key)
        .and_then(|value| value.to_u32().ok())
        .ok_or_else(|| anyhow!("{} gives no block count", source.display()))?;
    let kept_blocks = match substitute {
        Substitute::Truncated { layers } if layers < blocks => blocks - layers,
        Substitute::Truncated { .. } => {
            return Err(anyhow!("the model has only {blocks} layers"));
        }
        Substitute::Q4_0 => blocks,
    };

    let mut metadata: Vec<(String, Value)> = content
        .metadata
        .iter()
        .map(|(key, value)| {
            let value = if *key == block_count_key {
                Value::U32(kept_blocks)
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));

    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        if let Some(block) = block_of(name) {
            if block >= kept_blocks {
                continue;
            }
        }
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(|error| anyhow!("reading tensor {name}: {error}"))?;
        let tensor = match substitute {
            Substitute::Q4_0 if tensor.dtype() == GgmlDType::Q4_1 => {
                let weights = tensor
                    .dequantize(&Device::Cpu)
                    .map_err(|error| anyhow!("dequantizing {name}: {error}"))?;
                QTensor::quantize(&weights, GgmlDType::Q4_0)
                    .map_err(|error| anyhow!("quantizing {name}: {error}"))?
            }
            _ => tensor,
        };
        tensors.push((name.clone(), tensor));
    }

    let mut writer = BufWriter::new(
        File::create(target).with_context(|| format!("cannot write {}", target.display()))?,
    );
    let metadata: Vec<(&str, &Value)> = metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor))
        .collect();
    gguf_file::write(&mut writer, &metadata, &tensors)
        .map_err(|error| anyhow!("writing {}: {error}", target.display()))?;
    Ok(())
}

/// The transformer block a GGUF tensor belongs to (`blk.N.…`).
fn block_of(name: &str) -> Option<u32> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_told_apart_by_block() {
        assert_eq!(block_of("blk.12.attn_q.weight"), Some(12));
        assert_eq!(block_of("token_embd.weight"), None);
        assert_eq!(block_of("blk.x.attn_q.weight"), None);
    }
}
