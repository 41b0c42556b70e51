//! A question built from what the client wants and what the market offers: the prompt sized by
//! the program's rules, price caps derived from the stake, reputation filters with their
//! defaults, and every refusal the program or the servers would make found before a lamport
//! moves, each a [`QuestionError`] variant.
//!
//! ```ignore
//! use chainference_client::market::QuestionBuilder;
//!
//! let question = QuestionBuilder::new("HuggingFaceTB/SmolLM2-135M-Instruct", 1_000_000, "Hi!")
//!     .with_max_tokens(200)
//!     .with_accept_newcomers(true)
//!     .build(&chain)
//!     .await?;
//! ```

use super::amount::sol;
use super::offers::{by_model, cheapest_stake, Offer};
use crate::accounts::servers;
use crate::ask::Question;
use crate::envelope::{
    sealed_prompt_len, Compression, EnvelopeError, Message, PromptEnvelope, Sampling,
};
use crate::rpc::{Chain, ChainError};
use anchor_lang::prelude::Pubkey;
use chainference::constants::{
    BPS, MAX_ALLOWED_SERVERS, MAX_OUTPUT_TOKENS, MAX_PROMPT_LEN, MAX_PROMPT_TOKENS,
    MAX_TIME_LIMIT_SECS, PRICE_TOKENS,
};
use chainference::error::ChainferenceError;
use chainference::state::{
    bill_for, min_prompt_tokens, Delivery, Filters, Request, RequestTerms, Server,
};
use std::path::PathBuf;

/// What a [`QuestionBuilder`] asks for unless told otherwise.
pub mod defaults {
    /// Most answer tokens.
    pub const MAX_TOKENS: u32 = 512;
    /// Longest wait between batches, seconds.
    pub const BATCH_WAIT_SECS: f64 = 2.0;
    /// Completed answers a server needs to lock the request.
    pub const MIN_COMPLETED: u64 = 3;
    /// The Wilson lower bound of its success ratio a server needs, in basis points: three
    /// completed answers with none flagged give 4,384, one flagged among three gives 2,076, so
    /// a server needs a clean record of three answers (or, say, nine of ten unflagged: 5,958)
    /// before it may lock a default request.
    pub const MIN_SUCCESS_BPS: u16 = 4_000;
}

/// Lamports a request's transactions and rent need beyond the stake (create, prompt and rent
/// of the request account, which comes back at close).
pub const OVERHEAD_LAMPORTS: u64 = 10_000_000;

/// Why a question was not built: one variant per refusal, each before a lamport moves.
#[derive(Debug, thiserror::Error)]
pub enum QuestionError {
    /// The answer's token limit is outside what the program accepts.
    #[error("the answer may have 1 to {MAX_OUTPUT_TOKENS} tokens, not {0}")]
    TokenLimit(u32),
    /// The prompt could not be sized.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The sealed prompt is larger, or declares more tokens, than a request may hold.
    #[error("the prompt is too long ({sealed_len} bytes; at most {} KiB sealed): shorten it", MAX_PROMPT_LEN / 1024)]
    PromptTooLong {
        /// Its sealed size, bytes.
        sealed_len: usize,
        /// The tokens it is declared as.
        prompt_tokens: u32,
    },
    /// The stake does not pay for the prompt at the input price cap.
    #[error("a stake of {} does not cover the prompt (~{prompt_tokens} tokens at up to {max_input_price} lamports per million = {}): raise the stake or lower the input price cap", sol(*stake), sol(*prompt_cost))]
    StakeBelowPrompt {
        /// The stake, lamports.
        stake: u64,
        /// The tokens the prompt is declared as.
        prompt_tokens: u32,
        /// The input price cap, lamports per million tokens.
        max_input_price: u64,
        /// The prompt's cost at that cap, lamports.
        prompt_cost: u64,
    },
    /// More servers are allowed than a request may list.
    #[error("{0} allowed servers; a request lists at most {MAX_ALLOWED_SERVERS}")]
    TooManyServers(usize),
    /// The servers could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// No active server offers the model.
    #[error("no server offers model {0}")]
    ModelNotOffered(String),
    /// No server offering the model is allowed and meets the reputation filters.
    #[error("no server offering {0} is allowed and meets the reputation filters")]
    NoServerAdmitted(String),
    /// Every admitted server's prices are above the caps, or its minimum stake above the stake.
    #[error("every server's price for {model} is above the caps: {tokens} tokens there need a stake of {} or more (or fewer answer tokens)", sol(*cheapest_stake))]
    AboveCaps {
        /// The model.
        model: String,
        /// The prompt's declared tokens plus the answer's limit.
        tokens: u64,
        /// The least stake an admitted server takes for them, lamports.
        cheapest_stake: u64,
    },
    /// The prompt and the answer do not fit any affordable server's context.
    #[error("the prompt (~{prompt_tokens} tokens) plus {max_tokens} answer tokens exceeds {model}'s context length: shorten the prompt or ask for fewer tokens")]
    ContextTooShort {
        /// The model.
        model: String,
        /// The prompt's declared tokens.
        prompt_tokens: u32,
        /// The answer's limit.
        max_tokens: u32,
    },
    /// The program would let none of the affordable servers lock the request.
    #[error("no server offering {model} may take this request ({refusal})")]
    NoServerMayLock {
        /// The model.
        model: String,
        /// The program's refusal of the first of them.
        refusal: ChainferenceError,
    },
}

/// Why a wallet cannot pay for a question.
#[derive(Debug, thiserror::Error)]
pub enum FundsError {
    /// The balance could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The wallet holds less than the stake plus [`OVERHEAD_LAMPORTS`].
    #[error("the wallet {wallet} holds {}; a stake of {} needs about {} more for rent and fees", sol(*balance), sol(*stake), sol(OVERHEAD_LAMPORTS))]
    Short {
        /// The wallet.
        wallet: Pubkey,
        /// What it holds, lamports.
        balance: u64,
        /// The stake, lamports.
        stake: u64,
    },
}

/// Refuses a stake of `stake` that `wallet` cannot pay with its rent and fees.
pub async fn check_funds(chain: &Chain, wallet: &Pubkey, stake: u64) -> Result<(), FundsError> {
    let balance = chain.balance(wallet).await?;
    if balance < stake.saturating_add(OVERHEAD_LAMPORTS) {
        return Err(FundsError::Short {
            wallet: *wallet,
            balance,
            stake,
        });
    }
    Ok(())
}

/// Seconds the answer may take: a minute plus a tenth of a second a token.
pub fn time_limit_for(max_tokens: u32) -> u32 {
    (60 + max_tokens / 10).min(MAX_TIME_LIMIT_SECS)
}

/// Tokens a text is declared as: one per three bytes, rounded up (above what tokenizers give
/// on prose, so the declared count does not undercharge), plus four per message.
fn estimate_tokens(messages: &[Message]) -> u32 {
    let tokens: usize = messages
        .iter()
        .map(|m| m.content.len().div_ceil(3) + 4)
        .sum();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// Builds a [`Question`]: the model, the stake and the prompt, then optional settings, then
/// [`QuestionBuilder::build`] checks them against the servers on chain. A front end maps its
/// own inputs (flags, form fields, an API's body) onto the `with_` methods.
#[derive(Clone, Debug)]
pub struct QuestionBuilder {
    model: String,
    stake: u64,
    prompt: String,
    system: Option<String>,
    conversation: Option<Vec<Message>>,
    max_tokens: u32,
    sampling: Sampling,
    compression: Compression,
    servers: Vec<Pubkey>,
    accept_newcomers: bool,
    min_completed: Option<u64>,
    min_success_bps: Option<u16>,
    min_preference_bps: Option<u16>,
    max_failure_bps: Option<u16>,
    max_input_price: Option<u64>,
    max_output_price: Option<u64>,
    batch_wait_secs: f64,
    delivery: Delivery,
    answers_dir: Option<PathBuf>,
}

/// What [`QuestionBuilder`] derives from the prompt and the stake before it reads the market.
struct Draft {
    prompt: PromptEnvelope,
    prompt_tokens: u32,
    max_input_price: u64,
    max_output_price: u64,
}

impl QuestionBuilder {
    /// A question to `model` with `prompt` as the user's turn, escrowing `stake` lamports (the
    /// most the answer may cost); everything else at [`defaults`]: only servers with a record,
    /// any price the stake allows, delivered on chain, compressed with brotli.
    pub fn new(model: impl Into<String>, stake: u64, prompt: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            stake,
            prompt: prompt.into(),
            system: None,
            conversation: None,
            max_tokens: defaults::MAX_TOKENS,
            sampling: Sampling::default(),
            compression: Compression::Brotli,
            servers: Vec::new(),
            accept_newcomers: false,
            min_completed: None,
            min_success_bps: None,
            min_preference_bps: None,
            max_failure_bps: None,
            max_input_price: None,
            max_output_price: None,
            batch_wait_secs: defaults::BATCH_WAIT_SECS,
            delivery: Delivery::Chain,
            answers_dir: None,
        }
    }

    /// A system prompt before the user's turn (`None`: none).
    pub fn with_system(mut self, system: Option<String>) -> Self {
        self.system = system;
        self
    }

    /// Most answer tokens (1 to [`MAX_OUTPUT_TOKENS`]).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// The sampling temperature (`None`: the server's default, greedy).
    pub fn with_temperature(mut self, temperature: Option<f64>) -> Self {
        self.sampling.temperature = temperature;
        self
    }

    /// A whole conversation (system, user and assistant turns, the last one the user's) in
    /// place of the prompt and the system prompt.
    pub fn with_conversation(mut self, messages: Vec<Message>) -> Self {
        self.conversation = Some(messages);
        self
    }

    /// Every sampling setting at once: temperature, nucleus, the client's seed and the stop
    /// strings.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// The stake, lamports: the most the answer may cost.
    pub fn with_stake(mut self, stake: u64) -> Self {
        self.stake = stake;
        self
    }

    /// How the answer's text is encoded (compression leaks through lengths when an attacker
    /// controls part of the text: [`Compression::None`] then).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Only these operators may lock it (empty: any).
    pub fn with_servers(mut self, operators: Vec<Pubkey>) -> Self {
        self.servers = operators;
        self
    }

    /// The operators allowed to lock it (empty: any).
    pub fn servers(&self) -> &[Pubkey] {
        &self.servers
    }

    /// Let servers with no record lock it: the completed-answers and success filters default
    /// to 0 instead of [`defaults::MIN_COMPLETED`] and [`defaults::MIN_SUCCESS_BPS`]. A new
    /// server is trusted with the whole stake.
    pub fn with_accept_newcomers(mut self, accept: bool) -> Self {
        self.accept_newcomers = accept;
        self
    }

    /// Least completed answers (`None`: the default, see
    /// [`QuestionBuilder::with_accept_newcomers`]).
    pub fn with_min_completed(mut self, min: Option<u64>) -> Self {
        self.min_completed = min;
        self
    }

    /// Least Wilson lower bound of the success ratio, bps (`None`: the default, see
    /// [`QuestionBuilder::with_accept_newcomers`]).
    pub fn with_min_success_bps(mut self, min: Option<u16>) -> Self {
        self.min_success_bps = min;
        self
    }

    /// Least Wilson lower bound of the preference ratio, bps (`None`: any).
    pub fn with_min_preference_bps(mut self, min: Option<u16>) -> Self {
        self.min_preference_bps = min;
        self
    }

    /// Most failure rate, bps (`None`: any).
    pub fn with_max_failure_bps(mut self, max: Option<u16>) -> Self {
        self.max_failure_bps = max;
        self
    }

    /// Highest input price, lamports per million tokens (`None`: what the stake allows).
    pub fn with_max_input_price(mut self, max: Option<u64>) -> Self {
        self.max_input_price = max;
        self
    }

    /// Highest output price, lamports per million tokens (`None`: what the stake allows).
    pub fn with_max_output_price(mut self, max: Option<u64>) -> Self {
        self.max_output_price = max;
        self
    }

    /// Longest wait between batches, seconds (0 or less: the server fills transactions,
    /// cheapest).
    pub fn with_batch_wait_secs(mut self, secs: f64) -> Self {
        self.batch_wait_secs = secs;
        self
    }

    /// How the answer travels.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Where a directly delivered answer is saved, its only copy (`None`: not kept).
    pub fn with_answers_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.answers_dir = dir;
        self
    }

    /// The reputation filters asked for: by default only servers with a record
    /// ([`defaults::MIN_COMPLETED`], [`defaults::MIN_SUCCESS_BPS`]); accepting newcomers,
    /// anyone. Explicit minimums win either way.
    pub fn filters(&self) -> Filters {
        let (min_completed, min_success_bps) = if self.accept_newcomers {
            (0, 0)
        } else {
            (defaults::MIN_COMPLETED, defaults::MIN_SUCCESS_BPS)
        };
        Filters {
            min_completed: self.min_completed.unwrap_or(min_completed),
            min_success_bps: self.min_success_bps.unwrap_or(min_success_bps),
            min_preference_bps: self.min_preference_bps.unwrap_or(0),
            max_failure_bps: self.max_failure_bps.unwrap_or(BPS as u16),
        }
    }

    /// Checks the question against the servers on chain and builds it.
    pub async fn build(self, chain: &Chain) -> Result<Question, QuestionError> {
        let draft = self.draft()?;
        let list = servers(chain).await?;
        self.choose(draft, &list)
    }

    /// Checks the question against `list` (every registered server, as
    /// [`crate::accounts::servers`] reads them) and builds it.
    pub fn against(self, list: &[(Pubkey, Server)]) -> Result<Question, QuestionError> {
        let draft = self.draft()?;
        self.choose(draft, list)
    }

    /// The conversation (the system prompt, if any, then the user's turn) with its sampling,
    /// limit and encoding.
    fn envelope(&self) -> PromptEnvelope {
        let turns = [
            ("system", self.system.as_ref()),
            ("user", Some(&self.prompt)),
        ];
        let messages = match &self.conversation {
            Some(messages) => messages.clone(),
            None => turns
                .into_iter()
                .filter_map(|(role, content)| {
                    content.map(|content| Message {
                        role: role.into(),
                        content: content.clone(),
                    })
                })
                .collect(),
        };
        PromptEnvelope {
            messages,
            sampling: self.sampling.clone(),
            max_tokens: self.max_tokens,
            compression: self.compression,
        }
    }

    /// Sizes the stake at the cheapest admitted offer in `list` whose context holds the prompt
    /// and the answer (its worst bill, or its minimum stake if that is more) and caps the
    /// prices at that offer's, so the stake pays for every token the answer may have. Price
    /// caps already set narrow the offers considered. Refused as [`QuestionBuilder::against`]
    /// would refuse it.
    pub fn priced_at_cheapest(mut self, list: &[(Pubkey, Server)]) -> Result<Self, QuestionError> {
        let (_, prompt_tokens) = self.sized()?;
        let models = by_model(list);
        let Some(offers) = models.get(self.model.as_str()) else {
            return Err(QuestionError::ModelNotOffered(self.model));
        };
        let admitted = offers.admitted(&self.servers, &self.filters());
        if admitted.is_empty() {
            return Err(QuestionError::NoServerAdmitted(self.model));
        }
        let tokens = u64::from(prompt_tokens) + u64::from(self.max_tokens);
        let roomy: Vec<Offer<'_>> = admitted
            .iter()
            .filter(|offer| tokens <= u64::from(offer.model.context_length))
            .copied()
            .collect();
        if roomy.is_empty() {
            return Err(QuestionError::ContextTooShort {
                model: self.model,
                prompt_tokens,
                max_tokens: self.max_tokens,
            });
        }
        let cheapest = roomy
            .iter()
            .filter(|offer| {
                self.max_input_price
                    .is_none_or(|cap| offer.model.input_price <= cap)
                    && self
                        .max_output_price
                        .is_none_or(|cap| offer.model.output_price <= cap)
            })
            .filter_map(|offer| {
                let bill = bill_for(
                    prompt_tokens,
                    offer.model.input_price,
                    self.max_tokens,
                    offer.model.output_price,
                )?;
                Some((bill.max(offer.model.min_stake), offer))
            })
            .min_by_key(|(stake, _)| *stake);
        let Some((stake, offer)) = cheapest else {
            return Err(QuestionError::AboveCaps {
                cheapest_stake: cheapest_stake(&roomy, prompt_tokens, self.max_tokens),
                model: self.model,
                tokens,
            });
        };
        let (input_price, output_price) = (offer.model.input_price, offer.model.output_price);
        self.stake = stake;
        self.max_input_price = Some(input_price);
        self.max_output_price = Some(output_price);
        Ok(self)
    }

    /// The prompt and the tokens it is declared as, checked against the program's limits.
    fn sized(&self) -> Result<(PromptEnvelope, u32), QuestionError> {
        if !(1..=MAX_OUTPUT_TOKENS).contains(&self.max_tokens) {
            return Err(QuestionError::TokenLimit(self.max_tokens));
        }
        let prompt = self.envelope();
        let estimated = estimate_tokens(&prompt.messages);
        let sealed_len = sealed_prompt_len(&prompt)?;
        // `submit_prompt` refuses a seal whose size needs more declared tokens than these.
        let prompt_tokens = estimated.max(min_prompt_tokens(
            u32::try_from(sealed_len).unwrap_or(u32::MAX),
        ));
        if sealed_len > MAX_PROMPT_LEN as usize || prompt_tokens > MAX_PROMPT_TOKENS {
            return Err(QuestionError::PromptTooLong {
                sealed_len,
                prompt_tokens,
            });
        }
        Ok((prompt, prompt_tokens))
    }

    /// The prompt, sized as the program counts it, and the price caps: what needs no chain.
    fn draft(&self) -> Result<Draft, QuestionError> {
        let (prompt, prompt_tokens) = self.sized()?;
        // What the stake can pay per million tokens if every token were billed at one price.
        let billable = u128::from(prompt_tokens) + u128::from(self.max_tokens);
        let affordable =
            u64::try_from(u128::from(self.stake) * u128::from(PRICE_TOKENS) / billable)
                .unwrap_or(u64::MAX);
        let max_input_price = self.max_input_price.unwrap_or(affordable);
        // `create_request` refuses a stake under the prompt's cost at the input price cap.
        let prompt_cost = bill_for(prompt_tokens, max_input_price, 0, 0).unwrap_or(u64::MAX);
        if prompt_cost > self.stake {
            return Err(QuestionError::StakeBelowPrompt {
                stake: self.stake,
                prompt_tokens,
                max_input_price,
                prompt_cost,
            });
        }
        if self.servers.len() > MAX_ALLOWED_SERVERS {
            return Err(QuestionError::TooManyServers(self.servers.len()));
        }
        Ok(Draft {
            prompt,
            prompt_tokens,
            max_input_price,
            max_output_price: self.max_output_price.unwrap_or(affordable),
        })
    }

    /// Finds the servers that would take `draft` among `list`, and refuses it if none would.
    fn choose(self, draft: Draft, list: &[(Pubkey, Server)]) -> Result<Question, QuestionError> {
        let filters = self.filters();
        let models = by_model(list);
        let Some(offers) = models.get(self.model.as_str()) else {
            return Err(QuestionError::ModelNotOffered(self.model));
        };
        let admitted = offers.admitted(&self.servers, &filters);
        if admitted.is_empty() {
            return Err(QuestionError::NoServerAdmitted(self.model));
        }
        let priced = self.affordable(&draft, &admitted)?;
        let terms = RequestTerms {
            model: self.model,
            max_output_tokens: self.max_tokens,
            max_input_price: draft.max_input_price,
            max_output_price: draft.max_output_price,
            prompt_tokens: draft.prompt_tokens,
            allowed_servers: self.servers,
            filters,
            time_limit_secs: time_limit_for(self.max_tokens),
            max_batch_wait_ms: (self.batch_wait_secs.max(0.0) * 1000.0) as u32,
            delivery: self.delivery,
            key_version: 1,
        };
        // The program's own rule, so no request is created that no server may lock.
        let proposed = Request::proposed(terms, self.stake);
        let refusals: Vec<_> = priced
            .iter()
            .filter_map(|offer| proposed.lockable_by(offer.server, 0).err())
            .collect();
        if let (Some(&refusal), true) = (refusals.first(), refusals.len() == priced.len()) {
            return Err(QuestionError::NoServerMayLock {
                model: proposed.terms.model,
                refusal,
            });
        }
        Ok(Question {
            terms: proposed.terms,
            stake: self.stake,
            prompt: draft.prompt,
            answers_dir: self.answers_dir,
        })
    }

    /// The `admitted` offers within the price caps and the stake whose context holds the
    /// prompt and the answer; refused if none is.
    fn affordable<'a>(
        &self,
        draft: &Draft,
        admitted: &[Offer<'a>],
    ) -> Result<Vec<Offer<'a>>, QuestionError> {
        let priced: Vec<Offer<'a>> = admitted
            .iter()
            .filter(|offer| {
                offer.model.input_price <= draft.max_input_price
                    && offer.model.output_price <= draft.max_output_price
                    && offer.model.min_stake <= self.stake
            })
            .copied()
            .collect();
        let tokens = u64::from(draft.prompt_tokens) + u64::from(self.max_tokens);
        if priced.is_empty() {
            return Err(QuestionError::AboveCaps {
                model: self.model.clone(),
                tokens,
                cheapest_stake: cheapest_stake(admitted, draft.prompt_tokens, self.max_tokens),
            });
        }
        if priced
            .iter()
            .all(|offer| tokens > u64::from(offer.model.context_length))
        {
            return Err(QuestionError::ContextTooShort {
                model: self.model.clone(),
                prompt_tokens: draft.prompt_tokens,
                max_tokens: self.max_tokens,
            });
        }
        Ok(priced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainference::state::{ModelOffer, Reputation};

    fn record(completed: u64, flagged: u64) -> Reputation {
        Reputation {
            completed,
            flagged,
            ..Reputation::default()
        }
    }

    fn ask() -> QuestionBuilder {
        QuestionBuilder::new("m", 10_000_000, "hi")
    }

    /// One active server offering `m` at 100,000 / 200,000 lamports per million, with
    /// `reputation`.
    fn market(reputation: Reputation) -> Vec<(Pubkey, Server)> {
        let server = Server {
            operator: Pubkey::new_unique(),
            active: true,
            models: vec![ModelOffer {
                id: "m".into(),
                revision: "main".into(),
                quantization: String::new(),
                weights_sha256: [7; 32],
                context_length: 2_048,
                input_price: 100_000,
                output_price: 200_000,
                min_stake: 0,
            }],
            endpoint: String::new(),
            max_concurrent: 2,
            active_locks: 0,
            trees: Vec::new(),
            registered_at: 0,
            last_active: 0,
            reputation,
            bump: 0,
        };
        vec![(Pubkey::new_unique(), server)]
    }

    #[test]
    fn a_default_question_refuses_a_server_with_no_record() {
        let filters = ask().filters();
        assert_eq!(filters.min_completed, 3);
        assert_eq!(filters.min_success_bps, 4_000);
        assert!(filters.admit(&Reputation::default()).is_err());
        assert!(
            filters.admit(&record(2, 0)).is_err(),
            "two answers are not a record"
        );
        assert!(matches!(
            ask().against(&market(Reputation::default())),
            Err(QuestionError::NoServerAdmitted(_))
        ));
    }

    #[test]
    fn the_default_takes_three_clean_answers_and_fails_one_flag_among_three() {
        let filters = ask().filters();
        assert_eq!(record(3, 0).success_lower_bps(), 4_384);
        assert!(filters.admit(&record(3, 0)).is_ok());
        assert!(filters.admit(&record(3, 1)).is_err());
        assert!(filters.admit(&record(10, 1)).is_ok());
    }

    #[test]
    fn accepting_newcomers_admits_a_server_with_no_record_and_explicit_values_win() {
        let newcomers = ask().with_accept_newcomers(true).filters();
        assert_eq!((newcomers.min_completed, newcomers.min_success_bps), (0, 0));
        assert!(newcomers.admit(&Reputation::default()).is_ok());
        let explicit = ask()
            .with_accept_newcomers(true)
            .with_min_completed(Some(5))
            .filters();
        assert_eq!((explicit.min_completed, explicit.min_success_bps), (5, 0));
        let lowered = ask().with_min_success_bps(Some(1_000)).filters();
        assert_eq!((lowered.min_completed, lowered.min_success_bps), (3, 1_000));
    }

    #[test]
    fn a_question_takes_its_caps_from_the_stake_and_its_time_from_its_tokens() {
        let question = ask()
            .with_max_tokens(100)
            .with_batch_wait_secs(-1.0)
            .against(&market(record(3, 0)))
            .expect("a server may take it");
        let terms = &question.terms;
        // "hi" is 1 token plus 4; the sealed prompt needs no more.
        assert_eq!(terms.prompt_tokens, 5);
        assert_eq!(terms.max_input_price, 10_000_000 * 1_000_000 / 105);
        assert_eq!(terms.max_output_price, terms.max_input_price);
        assert_eq!(terms.time_limit_secs, 70);
        assert_eq!(terms.max_batch_wait_ms, 0);
        assert_eq!(question.prompt.messages.len(), 1);
        assert_eq!(time_limit_for(MAX_OUTPUT_TOKENS), MAX_TIME_LIMIT_SECS);
    }

    #[test]
    fn a_stake_priced_at_the_cheapest_offer_pays_its_worst_bill_and_caps_prices_there() {
        let mut list = market(record(3, 0));
        let mut dearer = list[0].clone();
        dearer.1.operator = Pubkey::new_unique();
        dearer.1.models[0].output_price = 900_000;
        list.push((Pubkey::new_unique(), dearer.1));
        let conversation = vec![
            Message {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            Message {
                role: "user".into(),
                content: "hi".into(),
            },
        ];
        let question = QuestionBuilder::new("m", 0, "")
            .with_conversation(conversation.clone())
            .with_sampling(Sampling {
                seed: Some(7),
                ..Sampling::default()
            })
            .with_max_tokens(1_000)
            .with_accept_newcomers(true)
            .priced_at_cheapest(&list)
            .expect("priced")
            .against(&list)
            .expect("a server may take it");
        let prompt_tokens = question.terms.prompt_tokens;
        // The cheaper server's worst bill: prompt at 100,000 and 1,000 tokens at 200,000.
        assert_eq!(
            question.stake,
            bill_for(prompt_tokens, 100_000, 1_000, 200_000).expect("a bill")
        );
        assert_eq!(
            (
                question.terms.max_input_price,
                question.terms.max_output_price
            ),
            (100_000, 200_000)
        );
        assert_eq!(question.prompt.messages, conversation);
        assert_eq!(question.prompt.sampling.seed, Some(7));
        // No offer holds the prompt and the answer: refused as `against` would.
        let mut short = list.clone();
        for (_, server) in &mut short {
            server.models[0].context_length = 100;
        }
        assert!(matches!(
            QuestionBuilder::new("m", 0, "hi")
                .with_max_tokens(1_000)
                .with_accept_newcomers(true)
                .priced_at_cheapest(&short),
            Err(QuestionError::ContextTooShort { .. })
        ));
        assert!(matches!(
            QuestionBuilder::new("other", 0, "hi").priced_at_cheapest(&list),
            Err(QuestionError::ModelNotOffered(_))
        ));
    }

    #[test]
    fn each_refusal_is_its_own_variant() {
        let market = market(record(3, 0));
        let refused = |builder: QuestionBuilder| builder.against(&market).expect_err("refused");
        assert!(matches!(
            refused(ask().with_max_tokens(0)),
            QuestionError::TokenLimit(0)
        ));
        assert!(matches!(
            refused(ask().with_max_tokens(MAX_OUTPUT_TOKENS + 1)),
            QuestionError::TokenLimit(_)
        ));
        assert!(matches!(
            refused(QuestionBuilder::new("m", 1, "hi").with_max_input_price(Some(10_000_000))),
            QuestionError::StakeBelowPrompt {
                prompt_cost: 50,
                ..
            }
        ));
        assert!(matches!(
            refused(QuestionBuilder::new(
                "m",
                10_000_000,
                "long words ".repeat(30_000)
            )),
            QuestionError::PromptTooLong { .. }
        ));
        assert!(matches!(
            refused(ask().with_servers(vec![Pubkey::new_unique(); MAX_ALLOWED_SERVERS + 1])),
            QuestionError::TooManyServers(9)
        ));
        assert!(matches!(
            refused(QuestionBuilder::new("absent", 10_000_000, "hi")),
            QuestionError::ModelNotOffered(_)
        ));
        assert!(matches!(
            refused(ask().with_servers(vec![Pubkey::new_unique()])),
            QuestionError::NoServerAdmitted(_)
        ));
        // 5 prompt tokens at 100,000 and 512 answer tokens at 200,000 per million: 103 lamports.
        assert!(matches!(
            refused(ask().with_max_output_price(Some(1))),
            QuestionError::AboveCaps {
                tokens: 517,
                cheapest_stake: 103,
                ..
            }
        ));
        assert!(matches!(
            refused(ask().with_max_tokens(2_044)),
            QuestionError::ContextTooShort { .. }
        ));
        assert!(matches!(
            refused(ask().with_delivery(Delivery::Direct)),
            QuestionError::NoServerMayLock {
                refusal: ChainferenceError::NoEndpoint,
                ..
            }
        ));
    }
}
