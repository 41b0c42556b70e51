//! The website against the local node: its JSON API with two providers and finished
//! requests, and its pages in headless Chromium (rows and prices, a new server appearing
//! without a reload, a phone-sized layout), with a screenshot of each page saved under
//! `<target>/tmp/web-screenshots/`.

use crate::scenario::{scenario, Scenario};
use crate::support::*;
use crate::wait;
use crate::webdriver::Browser;
use anchor_lang::prelude::Pubkey;
use chainference::state::{ModelOffer, ServerParams};
use chainference_cli::web::Site;
use chainference_client::rpc::Chain;
use serde_json::Value;
use solana_signer::Signer;
use std::time::Duration;

/// Serves the site on a free loopback port; returns its base URL.
async fn site(chain: &Chain) -> String {
    let site = Site::start(chain.clone(), Duration::from_millis(300))
        .await
        .expect("the site reads the market");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(site.serve(listener));
    base
}

/// GETs `url` and returns its status and JSON body.
async fn get_json(url: &str) -> (u16, Value) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let (status, answer) = match ureq::get(&url).call() {
            Ok(answer) => (answer.status(), answer),
            Err(ureq::Error::Status(status, answer)) => (status, answer),
            Err(error) => panic!("GET {url}: {error}"),
        };
        (status, answer.into_json().expect("JSON"))
    })
    .await
    .expect("the request ran")
}

/// The entry of `list` whose `key` is `value`.
fn entry<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no entry with {key} = {value} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_lists_two_providers_their_models_and_finished_requests() {
    let model = "test/replay-web-api";
    // 20 tokens/s: each answer takes two seconds, so its speed is measurable on chain
    // (lock and completion times are whole seconds).
    let engine = || replay(20.0).with_answer_tokens(40);
    let scenario = scenario(model)
        .engine(engine())
        .asking("First.", 60)
        .start()
        .await;
    let Scenario {
        chain,
        provider: cheap,
        client,
        ..
    } = &scenario;
    let dear = scenario
        .another_provider(engine(), (200_000, 500_000), 1)
        .await;
    let stake = scenario.question.stake;
    let mut answers = Vec::new();
    for (operator, text) in [
        (cheap.operator, "First."),
        (dear.operator, "Second."),
        (cheap.operator, "Third."),
    ] {
        let mut question = scenario.question_saying(text);
        question.terms.allowed_servers = vec![operator];
        let answered = scenario.ask_with(&question).await.answered;
        assert_eq!(answered.operator, operator);
        answers.push(answered);
    }
    // A request nobody serves, cancelled: its account is gone, the ledger still has it.
    let nonce = chainference_client::ask::next_nonce(chain, &client.pubkey())
        .await
        .expect("nonce");
    let cancelled = chainference::pda::request_address(&client.pubkey(), nonce);
    let terms = question("test/replay-web-nobody", "Never.", 60, stake).terms;
    chain
        .send(
            &[chainference_client::instructions::create_request(
                &client.pubkey(),
                nonce,
                stake,
                terms,
            )],
            client,
            &[],
        )
        .await
        .expect("created");
    chain
        .send(
            &[chainference_client::instructions::cancel_request(
                &client.pubkey(),
                &cancelled,
            )],
            client,
            &[],
        )
        .await
        .expect("cancelled");

    let base = site(chain).await;
    let (status, servers) = get_json(&format!("{base}/api/servers")).await;
    assert_eq!(status, 200);
    let servers = &servers["servers"];
    let paid = |operator: Pubkey| -> u64 {
        answers
            .iter()
            .filter(|answered| answered.operator == operator)
            .map(|answered| answered.bill)
            .sum()
    };
    for (provider, input, output, completed, max_concurrent) in [
        (cheap, 100_000, 300_000, 2, 2),
        (&dear, 200_000, 500_000, 1, 1),
    ] {
        let server = entry(servers, "operator", &provider.operator.to_string());
        assert_eq!(
            server["address"],
            chainference::pda::server_address(&provider.operator).to_string()
        );
        assert_eq!(server["active"], true);
        assert_eq!(server["free_now"], true);
        assert_eq!(server["locks"], 0);
        assert_eq!(server["max_concurrent"], max_concurrent);
        let offer = &server["models"][0];
        assert_eq!(offer["id"], model);
        assert_eq!(offer["revision"], "main");
        assert_eq!(offer["quantization"], "F32");
        // The replay engine has no weights, so its offers pin none.
        assert_eq!(offer["weights_sha256"], "none");
        assert_eq!(offer["input_price"]["lamports_per_million"], input);
        assert_eq!(offer["input_price"]["sol_per_million"], input as f64 / 1e9);
        assert_eq!(offer["output_price"]["lamports_per_million"], output);
        assert_eq!(
            offer["output_price"]["sol_per_million"],
            output as f64 / 1e9
        );
        let record = &server["record"];
        assert_eq!(record["completed"], completed);
        assert_eq!(record["failures"], 0);
        assert_eq!(record["success_ratio"], 1.0);
        assert_eq!(record["preference_ratio"], Value::Null);
        assert_eq!(record["tokens_served"], 40 * completed);
        assert_eq!(record["lamports_paid"], paid(provider.operator));
        assert!(record["mean_first_chunk_secs"].is_number(), "{record}");
        assert!(record["tokens_per_second"].is_number(), "{record}");
        assert!(server["last_active"].as_i64().expect("a time") > 0);
    }

    let (status, models) = get_json(&format!("{base}/api/models")).await;
    assert_eq!(status, 200);
    let offered = entry(&models["models"], "id", model);
    assert_eq!(offered["servers"], 2);
    assert_eq!(offered["free_now"], 2);
    for (side, which, lamports) in [
        ("input_price", "cheapest", 100_000),
        ("input_price", "median", 150_000),
        ("output_price", "cheapest", 300_000),
        ("output_price", "median", 400_000),
    ] {
        let price = &offered[side][which];
        assert_eq!(price["lamports_per_million"], lamports, "{side} {which}");
        assert_eq!(
            price["sol_per_million"],
            lamports as f64 / 1e9,
            "{side} {which}"
        );
    }
    assert_eq!(offered["offers"][0]["operator"], cheap.operator.to_string());
    assert_eq!(offered["offers"][1]["operator"], dear.operator.to_string());
    assert!(
        models["models"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|model| model["id"] != "test/replay-web-nobody"),
        "a model no server offers is not listed"
    );

    for answered in &answers {
        let url = format!("{base}/api/requests/{}", answered.request);
        let (status, request) = get_json(&url).await;
        assert_eq!(status, 200, "{request}");
        assert_eq!(
            request["state"],
            format!(
                "completed, billed {}",
                chainference_cli::cli::sol(answered.bill)
            )
        );
        assert_eq!(request["account_open"], true);
        assert_eq!(request["model"], model);
        assert_eq!(request["delivery"], "chain");
        assert_eq!(request["client"], client.pubkey().to_string());
        assert_eq!(request["server"], answered.operator.to_string());
        assert_eq!(request["stake"], stake);
        assert_eq!(request["tokens_posted"], answered.answer_tokens);
        assert_eq!(request["leaves"], answered.batches);
        assert_eq!(request["finished"], true);
        assert_eq!(request["bill"], answered.bill);
        assert_eq!(request["refund"], stake - answered.bill);
        // The verdict comes once the settlement is finalized (about 32 slots).
        let mut verdict = request["audit"].clone();
        if verdict["status"] == "finalizing" {
            wait::finalized_history(chain, &answered.request).await;
            verdict = get_json(&url).await.1["audit"].clone();
        }
        assert_eq!(verdict["status"], "verified", "{verdict}");
        assert_eq!(verdict["bill"], answered.bill);
        assert_eq!(verdict["answer_tokens"], answered.answer_tokens);
        assert_eq!(verdict["batches"], answered.batches);
    }

    let (status, gone) = get_json(&format!("{base}/api/requests/{cancelled}")).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["state"], "expired or cancelled");
    assert_eq!(gone["account_open"], false);
    assert_eq!(gone["model"], "test/replay-web-nobody");
    assert_eq!(gone["client"], client.pubkey().to_string());
    assert_eq!(gone["server"], Value::Null);
    assert_eq!(gone["bill"], Value::Null);
    assert_eq!(gone["refund"], stake);
    assert_eq!(gone["audit"]["status"], "not_settled");

    let (status, error) = get_json(&format!("{base}/api/requests/not-a-key")).await;
    assert_eq!(status, 400);
    assert!(error["error"]
        .as_str()
        .expect("a message")
        .contains("not a request address"));
    let nowhere = Pubkey::new_unique();
    let (status, error) = get_json(&format!("{base}/api/requests/{nowhere}")).await;
    assert_eq!(status, 404);
    assert!(error["error"]
        .as_str()
        .expect("a message")
        .contains("no request"));
}

/// Registers a server for a new funded operator offering `model` at these prices.
async fn register(chain: &Chain, model: &str, input_price: u64, output_price: u64) -> Pubkey {
    let operator = funded(chain, 100_000_000).await;
    let params = ServerParams {
        models: vec![ModelOffer {
            id: model.into(),
            revision: "v2".into(),
            quantization: "Q4_K_M".into(),
            weights_sha256: [7; 32],
            context_length: 4_096,
            input_price,
            output_price,
            min_stake: 0,
        }],
        endpoint: String::new(),
        max_concurrent: 3,
    };
    chain
        .send(
            &[chainference_client::instructions::register_server(
                &operator.pubkey(),
                params,
            )],
            &operator,
            &[],
        )
        .await
        .expect("registered");
    operator.pubkey()
}

/// Runs blocking browser work without stalling the runtime the site and provider run on.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_show_rows_and_prices_and_a_new_server_without_a_reload() {
    let model = "test/replay-web-browser";
    let mut scenario = scenario(model)
        .engine(replay(0.0).with_answer_tokens(30))
        .prices(120_000, 360_000)
        .asking("Show me.", 60)
        .start()
        .await;
    scenario.question.terms.allowed_servers = vec![scenario.provider.operator];
    let answered = scenario.ask().await.answered;
    let Scenario {
        chain, provider, ..
    } = &scenario;
    let base = site(chain).await;
    let browser = blocking(|| Browser::start(1280, 900));
    let row = |operator: &Pubkey| format!("tr[data-operator=\"{operator}\"]");
    let mine = row(&provider.operator);

    // Servers: the provider's row, its prices in SOL per million tokens and its record.
    blocking(|| {
        browser.goto(&format!("{base}/servers"));
        let models = browser.text(&format!("{mine} td[data-label=\"Models\"]"));
        let models = models.expect("the provider's row is listed");
        assert!(models.contains(model), "{models}");
        assert!(models.contains("0.00012 SOL / 0.00036 SOL"), "{models}");
        let cell = |label: &str| browser.text(&format!("{mine} td[data-label=\"{label}\"]"));
        assert_eq!(cell("Completed").as_deref(), Some("1"));
        assert_eq!(cell("Failures").as_deref(), Some("0"));
        assert_eq!(cell("Locks").as_deref(), Some("0 / 2"));
        assert_eq!(cell("Status").as_deref(), Some("free"));
        assert_eq!(
            cell("Paid"),
            Some(chainference_cli::cli::sol(answered.bill))
        );
        browser.screenshot("servers.png");
    });

    // Models: the model's row with its cheapest and median prices.
    blocking(|| {
        browser.goto(&format!("{base}/models"));
        let mine = format!("tr[data-model=\"{model}\"]");
        let cell = |label: &str| browser.text(&format!("{mine} td[data-label=\"{label}\"]"));
        assert_eq!(cell("Servers").as_deref(), Some("1"));
        assert_eq!(cell("Free now").as_deref(), Some("1"));
        assert_eq!(
            cell("Cheapest").as_deref(),
            Some("0.00012 SOL / 0.00036 SOL")
        );
        assert_eq!(cell("Median").as_deref(), Some("0.00012 SOL / 0.00036 SOL"));
        browser.screenshot("models.png");
    });

    // The request's page: its facts, and the audit verdict once the settlement is final,
    // pushed to the open page.
    blocking(|| {
        browser.goto(&format!("{base}/requests/{}", answered.request));
        let text = browser.text("#live").expect("the request's facts");
        assert!(
            text.contains(model) && text.contains(&provider.operator.to_string()),
            "{text}"
        );
    });
    wait::finalized_history(chain, &answered.request).await;
    blocking(|| {
        let verified = browser.wait_for(
            "return document.querySelector('.verdict')?.innerText === 'verified';",
            wait::BACKSTOP,
        );
        assert!(verified, "{:?}", browser.text("#live"));
        browser.screenshot("request.png");
    });

    // A server registered while the servers page is open appears there without a reload, and
    // the models page then counts it and shows the new cheapest price.
    blocking(|| {
        browser.goto(&format!("{base}/servers"));
        browser.run("window.stayedOpen = true; return null;");
    });
    let newcomer = register(chain, model, 80_000, 240_000).await;
    blocking(|| {
        let appeared = browser.wait_for(
            &format!(
                "return window.stayedOpen === true && document.querySelector({}) !== null;",
                serde_json::json!(row(&newcomer))
            ),
            wait::BACKSTOP,
        );
        assert!(appeared, "the new server's row appears on the open page");
        let models = browser.text(&format!("{} td[data-label=\"Models\"]", row(&newcomer)));
        assert!(models
            .expect("its row")
            .contains("0.00008 SOL / 0.00024 SOL"));
        browser.screenshot("servers-live.png");
        browser.goto(&format!("{base}/models"));
        let mine = format!("tr[data-model=\"{model}\"]");
        let cell = |label: &str| browser.text(&format!("{mine} td[data-label=\"{label}\"]"));
        assert_eq!(cell("Servers").as_deref(), Some("2"));
        assert_eq!(
            cell("Cheapest").as_deref(),
            Some("0.00008 SOL / 0.00024 SOL")
        );
        assert_eq!(cell("Median").as_deref(), Some("0.0001 SOL / 0.0003 SOL"));
    });

    // On a phone the table turns into labelled cards.
    blocking(|| {
        browser.resize(390, 844);
        browser.goto(&format!("{base}/servers"));
        let header =
            browser.run("return getComputedStyle(document.querySelector('thead')).display;");
        assert_eq!(header, "none", "no table header on a phone");
        let fits = browser.run(
            "const table = document.querySelector('.scroll'); \
             return document.documentElement.scrollWidth <= window.innerWidth \
                 && table.scrollWidth <= table.clientWidth;",
        );
        assert_eq!(
            fits, true,
            "nothing wider than the phone's screen, nothing to scroll sideways"
        );
        browser.screenshot("servers-phone.png");
    });
}
