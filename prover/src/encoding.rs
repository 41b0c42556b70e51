//! How bytes are written in a bundle: keys in base58 (as Solana writes them), hashes and nonces
//! in hex, ciphertext in base64.

use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// 32-byte keys as base58.
pub mod base58_32 {
    use super::*;

    /// Writes `key` in base58.
    pub fn serialize<S: Serializer>(key: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&bs58::encode(key).into_string())
    }

    /// Reads a base58 key of 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = bs58::decode(&text).into_vec().map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format!("{text} is not a 32-byte key")))
    }
}

/// Fixed-size byte arrays as hex.
pub mod hex_array {
    use super::*;

    /// Writes `bytes` in lower-case hex.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Reads hex of exactly `N` bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format!("{text} is not {N} bytes of hex")))
    }
}

/// A list of 32-byte hashes as hex.
pub mod hex_list {
    use super::*;
    use serde::ser::SerializeSeq;

    /// Writes each hash in hex.
    pub fn serialize<S: Serializer>(hashes: &[[u8; 32]], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(hashes.len()))?;
        for hash in hashes {
            seq.serialize_element(&hex::encode(hash))?;
        }
        seq.end()
    }

    /// Reads a list of 32-byte hex hashes.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| {
                let bytes = hex::decode(text).map_err(D::Error::custom)?;
                bytes
                    .try_into()
                    .map_err(|_| D::Error::custom(format!("{text} is not a 32-byte hash")))
            })
            .collect()
    }
}

/// Variable-length bytes as base64.
pub mod base64_bytes {
    use super::*;
    use base64::{prelude::BASE64_STANDARD, Engine};

    /// Writes `bytes` in standard base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64_STANDARD.encode(bytes))
    }

    /// Reads standard base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        BASE64_STANDARD
            .decode(String::deserialize(deserializer)?)
            .map_err(D::Error::custom)
    }
}
