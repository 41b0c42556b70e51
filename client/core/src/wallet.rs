//! Keypair files in the Solana CLI's format (a JSON array of 64 bytes), read with errors that
//! say what to do, and the folders Chainference keeps under the home folder.

use solana_keypair::Keypair;
use std::path::{Path, PathBuf};

/// Why a keypair file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The file is not there or not readable.
    #[error("cannot read the keypair file {path}: {reason} (pass -k/--keypair with a keypair file, or create one with `solana-keygen new`)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The file does not hold a keypair.
    #[error(
        "{path} is not a keypair file: {reason} (expected the Solana CLI's JSON array of 64 bytes)"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the keypair at `path` (`~` is the home folder).
pub fn read_keypair(path: &Path) -> Result<Keypair, WalletError> {
    let path = expand_home(path);
    let text = std::fs::read_to_string(&path).map_err(|error| WalletError::Unreadable {
        path: path.clone(),
        reason: error.to_string(),
    })?;
    let malformed = |reason: String| WalletError::Malformed {
        path: path.clone(),
        reason,
    };
    let bytes: Vec<u8> =
        serde_json::from_str(&text).map_err(|error| malformed(error.to_string()))?;
    Keypair::try_from(bytes.as_slice()).map_err(|error| malformed(error.to_string()))
}

/// Writes `keypair` to `path` in the Solana CLI's format.
pub fn write_keypair(keypair: &Keypair, path: &Path) -> std::io::Result<()> {
    let bytes = keypair.to_bytes().to_vec();
    let json = serde_json::to_string(&bytes).map_err(std::io::Error::other)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, json)
}

/// Where Chainference caches what it fetches (the demo's model, Light's programs):
/// `$CHAINFERENCE_CACHE`, else `~/.cache/chainference`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("CHAINFERENCE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => expand_home(Path::new("~/.cache/chainference")),
    }
}

/// `path` with a leading `~` replaced by the home folder.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_signer::Signer;

    #[test]
    fn keypair_files_round_trip_and_bad_ones_say_why() {
        let dir = std::env::temp_dir().join(format!("chainference-wallet-{}", std::process::id()));
        let path = dir.join("id.json");
        let keypair = Keypair::new();
        write_keypair(&keypair, &path).unwrap();
        assert_eq!(read_keypair(&path).unwrap().pubkey(), keypair.pubkey());
        std::fs::write(&path, "[1,2,3]").unwrap();
        assert!(matches!(
            read_keypair(&path),
            Err(WalletError::Malformed { .. })
        ));
        let missing = read_keypair(&dir.join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("-k/--keypair"), "{missing}");
    }
}
