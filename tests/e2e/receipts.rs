//! Receipts end to end, on a node of its own whose flag window is two seconds: two answered
//! questions closed with `chainference close` (each leaving its receipt in Light's v1 state
//! tree, the rent back less Light's fee), then `history` of the wallet, all of whose requests
//! are closed, printing every prompt and answer with each receipt checked against its leaf,
//! and `audit --check-chain` agreeing with the receipt.

use crate::scenario::{scenario, Answer, Scenario};
use crate::support::*;
use crate::wait;
use anchor_lang::Space;
use chainference::state::{ConfigParams, Request};
use chainference_client::receipt::V1_STATE_TREES;
use chainference_client::rpc::Chain;
use solana_signer::Signer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wallet_whose_requests_are_all_closed_keeps_its_history_and_receipts() {
    let node = start_node(ConfigParams {
        flag_window_secs: 2,
        ..ConfigParams::with_fee(0)
    });
    let chain = Chain::connect(&node.rpc_url, &node.pubsub_url)
        .await
        .expect("the node answers");
    let scenario = scenario("test/receipts")
        .on(chain)
        .engine(replay(0.0).with_answer_tokens(40))
        .asking("What is kept?", 64)
        .start()
        .await;
    let Scenario {
        chain,
        client: wallet,
        ..
    } = &scenario;
    let (_folder, wallet_file) = keypair_file(wallet);
    let as_wallet = |args: &[&str]| {
        let keypair = wallet_file.to_str().expect("a UTF-8 temporary path");
        let output = chainference_on(
            &node,
            &[&["-k", keypair, "--output", "json"], args].concat(),
        );
        json_of(&output)
    };

    let mut answers = Vec::new();
    for text in ["What is kept?", "What is lost?"] {
        let question = scenario.question_saying(text);
        let Answer {
            text: answer,
            answered,
            ..
        } = scenario.ask_with(&question).await;
        assert_eq!(answer, scenario.engine.expected_text(&question.prompt, 64));
        answers.push((text, answer, answered));
    }

    // Closed once their flag windows pass; each leaves a receipt in Light's first v1 tree.
    let rent = chain
        .rpc()
        .get_minimum_balance_for_rent_exemption(8 + Request::INIT_SPACE)
        .await
        .unwrap();
    let before = chain.balance(&wallet.pubkey()).await.unwrap();
    let mut closed = Vec::new();
    let mut patience = wait::Patience::new(chain, 60, "both requests closed").await;
    loop {
        closed.extend(
            as_wallet(&["close"])
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        if closed.len() >= answers.len() {
            break;
        }
        patience.tick().await;
    }
    assert_eq!(closed.len(), answers.len(), "both closed: {closed:?}");
    for entry in &closed {
        assert_eq!(entry["state_tree"], V1_STATE_TREES[0].to_string());
        assert!(entry["leaf_index"].is_u64(), "its leaf was found: {entry}");
        assert_eq!(entry["rent_lamports"], rent);
    }
    let after = chain.balance(&wallet.pubkey()).await.unwrap();
    let light_fees = 2 * 300;
    assert_eq!(
        after,
        before + 2 * rent - light_fees - 2 * SIGNATURE_FEE,
        "the rent came back less Light's fee"
    );
    assert!(
        as_wallet(&["close"]).as_array().is_some_and(Vec::is_empty),
        "nothing is left to close"
    );

    // The history still has every prompt and answer, and each receipt checks.
    let history = as_wallet(&["history"]);
    let history = history.as_array().expect("a list");
    assert_eq!(history.len(), answers.len());
    for (text, answer, answered) in &answers {
        let entry = history
            .iter()
            .find(|entry| entry["request"] == answered.request.to_string())
            .expect("in the history");
        assert_eq!(entry["prompt"][0]["content"], *text);
        assert_eq!(entry["answer"], answer.as_str());
        assert_eq!(entry["bill_lamports"], answered.bill);
        assert!(entry["state"]
            .as_str()
            .is_some_and(|state| state.starts_with("closed")));
        let receipt = &entry["receipt"];
        assert_eq!(receipt["checked"], true, "{receipt}");
        assert_eq!(receipt["answer_tokens"], answered.answer_tokens);
        assert_eq!(receipt["bill_lamports"], answered.bill);
        assert_eq!(receipt["leaves"], answered.batches);
        let leaf = closed
            .iter()
            .find(|closed| closed["request"] == answered.request.to_string())
            .map(|closed| closed["leaf_index"].clone());
        assert_eq!(Some(receipt["leaf_index"].clone()), leaf);
    }

    // The audit of a closed request, once its close is finalized, checks the transcript
    // against its receipt and the receipt against its tree.
    let request = answers[0].2.request;
    let transcript = finalized_transcript(chain, &request, None).await;
    assert!(transcript.receipt().is_some(), "the close is final");
    let audit = as_wallet(&["audit", &request.to_string(), "--check-chain"]);
    assert_eq!(audit["passed"], true);
    assert_eq!(audit["account_checked"], false, "the account is closed");
    assert_eq!(audit["receipt_checked"], true);
    assert!(audit["receipt_leaf_index"].is_u64());
    scenario.provider.task.abort();
}
