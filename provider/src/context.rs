//! What every stage of a job shares: the [`Job`] (its request, the chain, the operator, the
//! engine and how it posts) and the [`JobError`] that ends it. The stages build on this
//! module and the job ([`crate::job`]) on them, so imports run one way.

use crate::checkpoint::Hold;
use crate::endpoint::Feeds;
use crate::engine::Engine;
use crate::posting::Posting;
use crate::roots::RootPoster;
use anchor_lang::prelude::Pubkey;
use chainference_client::answer::AnswerError;
use chainference_client::envelope::EnvelopeError;
use chainference_client::rpc::{Chain, ChainError};
use chainference_prover::core::BatchRuleError;
use solana_keypair::Keypair;
use std::sync::Arc;

/// Why a job ended early.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Talking to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The prompt on the ledger does not match the request's prompt hash.
    #[error("the prompt on the ledger does not match the request's prompt hash")]
    PromptIncomplete,
    /// The ledger does not hold the answer the request account has.
    #[error("the ledger does not hold the answer chunks the request account counts")]
    LedgerBehind,
    /// Posted chunks did not open.
    #[error("the posted answer does not open: {0}")]
    Answer(#[from] AnswerError),
    /// An append of an earlier run landed first: the answer must be read again.
    #[error("an earlier run's append landed first")]
    Overtaken,
    /// The answer's session key could not be derived.
    #[error("deriving the answer's session key failed: {0}")]
    Session(#[source] EnvelopeError),
    /// The answer could not be sealed.
    #[error("sealing the answer failed: {0}")]
    Seal(#[source] AnswerError),
    /// A sealed batch breaks the program's rules (the prover's no-std error, carried as is).
    #[error("a sealed batch breaks the program's rules: {0}")]
    Batch(BatchRuleError),
}

/// Everything a job needs.
pub struct Job {
    /// The cluster.
    pub chain: Chain,
    /// The operator, who signs appends and is paid.
    pub operator: Arc<Keypair>,
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// The request.
    pub request: Pubkey,
    /// For a request this run did not lock itself: the block height after which no
    /// transaction of an earlier run can land; nothing is posted before.
    pub quiet_after: Option<u64>,
    /// How appends are sent (lookup table, priority fee).
    pub posting: Arc<Posting>,
    /// The endpoint's answers and the shared root poster, when this provider delivers
    /// directly.
    pub direct: Option<(Feeds, RootPoster)>,
    /// A hook awaited at each [`crate::checkpoint::Checkpoint`] (fault-injection tests).
    pub hold: Option<Hold>,
}
