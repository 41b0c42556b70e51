//! Auditing one answer from the ledger alone (design §7): the request's transactions at
//! `finalized`, each batch's leaf proven against the root in its own append's change-log
//! event, the sequence, hash chain and bill checked ([`chainference_prover::verify`]), the
//! result kept as a transcript bundle anyone can check offline. No provider is asked anything:
//! a directly delivered answer's chunks come from the client's saved answer, each batch then
//! proven against the root its `append_root` put on chain, and its bill against the client's
//! acknowledgement in the completing transaction. Once the request is closed, its receipt is
//! checked against the transcript too. With the client's wallet the answer is decrypted and its
//! token claims checked against its text ([`decrypt_checked`]).

use crate::answer::{AnswerError, AnswerOpener};
use crate::ask::{open_sealed_prompt, request_session_key};
use crate::claims::{allowance_for, ClaimReport, ClaimTally};
use crate::direct::SavedAnswer;
use crate::envelope::{open_prompt, EnvelopeError, PromptEnvelope, SessionKey};
use crate::ledger::{history_at, history_of, locked, prompt_pieces, RecordedTransaction};
use crate::receipt::WrittenReceipt;
use crate::rpc::{Chain, ChainError};
use crate::stream::chunks_of;
use anchor_lang::prelude::Pubkey;
use chainference::events::RequestSettled;
use chainference::state::{Receipt, Request};
use chainference_prover::bundle::{
    Bundle, BundleBatch, BundleSettlement, BundleTerms, BUNDLE_FORMAT, BUNDLE_VERSION,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;

/// Why an audit could not be made or did not pass.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading the ledger failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The ledger holds no finalized settlement of the request.
    #[error("request {0} has no finalized settlement on the ledger: audit a completed request (finalization takes about 15 s after completion)")]
    NotSettled(Pubkey),
    /// An append's change-log event is missing, so its leaf has no root to be proven against.
    #[error("append {0} carries no change-log event for its leaf")]
    MissingChangeLog(String),
    /// A direct answer's chunks are not in the saved answer given.
    #[error("the ledger holds only the roots of this direct answer, and the saved answer lacks the batch from chunk {0}: pass the client's saved answer (--answers-dir, <request>.json)")]
    ChunksMissing(u32),
    /// The Request account disagrees with the ledger.
    #[error("the request account's {0} differs from the ledger's")]
    AccountMismatch(&'static str),
    /// The receipt disagrees with the ledger.
    #[error("the receipt's {0} differs from the ledger's")]
    ReceiptMismatch(&'static str),
    /// The sealed prompt or the server's key is not on the ledger.
    #[error("the ledger lacks the request's {0}, so the answer cannot be decrypted")]
    Undecryptable(&'static str),
    /// Keys or the prompt did not open.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A chunk did not open.
    #[error("the answer does not decrypt: {0}")]
    Answer(#[from] AnswerError),
}

/// One request's transcript as the finalized ledger holds it.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The bundle: terms, batches with their evidence, chain and settlement.
    pub bundle: Bundle,
    /// The request's transactions, oldest first.
    pub history: Vec<RecordedTransaction>,
}

impl Transcript {
    /// The digest of the weights the server named when it locked the request (those its
    /// offer pinned then), if it was locked.
    pub fn pinned_weights(&self) -> Option<[u8; 32]> {
        locked(&self.history).map(|lock| lock.weights_sha256)
    }

    /// The receipt its closing transaction wrote, once it is closed.
    pub fn receipt(&self) -> Option<&WrittenReceipt> {
        self.history
            .iter()
            .find_map(|transaction| transaction.receipt.as_ref())
    }
}

/// Reads `request`'s transcript from the ledger at `finalized`; a directly delivered answer's
/// chunks come from the client's `saved` answer, paired with the roots on the ledger.
pub async fn transcript(
    chain: &Chain,
    request: &Pubkey,
    saved: Option<&SavedAnswer>,
) -> Result<Transcript, AuditError> {
    let history = history_at(chain, request, CommitmentConfig::finalized()).await?;
    let mut batches = Vec::new();
    for transaction in &history {
        let evidence = |tree: &Pubkey, leaf_index: u64, proof: &[[u8; 32]], chunks| {
            let change_log = transaction
                .change_logs
                .iter()
                .find(|log| log.tree == tree.to_bytes() && u64::from(log.leaf_index) == leaf_index)
                .and_then(|log| log.root())
                .ok_or_else(|| AuditError::MissingChangeLog(transaction.signature.to_string()))?;
            Ok::<_, AuditError>(BundleBatch {
                signature: transaction.signature.to_string(),
                slot: transaction.slot,
                leaf_index: u32::try_from(leaf_index).unwrap_or(u32::MAX),
                root: *change_log,
                proof: proof.to_vec(),
                chunks,
            })
        };
        for batch in &transaction.batches {
            batches.push(evidence(
                &batch.tree,
                batch.leaf_index,
                &batch.proof,
                chunks_of(batch),
            )?);
        }
        for root in &transaction.roots {
            let chunks = saved
                .and_then(|saved| saved.batch_at(root.first_seq))
                .ok_or(AuditError::ChunksMissing(root.first_seq))?
                .chunks
                .clone();
            batches.push(evidence(&root.tree, root.leaf_index, &root.proof, chunks)?);
        }
    }
    let completion = history
        .iter()
        .find(|transaction| transaction.settled.is_some())
        .ok_or(AuditError::NotSettled(*request))?;
    let settled = completion
        .settled
        .clone()
        .ok_or(AuditError::NotSettled(*request))?;
    let mut bundle = bundle_of(chain, request, &settled, batches);
    bundle.acknowledgement = completion.acknowledgement;
    bundle.terms.direct = crate::ledger::creation(&history)
        .is_some_and(|(terms, _, _)| terms.delivery == chainference::state::Delivery::Direct);
    Ok(Transcript { bundle, history })
}

fn bundle_of(
    chain: &Chain,
    request: &Pubkey,
    settled: &RequestSettled,
    batches: Vec<BundleBatch>,
) -> Bundle {
    Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        program_id: chainference::ID.to_bytes(),
        genesis_hash: chain.genesis_hash(),
        request: request.to_bytes(),
        client: settled.client.to_bytes(),
        server: settled.server.to_bytes(),
        tree: settled.tree.to_bytes(),
        terms: BundleTerms {
            model: settled.model.clone(),
            prompt_tokens: settled.prompt_tokens,
            max_output_tokens: settled.max_output_tokens,
            stake: settled.stake,
            input_price: settled.input_price,
            output_price: settled.output_price,
            fee_bps: settled.fee_bps,
            direct: false,
        },
        batches,
        chain: settled.chain,
        settlement: BundleSettlement {
            answer_tokens: settled.answer_tokens,
            bill: settled.bill,
            fee: settled.fee,
        },
        acknowledgement: None,
    }
}

/// Checks `bundle` against the Request account while it exists (before `close_request`): what
/// an offline check cannot confirm (model, parties, tree) and what it can (chain, tokens, bill).
pub fn check_account(bundle: &Bundle, account: &Request) -> Result<(), AuditError> {
    first_mismatch([
        ("model", account.terms.model == bundle.terms.model),
        ("client", account.client.to_bytes() == bundle.client),
        ("server", account.lock.server.to_bytes() == bundle.server),
        ("tree", account.lock.tree.to_bytes() == bundle.tree),
        ("hash chain", account.response.chain == bundle.chain),
        (
            "answer tokens",
            account.settlement.tokens == bundle.settlement.answer_tokens,
        ),
        ("bill", account.settlement.bill == bundle.settlement.bill),
        ("fee", account.settlement.fee == bundle.settlement.fee),
        (
            "prices",
            (account.lock.input_price, account.lock.output_price)
                == (bundle.terms.input_price, bundle.terms.output_price),
        ),
        ("stake", account.stake == bundle.terms.stake),
    ])
    .map_err(AuditError::AccountMismatch)
}

/// Checks `bundle` against the receipt `close_request` wrote (after the account is gone): the
/// same parties, model, tree, hash chain, leaves, tokens, bill and fee.
pub fn check_receipt(bundle: &Bundle, receipt: &Receipt) -> Result<(), AuditError> {
    first_mismatch([
        ("request", receipt.request.to_bytes() == bundle.request),
        ("model", receipt.model == bundle.terms.model),
        ("client", receipt.client.to_bytes() == bundle.client),
        ("server", receipt.server.to_bytes() == bundle.server),
        ("tree", receipt.tree.to_bytes() == bundle.tree),
        ("hash chain", receipt.chain == bundle.chain),
        (
            "leaves",
            usize::try_from(receipt.leaves).is_ok_and(|leaves| leaves == bundle.batches.len()),
        ),
        (
            "prompt tokens",
            receipt.prompt_tokens == bundle.terms.prompt_tokens,
        ),
        (
            "answer tokens",
            receipt.answer_tokens == bundle.settlement.answer_tokens,
        ),
        ("bill", receipt.bill == bundle.settlement.bill),
        ("fee", receipt.fee == bundle.settlement.fee),
    ])
    .map_err(AuditError::ReceiptMismatch)
}

/// The name of the first check that does not hold.
fn first_mismatch<const N: usize>(checks: [(&'static str, bool); N]) -> Result<(), &'static str> {
    match checks.into_iter().find(|(_, holds)| !holds) {
        Some((field, _)) => Err(field),
        None => Ok(()),
    }
}

/// What opens one request's prompt and answer: the client's wallet, or the key it disclosed
/// for that request alone ([`SessionKey::disclose`], `chainference disclose`).
#[derive(Clone, Copy, Debug)]
pub enum AuditKey<'a> {
    /// The client's wallet.
    Wallet(&'a Keypair),
    /// One request's disclosed key.
    Disclosed(SessionKey),
}

/// A transcript decrypted.
#[derive(Clone, Debug)]
pub struct Decrypted {
    /// The prompt.
    pub prompt: PromptEnvelope,
    /// The answer's text.
    pub text: String,
    /// The answer's token claims checked against its text.
    pub claims: ClaimReport,
}

/// The key of `wallet`'s `request`, to [disclose](SessionKey::disclose): it opens that
/// request's prompt and answer and nothing else.
pub async fn request_key(
    chain: &Chain,
    wallet: &Keypair,
    request: &Pubkey,
) -> Result<SessionKey, AuditError> {
    let history = history_of(chain, request).await?;
    let server_key = locked(&history)
        .map(|lock| lock.server_key)
        .ok_or(AuditError::Undecryptable("lock (the server's key)"))?;
    Ok(request_session_key(chain, wallet, request, server_key)?)
}

/// The answer's text, decrypted with the client's `wallet` from the transcript alone.
pub fn decrypt(
    chain: &Chain,
    wallet: &Keypair,
    transcript: &Transcript,
) -> Result<String, AuditError> {
    decrypt_checked(chain, AuditKey::Wallet(wallet), transcript).map(|decrypted| decrypted.text)
}

/// The prompt and the answer's text, decrypted with `key` from the transcript alone, and the
/// answer's token claims checked against the whole answer's text, as `ask` checks them
/// ([`crate::claims`]; the allowance widened by the prompt's stop sequences).
pub fn decrypt_checked(
    chain: &Chain,
    key: AuditKey<'_>,
    transcript: &Transcript,
) -> Result<Decrypted, AuditError> {
    let server_key = locked(&transcript.history)
        .map(|lock| lock.server_key)
        .ok_or(AuditError::Undecryptable("lock (the server's key)"))?;
    let sealed = prompt_pieces(&transcript.history).concat();
    if sealed.is_empty() {
        return Err(AuditError::Undecryptable("sealed prompt"));
    }
    let request = Pubkey::new_from_array(transcript.bundle.request);
    let (key, prompt) = match key {
        AuditKey::Wallet(wallet) => {
            open_sealed_prompt(chain, wallet, &request, server_key, &sealed)?
        }
        AuditKey::Disclosed(key) => {
            let prompt = open_prompt(&sealed, &key, &chain.key_context(&request))?;
            (key, prompt)
        }
    };
    let mut opener = AnswerOpener::new(key, chain.key_context(&request), prompt.compression)?
        .with_token_limit(transcript.bundle.terms.max_output_tokens);
    let mut claims = ClaimTally::new(allowance_for(&prompt.sampling.stop));
    let mut text = String::new();
    for batch in &transcript.bundle.batches {
        for chunk in &batch.chunks {
            let piece = opener.open(chunk)?;
            claims.chunk(chunk.tokens, &piece);
            text.push_str(&piece);
        }
        claims.end_batch();
    }
    Ok(Decrypted {
        prompt,
        text,
        claims: claims.report(),
    })
}
