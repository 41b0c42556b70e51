//! Verifying a 100,000-token transcript bundle offline (goal: under 1 s on our 2-core machine).
//!
//! The bundle is shaped like a real one at the worst case for the verifier: uncompressed text
//! (about 4.2 bytes a token, so 420 KB), one 853-byte chunk per filled v0 append (492 batches
//! in a tree of depth 24 shared with other requests). Run: `cargo bench -p chainference-prover`.

use chainference_prover::bundle::*;
use chainference_prover::core::{bill_for, fee_for, ResponseCursor};
use chainference_prover::tree::TreeMirror;
use chainference_prover::verify::verify;
use criterion::{criterion_group, criterion_main, Criterion};

fn bundle_of(tokens: u32, chunk_len: usize, bytes_per_token: f64) -> Bundle {
    let request = [7u8; 32];
    let text_bytes = (f64::from(tokens) * bytes_per_token) as usize;
    let chunks = text_bytes.div_ceil(chunk_len) as u32;
    let mut cursor = ResponseCursor::new();
    let mut tree = TreeMirror::new(24);
    let mut batches = Vec::new();
    let mut left = tokens;
    for seq in 0..chunks {
        tree.append([seq as u8; 32]).expect("room"); // another request's leaf between ours
        let share = if seq + 1 == chunks {
            left
        } else {
            tokens / chunks
        };
        left -= share;
        let chunk = Chunk {
            seq,
            tokens: share as u16,
            is_final: seq + 1 == chunks,
            nonce: [seq as u8; 24],
            ciphertext: (0..chunk_len).map(|i| (i as u32 ^ seq) as u8).collect(),
        };
        let applied = cursor
            .apply(&request, tokens, &[chunk.as_ref()])
            .expect("valid");
        let appended = tree.append(applied.leaf).expect("room");
        batches.push(BundleBatch {
            signature: format!("{seq:088}"),
            slot: u64::from(seq),
            leaf_index: appended.leaf_index,
            root: appended.root,
            proof: appended.proof,
            chunks: vec![chunk],
        });
    }
    let terms = BundleTerms {
        model: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
        prompt_tokens: 200,
        max_output_tokens: tokens,
        stake: u64::MAX,
        input_price: 1_000_000,
        output_price: 2_000_000,
        fee_bps: 100,
        direct: false,
    };
    let bill = bill_for(200, 1_000_000, cursor.tokens, 2_000_000).expect("fits");
    Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        program_id: [1; 32],
        genesis_hash: [2; 32],
        request,
        client: [3; 32],
        server: [4; 32],
        tree: [5; 32],
        terms,
        batches,
        chain: cursor.chain,
        settlement: BundleSettlement {
            answer_tokens: cursor.tokens,
            bill,
            fee: fee_for(bill, 100),
        },
        acknowledgement: None,
    }
}

fn bench(c: &mut Criterion) {
    let bundle = bundle_of(100_000, 853, 4.2);
    let json = bundle.to_json();
    println!(
        "100,000-token bundle: {} batches, {} KB of JSON",
        bundle.batches.len(),
        json.len() / 1_024
    );
    let mut group = c.benchmark_group("verify 100,000-token bundle");
    group.sample_size(10);
    group.bench_function("verify", |b| b.iter(|| verify(&bundle).expect("honest")));
    group.bench_function("parse JSON + verify", |b| {
        b.iter(|| verify(&Bundle::from_json(&json).expect("parses")).expect("honest"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
