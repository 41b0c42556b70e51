//! The whole loop with the replay engine: request, lock, sealed prompt, answer streamed over
//! PubSub and checked, payment, each balance exact to the lamport; several clients at once;
//! two providers racing for one request.

use crate::scenario::{scenario, Answer, Scenario};
use crate::support::*;
use chainference_client::ask::{ask, next_nonce, AskEvent};
use chainference_client::envelope::FinishReason;
use chainference_client::history::read_request;
use chainference_client::ledger::Recorded;
use chainference_prover::core::bill_for;
use solana_signer::Signer;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_streams_decrypts_and_bills_to_the_lamport() {
    let (scenario, answer) = scenario("test/replay-loop")
        .engine(replay(0.0).with_answer_tokens(300))
        .asking("Tell me about lighthouses.", 400)
        .answered()
        .await;
    let Answer { text, answered, .. } = &answer;
    assert_eq!(*text, scenario.expected_answer());
    assert_eq!(answered.finish, Some(FinishReason::Stop));
    assert_eq!(answered.answer_tokens, 300);
    assert_eq!(answered.operator, scenario.provider.operator);
    let bill = bill_for(20, 100_000, 300, 300_000).unwrap();
    assert_eq!(
        (answered.bill, answered.fee, answered.refund),
        (bill, 0, 10_000_000 - bill)
    );
    scenario.assert_settled(&answer, bill).await;

    // The wallet alone decrypts it again from chain data.
    let past = read_request(&scenario.chain, &scenario.client, &answered.request, None)
        .await
        .unwrap();
    assert_eq!(past.answer, *text);
    assert_eq!(past.prompt.as_ref(), Some(&scenario.question.prompt));
    assert_eq!(past.finish, Some(FinishReason::Stop));
    scenario.provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_clients_at_once_each_get_their_own_answer() {
    let chain = chain().await;
    let model = "test/replay-three";
    let engine = replay(400.0);
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 4),
        Arc::new(engine.clone()),
    )
    .await;
    let asks = [
        "Where is the lamp?",
        "Who kept the ledger?",
        "What did the surveyor say?",
    ]
    .map(|text| {
        let chain = chain.clone();
        let engine = engine.clone();
        tokio::spawn(async move {
            let client = funded(&chain, 1_000_000_000).await;
            let question = question(model, text, 250, 10_000_000);
            let (answer, answered) = ask_text(&chain, &client, &question).await;
            assert_eq!(
                answer,
                engine.expected_text(&question.prompt, 250),
                "{text}"
            );
            assert_eq!(answered.finish, Some(FinishReason::Length));
            answered.request
        })
    });
    let mut requests = Vec::new();
    for handle in asks {
        requests.push(handle.await.expect("the client finished"));
    }
    requests.dedup();
    assert_eq!(requests.len(), 3);
    let server = server_of(&chain, &provider.operator).await;
    assert_eq!((server.reputation.completed, server.active_locks), (3, 0));
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_providers_race_and_exactly_one_lock_wins() {
    let scenario = scenario("test/replay-race")
        .engine(replay(0.0).with_answer_tokens(120))
        .asking("Race for it.", 200)
        .start()
        .await;
    let Scenario {
        chain,
        engine,
        provider: first,
        client,
        ..
    } = &scenario;
    let second = scenario
        .another_provider((**engine).clone(), (100_000, 300_000), 2)
        .await;
    let nonce = next_nonce(chain, &client.pubkey()).await.unwrap();
    let Answer { text, answered, .. } = scenario.ask().await;
    assert_eq!(text, scenario.expected_answer());
    assert_eq!(
        answered.request,
        chainference::pda::request_address(&client.pubkey(), nonce)
    );

    let locks = ledger(chain, &answered.request)
        .await
        .into_iter()
        .flat_map(|transaction| transaction.instructions)
        .filter(|recorded| matches!(recorded, Recorded::Lock { .. }))
        .count();
    assert_eq!(locks, 1, "one lock landed");
    let (winner, loser) = if answered.operator == first.operator {
        (first.operator, second.operator)
    } else {
        (second.operator, first.operator)
    };
    assert!(answered.operator == winner);
    for (operator, completed) in [(winner, 1), (loser, 0)] {
        let server = server_of(chain, &operator).await;
        assert_eq!(
            (server.reputation.completed, server.active_locks),
            (completed, 0)
        );
    }
    first.task.abort();
    second.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_drops_out_resumes_with_the_whole_answer() {
    let Scenario {
        chain,
        engine,
        provider,
        client,
        question,
    } = scenario("test/replay-resume")
        .engine(replay(60.0))
        .asking("Come back for the rest.", 240)
        .start()
        .await;
    let (seen, mut first_text) = tokio::sync::mpsc::unbounded_channel();
    let asking = {
        let (chain, client, question) = (chain.clone(), client.clone(), question.clone());
        tokio::spawn(async move {
            ask(&chain, &client, &question, |event| {
                if let AskEvent::Text(text) = event {
                    let _ = seen.send(text);
                }
            })
            .await
        })
    };
    let partial = first_text.recv().await.expect("some text arrived");
    asking.abort(); // the client drops out mid-answer
    let request = chainference::pda::request_address(&client.pubkey(), 0);

    let mut text = String::new();
    let answered = chainference_client::ask::resume(&chain, &client, &request, None, |event| {
        if let AskEvent::Text(piece) = event {
            text.push_str(&piece);
        }
    })
    .await
    .expect("resumed");
    let expected = engine.expected_text(&question.prompt, 240);
    assert!(expected.starts_with(&partial));
    assert_eq!(text, expected, "the whole answer, from the first chunk");
    assert_eq!(answered.answer_tokens, 240);
    assert_eq!(answered.bill, bill_for(20, 100_000, 240, 300_000).unwrap());
    provider.task.abort();
}
