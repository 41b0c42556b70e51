//! What the end-to-end tests share: one local node for the binary, funded wallets, providers
//! started in the background, questions and exact fee accounting.

use crate::wait;
use anchor_lang::prelude::Pubkey;
use chainference::state::{ConfigParams, Delivery, Filters, RequestTerms};
use chainference_cli::localnet::LocalNode;
use chainference_client::ask::Question;
use chainference_client::envelope::{Compression, Message, PromptEnvelope, Sampling};
use chainference_client::ledger::RecordedTransaction;
use chainference_client::rpc::Chain;
use chainference_provider::checkpoint::{Checkpoint, Hold};
use chainference_provider::config::{ModelSettings, Settings};
use chainference_provider::engine::replay::ReplayEngine;
use chainference_provider::engine::Engine;
use chainference_provider::Provider;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::sync::{Arc, OnceLock};

/// Lamports a signature costs.
pub const SIGNATURE_FEE: u64 = 5_000;
/// The shared node's lock window (short, so expiry tests run in seconds).
pub const LOCK_WINDOW_SECS: u32 = 12;
/// The shared node's prompt window.
pub const PROMPT_WINDOW_SECS: u32 = 8;

/// The shared node's URLs.
pub struct Node {
    pub rpc_url: String,
    pub pubsub_url: String,
}

/// The binary's one local node, started on first use and kept for the process's life.
pub fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        start_node(ConfigParams {
            lock_window_secs: LOCK_WINDOW_SECS,
            prompt_window_secs: PROMPT_WINDOW_SECS,
            ..ConfigParams::with_fee(0)
        })
    })
}

/// A local node of its own, its config initialized with `config`, kept for the process's life.
pub fn start_node(config: ConfigParams) -> Node {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let node = LocalNode::start_with(None, None, config).expect("the local node starts");
        sender
            .send(Node {
                rpc_url: node.rpc_url(),
                pubsub_url: node.pubsub_url(),
            })
            .expect("the test waits");
        // The node lives as long as the test process.
        loop {
            std::thread::park();
        }
    });
    receiver.recv().expect("the node thread reports")
}

/// A connection to the shared node.
pub async fn chain() -> Chain {
    let node = node();
    Chain::connect(&node.rpc_url, &node.pubsub_url)
        .await
        .expect("the node answers")
}

/// A new wallet holding `lamports`, from the node's faucet (`requestAirdrop`, as on devnet).
pub async fn funded(chain: &Chain, lamports: u64) -> Keypair {
    fund(chain, Keypair::new(), lamports).await
}

/// `wallet`, given `lamports` more from the node's faucet.
pub async fn fund(chain: &Chain, wallet: Keypair, lamports: u64) -> Keypair {
    let before = chain.balance(&wallet.pubkey()).await.expect("balance");
    let signature = chain
        .rpc()
        .request_airdrop(&wallet.pubkey(), lamports)
        .await
        .expect("the faucet answers");
    let landed = format!("airdrop {signature}");
    wait::until(chain, 60, &landed, || async {
        let balance = chain.balance(&wallet.pubkey()).await.expect("balance");
        (balance >= before + lamports).then_some(())
    })
    .await;
    wallet
}

/// Lamports held by `wallet`'s request counter (created, with its rent, by its first request).
pub async fn counter_rent(chain: &Chain, wallet: &Pubkey) -> u64 {
    chain
        .balance(&chainference::pda::client_address(wallet))
        .await
        .expect("balance")
}

/// The settings of a provider serving `model` at these prices.
pub fn settings(model: &str, input_price: u64, output_price: u64, max_concurrent: u16) -> Settings {
    Settings {
        models: vec![ModelSettings {
            id: model.into(),
            revision: "main".into(),
            quantization: "F32".into(),
            path: None,
            context_length: 2_048,
            input_price,
            output_price,
            min_stake: 0,
        }],
        max_concurrent,
        endpoint: String::new(),
        tree_depth: 14,
        scan_secs: 1,
        compute_unit_price: 0,
        update_weights: false,
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
    }
}

/// A provider running in the background.
pub struct Running {
    pub operator: Pubkey,
    pub task: tokio::task::JoinHandle<()>,
}

/// Funds an operator, starts a provider with `engine` and lets it serve.
pub async fn start_provider(chain: &Chain, settings: Settings, engine: Arc<dyn Engine>) -> Running {
    let operator = funded(chain, 3_000_000_000).await;
    serve(chain, &operator, settings, engine, None).await
}

/// Starts (or restarts) a provider for `operator`, holding its jobs at checkpoints with `hold`.
pub async fn serve(
    chain: &Chain,
    operator: &Keypair,
    settings: Settings,
    engine: Arc<dyn Engine>,
    hold: Option<Hold>,
) -> Running {
    let mut provider = Provider::start(chain.clone(), operator.insecure_clone(), settings, engine)
        .await
        .expect("the provider starts");
    if let Some(hold) = hold {
        provider = provider.with_hold(hold);
    }
    Running {
        operator: provider.operator(),
        task: tokio::spawn(provider.run()),
    }
}

/// A hook that holds a job for good at the first checkpoint `stop` picks and reports its
/// request on `reached` (the test then kills the provider there).
pub fn hold_where(
    stop: impl Fn(&Checkpoint) -> bool + Send + Sync + 'static,
    reached: tokio::sync::mpsc::UnboundedSender<Pubkey>,
) -> Hold {
    Arc::new(move |checkpoint| {
        if stop(&checkpoint) {
            let _ = reached.send(checkpoint.request());
            Box::pin(std::future::pending())
        } else {
            Box::pin(std::future::ready(()))
        }
    })
}

/// The replay corpus.
pub fn corpus() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/corpus/prose.txt"
    ))
    .expect("the corpus is committed")
}

/// A replay engine over the corpus.
pub fn replay(tokens_per_second: f64) -> ReplayEngine {
    ReplayEngine::new(&corpus(), tokens_per_second)
}

/// SmolLM2-135M-Instruct (the demo's model), fetched on first use.
pub async fn smollm2() -> chainference_provider::engine::mistral::MistralModel {
    let path = tokio::task::spawn_blocking(chainference_cli::smollm2::model_path)
        .await
        .expect("ran")
        .expect("SmolLM2 is fetched");
    chainference_provider::engine::mistral::MistralModel {
        id: chainference_cli::smollm2::MODEL_ID.into(),
        path,
    }
}

/// A prompt of one user message.
pub fn prompt(text: &str, max_tokens: u32) -> PromptEnvelope {
    PromptEnvelope {
        messages: vec![Message {
            role: "user".into(),
            content: text.into(),
        }],
        sampling: Sampling::default(),
        max_tokens,
        compression: Compression::Zstd,
    }
}

/// A question for `model` with caps that any test provider meets.
pub fn question(model: &str, text: &str, max_tokens: u32, stake: u64) -> Question {
    Question {
        terms: RequestTerms {
            model: model.into(),
            max_output_tokens: max_tokens,
            max_input_price: 10_000_000,
            max_output_price: 10_000_000,
            prompt_tokens: 20,
            allowed_servers: Vec::new(),
            filters: Filters {
                max_failure_bps: 10_000,
                ..Filters::default()
            },
            time_limit_secs: 120,
            max_batch_wait_ms: 500,
            delivery: Delivery::Chain,
            key_version: 1,
        },
        stake,
        prompt: prompt(text, max_tokens),
        answers_dir: None,
    }
}

/// Balances before a question, to check the settlement against.
pub struct Before {
    pub client: u64,
    pub provider: u64,
}

impl Before {
    /// Reads both balances now.
    pub async fn read(chain: &Chain, client: &Pubkey, provider: &Pubkey) -> Self {
        Self {
            client: chain.balance(client).await.expect("balance"),
            provider: chain.balance(provider).await.expect("balance"),
        }
    }

    /// Checks every lamport of a settled answer billed `bill`: the client paid its fees
    /// (create, prompt pieces), the rent still held (request and counter) and the bill; the
    /// provider got the bill less the fees of the transactions it paid for on the request's
    /// ledger.
    pub async fn assert_settled(
        &self,
        chain: &Chain,
        client: &Pubkey,
        provider: &Pubkey,
        request: &Pubkey,
        bill: u64,
    ) {
        self.assert_client_paid(chain, client, request, bill).await;
        // The provider's fees as the ledger recorded them: a transaction can carry several
        // batches, so counting leaves would overstate them.
        let provider_fees: u64 = ledger(chain, request)
            .await
            .iter()
            .filter(|transaction| transaction.payer == Some(*provider))
            .map(|transaction| transaction.fee)
            .sum();
        let provider_after = chain.balance(provider).await.expect("balance");
        assert_eq!(
            provider_after + provider_fees,
            self.provider + bill,
            "provider: the bill less its fees"
        );
    }

    /// Checks the client's side of a settled answer billed `bill`: its fees (create, prompt
    /// pieces), the rent still held (request and counter) and the bill.
    pub async fn assert_client_paid(
        &self,
        chain: &Chain,
        client: &Pubkey,
        request: &Pubkey,
        bill: u64,
    ) {
        let account: chainference::state::Request = chain
            .account(request, "Request")
            .await
            .expect("read")
            .expect("the settled request stays until its flag window passes");
        let pieces =
            u64::from(account.prompt.bytes).div_ceil(chainference_client::ask::PROMPT_PIECE as u64);
        let client_after = chain.balance(client).await.expect("balance");
        assert_eq!(
            self.client - client_after,
            SIGNATURE_FEE * (1 + pieces) + account.rent + counter_rent(chain, client).await + bill,
            "client: fees, rent held (request and counter), bill"
        );
    }
}

/// Asks and collects the streamed text.
pub async fn ask_text(
    chain: &Chain,
    wallet: &Keypair,
    question: &chainference_client::ask::Question,
) -> (String, chainference_client::ask::Answered) {
    let mut text = String::new();
    let answered = chainference_client::ask::ask(chain, wallet, question, |event| {
        if let chainference_client::ask::AskEvent::Text(piece) = event {
            text.push_str(&piece);
        }
    })
    .await
    .expect("answered");
    (text, answered)
}

/// Asserts that an answer that lived through an interruption is the uninterrupted one: `text`
/// byte for byte what `engine` gives for `question`, all `max_tokens` tokens billed once at
/// `(input_price, output_price)`, every chunk on the ledger once; returns the chunk count.
pub async fn assert_answered_once(
    chain: &Chain,
    engine: &ReplayEngine,
    question: &Question,
    (text, answered): &(String, chainference_client::ask::Answered),
    max_tokens: u32,
    (input_price, output_price): (u64, u64),
) -> u32 {
    assert_eq!(
        *text,
        engine.expected_text(&question.prompt, max_tokens),
        "the uninterrupted answer, byte for byte"
    );
    assert_eq!(answered.answer_tokens, max_tokens);
    assert_eq!(
        answered.bill,
        chainference_prover::core::bill_for(
            question.terms.prompt_tokens,
            input_price,
            max_tokens,
            output_price
        )
        .expect("a bill")
    );
    assert_each_chunk_once(chain, &answered.request).await
}

/// Checks that `request`'s batches on the ledger tile its sequence from 0 to the account's
/// next sequence number, each chunk once; returns the chunk count.
pub async fn assert_each_chunk_once(chain: &Chain, request: &Pubkey) -> u32 {
    let mut next_seq = 0;
    for batch in ledger(chain, request)
        .await
        .into_iter()
        .flat_map(|transaction| transaction.batches)
    {
        assert_eq!(batch.first_seq, next_seq, "no chunk twice, none skipped");
        next_seq += batch.chunks.len() as u32;
    }
    let account: chainference::state::Request = chain
        .account(request, "Request")
        .await
        .expect("read")
        .expect("the request stays until its flag window passes");
    assert_eq!(next_seq, account.response.next_seq);
    next_seq
}

/// The server account of `operator`.
pub async fn server_of(chain: &Chain, operator: &Pubkey) -> chainference::state::Server {
    chain
        .account(&chainference::pda::server_address(operator), "Server")
        .await
        .expect("read")
        .expect("the server is registered")
}

/// `wallet` written to a keypair file in a temporary folder (kept while the folder lives), for
/// the binary's `-k`.
pub fn keypair_file(wallet: &Keypair) -> (tempfile::TempDir, std::path::PathBuf) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("id.json");
    chainference_client::wallet::write_keypair(wallet, &path).expect("the keypair is written");
    (folder, path)
}

/// Runs the `chainference` binary against the shared node with `args`.
pub fn chainference(args: &[&str]) -> std::process::Output {
    chainference_on(node(), args)
}

/// Runs the `chainference` binary against `node` with `args`.
pub fn chainference_on(node: &Node, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_chainference"))
        .args(["-u", &node.rpc_url, "--ws", &node.pubsub_url])
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Fails the test with what the binary wrote to standard error, unless `output` is a success.
pub fn assert_succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the binary printed (with `--output json`), parsed; fails the test with its standard
/// error where it failed, or with its output where that is not JSON.
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert_succeeded(output);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `request`'s transcript once everything on its ledger now is finalized (a direct answer's
/// chunks from `saved`).
pub async fn finalized_transcript(
    chain: &Chain,
    request: &Pubkey,
    saved: Option<&chainference_client::direct::SavedAnswer>,
) -> chainference_client::audit::Transcript {
    wait::finalized_history(chain, request).await;
    chainference_client::audit::transcript(chain, request, saved)
        .await
        .expect("the finalized transcript reads")
}

/// `address`'s ledger (at `confirmed`), oldest first.
pub async fn ledger(chain: &Chain, address: &Pubkey) -> Vec<RecordedTransaction> {
    chainference_client::ledger::history_of(chain, address)
        .await
        .expect("the ledger answers")
}

/// The transactions of `request`'s ledger that carry chunks.
pub async fn appends(chain: &Chain, request: &Pubkey) -> Vec<RecordedTransaction> {
    let mut history = ledger(chain, request).await;
    history.retain(|transaction| !transaction.batches.is_empty());
    history
}

/// The transactions of `request`'s ledger that carry roots of directly delivered batches.
pub async fn root_posts(chain: &Chain, request: &Pubkey) -> Vec<RecordedTransaction> {
    let mut history = ledger(chain, request).await;
    history.retain(|transaction| !transaction.roots.is_empty());
    history
}
