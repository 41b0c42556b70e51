//! The digest an offer pins its weights by (design §12): the SHA-256 of a GGUF file, or of the
//! `.safetensors` files of a folder read one after another in byte order of their names, so
//! `sha256sum model.gguf` or `cat *.safetensors | sha256sum` (in the C locale) gives the same.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a model's weights could not be digested.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A file or folder could not be read.
    #[error("cannot read the weights at {path}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A folder holds no `.safetensors` file.
    #[error("{0} holds no .safetensors file: give a GGUF file or a folder of safetensors weights")]
    NoWeights(PathBuf),
}

/// The digest of the weights at `path` (a file, or a folder of safetensors).
pub fn weights_digest(path: &Path) -> Result<[u8; 32], WeightsError> {
    let read = |source| WeightsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let files = if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read)? {
            let file = entry.map_err(read)?.path();
            if file.extension().is_some_and(|ext| ext == "safetensors") {
                files.push(file);
            }
        }
        if files.is_empty() {
            return Err(WeightsError::NoWeights(path.to_path_buf()));
        }
        files.sort_by(|a, b| {
            a.as_os_str()
                .as_encoded_bytes()
                .cmp(b.as_os_str().as_encoded_bytes())
        });
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    for file in files {
        let read = |source| WeightsError::Read {
            path: file.clone(),
            source,
        };
        let mut reader = std::fs::File::open(&file).map_err(read)?;
        loop {
            let count = reader.read(&mut buffer).map_err(read)?;
            if count == 0 {
                break;
            }
            hash.update(&buffer[..count]);
        }
    }
    Ok(hash.finalize().into())
}

/// A digest as lowercase hex, as `sha256sum` prints it; all zeros (nothing pinned) as `none`.
pub fn digest_hex(digest: &[u8; 32]) -> String {
    if *digest == [0; 32] {
        return "none".into();
    }
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_digests_as_sha256sum_and_a_folder_as_its_safetensors_in_name_order() {
        let folder = std::env::temp_dir().join(format!("weights-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("b.safetensors"), b"second").unwrap();
        std::fs::write(folder.join("a.safetensors"), b"first ").unwrap();
        std::fs::write(folder.join("config.json"), b"{}").unwrap();
        let folder_digest = weights_digest(&folder).unwrap();
        assert_eq!(
            folder_digest,
            <[u8; 32]>::from(Sha256::digest(b"first second"))
        );
        let file_digest = weights_digest(&folder.join("a.safetensors")).unwrap();
        assert_eq!(file_digest, <[u8; 32]>::from(Sha256::digest(b"first ")));
        std::fs::remove_file(folder.join("a.safetensors")).unwrap();
        std::fs::remove_file(folder.join("b.safetensors")).unwrap();
        assert!(matches!(
            weights_digest(&folder),
            Err(WeightsError::NoWeights(_))
        ));
        assert!(matches!(
            weights_digest(&folder.join("gone.gguf")),
            Err(WeightsError::Read { .. })
        ));
        std::fs::remove_dir_all(&folder).unwrap();
        assert_eq!(digest_hex(&[0; 32]), "none");
        assert_eq!(digest_hex(&[0xab; 32]), "ab".repeat(32));
    }
}
