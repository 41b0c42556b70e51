//! Direct delivery over the local node: the answer comes from the provider's endpoint over a
//! WebSocket as it is generated and is shown as it arrives, only its batch roots go on chain
//! (with the completion, or a few at once for long answers), the bill stops at the client's
//! signed acknowledgement, and the answer the client saved audits against the roots on the
//! ledger (and an edited one does not).

use crate::scenario::{scenario, Scenario};
use crate::support::*;
use crate::wait;
use anchor_lang::prelude::Pubkey;
use chainference::state::Delivery;
use chainference_client::direct::SavedAnswer;
use chainference_client::rpc::Chain;
use chainference_prover::core::bill_for;
use chainference_prover::verify::{verify, VerifyError};
use chainference_provider::direct::DIRECT_BATCH_TOKENS;
use solana_signer::Signer;
use std::sync::Arc;

/// A provider serving `model` from the replay engine at `rate` with an endpoint, a funded
/// client, and its direct question of `max_tokens` with a latency bound of `wait_ms`.
async fn bed(model: &str, rate: f64, max_tokens: u32, wait_ms: u32) -> Scenario {
    scenario(model)
        .engine(replay(rate))
        .asking("Write at length.", max_tokens)
        .delivery(Delivery::Direct)
        .batch_wait_ms(wait_ms)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_answer_puts_only_its_roots_on_chain_and_audits_from_the_saved_answer() {
    let max_tokens = 3_000;
    let Scenario {
        chain,
        provider,
        engine,
        client,
        mut question,
    } = bed("test/replay-direct", 4_000.0, max_tokens, 0).await;
    assert!(
        server_of(&chain, &provider.operator)
            .await
            .endpoint
            .starts_with("ws://127.0.0.1:"),
        "the provider lists the endpoint it bound"
    );
    let before = Before::read(&chain, &client.pubkey(), &provider.operator).await;
    let answers = tempfile::tempdir().expect("a temporary folder");
    question.answers_dir = Some(answers.path().to_path_buf());
    let (text, answered) = ask_text(&chain, &client, &question).await;
    let expected = engine.expected_text(&question.prompt, max_tokens);
    assert_eq!(text, expected);
    let bill = bill_for(20, 100_000, max_tokens, 300_000).unwrap();
    assert_eq!((answered.answer_tokens, answered.bill), (max_tokens, bill));
    before
        .assert_settled(
            &chain,
            &client.pubkey(),
            &provider.operator,
            &answered.request,
            bill,
        )
        .await;

    // No chunk on the ledger: the roots of its two batches (2,048 tokens close one), in the
    // transaction that carries the client's acknowledgement and completes the request.
    assert!(appends(&chain, &answered.request).await.is_empty());
    let roots = root_posts(&chain, &answered.request).await;
    assert_eq!(roots.len(), 1, "every root rides with the completion");
    let completion = &roots[0];
    assert_eq!(
        completion.roots.len(),
        2,
        "a 3,000-token answer is two batches"
    );
    assert!(completion.settled.is_some() && completion.acknowledgement.is_some());
    // Roots, the acknowledgement (its message names program, cluster and request) and the
    // completion's accounts: not chunks.
    assert!(
        completion.bytes < 800,
        "{} bytes: roots, not chunks",
        completion.bytes
    );

    // The saved answer is the audit's source of chunks: it verifies, decrypts to the answer,
    // and the bill is the acknowledged tokens'.
    let path = SavedAnswer::path_in(answers.path(), &answered.request);
    let saved = SavedAnswer::read(&path).expect("the answer was saved");
    let transcript = finalized_transcript(&chain, &answered.request, Some(&saved)).await;
    let verified = verify(&transcript.bundle).expect("the audit passes");
    assert_eq!((verified.answer_tokens, verified.bill), (max_tokens, bill));
    let decrypted = chainference_client::audit::decrypt(&chain, &client, &transcript)
        .expect("the client's key opens it");
    assert_eq!(decrypted, expected);
    // `history` reads it back from the same folder, checked against the roots; elsewhere it
    // says the answer is not there.
    let past = chainference_client::history::read_request(
        &chain,
        &client,
        &answered.request,
        Some(answers.path()),
    )
    .await
    .expect("history");
    assert_eq!(
        (past.answer.as_str(), past.not_saved_here),
        (expected.as_str(), false)
    );
    let elsewhere =
        chainference_client::history::read_request(&chain, &client, &answered.request, None)
            .await
            .expect("history");
    assert!(elsewhere.not_saved_here && elsewhere.answer.is_empty());
    let mut edited = saved.clone();
    edited.batches[0].chunks[0].ciphertext[0] ^= 1;
    let transcript = finalized_transcript(&chain, &answered.request, Some(&edited)).await;
    assert!(matches!(
        verify(&transcript.bundle),
        Err(VerifyError::LeafNotInRoot { .. })
    ));

    // The same audit through the binary, from the saved answer's folder.
    let folder = answers.path().to_str().expect("a UTF-8 path");
    let request = answered.request.to_string();
    let audited = chainference(&[
        "--answers-dir",
        folder,
        "--output",
        "json",
        "audit",
        &request,
        "--check-chain",
    ]);
    let report = json_of(&audited);
    assert_eq!(report["answer_tokens"], max_tokens);
    provider.task.abort();
}

/// A direct answer of five batches: its roots go on chain at most four a transaction (so that
/// no root's event is cut from a transaction's log), the last with the completion, and it is
/// billed to the lamport.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_direct_answer_puts_its_roots_on_chain_a_few_at_a_time() {
    let max_tokens = 10_000;
    let Scenario {
        chain,
        provider,
        engine,
        client,
        question,
    } = scenario("test/replay-direct-long")
        .engine(replay(20_000.0))
        .context_length(16_384)
        .asking("Write at great length.", max_tokens)
        .delivery(Delivery::Direct)
        .start()
        .await;
    let before = Before::read(&chain, &client.pubkey(), &provider.operator).await;
    let (text, answered) = ask_text(&chain, &client, &question).await;
    assert_eq!(text, engine.expected_text(&question.prompt, max_tokens));
    let bill = bill_for(20, 100_000, max_tokens, 300_000).unwrap();
    assert_eq!(answered.bill, bill);
    before
        .assert_settled(
            &chain,
            &client.pubkey(),
            &provider.operator,
            &answered.request,
            bill,
        )
        .await;
    // Every root's event is in the ledger (none cut from a log), at most four a transaction,
    // the completion's among them, and no more transactions than four roots each need.
    let posts = root_posts(&chain, &answered.request).await;
    let roots: Vec<usize> = posts
        .iter()
        .map(|transaction| transaction.roots.len())
        .collect();
    assert_eq!(
        roots.iter().sum::<usize>(),
        answered.batches as usize,
        "{roots:?}"
    );
    assert!(roots.iter().all(|&count| count <= 4), "{roots:?}");
    assert_eq!(
        posts.len(),
        (answered.batches as usize).div_ceil(4),
        "{roots:?}"
    );
    assert!(posts
        .last()
        .is_some_and(|last| last.settled.is_some() && !last.roots.is_empty()));
    provider.task.abort();
}

/// Three direct answers asked of one provider at once, with a latency bound a chain answer
/// would pay a root for every 0.4 s: each is shown as it is generated, more than a second
/// before its only root transaction (the completion) lands, and is billed to the lamport.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn direct_answers_are_shown_as_generated_with_their_roots_at_the_completion() {
    let max_tokens = 300;
    let Scenario {
        chain,
        provider,
        engine,
        question,
        ..
    } = bed("test/replay-direct-streamed", 150.0, max_tokens, 400).await;
    let mut asking = Vec::new();
    for index in 0..3 {
        let chain = chain.clone();
        let mut question = question.clone();
        question.prompt = prompt(&format!("Write at length, {index}."), max_tokens);
        let client = funded(&chain, 1_000_000_000).await;
        asking.push(tokio::spawn(async move {
            let (text, answered) = ask_text(&chain, &client, &question).await;
            (question, text, answered)
        }));
    }
    for asked in asking {
        let (question, text, answered) = asked.await.expect("asked");
        assert_eq!(text, engine.expected_text(&question.prompt, max_tokens));
        assert_eq!(
            answered.bill,
            bill_for(20, 100_000, max_tokens, 300_000).unwrap()
        );
        let roots = root_posts(&chain, &answered.request).await;
        assert_eq!(roots.len(), 1, "one root transaction");
        assert!(roots[0].settled.is_some(), "the completion's");
        // 300 tokens at 150 a second: the first text is shown about 2 s before the end, which
        // comes with the only root.
        let (first, end) = (answered.timings.first_text, answered.timings.answered);
        assert!(
            first + std::time::Duration::from_secs(1) < end,
            "first text at {first:?}, the root at {end:?}"
        );
    }
    provider.task.abort();
}

/// A provider killed mid-answer and started again on the same endpoint, before any root went
/// on chain: the client asks again while the endpoint does not serve the answer yet, and the
/// provider starts the answer again, a new stream the client must not splice onto the text it
/// showed. The client refuses it by name; the restarted provider, unacknowledged, completes on
/// the prompt alone, and the client's lamports are accounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_restarted_mid_answer_starts_a_stream_the_client_refuses() {
    use chainference_client::ask::{ask, AskError, AskEvent};
    use chainference_client::direct::DirectError;

    let chain = chain().await;
    let model = "test/replay-direct-restart";
    let engine = replay(40.0);
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("bound").port();
    drop(free);
    let mut settings = settings(model, 100_000, 300_000, 2);
    settings.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let operator = funded(&chain, 3_000_000_000).await;
    let first = serve(
        &chain,
        &operator,
        settings.clone(),
        Arc::new(engine.clone()),
        None,
    )
    .await;
    let client = Arc::new(funded(&chain, 1_000_000_000).await);
    let before = Before::read(&chain, &client.pubkey(), &operator.pubkey()).await;
    let mut question = question(model, "Tell a long story.", 400, 10_000_000);
    question.terms.delivery = Delivery::Direct;
    // Room for the restarted provider to wait out the old run's transactions (a minute).
    question.terms.time_limit_secs = 300;
    let (shown, mut pieces) = tokio::sync::mpsc::unbounded_channel();
    let asking = {
        let (chain, client) = (chain.clone(), client.clone());
        tokio::spawn(async move {
            ask(&chain, &client, &question, |event| {
                if let AskEvent::Text(text) = event {
                    let _ = shown.send(text);
                }
            })
            .await
        })
    };
    for _ in 0..5 {
        pieces.recv().await.expect("text shown before the kill");
    }
    first.task.abort();
    let _ = first.task.await;
    // Its endpoint's tasks end as the runtime drops them: wait until the port is free.
    let address = settings.listen.expect("an address");
    wait::until(&chain, 10, "the old endpoint's port", || async {
        std::net::TcpListener::bind(address).ok().map(drop)
    })
    .await;
    let second = serve(&chain, &operator, settings, Arc::new(engine), None).await;
    let refused = asking.await.expect("ran");
    assert!(
        matches!(refused, Err(AskError::Direct(DirectError::StreamRestarted))),
        "{refused:?}"
    );
    let request = chainference::pda::request_address(&client.pubkey(), 0);
    let settled = completed(&chain, &request).await;
    let prompt_only = bill_for(settled.terms.prompt_tokens, 100_000, 0, 300_000).unwrap();
    assert_eq!(
        (settled.settlement.tokens, settled.settlement.bill),
        (0, prompt_only)
    );
    // The client's side to the lamport (the restarted provider's own start costs fees of no
    // request's).
    before
        .assert_client_paid(&chain, &client.pubkey(), &request, prompt_only)
        .await;
    second.task.abort();
}

/// A client of the direct question of `bed` that creates, seals and reads its answer by hand
/// (so the test decides what it acknowledges): the request, its lock, and the answer socket.
async fn ask_by_hand(
    bed: &Scenario,
) -> (
    Pubkey,
    chainference::state::Request,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    use chainference::state::RequestState;
    use chainference_client::ask::{next_nonce, wallet_signature, PROMPT_PIECE};
    use chainference_client::direct::answer_url;
    use chainference_client::envelope::{client_session, seal_prompt};
    use chainference_client::instructions::{create_request, submit_prompt};

    let Scenario {
        chain,
        provider,
        client,
        question,
        ..
    } = bed;
    let nonce = next_nonce(chain, &client.pubkey()).await.expect("nonce");
    let request = chainference::pda::request_address(&client.pubkey(), nonce);
    let create = create_request(
        &client.pubkey(),
        nonce,
        question.stake,
        question.terms.clone(),
    );
    chain.send(&[create], client, &[]).await.expect("created");
    let locked = wait::request_where(chain, &request, 60, "the lock", |account| {
        account.filter(|account| account.state == RequestState::Locked)
    })
    .await;
    let context = chain.key_context(&request);
    let signature = wallet_signature(client).expect("signs");
    let server_key = x25519_dalek::PublicKey::from(locked.lock.server_key);
    let (client_public, key) = client_session(&signature, &server_key, &context).expect("keys");
    let sealed = seal_prompt(&question.prompt, &key, &client_public, &context).expect("sealed");
    let pieces: Vec<&[u8]> = sealed.chunks(PROMPT_PIECE).collect();
    for (index, piece) in pieces.iter().enumerate() {
        let last = index + 1 == pieces.len();
        let instruction = submit_prompt(&client.pubkey(), &request, piece.to_vec(), last);
        chain
            .send(&[instruction], client, &[])
            .await
            .expect("prompt");
    }
    let endpoint = server_of(chain, &provider.operator).await.endpoint;
    let (socket, _) = tokio_tungstenite::connect_async(answer_url(&endpoint, &request, 0))
        .await
        .expect("the endpoint answers");
    (request, locked, socket)
}

/// Waits until the provider has completed `request` (within its time limit).
async fn completed(chain: &Chain, request: &Pubkey) -> chainference::state::Request {
    wait::request_where(chain, request, 120, "the completion", |account| {
        let account = account.expect("the request exists");
        (account.state == chainference::state::RequestState::Completed).then_some(account)
    })
    .await
}

/// A client that takes the chunks and never acknowledges them gets two batches; the server
/// completes on the prompt alone, no root on chain, its bond back and no failure counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_acknowledges_gets_two_batches_and_pays_for_the_prompt() {
    use chainference_client::direct::ToClient;
    use futures_util::StreamExt;

    let mut bed = bed("test/replay-direct-unacknowledged", 2_000.0, 5_000, 0).await;
    bed.question.terms.time_limit_secs = 45;
    let operator_before = chain_balance(&bed.chain, &bed.provider.operator).await;
    let (request, _, mut socket) = ask_by_hand(&bed).await;
    let (mut batches, mut tokens) = (0, 0);
    // The provider waits 20 s for an acknowledgement, then completes the request: the socket
    // is read until then.
    let completion = completed(&bed.chain, &request);
    tokio::pin!(completion);
    let settled = loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    match serde_json::from_str::<ToClient>(&text).expect("a message") {
                        ToClient::Chunks(piece) => {
                            batches += usize::from(piece.closes);
                            tokens += piece.chunks.iter().map(|chunk| u32::from(chunk.tokens)).sum::<u32>();
                        }
                        ToClient::Refused(reason) => panic!("refused: {reason}"),
                    }
                }
                Some(Ok(_)) => {}
                _ => break completion.await,
            },
            settled = &mut completion => break settled,
        }
    };
    // A batch closes at the delivery that reaches its 1,024 tokens.
    assert_eq!(
        batches, 2,
        "two batches without an acknowledgement, then nothing"
    );
    assert!(
        (2 * DIRECT_BATCH_TOKENS..3 * DIRECT_BATCH_TOKENS).contains(&tokens),
        "{tokens} tokens in two batches"
    );
    let prompt_only = bill_for(settled.terms.prompt_tokens, 100_000, 0, 300_000).unwrap();
    assert_eq!(
        (settled.settlement.tokens, settled.settlement.bill),
        (0, prompt_only),
        "the prompt alone is billed"
    );
    assert_eq!(
        settled.response.leaves, 0,
        "no root without an acknowledgement"
    );
    let server = server_of(&bed.chain, &bed.provider.operator).await;
    assert_eq!((server.active_locks, server.reputation.failures), (0, 0));
    // Lock and completion (with its compute budget) cost the operator their fees; the bond
    // came back with the prompt's pay.
    let operator_after = chain_balance(&bed.chain, &bed.provider.operator).await;
    assert!(
        operator_after + 3 * SIGNATURE_FEE >= operator_before + prompt_only,
        "{operator_before} → {operator_after}"
    );
    bed.provider.task.abort();
}

/// A client that sends a poisoned acknowledgement (`{u32::MAX, 0, 0}`, properly signed), then
/// acknowledges the first batch and stops: the endpoint ignores the poisoned one, the server
/// sends two batches more (the second waits for the first's acknowledgement, the third for
/// the second's, which never comes), and completes on the first batch, whose root alone is on
/// chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_acknowledges_falsely_pays_for_what_it_truly_acknowledged() {
    use chainference_client::direct::{SignedAck, ToClient, ToProvider};
    use chainference_prover::bundle::Chunk;
    use chainference_prover::core::ResponseCursor;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let mut bed = bed("test/replay-direct-false-ack", 2_000.0, 5_000, 0).await;
    bed.question.terms.time_limit_secs = 45;
    let (request, locked, mut socket) = ask_by_hand(&bed).await;
    let scope = chainference_client::instructions::scope(&bed.chain.genesis_hash(), &request);
    let send =
        |ack: SignedAck| Message::text(serde_json::to_string(&ToProvider::Ack(ack)).expect("json"));
    let poisoned = ResponseCursor {
        next_seq: u32::MAX,
        tokens: 0,
        leaves: 0,
        chain: [0; 32],
        finished: false,
    };
    let mut chunks: Vec<Chunk> = Vec::new();
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the endpoint closed before the first batch");
        };
        if let ToClient::Chunks(piece) = serde_json::from_str::<ToClient>(&text).expect("chunks") {
            chunks.extend(piece.chunks);
            if piece.closes {
                break;
            }
        }
    }
    let mut first = ResponseCursor::new();
    let views: Vec<_> = chunks.iter().map(Chunk::as_ref).collect();
    first
        .apply_direct(&request.to_bytes(), locked.terms.max_output_tokens, &views)
        .expect("the first batch keeps the rules");
    socket
        .send(send(SignedAck::sign(&bed.client, &scope, &poisoned)))
        .await
        .expect("sent");
    socket
        .send(send(SignedAck::sign(&bed.client, &scope, &first)))
        .await
        .expect("sent");
    let settled = completed(&bed.chain, &request).await;
    let bill = bill_for(settled.terms.prompt_tokens, 100_000, first.tokens, 300_000).unwrap();
    assert_eq!(
        (settled.settlement.tokens, settled.settlement.bill),
        (first.tokens, bill)
    );
    assert_eq!(
        settled.response.cursor(),
        first,
        "the roots on chain commit to exactly the acknowledged batch"
    );
    let server = server_of(&bed.chain, &bed.provider.operator).await;
    assert_eq!((server.active_locks, server.reputation.failures), (0, 0));
    bed.provider.task.abort();
}

/// `address`'s balance.
async fn chain_balance(chain: &Chain, address: &Pubkey) -> u64 {
    chain.balance(address).await.expect("balance")
}
