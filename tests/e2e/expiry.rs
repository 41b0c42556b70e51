//! Requests that end without an answer: nobody may take one (the stake comes back), a client
//! never sends its prompt (the server is freed without blame), a provider stops mid-answer
//! (the request expires at its time limit, the client gets stake and bond, the server's
//! failures rise).

use crate::support::*;
use chainference::pda::{request_address, server_address};
use chainference::state::{Request, RequestState, Server};
use chainference_client::ask::{ask, next_nonce, AskError, AskEvent};
use chainference_client::instructions::create_request;
use chainference_client::ledger::history_of;
use solana_signer::Signer;
use std::sync::Arc;
use std::time::Duration;

async fn server_of(
    chain: &chainference_client::rpc::Chain,
    operator: &anchor_lang::prelude::Pubkey,
) -> Server {
    chain
        .account(&server_address(operator), "Server")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_no_provider_may_take_expires_and_refunds_its_stake() {
    let chain = chain().await;
    let client = funded(&chain, 1_000_000_000).await;
    let before = chain.balance(&client.pubkey()).await.unwrap();
    let question = question("test/served-by-nobody", "Anyone there?", 50, 50_000_000);
    let error = ask(&chain, &client, &question, |_| {}).await.unwrap_err();
    assert!(matches!(error, AskError::NoServer), "{error}");
    let after = chain.balance(&client.pubkey()).await.unwrap();
    let counter = counter_rent(&chain, &client.pubkey()).await;
    assert_eq!(
        before - after,
        2 * SIGNATURE_FEE + counter,
        "create and expire; stake and rent back"
    );
    let request = request_address(&client.pubkey(), 0);
    assert!(chain
        .account::<Request>(&request, "Request")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_sends_its_prompt_frees_the_server_without_blame() {
    let chain = chain().await;
    let model = "test/silent-client";
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 1),
        Arc::new(replay(0.0)),
    )
    .await;
    let provider_before = chain.balance(&provider.operator).await.unwrap();
    let client = funded(&chain, 1_000_000_000).await;
    let client_before = chain.balance(&client.pubkey()).await.unwrap();
    let nonce = next_nonce(&chain, &client.pubkey()).await.unwrap();
    let request = request_address(&client.pubkey(), nonce);
    let question = question(model, "unsent", 50, 50_000_000);
    chain
        .send(
            &[create_request(
                &client.pubkey(),
                nonce,
                question.stake,
                question.terms,
            )],
            &client,
            &[],
        )
        .await
        .unwrap();
    let mut seen_locked = false;
    for _ in 0..200 {
        match chain.account::<Request>(&request, "Request").await.unwrap() {
            Some(account) if account.state == RequestState::Locked => seen_locked = true,
            Some(_) => {}
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen_locked, "the provider locked it");
    assert!(
        chain
            .account::<Request>(&request, "Request")
            .await
            .unwrap()
            .is_none(),
        "expired by the provider"
    );
    let server = server_of(&chain, &provider.operator).await;
    assert_eq!((server.active_locks, server.reputation.failures), (0, 0));
    let provider_after = chain.balance(&provider.operator).await.unwrap();
    assert_eq!(
        provider_before - provider_after,
        3 * SIGNATURE_FEE,
        "lock (with its key signature) and expire; bond back"
    );
    let client_after = chain.balance(&client.pubkey()).await.unwrap();
    let counter = counter_rent(&chain, &client.pubkey()).await;
    assert_eq!(
        client_before - client_after,
        SIGNATURE_FEE + counter,
        "create; stake and rent back"
    );
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_stopped_mid_answer_pays_its_bond_and_fails() {
    let chain = chain().await;
    let model = "test/stopped-provider";
    let provider = start_provider(
        &chain,
        settings(model, 100_000, 300_000, 1),
        Arc::new(replay(5.0)),
    )
    .await;
    let provider_before = chain.balance(&provider.operator).await.unwrap();
    let client = funded(&chain, 1_000_000_000).await;
    let client_before = chain.balance(&client.pubkey()).await.unwrap();
    let mut question = question(model, "A long one, please.", 1_000, 100_000_000);
    question.terms.time_limit_secs = PROMPT_WINDOW_SECS + chainference::constants::MIN_ANSWER_SECS;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let mut stop = Some(stop);
    let asking = {
        let chain = chain.clone();
        tokio::spawn(async move {
            let result = ask(&chain, &client, &question, |event| {
                if let AskEvent::Text(_) = event {
                    if let Some(stop) = stop.take() {
                        let _ = stop.send(());
                    }
                }
            })
            .await;
            (client, result)
        })
    };
    if stopped.await.is_err() {
        let (_, result) = asking.await.unwrap();
        panic!("the answer ended before any text: {result:?}");
    }
    provider.task.abort();
    let (client, result) = asking.await.unwrap();
    let Err(AskError::Unfinished { request, bond }) = result else {
        panic!("expected the request to expire unfinished, got {result:?}");
    };
    assert_eq!(bond, 100_000_000 / 10, "the bond is 10 % of the stake");
    let history = history_of(&chain, &request).await.unwrap();
    let appends = history
        .iter()
        .filter(|transaction| !transaction.batches.is_empty())
        .count() as u64;
    assert!(appends >= 1);
    let prompt_pieces = 1;
    let client_after = chain.balance(&client.pubkey()).await.unwrap();
    let counter = counter_rent(&chain, &client.pubkey()).await;
    assert_eq!(
        client_after + SIGNATURE_FEE * (2 + prompt_pieces) + counter,
        client_before + bond,
        "create, prompt and expire paid; stake and rent back, plus the bond"
    );
    let provider_after = chain.balance(&provider.operator).await.unwrap();
    assert_eq!(
        provider_before - provider_after,
        bond + SIGNATURE_FEE * (2 + appends),
        "the bond, the lock (with its key signature) and the appends"
    );
    let server = server_of(&chain, &provider.operator).await;
    assert_eq!(
        (
            server.active_locks,
            server.reputation.failures,
            server.reputation.completed
        ),
        (0, 1, 0)
    );
}
