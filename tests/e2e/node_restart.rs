//! The local node stopped and started again from its ledger while an answer is in flight: the
//! programs are in its genesis as a cluster has them, so the restarted node runs them as before,
//! and the provider and the client, which only know its URLs, carry on. The answer completes
//! byte for byte, billed once, every chunk once.

use crate::support::*;
use crate::wait;
use chainference::state::ConfigParams;
use chainference_cli::localnet::LocalNode;
use chainference_client::rpc::Chain;
use solana_signer::Signer;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// A node run on a thread of its own, stopped when `stop` is sent (or dropped).
struct RunningNode {
    stop: mpsc::Sender<()>,
    stopped: mpsc::Receiver<()>,
}

impl RunningNode {
    /// Starts a node from `ledger` with its JSON-RPC on `rpc_port` (PubSub on the next).
    fn start(ledger: PathBuf, rpc_port: u16) -> Self {
        let (stop, stop_here) = mpsc::channel::<()>();
        let (started, started_here) = mpsc::channel();
        let (stopped_here, stopped) = mpsc::channel();
        std::thread::spawn(move || {
            let config = ConfigParams {
                lock_window_secs: LOCK_WINDOW_SECS,
                prompt_window_secs: PROMPT_WINDOW_SECS,
                ..ConfigParams::with_fee(0)
            };
            let node = LocalNode::start_with(Some(&ledger), Some(rpc_port), config)
                .expect("the node starts");
            started.send(()).expect("the test waits");
            let _ = stop_here.recv();
            drop(node);
            let _ = stopped_here.send(());
        });
        started_here.recv().expect("the node thread reports");
        Self { stop, stopped }
    }

    /// Stops the node and waits until it is down.
    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.stopped.recv_timeout(wait::BACKSTOP);
    }
}

/// A port free for the node's JSON-RPC whose next port is free for its PubSub.
fn free_rpc_port() -> u16 {
    for _ in 0..64 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_in_flight_completes_once_after_the_node_restarts() {
    let ledger = tempfile::tempdir().expect("a ledger folder");
    let rpc_port = free_rpc_port();
    let node = {
        let ledger = ledger.path().to_path_buf();
        tokio::task::spawn_blocking(move || RunningNode::start(ledger, rpc_port))
            .await
            .expect("the node thread")
    };
    let chain = Chain::connect(
        &format!("http://127.0.0.1:{rpc_port}"),
        &format!("ws://127.0.0.1:{}", rpc_port + 1),
    )
    .await
    .expect("the node answers");

    let model = "test/replay-node-restart";
    let engine = replay(10.0);
    let (max_tokens, input_price, output_price) = (200, 100_000, 300_000);
    let operator = funded(&chain, 3_000_000_000).await;
    let provider = serve(
        &chain,
        &operator,
        settings(model, input_price, output_price, 1),
        Arc::new(engine.clone()),
        None,
    )
    .await;
    let client = Arc::new(funded(&chain, 1_000_000_000).await);
    let request = chainference::pda::request_address(&client.pubkey(), 0);
    let mut question = question(model, "", max_tokens, 10_000_000);
    question.prompt = prompt("Tell a long story.", max_tokens);
    question.terms.time_limit_secs = 600; // room for the node's restart
    let asking = {
        let (chain, client, question) = (chain.clone(), client.clone(), question.clone());
        tokio::spawn(async move { ask_text(&chain, &client, &question).await })
    };

    // Stopped once part of the answer is on chain, started again from the same ledger.
    let delivered = wait::until(&chain, 120, "two chunks landed before the stop", || async {
        let account: Option<chainference::state::Request> =
            chain.account(&request, "Request").await.ok().flatten();
        account
            .map(|request| request.response.next_seq)
            .filter(|&delivered| delivered >= 2)
    })
    .await;
    tokio::task::spawn_blocking(move || node.stop())
        .await
        .expect("the node stops");
    tokio::time::sleep(Duration::from_secs(2)).await; // down a while, not a wait for anything
    let node = {
        let ledger = ledger.path().to_path_buf();
        tokio::task::spawn_blocking(move || RunningNode::start(ledger, rpc_port))
            .await
            .expect("the node thread")
    };

    let answer = asking.await.expect("the client task");
    assert_eq!(answer.1.request, request);
    let prices = (input_price, output_price);
    let chunks =
        assert_answered_once(&chain, &engine, &question, &answer, max_tokens, prices).await;
    assert!(chunks > delivered, "more chunks came after the restart");
    let server = server_of(&chain, &operator.pubkey()).await;
    assert_eq!(
        (
            server.reputation.completed,
            server.reputation.failures,
            server.active_locks
        ),
        (1, 0, 0)
    );
    provider.task.abort();
    tokio::task::spawn_blocking(move || node.stop())
        .await
        .expect("the node stops");
}
