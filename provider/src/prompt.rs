//! The request's sealed prompt: read from the ledger, checked against the request's prompt
//! hash, and opened under the session key the client and this server share (design §5).

use crate::context::{Job, JobError};
use chainference::state::Request;
use chainference_client::envelope::{
    open_prompt, prompt_client_key, server_public_key, server_session, Compression, EnvelopeError,
    PromptEnvelope, SessionKey,
};
use chainference_client::ledger::{history_of, prompt_pieces};
use chainference_prover::core::extend_prompt_hash;
use solana_keypair::Keypair;
use std::time::Duration;

/// How long to wait between reads while the ledger lags the account.
const LEDGER_LAG_POLL: Duration = Duration::from_millis(300);
/// Reads of the ledger before giving up on it catching up with the account.
const LEDGER_LAG_READS: usize = 20;

/// The request's prompt as the job opened it.
pub struct Prompt {
    /// The answer's session key (under the server's own key when the prompt names no client's).
    pub key: SessionKey,
    /// The prompt, or why it does not open (it is then answered with an empty final chunk).
    pub envelope: Result<PromptEnvelope, EnvelopeError>,
    /// Answer tokens at most: what the prompt asks for within the request's limit (1 for a
    /// prompt that does not open).
    pub max_tokens: u32,
}

impl Prompt {
    /// Reads `ready`'s sealed prompt from the ledger, checks it against the request's prompt
    /// hash, and opens it. A prompt that does not open is answered with an empty final chunk.
    pub async fn open(job: &Job, ready: &Request) -> Result<Self, JobError> {
        // The ledger can lag the account by a moment: read until the hash matches.
        for _ in 0..LEDGER_LAG_READS {
            let history = history_of(&job.chain, &job.request).await?;
            let pieces = prompt_pieces(&history);
            let hash = pieces
                .iter()
                .fold([0u8; 32], |hash, piece| extend_prompt_hash(&hash, piece));
            if hash == ready.prompt.hash {
                return Self::unseal(job, ready, &pieces.concat());
            }
            tokio::time::sleep(LEDGER_LAG_POLL).await;
        }
        Err(JobError::PromptIncomplete)
    }

    /// Opens the `sealed` prompt of `ready`.
    fn unseal(job: &Job, ready: &Request, sealed: &[u8]) -> Result<Self, JobError> {
        let context = job.chain.key_context(&job.request);
        let seed = operator_seed(&job.operator);
        let (client_public, envelope) = match prompt_client_key(sealed) {
            Ok(client_public) => (client_public, None),
            // Without the client's key no session exists; answer under our own.
            Err(error) => (server_public_key(&seed, &context), Some(Err(error))),
        };
        let (_, key) =
            server_session(&seed, &client_public, &context).map_err(JobError::Session)?;
        let envelope = envelope.unwrap_or_else(|| open_prompt(sealed, &key, &context));
        let max_tokens = match &envelope {
            Ok(prompt) => prompt.max_tokens.min(ready.terms.max_output_tokens).max(1),
            Err(_) => 1,
        };
        Ok(Self {
            key,
            envelope,
            max_tokens,
        })
    }

    /// The compression the client asked for (the default for a prompt that does not open).
    pub fn compression(&self) -> Compression {
        self.envelope
            .as_ref()
            .map(|prompt| prompt.compression)
            .unwrap_or_default()
    }
}

/// The 32-byte seed of the operator's key, from which per-request keys derive.
pub fn operator_seed(operator: &Keypair) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&operator.to_bytes()[..32]);
    seed
}
