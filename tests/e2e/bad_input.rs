//! The `chainference` binary against the local node: a question asked and answered through
//! the CLI, and bad input refused with one line that says what to do, before a lamport moves.

use crate::scenario::{scenario, Scenario};
use crate::support::*;
use solana_signer::Signer;
use std::process::Command;

/// Runs `chainference` against the shared node as the wallet in `wallet_file`.
fn chainference_as(wallet_file: &std::path::Path, args: &[&str]) -> std::process::Output {
    let wallet = wallet_file.to_str().expect("a UTF-8 temporary path");
    chainference(&[&["-k", wallet], args].concat())
}

/// The one line of a refusal, checked to be one `error:` line that names `hint`.
fn refusal(output: &std::process::Output, hint: &str) -> String {
    assert!(!output.status.success(), "refused");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(hint), "{stderr:?} names {hint:?}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_answers_and_refuses_bad_input_without_losing_lamports() {
    let model = "test/cli";
    let scenario = scenario(model)
        .engine(replay(0.0).with_answer_tokens(60))
        .prices(100_000, 200_000)
        .start()
        .await;
    let Scenario {
        chain,
        engine,
        provider,
        client: wallet,
        ..
    } = &scenario;
    let (folder, wallet_file) = keypair_file(wallet);

    let before = chain.balance(&wallet.pubkey()).await.unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["ask", "--model", "test/absent", "--max-cost", "0.01", "hi"],
            "chainference models",
        ),
        (
            &[
                "ask",
                "--accept-newcomers",
                "--model",
                model,
                "--max-cost",
                "0.000000001",
                "--max-input-price",
                "10000000",
                "hi",
            ],
            "raise --max-cost",
        ),
        (
            &[
                "ask",
                "--accept-newcomers",
                "--model",
                model,
                "--max-cost",
                "0.01",
                "--max-output-price",
                "1",
                "hi",
            ],
            "--max-cost",
        ),
        (
            &[
                "ask",
                "--accept-newcomers",
                "--model",
                model,
                "--max-cost",
                "0.01",
                &"long words ".repeat(700),
            ],
            "lower --max-tokens",
        ),
        (
            &["ask", "--model", model, "--max-cost", "zero", "hi"],
            "write it like 0.01",
        ),
        (
            // A new server's success ratio has no evidence: its lower bound is 0.
            &[
                "ask",
                "--model",
                model,
                "--max-cost",
                "0.01",
                "--min-success",
                "90",
                "hi",
            ],
            "--min-success",
        ),
        (
            // By default only a server with a record may lock: this one is new.
            &["ask", "--model", model, "--max-cost", "0.01", "hi"],
            "--accept-newcomers",
        ),
    ];
    for (args, hint) in cases {
        refusal(&chainference_as(&wallet_file, args), hint);
    }
    let absent = anchor_lang::prelude::Pubkey::new_unique().to_string();
    refusal(
        &chainference_as(&wallet_file, &["cancel", &absent]),
        "does not exist",
    );
    refusal(
        &chainference_as(&wallet_file, &["flag", &absent]),
        "flag window has passed",
    );
    let missing = chainference_as(
        &folder.path().join("absent.json"),
        &["ask", "--model", model, "--max-cost", "0.01", "hi"],
    );
    refusal(&missing, "-k/--keypair");
    let unreachable = Command::new(env!("CARGO_BIN_EXE_chainference"))
        .args(["-u", "http://127.0.0.1:9", "--wait-for-node", "0", "-k"])
        .arg(&wallet_file)
        .args(["models"])
        .output()
        .unwrap();
    refusal(&unreachable, "check -u/--url");
    assert_eq!(
        chain.balance(&wallet.pubkey()).await.unwrap(),
        before,
        "no lamports lost"
    );

    // And a question asked through the binary, answered as JSON, found again in the history.
    let asked = chainference_as(
        &wallet_file,
        &[
            "--output",
            "json",
            "ask",
            "--accept-newcomers",
            "--model",
            model,
            "--max-cost",
            "0.01",
            "What is kept?",
        ],
    );
    let answer = json_of(&asked);
    let mut messages = crate::support::prompt("What is kept?", 512);
    messages.messages.clear();
    messages
        .messages
        .push(chainference_client::envelope::Message {
            role: "user".into(),
            content: "What is kept?".into(),
        });
    assert_eq!(answer["answer"], engine.expected_text(&messages, 512));
    assert_eq!(answer["answer_tokens"], 60);
    assert_eq!(answer["finish"], "stop");
    let history = chainference_as(&wallet_file, &["--output", "json", "history"]);
    let history = json_of(&history);
    assert_eq!(history[0]["answer"], answer["answer"]);
    assert_eq!(history[0]["request"], answer["request"]);
    let request = answer["request"].as_str().expect("an address");
    let resumed = chainference_as(
        &wallet_file,
        &["--output", "json", "ask", "--resume", request],
    );
    let resumed = json_of(&resumed);
    assert_eq!(
        resumed["answer"], answer["answer"],
        "ask --resume prints it whole again"
    );
    assert_eq!(resumed["bill_lamports"], answer["bill_lamports"]);
    provider.task.abort();
}
