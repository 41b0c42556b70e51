//! One call for what most end-to-end tests start from: a provider serving a model of the test's
//! own on the shared local node, a funded client, and the client's question, asked when the
//! test wants its answer. Knobs set what differs between tests.

use crate::support::*;
use chainference::state::Delivery;
use chainference_client::ask::{Answered, Question};
use chainference_client::rpc::Chain;
use chainference_provider::config::Settings;
use chainference_provider::engine::replay::ReplayEngine;
use chainference_provider::engine::Engine;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::Arc;

/// What a scenario will start: made by [`scenario`], changed by its knobs, started by
/// [`Setup::start`] or [`Setup::answered`].
pub struct Setup<E> {
    chain: Option<Chain>,
    engine: E,
    settings: Settings,
    question: Question,
    client: Option<Keypair>,
}

/// A provider of `model` replaying the corpus as fast as it can, at 100,000 and 300,000
/// lamports per million input and output tokens, two requests at once; its client's question
/// "Write at length." of at most 400 tokens, staking 0.01 SOL, delivered on chain.
pub fn scenario(model: &str) -> Setup<ReplayEngine> {
    Setup {
        chain: None,
        engine: replay(0.0),
        settings: settings(model, 100_000, 300_000, 2),
        question: question(model, "Write at length.", 400, 10_000_000),
        client: None,
    }
}

impl<E: Engine> Setup<E> {
    /// On `chain` instead of the shared node.
    pub fn on(mut self, chain: Chain) -> Self {
        self.chain = Some(chain);
        self
    }

    /// The provider answers with `engine`.
    pub fn engine<F: Engine>(self, engine: F) -> Setup<F> {
        Setup {
            chain: self.chain,
            engine,
            settings: self.settings,
            question: self.question,
            client: self.client,
        }
    }

    /// The provider's prices, in lamports per million input and output tokens.
    pub fn prices(mut self, input: u64, output: u64) -> Self {
        let offer = &mut self.settings.models[0];
        (offer.input_price, offer.output_price) = (input, output);
        self
    }

    /// How many requests the provider takes at once.
    pub fn max_concurrent(mut self, requests: u16) -> Self {
        self.settings.max_concurrent = requests;
        self
    }

    /// The model's context length the provider offers.
    pub fn context_length(mut self, tokens: u32) -> Self {
        self.settings.models[0].context_length = tokens;
        self
    }

    /// The question's text and its cap on answer tokens.
    pub fn asking(mut self, text: &str, max_tokens: u32) -> Self {
        self.question.terms.max_output_tokens = max_tokens;
        self.question.prompt = prompt(text, max_tokens);
        self
    }

    /// The question's stake.
    pub fn stake(mut self, lamports: u64) -> Self {
        self.question.stake = lamports;
        self
    }

    /// How the answer is delivered.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.question.terms.delivery = delivery;
        self
    }

    /// The question's latency bound on a batch (0: none, batches fill).
    pub fn batch_wait_ms(mut self, ms: u32) -> Self {
        self.question.terms.max_batch_wait_ms = ms;
        self
    }

    /// The client is `wallet` (a fixed one: its requests' addresses, and so the seeds of its
    /// sampled answers, are the same in every run on a fresh node), not a new one.
    pub fn client(mut self, wallet: Keypair) -> Self {
        self.client = Some(wallet);
        self
    }

    /// Starts the provider and funds the client with 1 SOL.
    pub async fn start(self) -> Scenario<E> {
        let chain = match self.chain {
            Some(chain) => chain,
            None => chain().await,
        };
        let engine = Arc::new(self.engine);
        let provider = start_provider(&chain, self.settings, engine.clone()).await;
        let client = match self.client {
            Some(wallet) => fund(&chain, wallet, 1_000_000_000).await,
            None => funded(&chain, 1_000_000_000).await,
        };
        let client = Arc::new(client);
        Scenario {
            chain,
            engine,
            provider,
            client,
            question: self.question,
        }
    }

    /// Starts, then asks the question.
    pub async fn answered(self) -> (Scenario<E>, Answer) {
        let scenario = self.start().await;
        let answer = scenario.ask().await;
        (scenario, answer)
    }
}

/// A running scenario.
pub struct Scenario<E = ReplayEngine> {
    pub chain: Chain,
    pub engine: Arc<E>,
    pub provider: Running,
    pub client: Arc<Keypair>,
    pub question: Question,
}

/// An answered question: the streamed text, how it ended, and the balances before it.
pub struct Answer {
    pub text: String,
    pub answered: Answered,
    pub before: Before,
}

impl<E: Engine> Scenario<E> {
    /// Asks the scenario's question.
    pub async fn ask(&self) -> Answer {
        self.ask_with(&self.question).await
    }

    /// Asks `question` as the scenario's client.
    pub async fn ask_with(&self, question: &Question) -> Answer {
        let before =
            Before::read(&self.chain, &self.client.pubkey(), &self.provider.operator).await;
        let (text, answered) = ask_text(&self.chain, &self.client, question).await;
        Answer {
            text,
            answered,
            before,
        }
    }

    /// The scenario's question with `text` as its prompt.
    pub fn question_saying(&self, text: &str) -> Question {
        let mut question = self.question.clone();
        question.prompt = prompt(text, question.terms.max_output_tokens);
        question
    }

    /// Another provider of the scenario's model, with `engine` at these prices.
    pub async fn another_provider(
        &self,
        engine: impl Engine,
        (input, output): (u64, u64),
        max_concurrent: u16,
    ) -> Running {
        let settings = settings(&self.question.terms.model, input, output, max_concurrent);
        start_provider(&self.chain, settings, Arc::new(engine)).await
    }

    /// Checks every lamport of `answer`, settled by the scenario's provider for `bill` (see
    /// [`Before::assert_settled`]).
    pub async fn assert_settled(&self, answer: &Answer, bill: u64) {
        answer
            .before
            .assert_settled(
                &self.chain,
                &self.client.pubkey(),
                &self.provider.operator,
                &answer.answered.request,
                bill,
            )
            .await;
    }
}

impl Scenario<ReplayEngine> {
    /// The replayed answer to the scenario's question, all its tokens.
    pub fn expected_answer(&self) -> String {
        let question = &self.question;
        self.engine
            .expected_text(&question.prompt, question.terms.max_output_tokens)
    }
}
