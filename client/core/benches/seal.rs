//! Throughput of the provider's pipeline: text → brotli or zstd → XChaCha20-Poly1305 → chunks
//! packed into filled v0 transactions, in MB of answer text a second. Run: `cargo bench -p
//! chainference-client`.

use anchor_lang::prelude::Pubkey;
use chainference_client_core::answer::AnswerSealer;
use chainference_client_core::batcher::{pack, PendingAnswer, TxShape};
use chainference_client_core::envelope::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// About 1 MB of English-like prose from a fixed vocabulary and a fixed pseudo-random walk.
fn prose() -> Vec<String> {
    let words: Vec<&str> = "the a of and to in is was that it for on with as by at from this be are or which an not but had have they were their one all there has been more when would who will no if out so said what up its about than into them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three"
        .split(' ')
        .collect();
    let mut state = 1u64;
    (0..240_000)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let word = words[(state >> 33) as usize % words.len()];
            if i % 17 == 16 {
                format!("{word}. ")
            } else {
                format!("{word} ")
            }
        })
        .collect()
}

/// Tokens between flushes: 20 s of generation at 30 tokens a second (design §9).
const TOKENS_PER_FLUSH: usize = 600;

fn seal_all(tokens: &[String], compression: Compression) -> usize {
    let context = KeyContext {
        genesis_hash: [1; 32],
        program_id: [2; 32],
        request: [3; 32],
    };
    let key = session_key(
        &x25519_dalek::StaticSecret::from([4; 32]),
        &x25519_dalek::PublicKey::from([9; 32]),
        &x25519_dalek::PublicKey::from([5; 32]),
        &x25519_dalek::PublicKey::from([9; 32]),
        &context,
    )
    .expect("a contributory key");
    let mut sealer = AnswerSealer::new(key, context, compression, 0).expect("sealer");
    let shape = TxShape {
        versioned: true,
        compute_unit_limit: true,
        compute_unit_price: true,
    };
    let (request, tree) = (
        Pubkey::new_from_array([3; 32]),
        Pubkey::new_from_array([6; 32]),
    );
    let mut transactions = 0;
    for (i, batch) in tokens.chunks(TOKENS_PER_FLUSH).enumerate() {
        for token in batch {
            sealer.push(token, 1).expect("push");
        }
        sealer.flush().expect("flush");
        let last = (i + 1) * TOKENS_PER_FLUSH >= tokens.len();
        loop {
            let finish = last.then_some(FinishReason::Stop);
            let mut pending = [PendingAnswer {
                request,
                tree,
                sealer: &mut sealer,
                finish,
            }];
            let packed = pack(&shape, &mut pending).expect("pack");
            if packed.is_empty() {
                break;
            }
            transactions += 1;
            if sealer.is_finished() || (!last && sealer.pending_len() == 0) {
                break;
            }
        }
    }
    transactions
}

fn bench(c: &mut Criterion) {
    let tokens = prose();
    let bytes: usize = tokens.iter().map(String::len).sum();
    let mut group = c.benchmark_group("compress + encrypt + batch");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    for compression in [Compression::Brotli, Compression::Zstd, Compression::None] {
        println!(
            "{compression:?}: {} KB of text in {} transactions",
            bytes / 1_024,
            seal_all(&tokens, compression)
        );
        group.bench_function(format!("{compression:?}"), |b| {
            b.iter(|| seal_all(&tokens, compression))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
