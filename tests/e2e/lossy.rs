//! Notifications are hints: a client whose PubSub drops 30% of its notifications, duplicates,
//! delays and reorders others and is cut twice still gets every chunk, in order; a provider
//! whose notifications are all lost still finds requests by its scan.

use crate::lossy_pubsub::{Faults, LossyPubsub};
use crate::support::*;
use chainference_client::rpc::Chain;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_on_a_lossy_socket_gets_every_chunk_in_order() {
    let node = node();
    let model = "test/replay-lossy";
    let engine = replay(100.0);
    let deaf = Faults {
        drop: 1.0,
        ..Faults::default()
    };
    let provider_pubsub = LossyPubsub::start(&node.pubsub_url, deaf).await;
    let provider_chain = Chain::connect(&node.rpc_url, &provider_pubsub.url)
        .await
        .expect("the node answers");
    let provider = start_provider(
        &provider_chain,
        settings(model, 100_000, 300_000, 1),
        Arc::new(engine.clone()),
    )
    .await;

    let lossy = Faults {
        drop: 0.3,
        duplicate: 0.2,
        reorder: 0.2,
        delay_share: 0.2,
        delay: Duration::from_millis(800),
        cut_at: vec![6, 12],
    };
    let client_pubsub = LossyPubsub::start(&node.pubsub_url, lossy).await;
    let client_chain = Chain::connect(&node.rpc_url, &client_pubsub.url)
        .await
        .expect("the node answers");
    let client = funded(&client_chain, 1_000_000_000).await;
    let max_tokens = 1_500;
    let mut question = question(model, "Through a bad socket.", max_tokens, 50_000_000);
    question.terms.max_batch_wait_ms = 200; // many small batches, many notifications
    let (text, answered) = ask_text(&client_chain, &client, &question).await;

    assert_eq!(
        text,
        engine.expected_text(&question.prompt, max_tokens),
        "every chunk, in order"
    );
    assert_eq!(answered.answer_tokens, max_tokens);
    assert!(answered.batches >= 8, "{} batches", answered.batches);
    let faults = client_pubsub.counts();
    assert!(
        faults.dropped > 0 && faults.duplicated > 0 && faults.reordered > 0,
        "the faults happened: {faults:?}"
    );
    assert_eq!(faults.cuts, 2, "cut twice: {faults:?}");
    assert!(
        provider_pubsub.counts().dropped > 0,
        "the provider's notifications were all lost; its scan found the request"
    );
    provider.task.abort();
}
