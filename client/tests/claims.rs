//! An answer's token claims against its decrypted text (issue 19, item 7): a server that locks a
//! request and posts one short final chunk claiming `max_output_tokens` takes the whole stake.

use chainference_client::answer::{AnswerOpener, AnswerSealer};
use chainference_client::envelope::{
    client_session, server_public_key, server_session, ClientSignature, Compression, FinishReason,
    KeyContext, SessionKey,
};
use chainference_prover::bundle::Chunk;

/// Both sides' keys for one request.
fn keys() -> (KeyContext, SessionKey, SessionKey) {
    let context = KeyContext {
        genesis_hash: [9; 32],
        program_id: [8; 32],
        request: [5; 32],
    };
    let signature = ClientSignature::from_two([7u8; 64], [7u8; 64]).unwrap();
    let server_public = server_public_key(&[6; 32], &context);
    let (client_public, client_key) = client_session(&signature, &server_public, &context).unwrap();
    let (_, server_key) = server_session(&[6; 32], &client_public, &context).unwrap();
    (context, client_key, server_key)
}

/// A garbage answer: `text` sealed as one final chunk claiming `tokens`.
fn garbage(text: &str, tokens: u32) -> (KeyContext, SessionKey, Vec<Chunk>) {
    let (context, client_key, server_key) = keys();
    let mut sealer = AnswerSealer::new(server_key, context, Compression::Brotli, 0).unwrap();
    sealer.push(text, tokens).unwrap();
    let chunks = sealer.finish(FinishReason::Length, 900).unwrap();
    (context, client_key, chunks)
}

#[test]
fn today_a_batch_claiming_1000_tokens_for_10_bytes_is_accepted_without_a_check() {
    let (context, key, chunks) = garbage("0123456789", 1_000);
    assert_eq!(chunks.len(), 1, "one final chunk");
    assert_eq!(chunks[0].tokens, 1_000);
    let mut opener = AnswerOpener::new(key, context, Compression::Brotli).unwrap();
    let text = opener.open(&chunks[0]).expect("the client opens it");
    assert_eq!(text.len(), 10);
    // Nothing in the client library relates the claimed tokens to the text: the answer is
    // shown and billed for 1,000 tokens (the hole this file's later tests close).
}
