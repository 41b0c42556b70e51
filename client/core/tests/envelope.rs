//! The envelope against published and committed test vectors, and answers sealed into chunks,
//! batched into leaves and opened back.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chainference_client_core::answer::{
    AnswerError, AnswerOpener, AnswerSealer, MAX_ANSWER_TEXT, MAX_CHUNK_PLAINTEXT,
    MAX_TEXT_BYTES_PER_TOKEN, NEW_STREAM,
};
use chainference_client_core::envelope::*;
use chainference_prover::bundle::{
    Bundle, BundleBatch, BundleSettlement, BundleTerms, Chunk, BUNDLE_FORMAT, BUNDLE_VERSION,
};
use chainference_prover::core::{bill_for, fee_for, ResponseCursor};
use chainference_prover::tree::TreeMirror;
use chainference_prover::verify::verify;
use serde_json::{json, Value};
use x25519_dalek::{PublicKey, StaticSecret};

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    hex::decode(text).expect("hex").try_into().expect("length")
}

#[test]
fn x25519_matches_rfc_7748() {
    let alice = StaticSecret::from(unhex::<32>(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = StaticSecret::from(unhex::<32>(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    assert_eq!(
        hex::encode(PublicKey::from(&alice).as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(alice.diffie_hellman(&PublicKey::from(&bob)).as_bytes()),
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    );
}

#[test]
fn xchacha20poly1305_matches_the_cfrg_draft() {
    // draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    let key: [u8; 32] = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let nonce: [u8; 24] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657");
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let sealed = chacha20poly1305::XChaCha20Poly1305::new(&key.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(
        hex::encode(sealed),
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf49"
    );
}

/// Everything the committed vectors derive, from their fixed inputs.
fn derive_vectors() -> Value {
    let signature = [0x5au8; 64];
    let operator_seed = [0x3cu8; 32];
    let context = KeyContext {
        genesis_hash: [1; 32],
        program_id: [2; 32],
        request: [3; 32],
    };
    let server_public = server_public_key(&operator_seed, &context);
    let signature_pair = ClientSignature::from_two(signature, signature).unwrap();
    let (client_public, key) = client_session(&signature_pair, &server_public, &context).unwrap();
    let header = ChunkHeader {
        direction: Direction::Response,
        seq: 7,
        finish: Some(FinishReason::Length),
    };
    let nonce = [0x24u8; 24];
    let plaintext = "Bonjour, 世界! 🌍";
    let ciphertext = seal_with_nonce(&key, &context, &header, &nonce, plaintext.as_bytes());
    json!({
        "key_message": hex::encode(key_message().unwrap()),
        "wallet_signature": hex::encode(signature),
        "operator_seed": hex::encode(operator_seed),
        "genesis_hash": hex::encode(context.genesis_hash),
        "program_id": hex::encode(context.program_id),
        "request": hex::encode(context.request),
        "client_public": hex::encode(client_public.as_bytes()),
        "server_public": hex::encode(server_public.as_bytes()),
        "direction": "response", "seq": 7, "finish": "length",
        "nonce": hex::encode(nonce),
        "plaintext": plaintext,
        "ciphertext": hex::encode(ciphertext),
    })
}

#[test]
fn the_committed_vectors_still_hold() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/vectors/envelope.json"
    );
    let derived = derive_vectors();
    if std::env::var_os("CHAINFERENCE_WRITE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&derived).unwrap() + "\n").unwrap();
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(path).expect("fixtures/vectors/envelope.json"),
    )
    .expect("the vectors are JSON");
    assert_eq!(
        derived, committed,
        "the envelope no longer reproduces fixtures/vectors/envelope.json"
    );
    // The key message is Solana's off-chain message format, version 0, restricted ASCII.
    let message = key_message().unwrap();
    assert!(message.starts_with(b"\xffsolana offchain\x00\x00"));
    assert!(message.ends_with(KEY_MESSAGE.as_bytes()));
}

struct Parties {
    context: KeyContext,
    client_key: SessionKey,
    server_key: SessionKey,
}

fn parties(request: [u8; 32]) -> Parties {
    let context = KeyContext {
        genesis_hash: [9; 32],
        program_id: [8; 32],
        request,
    };
    let signature = ClientSignature::from_two([7u8; 64], [7u8; 64]).unwrap();
    let server_public = server_public_key(&[6; 32], &context);
    let (client_public, client_key) = client_session(&signature, &server_public, &context).unwrap();
    let (_, server_key) = server_session(&[6; 32], &client_public, &context).unwrap();
    Parties {
        context,
        client_key,
        server_key,
    }
}

#[test]
fn both_sides_agree_and_a_stranger_cannot_read() {
    let p = parties([1; 32]);
    assert_eq!(p.client_key, p.server_key);
    let header = ChunkHeader {
        direction: Direction::Response,
        seq: 0,
        finish: None,
    };
    let (nonce, sealed) = seal(&p.server_key, &p.context, &header, b"secret answer");
    assert_eq!(
        open(&p.client_key, &p.context, &header, &nonce, &sealed).unwrap(),
        b"secret answer"
    );
    // A wrong key, another request, another direction or sequence: a clear error.
    let other = parties([2; 32]);
    for (key, context, header) in [
        (other.client_key, p.context, header),
        (p.client_key, other.context, header),
        (
            p.client_key,
            p.context,
            ChunkHeader {
                direction: Direction::Prompt,
                ..header
            },
        ),
        (p.client_key, p.context, ChunkHeader { seq: 1, ..header }),
        (
            p.client_key,
            p.context,
            ChunkHeader {
                finish: Some(FinishReason::Stop),
                ..header
            },
        ),
    ] {
        let error = open(&key, &context, &header, &nonce, &sealed).unwrap_err();
        assert!(matches!(error, EnvelopeError::Decrypt));
        assert!(error.to_string().contains("wrong key"), "{error}");
    }
    assert!(matches!(
        ClientSignature::from_two([1; 64], [2; 64]),
        Err(EnvelopeError::UnstableSignature)
    ));
}

#[test]
fn prompts_are_padded_to_buckets_and_open_only_for_the_server() {
    let p = parties([4; 32]);
    let envelope = PromptEnvelope {
        messages: vec![
            Message {
                role: "system".into(),
                content: "You are a helpful assistant.".into(),
            },
            Message {
                role: "user".into(),
                content: "Write a haiku about Merkle trees.".into(),
            },
        ],
        sampling: Sampling {
            temperature: Some(0.0),
            top_p: None,
            seed: Some(42),
            stop: vec![],
        },
        max_tokens: 256,
        compression: Compression::Zstd,
    };
    let client_public = PublicKey::from([5u8; 32]);
    let sealed = seal_prompt(&envelope, &p.client_key, &client_public, &p.context).unwrap();
    assert_eq!(prompt_client_key(&sealed).unwrap(), client_public);
    assert_eq!((sealed.len() - 32 - 24 - TAG_LEN) % PROMPT_BUCKET, 0);
    assert_eq!(
        open_prompt(&sealed, &p.server_key, &p.context).unwrap(),
        envelope
    );
    let other = parties([5; 32]);
    assert!(matches!(
        open_prompt(&sealed, &other.server_key, &p.context),
        Err(EnvelopeError::Decrypt)
    ));
    // Prompts of different lengths in one bucket are the same size.
    let mut longer = envelope.clone();
    longer.messages[1].content.push_str(" Please.");
    let sealed_longer = seal_prompt(&longer, &p.client_key, &client_public, &p.context).unwrap();
    assert_eq!(sealed.len(), sealed_longer.len());
}

/// Chunks → batches → leaves of a tree → a transcript bundle, as the program would have built
/// them; the bundle must verify offline, also after a JSON round trip.
fn bundle_of(batches: &[Vec<Chunk>]) -> Bundle {
    let request = [6u8; 32];
    let mut cursor = ResponseCursor::new();
    let mut tree = TreeMirror::new(24);
    let mut bundled = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        for group in batch.chunks(64) {
            let views: Vec<_> = group.iter().map(Chunk::as_ref).collect();
            let applied = cursor
                .apply(&request, 200_000, &views)
                .expect("a valid batch");
            let appended = tree.append(applied.leaf).unwrap();
            bundled.push(BundleBatch {
                signature: format!("sig{i}"),
                slot: i as u64,
                leaf_index: appended.leaf_index,
                root: appended.root,
                proof: appended.proof,
                chunks: group.to_vec(),
            });
        }
    }
    let terms = BundleTerms {
        model: "m".into(),
        prompt_tokens: 10,
        max_output_tokens: 200_000,
        stake: 10_000_000_000,
        input_price: 1_000_000,
        output_price: 1_000_000,
        fee_bps: 100,
        direct: false,
    };
    let bill = bill_for(10, 1_000_000, cursor.tokens, 1_000_000).unwrap();
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        program_id: [8; 32],
        genesis_hash: [9; 32],
        request,
        client: [1; 32],
        server: [2; 32],
        tree: [3; 32],
        terms,
        batches: bundled,
        chain: cursor.chain,
        settlement: BundleSettlement {
            answer_tokens: cursor.tokens,
            bill,
            fee: fee_for(bill, 100),
        },
        acknowledgement: None,
    };
    verify(&Bundle::from_json(&bundle.to_json()).unwrap()).expect("the bundle verifies");
    bundle
}

/// Seals `pieces` (text, tokens) into batches of `batch_pieces` pieces and chunks of at most
/// `chunk_plaintext` bytes, appends the batches as leaves and checks the transcript bundle, then
/// opens the chunks in order; returns the chunks in their batches and the text opened.
fn round_trip(
    pieces: &[(&str, u32)],
    batch_pieces: usize,
    chunk_plaintext: usize,
    compression: Compression,
) -> (Vec<Vec<Chunk>>, String) {
    let p = parties([6; 32]);
    let mut sealer = AnswerSealer::new(p.server_key, p.context, compression, 0).unwrap();
    let mut batches = Vec::new();
    for group in pieces.chunks(batch_pieces.max(1)) {
        for (text, tokens) in group {
            sealer.push(text, *tokens).unwrap();
        }
        sealer.flush().unwrap();
        let mut batch = Vec::new();
        while sealer.pending_len() > 0 {
            batch.push(sealer.seal_chunk(chunk_plaintext));
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
    }
    batches.push(sealer.finish(FinishReason::Stop, chunk_plaintext).unwrap());
    let posted: u32 = pieces.iter().map(|(_, tokens)| tokens).sum();
    assert_eq!(bundle_of(&batches).settlement.answer_tokens, posted);
    let mut opener = AnswerOpener::new(p.client_key, p.context, compression).unwrap();
    let mut text = String::new();
    for chunk in batches.iter().flatten() {
        text.push_str(&opener.open(chunk).unwrap());
    }
    assert_eq!(opener.finish_reason(), Some(FinishReason::Stop));
    (batches, text)
}

#[test]
fn empty_and_one_token_answers_round_trip() {
    for compression in [Compression::Zstd, Compression::None] {
        let (batches, text) = round_trip(&[], 1, MAX_CHUNK_PLAINTEXT, compression);
        assert_eq!((text.as_str(), batches.len()), ("", 1));
        let (batches, text) = round_trip(&[("Hi", 1)], 1, MAX_CHUNK_PLAINTEXT, compression);
        assert_eq!(text, "Hi");
        let tokens: u32 = batches.iter().flatten().map(|c| u32::from(c.tokens)).sum();
        assert_eq!(tokens, 1);
    }
}

#[test]
fn utf8_split_across_chunks_reassembles() {
    let pieces = [
        ("naïve ", 2),
        ("日本語のテキスト", 5),
        ("🦀🦀", 2),
        (" déjà vu", 3),
    ];
    // Uncompressed with 3-byte chunks: characters split mid-sequence.
    let (batches, text) = round_trip(&pieces, 1, 3, Compression::None);
    assert_eq!(text, "naïve 日本語のテキスト🦀🦀 déjà vu");
    assert!(batches.iter().flatten().count() > 10);
    let (_, text) = round_trip(&pieces, 2, 5, Compression::Zstd);
    assert_eq!(text, "naïve 日本語のテキスト🦀🦀 déjà vu");
}

#[test]
fn chunks_opened_out_of_order_or_after_the_end_are_refused() {
    let (batches, _) = round_trip(
        &[("one ", 1), ("two", 1)],
        1,
        MAX_CHUNK_PLAINTEXT,
        Compression::None,
    );
    let chunks: Vec<&Chunk> = batches.iter().flatten().collect();
    let p = parties([6; 32]);
    let mut opener = AnswerOpener::new(p.client_key, p.context, Compression::None).unwrap();
    assert!(matches!(
        opener.open(chunks[1]),
        Err(AnswerError::OutOfOrder {
            expected: 0,
            found: 1
        })
    ));
    for chunk in &chunks {
        opener.open(chunk).unwrap();
    }
    assert!(matches!(
        opener.open(chunks[0]),
        Err(AnswerError::AfterFinal(0))
    ));
}

/// Words from the prose corpus' vocabulary, one token each with its leading space.
fn prose_tokens(count: usize) -> Vec<(String, u32)> {
    let words = "the chain keeps every answer as a leaf so that anyone can check what was delivered and what it cost while the model writes long careful paragraphs about trees proofs and fees"
        .split(' ')
        .collect::<Vec<_>>();
    (0..count)
        .map(|i| (format!(" {}", words[(i * 7 + i / 13) % words.len()]), 1))
        .collect()
}

#[test]
fn a_100_000_token_answer_seals_batches_verifies_and_opens() {
    let tokens = prose_tokens(100_000);
    let pieces: Vec<(&str, u32)> = tokens.iter().map(|(text, n)| (text.as_str(), *n)).collect();
    let (batches, text) = round_trip(&pieces, 200, 900, Compression::Zstd);
    let expected: String = tokens.iter().map(|(text, _)| text.as_str()).collect();
    assert_eq!(text, expected);
    let plaintext_bytes: usize = batches
        .iter()
        .flatten()
        .map(|c| c.ciphertext.len() - TAG_LEN)
        .sum();
    assert!(
        plaintext_bytes * 2 < expected.len(),
        "zstd shrinks prose: {plaintext_bytes} of {}",
        expected.len()
    );

    // Chunks → batches → leaves of a tree → a bundle that verifies offline (in round_trip).
    let bundle = bundle_of(&batches);
    let verified = verify(&bundle).expect("the bundle verifies");
    assert_eq!((verified.answer_tokens, verified.bill), (100_000, 100_010));
}

#[test]
fn a_resumed_provider_starts_a_new_stream_the_client_follows() {
    let p = parties([6; 32]);
    let mut first = AnswerSealer::new(p.server_key, p.context, Compression::Zstd, 0).unwrap();
    first
        .push("The first part, posted before the crash. ", 8)
        .unwrap();
    first.flush().unwrap();
    let mut chunks = vec![first.seal_chunk(MAX_CHUNK_PLAINTEXT)];
    // Crash: the first stream is never finished. A new sealer goes on from the next sequence.
    let next = first.next_seq();
    drop(first);
    let mut resumed = AnswerSealer::new(p.server_key, p.context, Compression::Zstd, next).unwrap();
    resumed.push("And the rest, after the restart.", 6).unwrap();
    chunks.extend(
        resumed
            .finish(FinishReason::Stop, MAX_CHUNK_PLAINTEXT)
            .unwrap(),
    );
    let mut opener = AnswerOpener::new(p.client_key, p.context, Compression::Zstd).unwrap();
    let text: String = chunks
        .iter()
        .map(|chunk| opener.open(chunk).unwrap())
        .collect();
    assert_eq!(
        text,
        "The first part, posted before the crash. And the rest, after the restart."
    );
}

/// A zstd frame of RLE blocks, four bytes each that decode to 128 KiB of `a`: about 128 KiB
/// of stream per 4 GiB of text.
fn zstd_bomb(text_bytes: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    // Magic number; no content size, not single-segment; window 2^(10 + 7) = 128 KiB.
    let mut stream = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let blocks = text_bytes / BLOCK;
    for index in 0..blocks {
        let last = u64::from(index + 1 == blocks);
        let header = (BLOCK << 3) | (1 << 1) | last; // size, RLE, last
        stream.extend_from_slice(&header.to_le_bytes()[..3]);
        stream.push(b'a');
    }
    stream
}

/// A brotli stream of `text_bytes` of `a`.
fn brotli_bomb(text_bytes: u64) -> Vec<u8> {
    use std::io::Write as _;
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 1 << 16, 5, 24);
    std::io::copy(
        &mut std::io::Read::take(std::io::repeat(b'a'), text_bytes),
        &mut writer,
    )
    .unwrap();
    writer.flush().unwrap();
    writer.into_inner()
}

/// `stream` sealed as an answer's chunks (no tokens, none final), as a server may send them.
fn sealed_stream(p: &Parties, stream: &[u8]) -> Vec<Chunk> {
    stream
        .chunks(MAX_CHUNK_PLAINTEXT)
        .enumerate()
        .map(|(index, piece)| {
            let seq = index as u32;
            let mut plaintext = vec![if index == 0 { NEW_STREAM } else { 0 }];
            plaintext.extend_from_slice(piece);
            let header = ChunkHeader {
                direction: Direction::Response,
                seq,
                finish: None,
            };
            let (nonce, ciphertext) = seal(&p.server_key, &p.context, &header, &plaintext);
            Chunk {
                seq,
                tokens: 0,
                is_final: false,
                nonce,
                ciphertext,
            }
        })
        .collect()
}

/// A server seals a small stream that decompresses to gigabytes: the client refuses it once
/// the text passes what any answer can be, instead of holding it all.
#[test]
fn a_decompression_bomb_is_refused_before_it_fills_memory() {
    let p = parties([5; 32]);
    let mut failures = Vec::new();
    for (compression, stream) in [
        (Compression::Zstd, zstd_bomb(4 << 30)),
        (Compression::Brotli, brotli_bomb(256 << 20)),
    ] {
        let mut opener = AnswerOpener::new(p.client_key, p.context, compression).unwrap();
        let mut opened = 0usize;
        let mut refused = None;
        for chunk in sealed_stream(&p, &stream) {
            match opener.open(&chunk) {
                Ok(text) => opened += text.len(),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        match refused {
            Some(AnswerError::Envelope(EnvelopeError::TextOverLimit {
                limit: MAX_ANSWER_TEXT,
            })) if opened <= MAX_ANSWER_TEXT => {}
            refused => failures.push(format!(
                "{compression:?}: a {} KiB stream was opened into {} MiB of text ({refused:?})",
                stream.len() >> 10,
                opened >> 20
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An answer is bounded by its request's tokens too: a request of 100 tokens takes at most
/// 100 × [`MAX_TEXT_BYTES_PER_TOKEN`] bytes of text, and an honest answer within it opens.
#[test]
fn the_request_s_tokens_bound_its_answer_s_text() {
    let p = parties([4; 32]);
    let limit = 100 * MAX_TEXT_BYTES_PER_TOKEN;
    let stream = zstd_bomb(1 << 20);
    let mut opener = AnswerOpener::new(p.client_key, p.context, Compression::Zstd)
        .unwrap()
        .with_token_limit(100);
    let refused = sealed_stream(&p, &stream)
        .iter()
        .map(|chunk| opener.open(chunk))
        .find_map(Result::err);
    assert!(
        matches!(
            refused,
            Some(AnswerError::Envelope(EnvelopeError::TextOverLimit { limit: l })) if l == limit
        ),
        "{refused:?}"
    );
    let text = "word ".repeat(limit / 5);
    let (batches, opened) =
        round_trip(&[(&text, 100)], 1, MAX_CHUNK_PLAINTEXT, Compression::Brotli);
    assert_eq!(opened, text);
    let sealed_by = parties([6; 32]); // round_trip's
    let mut opener =
        AnswerOpener::new(sealed_by.client_key, sealed_by.context, Compression::Brotli)
            .unwrap()
            .with_token_limit(100);
    let reopened: String = batches
        .iter()
        .flatten()
        .map(|chunk| opener.open(chunk).unwrap())
        .collect();
    assert_eq!(reopened, text);
}
