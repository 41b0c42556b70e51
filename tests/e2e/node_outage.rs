//! The node goes away under a client and a provider: both started while it cannot be reached
//! wait for it with a clear message, and when it drops out in the middle of an answer they
//! wait again and carry on; the answer arrives whole and billed, nothing panics.

use crate::node_switch::NodeSwitch;
use crate::support::*;
use chainference_client::rpc::Chain;
use chainference_provider::checkpoint::{Checkpoint, Hold};
use chainference_provider::Provider;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_and_a_provider_wait_out_a_node_that_is_down() {
    let chain = chain().await;
    let model = "test/replay-node-outage";
    let engine = replay(30.0);
    let max_tokens = 150;
    let operator = funded(&chain, 3_000_000_000).await;
    let wallet = Arc::new(funded(&chain, 1_000_000_000).await);
    let node = node();
    let switch = NodeSwitch::start(&node.rpc_url, &node.pubsub_url, false).await;

    // Started while the node cannot be reached: the CLI and the provider wait for it.
    let folder = tempfile::tempdir().unwrap();
    let wallet_file = folder.path().join("id.json");
    chainference_client::wallet::write_keypair(&wallet, &wallet_file).unwrap();
    let cli = {
        let (rpc_url, pubsub_url) = (switch.rpc_url.clone(), switch.pubsub_url.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_chainference"))
                .args(["-u", &rpc_url, "--ws", &pubsub_url, "-k"])
                .arg(&wallet_file)
                .args(["--wait-for-node", "300", "servers"])
                .output()
        })
    };
    // The job pauses once, after its second batch, until the node is gone again.
    let (reached, mut held) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let hold: Hold = {
        let release = release.clone();
        Arc::new(move |checkpoint| {
            let (release, reached) = (release.clone(), reached.clone());
            Box::pin(async move {
                if matches!(checkpoint, Checkpoint::BatchConfirmed { next_seq: 2, .. }) {
                    let _ = reached.send(());
                    release.notified().await;
                }
            })
        })
    };
    let (started, serving) = tokio::sync::oneshot::channel();
    let providing = {
        let (rpc_url, pubsub_url) = (switch.rpc_url.clone(), switch.pubsub_url.clone());
        let settings = settings(model, 100_000, 300_000, 1);
        let engine = Arc::new(engine.clone());
        tokio::spawn(async move {
            let chain = Chain::connect_with_patience(&rpc_url, &pubsub_url, Duration::MAX)
                .await
                .expect("the provider waits for the node");
            let provider = Provider::start(chain, operator, settings, engine)
                .await
                .expect("the provider starts")
                .with_hold(hold);
            let _ = started.send(());
            provider.run().await;
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    switch.set(true);
    let listed = cli.await.unwrap().expect("the CLI runs");
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(listed.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot be reached; waiting for it"),
        "the CLI said it was waiting: {stderr}"
    );

    // Once the provider has registered and its lookup table is finalized, the node drops out
    // in the middle of an answer.
    serving.await.expect("the provider started");
    let through_switch = Chain::connect(&switch.rpc_url, &switch.pubsub_url)
        .await
        .unwrap();
    let question = question(model, "Wait for the node.", max_tokens, 10_000_000);
    let asking = {
        let (question, wallet) = (question.clone(), wallet.clone());
        tokio::spawn(async move { ask_text(&through_switch, &wallet, &question).await })
    };
    held.recv().await.expect("the answer is under way");
    switch.set(false);
    release.notify_one(); // the answer goes on against a node that cannot be reached
    tokio::time::sleep(Duration::from_secs(5)).await;
    switch.set(true);
    let (text, answered) = tokio::time::timeout(Duration::from_secs(240), asking)
        .await
        .expect("answered within the time limit")
        .expect("the client task");
    assert_eq!(text, engine.expected_text(&question.prompt, max_tokens));
    assert_eq!(answered.answer_tokens, max_tokens);
    assert_eq!(
        answered.bill,
        chainference_prover::core::bill_for(20, 100_000, max_tokens, 300_000).unwrap()
    );
    assert_each_chunk_once(&chain, &answered.request).await;
    providing.abort();
}
