//! Transcript bundles: an honest one verifies; any tampering never does, and each failure is
//! named.

use chainference_prover::bundle::*;
use chainference_prover::core::{bill_for, fee_for, ResponseCursor};
use chainference_prover::tree::TreeMirror;
use chainference_prover::verify::{verify, VerifyError};
use proptest::prelude::*;

const REQUEST: [u8; 32] = [7; 32];

/// An honest bundle of batches of the given sizes, each chunk 3 tokens, built the way the
/// program builds the chain (with leaves of other requests between ours, as on a shared tree).
fn honest(batch_sizes: &[u32]) -> Bundle {
    let terms = BundleTerms {
        model: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
        prompt_tokens: 40,
        max_output_tokens: 1_000,
        stake: 1_000_000,
        input_price: 2_000_000,
        output_price: 5_000_000,
        fee_bps: 250,
        direct: false,
    };
    let mut tree = TreeMirror::new(14);
    let mut cursor = ResponseCursor::new();
    let mut batches = Vec::new();
    let count = batch_sizes.len();
    for (b, &size) in batch_sizes.iter().enumerate() {
        tree.append([b as u8 + 100; 32]).expect("room"); // another request's leaf
        let first = cursor.next_seq;
        let chunks: Vec<Chunk> = (first..first + size)
            .map(|seq| Chunk {
                seq,
                tokens: 3,
                is_final: b + 1 == count && seq + 1 == first + size,
                nonce: [seq as u8; 24],
                ciphertext: format!("ciphertext of chunk {seq}").into_bytes(),
            })
            .collect();
        let views: Vec<_> = chunks.iter().map(Chunk::as_ref).collect();
        let applied = cursor
            .apply(&REQUEST, terms.max_output_tokens, &views)
            .expect("honest batch");
        let appended = tree.append(applied.leaf).expect("room");
        batches.push(BundleBatch {
            signature: format!("sig{b}"),
            slot: 10 + b as u64,
            leaf_index: appended.leaf_index,
            root: appended.root,
            proof: appended.proof,
            chunks,
        });
    }
    let bill = bill_for(
        terms.prompt_tokens,
        terms.input_price,
        cursor.tokens,
        terms.output_price,
    )
    .unwrap();
    Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        program_id: [1; 32],
        genesis_hash: [2; 32],
        request: REQUEST,
        client: [3; 32],
        server: [4; 32],
        tree: [5; 32],
        settlement: BundleSettlement {
            answer_tokens: cursor.tokens,
            bill,
            fee: fee_for(bill, terms.fee_bps),
        },
        acknowledgement: None,
        terms,
        batches,
        chain: cursor.chain,
    }
}

#[test]
fn an_honest_bundle_verifies_and_survives_json() {
    let bundle = honest(&[3, 1, 4]);
    let verified = verify(&bundle).expect("honest");
    assert_eq!(
        (verified.chunks, verified.batches, verified.answer_tokens),
        (8, 3, 24)
    );
    let reread = Bundle::from_json(&bundle.to_json()).expect("JSON round trip");
    assert_eq!(reread, bundle);
    assert_eq!(verify(&reread), Ok(verified));
}

/// Where `bundle`'s acknowledgements are signed.
fn scope_of(bundle: &Bundle) -> chainference_prover::core::Scope {
    chainference_prover::core::Scope {
        program: bundle.program_id,
        cluster: bundle.genesis_hash,
        request: bundle.request,
    }
}

/// `bundle` as a direct answer whose client (`key`) acknowledged its first `through` batches
/// (the server posted their roots alone and billed on that acknowledgement).
fn acknowledged(mut bundle: Bundle, key: &ed25519_dalek::SigningKey, through: usize) -> Bundle {
    use ed25519_dalek::Signer as _;
    bundle.client = key.verifying_key().to_bytes();
    bundle.terms.direct = true;
    bundle.batches.truncate(through);
    let mut cursor = ResponseCursor::new();
    for batch in &bundle.batches {
        let views: Vec<_> = batch.chunks.iter().map(Chunk::as_ref).collect();
        cursor.apply(&REQUEST, 1_000, &views).expect("honest");
    }
    bundle.chain = cursor.chain;
    let ack = chainference_prover::core::Acknowledgement {
        next_seq: cursor.next_seq,
        tokens: cursor.tokens,
        chain: cursor.chain,
    };
    let signature = key.sign(&ack.message(&scope_of(&bundle))).to_bytes();
    bundle.acknowledgement = Some(BundleAck {
        next_seq: ack.next_seq,
        tokens: ack.tokens,
        chain: ack.chain,
        signature,
    });
    let terms = &bundle.terms;
    let bill = bill_for(
        terms.prompt_tokens,
        terms.input_price,
        ack.tokens,
        terms.output_price,
    )
    .unwrap();
    bundle.settlement = BundleSettlement {
        answer_tokens: ack.tokens,
        bill,
        fee: fee_for(bill, terms.fee_bps),
    };
    bundle
}

#[test]
fn a_direct_bundle_bills_its_acknowledgement_and_nothing_else() {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    // Acknowledged whole, or up to its first batch: both verify, billed as acknowledged.
    let whole = acknowledged(honest(&[3, 2]), &key, 2);
    assert_eq!(verify(&whole).expect("verifies").answer_tokens, 15);
    let partial = acknowledged(honest(&[3, 2]), &key, 1);
    assert_eq!(verify(&partial).expect("verifies").answer_tokens, 9);
    let json = partial.to_json();
    assert_eq!(Bundle::from_json(&json).expect("parses"), partial);

    // Another key's signature, a bill over the acknowledgement, an acknowledgement of less than
    // the roots commit to, or of a point no batch ends at: each named.
    let other = ed25519_dalek::SigningKey::from_bytes(&[10; 32]);
    let mut forged = acknowledged(honest(&[3, 2]), &other, 2);
    forged.client = whole.client;
    assert_eq!(verify(&forged), Err(VerifyError::AcknowledgementForged));
    let mut overbilled = partial.clone();
    overbilled.settlement.answer_tokens = 15;
    assert!(matches!(
        verify(&overbilled),
        Err(VerifyError::TokensMismatch {
            billed: 15,
            posted: 9
        })
    ));
    let mut moved = partial.clone();
    if let Some(ack) = &mut moved.acknowledgement {
        ack.tokens += 3;
    }
    assert_eq!(verify(&moved), Err(VerifyError::AcknowledgementForged));
    let mut elsewhere = whole.clone();
    elsewhere.genesis_hash = [4; 32];
    assert_eq!(verify(&elsewhere), Err(VerifyError::AcknowledgementForged));
    let mut short = acknowledged(honest(&[3, 2]), &key, 2);
    short.acknowledgement = partial.acknowledgement;
    short.settlement = partial.settlement;
    assert_eq!(
        verify(&short),
        Err(VerifyError::AcknowledgementOffTranscript {
            next_seq: 3,
            tokens: 9
        })
    );
    let off = {
        use ed25519_dalek::Signer as _;
        let mut off = whole.clone();
        let ack = chainference_prover::core::Acknowledgement {
            next_seq: 4,
            tokens: 12,
            chain: [0; 32],
        };
        off.acknowledgement = Some(BundleAck {
            next_seq: 4,
            tokens: 12,
            chain: [0; 32],
            signature: key.sign(&ack.message(&scope_of(&whole))).to_bytes(),
        });
        off
    };
    assert_eq!(
        verify(&off),
        Err(VerifyError::AcknowledgementOffTranscript {
            next_seq: 4,
            tokens: 12
        })
    );
}

#[test]
fn a_direct_answer_nobody_acknowledged_bills_the_prompt_and_has_no_roots() {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut unacknowledged = acknowledged(honest(&[3, 2]), &key, 0);
    unacknowledged.acknowledgement = None;
    let verified = verify(&unacknowledged).expect("verifies");
    assert_eq!((verified.answer_tokens, verified.batches), (0, 0));
    let mut rooted = acknowledged(honest(&[3, 2]), &key, 1);
    rooted.acknowledgement = None;
    assert_eq!(verify(&rooted), Err(VerifyError::AcknowledgementMissing));
}

#[test]
fn each_failure_is_named() {
    let bundle = honest(&[2, 2]);
    let mut cut = honest(&[2, 2]);
    cut.batches.pop();
    cut.chain = {
        let mut c = ResponseCursor::new();
        let views: Vec<_> = cut.batches[0].chunks.iter().map(Chunk::as_ref).collect();
        c.apply(&REQUEST, 1_000, &views).unwrap();
        c.chain
    };
    assert_eq!(verify(&cut), Err(VerifyError::FinalChunkMissing));

    let mut overbilled = bundle.clone();
    overbilled.settlement.bill += 1;
    assert!(matches!(
        verify(&overbilled),
        Err(VerifyError::BillMismatch { .. })
    ));
    let mut more_tokens = bundle.clone();
    more_tokens.settlement.answer_tokens += 1;
    assert_eq!(
        verify(&more_tokens),
        Err(VerifyError::TokensMismatch {
            billed: 13,
            posted: 12
        })
    );
    let mut fee = bundle.clone();
    fee.settlement.fee += 1;
    assert!(matches!(verify(&fee), Err(VerifyError::FeeMismatch { .. })));
    let mut other_root = bundle.clone();
    other_root.batches[1].root = honest(&[2, 3]).batches[1].root;
    assert!(matches!(
        verify(&other_root),
        Err(VerifyError::LeafNotInRoot { batch: 1, .. })
    ));
    let mut chain = bundle.clone();
    chain.chain[0] ^= 1;
    assert_eq!(verify(&chain), Err(VerifyError::ChainMismatch));
    let mut version = bundle;
    version.version = 2;
    assert!(matches!(
        verify(&version),
        Err(VerifyError::UnsupportedFormat { .. })
    ));
}

/// One way to tamper with a bundle. Indices are taken modulo what exists.
#[derive(Clone, Debug)]
enum Tamper {
    CiphertextByte {
        batch: usize,
        chunk: usize,
        byte: usize,
        xor: u8,
    },
    NonceByte {
        batch: usize,
        chunk: usize,
        byte: usize,
        xor: u8,
    },
    Seq {
        batch: usize,
        chunk: usize,
        delta: u32,
    },
    Tokens {
        batch: usize,
        chunk: usize,
        delta: u16,
    },
    FlipFinal {
        batch: usize,
        chunk: usize,
    },
    DropChunk {
        batch: usize,
        chunk: usize,
    },
    DuplicateChunk {
        batch: usize,
        chunk: usize,
    },
    SwapChunks {
        batch: usize,
        a: usize,
        b: usize,
    },
    MoveChunk {
        from: usize,
        to: usize,
    },
    DropBatch {
        batch: usize,
    },
    SwapBatches {
        a: usize,
        b: usize,
    },
    RootByte {
        batch: usize,
        byte: usize,
        xor: u8,
    },
    ProofByte {
        batch: usize,
        level: usize,
        byte: usize,
        xor: u8,
    },
    DropProofLevel {
        batch: usize,
    },
    LeafIndex {
        batch: usize,
        delta: u32,
    },
    ChainByte {
        byte: usize,
        xor: u8,
    },
    AnswerTokens {
        delta: u32,
    },
    Bill {
        delta: u64,
    },
    Fee {
        delta: u64,
    },
    Prices {
        input: u64,
        output: u64,
    },
    PromptTokens {
        delta: u32,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let (i, xor, delta) = (0..64usize, 1..=255u8, 1..1_000u32);
    prop_oneof![
        (i.clone(), i.clone(), i.clone(), xor.clone()).prop_map(|(batch, chunk, byte, xor)| {
            Tamper::CiphertextByte {
                batch,
                chunk,
                byte,
                xor,
            }
        }),
        (i.clone(), i.clone(), 0..24usize, xor.clone()).prop_map(|(batch, chunk, byte, xor)| {
            Tamper::NonceByte {
                batch,
                chunk,
                byte,
                xor,
            }
        }),
        (i.clone(), i.clone(), delta.clone()).prop_map(|(batch, chunk, delta)| Tamper::Seq {
            batch,
            chunk,
            delta
        }),
        (i.clone(), i.clone(), 1..100u16).prop_map(|(batch, chunk, delta)| Tamper::Tokens {
            batch,
            chunk,
            delta
        }),
        (i.clone(), i.clone()).prop_map(|(batch, chunk)| Tamper::FlipFinal { batch, chunk }),
        (i.clone(), i.clone()).prop_map(|(batch, chunk)| Tamper::DropChunk { batch, chunk }),
        (i.clone(), i.clone()).prop_map(|(batch, chunk)| Tamper::DuplicateChunk { batch, chunk }),
        (i.clone(), i.clone(), i.clone()).prop_map(|(batch, a, b)| Tamper::SwapChunks {
            batch,
            a,
            b
        }),
        (i.clone(), i.clone()).prop_map(|(from, to)| Tamper::MoveChunk { from, to }),
        i.clone().prop_map(|batch| Tamper::DropBatch { batch }),
        (i.clone(), i.clone()).prop_map(|(a, b)| Tamper::SwapBatches { a, b }),
        (i.clone(), 0..32usize, xor.clone()).prop_map(|(batch, byte, xor)| Tamper::RootByte {
            batch,
            byte,
            xor
        }),
        (i.clone(), i.clone(), 0..32usize, xor.clone()).prop_map(|(batch, level, byte, xor)| {
            Tamper::ProofByte {
                batch,
                level,
                byte,
                xor,
            }
        }),
        i.clone().prop_map(|batch| Tamper::DropProofLevel { batch }),
        (i.clone(), delta.clone()).prop_map(|(batch, delta)| Tamper::LeafIndex { batch, delta }),
        (0..32usize, xor).prop_map(|(byte, xor)| Tamper::ChainByte { byte, xor }),
        delta
            .clone()
            .prop_map(|delta| Tamper::AnswerTokens { delta }),
        (1..1_000u64).prop_map(|delta| Tamper::Bill { delta }),
        (1..1_000u64).prop_map(|delta| Tamper::Fee { delta }),
        (0..10_000_000u64, 0..10_000_000u64)
            .prop_map(|(input, output)| Tamper::Prices { input, output }),
        delta.prop_map(|delta| Tamper::PromptTokens { delta }),
    ]
}

fn batch_mut(bundle: &mut Bundle, batch: usize) -> Option<&mut BundleBatch> {
    let n = bundle.batches.len();
    bundle.batches.get_mut(batch % n.max(1))
}

fn chunk_mut(bundle: &mut Bundle, batch: usize, chunk: usize) -> Option<&mut Chunk> {
    let b = batch_mut(bundle, batch)?;
    let n = b.chunks.len();
    b.chunks.get_mut(chunk % n.max(1))
}

/// Applies `tamper`; one that finds nothing to change changes nothing.
fn apply(bundle: &mut Bundle, tamper: &Tamper) -> Option<()> {
    match *tamper {
        Tamper::CiphertextByte {
            batch,
            chunk,
            byte,
            xor,
        } => {
            let text = &mut chunk_mut(bundle, batch, chunk)?.ciphertext;
            let n = text.len();
            *text.get_mut(byte % n.max(1))? ^= xor;
        }
        Tamper::NonceByte {
            batch,
            chunk,
            byte,
            xor,
        } => chunk_mut(bundle, batch, chunk)?.nonce[byte] ^= xor,
        Tamper::Seq {
            batch,
            chunk,
            delta,
        } => {
            let c = chunk_mut(bundle, batch, chunk)?;
            c.seq = c.seq.wrapping_add(delta);
        }
        Tamper::Tokens {
            batch,
            chunk,
            delta,
        } => {
            let c = chunk_mut(bundle, batch, chunk)?;
            c.tokens = c.tokens.wrapping_add(delta);
        }
        Tamper::FlipFinal { batch, chunk } => chunk_mut(bundle, batch, chunk)?.is_final ^= true,
        Tamper::DropChunk { batch, chunk } => {
            let b = batch_mut(bundle, batch)?;
            let n = b.chunks.len();
            (n > 0).then(|| b.chunks.remove(chunk % n))?;
        }
        Tamper::DuplicateChunk { batch, chunk } => {
            let copy = chunk_mut(bundle, batch, chunk)?.clone();
            let b = batch_mut(bundle, batch)?;
            let at = chunk % b.chunks.len();
            b.chunks.insert(at, copy);
        }
        Tamper::SwapChunks { batch, a, b: other } => {
            let b = batch_mut(bundle, batch)?;
            let n = b.chunks.len().max(1);
            (b.chunks.len() > 1).then(|| b.chunks.swap(a % n, other % n))?;
        }
        Tamper::MoveChunk { from, to } => {
            let chunk = batch_mut(bundle, from)?.chunks.pop()?;
            batch_mut(bundle, to)?.chunks.push(chunk);
        }
        Tamper::DropBatch { batch } => {
            let n = bundle.batches.len();
            (n > 0).then(|| bundle.batches.remove(batch % n))?;
        }
        Tamper::SwapBatches { a, b } => {
            let n = bundle.batches.len();
            (n > 1).then(|| bundle.batches.swap(a % n, b % n))?;
        }
        Tamper::RootByte { batch, byte, xor } => batch_mut(bundle, batch)?.root[byte] ^= xor,
        Tamper::ProofByte {
            batch,
            level,
            byte,
            xor,
        } => {
            let proof = &mut batch_mut(bundle, batch)?.proof;
            let n = proof.len();
            proof.get_mut(level % n.max(1))?[byte] ^= xor;
        }
        Tamper::DropProofLevel { batch } => {
            batch_mut(bundle, batch)?.proof.pop()?;
        }
        Tamper::LeafIndex { batch, delta } => {
            let b = batch_mut(bundle, batch)?;
            b.leaf_index = b.leaf_index.wrapping_add(delta);
        }
        Tamper::ChainByte { byte, xor } => bundle.chain[byte] ^= xor,
        Tamper::AnswerTokens { delta } => {
            bundle.settlement.answer_tokens = bundle.settlement.answer_tokens.wrapping_add(delta)
        }
        Tamper::Bill { delta } => {
            bundle.settlement.bill = bundle.settlement.bill.wrapping_add(delta)
        }
        Tamper::Fee { delta } => bundle.settlement.fee = bundle.settlement.fee.wrapping_add(delta),
        Tamper::Prices { input, output } => {
            bundle.terms.input_price = input;
            bundle.terms.output_price = output;
        }
        Tamper::PromptTokens { delta } => {
            bundle.terms.prompt_tokens = bundle.terms.prompt_tokens.wrapping_add(delta)
        }
    }
    Some(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_global_rejects: cases(), ..ProptestConfig::default() })]

    /// Flips, drops, duplicates, reorders and swaps of chunks, nonces, leaves, proofs, roots,
    /// counts and final flags, one to three at a time: none is ever accepted.
    #[test]
    fn a_tampered_bundle_never_verifies(
        sizes in prop::collection::vec(1u32..6, 1..5),
        tampers in prop::collection::vec(tamper(), 1..4),
    ) {
        let original = honest(&sizes);
        prop_assert!(verify(&original).is_ok());
        let mut tampered = original.clone();
        for t in &tampers {
            apply(&mut tampered, t);
        }
        // A tamper that changed nothing (a swap of a thing with itself, prices set to the
        // same value) is not a tamper.
        prop_assume!(tampered != original);
        // The terms (prices, prompt tokens) are bound to the chain, not to the bundle: they are
        // checked against the Request account by `audit --check-chain`. Offline, terms changed
        // so that they imply the very bill settled are consistent, and not a tamper.
        let terms_only = tampered.batches == original.batches
            && tampered.settlement == original.settlement
            && tampered.chain == original.chain;
        let same_bill = bill_for(
            tampered.terms.prompt_tokens,
            tampered.terms.input_price,
            original.settlement.answer_tokens,
            tampered.terms.output_price,
        )
        .map(|bill| bill.min(tampered.terms.stake))
            == Some(original.settlement.bill);
        prop_assume!(!(terms_only && same_bill));
        prop_assert!(verify(&tampered).is_err(), "accepted after {:?}", tampers);
    }
}
