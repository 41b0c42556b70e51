//! A past request read back from the ledger and the wallet alone: its terms, the prompt and
//! the answer decrypted, whatever state the account is in (or after it was closed).

use crate::answer::{AnswerError, AnswerOpener};
use crate::ask::open_sealed_prompt;
use crate::envelope::{EnvelopeError, FinishReason, PromptEnvelope};
use crate::ledger::{history_of, sealed_prompt, Recorded};
use crate::rpc::{Chain, ChainError};
use crate::stream::{chunks_of, StreamAssembler};
use anchor_lang::prelude::Pubkey;
use chainference::state::{Request, RequestTerms};
use chainference_prover::core::ResponseCursor;
use solana_keypair::Keypair;

/// Why a past request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The wallet's keys failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The answer does not decrypt.
    #[error("the answer does not decrypt: {0}")]
    Answer(#[from] AnswerError),
    /// The ledger has no `create_request` for the address.
    #[error("no request was created at {0} (is it a request address, on this cluster?)")]
    NotFound(Pubkey),
}

/// A request as the ledger tells it.
#[derive(Clone, Debug)]
pub struct PastRequest {
    /// The request's address.
    pub address: Pubkey,
    /// Its terms.
    pub terms: RequestTerms,
    /// Lamports escrowed.
    pub stake: u64,
    /// The account, while it exists.
    pub account: Option<Request>,
    /// The prompt, if it was sent (and the wallet is the client's).
    pub prompt: Option<PromptEnvelope>,
    /// The answer so far.
    pub answer: String,
    /// Why the answer ended, once it did.
    pub finish: Option<FinishReason>,
    /// The answer's running state as received.
    pub cursor: ResponseCursor,
}

/// Reads `request` (created by `wallet`) from the ledger and decrypts what it can.
pub async fn read_request(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
) -> Result<PastRequest, HistoryError> {
    let history = history_of(chain, request).await?;
    let account: Option<Request> = chain.account(request, "Request").await?;
    let mut created = None;
    let mut server_key = None;
    for recorded in history
        .iter()
        .flat_map(|transaction| &transaction.instructions)
    {
        match recorded {
            Recorded::Create { terms, stake } => created = Some((terms.clone(), *stake)),
            Recorded::Lock { server_key: key } => server_key = Some(*key),
            _ => {}
        }
    }
    let (terms, stake) = created.ok_or(HistoryError::NotFound(*request))?;
    let mut past = PastRequest {
        address: *request,
        stake,
        account,
        prompt: None,
        answer: String::new(),
        finish: None,
        cursor: ResponseCursor::new(),
        terms,
    };
    let sealed = sealed_prompt(&history);
    let Some(server_key) = server_key.filter(|_| !sealed.is_empty()) else {
        return Ok(past);
    };
    let context = chain.key_context(request);
    let (key, prompt) = open_sealed_prompt(chain, wallet, request, server_key, &sealed)?;
    let mut opener = AnswerOpener::new(key, context, prompt.compression)?;
    past.prompt = Some(prompt);
    let mut assembler = StreamAssembler::new(*request, past.terms.max_output_tokens);
    for batch in history
        .into_iter()
        .flat_map(|transaction| transaction.batches)
    {
        let Ok(ready) = assembler.offer(batch) else {
            continue;
        };
        for chunk in ready.iter().flat_map(chunks_of) {
            past.answer.push_str(&opener.open(&chunk)?);
        }
    }
    past.finish = opener.finish_reason();
    past.cursor = *assembler.cursor();
    Ok(past)
}
