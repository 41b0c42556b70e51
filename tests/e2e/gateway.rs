//! `chainference serve` against the local node with the replay engine, spoken to over HTTP as
//! an OpenAI client speaks: the models listed, chat and plain completions whole and streamed
//! with the text the provider generated and the usage billed, the wallet paying exactly the
//! settled bills, calls over the budget or the most per call refused with 402 before any
//! transaction, an unknown model 404, eight calls at once each with its own answer, a caller
//! that hangs up leaving its request to finish and be paid, OpenAI's official clients, and a
//! sampled SmolLM2 chat through mistral.rs.

use crate::support::*;
use anchor_lang::prelude::Pubkey;
use chainference::state::{Request, RequestState};
use chainference_cli::gateway::call::{COST_HEADER, REQUEST_HEADER};
use chainference_cli::gateway::{Gateway, ServeArgs};
use chainference_client::ask::open_sealed_prompt;
use chainference_client::envelope::{Compression, PromptEnvelope};
use chainference_client::ledger::{history_of, sealed_prompt};
use chainference_client::rpc::Chain;
use chainference_prover::core::bill_for;
use chainference_provider::engine::mistral::MistralEngine;
use clap::Parser;
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A gateway paying from `wallet` with `flags` (newcomers admitted: test providers have no
/// record) on a free loopback port: its base URL and itself.
async fn gateway(chain: &Chain, wallet: &Keypair, flags: &[&str]) -> (String, Arc<Gateway>) {
    let line = [&["serve", "--accept-newcomers"][..], flags].concat();
    let args = Cli::try_parse_from(line).expect("the flags parse").serve;
    let answers = tempfile::tempdir().expect("a folder").keep();
    let gateway = Arc::new(
        Gateway::new(chain.clone(), wallet.insecure_clone(), &args, answers)
            .expect("the gateway starts"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}/v1", listener.local_addr().expect("bound"));
    tokio::spawn(gateway.clone().serve(listener));
    (base, gateway)
}

/// What an HTTP call answered: status, the request and cost headers, the body.
struct Answer {
    status: u16,
    request: Option<String>,
    cost: Option<u64>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON: {}", self.body))
    }

    /// The data of each server-sent event, `[DONE]` included.
    fn events(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }
}

/// POSTs `body` to `url` (or GETs it when `body` is null).
async fn call(url: String, body: Value) -> Answer {
    tokio::task::spawn_blocking(move || {
        let sent = if body.is_null() {
            ureq::get(&url).call()
        } else {
            ureq::post(&url).send_json(body)
        };
        let response = match sent {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("{url}: {error}"),
        };
        Answer {
            status: response.status(),
            request: response.header(REQUEST_HEADER).map(str::to_string),
            cost: response
                .header(COST_HEADER)
                .and_then(|cost| cost.parse().ok()),
            body: response.into_string().expect("a body"),
        }
    })
    .await
    .expect("the call ran")
}

/// The prompt the gateway seals for one user turn, as the replay engine reads it.
fn sealed(text: &str, max_tokens: u32) -> PromptEnvelope {
    PromptEnvelope {
        compression: Compression::Brotli,
        ..prompt(text, max_tokens)
    }
}

fn chat(model: &str, text: &str, max_tokens: u32, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": stream},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chats_whole_and_streamed_carry_the_providers_text_and_pay_exactly_their_bills() {
    let chain = chain().await;
    let model = "test/replay-gateway";
    let engine = replay(400.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 2),
        Arc::new(engine.clone()),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    let (base, gateway) = gateway(&chain, &wallet, &[]).await;

    let models = call(format!("{base}/models"), Value::Null).await;
    assert_eq!(models.status, 200, "{}", models.body);
    let listed = models.json();
    let entry = listed["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|entry| entry["id"] == model)
        .unwrap_or_else(|| panic!("{model} listed: {listed}"))
        .clone();
    assert_eq!(
        (entry["object"].clone(), entry["servers"].clone()),
        (json!("model"), json!(1))
    );
    assert_eq!(entry["output_price_per_million"], 300_000);

    // Whole: the text the provider generated, its usage and bill, every lamport accounted.
    let before = Before::read(&chain, &wallet.pubkey(), &provider.operator).await;
    let whole = call(
        format!("{base}/chat/completions"),
        chat(model, "Where is the lamp?", 60, false),
    )
    .await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    let body = whole.json();
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .expect("text");
    assert_eq!(
        text,
        engine.expected_text(&sealed("Where is the lamp?", 60), 60)
    );
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 60);
    let request = body["id"].as_str().expect("an id").to_string();
    assert_eq!(whole.request.as_deref(), Some(request.as_str()));
    let bill = whole.cost.expect("a cost header");
    assert_eq!(body["chainference"]["cost_lamports"], bill);
    let address = request.parse().expect("an address");
    before
        .assert_settled(&chain, &wallet.pubkey(), &provider.operator, &address, bill)
        .await;
    // The server lists an endpoint, so the answer came directly: roots on chain, no chunks.
    assert!(appends(&chain, &address).await.is_empty());
    assert_eq!(root_posts(&chain, &address).await.len(), 1);

    // Streamed: role first, the same text in pieces, the finish, the usage, then [DONE].
    let streamed = call(
        format!("{base}/chat/completions"),
        chat(model, "Who kept the ledger?", 50, true),
    )
    .await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let events = streamed.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(event).expect("a chunk"))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let pieces: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        pieces,
        engine.expected_text(&sealed("Who kept the ledger?", 50), 50)
    );
    assert!(
        chunks.len() > 3,
        "the answer came in pieces: {}",
        chunks.len()
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = chunks.last().expect("a usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 50);
    let second_bill = usage["chainference"]["cost_lamports"]
        .as_u64()
        .expect("a bill");
    assert_eq!(
        streamed.request,
        Some(chunks[0]["id"].as_str().expect("id").to_string())
    );

    // A plain completion.
    let plain = call(
        format!("{base}/completions"),
        json!({"model": model, "prompt": "The keeper", "max_tokens": 20}),
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let body = plain.json();
    assert_eq!(body["object"], "text_completion");
    assert_eq!(
        body["choices"][0]["text"],
        engine.expected_text(&sealed("The keeper", 20), 20)
    );
    let third_bill = plain.cost.expect("a cost");

    // The gateway counts what settled, and nothing else.
    assert_eq!(gateway.committed(), bill + second_bill + third_bill);
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_calls_move_no_lamport_and_say_why_in_openais_shape() {
    let chain = chain().await;
    let model = "test/replay-gateway-refusals";
    // 100 and 300 lamports a token: 60 answer tokens take a stake of 18,000 lamports and the
    // prompt's, over a budget of 10,000; 400 take over 120,000, above a most of 50,000.
    let provider = start_provider(
        &chain,
        settings(model, 100_000_000, 300_000_000, 2),
        Arc::new(replay(400.0)),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    let before = chain.balance(&wallet.pubkey()).await.expect("balance");
    let (base, served) = gateway(
        &chain,
        &wallet,
        &["--budget", "0.00001", "--max-cost", "0.00005"],
    )
    .await;
    let refused = |answer: &Answer, status: u16, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], code, "{error}");
        assert!(!error["message"].as_str().unwrap_or_default().is_empty());
    };
    let url = format!("{base}/chat/completions");
    refused(
        &call(url.clone(), chat(model, "Hi", 60, false)).await,
        402,
        "over_budget",
    );
    refused(
        &call(url.clone(), chat(model, "Hi", 400, false)).await,
        402,
        "above_max_cost",
    );
    refused(
        &call(
            url.clone(),
            chat("test/nobody-serves-this", "Hi", 10, false),
        )
        .await,
        404,
        "model_not_found",
    );
    let mut two = chat(model, "Hi", 10, false);
    two["n"] = json!(2);
    refused(&call(url.clone(), two).await, 400, "invalid_value");
    refused(
        &call(url.clone(), chat(model, "Hi", 0, false)).await,
        400,
        "invalid_value",
    );
    assert_eq!(
        chain.balance(&wallet.pubkey()).await.expect("balance"),
        before
    );
    assert_eq!(served.committed(), 0);

    // Beyond loopback a key is required, and a call without it is refused.
    let open = Cli::try_parse_from(["serve", "--listen", "0.0.0.0:0"])
        .expect("parses")
        .serve;
    let error = Gateway::new(
        chain.clone(),
        wallet.insecure_clone(),
        &open,
        std::env::temp_dir(),
    )
    .err()
    .expect("refused");
    assert!(error.to_string().contains("--api-key"), "{error}");
    let (keyed, _) = gateway(&chain, &wallet, &["--api-key", "sesame"]).await;
    refused(
        &call(format!("{keyed}/models"), Value::Null).await,
        401,
        "invalid_api_key",
    );
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_calls_at_once_each_get_their_own_answer() {
    let chain = chain().await;
    let model = "test/replay-gateway-eight";
    let engine = replay(200.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 8),
        Arc::new(engine.clone()),
    )
    .await;
    let wallet = funded(&chain, 2_000_000_000).await;
    let (base, gateway) = gateway(&chain, &wallet, &[]).await;
    let calls: Vec<_> = (0..8)
        .map(|number| {
            let text = format!("Question number {number}: where is the lamp?");
            let url = format!("{base}/chat/completions");
            let stream = number % 2 == 0;
            tokio::spawn(async move {
                let answer = call(url, chat(model, &text, 40, stream)).await;
                (text, stream, answer)
            })
        })
        .collect();
    let mut requests = Vec::new();
    let mut bills = 0;
    for handle in calls {
        let (text, stream, answer) = handle.await.expect("the call ran");
        assert_eq!(answer.status, 200, "{}", answer.body);
        let got: String = if stream {
            let events = answer.events();
            let chunks: Vec<Value> = events[..events.len() - 1]
                .iter()
                .map(|event| serde_json::from_str(event).expect("a chunk"))
                .collect();
            bills += chunks.last().expect("usage")["chainference"]["cost_lamports"]
                .as_u64()
                .expect("a bill");
            chunks
                .iter()
                .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
                .collect()
        } else {
            bills += answer.cost.expect("a cost");
            answer.json()["choices"][0]["message"]["content"]
                .as_str()
                .expect("text")
                .to_string()
        };
        assert_eq!(got, engine.expected_text(&sealed(&text, 40), 40), "{text}");
        requests.push(answer.request.expect("a request"));
    }
    requests.sort();
    requests.dedup();
    assert_eq!(requests.len(), 8, "eight requests");
    assert_eq!(gateway.committed(), bills);
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_hangs_up_leaves_its_request_to_finish_and_be_paid() {
    let chain = chain().await;
    let model = "test/replay-gateway-hangup";
    // 60 tokens at 20 a second: three seconds of answer after the caller has gone.
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 2),
        Arc::new(replay(20.0)),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    let (base, gateway) = gateway(&chain, &wallet, &[]).await;
    let url = format!("{base}/chat/completions");
    let request = tokio::task::spawn_blocking(move || {
        let response = ureq::post(&url)
            .send_json(chat(model, "Tell me a long story.", 60, true))
            .expect("streams");
        let request = response
            .header(REQUEST_HEADER)
            .expect("a request")
            .to_string();
        let mut lines = BufReader::new(response.into_reader()).lines();
        let first = lines.next().expect("a line").expect("read");
        assert!(first.starts_with("data: "), "{first}");
        // Hang up.
        request
    })
    .await
    .expect("the call ran");
    let address = request.parse().expect("an address");
    let bill = crate::wait::request_where(&chain, &address, 60, "the request settles", |account| {
        account
            .filter(|account| account.state == RequestState::Completed)
            .map(|account| account.settlement.bill)
    })
    .await;
    assert!(bill > 0, "the server was paid");
    crate::wait::until(&chain, 10, "the gateway counts the bill once", || async {
        (gateway.committed() == bill).then_some(())
    })
    .await;
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_that_stops_mid_answer_is_a_504_and_its_stake_and_bond_come_back() {
    let chain = chain().await;
    let model = "test/replay-gateway-stopped";
    // 100 tokens at 2 a second would take 50 s; the provider stops once it streams.
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 1),
        Arc::new(replay(2.0)),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    let before = Before::read(&chain, &wallet.pubkey(), &provider.operator).await;
    let (base, gateway) = gateway(&chain, &wallet, &[]).await;
    let calling = tokio::spawn(call(
        format!("{base}/chat/completions"),
        chat(model, "A long one, please.", 100, false),
    ));
    let request = chainference::pda::request_address(&wallet.pubkey(), 0);
    crate::wait::request_where(&chain, &request, 60, "the answer streams", |account| {
        account.filter(|account| account.state == RequestState::Ready)
    })
    .await;
    provider.task.abort();
    // The call waits out the time limit (a minute and a tenth of a second a token), then
    // expires the request.
    let answer = calling.await.expect("the call ran");
    assert_eq!(answer.status, 504, "{}", answer.body);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "time_limit", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains(&request.to_string())),
        "{error}"
    );
    assert_eq!(gateway.committed(), 0, "no bill kept");
    let expired =
        crate::wait::request_where(&chain, &request, 30, "the request is closed", |account| {
            account.is_none().then_some(())
        });
    expired.await;
    let fees = |payer: Pubkey| {
        let chain = chain.clone();
        async move {
            ledger(&chain, &request)
                .await
                .iter()
                .filter(|transaction| transaction.payer == Some(payer))
                .map(|transaction| transaction.fee)
                .sum::<u64>()
        }
    };
    let bond = before.provider
        - chain.balance(&provider.operator).await.expect("balance")
        - fees(provider.operator).await;
    assert!(
        bond > 0
            && error["message"]
                .as_str()
                .is_some_and(|message| message.contains(&format!("bond of {bond} lamports"))),
        "the provider lost its bond of {bond} lamports, which the call names: {error}"
    );
    let client_after = chain.balance(&wallet.pubkey()).await.expect("balance");
    assert_eq!(
        client_after + fees(wallet.pubkey()).await + counter_rent(&chain, &wallet.pubkey()).await,
        before.client + bond,
        "the client: its fees and the counter's rent paid, the stake and the request's rent back, plus the bond"
    );
}

/// The `openai` packages the official-client test runs, pinned.
const OPENAI_PYTHON: &str = "openai==3.51.0";
const OPENAI_NODE: &str = "openai@7.55.0";

/// Runs `command`, panicking with its output if it fails.
fn run(command: &mut std::process::Command) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?} did not start: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A Python with OpenAI's official package, in a virtual environment under the cache
/// (installed from PyPI on first use).
fn openai_python() -> std::path::PathBuf {
    let venv = chainference_client::wallet::cache_dir().join("openai-python");
    let python = venv.join("bin").join("python");
    let installed = std::process::Command::new(&python)
        .args([
            "-c",
            "import openai, sys; sys.exit(openai.__version__ != '3.51.0')",
        ])
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        run(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv));
        run(std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "-q",
            OPENAI_PYTHON,
        ]));
    }
    python
}

/// A `node_modules` with OpenAI's official package, under the cache (installed from npm on
/// first use).
fn openai_node() -> std::path::PathBuf {
    let prefix = chainference_client::wallet::cache_dir().join("openai-node");
    let modules = prefix.join("node_modules");
    if !modules.join("openai").join("package.json").exists() {
        std::fs::create_dir_all(&prefix).expect("the cache folder");
        run(std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .arg(OPENAI_NODE));
    }
    modules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openais_official_python_and_node_clients_list_chat_and_read_usage() {
    let chain = chain().await;
    let model = "test/replay-gateway-official";
    let engine = replay(400.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 2),
        Arc::new(engine.clone()),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    // A key, as a user sets one; on loopback it is optional, and checked when set.
    let (base, gateway) = gateway(&chain, &wallet, &["--api-key", "sesame"]).await;
    let python = tokio::task::spawn_blocking(openai_python)
        .await
        .expect("installed");
    let node = tokio::task::spawn_blocking(openai_node)
        .await
        .expect("installed");
    let script = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/openai")
            .join(name)
    };
    let mut bills = 0;
    for (client, mut command) in [
        ("python", std::process::Command::new(&python)),
        ("node", std::process::Command::new("node")),
    ] {
        let (file, whole, streamed) = match client {
            "python" => ("client.py", "Where is the lamp?", "Who kept the ledger?"),
            _ => (
                "client.cjs",
                "What did the surveyor say?",
                "When does the tide turn?",
            ),
        };
        command
            .arg(script(file))
            .env("NODE_PATH", &node)
            .env("BASE_URL", &base)
            .env("API_KEY", "sesame")
            .env("MODEL", model)
            .env("MAX_TOKENS", "40")
            .env("WHOLE_PROMPT", whole)
            .env("STREAMED_PROMPT", streamed);
        let output = tokio::task::spawn_blocking(move || run(&mut command))
            .await
            .expect("the client ran");
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{client}: {}", String::from_utf8_lossy(&output.stdout)));
        assert!(
            report["models"]
                .as_array()
                .is_some_and(|models| models.contains(&json!(model))),
            "{client}: {report}"
        );
        for (part, prompt) in [("whole", whole), ("streamed", streamed)] {
            let answer = &report[part];
            assert_eq!(
                answer["text"],
                engine.expected_text(&sealed(prompt, 40), 40),
                "{client} {part}"
            );
            assert_eq!(answer["usage"], 40, "{client} {part}");
            // The cost reported is the bill the chain settled.
            let address = answer["id"]
                .as_str()
                .expect("an id")
                .parse()
                .expect("an address");
            let account: chainference::state::Request = chain
                .account(&address, "Request")
                .await
                .expect("read")
                .expect("the request");
            assert_eq!(answer["cost"], account.settlement.bill, "{client} {part}");
            bills += account.settlement.bill;
        }
    }
    assert_eq!(gateway.committed(), bills);
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sampled_smollm2_chat_through_serve_is_what_mistral_rs_generates_for_its_request() {
    let chain = chain().await;
    let model = smollm2().await;
    let engine = MistralEngine::load(std::slice::from_ref(&model), 1)
        .await
        .expect("SmolLM2 loads");
    let provider = start_provider(
        &chain,
        settings(&model.id, 100_000, 300_000, 1),
        Arc::new(engine),
    )
    .await;
    let wallet = funded(&chain, 1_000_000_000).await;
    let before = Before::read(&chain, &wallet.pubkey(), &provider.operator).await;
    let (base, _) = gateway(&chain, &wallet, &[]).await;
    let streamed = call(
        format!("{base}/chat/completions"),
        json!({
            "model": model.id,
            "messages": [
                {"role": "system", "content": "You are a terse lighthouse keeper."},
                {"role": "user", "content": "What do you do at night?"},
            ],
            "max_tokens": 40,
            "temperature": 0.7,
            "seed": 7,
            "stream": true,
        }),
    )
    .await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let chunks: Vec<Value> = streamed
        .events()
        .iter()
        .filter(|event| *event != "[DONE]")
        .map(|event| serde_json::from_str(event).expect("a chunk"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty(), "SmolLM2 answered");

    // The prompt the gateway sealed, opened with the wallet: both turns and the sampling
    // asked for; mistral.rs alone, drawing with the request's seed, says the same words.
    let request: Pubkey = streamed
        .request
        .as_deref()
        .expect("the request header")
        .parse()
        .expect("an address");
    let account: Request = chain
        .account(&request, "Request")
        .await
        .expect("read")
        .expect("the request");
    let history = history_of(&chain, &request).await.expect("the ledger");
    let (_, prompt) = open_sealed_prompt(
        &chain,
        &wallet,
        &request,
        account.lock.server_key,
        &sealed_prompt(&history),
    )
    .expect("the wallet opens its prompt");
    assert_eq!(
        prompt
            .messages
            .iter()
            .map(|message| (message.role.as_str(), message.content.as_str()))
            .collect::<Vec<_>>(),
        [
            ("system", "You are a terse lighthouse keeper."),
            ("user", "What do you do at night?"),
        ]
    );
    assert_eq!(
        (prompt.sampling.temperature, prompt.sampling.seed),
        (Some(0.7), Some(7))
    );
    let (alone, tokens, _) = crate::mistral::alone(&model, &request, &prompt, "", 40).await;
    assert_eq!(text, alone, "the words mistral.rs draws for this request");
    // A stream's bill comes in its last chunk (headers leave before it is known).
    let bill = chunks.last().expect("chunks")["chainference"]["cost_lamports"]
        .as_u64()
        .expect("the bill in the last chunk");
    assert_eq!(
        bill,
        bill_for(account.terms.prompt_tokens, 100_000, tokens, 300_000).expect("a bill")
    );
    before
        .assert_settled(&chain, &wallet.pubkey(), &provider.operator, &request, bill)
        .await;
    provider.task.abort();
}
