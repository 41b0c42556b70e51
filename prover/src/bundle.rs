//! The transcript bundle: a self-describing JSON file with everything needed to check one
//! answer's delivery and bill offline.

use crate::core::{chunk_hash, Acknowledgement, ChunkRef, Hash, NONCE_LEN};
use crate::encoding::{base58_32, base64_bytes, hex_array, hex_list};
use serde::{Deserialize, Serialize};

/// The `format` field of every bundle.
pub const BUNDLE_FORMAT: &str = "chainference-transcript";
/// The version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// One answer's transcript with the on-chain evidence for each batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// The Chainference program.
    #[serde(with = "base58_32")]
    pub program_id: [u8; 32],
    /// The cluster's genesis hash.
    #[serde(with = "base58_32")]
    pub genesis_hash: [u8; 32],
    /// The request account.
    #[serde(with = "base58_32")]
    pub request: [u8; 32],
    /// The client's wallet.
    #[serde(with = "base58_32")]
    pub client: [u8; 32],
    /// The server account that answered.
    #[serde(with = "base58_32")]
    pub server: [u8; 32],
    /// The response tree.
    #[serde(with = "base58_32")]
    pub tree: [u8; 32],
    /// What the request allowed and the prices it locked.
    pub terms: BundleTerms,
    /// Every batch, in order.
    pub batches: Vec<BundleBatch>,
    /// The request's hash chain over its leaves, as the Request account holds it.
    #[serde(with = "hex_array")]
    pub chain: Hash,
    /// The bill as settled on chain.
    pub settlement: BundleSettlement,
    /// A directly delivered answer's acknowledgement, which its bill stops at, as the
    /// completing transaction's ed25519 instruction carried it (none: delivered on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<BundleAck>,
}

/// The client's signed acknowledgement of a directly delivered answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleAck {
    /// The sequence number after the last chunk acknowledged.
    pub next_seq: u32,
    /// Answer tokens acknowledged.
    pub tokens: u32,
    /// The hash chain over the acknowledged batches' leaves.
    #[serde(with = "hex_array")]
    pub chain: Hash,
    /// The client's ed25519 signature of the acknowledgement's message.
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl BundleAck {
    /// What it acknowledges.
    pub fn ack(&self) -> Acknowledgement {
        Acknowledgement {
            next_seq: self.next_seq,
            tokens: self.tokens,
            chain: self.chain,
        }
    }
}

/// The request's terms and the prices locked with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleTerms {
    /// Hugging Face model id.
    pub model: String,
    /// Prompt tokens the client declared.
    pub prompt_tokens: u32,
    /// Most answer tokens allowed.
    pub max_output_tokens: u32,
    /// Lamports escrowed.
    pub stake: u64,
    /// Locked input price, lamports per million tokens.
    pub input_price: u64,
    /// Locked output price, lamports per million tokens.
    pub output_price: u64,
    /// Locked protocol fee, bps.
    pub fee_bps: u16,
    /// The answer was delivered directly (only roots on chain, billed on the client's
    /// acknowledgement).
    #[serde(default)]
    pub direct: bool,
}

/// The settlement `complete_request` recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSettlement {
    /// Answer tokens billed.
    pub answer_tokens: u32,
    /// Lamports billed.
    pub bill: u64,
    /// The protocol fee out of the bill.
    pub fee: u64,
}

/// One `append_batch` (or `append_root`, its chunks from the client's saved answer): its
/// chunks and the evidence of where its leaf went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleBatch {
    /// The append transaction's signature (base58).
    pub signature: String,
    /// The slot it landed in.
    pub slot: u64,
    /// The leaf's index in the tree.
    pub leaf_index: u32,
    /// The tree's root right after the append, from spl-account-compression's change-log event.
    #[serde(with = "hex_array")]
    pub root: Hash,
    /// The leaf's proof against `root`, siblings from the leaf's level up.
    #[serde(with = "hex_list")]
    pub proof: Vec<Hash>,
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
}

/// One encrypted answer chunk (design §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in the answer, from 0.
    pub seq: u32,
    /// Answer tokens the server claims it carries.
    pub tokens: u16,
    /// The answer's last chunk.
    pub is_final: bool,
    /// XChaCha20-Poly1305 nonce.
    #[serde(with = "hex_array")]
    pub nonce: [u8; NONCE_LEN],
    /// The sealed bytes.
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

impl Chunk {
    /// The view the hashing core takes.
    pub fn as_ref(&self) -> ChunkRef<'_> {
        ChunkRef {
            seq: self.seq,
            tokens: self.tokens,
            is_final: self.is_final,
            nonce: &self.nonce,
            ciphertext: &self.ciphertext,
        }
    }

    /// The chunk's hash in `request`.
    pub fn hash(&self, request: &[u8; 32]) -> Hash {
        chunk_hash(request, &self.as_ref())
    }
}

impl Bundle {
    /// The bundle as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a bundle from JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}
