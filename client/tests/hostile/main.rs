//! A hostile server (or a node speaking for one) against the client: nothing delivered on chain
//! is shown before the Request account confirms it, and nothing a server sends, on chain or
//! direct, grows the client's memory without a bound.

mod fake;

use anchor_lang::prelude::Pubkey;
use chainference::events::{Chunk as ProgramChunk, ChunkBatch};
use chainference_client::direct::{
    receive_direct, DirectError, Received, MAX_UNCONFIRMED_BATCHES, MAX_UNCONFIRMED_BYTES,
};
use chainference_client::follow::{follow_answer, FollowError};
use chainference_client::rpc::Chain;
use chainference_prover::core::{
    BatchRuleError, ResponseCursor, MAX_CHUNK_LEN, MAX_DIRECT_BATCH_CHUNKS,
};
use fake::{event_logs, request_account, Endless, EndlessProvider, FakeNode};
use solana_keypair::Keypair;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A batch of one final chunk carrying `ciphertext`, as the program would log it, and the
/// cursor after it.
fn final_batch(request: Pubkey, ciphertext: &[u8]) -> (ChunkBatch, ResponseCursor) {
    let chunks = vec![ProgramChunk {
        seq: 0,
        tokens: 3,
        is_final: true,
        nonce: [1; 24],
        ciphertext: ciphertext.to_vec(),
    }];
    let mut cursor = ResponseCursor::new();
    let views: Vec<_> = chunks.iter().map(ProgramChunk::as_ref).collect();
    cursor
        .apply(&request.to_bytes(), 100, &views)
        .expect("a valid batch");
    let batch = ChunkBatch {
        request,
        tree: Pubkey::default(),
        leaf_index: 0,
        first_seq: 0,
        chunks,
        chain: cursor.chain,
        proof: vec![],
    };
    (batch, cursor)
}

/// Two batches of one chunk each, the second final, as the program would log them, and the
/// cursor after each.
fn two_batches(request: Pubkey) -> Vec<(ChunkBatch, ResponseCursor)> {
    let mut cursor = ResponseCursor::new();
    (0..2u32)
        .map(|seq| {
            let chunks = vec![ProgramChunk {
                seq,
                tokens: 3,
                is_final: seq == 1,
                nonce: [seq as u8 + 1; 24],
                ciphertext: vec![seq as u8; 16],
            }];
            let views: Vec<_> = chunks.iter().map(ProgramChunk::as_ref).collect();
            let first = cursor;
            cursor
                .apply(&request.to_bytes(), 100, &views)
                .expect("a valid batch");
            let batch = ChunkBatch {
                request,
                tree: Pubkey::default(),
                leaf_index: u64::from(first.next_seq),
                first_seq: first.next_seq,
                chunks,
                chain: cursor.chain,
                proof: vec![],
            };
            (batch, cursor)
        })
        .collect()
}

async fn connect(node: &FakeNode) -> Chain {
    Chain::connect_with_patience(&node.rpc_url, &node.pubsub_url, Duration::ZERO)
        .await
        .expect("connects to the fake node")
}

/// What `follow_answer` gives within `wait` on a fake node whose Request account holds
/// `account` and whose socket sends `batch`: its result (`Err` if it still waited) and the
/// batches it handed on to be shown.
async fn follow_on_fake_node(
    request: Pubkey,
    account: &ResponseCursor,
    batch: &ChunkBatch,
    wait: Duration,
) -> (
    Result<Result<ResponseCursor, FollowError>, tokio::time::error::Elapsed>,
    Vec<ChunkBatch>,
) {
    let node = FakeNode::start(Some(request_account(account)), vec![event_logs(batch)]).await;
    let chain = connect(&node).await;
    let mut delivered = Vec::new();
    let followed = tokio::time::timeout(
        wait,
        follow_answer(&chain, &request, 100, |batch| {
            delivered.push(batch);
            Ok(())
        }),
    )
    .await;
    (followed, delivered)
}

/// A log line carries a batch that follows the answer's rules and its own hash chain, but the
/// Request account's chain went another way: nothing of it may be shown.
#[tokio::test]
async fn follow_shows_no_batch_the_request_account_does_not_confirm() {
    let request = Pubkey::new_unique();
    let (_, posted) = final_batch(request, b"what the server posted");
    let (forged, _) = final_batch(request, b"what a log line claims instead");
    let (followed, delivered) =
        follow_on_fake_node(request, &posted, &forged, Duration::from_secs(10)).await;
    assert!(
        delivered.is_empty(),
        "follow_answer handed {} batch(es) to deliver that the Request account's hash chain does not confirm (it returned {followed:?})",
        delivered.len()
    );
    assert!(
        matches!(followed, Ok(Err(FollowError::ChainMismatch))),
        "{followed:?}"
    );
}

/// The account has not reached a batch the socket delivered (it may never land): the batch
/// waits.
#[tokio::test]
async fn follow_shows_nothing_the_request_account_has_not_reached() {
    let request = Pubkey::new_unique();
    let (batch, _) = final_batch(request, b"not on chain yet");
    let (followed, delivered) = follow_on_fake_node(
        request,
        &ResponseCursor::new(),
        &batch,
        Duration::from_secs(3),
    )
    .await;
    assert!(
        delivered.is_empty(),
        "follow_answer showed a batch the Request account has not reached (it returned {followed:?})"
    );
    assert!(followed.is_err(), "it waits for the account: {followed:?}");
}

/// The honest case: a batch the account confirms is shown, and the answer ends there.
#[tokio::test]
async fn follow_shows_a_batch_the_request_account_confirms() {
    let request = Pubkey::new_unique();
    let (batch, posted) = final_batch(request, b"what the server posted");
    let (followed, delivered) =
        follow_on_fake_node(request, &posted, &batch, Duration::from_secs(10)).await;
    let followed = followed
        .expect("the answer ends")
        .expect("the answer is confirmed");
    assert_eq!(followed, posted);
    assert_eq!(delivered, vec![batch]);
}

/// The node answers one read from an older bank (restarted from its ledger and replaying, or a
/// replica behind), where the request does not exist yet: the client must wait for the node to
/// catch up with what it has already seen, not call the request expired and give up its answer.
#[tokio::test]
async fn follow_waits_for_a_node_behind_instead_of_calling_the_request_expired() {
    let request = Pubkey::new_unique();
    let batches = two_batches(request);
    let views = vec![
        (10, Some(request_account(&batches[0].1))),
        (5, None),
        (12, Some(request_account(&batches[1].1))),
    ];
    let notifications = batches.iter().map(|(batch, _)| event_logs(batch)).collect();
    let node = FakeNode::with_views(views, notifications).await;
    let chain =
        Chain::connect_with_patience(&node.rpc_url, &node.pubsub_url, Duration::from_secs(30))
            .await
            .expect("connects to the fake node");
    let mut delivered = Vec::new();
    let followed = tokio::time::timeout(
        Duration::from_secs(20),
        follow_answer(&chain, &request, 100, |batch| {
            delivered.push(batch);
            Ok(())
        }),
    )
    .await
    .expect("the answer ends");
    assert_eq!(
        followed.expect("the whole answer, not an expiry"),
        batches[1].1
    );
    let sent: Vec<_> = batches.into_iter().map(|(batch, _)| batch).collect();
    assert_eq!(delivered, sent);
}

/// A server sends well-formed direct batches without end and never posts their roots: the
/// client must refuse it once it holds the most unconfirmed batches an honest server can leave
/// it, not keep (and acknowledge) them until memory runs out.
#[tokio::test]
async fn direct_refuses_a_server_whose_roots_never_land() {
    let (received, provider, kept) = endless(
        Endless {
            chunks_a_message: 1,
            batch_chunks: Some(1),
        },
        Duration::from_secs(20),
    )
    .await;
    let acks = provider.acks.load(Ordering::Relaxed);
    let error = received.expect_err("the server is refused");
    assert!(
        matches!(
            error,
            DirectError::TooManyUnconfirmed {
                limit: MAX_UNCONFIRMED_BATCHES
            }
        ),
        "refused for the wrong reason: {error}"
    );
    assert!(
        acks <= MAX_UNCONFIRMED_BATCHES,
        "acknowledged {acks} batches"
    );
    assert_eq!(kept, MAX_UNCONFIRMED_BATCHES, "batches kept");
}

/// A server streams chunks and never closes their batch: the client must refuse the batch
/// once it is over what a direct batch may hold, not keep it growing.
#[tokio::test]
async fn direct_refuses_a_server_that_never_closes_its_batch() {
    let (received, provider, kept) = endless(
        Endless {
            chunks_a_message: 1,
            batch_chunks: None,
        },
        Duration::from_secs(20),
    )
    .await;
    let error = received.expect_err("the server is refused");
    assert!(
        matches!(
            error,
            DirectError::Rule(BatchRuleError::TooManyChunks {
                limit: MAX_DIRECT_BATCH_CHUNKS
            })
        ),
        "refused for the wrong reason: {error}"
    );
    assert_eq!(provider.acks.load(Ordering::Relaxed), 0);
    assert_eq!(kept, 0, "no batch closed");
}

/// A server closes batches as full as a direct batch may be, of the longest chunks, and never
/// posts their roots: the client must refuse it once the ciphertext it holds unconfirmed is
/// over its bound, well before the most batches (each of 4 MiB), not hold 256 MiB.
#[tokio::test]
async fn direct_refuses_a_server_whose_full_batches_never_land() {
    let (received, provider, kept) = endless(
        Endless {
            chunks_a_message: 512,
            batch_chunks: Some(MAX_DIRECT_BATCH_CHUNKS as u32),
        },
        Duration::from_secs(180),
    )
    .await;
    let error = received.expect_err("the server is refused");
    assert!(
        matches!(
            error,
            DirectError::TooMuchUnconfirmed {
                limit: MAX_UNCONFIRMED_BYTES
            }
        ),
        "refused for the wrong reason: {error}"
    );
    let batch_bytes = MAX_DIRECT_BATCH_CHUNKS * MAX_CHUNK_LEN;
    assert_eq!(kept, MAX_UNCONFIRMED_BYTES / batch_bytes, "batches kept");
    let acks = provider.acks.load(Ordering::Relaxed);
    assert!(acks <= kept, "acknowledged {acks} batches");
}

/// A client receiving from an [`EndlessProvider`] sending as `endless` says until it gives
/// up, for at most `patience` (its bound on bytes takes 64 MiB of chunks, ten times its bounds
/// on chunks and batches): what it returned, the provider, and the batches it handed on to
/// keep.
async fn endless(
    endless: Endless,
    patience: Duration,
) -> (Result<ResponseCursor, DirectError>, EndlessProvider, usize) {
    let request = Pubkey::new_unique();
    let node = FakeNode::start(Some(request_account(&ResponseCursor::new())), vec![]).await;
    let chain = connect(&node).await;
    let provider = EndlessProvider::start(endless).await;
    let wallet = Keypair::new();
    let mut kept = 0;
    let received = tokio::time::timeout(
        patience,
        receive_direct(
            &chain,
            &wallet,
            &request,
            &provider.endpoint,
            1_000,
            |received| {
                if matches!(received, Received::Batch(_)) {
                    kept += 1;
                }
                Ok(())
            },
        ),
    )
    .await;
    let sent = provider.sent.load(Ordering::Relaxed);
    let acks = provider.acks.load(Ordering::Relaxed);
    let Ok(received) = received else {
        panic!(
            "after {patience:?} the client still takes chunks whose roots never land: it acknowledged {acks} batches of the {sent} chunks sent (about {} MiB)",
            (sent * MAX_CHUNK_LEN) >> 20
        );
    };
    (received, provider, kept)
}
