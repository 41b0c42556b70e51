//! Direct delivery over the local node: the answer comes from the provider's endpoint over a
//! WebSocket, only its batch roots go on chain, each batch is shown once its root has landed,
//! the bill stops at the client's signed acknowledgement, and the answer the client saved
//! audits against the roots on the ledger (and an edited one does not).

use crate::support::*;
use chainference::state::Delivery;
use chainference_client::direct::SavedAnswer;
use chainference_client::ledger::history_of;
use chainference_prover::core::bill_for;
use chainference_prover::verify::{verify, VerifyError};
use solana_signer::Signer;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_answer_puts_only_its_roots_on_chain_and_audits_from_the_saved_answer() {
    let chain = chain().await;
    let model = "test/replay-direct";
    let engine = replay(0.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 2),
        Arc::new(engine.clone()),
    )
    .await;
    assert!(
        server_of(&chain, &provider.operator)
            .await
            .endpoint
            .starts_with("ws://127.0.0.1:"),
        "the provider lists the endpoint it bound"
    );
    let client = funded(&chain, 1_000_000_000).await;
    let before = Before::read(&chain, &client.pubkey(), &provider.operator).await;
    let answers = tempfile::tempdir().expect("a temporary folder");
    let max_tokens = 2_000;
    let mut question = question(model, "Write at length.", max_tokens, 10_000_000);
    question.terms.delivery = Delivery::Direct;
    question.terms.max_batch_wait_ms = 0;
    question.answers_dir = Some(answers.path().to_path_buf());
    let (text, answered) = ask_text(&chain, &client, &question).await;
    let expected = engine.expected_text(&question.prompt, max_tokens);
    assert_eq!(text, expected);
    let bill = bill_for(20, 100_000, max_tokens, 300_000).unwrap();
    assert_eq!((answered.answer_tokens, answered.bill), (max_tokens, bill));
    before
        .assert_settled(
            &chain,
            &client.pubkey(),
            &provider.operator,
            &answered.request,
            bill,
        )
        .await;

    // No chunk on the ledger: one root, in the transaction that carries the client's
    // acknowledgement and completes the request.
    let history = history_of(&chain, &answered.request)
        .await
        .expect("the ledger answers");
    assert!(history
        .iter()
        .all(|transaction| transaction.batches.is_empty()));
    let roots: Vec<_> = history
        .iter()
        .filter(|transaction| !transaction.roots.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "a 2,000-token answer is one batch");
    let completion = roots[0];
    assert!(completion.settled.is_some() && completion.acknowledgement.is_some());
    assert!(
        completion.bytes < 700,
        "{} bytes: roots, not chunks",
        completion.bytes
    );

    // The saved answer is the audit's source of chunks: it verifies, decrypts to the answer,
    // and the bill is the acknowledged tokens'.
    let path = SavedAnswer::path_in(answers.path(), &answered.request);
    let saved = SavedAnswer::read(&path).expect("the answer was saved");
    let transcript = finalized_transcript(&chain, &answered.request, Some(&saved)).await;
    let verified = verify(&transcript.bundle).expect("the audit passes");
    assert_eq!((verified.answer_tokens, verified.bill), (max_tokens, bill));
    let decrypted = chainference_client::audit::decrypt(&chain, &client, &transcript)
        .expect("the client's key opens it");
    assert_eq!(decrypted, expected);
    let mut edited = saved.clone();
    edited.batches[0].chunks[0].ciphertext[0] ^= 1;
    let transcript = finalized_transcript(&chain, &answered.request, Some(&edited)).await;
    assert!(matches!(
        verify(&transcript.bundle),
        Err(VerifyError::LeafNotInRoot { .. })
    ));

    // The same audit through the binary, from the saved answer's folder.
    let folder = answers.path().to_str().expect("a UTF-8 path");
    let request = answered.request.to_string();
    let audited = chainference(&[
        "--answers-dir",
        folder,
        "--output",
        "json",
        "audit",
        &request,
        "--check-chain",
    ]);
    let stdout = String::from_utf8_lossy(&audited.stdout);
    assert!(
        audited.status.success(),
        "audit failed: {}",
        String::from_utf8_lossy(&audited.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["answer_tokens"], max_tokens);
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_latency_bound_streams_a_direct_answer_in_several_small_roots() {
    let chain = chain().await;
    let model = "test/replay-direct-bounded";
    let engine = replay(150.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 2),
        Arc::new(engine.clone()),
    )
    .await;
    let client = funded(&chain, 1_000_000_000).await;
    let max_tokens = 300;
    let mut question = question(model, "Write at length.", max_tokens, 10_000_000);
    question.terms.delivery = Delivery::Direct;
    question.terms.max_batch_wait_ms = 400;
    let (text, answered) = ask_text(&chain, &client, &question).await;
    assert_eq!(text, engine.expected_text(&question.prompt, max_tokens));
    assert_eq!(
        answered.bill,
        bill_for(20, 100_000, max_tokens, 300_000).unwrap()
    );
    let history = history_of(&chain, &answered.request)
        .await
        .expect("the ledger answers");
    let roots: Vec<_> = history
        .iter()
        .filter(|transaction| !transaction.roots.is_empty())
        .collect();
    assert!(
        roots.len() >= 3,
        "2 s of generation at a 0.4 s bound: {} roots",
        roots.len()
    );
    assert!(roots
        .iter()
        .all(|transaction| transaction.bytes < 700 && transaction.batches.is_empty()));
    provider.task.abort();
}
