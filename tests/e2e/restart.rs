//! A provider killed at each point of a job and started again: mid-answer (a batch
//! confirmed, more generated), between a sent and a confirmed append, and after the final batch
//! before payment. The restarted provider finds its requests on chain, waits out the old run's
//! transactions, and finishes each answer: byte for byte the uninterrupted one, every chunk
//! once, billed for the tokens delivered.

use crate::support::*;
use anchor_lang::prelude::Pubkey;
use chainference_provider::checkpoint::Checkpoint;
use solana_signer::Signer;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_killed_anywhere_finishes_every_answer_once_after_a_restart() {
    let chain = chain().await;
    let model = "test/replay-restart";
    let engine = replay(40.0);
    let (max_tokens, input_price, output_price) = (160, 100_000, 300_000);
    let settings = settings(model, input_price, output_price, 4);
    let operator = funded(&chain, 3_000_000_000).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Arc::new(funded(&chain, 1_000_000_000).await));
    }
    let requests: Vec<Pubkey> = clients
        .iter()
        .map(|client| chainference::pda::request_address(&client.pubkey(), 0))
        .collect();
    // Where each request's job is killed.
    let kill_points = {
        let requests = requests.clone();
        move |checkpoint: &Checkpoint| match *checkpoint {
            // Past the first batch, which goes as soon as there is text: a later one exists
            // however slowly the node confirms (a later chunk may not: a slow node lets a
            // batch gather the rest of a short answer).
            Checkpoint::BatchConfirmed { request, next_seq } => {
                request == requests[0] && next_seq >= 1
            }
            Checkpoint::BatchSent { request, first_seq } => {
                request == requests[1] && first_seq >= 1
            }
            Checkpoint::Answered { request } => request == requests[2],
        }
    };
    let (reached, mut held) = tokio::sync::mpsc::unbounded_channel();
    let provider = serve(
        &chain,
        &operator,
        settings.clone(),
        Arc::new(engine.clone()),
        Some(hold_where(kill_points, reached)),
    )
    .await;

    let mut question = question(model, "", max_tokens, 10_000_000);
    question.terms.time_limit_secs = 400; // room for the restart's wait
    let asking: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(index, client)| {
            let mut question = question.clone();
            question.prompt = prompt(&format!("Tell story number {index}."), max_tokens);
            let (chain, client) = (chain.clone(), client.clone());
            tokio::spawn(async move {
                let (text, answered) = ask_text(&chain, &client, &question).await;
                (question, text, answered)
            })
        })
        .collect();

    for _ in 0..requests.len() {
        tokio::time::timeout(std::time::Duration::from_secs(180), held.recv())
            .await
            .expect("every job reaches its kill point within 3 minutes")
            .expect("the hold reports");
    }
    provider.task.abort(); // killed: every job stops where it is held
    let _ = provider.task.await;
    let restarted = serve(&chain, &operator, settings, Arc::new(engine.clone()), None).await;

    for (asked, request) in asking.into_iter().zip(&requests) {
        let (question, text, answered) = asked.await.expect("the client task");
        assert_eq!(answered.request, *request);
        let prices = (input_price, output_price);
        assert_answered_once(
            &chain,
            &engine,
            &question,
            &(text, answered),
            max_tokens,
            prices,
        )
        .await;
    }
    let server = server_of(&chain, &operator.pubkey()).await;
    assert_eq!(
        (
            server.reputation.completed,
            server.reputation.failures,
            server.active_locks
        ),
        (3, 0, 0)
    );
    restarted.task.abort();
}
