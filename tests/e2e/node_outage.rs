//! The node goes away under a client and a provider: both started while it cannot be reached
//! wait for it with a clear message, and when it drops out in the middle of an answer they
//! wait again and carry on; the answer arrives whole and billed, nothing panics.

use crate::node_switch::NodeSwitch;
use crate::support::*;
use crate::wait;
use chainference_client::rpc::Chain;
use chainference_provider::checkpoint::{Checkpoint, Hold};
use chainference_provider::Provider;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
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
    let mut cli = Command::new(env!("CARGO_BIN_EXE_chainference"))
        .args(["-u", &switch.rpc_url, "--ws", &switch.pubsub_url, "-k"])
        .arg(&wallet_file)
        .args(["--wait-for-node", "300", "servers"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Its stderr, read as it comes: the line that says it waits is reported at once.
    let (said_waiting, waiting) = tokio::sync::oneshot::channel();
    let stderr = cli.stderr.take().expect("piped");
    let reading = std::thread::spawn(move || {
        let (mut said_waiting, mut all) = (Some(said_waiting), String::new());
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("cannot be reached or is behind what was seen; waiting for it") {
                if let Some(said) = said_waiting.take() {
                    let _ = said.send(());
                }
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
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
    let said = tokio::time::timeout(wait::BACKSTOP, waiting).await;
    switch.set(true);
    let status = tokio::task::spawn_blocking(move || cli.wait())
        .await
        .unwrap()
        .expect("the CLI runs");
    let stderr = reading.join().expect("its stderr is read");
    assert!(status.success(), "{stderr}");
    assert!(
        matches!(said, Ok(Ok(())))
            && stderr.contains("cannot be reached or is behind what was seen; waiting for it"),
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
    tokio::time::sleep(Duration::from_secs(5)).await; // the outage, not a wait for anything
    switch.set(true);
    // Answered (or expired) within the request's time limit.
    let limit = u64::from(question.terms.time_limit_secs) + 60;
    wait::until(&chain, limit, "the answer", || async {
        asking.is_finished().then_some(())
    })
    .await;
    let (text, answered) = asking.await.expect("the client task");
    assert_eq!(text, engine.expected_text(&question.prompt, max_tokens));
    assert_eq!(answered.answer_tokens, max_tokens);
    assert_eq!(
        answered.bill,
        chainference_prover::core::bill_for(20, 100_000, max_tokens, 300_000).unwrap()
    );
    assert_each_chunk_once(&chain, &answered.request).await;
    providing.abort();
}
