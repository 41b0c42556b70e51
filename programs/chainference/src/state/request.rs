//! One inference request: its limits, its escrow, the lock and the answer's running state.

use crate::{constants::*, error::ChainferenceError};
use anchor_lang::prelude::*;
pub use chainference_prover::core::bill_for;
use chainference_prover::core::ResponseCursor;

/// PDA `["request", client, nonce]`. Its lamports are always `rent + stake` while open and
/// `rent + stake + bond` while locked; after completion only the rent, returned by
/// `close_request` once the flag window has passed.
#[account]
#[derive(InitSpace, Debug)]
pub struct Request {
    /// The client's wallet, which gets every refund and the rent.
    pub client: Pubkey,
    /// The client's nonce this request was created with.
    pub nonce: u64,
    /// Where the request is in its life.
    pub state: RequestState,
    /// What the client asked for.
    pub terms: RequestTerms,
    /// Lamports the client escrowed to cap the bill.
    pub stake: u64,
    /// Lamports of rent the client paid for this account (returned at close).
    pub rent: u64,
    /// Unix time of creation.
    pub created_at: i64,
    /// Seconds from creation during which a server may lock it (windows are copied from the
    /// config at creation).
    pub lock_window_secs: u32,
    /// Seconds from lock to seal the prompt.
    pub prompt_window_secs: u32,
    /// Seconds from completion during which the client may flag or compare.
    pub flag_window_secs: u32,
    /// What the locking server committed to; zeroed while open.
    pub lock: Lock,
    /// The sealed prompt's running hash and size.
    pub prompt: PromptState,
    /// The answer's running state.
    pub response: ResponseState,
    /// The bill, set at completion.
    pub settlement: Settlement,
    /// The client flagged the answer.
    pub flagged: bool,
    /// The answer was used in a blind comparison.
    pub compared: bool,
    /// Bump of this PDA.
    pub bump: u8,
}

impl Request {
    /// Where `state` sits in the account's data, after the discriminator, `client` and `nonce`:
    /// for filters that select requests by state.
    pub const STATE_OFFSET: usize =
        Self::DISCRIMINATOR.len() + Pubkey::INIT_SPACE + u64::INIT_SPACE;

    /// Unix time after which the answer can no longer be appended or completed.
    pub fn deadline(&self) -> Result<i64> {
        after(self.lock.locked_at, self.terms.time_limit_secs)
    }

    /// Unix time after which an unlocked request can no longer be locked.
    pub fn lock_deadline(&self) -> Result<i64> {
        after(self.created_at, self.lock_window_secs)
    }

    /// Unix time after which a locked request can no longer receive its prompt.
    pub fn prompt_deadline(&self) -> Result<i64> {
        after(self.lock.locked_at, self.prompt_window_secs)
    }

    /// Unix time after which a completed answer can no longer be flagged or compared.
    pub fn flag_deadline(&self) -> Result<i64> {
        after(self.settlement.completed_at, self.flag_window_secs)
    }
}

fn after(start: i64, secs: u32) -> Result<i64> {
    start
        .checked_add(i64::from(secs))
        .ok_or_else(|| error!(ChainferenceError::ArithmeticOverflow))
}

/// A request's states: `Open → Locked → Ready → Completed`, or closed from `Open` (cancelled or
/// expired) and from `Locked`/`Ready` (expired).
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for a server to lock it.
    Open,
    /// Locked by a server; waiting for the client's prompt.
    Locked,
    /// The prompt is sealed; the server streams the answer.
    Ready,
    /// Paid; flag and comparison window running.
    Completed,
}

/// How answer chunks reach the client.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Delivery {
    /// Chunks are the append transactions' data.
    #[default]
    Chain,
    /// Only batch roots go on chain; chunks go from the provider's endpoint to the client.
    Direct,
}

/// Which servers may lock a request, judged on their record at lock time.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Filters {
    /// Least completed answers.
    pub min_completed: u64,
    /// Least success ratio (Wilson lower bound), bps.
    pub min_success_bps: u16,
    /// Least preference ratio (Wilson lower bound), bps.
    pub min_preference_bps: u16,
    /// Most failure rate, bps (10,000 = any).
    pub max_failure_bps: u16,
}

impl Filters {
    /// Refuses a server whose record doesn't meet these filters (design §6), by name.
    pub fn admit(&self, record: &super::Reputation) -> core::result::Result<(), ChainferenceError> {
        let rules = [
            (
                record.completed >= self.min_completed,
                ChainferenceError::BelowMinCompleted,
            ),
            (
                record.success_lower_bps() >= self.min_success_bps,
                ChainferenceError::BelowMinSuccessRatio,
            ),
            (
                record.preference_lower_bps() >= self.min_preference_bps,
                ChainferenceError::BelowMinPreferenceRatio,
            ),
            (
                record.failure_bps() <= self.max_failure_bps,
                ChainferenceError::AboveMaxFailureRate,
            ),
        ];
        super::admission::first_broken(rules)
    }
}

/// The client's terms, as given to `create_request`.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Debug, PartialEq, Eq)]
pub struct RequestTerms {
    /// Hugging Face model id.
    #[max_len(MAX_MODEL_ID_LEN)]
    pub model: String,
    /// Most answer tokens billed.
    pub max_output_tokens: u32,
    /// Highest input price accepted, lamports per million tokens.
    pub max_input_price: u64,
    /// Highest output price accepted, lamports per million tokens.
    pub max_output_price: u64,
    /// Prompt tokens the client declares (billed at the input price).
    pub prompt_tokens: u32,
    /// Operators allowed to lock it; empty = any.
    #[max_len(MAX_ALLOWED_SERVERS)]
    pub allowed_servers: Vec<Pubkey>,
    /// Reputation filters.
    pub filters: Filters,
    /// Seconds from lock until the answer must be complete (0 at creation = the config's
    /// default, which is then stored here).
    pub time_limit_secs: u32,
    /// Longest wait between batches in milliseconds (0 = fill transactions).
    pub max_batch_wait_ms: u32,
    /// How the answer is delivered.
    pub delivery: Delivery,
    /// Version of the client's key derivation (design §5).
    pub key_version: u8,
}

impl RequestTerms {
    /// The longest wait between batches (`None`: fill transactions).
    pub fn batch_wait(&self) -> Option<core::time::Duration> {
        match self.max_batch_wait_ms {
            0 => None,
            ms => Some(core::time::Duration::from_millis(u64::from(ms))),
        }
    }

    /// Refuses oversized fields and limits out of range.
    pub fn validate(&self) -> Result<()> {
        require!(
            !self.model.is_empty() && self.model.len() <= MAX_MODEL_ID_LEN,
            ChainferenceError::InvalidModelId
        );
        require!(
            self.allowed_servers.len() <= MAX_ALLOWED_SERVERS,
            ChainferenceError::TooManyAllowedServers
        );
        require!(
            (1..=MAX_OUTPUT_TOKENS).contains(&self.max_output_tokens),
            ChainferenceError::InvalidTokenLimit
        );
        require!(
            self.prompt_tokens <= MAX_PROMPT_TOKENS,
            ChainferenceError::TooManyPromptTokens
        );
        require!(
            self.time_limit_secs <= MAX_TIME_LIMIT_SECS,
            ChainferenceError::TimeLimitTooLong
        );
        let f = &self.filters;
        require!(
            [f.min_success_bps, f.min_preference_bps, f.max_failure_bps]
                .iter()
                .all(|bps| u64::from(*bps) <= BPS),
            ChainferenceError::BpsOutOfRange
        );
        Ok(())
    }
}

/// What the locking server committed to at lock (prices and fee are copied, so later changes
/// to the server or the config don't touch this request).
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    /// The locking server's account.
    pub server: Pubkey,
    /// Its operator, who signs appends and is paid.
    pub operator: Pubkey,
    /// The response tree the answer's leaves go to.
    pub tree: Pubkey,
    /// Lamports per million prompt tokens.
    pub input_price: u64,
    /// Lamports per million answer tokens.
    pub output_price: u64,
    /// The weights the offer pinned at lock ([`super::ModelOffer::weights_sha256`]): what this
    /// answer is re-scored against, whatever the server pins later.
    pub weights_sha256: [u8; 32],
    /// Protocol fee, bps of the bill.
    pub fee_bps: u16,
    /// Lamports the server escrowed.
    pub bond: u64,
    /// The server's per-request x25519 public key.
    pub server_key: [u8; 32],
    /// The operator's ed25519 signature of `server_key` in this request's scope
    /// ([`chainference_prover::core::Scope::key_message`]), checked at lock.
    pub key_signature: [u8; 64],
    /// Unix time of the lock.
    pub locked_at: i64,
}

impl Default for Lock {
    /// Zeroed, as an open request holds it.
    fn default() -> Self {
        Self {
            server: Pubkey::default(),
            operator: Pubkey::default(),
            tree: Pubkey::default(),
            input_price: 0,
            output_price: 0,
            weights_sha256: [0; 32],
            fee_bps: 0,
            bond: 0,
            server_key: [0; 32],
            key_signature: [0; 64],
            locked_at: 0,
        }
    }
}

/// The encrypted prompt's running hash and size.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct PromptState {
    /// Ciphertext bytes received.
    pub bytes: u32,
    /// Hash chain over the ciphertext chunks (`extend_prompt_hash`).
    pub hash: [u8; 32],
}

/// The fewest prompt tokens a sealed prompt of `sealed_bytes` may declare: its bytes past
/// [`PROMPT_OVERHEAD_BYTES`] at [`PROMPT_BYTES_PER_TOKEN`] each, rounded down (`submit_prompt`
/// refuses a seal under it; clients declare at least this).
pub fn min_prompt_tokens(sealed_bytes: u32) -> u32 {
    sealed_bytes.saturating_sub(PROMPT_OVERHEAD_BYTES) / PROMPT_BYTES_PER_TOKEN
}

/// The answer's running state, advanced by every `append_batch`.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct ResponseState {
    /// Sequence number the next chunk must carry.
    pub next_seq: u32,
    /// Answer tokens posted.
    pub tokens: u32,
    /// Leaves (batches) appended.
    pub leaves: u32,
    /// `keccak256(chain ‖ leaf)` over every leaf so far.
    pub chain: [u8; 32],
    /// The final chunk was posted.
    pub finished: bool,
    /// Unix time of the first chunk (0 before).
    pub first_chunk_at: i64,
}

impl ResponseState {
    /// The prover core's view of this state.
    pub fn cursor(&self) -> ResponseCursor {
        ResponseCursor {
            next_seq: self.next_seq,
            tokens: self.tokens,
            leaves: self.leaves,
            chain: self.chain,
            finished: self.finished,
        }
    }

    /// Takes the state the prover core advanced to.
    pub fn set_cursor(&mut self, cursor: &ResponseCursor) {
        self.next_seq = cursor.next_seq;
        self.tokens = cursor.tokens;
        self.leaves = cursor.leaves;
        self.chain = cursor.chain;
        self.finished = cursor.finished;
    }
}

/// The bill, fixed at completion.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Settlement {
    /// Answer tokens billed: those posted, or for direct delivery those the client
    /// acknowledged.
    pub tokens: u32,
    /// Lamports billed (capped by the stake).
    pub bill: u64,
    /// The protocol fee out of the bill.
    pub fee: u64,
    /// Unix time of completion.
    pub completed_at: i64,
}
