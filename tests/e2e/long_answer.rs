//! A 100,000-token answer end to end through the `chainference` binary, streamed to a file:
//! complete, byte for byte the replayed text, every chunk on the ledger once, audited from the
//! finalized ledger, and the client's peak memory printed (it must not grow with the answer).

use crate::scenario::{scenario, Scenario};
use crate::support::*;
use chainference_prover::core::bill_for;
use solana_signer::Signer;
use std::process::Command;

/// Waits for `child` and returns its exit status and its peak resident memory in KiB
/// (`VmHWM`, read every 100 ms while it runs; the exec'd program's own address space, unlike
/// `wait4`'s figure, which counts the test process's pages shared at the fork).
fn wait_for_peak_kib(mut child: std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().expect("the client can be waited for") {
            return (status, peak);
        }
        let high_water = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            });
        peak = peak.max(high_water.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_100000_token_answer_streams_to_a_file_in_bounded_memory() {
    let model = "test/replay-long";
    // Fast, but not all at once: the answer goes out as a stream of filled batches.
    let scenario = scenario(model)
        .engine(replay(5_000.0))
        .max_concurrent(1)
        .context_length(200_000)
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
    let answer_file = folder.path().join("answer.txt");
    let (text, max_tokens) = ("Write the longest story you can.", 100_000);

    let node = node();
    let child = Command::new(env!("CARGO_BIN_EXE_chainference"))
        .args(["-u", &node.rpc_url, "--ws", &node.pubsub_url, "-k"])
        .arg(&wallet_file)
        .args([
            "ask",
            "--accept-newcomers",
            "--model",
            model,
            "--max-cost",
            "0.01",
            "--latency",
            "0",
        ])
        .args(["--max-tokens", &max_tokens.to_string(), "--out"])
        .arg(&answer_file)
        .arg(text)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(folder.path().join("stderr.txt")).unwrap())
        .spawn()
        .expect("the binary runs");
    let (status, peak_kib) = tokio::task::spawn_blocking(move || wait_for_peak_kib(child))
        .await
        .unwrap();
    let stderr = std::fs::read_to_string(folder.path().join("stderr.txt")).unwrap_or_default();
    assert!(status.success(), "the client failed: {stderr}");
    println!(
        "client peak memory for a {max_tokens}-token answer: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );

    let received = std::fs::read_to_string(&answer_file).unwrap();
    assert_eq!(
        received,
        engine.expected_text(&prompt(text, max_tokens), max_tokens),
        "the whole answer, byte for byte"
    );
    let request = chainference::pda::request_address(&wallet.pubkey(), 0);
    let account: chainference::state::Request =
        chain.account(&request, "Request").await.unwrap().unwrap();
    assert!(account.response.finished);
    assert_eq!(account.response.tokens, max_tokens);
    assert_eq!(
        account.settlement.bill,
        bill_for(account.terms.prompt_tokens, 100_000, max_tokens, 300_000).unwrap()
    );
    let chunks = assert_each_chunk_once(chain, &request).await;
    // Audited from the finalized ledger alone: every leaf against its append's root, the
    // chain, and the bill for the tokens posted.
    let transcript = finalized_transcript(chain, &request, None).await;
    let verified =
        chainference_prover::verify::verify(&transcript.bundle).expect("the audit passes");
    assert_eq!(
        (verified.answer_tokens, verified.bill),
        (max_tokens, account.settlement.bill)
    );
    println!(
        "{max_tokens} tokens in {} batches ({} chunks)",
        account.response.leaves, chunks
    );
    assert!(
        peak_kib > 0 && peak_kib < 128 * 1024,
        "the client stays small: {peak_kib} KiB"
    );
    provider.task.abort();
}
