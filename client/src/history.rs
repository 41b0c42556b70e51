//! A past request read back from the ledger and the wallet alone: its terms, the prompt and
//! the answer decrypted, whatever state the account is in (or after it was closed). A direct
//! answer's chunks are not on the ledger: they come from the client's saved copy. A closed
//! request's receipt comes with it, checked against its state tree.

use crate::answer::{AnswerError, AnswerOpener};
use crate::ask::open_sealed_prompt;
use crate::direct::SavedAnswer;
use crate::envelope::{EnvelopeError, FinishReason, PromptEnvelope};
use crate::ledger::{creation, history_of, locked, sealed_prompt, RecordedTransaction};
use crate::receipt::{ReceiptError, ReceiptLeaf, WrittenReceipt};
use crate::rpc::{Chain, ChainError};
use crate::stream::{chunks_of, StreamAssembler};
use anchor_lang::prelude::Pubkey;
use chainference::state::{Delivery, Request, RequestTerms};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::ResponseCursor;
use solana_keypair::Keypair;
use std::path::Path;

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
    /// A saved direct answer does not match the roots on the ledger.
    #[error("the saved direct answer of {0} does not match the roots on the ledger: it was edited or belongs elsewhere")]
    SavedMismatch(Pubkey),
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
    /// A direct answer whose saved copy was not found (its chunks are only with the client
    /// that received them).
    pub not_saved_here: bool,
    /// Once closed, the receipt its closing transaction wrote, and where its leaf was found in
    /// the state tree (or why it was not).
    pub receipt: Option<(WrittenReceipt, Result<ReceiptLeaf, ReceiptError>)>,
}

/// Reads `request` (created by `wallet`) from the ledger and decrypts what it can; a direct
/// answer's chunks come from its saved copy under `answers_dir`, checked against the ledger's
/// roots.
pub async fn read_request(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
    answers_dir: Option<&Path>,
) -> Result<PastRequest, HistoryError> {
    let history = history_of(chain, request).await?;
    let account: Option<Request> = chain.account(request, "Request").await?;
    let server_key = locked(&history).map(|lock| lock.server_key);
    let (terms, stake, _) = creation(&history).ok_or(HistoryError::NotFound(*request))?;
    let terms = terms.clone();
    let receipt = match history
        .iter()
        .find_map(|transaction| transaction.receipt.clone())
    {
        Some(written) => {
            let checked = chain.check_receipt(&written).await?;
            Some((written, checked))
        }
        None => None,
    };
    let mut past = PastRequest {
        address: *request,
        stake,
        account,
        prompt: None,
        answer: String::new(),
        finish: None,
        cursor: ResponseCursor::new(),
        not_saved_here: false,
        receipt,
        terms,
    };
    let sealed = sealed_prompt(&history);
    let Some(server_key) = server_key.filter(|_| !sealed.is_empty()) else {
        return Ok(past);
    };
    let context = chain.key_context(request);
    let (key, prompt) = open_sealed_prompt(chain, wallet, request, server_key, &sealed)?;
    let mut opener = AnswerOpener::new(key, context, prompt.compression)?
        .with_token_limit(past.terms.max_output_tokens);
    past.prompt = Some(prompt);
    let chunks = match past.terms.delivery {
        Delivery::Chain => {
            let mut assembler = StreamAssembler::new(*request, past.terms.max_output_tokens);
            let mut chunks = Vec::new();
            for batch in history
                .into_iter()
                .flat_map(|transaction| transaction.batches)
            {
                if let Ok(ready) = assembler.offer(batch) {
                    chunks.extend(ready.iter().flat_map(chunks_of));
                }
            }
            past.cursor = *assembler.cursor();
            chunks
        }
        Delivery::Direct => {
            let path = answers_dir.map(|dir| SavedAnswer::path_in(dir, request));
            match path.filter(|path| path.exists()) {
                Some(path) => {
                    let saved = SavedAnswer::read(&path)
                        .map_err(|_| HistoryError::SavedMismatch(*request))?;
                    let (chunks, cursor) = direct_chunks(&past, &history, &saved)?;
                    past.cursor = cursor;
                    chunks
                }
                None => {
                    past.not_saved_here = true;
                    Vec::new()
                }
            }
        }
    };
    for chunk in &chunks {
        past.answer.push_str(&opener.open(chunk)?);
    }
    past.finish = opener.finish_reason();
    Ok(past)
}

/// The saved chunks of a direct answer, batch by batch as far as each matches the hash chain
/// its root left on the ledger.
fn direct_chunks(
    past: &PastRequest,
    history: &[RecordedTransaction],
    saved: &SavedAnswer,
) -> Result<(Vec<Chunk>, ResponseCursor), HistoryError> {
    let mut cursor = ResponseCursor::new();
    let mut chunks = Vec::new();
    for root in history.iter().flat_map(|transaction| &transaction.roots) {
        let Some(batch) = saved.batch_at(root.first_seq) else {
            break;
        };
        let views: Vec<_> = batch.chunks.iter().map(Chunk::as_ref).collect();
        let applied = cursor.apply_direct(
            &past.address.to_bytes(),
            past.terms.max_output_tokens,
            &views,
        );
        if applied.is_err() || cursor.chain != root.chain {
            return Err(HistoryError::SavedMismatch(past.address));
        }
        chunks.extend(batch.chunks.iter().cloned());
    }
    Ok((chunks, cursor))
}
