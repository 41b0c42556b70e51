//! One request as the website shows it (`/requests/<address>`, `/api/requests/<address>`):
//! from its account while it exists, from its transactions and its receipt on the ledger once
//! it is closed, with an audit verdict from the finalized ledger once it is settled. Nothing is decrypted:
//! the site has no client's key.

use crate::cli::show::state_name;
use anchor_lang::prelude::Pubkey;
use chainference::events::RequestSettled;
use chainference::state::{Delivery, Request, RequestTerms};
use chainference_client::audit::{check_account, check_receipt, transcript, AuditError};
use chainference_client::ledger::{creation, history_of, RecordedTransaction};
use chainference_client::rpc::{Chain, ChainError};
use chainference_prover::verify::verify;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// One request, public data only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestView {
    /// Its address.
    pub address: String,
    /// Where it stands: open, locked, answering, completed, closed, or expired or cancelled.
    pub state: String,
    /// Whether its account still exists (it is closed after its flag window).
    pub account_open: bool,
    /// The model asked for.
    pub model: String,
    /// How the answer is delivered: `chain` or `direct`.
    pub delivery: &'static str,
    /// The client's wallet (of a closed request that was never settled: the payer of its
    /// creation).
    pub client: Option<String>,
    /// The operator of the server that locked it, if one did.
    pub server: Option<String>,
    /// Lamports escrowed.
    pub stake: u64,
    /// Prompt tokens declared.
    pub prompt_tokens: u32,
    /// Answer tokens the client allowed.
    pub max_output_tokens: u32,
    /// Answer tokens posted so far.
    pub tokens_posted: u32,
    /// Leaves of the answer in the server's tree.
    pub leaves: u32,
    /// Whether the final chunk is posted.
    pub finished: bool,
    /// Lamports billed, once settled.
    pub bill: Option<u64>,
    /// Of the bill, the protocol's fee.
    pub fee: Option<u64>,
    /// Stake returned to the client: the stake less the bill, or all of it if nothing was
    /// billed and the request is gone.
    pub refund: Option<u64>,
    /// Whether the client flagged the answer.
    pub flagged: bool,
    /// Once closed, the Light state tree its receipt went into.
    pub receipt_tree: Option<String>,
    /// The audit of the finalized ledger.
    pub audit: Verdict,
}

/// What an audit of the finalized ledger says of a request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Not settled yet: the answer is still being delivered, or was never locked.
    NotSettled,
    /// Settled, waiting for the settlement to be finalized.
    Finalizing,
    /// Every leaf proven against its root, the sequence, hash chain and bill checked.
    Verified {
        /// Chunks delivered.
        chunks: u32,
        /// Batches (leaves) delivered.
        batches: u32,
        /// Answer tokens billed.
        answer_tokens: u32,
        /// Lamports billed.
        bill: u64,
    },
    /// Delivered directly: the ledger holds its roots and the client's acknowledgement, the
    /// chunks are with the client (`chainference audit` with its answers folder checks all).
    ChunksWithClient,
    /// The audit failed.
    Failed {
        /// What is wrong.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict can no longer change.
    fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Verified { .. } | Self::ChunksWithClient | Self::Failed { .. }
        )
    }
}

/// Final audit verdicts, kept so a settled request is audited once.
#[derive(Default)]
pub struct Audits(Mutex<HashMap<Pubkey, Verdict>>);

/// Why a request cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The text is not an address.
    #[error("{0:?} is not a request address (a base-58 public key)")]
    NotAnAddress(String),
    /// Neither an account nor a transaction of it exists.
    #[error("no request {0} on this cluster: neither its account nor any transaction of it")]
    NotFound(Pubkey),
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Parses a request address.
pub fn parse_address(text: &str) -> Result<Pubkey, RequestError> {
    text.parse()
        .map_err(|_| RequestError::NotAnAddress(text.to_string()))
}

/// Reads request `address`.
pub async fn read(
    chain: &Chain,
    audits: &Audits,
    address: &Pubkey,
) -> Result<RequestView, RequestError> {
    let account: Option<Request> = chain.account(address, "Request").await?;
    let mut view = match &account {
        Some(account) => of_account(address, account),
        None => {
            let history = history_of(chain, address).await?;
            of_history(address, &history).ok_or(RequestError::NotFound(*address))?
        }
    };
    if view.bill.is_some() {
        view.audit = audit(chain, audits, address, account.as_ref()).await?;
    }
    Ok(view)
}

fn of_account(address: &Pubkey, account: &Request) -> RequestView {
    let locked = account.lock.server != Pubkey::default();
    let settled = account.state == chainference::state::RequestState::Completed;
    RequestView {
        address: address.to_string(),
        state: state_name(Some(account), account.response.finished),
        account_open: true,
        model: account.terms.model.clone(),
        delivery: delivery_name(&account.terms),
        client: Some(account.client.to_string()),
        server: locked.then(|| account.lock.operator.to_string()),
        stake: account.stake,
        prompt_tokens: account.terms.prompt_tokens,
        max_output_tokens: account.terms.max_output_tokens,
        tokens_posted: account.response.tokens,
        leaves: account.response.leaves,
        finished: account.response.finished,
        bill: settled.then_some(account.settlement.bill),
        fee: settled.then_some(account.settlement.fee),
        refund: settled.then(|| account.stake.saturating_sub(account.settlement.bill)),
        flagged: account.flagged,
        receipt_tree: None,
        audit: Verdict::NotSettled,
    }
}

/// A closed request from its transactions; `None` if the ledger has no `create_request` of it.
fn of_history(address: &Pubkey, history: &[RecordedTransaction]) -> Option<RequestView> {
    let (terms, stake, client) = creation(history)?;
    let receipt = history
        .iter()
        .find_map(|transaction| transaction.receipt.as_ref());
    let settled: Option<&RequestSettled> = history
        .iter()
        .find_map(|transaction| transaction.settled.as_ref());
    let leaves = history
        .iter()
        .map(|transaction| transaction.batches.len() + transaction.roots.len())
        .sum::<usize>();
    let posted = history
        .iter()
        .flat_map(|transaction| &transaction.batches)
        .flat_map(|batch| &batch.chunks)
        .map(|chunk| u32::from(chunk.tokens))
        .chain(
            history
                .iter()
                .flat_map(|transaction| &transaction.roots)
                .map(|root| root.tokens),
        )
        .fold(0u32, u32::saturating_add);
    let finished = history.iter().any(|transaction| {
        transaction
            .batches
            .iter()
            .any(|batch| batch.chunks.iter().any(|chunk| chunk.is_final))
            || transaction.roots.iter().any(|root| root.finished)
    });
    Some(RequestView {
        address: address.to_string(),
        state: state_name(None, settled.is_some()),
        account_open: false,
        model: terms.model.clone(),
        delivery: delivery_name(terms),
        client: settled
            .map(|settled| settled.client)
            .or(client)
            .map(|client| client.to_string()),
        server: settled.map(|settled| settled.server.to_string()),
        stake,
        prompt_tokens: terms.prompt_tokens,
        max_output_tokens: terms.max_output_tokens,
        tokens_posted: posted,
        leaves: u32::try_from(leaves).unwrap_or(u32::MAX),
        finished,
        bill: settled.map(|settled| settled.bill),
        fee: settled.map(|settled| settled.fee),
        refund: Some(stake.saturating_sub(settled.map_or(0, |settled| settled.bill))),
        flagged: receipt.is_some_and(|written| written.receipt.flagged),
        receipt_tree: receipt.map(|written| written.tree.to_string()),
        audit: Verdict::NotSettled,
    })
}

fn delivery_name(terms: &RequestTerms) -> &'static str {
    match terms.delivery {
        Delivery::Chain => "chain",
        Delivery::Direct => "direct",
    }
}

/// The audit verdict of a settled request (kept once final).
async fn audit(
    chain: &Chain,
    audits: &Audits,
    address: &Pubkey,
    account: Option<&Request>,
) -> Result<Verdict, ChainError> {
    let known = audits
        .0
        .lock()
        .ok()
        .and_then(|audits| audits.get(address).cloned());
    if let Some(verdict) = known {
        return Ok(verdict);
    }
    let verdict = match transcript(chain, address, None).await {
        Ok(transcript) => match verify(&transcript.bundle) {
            Ok(verified) => match account
                .map(|account| check_account(&transcript.bundle, account))
                .or_else(|| {
                    transcript
                        .receipt()
                        .map(|written| check_receipt(&transcript.bundle, &written.receipt))
                }) {
                Some(Err(error)) => Verdict::Failed {
                    reason: error.to_string(),
                },
                _ => Verdict::Verified {
                    chunks: verified.chunks,
                    batches: verified.batches,
                    answer_tokens: verified.answer_tokens,
                    bill: verified.bill,
                },
            },
            Err(error) => Verdict::Failed {
                reason: error.to_string(),
            },
        },
        Err(AuditError::NotSettled(_)) => Verdict::Finalizing,
        Err(AuditError::ChunksMissing(_)) => Verdict::ChunksWithClient,
        Err(AuditError::Chain(error)) => return Err(error),
        Err(error) => Verdict::Failed {
            reason: error.to_string(),
        },
    };
    if verdict.is_final() {
        if let Ok(mut audits) = audits.0.lock() {
            audits.insert(*address, verdict.clone());
        }
    }
    Ok(verdict)
}
