//! The batcher's size model against real serialized transactions, and packing that fills
//! transactions to the byte without ever going over.

use anchor_lang::prelude::Pubkey;
use chainference::compression::{COMPRESSION_PROGRAM_ID, NOOP_PROGRAM_ID};
use chainference::constants::TREE_AUTHORITY;
use chainference_client_core::answer::{AnswerOpener, AnswerSealer};
use chainference_client_core::batcher::*;
use chainference_client_core::envelope::*;
use chainference_client_core::instructions::*;
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{batch_root, NONCE_LEN};
use proptest::prelude::*;
use solana_keypair::Keypair;
use solana_message::AddressLookupTableAccount;
use solana_message::{v0, Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use x25519_dalek::PublicKey;

/// Serializes the real transaction the operator would send for `appends`.
fn serialized_len(
    shape: &TxShape,
    operator: &Keypair,
    appends: &[(Pubkey, Pubkey, Vec<Chunk>)],
) -> usize {
    let mut instructions = Vec::new();
    if shape.compute_unit_limit {
        instructions.push(set_compute_unit_limit(200_000));
    }
    if shape.compute_unit_price {
        instructions.push(set_compute_unit_price(1_000));
    }
    for (request, tree, chunks) in appends {
        let hashes: Vec<_> = chunks
            .iter()
            .map(|chunk| chunk.hash(&request.to_bytes()))
            .collect();
        let root = batch_root(&hashes).unwrap_or_default();
        instructions.push(append_batch(
            &operator.pubkey(),
            request,
            tree,
            root,
            chunks,
        ));
    }
    let blockhash = solana_hash::Hash::new_from_array([9; 32]);
    let message = if shape.versioned {
        let mut addresses = vec![TREE_AUTHORITY, COMPRESSION_PROGRAM_ID, NOOP_PROGRAM_ID];
        addresses.extend(appends.iter().map(|(_, tree, _)| *tree));
        let table = AddressLookupTableAccount {
            key: Pubkey::new_from_array([7; 32]),
            addresses,
        };
        VersionedMessage::V0(
            v0::Message::try_compile(&operator.pubkey(), &instructions, &[table], blockhash)
                .unwrap(),
        )
    } else {
        VersionedMessage::Legacy(Message::new_with_blockhash(
            &instructions,
            Some(&operator.pubkey()),
            &blockhash,
        ))
    };
    let transaction = VersionedTransaction::try_new(message, &[operator]).unwrap();
    bincode::serialize(&transaction).unwrap().len()
}

fn chunk(seq: u32, len: usize) -> Chunk {
    Chunk {
        seq,
        tokens: 1,
        is_final: false,
        nonce: [1; NONCE_LEN],
        ciphertext: vec![0xab; len],
    }
}

fn shape_strategy() -> impl Strategy<Value = TxShape> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(versioned, compute_unit_limit, compute_unit_price)| TxShape {
            versioned,
            compute_unit_limit,
            compute_unit_price,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_size_model_is_exact(
        shape in shape_strategy(),
        appends in prop::collection::vec((any::<bool>(), prop::collection::vec(0usize..1_100, 1..5)), 1..4),
    ) {
        let operator = Keypair::new();
        let shared_tree = Pubkey::new_unique();
        let real: Vec<(Pubkey, Pubkey, Vec<Chunk>)> = appends
            .iter()
            .map(|(own_tree, lens)| {
                let tree = if *own_tree { Pubkey::new_unique() } else { shared_tree };
                (Pubkey::new_unique(), tree, lens.iter().enumerate().map(|(i, len)| chunk(i as u32, *len)).collect())
            })
            .collect();
        let model: Vec<AppendShape> = real
            .iter()
            .map(|(_, tree, chunks)| AppendShape { tree: *tree, chunk_lens: chunks.iter().map(|c| c.ciphertext.len()).collect() })
            .collect();
        prop_assert_eq!(shape.size(&model), serialized_len(&shape, &operator, &real));
    }
}

struct Answer {
    request: Pubkey,
    tree: Pubkey,
    sealer: AnswerSealer,
    key: SessionKey,
    context: KeyContext,
    text: String,
}

fn answer(request: Pubkey, tree: Pubkey, words: usize) -> Answer {
    let context = KeyContext {
        genesis_hash: [1; 32],
        program_id: chainference::ID.to_bytes(),
        request: request.to_bytes(),
    };
    let (_, key) = server_session(&[3; 32], &PublicKey::from([2; 32]), &context).unwrap();
    let mut sealer = AnswerSealer::new(key, context, Compression::Zstd, 0).unwrap();
    let mut text = String::new();
    let mut state = request.to_bytes()[0] as u64 + 1;
    for _ in 0..words {
        // A pseudo-random word of 2 to 9 letters: text zstd cannot shrink much.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let letters = 2 + (state >> 60) as usize % 8;
        let word: String = std::iter::once(' ')
            .chain((0..letters).map(|i| (b'a' + ((state >> (i * 5)) % 26) as u8) as char))
            .collect();
        sealer.push(&word, 1).unwrap();
        text.push_str(&word);
    }
    sealer.flush().unwrap();
    Answer {
        request,
        tree,
        sealer,
        key,
        context,
        text,
    }
}

#[test]
fn packed_transactions_are_full_never_over_and_open_back() {
    for shape in [
        TxShape {
            versioned: true,
            compute_unit_limit: true,
            compute_unit_price: true,
        },
        TxShape {
            versioned: true,
            compute_unit_limit: false,
            compute_unit_price: false,
        },
        TxShape {
            versioned: false,
            compute_unit_limit: true,
            compute_unit_price: true,
        },
    ] {
        let operator = Keypair::new();
        let tree = Pubkey::new_unique();
        let mut answers: Vec<Answer> = (0..3)
            .map(|i| answer(Pubkey::new_unique(), tree, 2_000 + 1_500 * i))
            .collect();
        let mut posted: Vec<Vec<Chunk>> = vec![Vec::new(); answers.len()];
        let mut single_request_fills = Vec::new();
        while posted
            .iter()
            .any(|chunks| !chunks.last().is_some_and(|c| c.is_final))
        {
            let mut pending: Vec<PendingAnswer> = answers
                .iter_mut()
                .map(|a| PendingAnswer {
                    request: a.request,
                    tree: a.tree,
                    sealer: &mut a.sealer,
                    finish: Some(FinishReason::Stop),
                })
                .collect();
            let packed = pack(&shape, &mut pending).unwrap();
            assert!(!packed.is_empty(), "progress every transaction");
            let real: Vec<_> = packed
                .iter()
                .map(|p| (p.request, p.tree, p.chunks.clone()))
                .collect();
            let size = serialized_len(&shape, &operator, &real);
            assert!(size <= PACKET_DATA_SIZE, "{size} bytes");
            let model: Vec<AppendShape> = packed
                .iter()
                .map(|p| AppendShape {
                    tree: p.tree,
                    chunk_lens: p.chunks.iter().map(|c| c.ciphertext.len()).collect(),
                })
                .collect();
            assert_eq!(shape.size(&model), size);
            let carried: usize = packed
                .iter()
                .flat_map(|p| &p.chunks)
                .map(|c| c.ciphertext.len())
                .sum();
            drop(pending);
            if packed.len() == 1 && !packed[0].chunks.last().is_some_and(|c| c.is_final) {
                let answer = answers
                    .iter()
                    .find(|a| a.request == packed[0].request)
                    .unwrap();
                if answer.sealer.pending_len() == 0 {
                    // The answer's remainder, its final chunk held back for the next
                    // transaction: only because the completion would not have fitted beside it.
                    assert!(size + COMPLETION_BYTES > PACKET_DATA_SIZE, "{size} bytes");
                } else {
                    single_request_fills.push((size, carried));
                }
            }
            for p in packed {
                let index = answers.iter().position(|a| a.request == p.request).unwrap();
                posted[index].extend(p.chunks);
            }
        }
        // A filled transaction is filled to the byte.
        for (size, carried) in &single_request_fills {
            assert_eq!(*size, PACKET_DATA_SIZE, "{shape:?}");
            if shape.versioned {
                assert!(
                    *carried >= 850,
                    "a filled v0 append carries {carried} bytes of chunks"
                );
            }
        }
        for (a, chunks) in answers.iter().zip(&posted) {
            let mut opener = AnswerOpener::new(a.key, a.context, Compression::Zstd).unwrap();
            let text: String = chunks.iter().map(|c| opener.open(c).unwrap()).collect();
            assert_eq!(text, a.text);
            let tokens: u64 = chunks.iter().map(|c| u64::from(c.tokens)).sum();
            assert_eq!(tokens as usize, a.text.split(' ').count() - 1);
        }
    }
}
