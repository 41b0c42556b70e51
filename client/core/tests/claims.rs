//! An answer's token claims against its decrypted text (issue 19, item 7): a server that locks a
//! request and posts one short final chunk claiming `max_output_tokens` takes the whole stake.

use chainference_client_core::answer::{AnswerOpener, AnswerSealer};
use chainference_client_core::claims::{
    allowance_for, ClaimTally, Overclaim, SPECIAL_TOKEN_ALLOWANCE,
};
use chainference_client_core::envelope::{
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
fn a_batch_claiming_1000_tokens_for_10_bytes_is_an_overclaim() {
    let (context, key, chunks) = garbage("0123456789", 1_000);
    assert_eq!(chunks.len(), 1, "one final chunk");
    assert_eq!(chunks[0].tokens, 1_000);
    let mut opener = AnswerOpener::new(key, context, Compression::Brotli).unwrap();
    // The chunk itself opens: decryption does not judge claims; the tally does.
    let text = opener.open(&chunks[0]).expect("the client opens it");
    assert_eq!(text.len(), 10);
    let mut tally = ClaimTally::new(allowance_for(&[]));
    tally.chunk(chunks[0].tokens, &text);
    tally.end_batch();
    let overclaim = tally.check().expect_err("the claims exceed the text");
    assert_eq!(
        overclaim,
        Overclaim {
            claimed: 1_000,
            text_bytes: 10,
            allowance: SPECIAL_TOKEN_ALLOWANCE,
            batches: 1,
        }
    );
    assert!(overclaim
        .to_string()
        .contains("the server claims 1000 tokens for 10 bytes of text"));
    assert!(!tally.report().plausible());
}

/// The prose corpus at `bytes_per_token` bytes a token, flushed every 4 KiB of text as the
/// poster does and cut into 900-byte appends, each a batch of its own; an end-of-sequence token
/// last. Returns the claims and text after each append, and the whole answer's tally.
fn filled_appends(
    bytes_per_token: usize,
    compression: Compression,
) -> (Vec<(u64, u64)>, ClaimTally) {
    let prose = include_str!("../../../fixtures/corpus/prose.txt");
    let (context, client_key, server_key) = keys();
    let mut sealer = AnswerSealer::new(server_key, context, compression, 0).unwrap();
    let mut opener = AnswerOpener::new(client_key, context, compression).unwrap();
    let mut tally = ClaimTally::new(allowance_for(&[]));
    let (mut claimed, mut text, mut unflushed) = (0u64, 0u64, 0usize);
    let mut after_each = Vec::new();
    let mut post = |chunks: Vec<Chunk>, tally: &mut ClaimTally| {
        for chunk in chunks {
            let piece = opener.open(&chunk).unwrap();
            tally.chunk(chunk.tokens, &piece);
            claimed += u64::from(chunk.tokens);
            text += piece.len() as u64;
        }
        tally.end_batch();
        after_each.push((claimed, text));
    };
    for piece in prose.as_bytes().chunks(bytes_per_token) {
        let piece = std::str::from_utf8(piece).unwrap_or("x");
        sealer.push(piece, 1).unwrap();
        unflushed += piece.len();
        if unflushed >= 4_096 {
            sealer.flush().unwrap();
            unflushed = 0;
            while sealer.pending_len() >= 900 {
                post(vec![sealer.seal_chunk(900)], &mut tally);
            }
        }
    }
    sealer.push("", 1).unwrap();
    post(sealer.finish(FinishReason::Stop, 900).unwrap(), &mut tally);
    (after_each, tally)
}

#[test]
fn an_honest_filled_answer_passes_though_its_appends_claim_ahead_of_their_text() {
    for bytes_per_token in [1, 2, 4] {
        for compression in [Compression::Brotli, Compression::Zstd, Compression::None] {
            let (after_each, tally) = filled_appends(bytes_per_token, compression);
            assert!(after_each.len() > 5);
            assert_eq!(
                tally.check(),
                Ok(()),
                "{bytes_per_token} bytes a token, {compression:?}"
            );
        }
    }
    // Why the whole answer and not each batch: one flush fills several appends, and a zstd
    // block decodes only once whole, so an honest answer's first append claims tokens with no
    // text decoded yet.
    let (after_each, _) = filled_appends(4, Compression::Zstd);
    let (claimed, text) = after_each[0];
    assert!(claimed > 400 && text == 0, "{claimed} tokens, {text} bytes");
}
