//! Requests that end without an answer: nobody may take one (the stake comes back), a client
//! never sends its prompt (the server is freed without blame), a provider stops mid-answer
//! (the request expires at its time limit, the client gets stake and bond, the server's
//! failures rise).

use crate::scenario::{scenario, Scenario};
use crate::support::*;
use crate::wait;
use chainference::pda::{request_address, server_address};
use chainference::state::{Request, RequestState, Server};
use chainference_client::ask::{ask, next_nonce, AskError, AskEvent};
use chainference_client::instructions::create_request;
use solana_signer::Signer;

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
    let scenario = scenario("test/silent-client")
        .max_concurrent(1)
        .asking("unsent", 50)
        .stake(50_000_000)
        .start()
        .await;
    let Scenario {
        chain,
        provider,
        client,
        question,
        ..
    } = &scenario;
    let provider_before = chain.balance(&provider.operator).await.unwrap();
    let client_before = chain.balance(&client.pubkey()).await.unwrap();
    let nonce = next_nonce(chain, &client.pubkey()).await.unwrap();
    let request = request_address(&client.pubkey(), nonce);
    chain
        .send(
            &[create_request(
                &client.pubkey(),
                nonce,
                question.stake,
                question.terms.clone(),
            )],
            client,
            &[],
        )
        .await
        .unwrap();
    // Locked, then expired by the provider once the prompt window has passed.
    let mut seen_locked = false;
    let mut patience = wait::Patience::new(chain, 120, "the request's expiry").await;
    while let Some(account) = chain.account::<Request>(&request, "Request").await.unwrap() {
        seen_locked |= account.state == RequestState::Locked;
        patience.tick().await;
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
    let server = server_of(chain, &provider.operator).await;
    assert_eq!((server.active_locks, server.reputation.failures), (0, 0));
    let provider_after = chain.balance(&provider.operator).await.unwrap();
    assert_eq!(
        provider_before - provider_after,
        3 * SIGNATURE_FEE,
        "lock (with its key signature) and expire; bond back"
    );
    let client_after = chain.balance(&client.pubkey()).await.unwrap();
    let counter = counter_rent(chain, &client.pubkey()).await;
    assert_eq!(
        client_before - client_after,
        SIGNATURE_FEE + counter,
        "create; stake and rent back"
    );
    provider.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_stopped_mid_answer_pays_its_bond_and_fails() {
    let Scenario {
        chain,
        provider,
        client,
        mut question,
        ..
    } = scenario("test/stopped-provider")
        .engine(replay(5.0))
        .max_concurrent(1)
        .asking("A long one, please.", 1_000)
        .stake(100_000_000)
        .start()
        .await;
    let provider_before = chain.balance(&provider.operator).await.unwrap();
    let client_before = chain.balance(&client.pubkey()).await.unwrap();
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
    let appends = appends(&chain, &request).await.len() as u64;
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
