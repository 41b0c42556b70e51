//! Auditors and reputation through the `chainference` binary: an honest answer's audit from
//! the finalized ledger passes, decrypts with the client's key and agrees with the Request
//! account; its bundle verifies offline with no RPC, and an edited bundle fails, naming what;
//! a flag counts once against the server.

use crate::scenario::{scenario, Answer, Scenario};
use crate::support::*;
use crate::wait;
use chainference_prover::bundle::Bundle;
use chainference_prover::core::ResponseCursor;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_audits_from_the_ledger_and_its_bundle_verifies_offline() {
    let scenario = scenario("test/replay-audit")
        .engine(replay(0.0).with_answer_tokens(300))
        .max_concurrent(1)
        .asking("Audit me.", 400)
        .start()
        .await;
    let Scenario {
        chain, provider, ..
    } = &scenario;
    let Answer { text, answered, .. } = scenario.ask().await;
    let (folder, key) = keypair_file(&scenario.client);
    let bundle = folder.path().join("bundle.json");
    let request = answered.request.to_string();
    let (key, bundle_path) = (key.to_str().unwrap(), bundle.to_str().unwrap());
    let audit = || {
        chainference(&[
            "audit",
            &request,
            "--key",
            key,
            "--bundle",
            bundle_path,
            "--check-chain",
            "--output",
            "json",
        ])
    };

    // Until the settlement is finalized (about 32 slots) the audit says it waits for that.
    let early = audit();
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(
        early.status.success() || stderr.contains("finalized settlement"),
        "{stderr}"
    );
    wait::finalized_history(chain, &answered.request).await;
    let audit = audit();
    let report = json_of(&audit);
    assert_eq!(report["passed"], true);
    assert_eq!(report["account_checked"], true);
    assert_eq!(
        report["answer"],
        text.as_str(),
        "decrypted from the ledger alone"
    );
    assert_eq!(report["answer_tokens"], 300);
    assert_eq!(report["bill_lamports"], answered.bill);
    assert_eq!(report["batches"], answered.batches);
    // The claims against the text, as `ask` checked them: an honest answer holds.
    assert_eq!(report["claims"]["claimed_tokens"], 300);
    assert_eq!(report["claims"]["text_bytes"], text.len());
    assert_eq!(report["claims"]["plausible"], true);
    assert_eq!(answered.overclaimed, None);
    #[cfg(feature = "mistralrs")]
    {
        // The replay engine claims a token a word; a real tokenizer counts otherwise, and the
        // audit says by how much.
        let tokenizer = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/tiny-llama/model/tokenizer.json"
        );
        let recounted = chainference(&[
            "audit",
            &request,
            "--key",
            key,
            "--tokenizer",
            tokenizer,
            "--output",
            "json",
        ]);
        let report = json_of(&recounted);
        assert_eq!(report["tokenizer"]["claimed"], 300);
        let counted = report["tokenizer"]["counted"].as_u64().unwrap();
        assert!(
            counted > 300,
            "a byte-level tokenizer counts more than a token a word: {counted}"
        );
    }

    // Offline: no node at this URL, and none needed.
    let offline = |path: &str| {
        Command::new(env!("CARGO_BIN_EXE_chainference"))
            .args([
                "-u",
                "http://127.0.0.1:9",
                "--wait-for-node",
                "0",
                "verify",
                path,
            ])
            .output()
            .expect("the binary runs")
    };
    let verified = offline(bundle_path);
    assert_succeeded(&verified);
    let honest = Bundle::from_json(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    // What is edited, how, and the word the refusal names it by.
    type Edit = (&'static str, fn(&mut Bundle), &'static str);
    let edits: [Edit; 4] = [
        (
            "a bill above the posted tokens",
            |bundle| bundle.settlement.bill += 1,
            "bill",
        ),
        (
            "more tokens than posted",
            |bundle| bundle.settlement.answer_tokens += 1,
            "tokens",
        ),
        (
            "a proof against another root",
            |bundle| bundle.batches[0].root = [7; 32],
            "leaf",
        ),
        (
            "a transcript missing its final chunk, its chain made to match",
            |bundle| {
                bundle.batches.pop();
                let mut cursor = ResponseCursor::new();
                for batch in &bundle.batches {
                    let views: Vec<_> = batch.chunks.iter().map(|chunk| chunk.as_ref()).collect();
                    cursor
                        .apply(&bundle.request, bundle.terms.max_output_tokens, &views)
                        .unwrap();
                }
                bundle.chain = cursor.chain;
            },
            "final",
        ),
    ];
    for (what, edit, named) in edits {
        let mut edited = honest.clone();
        edit(&mut edited);
        let path = folder.path().join("edited.json");
        std::fs::write(&path, edited.to_json()).unwrap();
        let refused = offline(path.to_str().unwrap());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{what} is refused");
        assert!(
            stderr.starts_with("error: the bundle fails") && stderr.to_lowercase().contains(named),
            "{what}: {stderr}"
        );
    }

    // A flag counts once.
    let flagged = chainference(&["-k", key, "flag", &request]);
    assert_succeeded(&flagged);
    let again = chainference(&["-k", key, "flag", &request]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already flagged"));
    let server = server_of(chain, &provider.operator).await;
    assert_eq!(
        (server.reputation.completed, server.reputation.flagged),
        (1, 1)
    );
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blind_comparison_counts_once_for_both_servers() {
    let model = "test/replay-compare";
    let scenario = scenario(model)
        .engine(replay(0.0).with_answer_tokens(40))
        .max_concurrent(1)
        .start()
        .await;
    let other = scenario
        .another_provider(replay(0.0).with_answer_tokens(60), (100_000, 300_000), 1)
        .await;
    let (chain, providers) = (&scenario.chain, [&scenario.provider, &other]);
    let (_folder, key) = keypair_file(&scenario.client);
    let servers = format!("{},{}", providers[0].operator, providers[1].operator);
    let compared = chainference(&[
        "-k",
        key.to_str().unwrap(),
        "--output",
        "json",
        "compare",
        "--accept-newcomers",
        "--model",
        model,
        "--servers",
        &servers,
        "--max-cost",
        "0.01",
        "--max-tokens",
        "100",
        "--prefer",
        "1",
        "Which of you tells it better?",
    ]);
    let report = json_of(&compared);
    let preferred = report["preferred"]["server"].as_str().unwrap().to_string();
    assert_ne!(preferred, report["other"]["server"].as_str().unwrap());
    for provider in providers {
        let server = server_of(chain, &provider.operator).await;
        let won = u64::from(provider.operator.to_string() == preferred);
        assert_eq!(
            (server.reputation.comparisons, server.reputation.preferred),
            (1, won),
            "both compared once, the preferred one preferred"
        );
    }
    let again = chainference(&[
        "-k",
        key.to_str().unwrap(),
        "compare",
        "--model",
        model,
        "--servers",
        &format!("{},{}", providers[0].operator, providers[0].operator),
        "--max-cost",
        "0.01",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("two different operator keys"));
    for provider in providers {
        provider.task.abort();
    }
}
